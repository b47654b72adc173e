/*
 * test_ref.c - the reference attention against an independent computation.
 *
 * The library's reference (src/ref/forward_ref.c) works row by row over
 * strided views.  This test recomputes every case in a different way: dense
 * (Lq x Lk) matrices over contiguous double arrays, with the visibility of
 * each (i, j) worked out from SEMANTICS.md's rules on its own, then compares.
 * Inputs are passed to the library as f32 or f64 and as contiguous or
 * (B, L, H, D)-strided views.
 *
 * Tolerances: with f64 inputs both sides compute in double, so they agree to
 * 1e-12 (absolute and relative).  With f32 inputs the library reads the same
 * rounded values (the test rounds its copy too), accumulates in double and
 * rounds the result to f32 once: agreement within one f32 rounding,
 * atol 1e-6 + rtol 1e-6 on outputs of order 1.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * The independent computation
 * ------------------------------------------------------------------------ */

typedef struct config {
    int64_t B, Hq, Hkv, Lq, Lk, Dq, Dk, Dv, A;
    attn_score score;
    double scale; /* 0 = default */
    attn_causal causal;
    int window;
    int64_t wl, wr;
    int mask_kind;  /* 0 none; 1 full (B,H,Lq,Lk); 2 (Lq,Lk); 3 (B,1,1,Lk) key padding */
    int bias_kind;  /* same shapes as mask_kind */
    int use_lengths;
    int use_alibi;
    double softcap;
    double dropout;
    int64_t num_seqs; /* packed batch when > 0 (B = 1) */
    int64_t cu_q[8], cu_k[8];
} config;

typedef struct inputs {
    double *q, *k, *v;          /* contiguous (B, H, L, D) */
    unsigned char *mask;        /* dense (B, Hq, Lq, Lk), after broadcasting */
    double *bias;               /* dense (B, Hq, Lq, Lk) */
    unsigned char *mask_src;    /* as given to the library (broadcast shape) */
    double *bias_src;
    int64_t lengths[4];
    float slopes[16];
    double *wbil;               /* (Dq, Dk) */
    double *wq, *wk, *va;       /* (A, Dq), (A, Dk), (A) */
} inputs;

static int64_t idx4(int64_t a, int64_t b, int64_t c, int64_t d, int64_t nb, int64_t nc, int64_t nd)
{
    return ((a * nb + b) * nc + c) * nd + d;
}

/* Which sequence a packed row / key belongs to, and its local geometry. */
static void seq_of(const config *c, int64_t i, int64_t *q0, int64_t *q1, int64_t *k0, int64_t *k1)
{
    *q0 = 0, *q1 = c->Lq, *k0 = 0, *k1 = c->Lk;
    for (int64_t s = 0; s < c->num_seqs; s++)
        if (i >= c->cu_q[s] && i < c->cu_q[s + 1]) {
            *q0 = c->cu_q[s], *q1 = c->cu_q[s + 1], *k0 = c->cu_k[s], *k1 = c->cu_k[s + 1];
        }
}

/* Visibility of key j to query i (batch b, head h), straight from the rules. */
static int visible(const config *c, const inputs *in, int64_t b, int64_t h, int64_t i, int64_t j)
{
    int64_t q0, q1, k0, k1;
    seq_of(c, i, &q0, &q1, &k0, &k1);
    if (c->use_lengths)
        k1 = in->lengths[b];
    if (j < k0 || j >= k1)
        return 0;
    int64_t lq = q1 - q0, lk = k1 - k0;
    int64_t diag = (i - q0) + (c->causal == ATTN_CAUSAL_TOP_LEFT ? 0 : lk - lq);
    int64_t jl = j - k0;
    if (c->causal && jl > diag)
        return 0;
    if (c->window && c->wl >= 0 && jl < diag - c->wl)
        return 0;
    if (c->window && c->wr >= 0 && jl > diag + c->wr)
        return 0;
    if (c->mask_kind && !in->mask[idx4(b, h, i, j, c->Hq, c->Lq, c->Lk)])
        return 0;
    return 1;
}

static double alibi_dist(const config *c, const inputs *in, int64_t b, int64_t i, int64_t j)
{
    int64_t q0, q1, k0, k1;
    seq_of(c, i, &q0, &q1, &k0, &k1);
    if (c->use_lengths)
        k1 = in->lengths[b];
    int64_t off = c->causal == ATTN_CAUSAL_TOP_LEFT ? 0 : (k1 - k0) - (q1 - q0);
    return fabs((double)((i - q0) + off - (j - k0)));
}

static double raw_score(const config *c, const inputs *in, int64_t b, int64_t h, int64_t i, int64_t j)
{
    int64_t hk = h / (c->Hq / c->Hkv);
    const double *qi = in->q + idx4(b, h, i, 0, c->Hq, c->Lq, c->Dq);
    const double *kj = in->k + idx4(b, hk, j, 0, c->Hkv, c->Lk, c->Dk);
    double s = 0;
    if (c->score == ATTN_SCORE_BILINEAR) {
        for (int64_t a = 0; a < c->Dq; a++)
            for (int64_t d = 0; d < c->Dk; d++)
                s += qi[a] * in->wbil[a * c->Dk + d] * kj[d];
    } else if (c->score == ATTN_SCORE_ADDITIVE) {
        for (int64_t a = 0; a < c->A; a++) {
            double u = 0;
            for (int64_t d = 0; d < c->Dq; d++)
                u += in->wq[a * c->Dq + d] * qi[d];
            for (int64_t d = 0; d < c->Dk; d++)
                u += in->wk[a * c->Dk + d] * kj[d];
            s += in->va[a] * tanh(u);
        }
    } else {
        double nq = 0, nk = 0;
        for (int64_t d = 0; d < c->Dq; d++) {
            s += qi[d] * kj[d];
            nq += qi[d] * qi[d];
            nk += kj[d] * kj[d];
        }
        if (c->score == ATTN_SCORE_COSINE)
            s /= fmax(sqrt(nq), 1e-12) * fmax(sqrt(nk), 1e-12);
    }
    double scale = c->scale;
    if (scale == 0)
        scale = c->score == ATTN_SCORE_SCALED_DOT ? 1.0 / sqrt((double)c->Dq) : 1.0;
    return scale * s;
}

/* Dense scores S (Lq x Lk) for (b, h) with -inf where hidden. */
static void dense_scores(const config *c, const inputs *in, int64_t b, int64_t h, double *S)
{
    for (int64_t i = 0; i < c->Lq; i++)
        for (int64_t j = 0; j < c->Lk; j++) {
            double s = -INFINITY;
            if (visible(c, in, b, h, i, j)) {
                s = raw_score(c, in, b, h, i, j);
                if (c->softcap > 0)
                    s = c->softcap * tanh(s / c->softcap);
                if (c->use_alibi)
                    s -= in->slopes[h] * alibi_dist(c, in, b, i, j);
                if (c->bias_kind)
                    s += in->bias[idx4(b, h, i, j, c->Hq, c->Lq, c->Lk)];
            }
            S[i * c->Lk + j] = s;
        }
}

/* out (B,Hq,Lq,Dv), lse (B,Hq,Lq), W (B,Hq,Lq,Lk), all contiguous double. */
static void independent_attention(const config *c, const inputs *in, double *out, double *lse, double *W)
{
    double *S = malloc(sizeof(double) * (size_t)(c->Lq * c->Lk + 1));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++) {
            int64_t hk = h / (c->Hq / c->Hkv);
            dense_scores(c, in, b, h, S);
            for (int64_t i = 0; i < c->Lq; i++) {
                double *srow = S + i * c->Lk;
                double m = -INFINITY;
                for (int64_t j = 0; j < c->Lk; j++)
                    m = fmax(m, srow[j]);
                double l = 0;
                for (int64_t j = 0; j < c->Lk; j++)
                    l += srow[j] == -INFINITY ? 0 : exp(srow[j] - m);
                double *orow = out + idx4(b, h, i, 0, c->Hq, c->Lq, c->Dv);
                double *wrow = W + idx4(b, h, i, 0, c->Hq, c->Lq, c->Lk);
                lse[(b * c->Hq + h) * c->Lq + i] = m == -INFINITY ? -INFINITY : m + log(l);
                for (int64_t d = 0; d < c->Dv; d++)
                    orow[d] = 0;
                for (int64_t j = 0; j < c->Lk; j++) {
                    double p = srow[j] == -INFINITY ? 0 : exp(srow[j] - m) / l;
                    if (p != 0 && c->dropout > 0)
                        p = attn_dropout_uniform(77, b, h, i, j) >= c->dropout ? p / (1 - c->dropout) : 0;
                    wrow[j] = p;
                    if (srow[j] != -INFINITY)
                        for (int64_t d = 0; d < c->Dv; d++)
                            orow[d] += p * in->v[idx4(b, hk, j, d, c->Hkv, c->Lk, c->Dv)];
                }
            }
        }
    free(S);
}

/* ------------------------------------------------------------------------
 * Building inputs and library views
 * ------------------------------------------------------------------------ */

static double *randn(test_rng *r, int64_t n, double sd, int f32)
{
    double *x = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        x[i] = sd * test_normal(r);
        if (f32)
            x[i] = (float)x[i];
    }
    return x;
}

/* A library tensor holding x (B, H, L, D) contiguous-double, as dtype f32/f64,
 * either contiguous or laid out as (B, L, H, D) memory (strided view).  The
 * buffer is returned in *buf to free. */
static attn_tensor make_view(const double *x, int64_t B, int64_t H, int64_t L, int64_t D, int f32, int blhd,
                             void **buf)
{
    int64_t n = B * H * L * D;
    size_t es = f32 ? 4 : 8;
    /* one extra element so an unaligned start is possible */
    char *mem = calloc((size_t)(n + 2), es);
    void *data = mem + es; /* deliberately not 64-byte aligned */
    *buf = mem;
    attn_tensor t = attn_tensor_4d(data, f32 ? ATTN_F32 : ATTN_F64, B, H, L, D);
    if (blhd) { /* memory order (B, L, H, D) */
        t.stride[0] = L * H * D;
        t.stride[1] = D;
        t.stride[2] = H * D;
        t.stride[3] = 1;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t l = 0; l < L; l++)
                for (int64_t d = 0; d < D; d++) {
                    int64_t off = b * t.stride[0] + h * t.stride[1] + l * t.stride[2] + d * t.stride[3];
                    double val = x[idx4(b, h, l, d, H, L, D)];
                    if (f32)
                        ((float *)data)[off] = (float)val;
                    else
                        ((double *)data)[off] = val;
                }
    return t;
}

static double get4(const attn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int pad = 4 - t->rank;
    int64_t ix[4] = {a, b, c, d}, off = 0;
    for (int k = 0; k < t->rank; k++)
        off += ix[k + pad] * t->stride[k];
    return t->dtype == ATTN_F32 ? ((float *)t->data)[off] : ((double *)t->data)[off];
}

static void describe(char *buf, size_t n, const config *c, int f32, int blhd, uint64_t seed)
{
    snprintf(buf, n,
             "seed=%llu B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld Dq=%lld Dk=%lld Dv=%lld score=%s scale=%g causal=%d "
             "window=%d(%lld,%lld) mask=%d bias=%d lengths=%d alibi=%d softcap=%g dropout=%g seqs=%lld %s %s",
             (unsigned long long)seed, (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, (long long)c->Dq, (long long)c->Dk, (long long)c->Dv, attn_score_name(c->score),
             c->scale, (int)c->causal, c->window, (long long)c->wl, (long long)c->wr, c->mask_kind, c->bias_kind,
             c->use_lengths, c->use_alibi, c->softcap, c->dropout, (long long)c->num_seqs, f32 ? "f32" : "f64",
             blhd ? "BLHD-strided" : "contiguous");
}

/* The broadcast shape of mask/bias kind k. */
static void mask_shape(const config *c, int kind, int64_t s[4])
{
    s[0] = kind == 2 ? 1 : c->B;
    s[1] = kind == 1 ? c->Hq : 1;
    s[2] = kind == 3 ? 1 : c->Lq;
    s[3] = c->Lk;
}

/* Run one configuration: build inputs, run library and independent
 * computation, compare out, lse and weights.  Returns false on mismatch. */
static bool run_case(const config *c, test_rng *r, uint64_t seed, int f32, int blhd)
{
    inputs in;
    memset(&in, 0, sizeof in);
    double qsd = c->score == ATTN_SCORE_DOT ? 0.3 : 1.0;
    in.q = randn(r, c->B * c->Hq * c->Lq * c->Dq, qsd, f32);
    in.k = randn(r, c->B * c->Hkv * c->Lk * c->Dk, qsd, f32);
    in.v = randn(r, c->B * c->Hkv * c->Lk * c->Dv, 1.0, f32);
    int64_t dense_n = c->B * c->Hq * c->Lq * c->Lk;
    in.mask = malloc((size_t)dense_n + 1);
    in.bias = calloc((size_t)dense_n + 1, sizeof(double));
    int64_t ms[4], bs[4];
    mask_shape(c, c->mask_kind, ms);
    mask_shape(c, c->bias_kind, bs);
    int64_t mn = ms[0] * ms[1] * ms[2] * ms[3], bn = bs[0] * bs[1] * bs[2] * bs[3];
    in.mask_src = malloc((size_t)mn + 1);
    for (int64_t x = 0; x < mn; x++)
        in.mask_src[x] = test_uniform(r) < 0.75;
    in.bias_src = randn(r, bn, 1.0, f32);
    /* a few -inf entries in the bias hide keys too */
    for (int64_t x = 0; x < bn; x++)
        if (test_uniform(r) < 0.05)
            in.bias_src[x] = -INFINITY;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Lq; i++)
                for (int64_t j = 0; j < c->Lk; j++) {
                    int64_t dst = idx4(b, h, i, j, c->Hq, c->Lq, c->Lk);
                    int64_t mi = idx4(ms[0] > 1 ? b : 0, ms[1] > 1 ? h : 0, ms[2] > 1 ? i : 0, j, ms[1], ms[2], ms[3]);
                    int64_t bi = idx4(bs[0] > 1 ? b : 0, bs[1] > 1 ? h : 0, bs[2] > 1 ? i : 0, j, bs[1], bs[2], bs[3]);
                    in.mask[dst] = in.mask_src[mi];
                    in.bias[dst] = in.bias_src[bi];
                }
    for (int64_t b = 0; b < c->B; b++)
        in.lengths[b] = test_int(r, 0, c->Lk);
    for (int64_t h = 0; h < c->Hq; h++)
        in.slopes[h] = (float)(0.5 * test_uniform(r));
    in.wbil = randn(r, c->Dq * c->Dk, 0.3, f32);
    in.wq = randn(r, c->A * c->Dq, 0.5, f32);
    in.wk = randn(r, c->A * c->Dk, 0.5, f32);
    in.va = randn(r, c->A, 1.0, f32);

    /* the independent answer */
    double *out_ref = calloc((size_t)(c->B * c->Hq * c->Lq * c->Dv + 1), sizeof(double));
    double *lse_ref = calloc((size_t)(c->B * c->Hq * c->Lq + 1), sizeof(double));
    double *w_ref = calloc((size_t)dense_n + 1, sizeof(double));
    independent_attention(c, &in, out_ref, lse_ref, w_ref);

    /* the library's answer */
    void *bq, *bk, *bv, *bo, *bw;
    attn_tensor tq = make_view(in.q, c->B, c->Hq, c->Lq, c->Dq, f32, blhd, &bq);
    attn_tensor tk = make_view(in.k, c->B, c->Hkv, c->Lk, c->Dk, f32, blhd, &bk);
    attn_tensor tv = make_view(in.v, c->B, c->Hkv, c->Lk, c->Dv, f32, blhd, &bv);
    double *zeros = calloc((size_t)(c->B * c->Hq * c->Lq * (c->Dv > c->Lk ? c->Dv : c->Lk) + 1), sizeof(double));
    attn_tensor to = make_view(zeros, c->B, c->Hq, c->Lq, c->Dv, f32, blhd, &bo);
    attn_tensor tw = make_view(zeros, c->B, c->Hq, c->Lq, c->Lk, f32, 0, &bw);
    double *lse_lib = calloc((size_t)(c->B * c->Hq * c->Lq + 1), sizeof(double));
    attn_tensor tl = attn_tensor_3d(lse_lib, ATTN_F64, c->B, c->Hq, c->Lq);

    attn_options o;
    memset(&o, 0, sizeof o);
    o.score = c->score;
    o.scale = c->scale;
    o.causal = c->causal;
    o.window = c->window;
    o.window_left = c->wl;
    o.window_right = c->wr;
    if (c->mask_kind)
        o.mask = attn_tensor_4d(in.mask_src, ATTN_BOOL, ms[0], ms[1], ms[2], ms[3]);
    if (c->mask_kind == 2) /* also exercise a lower-rank broadcast */
        o.mask = attn_tensor_2d(in.mask_src, ATTN_BOOL, c->Lq, c->Lk);
    if (c->bias_kind)
        o.bias = attn_tensor_4d(in.bias_src, ATTN_F64, bs[0], bs[1], bs[2], bs[3]);
    if (c->use_lengths)
        o.key_lengths = in.lengths;
    if (c->use_alibi)
        o.alibi_slopes = in.slopes;
    o.softcap = c->softcap;
    o.dropout_p = c->dropout;
    o.dropout_seed = 77;
    o.num_seqs = c->num_seqs;
    o.cu_seqlens_q = c->num_seqs ? c->cu_q : NULL;
    o.cu_seqlens_k = c->num_seqs ? c->cu_k : NULL;
    if (c->score == ATTN_SCORE_BILINEAR)
        o.bilinear_w = attn_tensor_2d(in.wbil, ATTN_F64, c->Dq, c->Dk);
    if (c->score == ATTN_SCORE_ADDITIVE) {
        o.additive_wq = attn_tensor_2d(in.wq, ATTN_F64, c->A, c->Dq);
        o.additive_wk = attn_tensor_2d(in.wk, ATTN_F64, c->A, c->Dk);
        o.additive_v = attn_tensor_1d(in.va, ATTN_F64, c->A);
    }
    o.threads = (int)test_int(r, 1, 3);
    o.kernel = ATTN_KERNEL_REFERENCE;

    char what[512];
    describe(what, sizeof what, c, f32, blhd, seed);
    attn_status st = attn_forward(&to, &tl, &tw, &tq, &tk, &tv, &o);
    bool ok = CHECK(st == ATTN_OK, "attn_forward failed: %s [%s]", attn_errmsg(), what);
    double atol = f32 ? 2e-6 : 1e-12, rtol = f32 ? 2e-6 : 1e-12;
    for (int64_t b = 0; ok && b < c->B; b++)
        for (int64_t h = 0; ok && h < c->Hq; h++)
            for (int64_t i = 0; ok && i < c->Lq; i++) {
                double l = lse_lib[(b * c->Hq + h) * c->Lq + i], lr = lse_ref[(b * c->Hq + h) * c->Lq + i];
                ok = CHECK(test_close(l, lr, atol, rtol), "lse[%lld,%lld,%lld] = %.17g, expected %.17g [%s]",
                           (long long)b, (long long)h, (long long)i, l, lr, what);
                for (int64_t d = 0; ok && d < c->Dv; d++) {
                    double got = get4(&to, b, h, i, d), want = out_ref[idx4(b, h, i, d, c->Hq, c->Lq, c->Dv)];
                    ok = CHECK(test_close(got, want, atol, rtol), "out[%lld,%lld,%lld,%lld] = %.17g, expected %.17g [%s]",
                               (long long)b, (long long)h, (long long)i, (long long)d, got, want, what);
                }
                for (int64_t j = 0; ok && j < c->Lk; j++) {
                    double got = get4(&tw, b, h, i, j), want = w_ref[idx4(b, h, i, j, c->Hq, c->Lq, c->Lk)];
                    ok = CHECK(test_close(got, want, atol, rtol),
                               "weights[%lld,%lld,%lld,%lld] = %.17g, expected %.17g [%s]", (long long)b, (long long)h,
                               (long long)i, (long long)j, got, want, what);
                }
            }

    /* attn_scores: steps 1-5 against the dense scores */
    if (ok) {
        double *scores = calloc((size_t)dense_n + 1, sizeof(double)), *S = calloc((size_t)(c->Lq * c->Lk + 1), sizeof(double));
        attn_tensor ts = attn_tensor_4d(scores, ATTN_F64, c->B, c->Hq, c->Lq, c->Lk);
        ok = CHECK(attn_scores(&ts, &tq, &tk, &o) == ATTN_OK, "attn_scores failed: %s [%s]", attn_errmsg(), what);
        for (int64_t b = 0; ok && b < c->B; b++)
            for (int64_t h = 0; ok && h < c->Hq; h++) {
                dense_scores(c, &in, b, h, S);
                for (int64_t x = 0; ok && x < c->Lq * c->Lk; x++) {
                    double got = scores[(b * c->Hq + h) * c->Lq * c->Lk + x];
                    ok = CHECK(test_close(got, S[x], 1e-10, 1e-10), "scores[%lld,%lld,%lld,%lld] = %.17g, expected %.17g [%s]",
                               (long long)b, (long long)h, (long long)(x / c->Lk), (long long)(x % c->Lk), got, S[x], what);
                }
            }
        free(scores), free(S);
    }
    free(bq), free(bk), free(bv), free(bo), free(bw);
    free(zeros), free(lse_lib), free(out_ref), free(lse_ref), free(w_ref);
    free(in.q), free(in.k), free(in.v), free(in.mask), free(in.bias), free(in.mask_src), free(in.bias_src);
    free(in.wbil), free(in.wq), free(in.wk), free(in.va);
    return ok;
}

/* ------------------------------------------------------------------------
 * Random configurations: every score, mask and option
 * ------------------------------------------------------------------------ */

static int64_t pick_len(test_rng *r)
{
    static const int64_t sizes[] = {1, 2, 3, 5, 8, 17};
    return sizes[test_int(r, 0, 5)];
}

static config random_config(test_rng *r, attn_score score)
{
    config c;
    memset(&c, 0, sizeof c);
    c.score = score;
    c.B = test_int(r, 1, 2);
    c.Hkv = test_int(r, 1, 2);
    c.Hq = c.Hkv * test_int(r, 1, 3); /* GQA when > Hkv */
    c.Lq = pick_len(r);
    c.Lk = pick_len(r);
    c.Dq = c.Dk = test_int(r, 1, 9);
    c.Dv = test_int(r, 1, 9); /* Dv != Dk most of the time */
    c.A = test_int(r, 1, 6);
    if (score == ATTN_SCORE_BILINEAR || score == ATTN_SCORE_ADDITIVE)
        c.Dq = test_int(r, 1, 9); /* q and k may live in different spaces */
    if (test_uniform(r) < 0.3)
        c.scale = 0.1 + test_uniform(r);
    c.causal = (attn_causal)test_int(r, 0, 2);
    if (test_uniform(r) < 0.3) {
        c.window = 1;
        c.wl = test_int(r, -1, 4);
        c.wr = test_int(r, -1, 4);
    }
    c.mask_kind = (int)test_int(r, 0, 3);
    c.bias_kind = (int)test_int(r, 0, 3);
    c.use_lengths = test_uniform(r) < 0.3;
    c.use_alibi = test_uniform(r) < 0.3;
    if (test_uniform(r) < 0.3)
        c.softcap = 0.5 + 3 * test_uniform(r);
    if (test_uniform(r) < 0.2)
        c.dropout = 0.3;
    return c;
}

static void test_random_configs(uint64_t seed)
{
    test_rng r = {seed};
    int failures = 0;
    for (int score = 0; score <= ATTN_SCORE_ADDITIVE; score++)
        for (int n = 0; n < 60 && failures < 5; n++) {
            config c = random_config(&r, (attn_score)score);
            failures += !run_case(&c, &r, seed, n % 2, n % 3 == 0);
        }
}

/* Sizes the issue names: D = 1, D = 257, Lk = 1, Lq != Lk under both causal
 * alignments, a long Lk against a short Lq (decoding). */
static void test_named_sizes(uint64_t seed)
{
    test_rng r = {seed ^ 0x5555};
    static const int64_t shapes[][4] = {
        /* Lq, Lk, D, Dv */
        {4, 4, 1, 1}, {3, 5, 257, 7}, {5, 1, 8, 8}, {1, 1, 3, 2}, {7, 3, 4, 4}, {3, 7, 4, 4}, {2, 33, 16, 5},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int causal = 0; causal <= 2; causal++) {
            config c;
            memset(&c, 0, sizeof c);
            c.B = 1, c.Hkv = 2, c.Hq = 4;
            c.Lq = shapes[s][0], c.Lk = shapes[s][1], c.Dq = c.Dk = shapes[s][2], c.Dv = shapes[s][3];
            c.causal = (attn_causal)causal;
            run_case(&c, &r, seed, 0, 1);
            run_case(&c, &r, seed, 1, 0);
        }
}

/* Packed variable-length batches, including an empty sequence. */
static void test_packed(uint64_t seed)
{
    test_rng r = {seed ^ 0xabc};
    for (int n = 0; n < 20; n++) {
        config c = random_config(&r, n % 3 == 0 ? ATTN_SCORE_COSINE : ATTN_SCORE_SCALED_DOT);
        c.B = 1;
        c.use_lengths = 0;
        c.num_seqs = test_int(&r, 1, 4);
        c.cu_q[0] = c.cu_k[0] = 0;
        for (int64_t s = 0; s < c.num_seqs; s++) {
            c.cu_q[s + 1] = c.cu_q[s] + test_int(&r, s == 1 ? 0 : 1, 5);
            c.cu_k[s + 1] = c.cu_k[s] + test_int(&r, 0, 6);
        }
        c.Lq = c.cu_q[c.num_seqs];
        c.Lk = c.cu_k[c.num_seqs];
        run_case(&c, &r, seed, n % 2, n % 3 == 1);
    }
}

/* ------------------------------------------------------------------------
 * Seed 002's worked example, worked out here by hand
 * ------------------------------------------------------------------------ */

static void test_seed002_example(void)
{
    double Q[4][3] = {{.1, .2, .3}, {.4, .5, .6}, {.7, .8, .9}, {1.0, 1.1, 1.2}};
    double V[4][3] = {{1.0, 1.1, 1.2}, {1.3, 1.4, 1.5}, {1.6, 1.7, 1.8}, {1.9, 2.0, 2.1}};
    /* Raw scores e_ij = q_i . k_j with K = Q, by hand:
     *   e_11 = .1*.1 + .2*.2 + .3*.3 = .01 + .04 + .09 = 0.14
     *   e_12 = .1*.4 + .2*.5 + .3*.6 = .04 + .10 + .18 = 0.32
     *   e_13 = .1*.7 + .2*.8 + .3*.9 = .07 + .16 + .27 = 0.50
     *   e_14 = .1*1.0 + .2*1.1 + .3*1.2 = .10 + .22 + .36 = 0.68
     *   e_22 = .16 + .25 + .36 = 0.77,  e_23 = .28 + .40 + .54 = 1.22,  e_24 = .40 + .55 + .72 = 1.67
     *   e_33 = .49 + .64 + .81 = 1.94,  e_34 = .70 + .88 + 1.08 = 2.66
     *   e_44 = 1.00 + 1.21 + 1.44 = 3.65;  e is symmetric.
     * The seed prints a_11..a_14 = 0.08, 0.20, 0.32, 0.44, but 0.14/sqrt(3) = 0.080829,
     * 0.32/sqrt(3) = 0.184752, 0.50/sqrt(3) = 0.288675, 0.68/sqrt(3) = 0.392598; its weights
     * (0.15, 0.22, 0.31, 0.32) do not sum to 1.  The exact weights of query 1 are
     *   exp(a_1j) / sum_j exp(a_1j) = 0.212478, 0.235747, 0.261565, 0.290210
     * and y_1 = sum_j w_1j v_j = (1.488852, 1.588852, 1.688852), not (1.61, 1.72, 1.83). */
    double e[4][4] = {{0.14, 0.32, 0.50, 0.68}, {0.32, 0.77, 1.22, 1.67}, {0.50, 1.22, 1.94, 2.66},
                      {0.68, 1.67, 2.66, 3.65}};
    double y1_by_hand[3] = {1.488852, 1.588852, 1.688852};
    double w1_by_hand[4] = {0.212478, 0.235747, 0.261565, 0.290210};

    double out[4][3], w[4][4], raw[4][4];
    attn_tensor tq = attn_tensor_2d(Q, ATTN_F64, 4, 3), tv = attn_tensor_2d(V, ATTN_F64, 4, 3);
    attn_tensor to = attn_tensor_2d(out, ATTN_F64, 4, 3), tw = attn_tensor_2d(w, ATTN_F64, 4, 4);
    attn_tensor tr = attn_tensor_2d(raw, ATTN_F64, 4, 4);
    attn_options dot = {0};
    dot.score = ATTN_SCORE_DOT;
    CHECK_OK(attn_scores(&tr, &tq, &tq, &dot));
    CHECK_OK(attn_forward(&to, NULL, &tw, &tq, &tq, &tv, NULL));
    for (int i = 0; i < 4; i++) {
        double a[4], m = -INFINITY, l = 0, y[3] = {0, 0, 0};
        for (int j = 0; j < 4; j++) {
            CHECK(test_close(raw[i][j], e[i][j], 1e-12, 0), "seed 002: e_%d%d = %.9f, by hand %.2f", i + 1, j + 1,
                  raw[i][j], e[i][j]);
            a[j] = e[i][j] / sqrt(3.0);
            m = fmax(m, a[j]);
        }
        for (int j = 0; j < 4; j++)
            l += exp(a[j] - m);
        for (int j = 0; j < 4; j++) {
            double wij = exp(a[j] - m) / l;
            CHECK(test_close(w[i][j], wij, 1e-12, 0), "seed 002: w_%d%d = %.9f, expected %.9f", i + 1, j + 1, w[i][j], wij);
            for (int d = 0; d < 3; d++)
                y[d] += wij * V[j][d];
        }
        for (int d = 0; d < 3; d++)
            CHECK(test_close(out[i][d], y[d], 1e-12, 0), "seed 002: y_%d[%d] = %.9f, expected %.9f", i + 1, d, out[i][d],
                  y[d]);
    }
    for (int j = 0; j < 4; j++)
        CHECK(fabs(w[0][j] - w1_by_hand[j]) < 5e-7, "seed 002: w_1%d = %.7f, by hand %.6f", j + 1, w[0][j], w1_by_hand[j]);
    for (int d = 0; d < 3; d++)
        CHECK(fabs(out[0][d] - y1_by_hand[d]) < 5e-7, "seed 002: y_1[%d] = %.7f, by hand %.6f", d, out[0][d],
              y1_by_hand[d]);
}

/* ------------------------------------------------------------------------
 * Properties
 * ------------------------------------------------------------------------ */

/* Runs a (1, 1, L, D) f64 problem with the given bias (or none). */
static void run_simple(double *out, double *w, double *lse, const double *q, const double *k, const double *v,
                       int64_t Lq, int64_t Lk, int64_t D, const attn_options *o)
{
    attn_tensor tq = attn_tensor_2d((void *)q, ATTN_F64, Lq, D), tk = attn_tensor_2d((void *)k, ATTN_F64, Lk, D);
    attn_tensor tv = attn_tensor_2d((void *)v, ATTN_F64, Lk, D), to = attn_tensor_2d(out, ATTN_F64, Lq, D);
    attn_tensor tw = attn_tensor_2d(w, ATTN_F64, Lq, Lk), tl = attn_tensor_1d(lse, ATTN_F64, Lq);
    CHECK_OK(attn_forward(&to, &tl, &tw, &tq, &tk, &tv, o));
}

static void test_properties(uint64_t seed)
{
    test_rng r = {seed ^ 0x77};
    enum { LQ = 6, LK = 9, D = 5 };
    for (int rep = 0; rep < 10; rep++) {
        double *q = randn(&r, LQ * D, 1, 0), *k = randn(&r, LK * D, 1, 0), *v = randn(&r, LK * D, 1, 0);
        double out[LQ * D], w[LQ * LK], lse[LQ], out2[LQ * D], w2[LQ * LK], lse2[LQ];
        unsigned char mask[LQ * LK];
        for (int x = 0; x < LQ * LK; x++)
            mask[x] = test_uniform(&r) < 0.7;
        attn_options o = {0};
        o.mask = attn_tensor_2d(mask, ATTN_BOOL, LQ, LK);
        o.causal = (attn_causal)(rep % 3);
        run_simple(out, w, lse, q, k, v, LQ, LK, D, &o);

        /* weights sum to 1 on every row with a visible key, else are all 0 */
        for (int i = 0; i < LQ; i++) {
            double sum = 0;
            for (int j = 0; j < LK; j++)
                sum += w[i * LK + j];
            if (isinf(lse[i]))
                CHECK(sum == 0, "property: fully masked row %d has weight sum %g [seed %llu]", i, sum,
                      (unsigned long long)seed);
            else
                CHECK(fabs(sum - 1) < 1e-12, "property: row %d weights sum to %.17g [seed %llu]", i, sum,
                      (unsigned long long)seed);
        }

        /* adding a constant to a row's scores changes nothing but the lse */
        double bias[LQ * LK];
        for (int i = 0; i < LQ; i++) {
            double cst = 10 * test_normal(&r);
            for (int j = 0; j < LK; j++)
                bias[i * LK + j] = cst;
        }
        attn_options ob = o;
        ob.bias = attn_tensor_2d(bias, ATTN_F64, LQ, LK);
        run_simple(out2, w2, lse2, q, k, v, LQ, LK, D, &ob);
        for (int x = 0; x < LQ * D; x++)
            CHECK(fabs(out2[x] - out[x]) < 1e-12, "property: row shift changed out[%d]: %.17g vs %.17g [seed %llu]", x,
                  out2[x], out[x], (unsigned long long)seed);
        for (int i = 0; i < LQ; i++)
            if (!isinf(lse[i]))
                CHECK(fabs(lse2[i] - (lse[i] + bias[i * LK])) < 1e-9, "property: lse shifts by the constant, row %d",
                      i);

        /* permuting keys and values together (and the mask's columns) changes
         * nothing; non-causal only, since causality ties keys to positions */
        if (o.causal == ATTN_CAUSAL_NONE) {
            int perm[LK];
            for (int j = 0; j < LK; j++)
                perm[j] = j;
            for (int j = LK - 1; j > 0; j--) {
                int s = (int)test_int(&r, 0, j), t = perm[j];
                perm[j] = perm[s], perm[s] = t;
            }
            double kp[LK * D], vp[LK * D];
            unsigned char mp[LQ * LK];
            for (int j = 0; j < LK; j++) {
                memcpy(kp + j * D, k + perm[j] * D, sizeof(double) * D);
                memcpy(vp + j * D, v + perm[j] * D, sizeof(double) * D);
                for (int i = 0; i < LQ; i++)
                    mp[i * LK + j] = mask[i * LK + perm[j]];
            }
            attn_options op = o;
            op.mask = attn_tensor_2d(mp, ATTN_BOOL, LQ, LK);
            run_simple(out2, w2, lse2, q, kp, vp, LQ, LK, D, &op);
            for (int x = 0; x < LQ * D; x++)
                CHECK(fabs(out2[x] - out[x]) < 1e-12, "property: permuting keys changed out[%d] [seed %llu]", x,
                      (unsigned long long)seed);
            for (int i = 0; i < LQ; i++)
                for (int j = 0; j < LK; j++)
                    CHECK(fabs(w2[i * LK + j] - w[i * LK + perm[j]]) < 1e-12, "property: permuted weights differ");
        }
        free(q), free(k), free(v);
    }
}

/* ------------------------------------------------------------------------
 * Extremes: fully masked rows, NaN/Inf behind the mask, huge scores
 * ------------------------------------------------------------------------ */

/* A window side of INT64_MAX is as good as unbounded: (MAX, MAX) is no window,
 * and (MAX, 0) is the bottom-right causal mask, also where Lq > Lk puts the
 * diagonal at a negative key index (diag - MAX would overflow int64).  Both
 * the reference (f64) and the kernel AUTO picks for f32. */
static void test_huge_window(void)
{
    enum { LQ = 5, LK = 2, D = 3 };
    double q[LQ * D], k[LK * D], v[LK * D];
    for (int x = 0; x < LQ * D; x++)
        q[x] = 0.3 * sin(x + 1.0);
    for (int x = 0; x < LK * D; x++)
        k[x] = 0.2 * cos(x + 2.0), v[x] = 0.1 * (x + 1);
    attn_options plain = {0}, causal = {0}, wide = {0}, wide_causal = {0};
    causal.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
    wide.window = wide_causal.window = 1;
    wide.window_left = wide.window_right = wide_causal.window_left = INT64_MAX;
    wide_causal.window_right = 0;
    const attn_options *pairs[2][2] = {{&wide, &plain}, {&wide_causal, &causal}};
    for (int c = 0; c < 2; c++) {
        double out1[LQ * D], w1[LQ * LK], l1[LQ], out2[LQ * D], w2[LQ * LK], l2[LQ];
        run_simple(out1, w1, l1, q, k, v, LQ, LK, D, pairs[c][0]);
        run_simple(out2, w2, l2, q, k, v, LQ, LK, D, pairs[c][1]);
        for (int x = 0; x < LQ * LK; x++)
            CHECK(w1[x] == w2[x], "window (INT64_MAX, %s), Lq %d > Lk %d, f64: weight %d is %g, expected %g",
                  c ? "0" : "INT64_MAX", LQ, LK, x, w1[x], w2[x]);
        float qf[LQ * D], kf[LK * D], vf[LK * D], of1[LQ * D], of2[LQ * D];
        for (int x = 0; x < LQ * D; x++)
            qf[x] = (float)q[x];
        for (int x = 0; x < LK * D; x++)
            kf[x] = (float)k[x], vf[x] = (float)v[x];
        attn_tensor tq = attn_tensor_2d(qf, ATTN_F32, LQ, D), tk = attn_tensor_2d(kf, ATTN_F32, LK, D);
        attn_tensor tv = attn_tensor_2d(vf, ATTN_F32, LK, D);
        attn_tensor t1 = attn_tensor_2d(of1, ATTN_F32, LQ, D), t2 = attn_tensor_2d(of2, ATTN_F32, LQ, D);
        CHECK_OK(attn_forward(&t1, NULL, NULL, &tq, &tk, &tv, pairs[c][0]));
        CHECK_OK(attn_forward(&t2, NULL, NULL, &tq, &tk, &tv, pairs[c][1]));
        for (int x = 0; x < LQ * D; x++)
            CHECK(of1[x] == of2[x], "window (INT64_MAX, %s), Lq %d > Lk %d, f32 (%s kernel): out[%d] is %g, expected %g",
                  c ? "0" : "INT64_MAX", LQ, LK, attn_kernel_name(attn_kernel_for(&tq, &tk, &tv, pairs[c][0])), x,
                  (double)of1[x], (double)of2[x]);
    }
}

static void test_extremes(void)
{
    enum { L = 4, D = 3 };
    double q[L * D], k[L * D], v[L * D], out[L * D], w[L * L], lse[L];
    for (int x = 0; x < L * D; x++)
        q[x] = k[x] = v[x] = 0.1 * (x + 1);

    /* a fully masked row: zeros, lse -inf, weights 0, never NaN */
    unsigned char mask[L * L];
    memset(mask, 1, sizeof mask);
    memset(mask + 2 * L, 0, L); /* row 2 sees nothing */
    attn_options o = {0};
    o.mask = attn_tensor_2d(mask, ATTN_BOOL, L, L);
    run_simple(out, w, lse, q, k, v, L, L, D, &o);
    CHECK(lse[2] == -INFINITY, "fully masked row: lse = %g, expected -inf", lse[2]);
    for (int d = 0; d < D; d++)
        CHECK(out[2 * D + d] == 0, "fully masked row: out[%d] = %g, expected 0", d, out[2 * D + d]);
    for (int j = 0; j < L; j++)
        CHECK(w[2 * L + j] == 0, "fully masked row: weight %d = %g", j, w[2 * L + j]);

    /* a bias of -inf everywhere also leaves a row with no visible key */
    double bias[L * L];
    for (int x = 0; x < L * L; x++)
        bias[x] = x < L ? -INFINITY : 0;
    attn_options ob = {0};
    ob.bias = attn_tensor_2d(bias, ATTN_F64, L, L);
    run_simple(out, w, lse, q, k, v, L, L, D, &ob);
    CHECK(lse[0] == -INFINITY && out[0] == 0 && !isnan(out[1]), "all -inf bias row: lse %g out %g", lse[0], out[0]);

    /* NaN and Inf in masked keys and values never reach the output */
    double kn[L * D], vn[L * D];
    memcpy(kn, k, sizeof kn);
    memcpy(vn, v, sizeof vn);
    kn[3 * D] = NAN, vn[3 * D + 1] = INFINITY, kn[3 * D + 2] = -INFINITY;
    unsigned char m3[L * L];
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++)
            m3[i * L + j] = j != 3;
    attn_options om = {0};
    om.mask = attn_tensor_2d(m3, ATTN_BOOL, L, L);
    run_simple(out, w, lse, q, kn, vn, L, L, D, &om);
    for (int x = 0; x < L * D; x++)
        CHECK(isfinite(out[x]), "masked NaN/Inf leaked into out[%d] = %g", x, out[x]);
    int64_t lens[1] = {3};
    attn_options ol = {0};
    ol.key_lengths = lens;
    run_simple(out, w, lse, q, kn, vn, L, L, D, &ol);
    for (int x = 0; x < L * D; x++)
        CHECK(isfinite(out[x]), "padded NaN/Inf leaked into out[%d] = %g", x, out[x]);
    attn_options oc = {0};
    oc.causal = ATTN_CAUSAL_TOP_LEFT;
    run_simple(out, w, lse, q, kn, vn, L, L, D, &oc);
    for (int x = 0; x < 3 * D; x++) /* rows 0..2 never see key 3 */
        CHECK(isfinite(out[x]), "causal-hidden NaN leaked into out[%d] = %g", x, out[x]);
    CHECK(isnan(out[3 * D]), "NaN in a visible key must reach its row: out[9] = %g", out[3 * D]);

    /* scores up to 1e30 in magnitude give finite weights */
    double qb[L * D], kb[L * D];
    for (int x = 0; x < L * D; x++) {
        qb[x] = (x % 2 ? 1e15 : -1e15) * (x % 5 + 1);
        kb[x] = 1e15 * ((x * 7) % 3 - 1);
    }
    attn_options od = {0};
    od.score = ATTN_SCORE_DOT;
    run_simple(out, w, lse, qb, kb, v, L, L, D, &od);
    for (int x = 0; x < L * D; x++)
        CHECK(isfinite(out[x]), "huge scores: out[%d] = %g", x, out[x]);
    for (int i = 0; i < L; i++) {
        double sum = 0;
        for (int j = 0; j < L; j++)
            sum += w[i * L + j];
        CHECK(fabs(sum - 1) < 1e-12 && isfinite(lse[i]), "huge scores: row %d sums to %g, lse %g", i, sum, lse[i]);
    }
    /* f32 inputs too */
    float qf[L * D], kf[L * D], vf[L * D], of[L * D];
    for (int x = 0; x < L * D; x++)
        qf[x] = (float)qb[x], kf[x] = (float)kb[x], vf[x] = (float)v[x];
    attn_tensor tq = attn_tensor_2d(qf, ATTN_F32, L, D), tk = attn_tensor_2d(kf, ATTN_F32, L, D);
    attn_tensor tv = attn_tensor_2d(vf, ATTN_F32, L, D), to = attn_tensor_2d(of, ATTN_F32, L, D);
    CHECK_OK(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &od));
    for (int x = 0; x < L * D; x++)
        CHECK(isfinite(of[x]), "huge f32 scores: out[%d] = %g", x, (double)of[x]);
    test_huge_window();
}

/* ------------------------------------------------------------------------
 * Attention pooling (seed 000's layer)
 * ------------------------------------------------------------------------ */

static void test_pool(uint64_t seed)
{
    test_rng r = {seed ^ 0x9999};
    enum { B = 3, L = 7, D = 5, DQ = 4 };
    double *x = randn(&r, B * L * D, 1, 0), *query = randn(&r, B * DQ, 1, 0), *W = randn(&r, DQ * D, 0.5, 0);
    double ctx[B * D], w[B * L];
    int64_t lengths[B] = {7, 3, 1};
    attn_tensor tx = attn_tensor_3d(x, ATTN_F64, B, L, D), tqr = attn_tensor_2d(query, ATTN_F64, B, DQ);
    attn_tensor tw = attn_tensor_2d(W, ATTN_F64, DQ, D), tc = attn_tensor_2d(ctx, ATTN_F64, B, D);
    attn_tensor twt = attn_tensor_2d(w, ATTN_F64, B, L);
    CHECK_OK(attn_pool(&tc, &twt, &tx, &tqr, &tw, lengths));
    for (int b = 0; b < B; b++) {
        /* energy = W x_j (seed 000: self.W(inputs)), score = energy . query */
        double s[L], m = -INFINITY, l = 0;
        for (int j = 0; j < lengths[b]; j++) {
            s[j] = 0;
            for (int a = 0; a < DQ; a++) {
                double energy = 0;
                for (int d = 0; d < D; d++)
                    energy += W[a * D + d] * x[(b * L + j) * D + d];
                s[j] += energy * query[b * DQ + a];
            }
            m = fmax(m, s[j]);
        }
        for (int j = 0; j < lengths[b]; j++)
            l += exp(s[j] - m);
        for (int d = 0; d < D; d++) {
            double c = 0;
            for (int j = 0; j < lengths[b]; j++)
                c += exp(s[j] - m) / l * x[(b * L + j) * D + d];
            CHECK(test_close(ctx[b * D + d], c, 1e-12, 1e-12), "pool: context[%d,%d] = %.17g, expected %.17g [seed %llu]",
                  b, d, ctx[b * D + d], c, (unsigned long long)seed);
        }
        for (int j = 0; j < L; j++) {
            double want = j < lengths[b] ? exp(s[j] - m) / l : 0;
            CHECK(test_close(w[b * L + j], want, 1e-12, 1e-12), "pool: weight[%d,%d] = %g, expected %g", b, j,
                  w[b * L + j], want);
        }
    }
    /* errors name the argument */
    attn_tensor bad = attn_tensor_2d(ctx, ATTN_F64, B, D + 1);
    CHECK_FAILS(attn_pool(&bad, NULL, &tx, &tqr, &tw, NULL), ATTN_ERR_INVALID, "context must be (B=3, D=5)");
    attn_tensor badw = attn_tensor_2d(W, ATTN_F64, DQ, D - 1);
    CHECK_FAILS(attn_pool(&tc, NULL, &tx, &tqr, &badw, NULL), ATTN_ERR_INVALID, "bilinear_w");
    free(x), free(query), free(W);
}

/* ------------------------------------------------------------------------
 * Every error path of the API
 * ------------------------------------------------------------------------ */

static void test_errors(void)
{
    float q[2 * 4 * 8], k[2 * 4 * 8], v[2 * 4 * 8], out[2 * 4 * 8], w[64], l[16];
    memset(q, 0, sizeof q), memset(k, 0, sizeof k), memset(v, 0, sizeof v);
    attn_tensor tq = attn_tensor_3d(q, ATTN_F32, 2, 4, 8), tk = attn_tensor_3d(k, ATTN_F32, 2, 4, 8);
    attn_tensor tv = attn_tensor_3d(v, ATTN_F32, 2, 4, 8), to = attn_tensor_3d(out, ATTN_F32, 2, 4, 8);
    CHECK_OK(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, NULL));

    CHECK_FAILS(attn_forward(NULL, NULL, NULL, &tq, &tk, &tv, NULL), ATTN_ERR_MISUSE, "out is NULL");
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, NULL, &tv, NULL), ATTN_ERR_MISUSE, "k is NULL");
    attn_tensor k7 = attn_tensor_3d(k, ATTN_F32, 2, 4, 7);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &k7, &tv, NULL), ATTN_ERR_INVALID, "k has head dim 7 but q has 8");
    attn_tensor k3 = attn_tensor_3d(k, ATTN_F32, 3, 4, 8);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &k3, &tv, NULL), ATTN_ERR_INVALID, "v has head 2 but k has 3");
    attn_tensor v5 = attn_tensor_3d(v, ATTN_F32, 2, 5, 8);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &v5, NULL), ATTN_ERR_INVALID, "v has length 5 but k has 4");
    attn_tensor q3h = attn_tensor_4d(q, ATTN_F32, 1, 3, 2, 8), k2h = attn_tensor_4d(k, ATTN_F32, 1, 2, 4, 8);
    attn_tensor v2h = attn_tensor_4d(v, ATTN_F32, 1, 2, 4, 8), o3h = attn_tensor_4d(out, ATTN_F32, 1, 3, 2, 8);
    CHECK_FAILS(attn_forward(&o3h, NULL, NULL, &q3h, &k2h, &v2h, NULL), ATTN_ERR_INVALID, "q has 3 heads, not a multiple");
    attn_tensor kb = attn_tensor_4d(k, ATTN_F32, 2, 1, 4, 8), qb = attn_tensor_4d(q, ATTN_F32, 1, 2, 4, 8);
    attn_tensor vb = attn_tensor_4d(v, ATTN_F32, 2, 1, 4, 8), ob = attn_tensor_4d(out, ATTN_F32, 1, 2, 4, 8);
    CHECK_FAILS(attn_forward(&ob, NULL, NULL, &qb, &kb, &vb, NULL), ATTN_ERR_INVALID, "k has batch size 2 but q has 1");
    attn_tensor o_bad = attn_tensor_3d(out, ATTN_F32, 2, 4, 9);
    CHECK_FAILS(attn_forward(&o_bad, NULL, NULL, &tq, &tk, &tv, NULL), ATTN_ERR_INVALID,
                "out has shape (2, 4, 9), expected (1, 2, 4, 8)");
    attn_tensor l_bad = attn_tensor_2d(l, ATTN_F32, 2, 5);
    CHECK_FAILS(attn_forward(&to, &l_bad, NULL, &tq, &tk, &tv, NULL), ATTN_ERR_INVALID, "lse has shape (2, 5), expected (1, 2, 4)");
    attn_tensor w_bad = attn_tensor_3d(w, ATTN_F32, 2, 4, 3);
    CHECK_FAILS(attn_forward(&to, NULL, &w_bad, &tq, &tk, &tv, NULL), ATTN_ERR_INVALID, "weights has shape (2, 4, 3)");
    attn_tensor o_bcast = to;
    o_bcast.stride[1] = 0;
    CHECK_FAILS(attn_forward(&o_bcast, NULL, NULL, &tq, &tk, &tv, NULL), ATTN_ERR_INVALID, "outputs cannot broadcast");
    attn_tensor q_bool = tq;
    q_bool.dtype = ATTN_BOOL;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_bool, &tk, &tv, NULL), ATTN_ERR_INVALID, "q has dtype bool");
    attn_tensor q_dt = tq;
    q_dt.dtype = (attn_dtype)42;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_dt, &tk, &tv, NULL), ATTN_ERR_INVALID, "unknown dtype 42");
    attn_tensor q_r5 = tq;
    q_r5.rank = 5;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_r5, &tk, &tv, NULL), ATTN_ERR_INVALID, "q has rank 5");
    attn_tensor q_r1 = attn_tensor_1d(q, ATTN_F32, 8);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_r1, &tk, &tv, NULL), ATTN_ERR_INVALID, "need rank 2 to 4");
    attn_tensor q_neg = tq;
    q_neg.shape[1] = -4;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_neg, &tk, &tv, NULL), ATTN_ERR_INVALID, "negative size -4");
    attn_tensor q_nstr = tq;
    q_nstr.stride[2] = -1;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_nstr, &tk, &tv, NULL), ATTN_ERR_INVALID, "negative stride");
    attn_tensor q_null = tq;
    q_null.data = NULL;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_null, &tk, &tv, NULL), ATTN_ERR_MISUSE, "data pointer is NULL");
    attn_tensor q_huge = attn_tensor_4d(q, ATTN_F32, INT64_C(1) << 31, INT64_C(1) << 31, INT64_C(1) << 31, 8);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_huge, &tk, &tv, NULL), ATTN_ERR_OVERFLOW, "overflow");
    attn_tensor q_span = tq;
    q_span.stride[0] = INT64_MAX / 2;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &q_span, &tk, &tv, NULL), ATTN_ERR_OVERFLOW, "q spans more than int64");

    attn_options o = {0};
    o.scale = NAN;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "scale is nan");
    memset(&o, 0, sizeof o);
    o.score = (attn_score)9;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "unknown score 9");
    memset(&o, 0, sizeof o);
    o.score = ATTN_SCORE_BILINEAR;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "needs opts->bilinear_w");
    o.bilinear_w = attn_tensor_2d(w, ATTN_F32, 8, 7);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "bilinear_w must be (Dq=8, Dk=8)");
    memset(&o, 0, sizeof o);
    o.score = ATTN_SCORE_ADDITIVE;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "needs opts->additive_wq");
    o.additive_wq = attn_tensor_2d(w, ATTN_F32, 3, 8);
    o.additive_wk = attn_tensor_2d(w, ATTN_F32, 2, 8);
    o.additive_v = attn_tensor_1d(w, ATTN_F32, 3);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "additive_wk must be (A=3, Dk=8)");
    o.additive_wk = attn_tensor_2d(w, ATTN_F32, 3, 8);
    o.additive_v = attn_tensor_1d(w, ATTN_F32, 4);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "additive_v must be (A=3)");
    o.additive_wq = attn_tensor_2d(w, ATTN_F32, 3, 5);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "additive_wq must be (A, Dq=8)");

    memset(&o, 0, sizeof o);
    unsigned char m[64];
    o.mask = attn_tensor_2d(m, ATTN_BOOL, 3, 4);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID,
                "mask has size 3 in dimension 0, which does not broadcast to (B=1, Hq=2, Lq=4, Lk=4)");
    o.mask = attn_tensor_2d(w, ATTN_F32, 4, 4);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "mask has dtype f32");
    memset(&o, 0, sizeof o);
    o.bias = attn_tensor_2d(m, ATTN_BOOL, 4, 4);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "bias has dtype bool");
    o.bias = attn_tensor_2d(w, ATTN_F32, 4, 5);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "bias has size 5 in dimension 1");
    memset(&o, 0, sizeof o);
    o.causal = (attn_causal)3;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "causal is 3");
    memset(&o, 0, sizeof o);
    o.window = 1, o.window_left = -2;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "window is (-2, 0)");
    memset(&o, 0, sizeof o);
    int64_t lens[1] = {5};
    o.key_lengths = lens;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "key_lengths[0] is 5, expected 0 to Lk=4");
    memset(&o, 0, sizeof o);
    float slopes[2] = {0.5f, INFINITY};
    o.alibi_slopes = slopes;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "alibi_slopes[1] is inf");
    memset(&o, 0, sizeof o);
    o.softcap = -1;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "softcap is -1");
    memset(&o, 0, sizeof o);
    o.dropout_p = 1;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "dropout_p is 1");
    memset(&o, 0, sizeof o);
    o.threads = -2;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "threads is -2, expected 0");
    memset(&o, 0, sizeof o);
    o.threads = 100000;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "threads is 100000, expected 0 (the default) to 4096");
    attn_tensor no_shape = attn_tensor_nd(q, ATTN_F32, 2, NULL);
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &no_shape, &tk, &tv, &o), ATTN_ERR_INVALID, "q has rank -1");
    memset(&o, 0, sizeof o);
    o.kernel = (attn_kernel)99;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_INVALID, "kernel is 99");

    /* packed batches */
    memset(&o, 0, sizeof o);
    int64_t cq[3] = {0, 3, 4}, ck[3] = {0, 2, 4}, bad[3] = {0, 3, 2};
    o.num_seqs = 2;
    CHECK_FAILS(attn_forward(&to, NULL, NULL, &tq, &tk, &tv, &o), ATTN_ERR_MISUSE, "cu_seqlens_q or cu_seqlens_k is NULL");
    o.cu_seqlens_q = cq, o.cu_seqlens_k = ck;
    attn_tensor q4 = attn_tensor_4d(q, ATTN_F32, 2, 1, 4, 8), k4 = attn_tensor_4d(k, ATTN_F32, 2, 1, 4, 8);
    attn_tensor v4 = attn_tensor_4d(v, ATTN_F32, 2, 1, 4, 8), o4 = attn_tensor_4d(out, ATTN_F32, 2, 1, 4, 8);
    CHECK_FAILS(attn_forward(&o4, NULL, NULL, &q4, &k4, &v4, &o), ATTN_ERR_INVALID, "needs batch size 1, q has 2");
    attn_tensor q1 = attn_tensor_2d(q, ATTN_F32, 4, 8), k1 = attn_tensor_2d(k, ATTN_F32, 4, 8);
    attn_tensor v1 = attn_tensor_2d(v, ATTN_F32, 4, 8), o1 = attn_tensor_2d(out, ATTN_F32, 4, 8);
    CHECK_OK(attn_forward(&o1, NULL, NULL, &q1, &k1, &v1, &o));
    o.cu_seqlens_k = bad;
    CHECK_FAILS(attn_forward(&o1, NULL, NULL, &q1, &k1, &v1, &o), ATTN_ERR_INVALID, "cu_seqlens_k decreases");
    int64_t short_q[3] = {0, 1, 3};
    o.cu_seqlens_k = ck, o.cu_seqlens_q = short_q;
    CHECK_FAILS(attn_forward(&o1, NULL, NULL, &q1, &k1, &v1, &o), ATTN_ERR_INVALID, "cu_seqlens_q[2] is 3, expected the packed length 4");
    o.key_lengths = lens;
    o.cu_seqlens_q = cq;
    CHECK_FAILS(attn_forward(&o1, NULL, NULL, &q1, &k1, &v1, &o), ATTN_ERR_INVALID, "key_lengths cannot be combined");
    o.key_lengths = NULL;
    o.num_seqs = -1;
    CHECK_FAILS(attn_forward(&o1, NULL, NULL, &q1, &k1, &v1, &o), ATTN_ERR_INVALID, "num_seqs is -1");

    /* attn_scores and the small helpers */
    attn_tensor s_bad = attn_tensor_2d(w, ATTN_F32, 4, 3);
    CHECK_FAILS(attn_scores(&s_bad, &q1, &k1, NULL), ATTN_ERR_INVALID, "scores has shape (4, 3), expected (1, 1, 4, 4)");
    attn_tensor absent = {0};
    CHECK_FAILS(attn_scores(&absent, &q1, &k1, NULL), ATTN_ERR_INVALID, "scores is an absent tensor");
    attn_score sc;
    CHECK_FAILS(attn_score_parse("cosinus", &sc), ATTN_ERR_INVALID, "unknown score 'cosinus'");
    CHECK(attn_score_parse("cosine", &sc) == ATTN_OK && sc == ATTN_SCORE_COSINE, "attn_score_parse(cosine)");
    CHECK(strcmp(attn_status_str(ATTN_ERR_FORMAT), "corrupt or unsupported file") == 0, "attn_status_str");
    CHECK(strcmp(attn_status_str((attn_status)77), "unknown status") == 0, "attn_status_str of an unknown code");
    CHECK(strcmp(attn_version(), ATTN_VERSION_STRING) == 0 && attn_version_number() == ATTN_VERSION_NUMBER,
          "version %s / %d", attn_version(), attn_version_number());
    attn_tensor t;
    int64_t shp[2] = {3, -1};
    CHECK_FAILS(attn_tensor_alloc(&t, ATTN_F32, 2, shp), ATTN_ERR_INVALID, "negative size -1");
    CHECK(t.data == NULL && t.rank == 0, "failed alloc leaves the absent tensor");
    int64_t big[2] = {INT64_MAX / 2, 3};
    CHECK_FAILS(attn_tensor_alloc(&t, ATTN_F64, 2, big), ATTN_ERR_OVERFLOW, "overflow");
    int64_t ok_shape[2] = {3, 5};
    CHECK_OK(attn_tensor_alloc(&t, ATTN_F64, 2, ok_shape));
    CHECK(t.stride[0] == 5 && t.stride[1] == 1 && ((double *)t.data)[14] == 0, "alloc gives a zeroed contiguous tensor");
    attn_tensor_free(&t);
    attn_tensor_free(&t); /* harmless twice */
    attn_free(NULL);
}

/* The reference is bitwise independent of the thread count. */
static void test_threads(uint64_t seed)
{
    test_rng r = {seed ^ 0x1234};
    enum { B = 2, H = 3, L = 33, D = 16 };
    double *q = randn(&r, B * H * L * D, 1, 0), *k = randn(&r, B * H * L * D, 1, 0), *v = randn(&r, B * H * L * D, 1, 0);
    double *o1 = calloc(B * H * L * D, sizeof(double)), *o2 = calloc(B * H * L * D, sizeof(double));
    attn_tensor tq = attn_tensor_4d(q, ATTN_F64, B, H, L, D), tk = attn_tensor_4d(k, ATTN_F64, B, H, L, D);
    attn_tensor tv = attn_tensor_4d(v, ATTN_F64, B, H, L, D);
    attn_tensor t1 = attn_tensor_4d(o1, ATTN_F64, B, H, L, D), t2 = attn_tensor_4d(o2, ATTN_F64, B, H, L, D);
    attn_options o = {0};
    o.kernel = ATTN_KERNEL_REFERENCE;
    o.threads = 1;
    CHECK_OK(attn_forward(&t1, NULL, NULL, &tq, &tk, &tv, &o));
    o.threads = 4;
    CHECK_OK(attn_forward(&t2, NULL, NULL, &tq, &tk, &tv, &o));
    CHECK(memcmp(o1, o2, sizeof(double) * B * H * L * D) == 0, "reference: 1 and 4 threads differ");
    attn_set_num_threads(3);
    CHECK(attn_get_num_threads() == 3, "attn_set_num_threads(3) -> %d", attn_get_num_threads());
    attn_set_num_threads(0);
    CHECK(attn_get_num_threads() >= 1, "attn_set_num_threads(0) restores the default");
    free(q), free(k), free(v), free(o1), free(o2);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_ref: seed %llu (replay with ATTN_TEST_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    test_seed002_example();
    test_random_configs(seed);
    test_named_sizes(seed);
    test_packed(seed);
    test_properties(seed);
    test_extremes();
    test_pool(seed);
    test_errors();
    test_threads(seed);
    return test_summary("test_ref");
}
