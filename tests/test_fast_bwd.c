/*
 * test_fast_bwd.c - the tiled backward of every kernel this CPU supports,
 * forced, against the reference backward (double) on the same f32 inputs,
 * with fresh random inputs and options (seed printed; ATTN_TEST_SEED replays).
 *
 * Tolerance for dq, dk, dv: |fast - ref| <= 2e-4 + 2e-3 |ref|.  Why: besides
 * the forward's f32 score error (~1e-6..1e-5, see test_fast_fwd.c) the
 * backward forms dS = P (dP - rowsum(dO*O)), a difference of O(1) terms
 * that loses a few bits, then sums dS over up to 257 keys (dq) or 257 rows
 * times 2 heads (dk, dv) of unit-scale products: about 500 * 2^-24 * 5 ~ 1.5e-4
 * at worst.  Wrong masks, dropout or a lost tile are off by 1e-2 or more.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATOL 2e-4
#define RTOL 2e-3

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

static double *dcopy_zero(int64_t n) { return calloc((size_t)(n + 1), sizeof(double)); }

static int compare(const char *desc, const char *what, attn_kernel kern, int threads, buf *got, const double *want,
                   const int64_t n[4])
{
    int bad = 0;
    for (int64_t a = 0, e = 0; a < n[0]; a++)
        for (int64_t b = 0; b < n[1]; b++)
            for (int64_t c = 0; c < n[2]; c++)
                for (int64_t d = 0; d < n[3]; d++, e++) {
                    double g = *at(got, a, b, c, d);
                    if (!test_close(g, want[e], ATOL, RTOL) && bad++ < 2)
                        CHECK(0, "%s kernel %s threads %d: %s[%lld,%lld,%lld,%lld] = %.9g, reference %.9g", desc,
                              attn_kernel_name(kern), threads, what, (long long)a, (long long)b, (long long)c,
                              (long long)d, g, want[e]);
                }
    return bad;
}

static float *snapshot(buf *x, const int64_t n[4])
{
    float *s = malloc((size_t)(n[0] * n[1] * n[2] * n[3] + 1) * sizeof(float));
    for (int64_t a = 0, e = 0; a < n[0]; a++)
        for (int64_t b = 0; b < n[1]; b++)
            for (int64_t c = 0; c < n[2]; c++)
                for (int64_t d = 0; d < n[3]; d++)
                    s[e++] = *at(x, a, b, c, d);
    return s;
}

static void run(const cfg *c, test_rng *r)
{
    char desc[512];
    describe(c, desc, sizeof desc);
    int64_t nq[4] = {c->B, c->Hq, c->Lq, c->D}, nk[4] = {c->B, c->Hkv, c->Lk, c->D},
            nv[4] = {c->B, c->Hkv, c->Lk, c->Dv}, no[4] = {c->B, c->Hq, c->Lq, c->Dv};
    buf q = make(r, nq, c->layout, c->qscale), k = make(r, nk, c->layout, c->qscale), v = make(r, nv, c->layout, 1.0),
        out = make(r, no, c->layout, 1.0), dout = make(r, no, c->layout, 1.0), dq = make(r, nq, c->layout, 1.0),
        dk = make(r, nk, c->layout, 1.0), dv = make(r, nv, c->layout, 1.0);
    if (c->nan_hidden)
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->Hkv; h++)
                for (int64_t j = c->Lq; j < c->Lk; j++) {
                    for (int64_t d = 0; d < c->D; d++)
                        *at(&k, b, h, j, d) = (j & 1) ? NAN : INFINITY;
                    for (int64_t d = 0; d < c->Dv; d++)
                        *at(&v, b, h, j, d) = (j & 1) ? -INFINITY : NAN;
                }
    int64_t nl = c->B * c->Hq * c->Lq;
    float *lse = calloc((size_t)nl + 1, sizeof(float));
    double *rq = dcopy_zero(c->B * c->Hq * c->Lq * c->D), *rk = dcopy_zero(c->B * c->Hkv * c->Lk * c->D),
           *rv = dcopy_zero(c->B * c->Hkv * c->Lk * c->Dv);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, c->B, c->Hq, c->Lq);
    attn_tensor trq = attn_tensor_4d(rq, ATTN_F64, c->B, c->Hq, c->Lq, c->D);
    attn_tensor trk = attn_tensor_4d(rk, ATTN_F64, c->B, c->Hkv, c->Lk, c->D);
    attn_tensor trv = attn_tensor_4d(rv, ATTN_F64, c->B, c->Hkv, c->Lk, c->Dv);
    attn_options o = c->o;
    o.kernel = ATTN_KERNEL_REFERENCE;
    o.threads = 2;
    if (!CHECK_OK(attn_forward(&out.t, &tl, NULL, &q.t, &k.t, &v.t, &o)) ||
        !CHECK_OK(attn_backward(&trq, &trk, &trv, &dout.t, &q.t, &k.t, &v.t, &out.t, &tl, &o)))
        goto done;
    for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++) {
        if (!attn_kernel_available(kernels[ki]))
            continue;
        float *s1[3] = {NULL, NULL, NULL};
        for (int threads = 1; threads <= 2; threads++) {
            o.kernel = kernels[ki];
            o.threads = threads;
            /* out and lse from this kernel's forward, as a training step has them */
            if (!CHECK_OK(attn_forward(&out.t, &tl, NULL, &q.t, &k.t, &v.t, &o)) ||
                !CHECK_OK(attn_backward(&dq.t, &dk.t, &dv.t, &dout.t, &q.t, &k.t, &v.t, &out.t, &tl, &o)))
                continue;
            int bad = compare(desc, "dv", kernels[ki], threads, &dv, rv, nv);
            if (c->qscale == 1)
                bad += compare(desc, "dq", kernels[ki], threads, &dq, rq, nq) +
                       compare(desc, "dk", kernels[ki], threads, &dk, rk, nk);
            else { /* scores ~1e30: dq, dk are rounding noise times |k|, |q| ~ 1e15; finite is the contract */
                bool finite = true;
                for (int64_t a = 0; a < c->Lq; a++)
                    for (int64_t d = 0; d < c->D; d++)
                        finite &= isfinite(*at(&dq, 0, 0, a, d));
                for (int64_t a = 0; a < c->Lk; a++)
                    for (int64_t d = 0; d < c->D; d++)
                        finite &= isfinite(*at(&dk, 0, 0, a, d));
                CHECK(finite, "%s kernel %s: non-finite dq or dk", desc, attn_kernel_name(kernels[ki]));
            }
            CHECK(bad == 0, "%s kernel %s threads %d: %d gradients off", desc, attn_kernel_name(kernels[ki]), threads,
                  bad);
            float *s[3] = {snapshot(&dq, nq), snapshot(&dk, nk), snapshot(&dv, nv)};
            const int64_t *ns[3] = {nq, nk, nv};
            if (threads == 1) {
                for (int x = 0; x < 3; x++)
                    s1[x] = s[x];
                continue;
            }
            bool close = true, same = true;
            CHECK_OK(attn_backward(&dq.t, &dk.t, &dv.t, &dout.t, &q.t, &k.t, &v.t, &out.t, &tl, &o));
            float *again[3] = {snapshot(&dq, nq), snapshot(&dk, nk), snapshot(&dv, nv)};
            for (int x = 0; x < 3; x++) {
                int64_t n = ns[x][0] * ns[x][1] * ns[x][2] * ns[x][3];
                for (int64_t e = 0; e < n; e++)
                    close &= test_close(s[x][e], s1[x][e], 1e-4, 1e-4);
                same &= memcmp(s[x], again[x], (size_t)n * sizeof(float)) == 0;
                free(s[x]), free(s1[x]), free(again[x]);
            }
            CHECK(close, "%s kernel %s: 1 and 2 threads differ beyond rounding", desc, attn_kernel_name(kernels[ki]));
            CHECK(same, "%s kernel %s: two runs with 2 threads differ", desc, attn_kernel_name(kernels[ki]));
        }
    }
done:
    free(q.mem), free(k.mem), free(v.mem), free(out.mem), free(dout.mem), free(dq.mem), free(dk.mem), free(dv.mem);
    free(lse), free(rq), free(rk), free(rv);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_fast_bwd: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    test_rng r = {seed};
    static const int64_t sizes[][3] = {{1, 1, 1}, {3, 3, 3}, {17, 17, 17}, {257, 100, 64}, {65, 97, 128}};
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
    {
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "nan-hidden";
        c.qscale = 1;
        c.B = 1, c.Hq = 2, c.Hkv = 2, c.Lq = 70, c.Lk = 200, c.D = c.Dv = 16;
        c.o.causal = ATTN_CAUSAL_TOP_LEFT;
        c.nan_hidden = 1;
        run(&c, &r);
    }
    { /* scores up to 1e30 in magnitude: one-hot weights, dv exact */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "huge-scores";
        c.qscale = 1e15;
        c.B = 1, c.Hq = 1, c.Hkv = 1, c.Lq = 33, c.Lk = 70, c.D = c.Dv = 8;
        c.o.score = ATTN_SCORE_DOT;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        run(&c, &r);
    }
    for (int n = 0; n < 40; n++) {
        extras x;
        memset(&x, 0, sizeof x);
        cfg c = random_cfg(&r, &x);
        run(&c, &r);
        free(x.mask);
        free(x.bias);
    }
    return test_summary("test_fast_bwd");
}
