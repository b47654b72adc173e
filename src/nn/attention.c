/*
 * attention.c - the attention layers: multi-head attention around
 * attn_forward / attn_backward, attention pooling with a learned query, and
 * additive (Bahdanau) attention.  Contracts in attn.h.
 */
#include "nn/nn.h"

#include <omp.h>

/* ---- multi-head attention ---- */

attn_status attn_mha_declare(attn_model *m, attn_mha *l, const char *prefix, const attn_mha_config *cfg)
{
    static const char fn[] = "attn_mha_declare";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, l);
    NN_NOTNULL(fn, cfg);
    attn_mha_config c = *cfg;
    NN_POS(fn, c.d_model);
    NN_POS(fn, c.n_heads);
    NN_NONNEG(fn, c.d_kv);
    NN_NONNEG(fn, c.n_kv_heads);
    NN_NONNEG(fn, c.d_k);
    NN_NONNEG(fn, c.d_v);
    if (c.d_kv == 0)
        c.d_kv = c.d_model;
    if (c.n_kv_heads == 0)
        c.n_kv_heads = c.n_heads;
    if ((c.d_k == 0 || c.d_v == 0) && c.d_model % c.n_heads)
        return attn_fail(ATTN_ERR_INVALID, "%s: d_model = %lld is not a multiple of n_heads = %lld (give d_k, d_v)",
                         fn, (long long)c.d_model, (long long)c.n_heads);
    if (c.d_k == 0)
        c.d_k = c.d_model / c.n_heads;
    if (c.d_v == 0)
        c.d_v = c.d_model / c.n_heads;
    if (c.n_heads % c.n_kv_heads)
        return attn_fail(ATTN_ERR_INVALID, "%s: n_kv_heads = %lld does not divide n_heads = %lld", fn,
                         (long long)c.n_kv_heads, (long long)c.n_heads);
    if (!(c.dropout_p >= 0 && c.dropout_p < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: dropout_p = %g is outside [0, 1)", fn, c.dropout_p);
    if (c.causal != ATTN_CAUSAL_NONE && c.causal != ATTN_CAUSAL_TOP_LEFT && c.causal != ATTN_CAUSAL_BOTTOM_RIGHT)
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown causal mode %d", fn, (int)c.causal);
    c.rope = c.rope != 0;
    if (c.rope && c.rope_base == 0)
        c.rope_base = 10000.0;
    if (c.rope && c.d_k % 2)
        return attn_fail(ATTN_ERR_INVALID, "%s: RoPE needs an even d_k, not %lld", fn, (long long)c.d_k);
    if (c.rope && (!(c.rope_base > 1) || isinf(c.rope_base)))
        return attn_fail(ATTN_ERR_INVALID, "%s: rope_base = %g must be > 1", fn, c.rope_base);
    int64_t t;
    attn_status st;
    if ((st = attn_nn_size3(fn, c.n_heads, c.d_k + c.d_v, c.d_model + c.d_kv, &t)) != ATTN_OK)
        return st;
    (void)t;
    memset(l, 0, sizeof *l);
    l->cfg = c;
    l->bq = l->bk = l->bv = l->bo = -1;
    int64_t qo = c.n_heads * c.d_k, ko = c.n_kv_heads * c.d_k, vo = c.n_kv_heads * c.d_v, ao = c.n_heads * c.d_v;
    double xq = sqrt(6.0 / (double)(c.d_model + qo)), xk = sqrt(6.0 / (double)(c.d_kv + ko));
    double xv = sqrt(6.0 / (double)(c.d_kv + vo)), xo = sqrt(6.0 / (double)(ao + c.d_model));
    if ((st = attn_nn_add(m, prefix, "wq", 2, qo, c.d_model, ATTN_INIT_UNIFORM, xq, &l->wq)) != ATTN_OK ||
        (c.bias && (st = attn_nn_add(m, prefix, "bq", 1, qo, 0, ATTN_INIT_ZEROS, 0, &l->bq)) != ATTN_OK) ||
        (st = attn_nn_add(m, prefix, "wk", 2, ko, c.d_kv, ATTN_INIT_UNIFORM, xk, &l->wk)) != ATTN_OK ||
        (c.bias && (st = attn_nn_add(m, prefix, "bk", 1, ko, 0, ATTN_INIT_ZEROS, 0, &l->bk)) != ATTN_OK) ||
        (st = attn_nn_add(m, prefix, "wv", 2, vo, c.d_kv, ATTN_INIT_UNIFORM, xv, &l->wv)) != ATTN_OK ||
        (c.bias && (st = attn_nn_add(m, prefix, "bv", 1, vo, 0, ATTN_INIT_ZEROS, 0, &l->bv)) != ATTN_OK) ||
        (st = attn_nn_add(m, prefix, "wo", 2, c.d_model, ao, ATTN_INIT_UNIFORM, xo, &l->wo)) != ATTN_OK ||
        (c.bias && (st = attn_nn_add(m, prefix, "bo", 1, c.d_model, 0, ATTN_INIT_ZEROS, 0, &l->bo)) != ATTN_OK))
        return st;
    return ATTN_OK;
}

/* Sizes of the cache's parts: Q, K, V, A (the heads' outputs), lse. */
typedef struct mha_parts {
    int64_t nq, nk, nv, na, nl;
} mha_parts;

static mha_parts parts(const attn_mha_config *c, int64_t B, int64_t Lq, int64_t Lk)
{
    mha_parts p;
    p.nq = B * Lq * c->n_heads * c->d_k;
    p.nk = B * Lk * c->n_kv_heads * c->d_k;
    p.nv = B * Lk * c->n_kv_heads * c->d_v;
    p.na = B * Lq * c->n_heads * c->d_v;
    p.nl = B * c->n_heads * Lq;
    return p;
}

int64_t attn_mha_cache_floats(const attn_mha *l, int64_t B, int64_t Lq, int64_t Lk)
{
    mha_parts p = parts(&l->cfg, B, Lq, Lk);
    return p.nq + p.nk + p.nv + p.na + p.nl;
}

/* A (B, L, H*D) row-major buffer seen as (B, H, L, D): no copy. */
static attn_tensor heads(float *x, int64_t B, int64_t L, int64_t H, int64_t D)
{
    attn_tensor t = attn_tensor_4d(x, ATTN_F32, B, H, L, D);
    t.stride[0] = L * H * D;
    t.stride[1] = D;
    t.stride[2] = H * D;
    t.stride[3] = 1;
    return t;
}

/* Attention over fewer multiply-adds (B*H*Lq*Lk*(d_k+d_v)) than this runs on
 * one thread: the per-call parallel regions of attn_forward / attn_backward
 * cost more than they save on small batches when the host is busy (the same
 * measurement and bound as matmul.c's PAR_MIN_MNK; the translate demo's
 * calls are ~1.2M).  Results are repeatable per thread count either way. */
#define MHA_PAR_MIN 16777216.0

static attn_options mha_options(const attn_mha_config *c, const int64_t *key_lengths, uint64_t seed, int64_t B,
                                int64_t Lq, int64_t Lk)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.causal = c->causal;
    o.key_lengths = key_lengths;
    o.dropout_p = c->dropout_p;
    o.dropout_seed = seed;
    o.kernel = c->kernel;
    if ((double)B * (double)c->n_heads * (double)Lq * (double)Lk * (double)(c->d_k + c->d_v) < MHA_PAR_MIN)
        o.threads = 1; /* else 0: attn_get_num_threads() */
    return o;
}

static attn_status mha_check(const char *fn, const attn_model *m, const attn_mha *l, const float *cache,
                             const float *xq, const float *xkv, int64_t B, int64_t Lq, int64_t Lk)
{
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, xq);
    NN_NOTNULL(fn, xkv);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, Lq);
    NN_NONNEG(fn, Lk);
    const attn_mha_config *c = &l->cfg;
    int64_t t;
    int64_t w = c->d_model + c->d_kv + c->n_heads * (c->d_k + c->d_v) + c->n_kv_heads * (c->d_k + c->d_v);
    if ((st = attn_nn_size3(fn, B, Lq + Lk, w, &t)) != ATTN_OK || (st = attn_nn_size3(fn, B, Lq, Lk, &t)) != ATTN_OK)
        return st;
    return ATTN_OK;
}

/* Q = xq wq^T + bq;  K = xkv wk^T + bk;  V = xkv wv^T + bv;  [Q, K = RoPE(Q), RoPE(K)];
 * A = attention(Q, K, V);  out = A wo^T + bo.  The cache keeps the rotated Q and K. */
attn_status attn_mha_forward(const attn_model *m, const attn_mha *l, float *out, float *weights, float *cache,
                             const float *xq, const float *xkv, const int64_t *key_lengths, int64_t B, int64_t Lq,
                             int64_t Lk, uint64_t seed)
{
    static const char fn[] = "attn_mha_forward";
    attn_status st = mha_check(fn, m, l, cache, xq, xkv, B, Lq, Lk);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, out);
    const attn_mha_config *c = &l->cfg;
    mha_parts p = parts(c, B, Lq, Lk);
    float *Q = cache, *K = Q + p.nq, *V = K + p.nk, *A = V + p.nv, *lse = A + p.na;
    attn_nn_linear_fwd(Q, xq, NN_P(m, l->wq), NN_P(m, l->bq), B * Lq, c->d_model, c->n_heads * c->d_k);
    attn_nn_linear_fwd(K, xkv, NN_P(m, l->wk), NN_P(m, l->bk), B * Lk, c->d_kv, c->n_kv_heads * c->d_k);
    attn_nn_linear_fwd(V, xkv, NN_P(m, l->wv), NN_P(m, l->bv), B * Lk, c->d_kv, c->n_kv_heads * c->d_v);
    if (c->rope && ((st = attn_rope_forward(Q, Q, B, Lq, c->n_heads, c->d_k, 0, c->rope_base)) != ATTN_OK ||
                    (st = attn_rope_forward(K, K, B, Lk, c->n_kv_heads, c->d_k, 0, c->rope_base)) != ATTN_OK))
        return st;
    attn_tensor tq = heads(Q, B, Lq, c->n_heads, c->d_k), tk = heads(K, B, Lk, c->n_kv_heads, c->d_k);
    attn_tensor tv = heads(V, B, Lk, c->n_kv_heads, c->d_v), ta = heads(A, B, Lq, c->n_heads, c->d_v);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, B, c->n_heads, Lq);
    attn_tensor tw = attn_tensor_4d(weights, ATTN_F32, B, c->n_heads, Lq, Lk);
    attn_options o = mha_options(c, key_lengths, seed, B, Lq, Lk);
    if ((st = attn_forward(&ta, &tl, weights ? &tw : NULL, &tq, &tk, &tv, &o)) != ATTN_OK)
        return st;
    attn_nn_linear_fwd(out, A, NN_P(m, l->wo), NN_P(m, l->bo), B * Lq, c->n_heads * c->d_v, c->d_model);
    return ATTN_OK;
}

attn_status attn_mha_backward(attn_model *m, const attn_mha *l, float *dxq, float *dxkv, const float *dout,
                              const float *cache, const float *xq, const float *xkv, const int64_t *key_lengths,
                              int64_t B, int64_t Lq, int64_t Lk, uint64_t seed)
{
    static const char fn[] = "attn_mha_backward";
    attn_status st = mha_check(fn, m, l, cache, xq, xkv, B, Lq, Lk);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dout);
    const attn_mha_config *c = &l->cfg;
    mha_parts p = parts(c, B, Lq, Lk);
    float *Q = (float *)cache, *K = Q + p.nq, *V = K + p.nk, *A = V + p.nv, *lse = A + p.na;
    int64_t nr = c->rope ? p.nq + p.nk : 0; /* gradients before the rotation */
    float *dQ = attn_nn_scratch(p.nq + p.nk + p.nv + p.na + nr, "attn_mha_backward scratch");
    if (!dQ)
        return ATTN_ERR_NOMEM;
    float *dK = dQ + p.nq, *dV = dK + p.nk, *dA = dV + p.nv, *dQ0 = dQ, *dK0 = dK;
    /* forward: out = A wo^T + bo */
    memset(dA, 0, (size_t)p.na * sizeof(float));
    attn_nn_linear_bwd(dA, NN_G(m, l->wo), NN_G(m, l->bo), dout, A, NN_P(m, l->wo), B * Lq, c->n_heads * c->d_v,
                       c->d_model);
    /* forward: A = attention(Q, K, V) (attn_backward overwrites dQ, dK, dV) */
    attn_tensor tq = heads(Q, B, Lq, c->n_heads, c->d_k), tk = heads(K, B, Lk, c->n_kv_heads, c->d_k);
    attn_tensor tv = heads(V, B, Lk, c->n_kv_heads, c->d_v), ta = heads(A, B, Lq, c->n_heads, c->d_v);
    attn_tensor tdq = heads(dQ, B, Lq, c->n_heads, c->d_k), tdk = heads(dK, B, Lk, c->n_kv_heads, c->d_k);
    attn_tensor tdv = heads(dV, B, Lk, c->n_kv_heads, c->d_v), tda = heads(dA, B, Lq, c->n_heads, c->d_v);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, B, c->n_heads, Lq);
    attn_options o = mha_options(c, key_lengths, seed, B, Lq, Lk);
    st = attn_backward(&tdq, &tdk, &tdv, &tda, &tq, &tk, &tv, &ta, &tl, &o);
    if (st == ATTN_OK && c->rope) { /* forward: Q, K = RoPE(Q0), RoPE(K0) */
        dQ0 = dA + p.na, dK0 = dQ0 + p.nq;
        memset(dQ0, 0, (size_t)nr * sizeof(float));
        if ((st = attn_rope_backward(dQ0, dQ, B, Lq, c->n_heads, c->d_k, 0, c->rope_base)) == ATTN_OK)
            st = attn_rope_backward(dK0, dK, B, Lk, c->n_kv_heads, c->d_k, 0, c->rope_base);
    }
    if (st == ATTN_OK) {
        /* forward: Q = xq wq^T + bq;  K = xkv wk^T + bk;  V = xkv wv^T + bv */
        attn_nn_linear_bwd(dxq, NN_G(m, l->wq), NN_G(m, l->bq), dQ0, xq, NN_P(m, l->wq), B * Lq, c->d_model,
                           c->n_heads * c->d_k);
        attn_nn_linear_bwd(dxkv, NN_G(m, l->wk), NN_G(m, l->bk), dK0, xkv, NN_P(m, l->wk), B * Lk, c->d_kv,
                           c->n_kv_heads * c->d_k);
        attn_nn_linear_bwd(dxkv, NN_G(m, l->wv), NN_G(m, l->bv), dV, xkv, NN_P(m, l->wv), B * Lk, c->d_kv,
                           c->n_kv_heads * c->d_v);
    }
    attn_free(dQ);
    return st;
}

/* ---- attention pooling with a learned query ---- */

attn_status attn_pooling_declare(attn_model *m, attn_pooling *l, const char *prefix, int64_t D, int64_t A)
{
    static const char fn[] = "attn_pooling_declare";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, l);
    NN_POS(fn, D);
    NN_POS(fn, A);
    memset(l, 0, sizeof *l);
    l->D = D, l->A = A;
    attn_status st;
    if ((st = attn_nn_add(m, prefix, "w", 2, A, D, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)D), &l->w)) != ATTN_OK ||
        (st = attn_nn_add(m, prefix, "query", 1, A, 0, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)A), &l->query)) !=
            ATTN_OK)
        return st;
    return ATTN_OK;
}

int64_t attn_pooling_cache_floats(const attn_pooling *l, int64_t B, int64_t L)
{
    (void)l;
    return B * L;
}

static attn_status check_lengths(const char *fn, const int64_t *lengths, int64_t B, int64_t L)
{
    if (lengths)
        for (int64_t b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > L)
                return attn_fail(ATTN_ERR_INVALID, "%s: lengths[%lld] = %lld is outside [1, %lld]", fn, (long long)b,
                                 (long long)lengths[b], (long long)L);
    if (L == 0 && B > 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: L = 0: nothing to attend to", fn);
    return ATTN_OK;
}

static attn_status pooling_check(const char *fn, const attn_model *m, const attn_pooling *l, const float *cache,
                                 const float *x, const int64_t *lengths, int64_t B, int64_t L)
{
    int64_t t;
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, x);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, L);
    if ((st = attn_nn_size3(fn, B, L, l->D + l->A, &t)) != ATTN_OK)
        return st;
    return check_lengths(fn, lengths, B, L);
}

/* u (D) = w^T query: s_j = query . (w x_j) = u . x_j */
static double *pool_u(const attn_model *m, const attn_pooling *l)
{
    double *u = attn_alloc((size_t)l->D * sizeof(double), "attention pooling scratch");
    if (!u)
        return NULL;
    const float *w = NN_P(m, l->w), *q = NN_P(m, l->query);
    for (int64_t d = 0; d < l->D; d++)
        u[d] = 0;
    for (int64_t a = 0; a < l->A; a++)
        for (int64_t d = 0; d < l->D; d++)
            u[d] += (double)q[a] * w[a * l->D + d];
    return u;
}

/* cache (B, L) = a = softmax_j(u . x_j);  context (B, D) = sum_j a_j x_j */
attn_status attn_pooling_forward(const attn_model *m, const attn_pooling *l, float *context, float *weights,
                                 float *cache, const float *x, const int64_t *lengths, int64_t B, int64_t L)
{
    static const char fn[] = "attn_pooling_forward";
    attn_status st = pooling_check(fn, m, l, cache, x, lengths, B, L);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, context);
    int64_t D = l->D;
    double *u = pool_u(m, l), *s = attn_alloc((size_t)(L + D) * sizeof(double), "attention pooling scratch");
    if (!u || !s) {
        attn_free(u);
        attn_free(s);
        return ATTN_ERR_NOMEM;
    }
    double *ctx = s + L;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = lengths ? lengths[b] : L;
        const float *xb = x + b * L * D;
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t d = 0; d < D; d++)
                acc += u[d] * xb[j * D + d];
            s[j] = acc;
        }
        attn_nn_softmax_prefix(s, n, L);
        for (int64_t d = 0; d < D; d++)
            ctx[d] = 0;
        for (int64_t j = 0; j < n; j++)
            for (int64_t d = 0; d < D; d++)
                ctx[d] += s[j] * xb[j * D + d];
        for (int64_t d = 0; d < D; d++)
            context[b * D + d] = (float)ctx[d];
        for (int64_t j = 0; j < L; j++) {
            cache[b * L + j] = (float)s[j];
            if (weights)
                weights[b * L + j] = (float)s[j];
        }
    }
    attn_free(u);
    attn_free(s);
    return ATTN_OK;
}

attn_status attn_pooling_backward(attn_model *m, const attn_pooling *l, float *dx, const float *dcontext,
                                  const float *cache, const float *x, const int64_t *lengths, int64_t B, int64_t L)
{
    static const char fn[] = "attn_pooling_backward";
    attn_status st = pooling_check(fn, m, l, cache, x, lengths, B, L);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dcontext);
    int64_t D = l->D, A = l->A;
    double *u = pool_u(m, l), *ds = attn_alloc((size_t)(L + D) * sizeof(double), "attention pooling scratch");
    if (!u || !ds) {
        attn_free(u);
        attn_free(ds);
        return ATTN_ERR_NOMEM;
    }
    double *du = ds + L;
    for (int64_t d = 0; d < D; d++)
        du[d] = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = lengths ? lengths[b] : L;
        const float *xb = x + b * L * D, *a = cache + b * L, *dc = dcontext + b * D;
        /* forward: context = sum_j a_j x_j  ->  da_j = dc . x_j, dx_j += a_j dc */
        double dot = 0;
        for (int64_t j = 0; j < n; j++) {
            double da = 0;
            for (int64_t d = 0; d < D; d++)
                da += (double)dc[d] * xb[j * D + d];
            ds[j] = da;
            dot += a[j] * da;
        }
        /* forward: a = softmax(s)  ->  ds_j = a_j (da_j - sum_k a_k da_k) */
        for (int64_t j = 0; j < n; j++)
            ds[j] = a[j] * (ds[j] - dot);
        /* forward: s_j = u . x_j  ->  dx_j += ds_j u, du += ds_j x_j */
        for (int64_t j = 0; j < n; j++)
            for (int64_t d = 0; d < D; d++) {
                if (dx)
                    dx[b * L * D + j * D + d] += (float)(a[j] * dc[d] + ds[j] * u[d]);
                du[d] += ds[j] * xb[j * D + d];
            }
    }
    /* forward: u = w^T query  ->  dw[a][d] += query[a] du[d], dquery[a] += w[a] . du */
    const float *w = NN_P(m, l->w), *q = NN_P(m, l->query);
    float *dw = NN_G(m, l->w), *dq = NN_G(m, l->query);
    for (int64_t a = 0; a < A; a++) {
        double acc = 0;
        for (int64_t d = 0; d < D; d++) {
            dw[a * D + d] += (float)(q[a] * du[d]);
            acc += (double)w[a * D + d] * du[d];
        }
        dq[a] += (float)acc;
    }
    attn_free(u);
    attn_free(ds);
    return ATTN_OK;
}

/* ---- additive (Bahdanau) attention ---- */

attn_status attn_additive_declare(attn_model *m, attn_additive *l, const char *prefix, int64_t Dq, int64_t Dk,
                                  int64_t A)
{
    static const char fn[] = "attn_additive_declare";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, l);
    NN_POS(fn, Dq);
    NN_POS(fn, Dk);
    NN_POS(fn, A);
    memset(l, 0, sizeof *l);
    l->Dq = Dq, l->Dk = Dk, l->A = A;
    attn_status st;
    if ((st = attn_nn_add(m, prefix, "wq", 2, A, Dq, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)Dq), &l->wq)) != ATTN_OK ||
        (st = attn_nn_add(m, prefix, "wk", 2, A, Dk, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)Dk), &l->wk)) != ATTN_OK ||
        (st = attn_nn_add(m, prefix, "v", 1, A, 0, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)A), &l->v)) != ATTN_OK)
        return st;
    return ATTN_OK;
}

int64_t attn_additive_cache_floats(const attn_additive *l, int64_t B, int64_t Lq, int64_t Lk)
{
    return B * Lq * l->A + B * Lk * l->A + B * Lq * Lk;
}

static attn_status additive_check(const char *fn, const attn_model *m, const attn_additive *l, const float *cache,
                                  const float *q, const float *k, const float *val, const int64_t *key_lengths,
                                  int64_t B, int64_t Lq, int64_t Lk, int64_t Dv)
{
    int64_t t;
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, q);
    NN_NOTNULL(fn, k);
    NN_NOTNULL(fn, val);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, Lq);
    NN_NONNEG(fn, Lk);
    NN_NONNEG(fn, Dv);
    if ((st = attn_nn_size3(fn, B, Lq + Lk, l->A + l->Dq + l->Dk + Dv, &t)) != ATTN_OK ||
        (st = attn_nn_size3(fn, B, Lq, Lk, &t)) != ATTN_OK)
        return st;
    return Lq > 0 ? check_lengths(fn, key_lengths, B, Lk) : ATTN_OK;
}

/* cache: Pq (B, Lq, A) = q wq^T, Pk (B, Lk, A) = k wk^T, a (B, Lq, Lk) = softmax_j(v . tanh(Pq_i + Pk_j));
 * out_i = sum_j a_ij val_j */
attn_status attn_additive_forward(const attn_model *m, const attn_additive *l, float *out, float *weights,
                                  float *cache, const float *q, const float *k, const float *val,
                                  const int64_t *key_lengths, int64_t B, int64_t Lq, int64_t Lk, int64_t Dv)
{
    static const char fn[] = "attn_additive_forward";
    attn_status st = additive_check(fn, m, l, cache, q, k, val, key_lengths, B, Lq, Lk, Dv);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, out);
    int64_t A = l->A;
    float *Pq = cache, *Pk = Pq + B * Lq * A, *P = Pk + B * Lk * A;
    attn_nn_linear_fwd(Pq, q, NN_P(m, l->wq), NULL, B * Lq, l->Dq, A);
    attn_nn_linear_fwd(Pk, k, NN_P(m, l->wk), NULL, B * Lk, l->Dk, A);
    const float *v = NN_P(m, l->v);
    int nth = attn_nn_threads((double)B * Lq * Lk * (A + Dv) * 4.0);
    int failed = 0;
#pragma omp parallel num_threads(nth)
    {
        double *s = attn_alloc((size_t)(Lk + Dv + 1) * sizeof(double), "additive attention scratch");
        if (!s) {
#pragma omp atomic write
            failed = 1;
        }
        double *acc = s ? s + Lk : NULL;
#pragma omp for schedule(static)
        for (int64_t bi = 0; bi < B * Lq; bi++) {
            if (!s)
                continue;
            int64_t b = bi / Lq, n = key_lengths ? key_lengths[b] : Lk;
            const float *pq = Pq + bi * A;
            for (int64_t j = 0; j < n; j++) {
                const float *pk = Pk + (b * Lk + j) * A;
                double e = 0;
                for (int64_t a = 0; a < A; a++)
                    e += (double)v[a] * tanh((double)pq[a] + pk[a]);
                s[j] = e;
            }
            attn_nn_softmax_prefix(s, n, Lk);
            for (int64_t d = 0; d < Dv; d++)
                acc[d] = 0;
            for (int64_t j = 0; j < n; j++)
                for (int64_t d = 0; d < Dv; d++)
                    acc[d] += s[j] * val[(b * Lk + j) * Dv + d];
            for (int64_t d = 0; d < Dv; d++)
                out[bi * Dv + d] = (float)acc[d];
            for (int64_t j = 0; j < Lk; j++) {
                P[bi * Lk + j] = (float)s[j];
                if (weights)
                    weights[bi * Lk + j] = (float)s[j];
            }
        }
        attn_free(s);
    }
    return failed ? ATTN_ERR_NOMEM : ATTN_OK;
}

attn_status attn_additive_backward(attn_model *m, const attn_additive *l, float *dq, float *dk, float *dval,
                                   const float *dout, const float *cache, const float *q, const float *k,
                                   const float *val, const int64_t *key_lengths, int64_t B, int64_t Lq, int64_t Lk,
                                   int64_t Dv)
{
    static const char fn[] = "attn_additive_backward";
    attn_status st = additive_check(fn, m, l, cache, q, k, val, key_lengths, B, Lq, Lk, Dv);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dout);
    int64_t A = l->A;
    const float *Pq = cache, *Pk = Pq + B * Lq * A, *P = Pk + B * Lk * A;
    const float *v = NN_P(m, l->v);
    float *dPq = attn_nn_scratch(B * (Lq + Lk) * A, "additive attention scratch");
    double *ds = attn_alloc((size_t)(Lk + A) * sizeof(double), "additive attention scratch");
    if (!dPq || !ds) {
        attn_free(dPq);
        attn_free(ds);
        return ATTN_ERR_NOMEM;
    }
    float *dPk = dPq + B * Lq * A;
    double *dv = ds + Lk;
    memset(dPq, 0, (size_t)(B * (Lq + Lk) * A) * sizeof(float));
    for (int64_t a = 0; a < A; a++)
        dv[a] = 0;
    /* serial over rows: dval, dPk and dv gather from every row in a fixed order */
    for (int64_t bi = 0; bi < B * Lq; bi++) {
        int64_t b = bi / Lq, n = key_lengths ? key_lengths[b] : Lk;
        const float *a_i = P + bi * Lk, *dy = dout + bi * Dv;
        /* forward: out_i = sum_j a_ij val_j  ->  da_ij = dy . val_j, dval_j += a_ij dy */
        double dot = 0;
        for (int64_t j = 0; j < n; j++) {
            double da = 0;
            for (int64_t d = 0; d < Dv; d++) {
                da += (double)dy[d] * val[(b * Lk + j) * Dv + d];
                if (dval)
                    dval[(b * Lk + j) * Dv + d] += a_i[j] * dy[d];
            }
            ds[j] = da;
            dot += a_i[j] * da;
        }
        /* forward: a_i = softmax(s_i)  ->  ds_ij = a_ij (da_ij - sum_k a_ik da_ik) */
        for (int64_t j = 0; j < n; j++)
            ds[j] = a_i[j] * (ds[j] - dot);
        /* forward: s_ij = sum_a v_a tanh(Pq_ia + Pk_ja) */
        for (int64_t j = 0; j < n; j++)
            for (int64_t a = 0; a < A; a++) {
                double t = tanh((double)Pq[bi * A + a] + Pk[(b * Lk + j) * A + a]);
                dv[a] += ds[j] * t;
                float dpre = (float)(ds[j] * v[a] * (1.0 - t * t));
                dPq[bi * A + a] += dpre;
                dPk[(b * Lk + j) * A + a] += dpre;
            }
    }
    float *gv = NN_G(m, l->v);
    for (int64_t a = 0; a < A; a++)
        gv[a] += (float)dv[a];
    /* forward: Pq = q wq^T;  Pk = k wk^T */
    attn_nn_linear_bwd(dq, NN_G(m, l->wq), NULL, dPq, q, NN_P(m, l->wq), B * Lq, l->Dq, A);
    attn_nn_linear_bwd(dk, NN_G(m, l->wk), NULL, dPk, k, NN_P(m, l->wk), B * Lk, l->Dk, A);
    attn_free(dPq);
    attn_free(ds);
    return ATTN_OK;
}
