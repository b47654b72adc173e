/*
 * test_nn_attention.c - the attention layers and Transformer layers:
 *   - multi-head attention forward against an independent composition
 *     (projections by hand in double + attn_forward with the reference
 *     kernel + output projection by hand), weights included;
 *   - attention pooling against attn_pool, additive attention against
 *     attn_forward's additive score (both reference kernels);
 *   - every backward (inputs and every parameter tensor) against central
 *     finite differences (test_nn_fd.h), over GQA, d_k != d_v, causal, key
 *     padding, cross attention, attention and residual dropout, pre/post-LN.
 * FD tolerances: a few f32 layers deep on O(1) values (y ~ 1, |r| ~ 1, ~60
 * outputs): rounding noise ~ 60 * 6e-8 * depth(~10) / h(1e-2) ~ 4e-3 worst
 * case, truncation ~ h^2 ~ 1e-4: atol 5e-3, rtol 2e-2.
 */
#include "test_nn_fd.h"

static test_rng rng;
#define ATOL 5e-3
#define RTOL 2e-2
#define H 1e-2

/* ---- MHA ---- */
typedef struct mha_ctx {
    attn_model *m;
    attn_mha *l;
    float *xq, *xkv, *cache, *out, *r;
    const int64_t *kl;
    int64_t B, Lq, Lk;
    int self;
} mha_ctx;
static double mha_loss(void *p)
{
    mha_ctx *c = p;
    attn_status st = attn_mha_forward(c->m, c->l, c->out, NULL, c->cache, c->xq, c->self ? c->xq : c->xkv, c->kl,
                                      c->B, c->Lq, c->Lk, 77);
    if (st != ATTN_OK)
        return NAN;
    return fd_dot(c->r, c->out, c->B * c->Lq * c->l->cfg.d_model);
}

/* y (N, O) = x (N, I) w^T + b, in double then rounded like the layer's input to attention */
static void proj(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t I, int64_t O)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < I; i++)
                s += (double)x[n * I + i] * w[o * I + i];
            y[n * O + o] = (float)s;
        }
}

/* (B, L, H*D) -> contiguous (B, H, L, D) */
static void split(float *dst, const float *src, int64_t B, int64_t L, int64_t Hh, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hh; h++)
            for (int64_t t = 0; t < L; t++)
                for (int64_t d = 0; d < D; d++)
                    dst[((b * Hh + h) * L + t) * D + d] = src[((b * L + t) * Hh + h) * D + d];
}

static void test_mha(int self, attn_causal causal, double dropout, int bias, int64_t Hq, int64_t Hkv, int64_t dk,
                     int64_t dv, const int64_t *kl)
{
    char what[160];
    snprintf(what, sizeof what, "mha(self %d causal %d dropout %g bias %d Hq %lld Hkv %lld dk %lld dv %lld kl %d)",
             self, (int)causal, dropout, bias, (long long)Hq, (long long)Hkv, (long long)dk, (long long)dv, kl != NULL);
    int64_t B = 2, Lq = 4, Lk = self ? 4 : 5, D = 8, Dkv = self ? 8 : 6;
    attn_model m;
    attn_model_init(&m);
    attn_mha l;
    attn_mha_config cfg = {0};
    cfg.d_model = D, cfg.d_kv = self ? 0 : Dkv, cfg.n_heads = Hq, cfg.n_kv_heads = Hkv, cfg.d_k = dk, cfg.d_v = dv;
    cfg.bias = bias, cfg.causal = causal, cfg.dropout_p = dropout, cfg.kernel = ATTN_KERNEL_REFERENCE;
    if (!CHECK_OK(attn_mha_declare(&m, &l, "mha", &cfg)) || !CHECK_OK(attn_model_alloc(&m, 5)))
        return;
    for (int64_t i = 0; i < m.count; i++) /* biases start at 0: give them values */
        if (m.params[i] == 0)
            m.params[i] = (float)(0.3 * test_normal(&rng));
    int64_t nc = attn_mha_cache_floats(&l, B, Lq, Lk);
    float *xq = malloc(B * Lq * D * 4), *xkv = malloc(B * Lk * Dkv * 4), *cache = malloc(nc * 4);
    float *out = malloc(B * Lq * D * 4), *r = malloc(B * Lq * D * 4), *w = malloc(B * Hq * Lq * Lk * 4);
    float *dxq = calloc(B * Lq * D, 4), *dxkv = calloc(B * Lk * Dkv, 4);
    fd_fill(&rng, xq, B * Lq * D, 1), fd_fill(&rng, xkv, B * Lk * Dkv, 1), fd_fill(&rng, r, B * Lq * D, 1);
    mha_ctx c = {&m, &l, xq, xkv, cache, out, r, kl, B, Lq, Lk, self};

    /* forward against the independent composition */
    const float *xk = self ? xq : xkv;
    float *Q = malloc(B * Lq * Hq * dk * 4), *K = malloc(B * Lk * Hkv * dk * 4), *V = malloc(B * Lk * Hkv * dv * 4);
    float *q4 = malloc(B * Lq * Hq * dk * 4), *k4 = malloc(B * Lk * Hkv * dk * 4), *v4 = malloc(B * Lk * Hkv * dv * 4);
    float *a4 = malloc(B * Hq * Lq * dv * 4), *A = malloc(B * Lq * Hq * dv * 4), *want = malloc(B * Lq * D * 4);
    float *w_ref = malloc(B * Hq * Lq * Lk * 4);
    proj(Q, xq, m.params + l.wq, bias ? m.params + l.bq : NULL, B * Lq, D, Hq * dk);
    proj(K, xk, m.params + l.wk, bias ? m.params + l.bk : NULL, B * Lk, Dkv, Hkv * dk);
    proj(V, xk, m.params + l.wv, bias ? m.params + l.bv : NULL, B * Lk, Dkv, Hkv * dv);
    split(q4, Q, B, Lq, Hq, dk), split(k4, K, B, Lk, Hkv, dk), split(v4, V, B, Lk, Hkv, dv);
    attn_tensor tq = attn_tensor_4d(q4, ATTN_F32, B, Hq, Lq, dk), tk = attn_tensor_4d(k4, ATTN_F32, B, Hkv, Lk, dk);
    attn_tensor tv = attn_tensor_4d(v4, ATTN_F32, B, Hkv, Lk, dv), ta = attn_tensor_4d(a4, ATTN_F32, B, Hq, Lq, dv);
    attn_tensor tw = attn_tensor_4d(w_ref, ATTN_F32, B, Hq, Lq, Lk);
    attn_options o = {0};
    o.causal = causal, o.key_lengths = kl, o.dropout_p = dropout, o.dropout_seed = 77, o.kernel = ATTN_KERNEL_REFERENCE;
    CHECK_OK(attn_forward(&ta, NULL, &tw, &tq, &tk, &tv, &o));
    for (int64_t b = 0; b < B; b++) /* merge heads back: (B, H, L, Dv) -> (B, L, H*Dv) */
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t t = 0; t < Lq; t++)
                for (int64_t d = 0; d < dv; d++)
                    A[((b * Lq + t) * Hq + h) * dv + d] = a4[((b * Hq + h) * Lq + t) * dv + d];
    proj(want, A, m.params + l.wo, bias ? m.params + l.bo : NULL, B * Lq, Hq * dv, D);
    CHECK_OK(attn_mha_forward(&m, &l, out, w, cache, xq, self ? xq : xkv, kl, B, Lq, Lk, 77));
    double worst = 0;
    int ok = 1;
    for (int64_t i = 0; i < B * Lq * D; i++) { /* f32 matmuls vs double: K <= 20 terms of O(1): 1e-5 */
        ok &= test_close(out[i], want[i], 2e-5, 1e-4);
        worst = fmax(worst, fabs(out[i] - want[i]));
    }
    for (int64_t i = 0; i < B * Hq * Lq * Lk; i++)
        ok &= test_close(w[i], w_ref[i], 1e-6, 1e-5);
    CHECK(ok, "%s: forward and weights match the composition (max |diff| %.3g)", what, worst);

    /* backward against finite differences */
    attn_model_zero_grad(&m);
    mha_loss(&c);
    if (!CHECK_OK(attn_mha_backward(&m, &l, dxq, self ? dxq : dxkv, r, cache, xq, self ? xq : xkv, kl, B, Lq, Lk, 77)))
        goto done;
    char name[320];
    snprintf(name, sizeof name, "%s dxq", what);
    fd_check(name, xq, dxq, B * Lq * D, mha_loss, &c, H, ATOL, RTOL, &rng, 24);
    if (!self) {
        snprintf(name, sizeof name, "%s dxkv", what);
        fd_check(name, xkv, dxkv, B * Lk * Dkv, mha_loss, &c, H, ATOL, RTOL, &rng, 24);
    }
    for (int64_t t = 0; t < m.n_tensors; t++) {
        snprintf(name, sizeof name, "%s %s", what, m.table[t].name);
        fd_check(name, m.params + m.table[t].offset, m.grads + m.table[t].offset, m.table[t].numel, mha_loss, &c, H,
                 ATOL, RTOL, &rng, 12);
    }
done:
    free(xq), free(xkv), free(cache), free(out), free(r), free(w), free(dxq), free(dxkv), free(Q), free(K), free(V);
    free(q4), free(k4), free(v4), free(a4), free(A), free(want), free(w_ref);
    attn_model_free(&m);
}

/* ---- attention pooling ---- */
typedef struct pool_ctx {
    attn_model *m;
    attn_pooling *l;
    float *x, *cache, *ctx, *r;
    const int64_t *len;
} pool_ctx;
static double pool_loss(void *p)
{
    pool_ctx *c = p;
    attn_pooling_forward(c->m, c->l, c->ctx, NULL, c->cache, c->x, c->len, 2, 4);
    return fd_dot(c->r, c->ctx, 2 * 5);
}
static void test_pooling(void)
{
    attn_model m;
    attn_model_init(&m);
    attn_pooling l;
    if (!CHECK_OK(attn_pooling_declare(&m, &l, "pool", 5, 3)) || !CHECK_OK(attn_model_alloc(&m, 9)))
        return;
    int64_t len[2] = {4, 2};
    float x[40], cache[8], ctx[10], r[10], wts[8], dx[40] = {0};
    fd_fill(&rng, x, 40, 1), fd_fill(&rng, r, 10, 1);
    pool_ctx c = {&m, &l, x, cache, ctx, r, len};
    CHECK_OK(attn_pooling_forward(&m, &l, ctx, wts, cache, x, len, 2, 4));
    /* against attn_pool with the learned query as every batch's query */
    float query[6], ctx2[10], wts2[8];
    for (int b = 0; b < 2; b++)
        memcpy(query + 3 * b, m.params + l.query, 3 * sizeof(float));
    attn_tensor tc = attn_tensor_2d(ctx2, ATTN_F32, 2, 5), tw = attn_tensor_2d(wts2, ATTN_F32, 2, 4);
    attn_tensor tx = attn_tensor_3d(x, ATTN_F32, 2, 4, 5), tq = attn_tensor_2d(query, ATTN_F32, 2, 3);
    attn_tensor tW = attn_tensor_2d(m.params + l.w, ATTN_F32, 3, 5);
    CHECK_OK(attn_pool(&tc, &tw, &tx, &tq, &tW, len));
    int ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= test_close(ctx[i], ctx2[i], 1e-6, 1e-5);
    for (int i = 0; i < 8; i++)
        ok &= test_close(wts[i], wts2[i], 1e-6, 1e-5);
    CHECK(ok && wts[6] == 0 && wts[7] == 0, "pooling matches attn_pool; padding gets weight 0");
    attn_model_zero_grad(&m);
    CHECK_OK(attn_pooling_backward(&m, &l, dx, r, cache, x, len, 2, 4));
    fd_check("pooling dx", x, dx, 40, pool_loss, &c, H, ATOL, RTOL, &rng, 40);
    fd_check("pooling dw", m.params + l.w, m.grads + l.w, 15, pool_loss, &c, H, ATOL, RTOL, &rng, 40);
    fd_check("pooling dquery", m.params + l.query, m.grads + l.query, 3, pool_loss, &c, H, ATOL, RTOL, &rng, 40);
    CHECK(dx[(1 * 4 + 3) * 5] == 0, "padding gets no gradient");
    int64_t bad[2] = {4, 0};
    CHECK_FAILS(attn_pooling_forward(&m, &l, ctx, NULL, cache, x, bad, 2, 4), ATTN_ERR_INVALID, "lengths[1] = 0");
    attn_model_free(&m);
}

/* ---- additive attention ---- */
typedef struct add_ctx {
    attn_model *m;
    attn_additive *l;
    float *q, *k, *cache, *out, *r;
    const int64_t *kl;
} add_ctx;
static double add_loss(void *p)
{
    add_ctx *c = p;
    attn_additive_forward(c->m, c->l, c->out, NULL, c->cache, c->q, c->k, c->k, c->kl, 2, 3, 4, 4);
    return fd_dot(c->r, c->out, 2 * 3 * 4);
}
static void test_additive(void)
{
    attn_model m;
    attn_model_init(&m);
    attn_additive l;
    if (!CHECK_OK(attn_additive_declare(&m, &l, "add", 3, 4, 5)) || !CHECK_OK(attn_model_alloc(&m, 11)))
        return;
    int64_t kl[2] = {4, 3};
    float q[18], k[32], out[24], r[24], w[24], dq[18] = {0}, dk[32] = {0};
    float *cache = malloc(attn_additive_cache_floats(&l, 2, 3, 4) * sizeof(float));
    fd_fill(&rng, q, 18, 1), fd_fill(&rng, k, 32, 1), fd_fill(&rng, r, 24, 1);
    add_ctx c = {&m, &l, q, k, cache, out, r, kl};
    CHECK_OK(attn_additive_forward(&m, &l, out, w, cache, q, k, k, kl, 2, 3, 4, 4));
    /* against attn_forward's additive score (reference kernel), values = keys */
    float out2[24], w2[24];
    attn_tensor tq = attn_tensor_3d(q, ATTN_F32, 2, 3, 3), tk = attn_tensor_3d(k, ATTN_F32, 2, 4, 4);
    attn_tensor to = attn_tensor_3d(out2, ATTN_F32, 2, 3, 4), tw = attn_tensor_3d(w2, ATTN_F32, 2, 3, 4);
    attn_options o = {0};
    o.score = ATTN_SCORE_ADDITIVE, o.scale = 1.0, o.key_lengths = kl, o.kernel = ATTN_KERNEL_REFERENCE;
    o.additive_wq = attn_tensor_2d(m.params + l.wq, ATTN_F32, 5, 3);
    o.additive_wk = attn_tensor_2d(m.params + l.wk, ATTN_F32, 5, 4);
    o.additive_v = attn_tensor_1d(m.params + l.v, ATTN_F32, 5);
    /* rank-3 views read as (1, B, L, D): batch b becomes head b, so key_lengths need B = 1: use 4-d views */
    tq = attn_tensor_4d(q, ATTN_F32, 2, 1, 3, 3), tk = attn_tensor_4d(k, ATTN_F32, 2, 1, 4, 4);
    to = attn_tensor_4d(out2, ATTN_F32, 2, 1, 3, 4), tw = attn_tensor_4d(w2, ATTN_F32, 2, 1, 3, 4);
    if (CHECK_OK(attn_forward(&to, NULL, &tw, &tq, &tk, &tk, &o))) {
        int ok = 1;
        for (int i = 0; i < 24; i++)
            ok &= test_close(out[i], out2[i], 1e-5, 1e-4) && test_close(w[i], w2[i], 1e-6, 1e-5);
        CHECK(ok, "additive attention matches attn_forward's additive score");
    }
    attn_model_zero_grad(&m);
    CHECK_OK(attn_additive_backward(&m, &l, dq, dk, dk, r, cache, q, k, k, kl, 2, 3, 4, 4));
    fd_check("additive dq", q, dq, 18, add_loss, &c, H, ATOL, RTOL, &rng, 40);
    fd_check("additive dk (= dval)", k, dk, 32, add_loss, &c, H, ATOL, RTOL, &rng, 40);
    for (int64_t t = 0; t < m.n_tensors; t++)
        fd_check(m.table[t].name, m.params + m.table[t].offset, m.grads + m.table[t].offset, m.table[t].numel,
                 add_loss, &c, H, ATOL, RTOL, &rng, 40);
    free(cache);
    attn_model_free(&m);
}

/* ---- Transformer layers ---- */
typedef struct tr_ctx {
    attn_model *m;
    attn_transformer_layer *l;
    float *x, *mem, *cache, *out, *r;
    const int64_t *xl, *ml;
    int64_t B, T, S;
} tr_ctx;
static double tr_loss(void *p)
{
    tr_ctx *c = p;
    attn_status st = attn_transformer_forward(c->m, c->l, c->out, c->cache, c->x, c->mem, c->xl, c->ml, c->B, c->T,
                                              c->S, 4242);
    if (st != ATTN_OK)
        return NAN;
    return fd_dot(c->r, c->out, c->B * c->T * c->l->cfg.d_model);
}
static void test_transformer(int cross, int pre_ln, double dropout)
{
    char what[96];
    snprintf(what, sizeof what, "%s %s dropout %g", cross ? "decoder" : "encoder", pre_ln ? "pre-LN" : "post-LN",
             dropout);
    attn_model m;
    attn_model_init(&m);
    attn_transformer_layer l;
    attn_transformer_config cfg = {0};
    cfg.d_model = 8, cfg.n_heads = 2, cfg.n_kv_heads = cross ? 1 : 2, cfg.d_ff = 12, cfg.act = ATTN_ACT_GELU;
    cfg.pre_ln = pre_ln, cfg.cross = cross, cfg.causal = cross ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
    cfg.bias = 1, cfg.dropout_p = dropout, cfg.kernel = ATTN_KERNEL_REFERENCE;
    if (!CHECK_OK(attn_transformer_declare(&m, &l, "layer", &cfg)) || !CHECK_OK(attn_model_alloc(&m, 3)))
        return;
    for (int64_t i = 0; i < m.count; i++) /* LN weights 1 and biases 0 are special points: perturb them */
        m.params[i] += (float)(0.2 * test_normal(&rng));
    int64_t B = 2, T = 4, S = 3, C = 8;
    int64_t xl[2] = {4, 3}, ml[2] = {3, 2};
    float *x = malloc(B * T * C * 4), *mem = malloc(B * S * C * 4), *out = malloc(B * T * C * 4);
    float *r = malloc(B * T * C * 4), *dx = calloc(B * T * C, 4), *dmem = calloc(B * S * C, 4);
    float *cache = malloc(attn_transformer_cache_floats(&l, B, T, S) * 4);
    fd_fill(&rng, x, B * T * C, 1), fd_fill(&rng, mem, B * S * C, 1), fd_fill(&rng, r, B * T * C, 1);
    tr_ctx c = {&m, &l, x, cross ? mem : NULL, cache, out, r, xl, cross ? ml : NULL, B, T, cross ? S : 0};
    attn_model_zero_grad(&m);
    tr_loss(&c);
    if (CHECK_OK(attn_transformer_backward(&m, &l, dx, cross ? dmem : NULL, r, cache, x, c.mem, xl, c.ml, B, T, c.S,
                                           4242))) {
        char name[320];
        snprintf(name, sizeof name, "%s dx", what);
        fd_check(name, x, dx, B * T * C, tr_loss, &c, H, ATOL, RTOL, &rng, 24);
        if (cross) {
            snprintf(name, sizeof name, "%s dmem", what);
            fd_check(name, mem, dmem, B * S * C, tr_loss, &c, H, ATOL, RTOL, &rng, 24);
        }
        for (int64_t t = 0; t < m.n_tensors; t++) {
            snprintf(name, sizeof name, "%s %s", what, m.table[t].name);
            fd_check(name, m.params + m.table[t].offset, m.grads + m.table[t].offset, m.table[t].numel, tr_loss, &c,
                     H, ATOL, RTOL, &rng, 6);
        }
    }
    free(x), free(mem), free(out), free(r), free(dx), free(dmem), free(cache);
    attn_model_free(&m);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_nn_attention: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    rng.s = seed;
    int64_t kl[2] = {4, 2}, kl5[2] = {5, 3};
    test_mha(1, ATTN_CAUSAL_NONE, 0, 1, 2, 2, 4, 4, NULL);
    test_mha(1, ATTN_CAUSAL_TOP_LEFT, 0, 1, 4, 2, 3, 5, kl);   /* GQA, d_k != d_v, causal, padding */
    test_mha(1, ATTN_CAUSAL_NONE, 0.2, 0, 2, 1, 4, 3, kl);     /* MQA, dropout */
    test_mha(0, ATTN_CAUSAL_NONE, 0, 1, 2, 1, 3, 4, kl5);      /* cross, d_kv != d_model */
    test_mha(0, ATTN_CAUSAL_BOTTOM_RIGHT, 0.1, 1, 2, 2, 4, 2, NULL);
    test_pooling();
    test_additive();
    for (int cross = 0; cross < 2; cross++)
        for (int pre = 0; pre < 2; pre++)
            test_transformer(cross, pre, cross ? 0.1 : 0.0);
    test_transformer(0, 1, 0.2);
    return test_summary("test_nn_attention");
}
