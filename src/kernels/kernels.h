/*
 * kernels.h - the micro-kernels of the tiled attention kernels, one table per
 * instruction set, and the drivers that use them.
 *
 * The drivers (flash_fwd.c, flash_bwd.c, portable C) do the tiling, masks,
 * online softmax bookkeeping and threading; everything whose cost grows with
 * Lq * Lk * D goes through this table.  All matrices are f32 and "lane
 * padded": the lane dimension r of every operand is a multiple of
 * ATTN_LANES (the padding holds anything finite or not: lanes never mix).
 */
#ifndef ATTN_KERNELS_H
#define ATTN_KERNELS_H

#include "core/internal.h"

#include <math.h>
#include <string.h>

#define ATTN_LANES 16    /* every lane count R is a multiple of this */
/* exp(r) ~ 1 + r (C1 + r (C2 + r (C3 + r (C4 + r C5)))) on [-ln2/2, ln2/2]:
 * the vector exps' polynomial (uk_tmpl.h) */
#define UK_EXP_C1 9.9999970198e-01f
#define UK_EXP_C2 4.9999147654e-01f
#define UK_EXP_C3 1.6667638719e-01f
#define UK_EXP_C4 4.1898161173e-02f
#define UK_EXP_C5 8.2902722061e-03f

/* The vector exps' common part, in the V* macros of the file that expands it
 * (uk_avx2.c, uk_avx512.c): x clamped below at -87.3 (NaN kept: x is max's
 * second operand), n = ROUND(x / ln 2), r = x - n ln 2 in two steps
 * (Cody-Waite), p = exp(r) by the polynomial above.  The caller scales p by
 * 2^n. */
#define UK_EXP_PARTS(x, n, p, ROUND)                                                                             \
    do {                                                                                                         \
        (x) = VMAX(VSET1(-87.3f), (x));                                                                          \
        (n) = ROUND(VMUL((x), VSET1(1.44269504088896341f)));                                                     \
        VF r_ = VFMA((n), VSET1(-0.693359375f), (x));                                                            \
        r_ = VFMA((n), VSET1(2.12194440e-4f), r_);                                                               \
        (p) = VFMA(VFMA(VFMA(VFMA(VFMA(VSET1(UK_EXP_C5), r_, VSET1(UK_EXP_C4)), r_, VSET1(UK_EXP_C3)), r_,          \
                             VSET1(UK_EXP_C2)),                                                                  \
                        r_, VSET1(UK_EXP_C1)),                                                                   \
                   r_, VSET1(1.0f));                                                                             \
    } while (0)

#define ATTN_MAX_PANEL 8 /* the widest panel of any table (attn_ukernels.panel) */

/* Weights of exactly +0 belong to hidden keys, and only to them: the exps
 * give a visible key at least ~1.2e-38 (their argument is clamped at
 * -87.3), and dropout zeroes a visible weight to -0 (attn_dropped_weight).
 * Where a product skips a key or replaces a non-finite row, it does so only
 * for +0, so that 0 * NaN of a dropped key still reaches its row as in the
 * reference. */
static inline bool attn_hidden_weight(float w)
{
    uint32_t u;
    memcpy(&u, &w, sizeof u);
    return u == 0;
}
/* The weight w after dropout zeroed it: -0 for a visible key, +0 stays. */
static inline float attn_dropped_weight(float w) { return attn_hidden_weight(w) ? w : -0.0f; }

/* Memory to bring into the caches (L2) while a product runs, spread over its
 * register tiles: rows rows of bytes bytes, stride bytes apart from base
 * (the next tile's K or V rows). */
typedef struct attn_prefetch {
    const char *base;
    int64_t stride, rows, bytes;
} attn_prefetch;

/* Most query rows per dot_axpy_rows call: the driver splits 7 rows into 6 + 1
 * (AVX2's dot of 7 rows needs more than its 16 registers: 0.80x the time of
 * one call, bench/README.md "Session 6"). */
#define ATTN_DEC_ROWS 6

typedef struct attn_ukernels {
    attn_kernel id;
    const char *name;
    /* C[n][r] (= or +=) sum_{k<K} X[k][r] * Y[n][k],  n < N, r < R.
     * X: K rows of stride ldx (lanes contiguous); Y: N row pointers, each
     * contiguous along k; C: N rows of stride ldc.  accumulate: += else =.
     * With cmax (R values): also cmax[r] = max(cmax[r], max_n C[n][r]),
     * taken while the tile is in registers (the forward's row maxima). */
    void (*gemm_a)(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, float *cmax);
    /* C[n][r] (= or +=) sum_{k<K} X[k][r] * Y[k][n],  Y: K row pointers, each
     * contiguous along n (Y[k] + n).  With alpha (R values) and accumulate,
     * C[n][r] = alpha[r] C[n][r] + sum ... (the online softmax's rescale). */
    void (*gemm_b)(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, const float *alpha);
    /* The forward's O^T update, with Y packed in panels of `panel` columns:
     * C[n][r] = alpha[r] C[n][r] + sum_{k<K} X[k][r] * Yp[n][k], where Yp[n][k]
     * is yp[(n / panel) * K * panel + k * panel + n % panel] (columns past N
     * in the last panel are not read).  pf (or NULL): memory to prefetch
     * meanwhile, spread over the register tiles. */
    int panel;
    void (*gemm_bp)(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *yp, float *c,
                    int64_t ldc, const float *alpha, const attn_prefetch *pf);
    /* Online softmax over a tile S[j][r] (j < nk rows of stride lds, r < R):
     *   mx = max(m[r], max_j S[j][r]) (max_j S[j][r] read from tmax[r] when
     *   tmax is not NULL: gemm_a's cmax);  mu = mx == -inf ? 0 : mx
     *   alpha[r] = exp(m[r] - mu) (1 when m[r] == mu);  S[j][r] = exp(S[j][r] - mu),
     *   exactly 0 where S was -inf;  l[r] = l[r] * alpha[r] + sum_j S[j][r];  m[r] = mx. */
    void (*softmax)(float *s, int64_t lds, int64_t nk, int64_t R, float *m, float *l, float *alpha,
                    const float *tmax);
    /* y[i] = exp(x[i] - sub[i / per]) for i < n (n % ATTN_LANES == 0), exactly 0
     * where x is -inf.  With per = n: one subtrahend. */
    void (*exp_sub)(const float *x, float *y, int64_t n, const float *sub, int64_t per);
    /* The softmax backward on rows of lanes: for i < n (n % ATTN_LANES == 0),
     * ds[i] = p[i] == 0 ? 0 : p[i] * (dp[i] - di[i / per]) * scale, in place
     * of dp (exactly 0 where p is 0, so a NaN dp of a hidden key stays out). */
    void (*dsoftmax)(const float *p, float *dp, int64_t n, int64_t per, const float *di, float scale);
    /* Decode, nr (1 .. ATTN_DEC_ROWS) query rows, row r at q + r ldq:
     *   s[r lds + j] = sum_{d<D} q_r[d] * k[j][d]                  for j < nk,
     *   o[r ldo + d] += sum_{j<nv} w[r lds + j] * v[j][d]          for d < Dv,
     * skipping weights +0 (hidden keys, attn_hidden_weight; a V row that no
     * row weighs is not read); the rows of k and v contiguous, of element
     * type kv (ATTN_KV_F32, ATTN_KV_F16 or ATTN_KV_BF16).  Both walks
     * advance key by key together, so that K and V stream from memory at
     * once (the driver pairs one block's keys with the previous block's
     * values), and each K or V row serves every query row. */
    void (*dot_axpy_rows)(int nr, int kv, const float *q, int64_t ldq, const void *const *k, int64_t nk, int64_t D,
                          float *s, const float *w, int64_t lds, float *o, int64_t ldo, const void *const *v,
                          int64_t nv, int64_t Dv);
    /* dst[i] = src[i] (16-bit values of element type kv, ATTN_KV_F16 or
     * ATTN_KV_BF16, to float, exact), i < n. */
    void (*widen16)(float *dst, const uint16_t *src, int64_t n, int kv);
    /* Peak probe: run `iters` rounds of independent FMA chains, return the
     * number of flops done (the caller times it). */
    double (*fma_probe)(int64_t iters);
} attn_ukernels;

extern const attn_ukernels attn_uk_scalar;
extern const attn_ukernels attn_uk_avx2;
extern const attn_ukernels attn_uk_avx512;

/* CPU detection (src/cpu/cpu.c), done once. */
bool attn_cpu_avx2(void);   /* AVX2 + FMA + F16C with YMM state enabled by the OS */
bool attn_cpu_avx512(void); /* AVX-512F/DQ/BW/VL with ZMM state enabled by the OS */
int64_t attn_cpu_l2_bytes(void); /* one core's L2 cache (1 MiB when unknown) */

/* The micro-kernel table of a tiled kernel (SCALAR, AVX2, AVX512), or NULL
 * when the CPU cannot run it (or for AUTO / REFERENCE). */
const attn_ukernels *attn_ukernels_get(attn_kernel k);

/* Can the tiled kernels run this problem?  NULL if yes, else the reason
 * ("f64 inputs", "the weights output", ...) for messages. */
const char *attn_tiled_unsupported(const attn_problem *p);

/* The element types of K and V rows in the decode micro-kernels. */
enum { ATTN_KV_F32 = 0, ATTN_KV_F16 = 1, ATTN_KV_BF16 = 2 };
static inline int attn_kv_of(attn_dtype dtype)
{
    return dtype == ATTN_F16 ? ATTN_KV_F16 : dtype == ATTN_BF16 ? ATTN_KV_BF16 : ATTN_KV_F32;
}

/* Element d of a K or V row of element type kv, as float. */
static inline float attn_kv_elem(const void *row, int64_t d, int kv)
{
    const uint16_t *h = row;
    return kv == ATTN_KV_F16 ? attn_half_to_float(h[d]) : kv == ATTN_KV_BF16 ? attn_bf16_to_float(h[d])
                                                                               : ((const float *)row)[d];
}

/* Element off of an input view of the tiled kernels (f32, f16 or bf16) as float. */
static inline float attn_in_f32(const attn_view4 *v, int64_t off)
{
    return attn_kv_elem(v->data, off, attn_kv_of(v->dtype));
}

/* |x| of row (a, b, c, :) of an f32, f16 or bf16 view (n elements), summed in double. */
static inline double attn_row_norm(const attn_view4 *v, int64_t a, int64_t b, int64_t c, int64_t n)
{
    double acc = 0;
    for (int64_t d = 0; d < n; d++) {
        double e = attn_in_f32(v, attn_off4(v, a, b, c, d));
        acc += e * e;
    }
    return sqrt(acc);
}

/* The cosine score's factor of a row of norm `norm`: s / max(norm, 1e-12),
 * rounded to float.  The forward scales q_i by it (s = scale) and the
 * product's column j by it (s = 1); the backward recomputes both alike, so
 * that its S is bitwise the forward's. */
static inline float attn_cosine_factor(double s, double norm) { return (float)(s / fmax(norm, 1e-12)); }

/* The drivers.  p validated, f32 throughout (attn_tiled_unsupported == NULL). */
attn_status attn_flash_forward(const attn_problem *p, const attn_ukernels *uk);
attn_status attn_flash_backward(const attn_problem *p, const attn_ukernels *uk);

#endif /* ATTN_KERNELS_H */
