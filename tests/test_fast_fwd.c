/*
 * test_fast_fwd.c - every tiled kernel this CPU supports, forced, against the
 * reference forward, on fresh random inputs (seed printed; ATTN_TEST_SEED
 * replays it).
 *
 * Tolerance for f32 (out and lse): |fast - ref| <= 3e-5 + 3e-4 |ref|, ref
 * computed in double from the same f32 inputs.  Why: q.k*scale is summed in
 * f32 over D <= 257 terms of unit-scale products (scale 1/sqrt(D)), an error
 * below D * 2^-24 * |q||k| scale ~ 1.5e-5 at worst, usually ~1e-6; exp adds
 * 4.8e-7 relative (tests/test_kernel_exp.c); a weight's relative error is
 * about the score's absolute error, and out is a convex combination of
 * unit-scale values.  A wrong mask, a lost tile or a wrong rescale is off by
 * 1e-2 or more.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATOL 3e-5
#define RTOL 3e-4

typedef struct buf {
    float *mem;
    attn_tensor t;
} buf;

/* A (n0, n1, n2, n3) f32 tensor in one of three layouts:
 *   0 contiguous; 1 stored as (n0, n2, n1, n3) with rows padded by 3 and the
 *   data pointer one float off alignment; 2 last dimension of stride 2. */
static buf make(test_rng *r, const int64_t n[4], int layout, double sd)
{
    buf b;
    int64_t pad = layout == 1 ? 3 : 0, es = layout == 2 ? 2 : 1;
    int64_t row = n[3] * es + pad;
    int64_t total = n[0] * n[1] * n[2] * row + 8;
    b.mem = malloc((size_t)total * sizeof(float));
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

static float *at(buf *b, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    const attn_tensor *t = &b->t;
    return (float *)t->data + i0 * t->stride[0] + i1 * t->stride[1] + i2 * t->stride[2] + i3 * t->stride[3];
}

typedef struct cfg {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int layout;
    attn_options o;
    const char *what;
    double qscale; /* multiplies q (1e15 for the huge-score test) */
    int nan_hidden; /* plant NaN/Inf in K/V rows of keys hidden from every row */
} cfg;

static const attn_kernel kernels[] = {ATTN_KERNEL_SCALAR, ATTN_KERNEL_AVX2, ATTN_KERNEL_AVX512};

static void describe(const cfg *c, char *s, size_t n)
{
    snprintf(s, n,
             "%s B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld layout=%d causal=%d window=%d(%lld,%lld) "
             "mask=%d bias=%d klen=%d seqs=%lld alibi=%d cap=%g drop=%g",
             c->what, (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq, (long long)c->Lk,
             (long long)c->D, (long long)c->Dv, c->layout, (int)c->o.causal, c->o.window, (long long)c->o.window_left,
             (long long)c->o.window_right, c->o.mask.rank != 0, c->o.bias.rank != 0, c->o.key_lengths != NULL,
             (long long)c->o.num_seqs, c->o.alibi_slopes != NULL, c->o.softcap, c->o.dropout_p);
}

/* Run every kernel and compare with the reference; also 1 vs 2 threads and
 * repeatability. */
static void run(const cfg *c, test_rng *r)
{
    char desc[512];
    describe(c, desc, sizeof desc);
    int64_t nq[4] = {c->B, c->Hq, c->Lq, c->D}, nk[4] = {c->B, c->Hkv, c->Lk, c->D},
            nv[4] = {c->B, c->Hkv, c->Lk, c->Dv}, no[4] = {c->B, c->Hq, c->Lq, c->Dv};
    buf q = make(r, nq, c->layout, c->qscale), k = make(r, nk, c->layout, c->qscale > 1 ? c->qscale : 1.0),
        v = make(r, nv, c->layout, 1.0), out = make(r, no, c->layout, 1.0);
    int64_t nout = c->B * c->Hq * c->Lq * c->Dv, nl = c->B * c->Hq * c->Lq;
    double *ref_o = calloc((size_t)nout + 1, sizeof(double)), *ref_l = calloc((size_t)nl + 1, sizeof(double));
    float *lse = calloc((size_t)nl + 1, sizeof(float)), *keep_o = calloc((size_t)nout + 1, sizeof(float)),
          *keep_l = calloc((size_t)nl + 1, sizeof(float));
    if (c->nan_hidden) { /* keys >= Lq are hidden from every row by causal top-left */
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->Hkv; h++)
                for (int64_t j = c->Lq; j < c->Lk; j++) {
                    for (int64_t d = 0; d < c->D; d++)
                        *at(&k, b, h, j, d) = (j & 1) ? NAN : INFINITY;
                    for (int64_t d = 0; d < c->Dv; d++)
                        *at(&v, b, h, j, d) = (j & 1) ? -INFINITY : NAN;
                }
    }
    attn_tensor tro = attn_tensor_4d(ref_o, ATTN_F64, c->B, c->Hq, c->Lq, c->Dv);
    attn_tensor trl = attn_tensor_3d(ref_l, ATTN_F64, c->B, c->Hq, c->Lq);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, c->B, c->Hq, c->Lq);
    attn_options o = c->o;
    o.kernel = ATTN_KERNEL_REFERENCE;
    o.threads = 2;
    if (!CHECK_OK(attn_forward(&tro, &trl, NULL, &q.t, &k.t, &v.t, &o)))
        goto done;
    for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++) {
        if (!attn_kernel_available(kernels[ki]))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            o.kernel = kernels[ki];
            o.threads = threads;
            if (!CHECK_OK(attn_forward(&out.t, &tl, NULL, &q.t, &k.t, &v.t, &o)))
                continue;
            int bad = 0;
            for (int64_t b = 0; b < c->B && bad < 3; b++)
                for (int64_t h = 0; h < c->Hq && bad < 3; h++)
                    for (int64_t i = 0; i < c->Lq && bad < 3; i++) {
                        int64_t li = (b * c->Hq + h) * c->Lq + i;
                        if (!test_close(lse[li], ref_l[li], ATOL, RTOL) && !(c->qscale > 1 && isfinite(lse[li]))) {
                            bad++;
                            CHECK(0, "%s kernel %s threads %d: lse[%lld,%lld,%lld] = %.9g, reference %.9g", desc,
                                  attn_kernel_name(kernels[ki]), threads, (long long)b, (long long)h, (long long)i,
                                  lse[li], ref_l[li]);
                        }
                        for (int64_t d = 0; d < c->Dv; d++) {
                            double want = ref_o[li * c->Dv + d], got = *at(&out, b, h, i, d);
                            double atol = c->qscale > 1 ? 1e-3 : ATOL;
                            if (!test_close(got, want, atol, RTOL)) {
                                bad++;
                                CHECK(0, "%s kernel %s threads %d: out[%lld,%lld,%lld,%lld] = %.9g, reference %.9g",
                                      desc, attn_kernel_name(kernels[ki]), threads, (long long)b, (long long)h,
                                      (long long)i, (long long)d, got, want);
                                break;
                            }
                        }
                    }
            CHECK(bad == 0, "%s kernel %s threads %d", desc, attn_kernel_name(kernels[ki]), threads);
            /* 1 vs 2 threads within rounding; a repeat with 2 threads bitwise equal */
            if (threads == 1) {
                for (int64_t b = 0, n = 0; b < c->B; b++)
                    for (int64_t h = 0; h < c->Hq; h++)
                        for (int64_t i = 0; i < c->Lq; i++)
                            for (int64_t d = 0; d < c->Dv; d++)
                                keep_o[n++] = *at(&out, b, h, i, d);
                memcpy(keep_l, lse, (size_t)nl * sizeof(float));
            } else {
                bool same = true, close = true;
                for (int64_t b = 0, n = 0; b < c->B; b++)
                    for (int64_t h = 0; h < c->Hq; h++)
                        for (int64_t i = 0; i < c->Lq; i++)
                            for (int64_t d = 0; d < c->Dv; d++, n++) {
                                float x = *at(&out, b, h, i, d);
                                close &= test_close(x, keep_o[n], 1e-5, 1e-5);
                            }
                CHECK(close, "%s kernel %s: 1 and 2 threads differ beyond rounding", desc,
                      attn_kernel_name(kernels[ki]));
                float *again = malloc((size_t)(nout + 1) * sizeof(float));
                for (int64_t b = 0, n = 0; b < c->B; b++)
                    for (int64_t h = 0; h < c->Hq; h++)
                        for (int64_t i = 0; i < c->Lq; i++)
                            for (int64_t d = 0; d < c->Dv; d++)
                                again[n++] = *at(&out, b, h, i, d);
                CHECK_OK(attn_forward(&out.t, &tl, NULL, &q.t, &k.t, &v.t, &o));
                for (int64_t b = 0, n = 0; b < c->B; b++)
                    for (int64_t h = 0; h < c->Hq; h++)
                        for (int64_t i = 0; i < c->Lq; i++)
                            for (int64_t d = 0; d < c->Dv; d++, n++) {
                                float x = *at(&out, b, h, i, d);
                                same &= memcmp(&x, &again[n], sizeof x) == 0;
                            }
                CHECK(same, "%s kernel %s: two runs with 2 threads are not bitwise equal", desc,
                      attn_kernel_name(kernels[ki]));
                free(again);
            }
        }
    }
done:
    free(q.mem), free(k.mem), free(v.mem), free(out.mem);
    free(ref_o), free(ref_l), free(lse), free(keep_o), free(keep_l);
}

/* Storage for the optional tensors of one random config. */
typedef struct extras {
    unsigned char *mask;
    float *bias;
    int64_t klen[4];
    int64_t cu_q[5], cu_k[5];
    float slopes[16];
} extras;

static cfg random_cfg(test_rng *r, extras *x)
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
    o->score = test_int(r, 0, 3) == 0 ? ATTN_SCORE_DOT : ATTN_SCORE_SCALED_DOT;
    if (o->score == ATTN_SCORE_DOT)
        o->scale = 0.3;
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

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_fast_fwd: seed %llu (ATTN_TEST_SEED to replay); kernels:", (unsigned long long)seed);
    for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++)
        if (attn_kernel_available(kernels[ki]))
            printf(" %s", attn_kernel_name(kernels[ki]));
    printf(" (cpu: %s)\n", attn_cpu_features());
    test_rng r = {seed};

    /* Fixed cases first: sizes around the tile edges, decode, extremes. */
    static const int64_t sizes[][3] = {{1, 1, 1}, {3, 3, 3}, {17, 17, 17}, {257, 257, 64}, {96, 64, 128},
                                       {97, 65, 128}, {200, 300, 33}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int causal = 0; causal <= 2; causal++) {
            cfg c;
            memset(&c, 0, sizeof c);
            c.what = "sizes";
            c.qscale = 1;
            c.B = 1, c.Hq = 2, c.Hkv = 1, c.Lq = sizes[s][0], c.Lk = sizes[s][1], c.D = c.Dv = sizes[s][2];
            c.o.causal = (attn_causal)causal;
            c.layout = (int)(s % 3);
            run(&c, &r);
        }
    { /* decode path: few queries over many keys, GQA, bottom-right causal */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "decode";
        c.qscale = 1;
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Lq = 3, c.Lk = 1500, c.D = 64, c.Dv = 48;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        int64_t kl[2] = {1400, 0};
        c.o.key_lengths = kl;
        run(&c, &r);
        c.o.key_lengths = NULL, c.Lq = 1, c.Lk = 2049, c.layout = 1, c.o.dropout_p = 0.1;
        run(&c, &r);
        c.layout = 2, c.D = 33, c.Dv = 37, c.Lq = 16, c.o.dropout_p = 0; /* strided, vector tails */
        c.o.window = 1, c.o.window_left = 700, c.o.window_right = 5;
        run(&c, &r);
        c.layout = 0;
        run(&c, &r);
        /* and every elementwise option on the decode path */
        unsigned char *mask = malloc((size_t)(2 * 16 * 2049));
        float *bias = malloc((size_t)(16 * 2049) * sizeof(float));
        float slopes[4] = {0.01f, 0.02f, 0.03f, 0.04f};
        for (int64_t i = 0; i < 2 * 16 * 2049; i++)
            mask[i] = test_uniform(&r) < 0.9;
        for (int64_t i = 0; i < 16 * 2049; i++)
            bias[i] = test_uniform(&r) < 0.05 ? -INFINITY : (float)test_normal(&r);
        c.o.window = 0;
        c.o.mask = attn_tensor_4d(mask, ATTN_BOOL, 2, 1, 16, 2049);
        c.o.bias = attn_tensor_2d(bias, ATTN_F32, 16, 2049);
        c.o.alibi_slopes = slopes, c.o.softcap = 2.5, c.o.dropout_p = 0.2, c.o.dropout_seed = 99;
        c.what = "decode-elementwise";
        run(&c, &r);
        free(mask), free(bias);
    }
    { /* NaN and Inf in K and V of keys hidden from every row */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "nan-hidden";
        c.qscale = 1;
        c.B = 1, c.Hq = 2, c.Hkv = 2, c.Lq = 70, c.Lk = 200, c.D = c.Dv = 16;
        c.o.causal = ATTN_CAUSAL_TOP_LEFT;
        c.nan_hidden = 1;
        run(&c, &r);
        c.Lq = 5, c.Lk = 2000; /* decode path */
        run(&c, &r);
    }
    { /* the cosine score, tiled and decode, with a temperature */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "cosine";
        c.qscale = 1;
        c.B = 2, c.Hq = 2, c.Hkv = 1, c.Lq = 130, c.Lk = 77, c.D = 24, c.Dv = 20, c.layout = 1;
        c.o.score = ATTN_SCORE_COSINE;
        c.o.scale = 5.0;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        run(&c, &r);
        c.Lq = 4, c.Lk = 1300, c.layout = 0;
        run(&c, &r);
    }
    { /* scores up to 1e30 in magnitude */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "huge-scores";
        c.qscale = 1e15;
        c.B = 1, c.Hq = 1, c.Hkv = 1, c.Lq = 33, c.Lk = 70, c.D = c.Dv = 8;
        c.o.score = ATTN_SCORE_DOT;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        run(&c, &r);
    }
    for (int n = 0; n < 60; n++) {
        extras x;
        memset(&x, 0, sizeof x);
        cfg c = random_cfg(&r, &x);
        run(&c, &r);
        free(x.mask);
        free(x.bias);
    }

    /* Forcing a tiled kernel on what it does not support fails clearly. */
    {
        double q[4 * 8] = {0}, o[4 * 8];
        attn_tensor tq = attn_tensor_2d(q, ATTN_F64, 4, 8), to = attn_tensor_2d(o, ATTN_F64, 4, 8);
        attn_options opt = {0};
        opt.kernel = ATTN_KERNEL_SCALAR;
        CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tq, &tq, &opt), ATTN_ERR_UNSUPPORTED, "f64");
        opt.kernel = ATTN_KERNEL_AUTO; /* AUTO falls back to the reference */
        CHECK_OK(attn_forward(&to, NULL, NULL, &tq, &tq, &tq, &opt));
    }
    return test_summary("test_fast_fwd");
}
