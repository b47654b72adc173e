/*
 * test_fast_fwd.c - every tiled kernel this CPU supports, forced, against the
 * reference forward, on fresh random inputs (seed printed; ATTN_TEST_SEED
 * replays it).
 *
 * Tolerance for f32 (out and lse): |fast - ref| <= 3e-5 + 3e-4 |ref|, ref
 * computed in double from the same f32 inputs.  Why: q.k*scale is summed in
 * f32 over D <= 257 terms of unit-scale products (scale 1/sqrt(D)), an error
 * below D * 2^-24 * |q||k| scale ~ 1.5e-5 at worst, usually ~1e-6; exp adds
 * 4.8e-7 relative (tests/test_kernel_dispatch.c); a weight's relative error is
 * about the score's absolute error, and out is a convex combination of
 * unit-scale values.  A wrong mask, a lost tile or a wrong rescale is off by
 * 1e-2 or more.
 */
#include "fast_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATOL 3e-5
#define RTOL 3e-4

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
    plant_nans(c, &q, &k, &v); /* visible NaN reaches exactly the rows that see it: the reference says which */
    /* 16-bit inputs: the reference reads the same f16 or bf16 values */
    uint16_t *halves[3];
    attn_tensor in[3];
    input_views(c, &q, &k, &v, in, halves);
    const attn_tensor tq = in[0], tk = in[1], tv = in[2];
    attn_tensor tro = attn_tensor_4d(ref_o, ATTN_F64, c->B, c->Hq, c->Lq, c->Dv);
    attn_tensor trl = attn_tensor_3d(ref_l, ATTN_F64, c->B, c->Hq, c->Lq);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, c->B, c->Hq, c->Lq);
    attn_options o = c->o;
    o.kernel = ATTN_KERNEL_REFERENCE;
    o.threads = 2;
    if (!CHECK_OK(attn_forward(&tro, &trl, NULL, &tq, &tk, &tv, &o)))
        goto done;
    for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++) {
        if (!attn_kernel_available(kernels[ki]))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            o.kernel = kernels[ki];
            o.threads = threads;
            if (!CHECK_OK(attn_forward(&out.t, &tl, NULL, &tq, &tk, &tv, &o)))
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
                CHECK_OK(attn_forward(&out.t, &tl, NULL, &tq, &tk, &tv, &o));
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
    free(q.mem), free(k.mem), free(v.mem), free(out.mem), free(halves[0]), free(halves[1]), free(halves[2]);
    free(ref_o), free(ref_l), free(lse), free(keep_o), free(keep_l);
}

/* c with the inputs of mask half (1 q, 2 k and v, 3 all) in f16, then in
 * bf16; c->half and c->bf16 are 0 again after. */
static void run16(cfg *c, test_rng *r, int half)
{
    c->half = half;
    for (c->bf16 = 0; c->bf16 <= 3; c->bf16 += 3)
        run(c, r);
    c->half = 0, c->bf16 = 0;
}

/* f16 (or bf16) inputs on the reference (forward, backward, attn_scores):
 * the same results, bitwise, as f32 inputs holding the same values (the
 * reference reads both exactly, into double). */
static void f16_reference_paths(test_rng *r, attn_dtype dt)
{
    enum { L = 9, D = 6, N = L * D };
    uint16_t h[3][N];
    float f[3][N], g[2][5][N], s[2][L * L], dout[N];
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < N; i++)
            f[t][i] = (float)test_normal(r);
        if (dt == ATTN_BF16) {
            attn_bf16_from_f32(h[t], f[t], N);
            attn_f32_from_bf16(f[t], h[t], N);
        } else {
            attn_f16_from_f32(h[t], f[t], N);
            attn_f32_from_f16(f[t], h[t], N);
        }
    }
    for (int i = 0; i < N; i++)
        dout[i] = (float)test_normal(r);
    attn_options o = {0};
    o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
    o.kernel = ATTN_KERNEL_REFERENCE;
    attn_tensor tdo = attn_tensor_2d(dout, ATTN_F32, L, D);
    for (int half = 0; half <= 1; half++) {
        attn_tensor in[3];
        for (int t = 0; t < 3; t++)
            in[t] = half ? attn_tensor_2d(h[t], dt, L, D) : attn_tensor_2d(f[t], ATTN_F32, L, D);
        attn_tensor out = attn_tensor_2d(g[half][0], ATTN_F32, L, D), lse = attn_tensor_1d(g[half][1], ATTN_F32, L);
        attn_tensor dq = attn_tensor_2d(g[half][2], ATTN_F32, L, D), dk = attn_tensor_2d(g[half][3], ATTN_F32, L, D),
                    dv = attn_tensor_2d(g[half][4], ATTN_F32, L, D), ts = attn_tensor_2d(s[half], ATTN_F32, L, L);
        memset(g[half], 0, sizeof g[half]);
        CHECK_OK(attn_forward(&out, &lse, NULL, &in[0], &in[1], &in[2], &o));
        CHECK_OK(attn_backward(&dq, &dk, &dv, &tdo, &in[0], &in[1], &in[2], &out, &lse, &o));
        CHECK_OK(attn_scores(&ts, &in[0], &in[1], &o));
    }
    CHECK(memcmp(g[0], g[1], sizeof g[0]) == 0, "%s inputs: forward or backward differ from f32 inputs of the same values",
          attn_dtype_name(dt));
    CHECK(memcmp(s[0], s[1], sizeof s[0]) == 0, "%s inputs: attn_scores differs from f32 inputs of the same values",
          attn_dtype_name(dt));
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
                                       {97, 65, 128}, {200, 300, 33}, {900, 1000, 40}};
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
    /* The decode path takes group x Lq rows in one pass over the keys (fewer
     * than 8, at most 6 per micro-kernel call) or in the forward's tiles (8
     * to 512): the cases below try both. */
    { /* decode path: few queries over many keys, GQA, bottom-right causal */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "decode";
        c.qscale = 1;
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Lq = 3, c.Lk = 1500, c.D = 64, c.Dv = 48;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        int64_t kl[2] = {1400, 0}; /* batch 1: no key, every row fully masked */
        c.o.key_lengths = kl;
        for (c.Lq = 3; c.Lq <= 4; c.Lq++) /* 6 and 8 rows: both paths */
            run(&c, &r);
        { /* more than 512 rows per key/value head (MQA, 40 heads x 13 queries):
           * past the tiled decode's limit, back on the one-pass path */
            cfg m = c;
            m.B = 1, m.Hq = 40, m.Hkv = 1, m.Lq = 13, m.Lk = 1100, m.D = 8, m.Dv = 8;
            m.o.key_lengths = NULL;
            run(&m, &r);
            /* 7 rows (7 query heads over one): two calls of the one-pass
             * micro-kernel, 6 rows and 1 (ATTN_DEC_ROWS) */
            m.Hq = 7, m.Lq = 1, m.D = 64, m.Dv = 40;
            run(&m, &r);
        }
        c.o.key_lengths = NULL, c.Lq = 1, c.Lk = 2049, c.layout = 1, c.o.dropout_p = 0.1;
        run(&c, &r);
        c.layout = 2, c.D = 33, c.Dv = 37, c.o.dropout_p = 0; /* strided, vector tails */
        c.o.window = 1, c.o.window_left = 700, c.o.window_right = 5;
        for (c.Lq = 3; c.Lq <= 16; c.Lq += 13) {
            c.layout = 2;
            run(&c, &r);
            c.layout = 0;
            run(&c, &r);
        }
        /* and every elementwise option on the decode path */
        unsigned char *mask = malloc((size_t)(2 * 16 * 2049));
        float *bias = malloc((size_t)(16 * 2049) * sizeof(float));
        float slopes[4] = {0.01f, 0.02f, 0.03f, 0.04f};
        for (int64_t i = 0; i < 2 * 16 * 2049; i++)
            mask[i] = test_uniform(&r) < 0.9;
        for (int64_t i = 0; i < 16 * 2049; i++)
            bias[i] = test_uniform(&r) < 0.05 ? -INFINITY : (float)test_normal(&r);
        c.o.window = 0;
        c.o.alibi_slopes = slopes, c.o.softcap = 2.5, c.o.dropout_p = 0.2, c.o.dropout_seed = 99;
        c.what = "decode-elementwise";
        for (c.Lq = 3; c.Lq <= 16; c.Lq += 13) {
            c.o.mask = attn_tensor_4d(mask, ATTN_BOOL, 2, 1, c.Lq, 2049);
            c.o.bias = attn_tensor_2d(bias, ATTN_F32, c.Lq, 2049);
            run(&c, &r);
            run16(&c, &r, c.Lq == 3 ? 2 : 3); /* and 16-bit caches */
        }
        free(mask), free(bias);
    }
    /* f16 and bf16 inputs (q, and a 16-bit key/value cache): the tiled
     * forward converts K and V rows as it packs them (the tables'
     * widen16), the decode's one-pass path as it reads
     * them, in vectors (contiguous rows) or one by one (strided rows) */
    for (int bf = 0; bf <= 1; bf++) {
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = bf ? "bf16" : "f16";
        c.qscale = 1;
        c.bf16 = bf ? 3 : 0;
        c.B = 1, c.Hq = 2, c.Hkv = 1;
        static const int64_t fs[][3] = {{1, 1, 1}, {97, 65, 128}, {200, 300, 33}};
        for (size_t s = 0; s < sizeof fs / sizeof *fs; s++)
            for (c.half = 1; c.half <= 3; c.half++) {
                c.Lq = fs[s][0], c.Lk = fs[s][1], c.D = c.Dv = fs[s][2];
                c.layout = (int)(s + (size_t)c.half) % 3;
                c.o.causal = (attn_causal)(c.half - 1);
                run(&c, &r);
            }
        c.what = bf ? "bf16-decode" : "f16-decode"; /* 2 rows (one pass) and 8 rows (tiled) per key/value head */
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Lk = 2049, c.D = c.Dv = 128, c.half = 2, c.o.causal = ATTN_CAUSAL_NONE;
        for (c.Lq = 1; c.Lq <= 4; c.Lq += 3)
            for (c.layout = 0; c.layout <= 2; c.layout++)
                run(&c, &r);
        c.D = 33, c.Dv = 37, c.half = 3, c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT; /* vector tails */
        for (c.Lq = 3; c.Lq <= 16; c.Lq += 13)
            for (c.layout = 0; c.layout <= 2; c.layout += 2)
                run(&c, &r);
        c.half = 1, c.Lq = 2, c.layout = 1; /* q alone 16-bit */
        run(&c, &r);
        if (bf) { /* q in f16, k and v in bf16: each read as it is (no f32 copies), tiled and decode */
            c.half = 3, c.bf16 = 2;
            run(&c, &r);
            c.Lq = 200, c.Lk = 300;
            run(&c, &r);
        }
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
        run16(&c, &r, 2); /* and in a 16-bit K and V (NaN and Inf exist in both) */
        c.Lq = 5, c.Lk = 2000; /* decode path */
        run(&c, &r);
        run16(&c, &r, 2);
        c.Lq = 12;
        run(&c, &r);
        c.Lq = 5;
        /* keys hidden by a bool mask that shows the last 5 only: a key chunk
         * of the decode path starts with a block whose every score is masked
         * (in the rows' range, so computed), and only later meets a visible
         * key (on 1 thread, whose chunks here are 512 keys, 2 blocks) */
        unsigned char *mask = malloc((size_t)(5 * 2000));
        for (int64_t i = 0; i < 5 * 2000; i++)
            mask[i] = i % 2000 >= 2000 - 5;
        c.o.causal = ATTN_CAUSAL_NONE;
        c.o.mask = attn_tensor_2d(mask, ATTN_BOOL, 5, 2000);
        c.nan_hidden = 2;
        c.what = "nan-hidden-by-mask";
        run(&c, &r);
        free(mask);
    }
    { /* NaN in Q, K and V that rows see: it reaches those rows and only them,
       * also through a weight that dropout zeroed (0 * NaN is NaN) */
        for (int drop = 0; drop <= 2; drop++) {
            cfg c = nan_visible_cfg();
            c.nan_visible = drop == 2 ? 2 : 1; /* 2: V only, or the NaN K row would hide what V does */
            c.o.dropout_p = drop ? 0.5 : 0.0;
            c.o.dropout_seed = 7;
            for (int causal = 0; causal <= 2; causal++) {
                c.o.causal = (attn_causal)causal;
                run(&c, &r);
            }
            run16(&c, &r, 3); /* 16-bit inputs */
            c.Lk = 3000; /* decode path, 2 query heads per key/value head */
            for (c.Lq = 2; c.Lq <= 4; c.Lq += 2) {
                c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
                run(&c, &r);
                run16(&c, &r, 2);
                c.o.causal = ATTN_CAUSAL_NONE;
                c.layout = 2; /* strided V: the decode's fallback loops */
                run(&c, &r);
                c.layout = 0;
            }
        }
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
        run16(&c, &r, 3);
        c.Lk = 1300, c.layout = 0; /* decode path, 2 query heads per key/value head */
        for (c.Lq = 2; c.Lq <= 4; c.Lq += 2) {
            run(&c, &r);
            run16(&c, &r, 2);
        }
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
        c.half = n % 3 == 0 ? 1 + n / 3 % 3 : 0; /* a third with 16-bit inputs, */
        c.bf16 = n % 6 == 3 ? 3 : 0;             /* half of those bfloat16 */
        run(&c, &r);
        free(x.mask);
        free(x.bias);
    }

    f16_reference_paths(&r, ATTN_F16);
    f16_reference_paths(&r, ATTN_BF16);

    /* Forcing a tiled kernel on what it does not support fails clearly. */
    {
        double q[4 * 8] = {0}, o[4 * 8];
        attn_tensor tq = attn_tensor_2d(q, ATTN_F64, 4, 8), to = attn_tensor_2d(o, ATTN_F64, 4, 8);
        attn_options opt = {0};
        opt.kernel = ATTN_KERNEL_SCALAR;
        CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tq, &tq, &opt), ATTN_ERR_UNSUPPORTED, "f64");
        opt.kernel = ATTN_KERNEL_AUTO; /* AUTO falls back to the reference */
        CHECK_OK(attn_forward(&to, NULL, NULL, &tq, &tq, &tq, &opt));
        /* f16 k with f32 v, bf16 k with f16 v, and f16 inputs in the
         * backward: on f32 copies, as the reference on the 16-bit values (a
         * tiled kernel forced, then AUTO) */
        float qf[4 * 8] = {0}, of[4 * 8], lf[4];
        uint16_t qh[4 * 8] = {0};
        attn_tensor fq = attn_tensor_2d(qf, ATTN_F32, 4, 8), fo = attn_tensor_2d(of, ATTN_F32, 4, 8);
        attn_tensor hq = attn_tensor_2d(qh, ATTN_F16, 4, 8), fl = attn_tensor_1d(lf, ATTN_F32, 4);
        for (int i = 0; i < 4 * 8; i++)
            qf[i] = (float)test_normal(&r);
        attn_f16_from_f32(qh, qf, 4 * 8);
        float rf[4 * 8];
        attn_tensor ro = attn_tensor_2d(rf, ATTN_F32, 4, 8);
        uint16_t qb[4 * 8]; /* and bf16 k with f16 v: both as f32 copies */
        attn_bf16_from_f32(qb, qf, 4 * 8);
        attn_tensor bq = attn_tensor_2d(qb, ATTN_BF16, 4, 8);
        const attn_tensor *mixed[2][2] = {{&hq, &fq}, {&bq, &hq}}; /* (k, v) */
        for (int mi = 0; mi < 2; mi++)
            for (int ki = 0; ki < 2; ki++) {
                opt.kernel = ki ? ATTN_KERNEL_AUTO : ATTN_KERNEL_SCALAR;
                CHECK_OK(attn_forward(&fo, NULL, NULL, &fq, mixed[mi][0], mixed[mi][1], &opt));
                attn_options ref = opt;
                ref.kernel = ATTN_KERNEL_REFERENCE;
                CHECK_OK(attn_forward(&ro, NULL, NULL, &fq, mixed[mi][0], mixed[mi][1], &ref));
                double worst = 0;
                for (int i = 0; i < 4 * 8; i++)
                    worst = fmax(worst, fabs((double)of[i] - rf[i]));
                CHECK(worst < 1e-5, "%s k with %s v: %g from the reference", attn_dtype_name(mixed[mi][0]->dtype),
                      attn_dtype_name(mixed[mi][1]->dtype), worst);
            }
        float dq[2][4 * 8], dk[2][4 * 8], dv[2][4 * 8];
        opt.kernel = ATTN_KERNEL_SCALAR;
        CHECK_OK(attn_forward(&fo, &fl, NULL, &hq, &hq, &hq, &opt));
        for (int ki = 0; ki < 2; ki++) {
            attn_tensor tdq = attn_tensor_2d(dq[ki], ATTN_F32, 4, 8), tdk = attn_tensor_2d(dk[ki], ATTN_F32, 4, 8),
                        tdv = attn_tensor_2d(dv[ki], ATTN_F32, 4, 8);
            opt.kernel = ki ? ATTN_KERNEL_REFERENCE : ATTN_KERNEL_SCALAR;
            CHECK_OK(attn_backward(&tdq, &tdk, &tdv, &fq, &hq, &hq, &hq, &fo, &fl, &opt));
        }
        double worst = 0;
        for (int i = 0; i < 4 * 8; i++)
            worst = fmax(worst, fmax(fabs((double)dq[0][i] - dq[1][i]),
                                     fmax(fabs((double)dk[0][i] - dk[1][i]), fabs((double)dv[0][i] - dv[1][i]))));
        CHECK(worst < 1e-5, "f16 inputs, tiled backward: %g from the reference", worst);
    }
    return test_summary("test_fast_fwd");
}
