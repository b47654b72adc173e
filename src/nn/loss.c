/*
 * loss.c - mean squared error, softmax cross-entropy (ignore index, label
 * smoothing) and accuracy.  Sums in double, serial in a fixed order.
 */
#include "nn/nn.h"

/* loss = mean_e (pred_e - target_e)^2 */
attn_status attn_mse_forward(double *loss, const float *pred, const float *target, int64_t n)
{
    static const char fn[] = "attn_mse_forward";
    NN_NOTNULL(fn, loss);
    NN_NOTNULL(fn, pred);
    NN_NOTNULL(fn, target);
    NN_POS(fn, n);
    double s = 0;
    for (int64_t e = 0; e < n; e++) {
        double d = (double)pred[e] - target[e];
        s += d * d;
    }
    *loss = s / (double)n;
    return ATTN_OK;
}

attn_status attn_mse_backward(float *dpred, const float *pred, const float *target, int64_t n, double dloss)
{
    static const char fn[] = "attn_mse_backward";
    NN_NOTNULL(fn, dpred);
    NN_NOTNULL(fn, pred);
    NN_NOTNULL(fn, target);
    NN_POS(fn, n);
    /* forward: loss = sum_e (pred_e - target_e)^2 / n */
    for (int64_t e = 0; e < n; e++)
        dpred[e] += (float)(dloss * 2.0 * ((double)pred[e] - target[e]) / (double)n);
    return ATTN_OK;
}

static attn_status ce_check(const char *fn, const int64_t *targets, int64_t N, int64_t V, int64_t ignore_index,
                            double smoothing)
{
    int64_t t;
    NN_NOTNULL(fn, targets);
    NN_NONNEG(fn, N);
    NN_POS(fn, V);
    attn_status st = attn_nn_size3(fn, N, V, 1, &t);
    if (st != ATTN_OK)
        return st;
    if (!(smoothing >= 0 && smoothing < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: label_smoothing = %g is outside [0, 1)", fn, smoothing);
    for (int64_t n = 0; n < N; n++)
        if (targets[n] != ignore_index && (targets[n] < 0 || targets[n] >= V))
            return attn_fail(ATTN_ERR_INVALID, "%s: targets[%lld] = %lld is outside [0, V = %lld) and is not the "
                             "ignore index %lld", fn, (long long)n, (long long)targets[n], (long long)V,
                             (long long)ignore_index);
    return ATTN_OK;
}

/* probs (N, V) = softmax(logits);  loss = mean_counted -sum_v q_v log p_v, q = (1-e) onehot + e/V */
attn_status attn_cross_entropy_forward(double *loss, int64_t *count, float *probs, const float *logits,
                                       const int64_t *targets, int64_t N, int64_t V, int64_t ignore_index,
                                       double label_smoothing)
{
    static const char fn[] = "attn_cross_entropy_forward";
    NN_NOTNULL(fn, loss);
    NN_NOTNULL(fn, probs);
    NN_NOTNULL(fn, logits);
    attn_status st = ce_check(fn, targets, N, V, ignore_index, label_smoothing);
    if (st != ATTN_OK)
        return st;
    double total = 0, e = label_smoothing;
    int64_t counted = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits + n * V;
        double mx = z[0], sum = 0, zsum = 0;
        for (int64_t v = 1; v < V; v++)
            mx = z[v] > mx ? z[v] : mx;
        for (int64_t v = 0; v < V; v++) {
            sum += exp((double)z[v] - mx);
            zsum += (double)z[v] - mx;
        }
        for (int64_t v = 0; v < V; v++)
            probs[n * V + v] = (float)(exp((double)z[v] - mx) / sum);
        if (targets[n] == ignore_index)
            continue;
        /* -log p_v = log(sum) - (z_v - mx) */
        double lsum = log(sum);
        double nll = lsum - ((double)z[targets[n]] - mx);
        double smooth = lsum - zsum / (double)V; /* mean over v of -log p_v */
        total += (1.0 - e) * nll + e * smooth;
        counted++;
    }
    *loss = counted ? total / (double)counted : 0.0;
    if (count)
        *count = counted;
    return ATTN_OK;
}

attn_status attn_cross_entropy_backward(float *dlogits, const float *probs, const int64_t *targets, int64_t N,
                                        int64_t V, int64_t ignore_index, double label_smoothing, double dloss)
{
    static const char fn[] = "attn_cross_entropy_backward";
    NN_NOTNULL(fn, dlogits);
    NN_NOTNULL(fn, probs);
    attn_status st = ce_check(fn, targets, N, V, ignore_index, label_smoothing);
    if (st != ATTN_OK)
        return st;
    int64_t counted = 0;
    for (int64_t n = 0; n < N; n++)
        counted += targets[n] != ignore_index;
    if (!counted)
        return ATTN_OK;
    /* forward: loss = (1/count) sum_n -sum_v q_nv log softmax(z_n)_v  ->  dz_nv = (p_nv - q_nv) / count */
    double scale = dloss / (double)counted, e = label_smoothing;
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] == ignore_index)
            continue;
        for (int64_t v = 0; v < V; v++) {
            double q = e / (double)V + (v == targets[n] ? 1.0 - e : 0.0);
            dlogits[n * V + v] += (float)(scale * ((double)probs[n * V + v] - q));
        }
    }
    return ATTN_OK;
}

attn_status attn_accuracy(double *acc, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                          int64_t ignore_index)
{
    static const char fn[] = "attn_accuracy";
    NN_NOTNULL(fn, acc);
    NN_NOTNULL(fn, logits);
    attn_status st = ce_check(fn, targets, N, V, ignore_index, 0.0);
    if (st != ATTN_OK)
        return st;
    int64_t counted = 0, right = 0;
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] == ignore_index)
            continue;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (logits[n * V + v] > logits[n * V + best])
                best = v;
        counted++;
        right += best == targets[n];
    }
    *acc = counted ? (double)right / (double)counted : 0.0;
    return ATTN_OK;
}
