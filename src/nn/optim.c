/*
 * optim.c - SGD with momentum, Adam and AdamW (PyTorch's update rules),
 * clipping by global norm, learning-rate schedules.  Per-element arithmetic
 * in double; element-independent loops, so the thread count never changes a
 * result.
 */
#include "nn/nn.h"

#include <omp.h>

static attn_status check_hyper(const char *fn, int64_t n, double lr, double wd)
{
    NN_NONNEG(fn, n);
    if (!(lr >= 0) || isinf(lr))
        return attn_fail(ATTN_ERR_INVALID, "%s: lr = %g must be finite and >= 0", fn, lr);
    if (!(wd >= 0) || isinf(wd))
        return attn_fail(ATTN_ERR_INVALID, "%s: weight_decay = %g must be finite and >= 0", fn, wd);
    return ATTN_OK;
}

attn_status attn_sgd_step(float *params, float *buf, const float *grads, int64_t n, double lr, double momentum,
                          double weight_decay)
{
    static const char fn[] = "attn_sgd_step";
    NN_NOTNULL(fn, params);
    NN_NOTNULL(fn, grads);
    attn_status st = check_hyper(fn, n, lr, weight_decay);
    if (st != ATTN_OK)
        return st;
    if (!(momentum >= 0 && momentum < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: momentum = %g is outside [0, 1)", fn, momentum);
    if (momentum > 0)
        NN_NOTNULL(fn, buf);
    int nth = attn_nn_threads(4.0 * (double)n);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t e = 0; e < n; e++) {
        double p = params[e], g = (double)grads[e] + weight_decay * p;
        if (momentum > 0) {
            double b = momentum * buf[e] + g;
            buf[e] = (float)b;
            g = b;
        }
        params[e] = (float)(p - lr * g);
    }
    return ATTN_OK;
}

static attn_status adam(const char *fn, float *params, float *m, float *v, const float *grads, int64_t n, int64_t t,
                        double lr, double beta1, double beta2, double eps, double wd, int decoupled)
{
    NN_NOTNULL(fn, params);
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, v);
    NN_NOTNULL(fn, grads);
    attn_status st = check_hyper(fn, n, lr, wd);
    if (st != ATTN_OK)
        return st;
    if (t < 1)
        return attn_fail(ATTN_ERR_INVALID, "%s: step t = %lld must be >= 1", fn, (long long)t);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: betas (%g, %g) must be in [0, 1)", fn, beta1, beta2);
    if (!(eps > 0) || isinf(eps))
        return attn_fail(ATTN_ERR_INVALID, "%s: eps = %g must be finite and > 0", fn, eps);
    double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    int nth = attn_nn_threads(16.0 * (double)n);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t e = 0; e < n; e++) {
        double p = params[e], g = grads[e];
        if (decoupled)
            p -= lr * wd * p;
        else
            g += wd * p;
        double mm = beta1 * m[e] + (1.0 - beta1) * g;
        double vv = beta2 * v[e] + (1.0 - beta2) * g * g;
        m[e] = (float)mm;
        v[e] = (float)vv;
        params[e] = (float)(p - lr * (mm / c1) / (sqrt(vv / c2) + eps));
    }
    return ATTN_OK;
}

attn_status attn_adam_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t, double lr,
                           double beta1, double beta2, double eps, double weight_decay)
{
    return adam("attn_adam_step", params, m, v, grads, n, t, lr, beta1, beta2, eps, weight_decay, 0);
}

attn_status attn_adamw_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t, double lr,
                            double beta1, double beta2, double eps, double weight_decay)
{
    return adam("attn_adamw_step", params, m, v, grads, n, t, lr, beta1, beta2, eps, weight_decay, 1);
}

attn_status attn_clip_grad_norm(float *grads, int64_t n, double max_norm, double *norm)
{
    static const char fn[] = "attn_clip_grad_norm";
    NN_NOTNULL(fn, grads);
    NN_NONNEG(fn, n);
    if (!(max_norm > 0))
        return attn_fail(ATTN_ERR_INVALID, "%s: max_norm = %g must be > 0", fn, max_norm);
    double s = 0; /* serial: a fixed summation order */
    for (int64_t e = 0; e < n; e++)
        s += (double)grads[e] * grads[e];
    double nrm = sqrt(s);
    if (norm)
        *norm = nrm;
    if (nrm > max_norm) {
        double k = max_norm / (nrm + 1e-6);
        for (int64_t e = 0; e < n; e++)
            grads[e] = (float)(grads[e] * k);
    }
    return ATTN_OK;
}

double attn_lr_at(const attn_lr_schedule *s, int64_t step)
{
    if (!s)
        return 0.0;
    if (step < 0)
        step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    if (!s->cosine)
        return s->base_lr;
    int64_t w = s->warmup_steps > 0 ? s->warmup_steps : 0, span = s->total_steps - w;
    if (span <= 0 || step >= s->total_steps)
        return s->min_lr;
    double progress = (double)(step - w) / (double)span;
    return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * progress));
}
