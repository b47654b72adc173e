/*
 * transformer.c - Transformer encoder and decoder layers, pre-LN or post-LN.
 *
 * A layer is a list of sublayers (self attention, [cross attention,] FFN),
 * each wrapped the same way by one residual helper, so the encoder and the
 * decoder share every line:
 *   post-LN:  s = x + D(f(x));  y = LN(s)
 *   pre-LN:   u = LN(x);        y = x + D(f(u))
 * Cache, per sublayer: buf (N, C) (s or u), mean (N), rstd (N), f's cache,
 * y (N, C).  Dropout seeds per sublayer k: hash(seed, k, 0) for the
 * attention weights, hash(seed, k, 1) for the residual branch.
 */
#include "nn/nn.h"

enum { SUB_SELF, SUB_CROSS, SUB_FFN };

static int n_sub(const attn_transformer_layer *l) { return l->cfg.cross ? 3 : 2; }
static int sub_kind(const attn_transformer_layer *l, int k)
{
    return k == 0 ? SUB_SELF : (k == 1 && l->cfg.cross) ? SUB_CROSS : SUB_FFN;
}

attn_status attn_transformer_declare(attn_model *m, attn_transformer_layer *l, const char *prefix,
                                     const attn_transformer_config *cfg)
{
    static const char fn[] = "attn_transformer_declare";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, l);
    NN_NOTNULL(fn, cfg);
    NN_POS(fn, cfg->d_ff);
    if (!(cfg->ln_eps >= 0) || isinf(cfg->ln_eps))
        return attn_fail(ATTN_ERR_INVALID, "%s: ln_eps = %g", fn, cfg->ln_eps);
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->cfg.pre_ln = cfg->pre_ln != 0;
    l->cfg.cross = cfg->cross != 0;
    l->cfg.rope = cfg->rope != 0;
    if (l->cfg.ln_eps == 0)
        l->cfg.ln_eps = 1e-5;
    char name[ATTN_PARAM_NAME_MAX + 64];
    attn_mha_config mc;
    memset(&mc, 0, sizeof mc);
    mc.d_model = cfg->d_model, mc.n_heads = cfg->n_heads, mc.n_kv_heads = cfg->n_kv_heads;
    mc.d_k = cfg->d_k, mc.d_v = cfg->d_v, mc.bias = cfg->bias, mc.dropout_p = cfg->dropout_p;
    mc.kernel = cfg->kernel;
    attn_status st;
    mc.causal = cfg->causal;
    mc.rope = cfg->rope, mc.rope_base = cfg->rope_base;
    snprintf(name, sizeof name, "%s%sself_attn", prefix ? prefix : "", prefix && *prefix ? "." : "");
    if ((st = attn_mha_declare(m, &l->self_attn, name, &mc)) != ATTN_OK)
        return st;
    if (l->cfg.cross) {
        mc.causal = ATTN_CAUSAL_NONE;
        mc.rope = 0; /* positions of the memory are not the queries' */
        snprintf(name, sizeof name, "%s%scross_attn", prefix ? prefix : "", prefix && *prefix ? "." : "");
        if ((st = attn_mha_declare(m, &l->cross_attn, name, &mc)) != ATTN_OK)
            return st;
    }
    snprintf(name, sizeof name, "%s%sffn", prefix ? prefix : "", prefix && *prefix ? "." : "");
    if ((st = attn_ffn_declare(m, &l->ffn, name, cfg->d_model, cfg->d_ff, cfg->act, cfg->bias)) != ATTN_OK)
        return st;
    for (int k = 0; k < 3; k++)
        l->ln_w[k] = l->ln_b[k] = -1;
    for (int k = 0; k < n_sub(l); k++) {
        char w[16], b[16];
        snprintf(w, sizeof w, "ln%d.w", k + 1);
        snprintf(b, sizeof b, "ln%d.b", k + 1);
        if ((st = attn_nn_add(m, prefix, w, 1, cfg->d_model, 0, ATTN_INIT_ONES, 0, &l->ln_w[k])) != ATTN_OK ||
            (st = attn_nn_add(m, prefix, b, 1, cfg->d_model, 0, ATTN_INIT_ZEROS, 0, &l->ln_b[k])) != ATTN_OK)
            return st;
    }
    return ATTN_OK;
}

static int64_t f_cache(const attn_transformer_layer *l, int k, int64_t B, int64_t T, int64_t S)
{
    switch (sub_kind(l, k)) {
    case SUB_SELF: return attn_mha_cache_floats(&l->self_attn, B, T, T);
    case SUB_CROSS: return attn_mha_cache_floats(&l->cross_attn, B, T, S);
    default: return attn_ffn_cache_floats(&l->ffn, B * T);
    }
}

int64_t attn_transformer_cache_floats(const attn_transformer_layer *l, int64_t B, int64_t T, int64_t S)
{
    int64_t n = 0, N = B * T, C = l->cfg.d_model;
    for (int k = 0; k < n_sub(l); k++)
        n += 2 * N * C + 2 * N + f_cache(l, k, B, T, S);
    return n;
}

/* The pieces of sublayer k's cache. */
typedef struct sub_cache {
    float *buf, *mean, *rstd, *fc, *y;
} sub_cache;

static sub_cache cache_of(const attn_transformer_layer *l, const float *cache, int k, int64_t B, int64_t T, int64_t S)
{
    int64_t N = B * T, C = l->cfg.d_model;
    float *p = (float *)cache;
    for (int j = 0; j < k; j++)
        p += 2 * N * C + 2 * N + f_cache(l, j, B, T, S);
    sub_cache c;
    c.buf = p, c.mean = p + N * C, c.rstd = c.mean + N, c.fc = c.rstd + N, c.y = c.fc + f_cache(l, k, B, T, S);
    return c;
}

static attn_status check(const char *fn, const attn_model *m, const attn_transformer_layer *l, const float *cache,
                         const float *x, const float *mem, int64_t B, int64_t T, int64_t S)
{
    int64_t t;
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, x);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, T);
    NN_NONNEG(fn, S);
    if (l->cfg.cross)
        NN_NOTNULL(fn, mem);
    return attn_nn_size3(fn, B, T + S, 8 * (l->cfg.d_model + l->cfg.d_ff), &t);
}

/* y = x + D(f(LN(x)))  or  y = LN(x + D(f(x))) */
attn_status attn_transformer_forward(const attn_model *m, const attn_transformer_layer *l, float *out, float *cache,
                                     const float *x, const float *mem, const int64_t *x_lengths,
                                     const int64_t *mem_lengths, int64_t B, int64_t T, int64_t S, uint64_t seed)
{
    return attn_nn_transformer_fwd("attn_transformer_forward", m, l, out, NULL, cache, x, mem, x_lengths, mem_lengths,
                                   B, T, S, seed);
}

attn_status attn_nn_transformer_fwd(const char *fn, const attn_model *m, const attn_transformer_layer *l, float *out,
                                    float *cross_weights, float *cache, const float *x, const float *mem,
                                    const int64_t *x_lengths, const int64_t *mem_lengths, int64_t B, int64_t T,
                                    int64_t S, uint64_t seed)
{
    attn_status st = check(fn, m, l, cache, x, mem, B, T, S);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, out);
    const attn_transformer_config *c = &l->cfg;
    int64_t N = B * T, C = c->d_model;
    const float *in = x;
    for (int k = 0; k < n_sub(l); k++) {
        sub_cache sc = cache_of(l, cache, k, B, T, S);
        const float *fin = in;
        float *fout = c->pre_ln ? sc.y : sc.buf;
        if (c->pre_ln) {
            attn_nn_layernorm_fwd(sc.buf, sc.mean, sc.rstd, in, NN_P(m, l->ln_w[k]), NN_P(m, l->ln_b[k]), N, C,
                                  c->ln_eps);
            fin = sc.buf;
        }
        uint64_t s_att = attn_nn_hash(seed, (uint64_t)k, 0), s_res = attn_nn_hash(seed, (uint64_t)k, 1);
        switch (sub_kind(l, k)) {
        case SUB_SELF:
            st = attn_mha_forward(m, &l->self_attn, fout, NULL, sc.fc, fin, fin, x_lengths, B, T, T, s_att);
            break;
        case SUB_CROSS:
            st = attn_mha_forward(m, &l->cross_attn, fout, cross_weights, sc.fc, fin, mem, mem_lengths, B, T, S,
                                  s_att);
            break;
        default: st = attn_ffn_forward(m, &l->ffn, fout, sc.fc, fin, N); break;
        }
        if (st != ATTN_OK)
            return st;
        attn_nn_dropout_fwd(fout, fout, N * C, c->dropout_p, s_res);
        for (int64_t e = 0; e < N * C; e++)
            fout[e] += in[e];
        if (!c->pre_ln)
            attn_nn_layernorm_fwd(sc.y, sc.mean, sc.rstd, sc.buf, NN_P(m, l->ln_w[k]), NN_P(m, l->ln_b[k]), N, C,
                                  c->ln_eps);
        in = sc.y;
    }
    memcpy(out, in, (size_t)(N * C) * sizeof(float));
    return ATTN_OK;
}

attn_status attn_transformer_backward(attn_model *m, const attn_transformer_layer *l, float *dx, float *dmem,
                                      const float *dout, const float *cache, const float *x, const float *mem,
                                      const int64_t *x_lengths, const int64_t *mem_lengths, int64_t B, int64_t T,
                                      int64_t S, uint64_t seed)
{
    static const char fn[] = "attn_transformer_backward";
    attn_status st = check(fn, m, l, cache, x, mem, B, T, S);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dout);
    const attn_transformer_config *c = &l->cfg;
    int64_t N = B * T, C = c->d_model, NC = N * C;
    float *dy = attn_nn_scratch(4 * NC, "attn_transformer_backward scratch");
    if (!dy)
        return ATTN_ERR_NOMEM;
    float *din = dy + NC, *dfo = din + NC, *dtmp = dfo + NC;
    float *dmem_use = dmem;
    memcpy(dy, dout, (size_t)NC * sizeof(float));
    for (int k = n_sub(l) - 1; k >= 0 && st == ATTN_OK; k--) {
        sub_cache sc = cache_of(l, cache, k, B, T, S);
        const float *in = k == 0 ? x : cache_of(l, cache, k - 1, B, T, S).y;
        const float *w = NN_P(m, l->ln_w[k]);
        float *dw = NN_G(m, l->ln_w[k]), *db = NN_G(m, l->ln_b[k]);
        uint64_t s_att = attn_nn_hash(seed, (uint64_t)k, 0), s_res = attn_nn_hash(seed, (uint64_t)k, 1);
        memset(din, 0, (size_t)NC * sizeof(float));
        memset(dfo, 0, (size_t)NC * sizeof(float));
        const float *fin;
        float *dfin;
        if (c->pre_ln) {
            /* forward: y = in + D(f(u)) */
            for (int64_t e = 0; e < NC; e++)
                din[e] += dy[e];
            attn_nn_dropout_bwd(dfo, dy, NC, c->dropout_p, s_res);
            fin = sc.buf;
            dfin = dtmp;
            memset(dtmp, 0, (size_t)NC * sizeof(float));
        } else {
            /* forward: y = LN(s) */
            memset(dtmp, 0, (size_t)NC * sizeof(float));
            attn_nn_layernorm_bwd(dtmp, dw, db, dy, sc.buf, w, sc.mean, sc.rstd, N, C);
            /* forward: s = in + D(f(in)) */
            for (int64_t e = 0; e < NC; e++)
                din[e] += dtmp[e];
            attn_nn_dropout_bwd(dfo, dtmp, NC, c->dropout_p, s_res);
            fin = in;
            dfin = din;
        }
        switch (sub_kind(l, k)) {
        case SUB_SELF:
            st = attn_mha_backward(m, &l->self_attn, dfin, dfin, dfo, sc.fc, fin, fin, x_lengths, B, T, T, s_att);
            break;
        case SUB_CROSS:
            if (!dmem_use) { /* the backward needs somewhere to put dK, dV's input gradient */
                dmem_use = attn_nn_scratch(B * S * C, "attn_transformer_backward scratch");
                if (!dmem_use) {
                    st = ATTN_ERR_NOMEM;
                    break;
                }
                memset(dmem_use, 0, (size_t)(B * S * C) * sizeof(float));
            }
            st = attn_mha_backward(m, &l->cross_attn, dfin, dmem_use, dfo, sc.fc, fin, mem, mem_lengths, B, T, S,
                                   s_att);
            break;
        default: st = attn_ffn_backward(m, &l->ffn, dfin, dfo, sc.fc, fin, N); break;
        }
        if (st == ATTN_OK && c->pre_ln) /* forward: u = LN(in) */
            attn_nn_layernorm_bwd(din, dw, db, dtmp, in, w, sc.mean, sc.rstd, N, C);
        memcpy(dy, din, (size_t)NC * sizeof(float));
    }
    if (st == ATTN_OK && dx)
        for (int64_t e = 0; e < NC; e++)
            dx[e] += dy[e];
    if (dmem_use != dmem)
        attn_free(dmem_use);
    attn_free(dy);
    return st;
}
