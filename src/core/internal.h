/*
 * internal.h - what the parts of libattn share and users never see.
 *
 * Everything here is private: no ATTN_API, no promise of stability.
 */
#ifndef ATTN_INTERNAL_H
#define ATTN_INTERNAL_H

#include "attn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Always-on check of an internal invariant (never of user input: user input
 * gets a status code).  A failure is a bug in attn. */
#define ATTN_ASSERT(cond)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "attn: internal error: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

#if defined(__GNUC__)
#define ATTN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ATTN_PRINTF(a, b)
#endif

/* Record the message of a failure on this thread and return `status`, so that
 * a check reads `return attn_fail(ATTN_ERR_INVALID, "q has rank %d", r);`.
 * The same function companion libraries call as attn_set_error (attn.h). */
#define attn_fail attn_set_error

/* Checked int64 arithmetic: false on overflow. */
static inline bool attn_mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline bool attn_add_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_add_overflow(a, b, r); }

/* Allocation that fails with a message instead of returning silently.
 * 64-byte aligned, so vector kernels may use aligned loads on scratch.
 * Free with attn_free.  `what` names the buffer in the message. */
void *attn_alloc(size_t bytes, const char *what);

/* IEEE binary16 h as a float (exact): the sign, then a subnormal (scaled
 * by 2^-24), a normal (exponent rebiased from 15 to 127), or Inf/NaN. */
static inline float attn_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0) {
        float f = (float)m * 0x1p-24f; /* zero or subnormal: m * 2^-24, exact */
        memcpy(&u, &f, sizeof u);
    } else if (e == 31)
        u = m ? 0x7fc00000u | m << 13 : 0x7f800000u; /* NaN (quiet, payload kept, as F16C does), Inf */
    else
        u = (e + 112) << 23 | m << 13;
    u |= sign;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The binary16 nearest to x (ties to even; overflow to Inf, NaN quiet). */
static inline uint16_t attn_half_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: quiet, top payload bits */
        return (uint16_t)(sign | 0x7e00u | (a >> 13 & 0x3ffu));
    if (a >= 0x477ff000u) /* rounds to 65520 or more: Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half, m * 2^-24 */
        if (a < 0x33000000u) /* below 2^-25, half the least subnormal: 0 (2^-25 itself ties to even 0) */
            return sign;
        /* a = M * 2^(e - 150) with M the 24-bit significand: m = M * 2^(e -
         * 126), a right shift by 126 - e (14 to 24 here), rounded to nearest
         * even in integers (not by the current rounding mode) */
        uint32_t M = (a & 0x7fffffu) | 0x800000u, sh = 126 - (a >> 23);
        uint32_t m = M >> sh, rest = M & ((1u << sh) - 1), half = 1u << (sh - 1);
        m += rest > half || (rest == half && (m & 1u));
        return (uint16_t)(sign | m); /* m == 1024: the least normal, 2^-14, as it should */
    }
    /* normal: rebias, then round the 13 dropped bits to nearest even (a
     * carry out of the mantissa bumps the exponent, as it should) */
    uint32_t r = a - ((uint32_t)(127 - 15) << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

/* bfloat16 b as a float (exact: b is a float's top 16 bits). */
static inline float attn_bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The bfloat16 nearest to x (ties to even in integers, whatever the rounding
 * mode; overflow to Inf; NaN quiet, top payload bits kept). */
static inline uint16_t attn_bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet, its sign and top payload bits */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u); /* a carry into the exponent rounds up, to Inf at the top */
    return (uint16_t)(u >> 16);
}

/* Read element `off` (in elements) of data of dtype f32/f64/f16/bf16/bool as double. */
static inline double attn_load(const void *data, attn_dtype dtype, int64_t off)
{
    switch (dtype) {
    case ATTN_F32: return (double)((const float *)data)[off];
    case ATTN_F64: return ((const double *)data)[off];
    case ATTN_BOOL: return ((const unsigned char *)data)[off] ? 1.0 : 0.0;
    case ATTN_F16: return (double)attn_half_to_float(((const uint16_t *)data)[off]);
    case ATTN_BF16: return (double)attn_bf16_to_float(((const uint16_t *)data)[off]);
    }
    return 0.0;
}

/* Store x at element `off` of data of dtype f32 or f64 (f32 rounds). */
static inline void attn_store(void *data, attn_dtype dtype, int64_t off, double x)
{
    if (dtype == ATTN_F32)
        ((float *)data)[off] = (float)x;
    else
        ((double *)data)[off] = x;
}

/* A tensor read as exactly four dimensions: lower ranks are padded on the
 * left with size 1, stride 0.  Element (a, b, c, d) is at
 * a*st[0] + b*st[1] + c*st[2] + d*st[3]. */
typedef struct attn_view4 {
    void *data;
    attn_dtype dtype;
    int64_t n[4];
    int64_t st[4];
} attn_view4;

attn_view4 attn_view4_of(const attn_tensor *t);

static inline int64_t attn_off4(const attn_view4 *v, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a * v->st[0] + b * v->st[1] + c * v->st[2] + d * v->st[3];
}

/* Validate `t` (attn_tensor_check) and that its dtype is allowed by the mask
 * of (1 << dtype) bits in `dtypes`.  `fn` and `name` label the message. */
attn_status attn_check_arg(const attn_tensor *t, const char *fn, const char *name, unsigned dtypes);

#define ATTN_DT(d) (1u << (d))
#define ATTN_DT_FLOAT (ATTN_DT(ATTN_F32) | ATTN_DT(ATTN_F64))
#define ATTN_DT_HALF (ATTN_DT(ATTN_F16) | ATTN_DT(ATTN_BF16)) /* the 16-bit inputs */
#define ATTN_DT_INPUT (ATTN_DT_FLOAT | ATTN_DT_HALF)              /* q, k and v */

/* Is t given (an optional tensor)? */
static inline bool attn_present(const attn_tensor *t) { return t != NULL && t->rank != 0; }

/* Everything an attention call needs, checked once and shared by the
 * reference and the fast kernels. */
typedef struct attn_problem {
    attn_view4 q, k, v, out, lse, weights, mask, bias; /* lse: n = {B, Hq, Lq, 1} */
    bool has_lse, has_weights, has_mask, has_bias;
    int64_t B, Hq, Hkv, Lq, Lk, Dq, Dk, Dv;
    int64_t group; /* Hq / Hkv */
    attn_score score;
    double scale; /* resolved: never 0 */
    attn_causal causal;
    bool window;
    int64_t window_left, window_right;
    const int64_t *key_lengths;
    int64_t num_seqs;
    const int64_t *cu_q, *cu_k;
    const float *alibi;
    double softcap;
    double dropout_p;
    uint64_t dropout_seed;
    attn_view4 bilinear_w; /* (1, Hw, Dq, Dk), Hw = 1 or Hq */
    attn_view4 add_wq, add_wk, add_v; /* (1,1,A,Dq), (1,1,A,Dk), (1,1,1,A) */
    int64_t add_a;
    int threads;
    attn_kernel kernel;
    /* backward only (attn_problem_init_backward): out and lse are inputs */
    attn_view4 dq, dk, dv, dout;
    bool backward;
} attn_problem;

/* Check every argument of an attention call and fill *p.  `fn` names the
 * public function in messages.  out and lse/weights may be NULL when the
 * caller wants none (attn_scores passes its scores as `weights`). */
attn_status attn_problem_init(attn_problem *p, const char *fn, const attn_tensor *out, const attn_tensor *lse,
                              const attn_tensor *weights, const attn_tensor *q, const attn_tensor *k,
                              const attn_tensor *v, const attn_options *opts);

/* The same for attn_backward: q, k, v, out, lse, dout are inputs (out and
 * lse shaped as the forward writes them, any strides), dq, dk, dv outputs of
 * the shapes of q, k, v.  Sets p->backward. */
attn_status attn_problem_init_backward(attn_problem *p, const char *fn, const attn_tensor *dq, const attn_tensor *dk,
                                       const attn_tensor *dv, const attn_tensor *dout, const attn_tensor *q,
                                       const attn_tensor *k, const attn_tensor *v, const attn_tensor *out,
                                       const attn_tensor *lse, const attn_options *opts);

/* The key/value head a query head reads. */
static inline int64_t attn_kv_head(const attn_problem *p, int64_t h) { return h / p->group; }

/* The sequence geometry of query row i of batch b: keys [*k0, *k1) may be
 * visible, and *off is the diagonal alignment (key index relative to k0 of
 * the diagonal for the row's first query, see attn.h).  *i_local is i's index
 * inside its sequence.  Rows outside every sequence (cannot happen after
 * validation) get an empty range. */
void attn_row_geometry(const attn_problem *p, int64_t b, int64_t i, int64_t *k0, int64_t *k1, int64_t *i_local,
                       int64_t *off);

/* The visible key range [*lo, *hi) of row i of batch b by sequence bounds,
 * key lengths, causality and the window (before the boolean mask and the
 * bias), and the absolute index of its diagonal key (for ALiBi).  An empty
 * range is *lo == *hi == 0.  What the tiled kernels iterate over. */
void attn_row_range(const attn_problem *p, int64_t b, int64_t i, int64_t *lo, int64_t *hi, int64_t *diag);

/* Is key j (absolute index) hidden for query row i of batch b / head h, by
 * causal, window, key lengths, sequence bounds or the boolean mask?  (The
 * bias and -inf scores are handled where scores are computed.) */
bool attn_key_hidden(const attn_problem *p, int64_t b, int64_t h, int64_t i, int64_t j);

/* The most threads one call may use; scratch sizes are checked against it. */
#define ATTN_MAX_THREADS 4096

/* Threads for this problem (opts->threads or the global default). */
int attn_resolve_threads(int requested);

#endif /* ATTN_INTERNAL_H */
