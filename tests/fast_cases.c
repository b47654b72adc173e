/* fast_cases.c - see fast_cases.h. */
#include "fast_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

buf make(test_rng *r, const int64_t n[4], int layout, double sd)
{
    buf b;
    int64_t pad = layout == 1 ? 3 : 0, es = layout == 2 ? 2 : 1;
    int64_t row = n[3] * es + pad;
    int64_t total = n[0] * n[1] * n[2] * row + 8;
    b.mem = malloc((size_t)total * sizeof(float));
    b.total = total;
    for (int64_t i = 0; i < total; i++)
        b.mem[i] = (float)(sd * test_normal(r));
    float *data = b.mem + (layout == 1 ? 1 : 0);
    b.t = attn_tensor_4d(data, ATTN_F32, n[0], n[1], n[2], n[3]);
    b.t.stride[3] = es;
    if (layout == 1) { /* memory (n0, n2, n1, row) */
        b.t.stride[1] = row;
        b.t.stride[2] = n[1] * row;
        b.t.stride[0] = n[2] * n[1] * row;
    } else {
        b.t.stride[2] = row;
        b.t.stride[1] = n[2] * row;
        b.t.stride[0] = n[1] * n[2] * row;
    }
    return b;
}

float *at(buf *b, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    const attn_tensor *t = &b->t;
    return (float *)t->data + i0 * t->stride[0] + i1 * t->stride[1] + i2 * t->stride[2] + i3 * t->stride[3];
}

attn_tensor to_16bit(buf *b, uint16_t **half, attn_dtype dtype)
{
    *half = malloc((size_t)b->total * sizeof(uint16_t));
    if (dtype == ATTN_BF16) {
        attn_bf16_from_f32(*half, b->mem, (size_t)b->total);
        attn_f32_from_bf16(b->mem, *half, (size_t)b->total);
    } else {
        attn_f16_from_f32(*half, b->mem, (size_t)b->total);
        attn_f32_from_f16(b->mem, *half, (size_t)b->total);
    }
    attn_tensor t = b->t;
    t.dtype = dtype;
    t.data = *half + ((const float *)b->t.data - b->mem);
    return t;
}

void input_views(const cfg *c, buf *q, buf *k, buf *v, attn_tensor t[3], uint16_t *h[3])
{
    buf *b[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        h[i] = NULL;
        bool half = i == 0 ? (c->half & 1) : (c->half & 2);
        bool bf = i == 0 ? (c->bf16 & 1) : (c->bf16 & 2);
        t[i] = half ? to_16bit(b[i], &h[i], bf ? ATTN_BF16 : ATTN_F16) : b[i]->t;
    }
}

const attn_kernel kernels[3] = {ATTN_KERNEL_SCALAR, ATTN_KERNEL_AVX2, ATTN_KERNEL_AVX512};

void describe(const cfg *c, char *s, size_t n)
{
    snprintf(s, n,
             "%s %s(scale %g) B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld layout=%d causal=%d "
             "window=%d(%lld,%lld) mask=%d bias=%d klen=%d seqs=%lld alibi=%d cap=%g drop=%g half=%d%s",
             c->what, attn_score_name(c->o.score), c->o.scale, (long long)c->B, (long long)c->Hq, (long long)c->Hkv,
             (long long)c->Lq, (long long)c->Lk, (long long)c->D, (long long)c->Dv, c->layout, (int)c->o.causal,
             c->o.window, (long long)c->o.window_left, (long long)c->o.window_right, c->o.mask.rank != 0,
             c->o.bias.rank != 0, c->o.key_lengths != NULL, (long long)c->o.num_seqs, c->o.alibi_slopes != NULL,
             c->o.softcap, c->o.dropout_p, c->half, c->half && c->bf16 ? (c->bf16 == 3 ? " (bf16)" : c->bf16 == 2 ? " (k, v bf16)" : " (q bf16)") : "");
}

cfg random_cfg(test_rng *r, extras *x)
{
    static const int64_t Ls[] = {1, 3, 17, 64, 100, 257};
    static const int64_t Ds[] = {1, 3, 16, 17, 64};
    cfg c;
    memset(&c, 0, sizeof c);
    c.what = "random";
    c.qscale = 1;
    c.B = test_int(r, 1, 2);
    c.Hkv = test_int(r, 1, 2);
    c.Hq = c.Hkv * test_int(r, 1, 2);
    c.Lq = Ls[test_int(r, 0, 5)];
    c.Lk = Ls[test_int(r, 0, 5)];
    c.D = Ds[test_int(r, 0, 4)];
    c.Dv = test_int(r, 0, 2) == 0 ? Ds[test_int(r, 0, 4)] : c.D;
    c.layout = (int)test_int(r, 0, 2);
    attn_options *o = &c.o;
    int score = (int)test_int(r, 0, 3); /* dot, cosine, scaled dot twice */
    o->score = score == 0 ? ATTN_SCORE_DOT : score == 1 ? ATTN_SCORE_COSINE : ATTN_SCORE_SCALED_DOT;
    if (o->score == ATTN_SCORE_DOT)
        o->scale = 0.3;
    if (o->score == ATTN_SCORE_COSINE)
        o->scale = 3; /* a temperature: weights far from uniform */
    o->causal = (attn_causal)test_int(r, 0, 2);
    if (test_int(r, 0, 3) == 0) {
        o->window = 1;
        o->window_left = test_int(r, -1, 20);
        o->window_right = test_int(r, -1, 20);
    }
    if (test_int(r, 0, 3) == 0) { /* mask broadcast over heads: (B, 1, Lq, Lk) */
        x->mask = malloc((size_t)(c.B * c.Lq * c.Lk));
        for (int64_t i = 0; i < c.B * c.Lq * c.Lk; i++)
            x->mask[i] = test_uniform(r) < 0.8;
        if (c.Lq > 1)
            memset(x->mask, 0, (size_t)c.Lk); /* batch 0 row 0 fully masked */
        o->mask = attn_tensor_4d(x->mask, ATTN_BOOL, c.B, 1, c.Lq, c.Lk);
    }
    if (test_int(r, 0, 3) == 0) { /* bias broadcast over batch: (Hq, Lq, Lk), some -inf */
        x->bias = malloc((size_t)(c.Hq * c.Lq * c.Lk) * sizeof(float));
        for (int64_t i = 0; i < c.Hq * c.Lq * c.Lk; i++)
            x->bias[i] = test_uniform(r) < 0.1 ? -INFINITY : (float)test_normal(r);
        o->bias = attn_tensor_3d(x->bias, ATTN_F32, c.Hq, c.Lq, c.Lk);
    }
    int kind = (int)test_int(r, 0, 4);
    if (kind == 0) {
        for (int64_t b = 0; b < c.B; b++)
            x->klen[b] = test_int(r, 0, c.Lk);
        o->key_lengths = x->klen;
    } else if (kind == 1 && c.Lq >= 3 && c.Lk >= 3) { /* packed: 3 sequences */
        c.B = 1;
        if (x->mask)
            o->mask.shape[0] = 1;
        o->num_seqs = 3;
        x->cu_q[0] = 0, x->cu_q[1] = test_int(r, 0, c.Lq), x->cu_q[2] = test_int(r, x->cu_q[1], c.Lq), x->cu_q[3] = c.Lq;
        x->cu_k[0] = 0, x->cu_k[1] = test_int(r, 0, c.Lk), x->cu_k[2] = test_int(r, x->cu_k[1], c.Lk), x->cu_k[3] = c.Lk;
        o->cu_seqlens_q = x->cu_q;
        o->cu_seqlens_k = x->cu_k;
    }
    if (test_int(r, 0, 3) == 0) {
        for (int h = 0; h < 16; h++)
            x->slopes[h] = (float)pow(2.0, -(h + 1));
        o->alibi_slopes = x->slopes;
    }
    if (test_int(r, 0, 3) == 0)
        o->softcap = 0.5 + 3 * test_uniform(r);
    if (test_int(r, 0, 3) == 0) {
        o->dropout_p = 0.25;
        o->dropout_seed = test_next(r);
    }
    return c;
}

void plant_nans(const cfg *c, buf *q, buf *k, buf *v)
{
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hkv; h++) {
            int64_t j0 = c->nan_hidden == 2 ? 0 : c->Lq, j1 = c->nan_hidden == 2 ? c->Lk - c->Lq : c->Lk;
            for (int64_t j = j0; c->nan_hidden && j < j1; j++) {
                for (int64_t d = 0; d < c->D; d++)
                    *at(k, b, h, j, d) = (j & 1) ? NAN : INFINITY;
                for (int64_t d = 0; d < c->Dv; d++)
                    *at(v, b, h, j, d) = (j & 1) ? -INFINITY : NAN;
            }
            if (c->nan_visible == 1)
                *at(k, b, h, 5 % c->Lk, 1 % c->D) = NAN;
            if (c->nan_visible)
                *at(v, b, h, 9 % c->Lk, 0) = NAN;
        }
    if (c->nan_visible == 1)
        *at(q, 0, 0, 7 % c->Lq, 0) = NAN;
}

cfg nan_visible_cfg(void)
{
    cfg c;
    memset(&c, 0, sizeof c);
    c.what = "nan-visible";
    c.qscale = 1;
    c.B = 1, c.Hq = 2, c.Hkv = 1, c.Lq = 130, c.Lk = 150, c.D = 16, c.Dv = 8;
    c.nan_visible = 1;
    return c;
}
