/*
 * test_backward.c - attn_backward against central finite differences.
 *
 * For each option the loss L = sum(dO * out) is evaluated by the reference
 * forward in f64, and dL/dx for every element x of q, k and v is estimated
 * by (L(x + h) - L(x - h)) / 2h with h = 1e-5.  The analytic gradient of
 * attn_backward (every kernel that supports the call) must match.
 *
 * The cosine cases also plant query and key rows of norm below 1e-12 (zero,
 * and ~1e-13), where the clamped norm is the constant 1e-12: the scores are
 * linear in such a row with slopes ~1e12 (so are its gradients), and its
 * elements take h = 1e-17, which keeps the row below 1e-12 and moves the
 * scores by ~1e-5 as h = 1e-5 does elsewhere (truncation as above; rounding
 * ~1e-16 |L| / h ~ 1e2, relative 1e-9 of such a gradient).
 *
 * Tolerance |got - fd| <= 1e-6 + 1e-5 |fd| (reference) and, for the f32
 * tiled kernels, on f32 inputs against the reference backward in double
 * (test_fast_bwd.c).  Justification: the truncation error of the central
 * difference is h^2/6 |L'''| ~ 1e-10 * |L'''| and the rounding error is
 * ~ eps |L| / h ~ 1e-16 * 10 / 1e-5 = 1e-10; with inputs of size ~1 and
 * soft-caps >= 1 the third derivatives stay below ~100, so the estimate is
 * good to ~1e-8, while a wrong formula is off by O(0.01..1).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bcase {
    const char *name;
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_options o;
    int tiny; /* rows of norm below 1e-12: query rows 1 (zero) and 3, key rows 2 (zero) and 4 of every head */
} bcase;

static double *rand_buf(test_rng *r, int64_t n, double sd)
{
    double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = sd * test_normal(r);
    return x;
}

static double loss_of(const bcase *c, double *q, double *k, double *v, const double *dout, double *out)
{
    attn_tensor tq = attn_tensor_4d(q, ATTN_F64, c->B, c->Hq, c->Lq, c->D);
    attn_tensor tk = attn_tensor_4d(k, ATTN_F64, c->B, c->Hkv, c->Lk, c->D);
    attn_tensor tv = attn_tensor_4d(v, ATTN_F64, c->B, c->Hkv, c->Lk, c->Dv);
    attn_tensor to = attn_tensor_4d(out, ATTN_F64, c->B, c->Hq, c->Lq, c->Dv);
    attn_options o = c->o;
    o.kernel = ATTN_KERNEL_REFERENCE;
    if (attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o) != ATTN_OK) {
        fprintf(stderr, "forward failed: %s\n", attn_errmsg());
        return NAN;
    }
    double L = 0;
    int64_t n = c->B * c->Hq * c->Lq * c->Dv;
    for (int64_t i = 0; i < n; i++)
        L += dout[i] * out[i];
    return L;
}

/* Rows of n elements of x with norm below 1e-12: zero rows, and rows ~1e-13. */
static void plant_tiny(double *x, int64_t rows, int64_t L, int64_t n, int64_t zero_row, int64_t small_row)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < n; d++) {
            if (r % L == zero_row)
                x[r * n + d] = 0;
            if (r % L == small_row)
                x[r * n + d] *= 1e-13;
        }
}

/* The finite-difference step for element i of x, whose rows have `row`
 * elements (0: not a q or k row): 1e-5, or 1e-17 inside a cosine row of norm
 * below 1e-12 (see the top). */
static double fd_step(const bcase *c, const double *x, int64_t i, int64_t row)
{
    if (c->o.score != ATTN_SCORE_COSINE || row == 0)
        return 1e-5;
    double n2 = 0;
    for (int64_t d = i - i % row; d < i - i % row + row; d++)
        n2 += x[d] * x[d];
    return sqrt(n2) < 1e-12 ? 1e-17 : 1e-5;
}

/* Compare the analytic gradient g of buffer x (n elements, rows of `row`)
 * with finite differences.  Returns the largest error found in units of the
 * tolerance (the gradients of the tiny cosine rows are ~1e12). */
static double fd_check(const bcase *c, const char *what, double *x, int64_t n, int64_t row, const double *g, double *q,
                       double *k, double *v, const double *dout, double *scratch)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double h = fd_step(c, x, i, row);
        double x0 = x[i];
        x[i] = x0 + h;
        double lp = loss_of(c, q, k, v, dout, scratch);
        x[i] = x0 - h;
        double lm = loss_of(c, q, k, v, dout, scratch);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(g[i] - fd) / (1e-6 + 1e-5 * fabs(fd));
        if (err > worst)
            worst = err;
        if (!CHECK(test_close(g[i], fd, 1e-6, 1e-5), "%s: d%s[%lld] = %.10g, finite difference %.10g", c->name, what,
                   (long long)i, g[i], fd))
            return worst;
    }
    return worst;
}

static void run_case(const bcase *c, test_rng *r)
{
    int64_t nq = c->B * c->Hq * c->Lq * c->D, nk = c->B * c->Hkv * c->Lk * c->D, nv = c->B * c->Hkv * c->Lk * c->Dv,
            no = c->B * c->Hq * c->Lq * c->Dv, nl = c->B * c->Hq * c->Lq;
    double *q = rand_buf(r, nq, 1.0), *k = rand_buf(r, nk, 1.0), *v = rand_buf(r, nv, 1.0);
    if (c->tiny) {
        plant_tiny(q, c->B * c->Hq * c->Lq, c->Lq, c->D, 1, 3);
        plant_tiny(k, c->B * c->Hkv * c->Lk, c->Lk, c->D, 2, 4);
    }
    double *dout = rand_buf(r, no, 1.0), *out = rand_buf(r, no, 0), *lse = rand_buf(r, nl, 0);
    double *dq = rand_buf(r, nq, 0), *dk = rand_buf(r, nk, 0), *dv = rand_buf(r, nv, 0), *scratch = rand_buf(r, no, 0);
    attn_tensor tq = attn_tensor_4d(q, ATTN_F64, c->B, c->Hq, c->Lq, c->D);
    attn_tensor tk = attn_tensor_4d(k, ATTN_F64, c->B, c->Hkv, c->Lk, c->D);
    attn_tensor tv = attn_tensor_4d(v, ATTN_F64, c->B, c->Hkv, c->Lk, c->Dv);
    attn_tensor to = attn_tensor_4d(out, ATTN_F64, c->B, c->Hq, c->Lq, c->Dv);
    attn_tensor tdo = attn_tensor_4d(dout, ATTN_F64, c->B, c->Hq, c->Lq, c->Dv);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F64, c->B, c->Hq, c->Lq);
    attn_tensor tdq = attn_tensor_4d(dq, ATTN_F64, c->B, c->Hq, c->Lq, c->D);
    attn_tensor tdk = attn_tensor_4d(dk, ATTN_F64, c->B, c->Hkv, c->Lk, c->D);
    attn_tensor tdv = attn_tensor_4d(dv, ATTN_F64, c->B, c->Hkv, c->Lk, c->Dv);
    attn_options o = c->o;
    o.kernel = ATTN_KERNEL_REFERENCE;
    if (CHECK_OK(attn_forward(&to, &tl, NULL, &tq, &tk, &tv, &o)) &&
        CHECK_OK(attn_backward(&tdq, &tdk, &tdv, &tdo, &tq, &tk, &tv, &to, &tl, &o))) {
        double e = fd_check(c, "q", q, nq, c->D, dq, q, k, v, dout, scratch);
        double e2 = fd_check(c, "k", k, nk, c->D, dk, q, k, v, dout, scratch);
        double e3 = fd_check(c, "v", v, nv, 0, dv, q, k, v, dout, scratch);
        printf("  %-36s max |grad - fd| / tolerance: dq %.1e dk %.1e dv %.1e\n", c->name, e, e2, e3);
    }
    free(q), free(k), free(v), free(dout), free(out), free(lse), free(dq), free(dk), free(dv), free(scratch);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_backward: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    test_rng r = {seed};

    /* masks and bias shared by some cases */
    unsigned char mask[2 * 5 * 7];
    for (int i = 0; i < 2 * 5 * 7; i++)
        mask[i] = test_uniform(&r) < 0.7;
    for (int j = 0; j < 7; j++)
        mask[1 * 7 + j] = 0; /* batch 0, row 1: fully masked */
    double bias[2 * 2 * 5 * 7];
    for (int i = 0; i < 2 * 2 * 5 * 7; i++)
        bias[i] = test_uniform(&r) < 0.15 ? -INFINITY : test_normal(&r);
    int64_t klen[2] = {4, 0};
    int64_t cu_q[4] = {0, 2, 2, 6}, cu_k[4] = {0, 3, 5, 7};
    float slopes[4] = {0.5f, 0.25f, 0.125f, 0.0625f};

    bcase cases[32];
    int nc = 0;
#define CASE(nm, b, hq, hkv, lq, lk, d, dv) \
    cases[nc] = (bcase){nm, b, hq, hkv, lq, lk, d, dv, {0}, 0}; \
    bcase *bc = &cases[nc++];                                 \
    attn_options *o = &bc->o;                                 \
    (void)bc, (void)o
    { CASE("plain", 2, 2, 2, 5, 7, 4, 4); }
    { CASE("dot, scale 0.7", 2, 2, 2, 5, 7, 4, 4); o->score = ATTN_SCORE_DOT; o->scale = 0.7; }
    { CASE("causal top-left Lq<Lk", 2, 2, 2, 5, 7, 4, 4); o->causal = ATTN_CAUSAL_TOP_LEFT; }
    { CASE("causal top-left Lq>Lk", 1, 2, 2, 7, 5, 4, 4); o->causal = ATTN_CAUSAL_TOP_LEFT; }
    { CASE("causal bottom-right Lq<Lk", 2, 2, 2, 5, 7, 4, 4); o->causal = ATTN_CAUSAL_BOTTOM_RIGHT; }
    { CASE("causal bottom-right Lq>Lk", 1, 2, 2, 7, 5, 4, 4); o->causal = ATTN_CAUSAL_BOTTOM_RIGHT; }
    { CASE("window (2, 1)", 2, 2, 2, 5, 7, 4, 4); o->window = 1; o->window_left = 2; o->window_right = 1; }
    {
        CASE("bool mask (B,1,Lq,Lk)", 2, 2, 2, 5, 7, 4, 4);
        o->mask = attn_tensor_4d(mask, ATTN_BOOL, 2, 1, 5, 7);
    }
    { CASE("bias with -inf", 2, 2, 2, 5, 7, 4, 4); o->bias = attn_tensor_4d(bias, ATTN_F64, 2, 2, 5, 7); }
    { CASE("key_lengths {4, 0}", 2, 2, 2, 5, 7, 4, 4); o->key_lengths = klen; }
    {
        CASE("varlen causal bottom-right", 1, 2, 2, 6, 7, 4, 4);
        o->num_seqs = 3, o->cu_seqlens_q = cu_q, o->cu_seqlens_k = cu_k, o->causal = ATTN_CAUSAL_BOTTOM_RIGHT;
    }
    { CASE("alibi", 2, 4, 4, 5, 7, 4, 4); o->alibi_slopes = slopes; }
    { CASE("softcap 1.5", 2, 2, 2, 5, 7, 4, 4); o->softcap = 1.5; o->scale = 1.5; }
    { CASE("GQA 4/2", 1, 4, 2, 5, 7, 4, 4); }
    { CASE("MQA 4/1 causal", 1, 4, 1, 5, 7, 4, 4); o->causal = ATTN_CAUSAL_TOP_LEFT; }
    { CASE("Dv 6 != Dk 3", 2, 2, 2, 5, 7, 3, 6); }
    { CASE("dropout 0.3", 2, 2, 2, 5, 7, 4, 4); o->dropout_p = 0.3; o->dropout_seed = 1234; }
    {
        CASE("everything", 1, 4, 2, 6, 7, 3, 5);
        o->num_seqs = 3, o->cu_seqlens_q = cu_q, o->cu_seqlens_k = cu_k, o->causal = ATTN_CAUSAL_TOP_LEFT;
        o->alibi_slopes = slopes, o->softcap = 2.0, o->dropout_p = 0.2, o->dropout_seed = 7;
        o->window = 1, o->window_left = 3, o->window_right = -1;
    }
    /* cosine: every option again, with rows of norm below 1e-12 */
    { CASE("cosine", 2, 2, 2, 5, 7, 4, 4); o->score = ATTN_SCORE_COSINE; }
    {
        CASE("cosine scale 3, tiny rows", 2, 2, 2, 5, 7, 4, 4);
        o->score = ATTN_SCORE_COSINE, o->scale = 3, bc->tiny = 1;
    }
    {
        CASE("cosine causal bottom-right, tiny", 1, 2, 2, 7, 5, 4, 4);
        o->score = ATTN_SCORE_COSINE, o->scale = 2, o->causal = ATTN_CAUSAL_BOTTOM_RIGHT, bc->tiny = 1;
    }
    {
        CASE("cosine bool mask, tiny", 2, 2, 2, 5, 7, 4, 4);
        o->score = ATTN_SCORE_COSINE, o->scale = 2, bc->tiny = 1;
        o->mask = attn_tensor_4d(mask, ATTN_BOOL, 2, 1, 5, 7);
    }
    {
        CASE("cosine bias, key_lengths, tiny", 2, 2, 2, 5, 7, 4, 4);
        o->score = ATTN_SCORE_COSINE, o->scale = 2, bc->tiny = 1;
        o->bias = attn_tensor_4d(bias, ATTN_F64, 2, 2, 5, 7), o->key_lengths = klen;
    }
    {
        CASE("cosine softcap 1.5, tiny", 2, 2, 2, 5, 7, 4, 4);
        o->score = ATTN_SCORE_COSINE, o->scale = 4, o->softcap = 1.5, bc->tiny = 1;
    }
    { CASE("cosine GQA 4/2, tiny", 1, 4, 2, 5, 7, 4, 4); o->score = ATTN_SCORE_COSINE, o->scale = 3, bc->tiny = 1; }
    { CASE("cosine Dv 6 != Dk 3, tiny", 2, 2, 2, 5, 7, 3, 6); o->score = ATTN_SCORE_COSINE, bc->tiny = 1; }
    {
        CASE("cosine everything, tiny", 1, 4, 2, 6, 7, 3, 5);
        o->score = ATTN_SCORE_COSINE, o->scale = 3, bc->tiny = 1;
        o->num_seqs = 3, o->cu_seqlens_q = cu_q, o->cu_seqlens_k = cu_k, o->causal = ATTN_CAUSAL_TOP_LEFT;
        o->alibi_slopes = slopes, o->softcap = 2.0, o->dropout_p = 0.2, o->dropout_seed = 7;
        o->window = 1, o->window_left = 3, o->window_right = -1;
    }
#undef CASE
    for (int i = 0; i < nc; i++)
        run_case(&cases[i], &r);

    /* A hidden key holding NaN/Inf leaves every gradient finite, its own zero. */
    for (int cosine = 0; cosine <= 1; cosine++) {
        double q[5 * 4], k[7 * 4], v[7 * 4], out[5 * 4], lse[5], dout[5 * 4], dq[5 * 4], dk[7 * 4], dv[7 * 4];
        for (int i = 0; i < 20; i++)
            q[i] = test_normal(&r), dout[i] = test_normal(&r);
        for (int i = 0; i < 28; i++)
            k[i] = test_normal(&r), v[i] = test_normal(&r);
        for (int d = 0; d < 4; d++)
            k[6 * 4 + d] = NAN, v[6 * 4 + d] = INFINITY, k[5 * 4 + d] = INFINITY, v[5 * 4 + d] = NAN;
        attn_tensor tq = attn_tensor_2d(q, ATTN_F64, 5, 4), tk = attn_tensor_2d(k, ATTN_F64, 7, 4),
                    tv = attn_tensor_2d(v, ATTN_F64, 7, 4), to = attn_tensor_2d(out, ATTN_F64, 5, 4),
                    tl = attn_tensor_1d(lse, ATTN_F64, 5), tdo = attn_tensor_2d(dout, ATTN_F64, 5, 4),
                    tdq = attn_tensor_2d(dq, ATTN_F64, 5, 4), tdk = attn_tensor_2d(dk, ATTN_F64, 7, 4),
                    tdv = attn_tensor_2d(dv, ATTN_F64, 7, 4);
        attn_options o = {0};
        o.causal = ATTN_CAUSAL_TOP_LEFT; /* keys 5, 6 hidden from rows 0..4 */
        o.score = cosine ? ATTN_SCORE_COSINE : ATTN_SCORE_SCALED_DOT;
        CHECK_OK(attn_forward(&to, &tl, NULL, &tq, &tk, &tv, &o));
        CHECK_OK(attn_backward(&tdq, &tdk, &tdv, &tdo, &tq, &tk, &tv, &to, &tl, &o));
        bool finite = true, zero = true;
        for (int i = 0; i < 20; i++)
            finite &= isfinite(dq[i]);
        for (int i = 0; i < 28; i++) {
            finite &= isfinite(dk[i]) && isfinite(dv[i]);
            if (i >= 20)
                zero &= dk[i] == 0 && dv[i] == 0;
        }
        CHECK(finite, "%s: NaN/Inf in hidden keys leaked into gradients", attn_score_name(o.score));
        CHECK(zero, "%s: hidden keys got nonzero gradients", attn_score_name(o.score));
    }

    /* Errors: unsupported score, wrong shapes. */
    {
        float q[3 * 4] = {0}, k[3 * 4] = {0}, o4[3 * 4] = {0}, lse[3] = {0}, g[3 * 4], g2[2 * 4], w[4 * 4] = {0};
        attn_tensor tq = attn_tensor_2d(q, ATTN_F32, 3, 4), tk = attn_tensor_2d(k, ATTN_F32, 3, 4),
                    to = attn_tensor_2d(o4, ATTN_F32, 3, 4), tl = attn_tensor_1d(lse, ATTN_F32, 3),
                    tg = attn_tensor_2d(g, ATTN_F32, 3, 4), tbad = attn_tensor_2d(g2, ATTN_F32, 2, 4),
                    tlbad = attn_tensor_1d(lse, ATTN_F32, 2);
        attn_options o = {0};
        o.score = ATTN_SCORE_BILINEAR;
        o.bilinear_w = attn_tensor_2d(w, ATTN_F32, 4, 4);
        CHECK_FAILS(attn_backward(&tg, &tg, &tg, &to, &tq, &tk, &tk, &to, &tl, &o), ATTN_ERR_UNSUPPORTED, "bilinear");
        CHECK_FAILS(attn_backward(&tbad, &tg, &tg, &to, &tq, &tk, &tk, &to, &tl, NULL), ATTN_ERR_INVALID, "dq");
        CHECK_FAILS(attn_backward(&tg, &tg, &tg, &to, &tq, &tk, &tk, &to, &tlbad, NULL), ATTN_ERR_INVALID, "lse");
        CHECK_FAILS(attn_backward(&tg, &tg, &tg, &tbad, &tq, &tk, &tk, &to, &tl, NULL), ATTN_ERR_INVALID, "dout");
        CHECK_FAILS(attn_backward(NULL, &tg, &tg, &to, &tq, &tk, &tk, &to, &tl, NULL), ATTN_ERR_MISUSE, "dq");
    }
    return test_summary("test_backward");
}
