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
 * Cosine: dq_i is (G_i - ..) / a_i with a_i = max(|q_i|, 1e-12), G_i a sum
 * of the same kind as the dot score's dq (unit-scale products), so its
 * absolute error is divided by a_i too: the atol of row i of dq (and of dk
 * with b_j) is 2e-4 max(1, 1 / a_i), the same policy in that row's units
 * (1e12 for the rows of norm below 1e-12 that the "cosine-tiny" case plants).
 */
#include "fast_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATOL 2e-4
#define RTOL 2e-3

static double *dcopy_zero(int64_t n) { return calloc((size_t)(n + 1), sizeof(double)); }

/* The unit of gradient row (a, b, c, :), which multiplies its atol: 1, or
 * for the cosine score max(1, 1 / max(|x_row|, 1e-12)) with x the input (q
 * or k) whose normalisation divides that row (see the top). */
static double row_unit(const cfg *cf, buf *x, int64_t a, int64_t b, int64_t c, int64_t n)
{
    if (cf->o.score != ATTN_SCORE_COSINE || !x)
        return 1;
    double n2 = 0;
    for (int64_t d = 0; d < n; d++)
        n2 += (double)*at(x, a, b, c, d) * *at(x, a, b, c, d);
    double norm = fmax(sqrt(n2), 1e-12);
    return norm < 1 ? 1 / norm : 1; /* NaN norm: 1 (NaN must match NaN anyway) */
}

/* Compare got with want (n elements); x: the input whose rows divide got's
 * rows under the cosine score (q for dq, k for dk), NULL for dv.  rowtol
 * (or NULL): an absolute tolerance per row of got instead. */
static int compare(const cfg *cf, const char *desc, const char *what, attn_kernel kern, int threads, buf *got,
                   const double *want, const int64_t n[4], buf *x, const double *rowtol)
{
    int bad = 0;
    for (int64_t a = 0, e = 0; a < n[0]; a++)
        for (int64_t b = 0; b < n[1]; b++)
            for (int64_t c = 0; c < n[2]; c++) {
                double atol = rowtol ? rowtol[(a * n[1] + b) * n[2] + c] : ATOL * row_unit(cf, x, a, b, c, n[3]);
                for (int64_t d = 0; d < n[3]; d++, e++) {
                    double g = *at(got, a, b, c, d);
                    if (!test_close(g, want[e], atol, RTOL) && bad++ < 2)
                        CHECK(0, "%s kernel %s threads %d: %s[%lld,%lld,%lld,%lld] = %.9g, reference %.9g", desc,
                              attn_kernel_name(kern), threads, what, (long long)a, (long long)b, (long long)c,
                              (long long)d, g, want[e]);
                }
            }
    return bad;
}

/* Huge scores (1e5 and more): a kernel's S is float and the reference's
 * double, apart by more than one unit of S.  Where a row's weights are
 * one-hot that moves nothing; where two keys tie within a few units the
 * weights split, and float S cannot tell how: P_ij may move by up to
 * P_ij (1 - P_ij).  dv_j's tolerance is ATOL plus the sum over the rows i
 * (every query head of j's key/value head) of P_ij (1 - P_ij) max_d |dO_i|,
 * with P the reference's weights (B, Hq, Lq, Lk).  Ties are rare (seed
 * 1796213733420630334 has one); one-hot rows keep ATOL, so a backward whose
 * S is not bitwise the forward's (P off by 0.4 % per last bit) still fails. */
static double *split_tolerance(const cfg *c, const float *w, buf *dout)
{
    double *tol = malloc((size_t)(c->B * c->Hkv * c->Lk + 1) * sizeof(double));
    for (int64_t e = 0; e < c->B * c->Hkv * c->Lk; e++)
        tol[e] = ATOL;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Lq; i++) {
                double g = 0;
                for (int64_t d = 0; d < c->Dv; d++)
                    g = fmax(g, fabs((double)*at(dout, b, h, i, d)));
                for (int64_t j = 0; j < c->Lk; j++) {
                    double pw = w[((b * c->Hq + h) * c->Lq + i) * c->Lk + j];
                    tol[(b * c->Hkv + h / (c->Hq / c->Hkv)) * c->Lk + j] += pw * (1 - pw) * g;
                }
            }
    return tol;
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

/* Rows of norm below 1e-12 in every head: q rows 1 (zero) and 3 (~1e-13),
 * k rows 2 (zero) and 4 (~1e-13), where the cosine score's clamped norm is
 * a constant. */
static void plant_tiny(const cfg *c, buf *q, buf *k)
{
    for (int64_t b = 0; b < c->B; b++) {
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t d = 0; d < c->D; d++) {
                *at(q, b, h, 1 % c->Lq, d) = 0;
                *at(q, b, h, 3 % c->Lq, d) *= 1e-13f;
            }
        for (int64_t h = 0; h < c->Hkv; h++)
            for (int64_t d = 0; d < c->D; d++) {
                *at(k, b, h, 2 % c->Lk, d) = 0;
                *at(k, b, h, 4 % c->Lk, d) *= 1e-13f;
            }
    }
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
    plant_nans(c, &q, &k, &v); /* visible NaN reaches exactly the gradients it touches: the reference says which */
    if (c->tiny)
        plant_tiny(c, &q, &k);
    if (c->nan_visible)
        *at(&dout, 0, 1 % c->Hq, 11 % c->Lq, 2 % c->Dv) = NAN;
    /* f16 or bf16 inputs (c->half, c->bf16): the reference reads the 16-bit
     * values, the tiled kernels f32 copies of them */
    uint16_t *halves[3];
    attn_tensor in[3];
    input_views(c, &q, &k, &v, in, halves);
    const attn_tensor tq = in[0], tk = in[1], tv = in[2];
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
    const bool huge = c->qscale != 1;
    float *w = huge ? malloc((size_t)(c->B * c->Hq * c->Lq * c->Lk + 1) * sizeof(float)) : NULL;
    attn_tensor tw = attn_tensor_4d(w, ATTN_F32, c->B, c->Hq, c->Lq, c->Lk);
    double *vtol = NULL;
    if (!CHECK_OK(attn_forward(&out.t, &tl, huge ? &tw : NULL, &tq, &tk, &tv, &o)) ||
        !CHECK_OK(attn_backward(&trq, &trk, &trv, &dout.t, &tq, &tk, &tv, &out.t, &tl, &o)))
        goto done;
    if (huge)
        vtol = split_tolerance(c, w, &dout);
    for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++) {
        if (!attn_kernel_available(kernels[ki]))
            continue;
        float *s1[3] = {NULL, NULL, NULL};
        for (int threads = 1; threads <= 2; threads++) {
            o.kernel = kernels[ki];
            o.threads = threads;
            /* out and lse from this kernel's forward, as a training step has them */
            if (!CHECK_OK(attn_forward(&out.t, &tl, NULL, &tq, &tk, &tv, &o)) ||
                !CHECK_OK(attn_backward(&dq.t, &dk.t, &dv.t, &dout.t, &tq, &tk, &tv, &out.t, &tl, &o)))
                continue;
            int bad = compare(c, desc, "dv", kernels[ki], threads, &dv, rv, nv, NULL, vtol);
            if (!huge)
                bad += compare(c, desc, "dq", kernels[ki], threads, &dq, rq, nq, &q, NULL) +
                       compare(c, desc, "dk", kernels[ki], threads, &dk, rk, nk, &k, NULL);
            else { /* huge scores: dq, dk are rounding noise times scale |k|, |q|; finite is the contract */
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
            buf *xs[3] = {&q, &k, NULL};
            if (threads == 1) {
                for (int x = 0; x < 3; x++)
                    s1[x] = s[x];
                continue;
            }
            bool close = true, same = true;
            CHECK_OK(attn_backward(&dq.t, &dk.t, &dv.t, &dout.t, &tq, &tk, &tv, &out.t, &tl, &o));
            float *again[3] = {snapshot(&dq, nq), snapshot(&dk, nk), snapshot(&dv, nv)};
            for (int x = 0; x < 3; x++) {
                const int64_t *m = ns[x];
                int64_t n = m[0] * m[1] * m[2] * m[3];
                for (int64_t a = 0, e = 0; a < m[0]; a++)
                    for (int64_t b = 0; b < m[1]; b++)
                        for (int64_t i = 0; i < m[2]; i++) {
                            double atol = 1e-4 * row_unit(c, xs[x], a, b, i, m[3]);
                            for (int64_t d = 0; d < m[3]; d++, e++)
                                close &= test_close(s[x][e], s1[x][e], atol, 1e-4);
                        }
                same &= memcmp(s[x], again[x], (size_t)n * sizeof(float)) == 0;
                free(s[x]), free(s1[x]), free(again[x]);
            }
            CHECK(close, "%s kernel %s: 1 and 2 threads differ beyond rounding", desc, attn_kernel_name(kernels[ki]));
            CHECK(same, "%s kernel %s: two runs with 2 threads differ", desc, attn_kernel_name(kernels[ki]));
        }
    }
done:
    free(q.mem), free(k.mem), free(v.mem), free(out.mem), free(dout.mem), free(dq.mem), free(dk.mem), free(dv.mem);
    free(halves[0]), free(halves[1]), free(halves[2]);
    free(lse), free(rq), free(rk), free(rv), free(w), free(vtol);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_fast_bwd: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    test_rng r = {seed};
    static const int64_t sizes[][3] = {{1, 1, 1}, {3, 3, 3}, {17, 17, 17}, {257, 100, 64}, {65, 97, 128}};
    static const attn_score scores[2] = {ATTN_SCORE_SCALED_DOT, ATTN_SCORE_COSINE};
    for (int sc = 0; sc < 2; sc++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int causal = 0; causal <= 2; causal++) {
                cfg c;
                memset(&c, 0, sizeof c);
                c.what = "sizes";
                c.qscale = 1;
                c.B = 1, c.Hq = 2, c.Hkv = 1, c.Lq = sizes[s][0], c.Lk = sizes[s][1], c.D = c.Dv = sizes[s][2];
                c.o.causal = (attn_causal)causal;
                c.o.score = scores[sc];
                c.layout = (int)(s % 3);
                run(&c, &r);
            }
    for (int sc = 0; sc < 2; sc++) {
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "nan-hidden";
        c.qscale = 1;
        c.B = 1, c.Hq = 2, c.Hkv = 2, c.Lq = 70, c.Lk = 200, c.D = c.Dv = 16;
        c.o.causal = ATTN_CAUSAL_TOP_LEFT;
        c.o.score = scores[sc];
        c.nan_hidden = 1;
        run(&c, &r);
    }
    for (int sc = 0; sc < 2; sc++) /* NaN in Q, K, V and dO that rows see, also through weights that dropout zeroed */
        for (int drop = 0; drop <= 2; drop++) {
            cfg c = nan_visible_cfg();
            c.o.score = scores[sc];
            c.nan_visible = drop == 2 ? 2 : 1; /* 2: V only, or the NaN K row would hide what V does */
            c.o.dropout_p = drop ? 0.5 : 0.0;
            c.o.dropout_seed = 7;
            for (int causal = 0; causal <= 2; causal++) {
                c.o.causal = (attn_causal)causal;
                run(&c, &r);
            }
        }
    for (int opt = 0; opt < 4; opt++) { /* cosine rows of norm below 1e-12, alone and with options */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "cosine-tiny";
        c.qscale = 1;
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Lq = 37, c.Lk = 53, c.D = 17, c.Dv = 9;
        c.layout = opt % 3;
        c.o.score = ATTN_SCORE_COSINE;
        c.o.scale = 3;
        c.o.causal = opt == 1 ? ATTN_CAUSAL_BOTTOM_RIGHT : ATTN_CAUSAL_NONE;
        c.o.softcap = opt == 2 ? 2.0 : 0;
        c.o.dropout_p = opt == 3 ? 0.25 : 0, c.o.dropout_seed = 99;
        c.tiny = 1;
        run(&c, &r);
    }
    for (int sc = 0; sc < 2; sc++) {
        /* scores up to 1e30 in magnitude (dot, inputs ~1e15) or 1e5 (cosine, scale 1e5): one-hot weights, dv
         * exact, as long as the backward's S is bitwise the forward's (a last bit of 1e5 moves P by 0.4 %) */
        cfg c;
        memset(&c, 0, sizeof c);
        c.what = "huge-scores";
        c.qscale = 1e15;
        c.B = 1, c.Hq = 1, c.Hkv = 1, c.Lq = 33, c.Lk = 70, c.D = c.Dv = 8;
        c.o.score = sc == 0 ? ATTN_SCORE_DOT : ATTN_SCORE_COSINE;
        c.o.scale = sc == 0 ? 0 : 1e5;
        c.o.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
        run(&c, &r);
    }
    for (int n = 0; n < 40; n++) {
        extras x;
        memset(&x, 0, sizeof x);
        cfg c = random_cfg(&r, &x);
        c.half = n % 4 == 1 ? 1 + n / 4 % 3 : 0; /* a quarter with 16-bit inputs (as f32 copies), */
        c.bf16 = n % 8 == 5 ? 3 : 0;             /* half of those bfloat16 */
        run(&c, &r);
        free(x.mask);
        free(x.bias);
    }
    return test_summary("test_fast_bwd");
}
