/*
 * uk_scalar.c - the micro-kernels in portable C: the same contracts as the
 * vector ones (kernels.h), loops the compiler may vectorise for the baseline
 * instruction set, exp from libm with its argument clamped at -87.3 as the
 * vector exps clamp theirs (so a visible key's weight is never exactly 0).
 */
#include "kernels/kernels.h"

#include <math.h>

/* exp(x) for x <= 0 as the vector exps: x below -87.3 is taken as -87.3
 * (NaN stays NaN). */
static float exp_clamped(float x) { return expf(x < -87.3f ? -87.3f : x); }

static void gemm_a(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, float *cmax)
{
    for (int64_t n = 0; n < N; n++) {
        float *cr = c + n * ldc;
        if (!accumulate)
            for (int64_t r = 0; r < R; r++)
                cr[r] = 0;
        for (int64_t k = 0; k < K; k++) {
            float yk = y[n][k];
            const float *xk = x + k * ldx;
            for (int64_t r = 0; r < R; r++)
                cr[r] += xk[r] * yk;
        }
        if (cmax)
            for (int64_t r = 0; r < R; r++)
                cmax[r] = fmaxf(cmax[r], cr[r]);
    }
}

static void gemm_b(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, const float *alpha)
{
    for (int64_t n = 0; n < N; n++) {
        float *cr = c + n * ldc;
        if (!accumulate)
            for (int64_t r = 0; r < R; r++)
                cr[r] = 0;
        else if (alpha)
            for (int64_t r = 0; r < R; r++)
                cr[r] *= alpha[r];
        for (int64_t k = 0; k < K; k++) {
            float yk = y[k][n];
            const float *xk = x + k * ldx;
            for (int64_t r = 0; r < R; r++)
                cr[r] += xk[r] * yk;
        }
    }
}

#define PANEL 8

static void gemm_bp(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *yp, float *c,
                    int64_t ldc, const float *alpha, const attn_prefetch *pf)
{
    (void)pf; /* the portable kernel leaves the caches to the hardware */
    for (int64_t n = 0; n < N; n++) {
        const float *y = yp + n / PANEL * K * PANEL + n % PANEL;
        float *cr = c + n * ldc;
        for (int64_t r = 0; r < R; r++)
            cr[r] *= alpha[r];
        for (int64_t k = 0; k < K; k++) {
            float yk = y[k * PANEL];
            const float *xk = x + k * ldx;
            for (int64_t r = 0; r < R; r++)
                cr[r] += xk[r] * yk;
        }
    }
}

static void softmax_tile(float *s, int64_t lds, int64_t nk, int64_t R, float *m, float *l, float *alpha,
                         const float *tmax)
{
    for (int64_t r = 0; r < R; r++) {
        float mx = m[r];
        if (tmax)
            mx = fmaxf(mx, tmax[r]);
        else
            for (int64_t j = 0; j < nk; j++)
                mx = fmaxf(mx, s[j * lds + r]);
        float mu = mx == -INFINITY ? 0.0f : mx;
        float al = m[r] == mu ? 1.0f : exp_clamped(m[r] - mu), sum = 0;
        for (int64_t j = 0; j < nk; j++) {
            float *e = &s[j * lds + r];
            *e = *e == -INFINITY ? 0.0f : exp_clamped(*e - mu);
            sum += *e;
        }
        alpha[r] = al;
        l[r] = l[r] * al + sum;
        m[r] = mx;
    }
}

static void exp_sub(const float *x, float *y, int64_t n, const float *sub, int64_t per)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] == -INFINITY ? 0.0f : exp_clamped(x[i] - sub[i / per]);
}

static void dsoftmax(const float *p, float *dp, int64_t n, int64_t per, const float *di, float scale)
{
    for (int64_t i = 0; i < n; i++)
        dp[i] = p[i] == 0 ? 0.0f : p[i] * (dp[i] - di[i / per]) * scale;
}

static void dot_axpy_rows(int nr, int kv, const float *q, int64_t ldq, const void *const *k, int64_t nk, int64_t D,
                          float *s, const float *w, int64_t lds, float *o, int64_t ldo, const void *const *v,
                          int64_t nv, int64_t Dv)
{
    for (int64_t j = 0; j < nk || j < nv; j++)
        for (int r = 0; r < nr; r++) {
            if (j < nk) {
                float acc = 0;
                for (int64_t d = 0; d < D; d++)
                    acc += q[r * ldq + d] * attn_kv_elem(k[j], d, kv);
                s[r * lds + j] = acc;
            }
            if (j < nv && !attn_hidden_weight(w[r * lds + j]))
                for (int64_t d = 0; d < Dv; d++)
                    o[r * ldo + d] += w[r * lds + j] * attn_kv_elem(v[j], d, kv);
        }
}

static void widen16(float *dst, const uint16_t *src, int64_t n, int kv)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = attn_kv_elem(src, i, kv);
}

static double fma_probe(int64_t iters)
{
    float a[8];
    for (int i = 0; i < 8; i++)
        a[i] = (float)i;
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++)
            a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return (double)iters * 8 * 2;
}

const attn_ukernels attn_uk_scalar = {
    .id = ATTN_KERNEL_SCALAR,
    .name = "scalar",
    .gemm_a = gemm_a,
    .gemm_b = gemm_b,
    .panel = PANEL,
    .gemm_bp = gemm_bp,
    .softmax = softmax_tile,
    .exp_sub = exp_sub,
    .dsoftmax = dsoftmax,
    .dot_axpy_rows = dot_axpy_rows,
    .widen16 = widen16,
    .fma_probe = fma_probe,
};
