/*
 * problem.c - validate an attention call once, for every kernel.
 *
 * attn_problem_init turns the public arguments into an attn_problem with
 * every shape resolved to four dimensions and every option checked, so the
 * kernels can trust what they are given.  Messages name the public function,
 * the argument and the values.
 */
#include "core/internal.h"

#include <math.h>
#include <string.h>

static const char *dim_names[4] = {"batch", "head", "length", "head dim"};

/* A tensor of rank <= 4 that must broadcast to `target` (right-aligned, each
 * size equal or 1). */
static attn_status check_broadcast(const attn_tensor *t, const char *fn, const char *name, const int64_t target[4])
{
    int pad = 4 - t->rank;
    for (int d = 0; d < t->rank; d++) {
        int64_t n = t->shape[d], want = target[d + pad];
        if (n != want && n != 1)
            return attn_fail(ATTN_ERR_INVALID,
                             "%s: %s has size %lld in dimension %d, which does not broadcast to (B=%lld, Hq=%lld, "
                             "Lq=%lld, Lk=%lld)",
                             fn, name, (long long)n, d, (long long)target[0], (long long)target[1],
                             (long long)target[2], (long long)target[3]);
    }
    return ATTN_OK;
}

static void shape_str(char *buf, size_t n, int rank, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < rank && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (used < n)
        snprintf(buf + used, n - used, ")");
}

/* A tensor of exactly the shape `want` (the last `want_rank` entries of
 * want[4]), read right-aligned: a tensor of lower rank stands for leading
 * sizes of 1.  Outputs may not broadcast (stride 0 over a size > 1); inputs
 * may have any strides. */
static attn_status check_shape(const attn_tensor *t, const char *fn, const char *name, const int64_t want[4],
                               int want_rank, bool is_output)
{
    attn_status st = attn_check_arg(t, fn, name, ATTN_DT_FLOAT);
    if (st != ATTN_OK)
        return st;
    char have_s[160], want_s[160];
    shape_str(have_s, sizeof have_s, t->rank, t->shape);
    shape_str(want_s, sizeof want_s, want_rank, want + 4 - want_rank);
    if (t->rank > want_rank)
        return attn_fail(ATTN_ERR_INVALID, "%s: %s has shape %s, expected %s", fn, name, have_s, want_s);
    int pad = 4 - t->rank;
    for (int d = 0; d < 4; d++) {
        int64_t have = d < pad ? 1 : t->shape[d - pad];
        if (have != want[d])
            return attn_fail(ATTN_ERR_INVALID, "%s: %s has shape %s, expected %s", fn, name, have_s, want_s);
        if (is_output && d >= pad && t->shape[d - pad] > 1 && t->stride[d - pad] == 0)
            return attn_fail(ATTN_ERR_INVALID, "%s: %s has stride 0 in dimension %d: outputs cannot broadcast", fn,
                             name, d - pad);
    }
    return ATTN_OK;
}

static attn_status check_output(const attn_tensor *t, const char *fn, const char *name, const int64_t want[4],
                                int want_rank)
{
    return check_shape(t, fn, name, want, want_rank, true);
}

/* The log-sum-exp (B, Hq, Lq), after check_shape, as a view (B, Hq, Lq, 1). */
static attn_view4 lse_view(const attn_tensor *lse)
{
    attn_view4 l = attn_view4_of(lse), r = l; /* l is (1, B, Hq, Lq) */
    for (int d = 0; d < 3; d++) {
        r.n[d] = l.n[d + 1];
        r.st[d] = l.st[d + 1];
    }
    r.n[3] = 1;
    r.st[3] = 0;
    return r;
}

static attn_status check_qkv(attn_problem *p, const char *fn, const attn_tensor *q, const attn_tensor *k,
                             const attn_tensor *v)
{
    attn_status st;
    if ((st = attn_check_arg(q, fn, "q", ATTN_DT_INPUT)) != ATTN_OK)
        return st;
    if ((st = attn_check_arg(k, fn, "k", ATTN_DT_INPUT)) != ATTN_OK)
        return st;
    if (v && (st = attn_check_arg(v, fn, "v", ATTN_DT_INPUT)) != ATTN_OK)
        return st;
    if (q->rank < 2 || k->rank < 2 || (v && v->rank < 2))
        return attn_fail(ATTN_ERR_INVALID, "%s: q, k and v need rank 2 to 4 ((L, D) up to (B, H, L, D)), got %d, %d, %d",
                         fn, q->rank, k->rank, v ? v->rank : 0);
    p->q = attn_view4_of(q);
    p->k = attn_view4_of(k);
    if (v)
        p->v = attn_view4_of(v);
    p->B = p->q.n[0];
    p->Hq = p->q.n[1];
    p->Lq = p->q.n[2];
    p->Dq = p->q.n[3];
    p->Hkv = p->k.n[1];
    p->Lk = p->k.n[2];
    p->Dk = p->k.n[3];
    p->Dv = v ? p->v.n[3] : 0;
    if (p->k.n[0] != p->B)
        return attn_fail(ATTN_ERR_INVALID, "%s: k has batch size %lld but q has %lld", fn, (long long)p->k.n[0],
                         (long long)p->B);
    if (v) {
        for (int d = 0; d < 3; d++)
            if (p->v.n[d] != p->k.n[d])
                return attn_fail(ATTN_ERR_INVALID, "%s: v has %s %lld but k has %lld", fn, dim_names[d],
                                 (long long)p->v.n[d], (long long)p->k.n[d]);
    }
    if (p->Hkv == 0 && p->Hq != 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: k has 0 heads but q has %lld", fn, (long long)p->Hq);
    if (p->Hkv > 0 && p->Hq % p->Hkv != 0)
        return attn_fail(ATTN_ERR_INVALID,
                         "%s: q has %lld heads, not a multiple of k and v's %lld heads (grouped attention needs Hq %% "
                         "Hkv == 0)",
                         fn, (long long)p->Hq, (long long)p->Hkv);
    p->group = p->Hkv > 0 ? p->Hq / p->Hkv : 1;
    return ATTN_OK;
}

static attn_status check_score(attn_problem *p, const char *fn, const attn_options *o)
{
    attn_status st;
    p->score = o->score;
    switch (o->score) {
    case ATTN_SCORE_SCALED_DOT:
    case ATTN_SCORE_DOT:
    case ATTN_SCORE_COSINE:
        if (p->Dq != p->Dk)
            return attn_fail(ATTN_ERR_INVALID, "%s: k has head dim %lld but q has %lld", fn, (long long)p->Dk,
                             (long long)p->Dq);
        break;
    case ATTN_SCORE_BILINEAR: {
        const attn_tensor *w = &o->bilinear_w;
        if (!attn_present(w))
            return attn_fail(ATTN_ERR_INVALID, "%s: the bilinear score needs opts->bilinear_w of shape (Dq=%lld, Dk=%lld)",
                             fn, (long long)p->Dq, (long long)p->Dk);
        if ((st = attn_check_arg(w, fn, "bilinear_w", ATTN_DT_FLOAT)) != ATTN_OK)
            return st;
        if (w->rank < 2 || w->rank > 3 || w->shape[w->rank - 2] != p->Dq || w->shape[w->rank - 1] != p->Dk ||
            (w->rank == 3 && w->shape[0] != p->Hq && w->shape[0] != 1))
            return attn_fail(ATTN_ERR_INVALID,
                             "%s: bilinear_w must be (Dq=%lld, Dk=%lld) or (Hq=%lld, Dq, Dk), got rank %d with last "
                             "sizes (%lld, %lld)",
                             fn, (long long)p->Dq, (long long)p->Dk, (long long)p->Hq, w->rank,
                             (long long)(w->rank >= 2 ? w->shape[w->rank - 2] : -1), (long long)w->shape[w->rank - 1]);
        p->bilinear_w = attn_view4_of(w);
        break;
    }
    case ATTN_SCORE_ADDITIVE: {
        const attn_tensor *wq = &o->additive_wq, *wk = &o->additive_wk, *va = &o->additive_v;
        if (!attn_present(wq) || !attn_present(wk) || !attn_present(va))
            return attn_fail(ATTN_ERR_INVALID,
                             "%s: the additive score needs opts->additive_wq (A, Dq=%lld), additive_wk (A, Dk=%lld) "
                             "and additive_v (A)",
                             fn, (long long)p->Dq, (long long)p->Dk);
        if ((st = attn_check_arg(wq, fn, "additive_wq", ATTN_DT_FLOAT)) != ATTN_OK ||
            (st = attn_check_arg(wk, fn, "additive_wk", ATTN_DT_FLOAT)) != ATTN_OK ||
            (st = attn_check_arg(va, fn, "additive_v", ATTN_DT_FLOAT)) != ATTN_OK)
            return st;
        if (wq->rank != 2 || wq->shape[1] != p->Dq)
            return attn_fail(ATTN_ERR_INVALID, "%s: additive_wq must be (A, Dq=%lld), got rank %d with last size %lld",
                             fn, (long long)p->Dq, wq->rank, (long long)wq->shape[wq->rank - 1]);
        p->add_a = wq->shape[0];
        if (wk->rank != 2 || wk->shape[0] != p->add_a || wk->shape[1] != p->Dk)
            return attn_fail(ATTN_ERR_INVALID, "%s: additive_wk must be (A=%lld, Dk=%lld), got rank %d (%lld, ...)", fn,
                             (long long)p->add_a, (long long)p->Dk, wk->rank, (long long)wk->shape[0]);
        if (va->rank != 1 || va->shape[0] != p->add_a)
            return attn_fail(ATTN_ERR_INVALID, "%s: additive_v must be (A=%lld), got rank %d with size %lld", fn,
                             (long long)p->add_a, va->rank, (long long)va->shape[0]);
        p->add_wq = attn_view4_of(wq);
        p->add_wk = attn_view4_of(wk);
        p->add_v = attn_view4_of(va);
        break;
    }
    default:
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown score %d", fn, (int)o->score);
    }
    if (!isfinite(o->scale))
        return attn_fail(ATTN_ERR_INVALID, "%s: scale is %g, expected a finite number (0 for the default)", fn,
                         o->scale);
    if (o->scale != 0)
        p->scale = o->scale;
    else if (o->score == ATTN_SCORE_SCALED_DOT)
        p->scale = p->Dq > 0 ? 1.0 / sqrt((double)p->Dq) : 1.0;
    else
        p->scale = 1.0;
    return ATTN_OK;
}

static attn_status check_varlen(attn_problem *p, const char *fn, const attn_options *o)
{
    p->num_seqs = o->num_seqs;
    p->cu_q = o->cu_seqlens_q;
    p->cu_k = o->cu_seqlens_k;
    if (o->num_seqs < 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: num_seqs is %lld, expected >= 0", fn, (long long)o->num_seqs);
    if (o->num_seqs == 0)
        return ATTN_OK;
    if (!p->cu_q || !p->cu_k)
        return attn_fail(ATTN_ERR_MISUSE, "%s: num_seqs is %lld but cu_seqlens_q or cu_seqlens_k is NULL", fn,
                         (long long)o->num_seqs);
    if (p->B != 1)
        return attn_fail(ATTN_ERR_INVALID, "%s: a packed batch (num_seqs = %lld) needs batch size 1, q has %lld", fn,
                         (long long)o->num_seqs, (long long)p->B);
    if (o->key_lengths)
        return attn_fail(ATTN_ERR_INVALID, "%s: key_lengths cannot be combined with a packed batch (num_seqs = %lld)",
                         fn, (long long)o->num_seqs);
    const int64_t *cu[2] = {p->cu_q, p->cu_k};
    const char *names[2] = {"cu_seqlens_q", "cu_seqlens_k"};
    int64_t ends[2] = {p->Lq, p->Lk};
    for (int c = 0; c < 2; c++) {
        if (cu[c][0] != 0)
            return attn_fail(ATTN_ERR_INVALID, "%s: %s[0] is %lld, expected 0", fn, names[c], (long long)cu[c][0]);
        for (int64_t s = 0; s < o->num_seqs; s++)
            if (cu[c][s + 1] < cu[c][s])
                return attn_fail(ATTN_ERR_INVALID, "%s: %s decreases: entry %lld is %lld, entry %lld is %lld", fn,
                                 names[c], (long long)s, (long long)cu[c][s], (long long)(s + 1),
                                 (long long)cu[c][s + 1]);
        if (cu[c][o->num_seqs] != ends[c])
            return attn_fail(ATTN_ERR_INVALID, "%s: %s[%lld] is %lld, expected the packed length %lld", fn, names[c],
                             (long long)o->num_seqs, (long long)cu[c][o->num_seqs], (long long)ends[c]);
    }
    return ATTN_OK;
}

/* A window side as the kernels use it.  A key index relative to its
 * sequence lies in [0, Lk) and the diagonal in [-Lq, Lk), so a side of
 * Lq + Lk or more never hides a key: it is stored as -1 (unbounded), which
 * also keeps "diagonal - side" and "diagonal + side" from overflowing int64
 * for sides up to INT64_MAX. */
static int64_t window_side(int64_t side, int64_t Lq, int64_t Lk)
{
    return side >= 0 && side - Lq >= Lk ? -1 : side;
}

static attn_status check_masks(attn_problem *p, const char *fn, const attn_options *o)
{
    attn_status st;
    int64_t target[4] = {p->B, p->Hq, p->Lq, p->Lk};
    if (attn_present(&o->mask)) {
        if ((st = attn_check_arg(&o->mask, fn, "mask", ATTN_DT(ATTN_BOOL))) != ATTN_OK)
            return st;
        if ((st = check_broadcast(&o->mask, fn, "mask", target)) != ATTN_OK)
            return st;
        p->mask = attn_view4_of(&o->mask);
        p->has_mask = true;
    }
    if (attn_present(&o->bias)) {
        if ((st = attn_check_arg(&o->bias, fn, "bias", ATTN_DT_FLOAT)) != ATTN_OK)
            return st;
        if ((st = check_broadcast(&o->bias, fn, "bias", target)) != ATTN_OK)
            return st;
        p->bias = attn_view4_of(&o->bias);
        p->has_bias = true;
    }
    if (o->causal != ATTN_CAUSAL_NONE && o->causal != ATTN_CAUSAL_TOP_LEFT && o->causal != ATTN_CAUSAL_BOTTOM_RIGHT)
        return attn_fail(ATTN_ERR_INVALID, "%s: causal is %d, expected none (0), top-left (1) or bottom-right (2)", fn,
                         (int)o->causal);
    p->causal = o->causal;
    p->window = o->window != 0;
    if (p->window && (o->window_left < -1 || o->window_right < -1))
        return attn_fail(ATTN_ERR_INVALID, "%s: window is (%lld, %lld); each side must be >= 0, or -1 for unbounded", fn,
                         (long long)o->window_left, (long long)o->window_right);
    p->window_left = window_side(o->window_left, p->Lq, p->Lk);
    p->window_right = window_side(o->window_right, p->Lq, p->Lk);
    p->key_lengths = o->key_lengths;
    if (o->key_lengths)
        for (int64_t b = 0; b < p->B; b++)
            if (o->key_lengths[b] < 0 || o->key_lengths[b] > p->Lk)
                return attn_fail(ATTN_ERR_INVALID, "%s: key_lengths[%lld] is %lld, expected 0 to Lk=%lld", fn,
                                 (long long)b, (long long)o->key_lengths[b], (long long)p->Lk);
    p->alibi = o->alibi_slopes;
    if (p->alibi)
        for (int64_t h = 0; h < p->Hq; h++)
            if (!isfinite(p->alibi[h]))
                return attn_fail(ATTN_ERR_INVALID, "%s: alibi_slopes[%lld] is %g, expected a finite number", fn,
                                 (long long)h, (double)p->alibi[h]);
    if (!(o->softcap >= 0) || isinf(o->softcap))
        return attn_fail(ATTN_ERR_INVALID, "%s: softcap is %g, expected a finite number >= 0 (0 = none)", fn, o->softcap);
    p->softcap = o->softcap;
    if (!(o->dropout_p >= 0 && o->dropout_p < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: dropout_p is %g, expected 0 <= p < 1", fn, o->dropout_p);
    p->dropout_p = o->dropout_p;
    p->dropout_seed = o->dropout_seed;
    return ATTN_OK;
}

attn_status attn_problem_init(attn_problem *p, const char *fn, const attn_tensor *out, const attn_tensor *lse,
                              const attn_tensor *weights, const attn_tensor *q, const attn_tensor *k,
                              const attn_tensor *v, const attn_options *opts)
{
    static const attn_options defaults;
    const attn_options *o = opts ? opts : &defaults;
    attn_status st;
    memset(p, 0, sizeof *p);
    if ((st = check_qkv(p, fn, q, k, v)) != ATTN_OK)
        return st;
    if ((st = check_score(p, fn, o)) != ATTN_OK)
        return st;
    if ((st = check_varlen(p, fn, o)) != ATTN_OK)
        return st;
    if ((st = check_masks(p, fn, o)) != ATTN_OK)
        return st;
    if (o->threads < 0 || o->threads > ATTN_MAX_THREADS)
        return attn_fail(ATTN_ERR_INVALID, "%s: threads is %d, expected 0 (the default) to %d", fn, o->threads,
                         ATTN_MAX_THREADS);
    p->threads = attn_resolve_threads(o->threads);
    if ((int)o->kernel < ATTN_KERNEL_AUTO || (int)o->kernel > ATTN_KERNEL_AVX512)
        return attn_fail(ATTN_ERR_INVALID, "%s: kernel is %d, not a known kernel", fn, (int)o->kernel);
    p->kernel = o->kernel;

    if (out) {
        int64_t want[4] = {p->B, p->Hq, p->Lq, p->Dv};
        if ((st = check_output(out, fn, "out", want, 4)) != ATTN_OK)
            return st;
        p->out = attn_view4_of(out);
    }
    if (attn_present(lse)) {
        int64_t want[4] = {1, p->B, p->Hq, p->Lq};
        if ((st = check_output(lse, fn, "lse", want, 3)) != ATTN_OK)
            return st;
        p->lse = lse_view(lse);
        p->has_lse = true;
    }
    if (attn_present(weights)) {
        int64_t want[4] = {p->B, p->Hq, p->Lq, p->Lk};
        if ((st = check_output(weights, fn, out ? "weights" : "scores", want, 4)) != ATTN_OK)
            return st;
        p->weights = attn_view4_of(weights);
        p->has_weights = true;
    }
    return ATTN_OK;
}

/* An input of exactly the shape `want`, any strides (broadcasting included). */
static attn_status check_input_shape(const attn_tensor *t, const char *fn, const char *name, const int64_t want[4],
                                     int want_rank)
{
    return check_shape(t, fn, name, want, want_rank, false);
}

attn_status attn_problem_init_backward(attn_problem *p, const char *fn, const attn_tensor *dq, const attn_tensor *dk,
                                       const attn_tensor *dv, const attn_tensor *dout, const attn_tensor *q,
                                       const attn_tensor *k, const attn_tensor *v, const attn_tensor *out,
                                       const attn_tensor *lse, const attn_options *opts)
{
    /* q, k, v and the options as for the forward, with out as given */
    attn_status st = attn_problem_init(p, fn, NULL, NULL, NULL, q, k, v, opts);
    if (st != ATTN_OK)
        return st;
    int64_t want_o[4] = {p->B, p->Hq, p->Lq, p->Dv};
    if ((st = check_input_shape(out, fn, "out", want_o, 4)) != ATTN_OK ||
        (st = check_input_shape(dout, fn, "dout", want_o, 4)) != ATTN_OK)
        return st;
    p->out = attn_view4_of(out);
    p->dout = attn_view4_of(dout);
    int64_t want_l[4] = {1, p->B, p->Hq, p->Lq};
    if ((st = check_input_shape(lse, fn, "lse", want_l, 3)) != ATTN_OK)
        return st;
    p->lse = lse_view(lse);
    p->has_lse = true;
    int64_t want_q[4] = {p->B, p->Hq, p->Lq, p->Dq}, want_k[4] = {p->B, p->Hkv, p->Lk, p->Dk},
            want_v[4] = {p->B, p->Hkv, p->Lk, p->Dv};
    if ((st = check_output(dq, fn, "dq", want_q, 4)) != ATTN_OK ||
        (st = check_output(dk, fn, "dk", want_k, 4)) != ATTN_OK ||
        (st = check_output(dv, fn, "dv", want_v, 4)) != ATTN_OK)
        return st;
    p->dq = attn_view4_of(dq);
    p->dk = attn_view4_of(dk);
    p->dv = attn_view4_of(dv);
    p->backward = true;
    return ATTN_OK;
}

void attn_row_geometry(const attn_problem *p, int64_t b, int64_t i, int64_t *k0, int64_t *k1, int64_t *i_local,
                       int64_t *off)
{
    int64_t q0 = 0, q1 = p->Lq;
    *k0 = 0;
    *k1 = p->key_lengths ? p->key_lengths[b] : p->Lk;
    if (p->num_seqs > 0) {
        /* binary search for the sequence holding row i: cu_q[s] <= i < cu_q[s+1] */
        int64_t lo = 0, hi = p->num_seqs;
        while (hi - lo > 1) {
            int64_t mid = (lo + hi) / 2;
            if (p->cu_q[mid] <= i)
                lo = mid;
            else
                hi = mid;
        }
        q0 = p->cu_q[lo];
        q1 = p->cu_q[lo + 1];
        *k0 = p->cu_k[lo];
        *k1 = p->cu_k[lo + 1];
        if (i < q0 || i >= q1) { /* only empty sequences around: no keys */
            *k1 = *k0;
            q0 = q1 = i;
        }
    }
    *i_local = i - q0;
    *off = p->causal == ATTN_CAUSAL_TOP_LEFT ? 0 : (*k1 - *k0) - (q1 - q0);
}

void attn_row_range(const attn_problem *p, int64_t b, int64_t i, int64_t *lo, int64_t *hi, int64_t *diag)
{
    int64_t k0, k1, il, off;
    attn_row_geometry(p, b, i, &k0, &k1, &il, &off);
    int64_t d = k0 + il + off, l = k0, h = k1;
    if (p->causal != ATTN_CAUSAL_NONE && h > d + 1)
        h = d + 1;
    if (p->window) {
        if (p->window_left >= 0 && l < d - p->window_left)
            l = d - p->window_left;
        if (p->window_right >= 0 && h > d + p->window_right + 1)
            h = d + p->window_right + 1;
    }
    if (l >= h)
        l = h = 0;
    *lo = l, *hi = h, *diag = d;
}

bool attn_key_hidden(const attn_problem *p, int64_t b, int64_t h, int64_t i, int64_t j)
{
    int64_t lo, hi, diag;
    attn_row_range(p, b, i, &lo, &hi, &diag);
    if (j < lo || j >= hi)
        return true;
    return p->has_mask && !((const unsigned char *)p->mask.data)[attn_off4(&p->mask, b, h, i, j)];
}
