/*
 * attn.h - the attention mechanism in C: exact, fast and complete.
 *
 * This header is the whole public interface of libattn and its documentation.
 * ../shared/SEMANTICS.md (in the project: docs/SEMANTICS.md) fixes what every
 * option means; the comments below state each function's contract:
 * shapes, ownership, what it overwrites and how it fails.
 *
 * Conventions
 *   - Every function that can fail returns an attn_status.  On failure it
 *     leaves a message naming the argument and the values that were wrong,
 *     readable with attn_errmsg(), and leaves its outputs in an unspecified
 *     state but never half-written files.  The library never aborts, exits
 *     or prints because of user input.
 *   - Tensors are strided views (attn_tensor).  The library never takes
 *     ownership of a view's data unless a function says so.
 *   - Sizes and indices are int64_t.
 *
 * Quick start
 *
 *     float q[4*3], k[4*3], v[4*3], out[4*3];
 *     attn_tensor tq = attn_tensor_2d(q, ATTN_F32, 4, 3), ...;
 *     if (attn_forward(&tout, NULL, NULL, &tq, &tk, &tv, NULL) != ATTN_OK)
 *         fprintf(stderr, "%s\n", attn_errmsg());
 */
#ifndef ATTN_H
#define ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(ATTN_SHARED_BUILD)
#define ATTN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ATTN_API __attribute__((visibility("default")))
#else
#define ATTN_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 1
#define ATTN_VERSION_PATCH 0
#define ATTN_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH */
#define ATTN_VERSION_NUMBER 1000

/* The version of the library actually linked, as a string and a number in
 * the form of ATTN_VERSION_STRING / ATTN_VERSION_NUMBER.  Cannot fail. */
ATTN_API const char *attn_version(void);
ATTN_API int attn_version_number(void);

/* ------------------------------------------------------------------------
 * Status codes and messages
 * ------------------------------------------------------------------------ */

/* Stable values: they will never be renumbered. */
typedef enum attn_status {
    ATTN_OK = 0,              /* success */
    ATTN_ERR_INVALID = 1,     /* an argument has a wrong shape, stride or value */
    ATTN_ERR_NOMEM = 2,       /* a memory allocation failed */
    ATTN_ERR_OVERFLOW = 3,    /* sizes too large: a product overflows int64 */
    ATTN_ERR_IO = 4,          /* a file could not be opened, read or written */
    ATTN_ERR_FORMAT = 5,      /* a file is corrupt, truncated or of an unsupported kind */
    ATTN_ERR_UNSUPPORTED = 6, /* valid, but not supported by the requested kernel */
    ATTN_ERR_MISUSE = 7       /* a contract violation: NULL where a pointer is required */
} attn_status;

/* A short English description of a status code ("invalid argument").  Never
 * NULL; unknown codes give "unknown status".  Static storage. */
ATTN_API const char *attn_status_str(attn_status status);

/* The detailed message of the most recent failure on the calling thread, for
 * example "attn_forward: k has head dim 7 but q has 8".  Successful calls
 * leave it alone.  The string lives in thread-local storage and stays valid
 * until the next failing attn call on the same thread.  "" if none. */
ATTN_API const char *attn_errmsg(void);

/* ------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------ */

/* Free memory that attn allocated for the caller (attn_tensor_alloc,
 * attn_npy_load ...).  attn_free(NULL) is harmless. */
ATTN_API void attn_free(void *ptr);

/* ------------------------------------------------------------------------
 * Tensors: strided views
 * ------------------------------------------------------------------------ */

#define ATTN_MAX_RANK 4

typedef enum attn_dtype {
    ATTN_F32 = 1,  /* float */
    ATTN_F64 = 2,  /* double */
    ATTN_BOOL = 3, /* one byte per element, 0 = false, anything else = true */
    ATTN_F16 = 4,  /* IEEE 754 binary16 in a uint16_t: q, k and v only (a
                      half-precision key/value cache); read exactly, computed in f32 */
    ATTN_BF16 = 5  /* bfloat16 (the top 16 bits of a float) in a uint16_t: q, k
                      and v only, as f16 */
} attn_dtype;

/* A view of rank 1..4 (rank 0 marks an absent optional tensor).  Element
 * (i0, .., i{r-1}) lives at data + sum_d i_d * stride[d] elements (not bytes).
 * Strides are >= 0; a stride of 0 on an input broadcasts that dimension.
 * Output views must not overlap themselves or the inputs. */
typedef struct attn_tensor {
    void *data;
    attn_dtype dtype;
    int rank;
    int64_t shape[ATTN_MAX_RANK];
    int64_t stride[ATTN_MAX_RANK];
} attn_tensor;

/* Size in bytes of one element of dtype; 0 for an unknown dtype. */
ATTN_API size_t attn_dtype_size(attn_dtype dtype);
/* "f32", "f64", "bool", "f16", "bf16", or "unknown". */
ATTN_API const char *attn_dtype_name(attn_dtype dtype);

/* IEEE 754 binary16 ("half", ATTN_F16) from and to float, n values.  To half:
 * rounded to nearest, ties to even, whatever the floating-point rounding
 * mode; from 65520 (halfway from the largest half, 65504, to 2^16) on +-Inf;
 * at or below half the smallest subnormal (2^-25) +-0; NaN stays NaN (quiet,
 * its sign and top payload bits kept).  To float: exact (NaN made quiet). */
ATTN_API void attn_f16_from_f32(uint16_t *dst, const float *src, size_t n);
ATTN_API void attn_f32_from_f16(float *dst, const uint16_t *src, size_t n);

/* bfloat16 (ATTN_BF16: a float's sign, 8-bit exponent and top 7 mantissa
 * bits) from and to float, n values.  To bfloat16: rounded to nearest, ties
 * to even, whatever the floating-point rounding mode (from 0x1.ffp127 on
 * +-Inf; subnormals kept as such); NaN stays NaN (quiet, sign and top payload
 * bits kept).  To float: exact (the 16 bits shifted up; NaN kept as it is). */
ATTN_API void attn_bf16_from_f32(uint16_t *dst, const float *src, size_t n);
ATTN_API void attn_f32_from_bf16(float *dst, const uint16_t *src, size_t n);

/* Contiguous (C order) views over caller-owned memory.  They only fill in the
 * struct: no allocation, no validation, cannot fail.  attn_tensor_nd takes
 * rank <= ATTN_MAX_RANK sizes; a bad rank, a NULL shape or sizes whose
 * product overflows give a view that attn_tensor_check refuses. */
ATTN_API attn_tensor attn_tensor_nd(void *data, attn_dtype dtype, int rank, const int64_t *shape);
ATTN_API attn_tensor attn_tensor_1d(void *data, attn_dtype dtype, int64_t n0);
ATTN_API attn_tensor attn_tensor_2d(void *data, attn_dtype dtype, int64_t n0, int64_t n1);
ATTN_API attn_tensor attn_tensor_3d(void *data, attn_dtype dtype, int64_t n0, int64_t n1, int64_t n2);
ATTN_API attn_tensor attn_tensor_4d(void *data, attn_dtype dtype, int64_t n0, int64_t n1, int64_t n2,
                                    int64_t n3);

/* Number of elements (product of the shape); 0 for an absent tensor.
 * Assumes a tensor that passed attn_tensor_check. */
ATTN_API int64_t attn_tensor_numel(const attn_tensor *t);

/* Validate a view: known dtype, rank 1..4, sizes >= 0, strides >= 0, data
 * non-NULL when it has elements, and no int64 overflow in the element count or
 * the largest offset.  `name` is used in the message ("q has rank 5 ..."). */
ATTN_API attn_status attn_tensor_check(const attn_tensor *t, const char *name);

/* Allocate a zero-filled contiguous tensor.  On success t->data is owned by
 * the caller and released with attn_tensor_free(t).  On failure *t is left
 * with data == NULL and rank == 0. */
ATTN_API attn_status attn_tensor_alloc(attn_tensor *t, attn_dtype dtype, int rank, const int64_t *shape);
/* Free t->data (allocated by attn) and reset *t to the absent tensor.
 * Harmless on an absent tensor or NULL. */
ATTN_API void attn_tensor_free(attn_tensor *t);

/* ------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------
 *
 * Shapes (PyTorch's): q (B, Hq, Lq, Dq), k (B, Hkv, Lk, Dk), v (B, Hkv, Lk, Dv),
 * out (B, Hq, Lq, Dv), lse (B, Hq, Lq), weights (B, Hq, Lq, Lk).
 * Tensors of lower rank are read right-aligned with leading sizes of 1, so a
 * learner can pass q as (Lq, D) and get out as (Lq, D).
 * Hq % Hkv == 0: query head h reads key/value head h / (Hq / Hkv) (GQA/MQA);
 * K and V are never copied.  Dq == Dk except for the bilinear and additive
 * scores, which map between the two spaces.
 *
 * The score of query i and key j, then what is applied to it, in order:
 *   1. score:   scaled dot  s = scale * q_i . k_j   (scale default 1/sqrt(Dq))
 *               dot         s = scale * q_i . k_j   (scale default 1)
 *               cosine      s = scale * q_i . k_j / (max(|q_i|,1e-12) max(|k_j|,1e-12))
 *               bilinear    s = scale * q_i^T W k_j  (W: (Dq, Dk) or (Hq, Dq, Dk))
 *               additive    s = scale * v_a^T tanh(Wq q_i + Wk k_j)
 *   2. soft-cap s = c * tanh(s / c)              if softcap > 0
 *   3. ALiBi    s -= slope_h * |i + off - j|     if alibi_slopes
 *   4. bias     s += bias[b, h, i, j]            if bias (additive float mask)
 *   5. visibility: key j is hidden when any of these says so:
 *        causal       j > i + off
 *        window       j < i + off - window_left  (window_left >= 0)
 *                     j > i + off + window_right (window_right >= 0)
 *        mask         mask[b, h, i, j] == false  (true means may attend)
 *        key_lengths  j >= key_lengths[b]
 *        a score of -inf (from the bias, say) hides its key too.
 *   where off is the diagonal's alignment: 0 for ATTN_CAUSAL_TOP_LEFT (PyTorch
 *   is_causal: query i sees keys j <= i), and Lk_b - Lq otherwise (bottom-right,
 *   FlashAttention >= 2.1 and KV-cache decoding), Lk_b being key_lengths[b] when
 *   given and Lk otherwise.  In a packed batch Lq and Lk are the sequence's own.
 *   6. softmax over the visible keys, subtracting the row maximum;
 *      lse_i = log sum_j exp(s_ij).
 *   7. dropout: weight p_ij is kept, scaled by 1/(1-p), when
 *      attn_dropout_uniform(seed, b, h, i, j) >= p, and zeroed otherwise.
 *   8. out_i = sum_j p_ij v_j.
 * A hidden key never contributes, even if its K or V holds NaN or Inf.  A
 * query with no visible key gets out = 0, lse = -inf and weights = 0.
 * NaN in a visible input propagates to the rows it touches and nowhere else.
 */

typedef enum attn_score {
    ATTN_SCORE_SCALED_DOT = 0, /* default */
    ATTN_SCORE_DOT = 1,
    ATTN_SCORE_COSINE = 2,
    ATTN_SCORE_BILINEAR = 3,
    ATTN_SCORE_ADDITIVE = 4
} attn_score;

/* "scaled_dot", "dot", "cosine", "bilinear", "additive"; "unknown" else. */
ATTN_API const char *attn_score_name(attn_score score);
/* Parse one of those names into *score.  ATTN_ERR_INVALID if unknown. */
ATTN_API attn_status attn_score_parse(const char *name, attn_score *score);

typedef enum attn_causal {
    ATTN_CAUSAL_NONE = 0,
    ATTN_CAUSAL_TOP_LEFT = 1,    /* PyTorch is_causal: j <= i */
    ATTN_CAUSAL_BOTTOM_RIGHT = 2 /* FlashAttention, KV cache: j <= i + Lk - Lq */
} attn_causal;

/* Which implementation runs.  ATTN_KERNEL_AUTO picks the fastest one that
 * supports the call; the others force a choice (ATTN_ERR_UNSUPPORTED when the
 * CPU or the call's options do not allow it). */
typedef enum attn_kernel {
    ATTN_KERNEL_AUTO = 0,
    ATTN_KERNEL_REFERENCE = 1, /* readable, accumulates in double: the oracle */
    ATTN_KERNEL_SCALAR = 2,    /* tiled, portable C */
    ATTN_KERNEL_AVX2 = 3,      /* tiled, AVX2 + FMA (+ F16C) */
    ATTN_KERNEL_AVX512 = 4     /* tiled, AVX-512F */
} attn_kernel;

/* Options of one attention call.  Zero-initialised ({0}) means the defaults:
 * scaled dot product, no mask, no dropout, automatic kernel and threads. */
typedef struct attn_options {
    attn_score score;
    double scale;          /* multiplies the score; 0 = the score's default (above) */
    attn_causal causal;
    int window;            /* nonzero: apply window_left / window_right */
    int64_t window_left;   /* keys before the diagonal that stay visible; -1 = unbounded */
    int64_t window_right;  /* keys after the diagonal that stay visible; -1 = unbounded */
    attn_tensor mask;      /* optional ATTN_BOOL, broadcast to (B, Hq, Lq, Lk); true = attend */
    attn_tensor bias;      /* optional f32/f64, broadcast to (B, Hq, Lq, Lk); added to scores */
    const int64_t *key_lengths; /* optional, B entries in [0, Lk]: keys j >= key_lengths[b] hidden */
    /* Packed variable-length batch: num_seqs > 0 sequences packed along L with
     * B == 1; sequence s owns queries cu_seqlens_q[s] .. cu_seqlens_q[s+1]-1 and
     * keys cu_seqlens_k[s] .. cu_seqlens_k[s+1]-1 (num_seqs + 1 nondecreasing
     * entries each, from 0 to Lq and to Lk).  Queries see only their sequence's
     * keys; masks, bias and dropout use packed (global) positions. */
    int64_t num_seqs;
    const int64_t *cu_seqlens_q;
    const int64_t *cu_seqlens_k;
    const float *alibi_slopes; /* optional, Hq entries */
    double softcap;        /* > 0: s = softcap * tanh(s / softcap) */
    double dropout_p;      /* in [0, 1) */
    uint64_t dropout_seed;
    attn_tensor bilinear_w;  /* ATTN_SCORE_BILINEAR: (Dq, Dk) or (Hq, Dq, Dk) */
    attn_tensor additive_wq; /* ATTN_SCORE_ADDITIVE: (A, Dq) */
    attn_tensor additive_wk; /* ATTN_SCORE_ADDITIVE: (A, Dk) */
    attn_tensor additive_v;  /* ATTN_SCORE_ADDITIVE: (A) */
    int threads;           /* > 0: threads for this call; 0 = attn_get_num_threads() */
    attn_kernel kernel;
} attn_options;

/* Attention forward.
 *   out      (B, Hq, Lq, Dv) f32 or f64, overwritten.  Required.
 *   lse      (B, Hq, Lq) f32 or f64, overwritten; NULL or rank 0 = not wanted.
 *   weights  (B, Hq, Lq, Lk) f32 or f64, overwritten with the weights p_ij
 *            actually applied (after dropout), so out = weights @ v; NULL or
 *            rank 0 = not wanted.  O(Lq * Lk) memory: for inspection only.
 *   q, k, v  f32, f64, f16 or bf16 inputs, read only (each its own dtype;
 *            f16 or bf16 is the usual key/value cache of a decoder).
 *   opts     NULL = defaults.
 * Returns ATTN_OK, or an error naming the argument (shapes, dtypes, option
 * values) with the outputs possibly partly written.  Allocates only scratch
 * memory, freed before returning. */
ATTN_API attn_status attn_forward(const attn_tensor *out, const attn_tensor *lse, const attn_tensor *weights,
                                  const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                                  const attn_options *opts);

/* The scores after steps 1-5 above, before the softmax: (B, Hq, Lq, Lk) f32 or
 * f64, overwritten; hidden keys get -inf.  The step a learner prints between
 * "q.k" and "softmax".  Same arguments and errors as attn_forward. */
ATTN_API attn_status attn_scores(const attn_tensor *scores, const attn_tensor *q, const attn_tensor *k,
                                 const attn_options *opts);

/* Attention pooling with one query per sequence (seed 000's layer):
 *   s_j = query^T W x_j,  a = softmax(s),  context = sum_j a_j x_j.
 *   context  (B, D) out, overwritten.       weights (B, L) out, overwritten; NULL = not wanted.
 *   x        (B, L, D) the sequence, both keys and values.
 *   query    (B, Dq).                      w (Dq, D).
 *   lengths  optional B entries: positions j >= lengths[b] are padding.
 * Errors as attn_forward. */
ATTN_API attn_status attn_pool(const attn_tensor *context, const attn_tensor *weights, const attn_tensor *x,
                               const attn_tensor *query, const attn_tensor *w, const int64_t *lengths);

/* The dropout generator, counter-based so that a forward and a backward pass,
 * any kernel and any thread count draw the same mask: a uniform number in
 * [0, 1) (a multiple of 2^-24) that depends only on its five arguments.
 * Definition, with mix64 = splitmix64's finaliser and fmix32 = MurmurHash3's:
 *   r = mix64((mix64((mix64((seed ^ b) + G) ^ h) + G) ^ i) + G), G = 0x9E3779B97F4A7C15
 *   x = fmix32((uint32_t)r ^ (uint32_t)j * 0x9E3779B9u)
 *   x = fmix32(x ^ (uint32_t)(r >> 32))
 *   u = (x >> 8) * 2^-24
 * Cannot fail. */
ATTN_API double attn_dropout_uniform(uint64_t seed, int64_t b, int64_t h, int64_t i, int64_t j);

/* ------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------ */

/* The default thread count for calls whose options say threads = 0.  Starts
 * at the environment's ATTN_NUM_THREADS if set, else OpenMP's default.
 * attn_set_num_threads(n <= 0) restores that starting value.  Results do not
 * depend on the thread count beyond rounding. */
ATTN_API void attn_set_num_threads(int n);
ATTN_API int attn_get_num_threads(void);

/* ------------------------------------------------------------------------
 * .npy files (NumPy format versions 1.0, 2.0 and 3.0)
 * ------------------------------------------------------------------------
 * Read: little-endian '<f4', '<f8', '<f2' and '|b1' arrays of rank 1..4 in C order.
 * Big-endian data, Fortran order, integer, object and other dtypes, headers
 * that do not parse, absurd shapes and truncated data are refused with
 * ATTN_ERR_FORMAT and a message naming the file and the problem.
 * Write: format 1.0 (2.0 when the header needs it), C order, atomically: the
 * bytes go to a temporary file beside the target, which is renamed over it
 * only when complete, so a failure leaves no partial file. */

/* Parse a whole .npy image held in memory.  On success *out is a contiguous
 * tensor whose data the caller frees with attn_tensor_free(out).  On failure
 * *out is the absent tensor.  `name` labels messages (a path, say). */
ATTN_API attn_status attn_npy_parse(const void *bytes, size_t size, const char *name, attn_tensor *out);

/* Read and parse the .npy file at path.  Ownership as attn_npy_parse. */
ATTN_API attn_status attn_npy_load(const char *path, attn_tensor *out);

/* Serialise t (any strides; f32, f64, f16 or bool) as a .npy image in memory.  On
 * success *bytes (freed with attn_free) holds *size bytes.  On failure *bytes
 * is NULL. */
ATTN_API attn_status attn_npy_serialize(const attn_tensor *t, void **bytes, size_t *size);

/* Write t to path atomically (see above).  Bools are stored as bytes 0 and
 * 1 (the reader refuses any other byte).  Fails with ATTN_ERR_INVALID or
 * ATTN_ERR_MISUSE for a bad tensor (nothing is created) and ATTN_ERR_IO for
 * a file-system failure; either way the target is untouched and no
 * temporary file remains. */
ATTN_API attn_status attn_npy_save(const char *path, const attn_tensor *t);

/* ------------------------------------------------------------------------
 * Backward pass, kernels and CPU dispatch  (issue 3 adds its API below)
 * ------------------------------------------------------------------------ */

/* Attention backward: the gradients of a loss with respect to q, k and v,
 * given its gradient dout with respect to out.
 *   dq       same shape as q (B, Hq, Lq, Dq), f32 or f64, overwritten.  Required.
 *   dk, dv   same shapes as k (B, Hkv, Lk, Dk) and v (B, Hkv, Lk, Dv),
 *            overwritten.  Required.  Under GQA/MQA the gradient of a key/value
 *            head is the sum over the query heads that read it.
 *   dout     (B, Hq, Lq, Dv), the gradient of the loss with respect to out.
 *   q, k, v  the forward's inputs, read only.
 *   out, lse the forward's outputs for these inputs and opts (lse is
 *            required: attn_forward writes it when asked).
 *   opts     the options the forward ran with (NULL = defaults): the same
 *            masks, bias, dropout seed and p give the same weights.
 * With P the softmax weights, Z the dropout factors (0 or 1/(1-p)) and
 * s_ij the score before the soft-cap:
 *   dV = (P*Z)^T dO,  dP = Z * (dO V^T),  dS = P * (dP - rowsum(dO * O)),
 *   dS *= 1 - tanh^2(s/c) (soft-cap),  dQ = scale dS K,  dK = scale dS^T Q.
 * Cosine: the same products on the unit rows qh_i = q_i / a_i, kh_j = k_j / b_j
 * (a_i = max(|q_i|,1e-12), b_j = max(|k_j|,1e-12)), G = scale dS Kh and
 * H = scale dS^T Qh, then the chain rule through the normalisation:
 *   dq_i = (G_i - [|q_i| > 1e-12] (G_i . qh_i) qh_i) / a_i,
 *   dk_j = (H_j - [|k_j| > 1e-12] (H_j . kh_j) kh_j) / b_j
 * (below 1e-12 the clamped norm is a constant).
 * The bias and ALiBi are constants (no gradient is returned for them).  Rows
 * with no visible key and hidden keys get zero gradient; a hidden key's K or
 * V is never read into a visible result, even if NaN.  The scores are
 * recomputed tile by tile: no Lq x Lk storage (except by the reference).
 * Supports the scaled_dot, dot and cosine scores; bilinear and additive
 * return ATTN_ERR_UNSUPPORTED.
 * The tiled kernels compute P = exp(S - lse) with S summed exactly as their
 * forward sums it, so pass the lse of a tiled forward of the same inputs;
 * an lse from another kernel differs in its last bits, which matters only
 * for scores beyond ~1e5 in magnitude.  The reference recomputes P itself.
 * Deterministic: bitwise repeatable for a fixed kernel and thread count.
 * Errors as attn_forward; outputs possibly partly written on failure. */
ATTN_API attn_status attn_backward(const attn_tensor *dq, const attn_tensor *dk, const attn_tensor *dv,
                                   const attn_tensor *dout, const attn_tensor *q, const attn_tensor *k,
                                   const attn_tensor *v, const attn_tensor *out, const attn_tensor *lse,
                                   const attn_options *opts);

/* Kernels.  The dispatch table lists, in order: the reference (always
 * available, every option, f32, f64, f16 and bf16 inputs), then the tiled kernels scalar
 * (portable C), avx2 (AVX2 + FMA + F16C) and avx512 (AVX-512F), each available when
 * the CPU and the operating system support its instructions (CPUID, and
 * XGETBV for the YMM/ZMM register state).  The tiled kernels run f32
 * tensors with the scaled_dot, dot and cosine scores (forward and backward)
 * and no weights output, every other option included, and f16 or bf16 q, k
 * and v: the forward reads a 16-bit q, and k and v of one 16-bit dtype,
 * converting rows as it reads them (half the bytes to read from a key/value
 * cache); the backward, and k and v of different dtypes, run on f32 copies
 * of the 16-bit inputs made for the call (exact; O(N) memory); for anything else
 * ATTN_KERNEL_AUTO falls back to the reference, and forcing a tiled kernel
 * gives ATTN_ERR_UNSUPPORTED.
 * The forward with Lq <= 16 (no packed batch, Lk >= 1024) takes a decode
 * path that splits the keys across threads and merges the partial results
 * by their log-sum-exp.
 *
 * The kernel of a call is opts->kernel if not AUTO; else the global choice
 * (attn_set_kernel, starting from the environment variable
 * ATTN_KERNEL=reference|scalar|avx2|avx512|auto), used when it supports the
 * call and the reference otherwise; else AUTO: the fastest available kernel
 * that supports the call.  Results of the tiled kernels are bitwise
 * repeatable for a fixed kernel and thread count. */

/* "auto", "reference", "scalar", "avx2", "avx512"; "unknown" else. */
ATTN_API const char *attn_kernel_name(attn_kernel kernel);
/* Parse one of those names into *kernel.  ATTN_ERR_INVALID if unknown. */
ATTN_API attn_status attn_kernel_parse(const char *name, attn_kernel *kernel);
/* 1 if this CPU and OS can run `kernel` (AUTO and REFERENCE: always), else 0. */
ATTN_API int attn_kernel_available(attn_kernel kernel);
/* The fastest kernel this CPU can run (ignores the global choice). */
ATTN_API attn_kernel attn_kernel_best(void);
/* Set the global choice for calls whose opts->kernel is AUTO; AUTO restores
 * automatic choice.  ATTN_ERR_UNSUPPORTED (and no change) if the CPU cannot
 * run it, ATTN_ERR_INVALID for an unknown value. */
ATTN_API attn_status attn_set_kernel(attn_kernel kernel);
/* The global choice: what attn_set_kernel or ATTN_KERNEL set, else AUTO.
 * An ATTN_KERNEL naming an unknown or unavailable kernel is ignored (AUTO). */
ATTN_API attn_kernel attn_get_kernel(void);
/* The kernel a forward call with these arguments would run (after AUTO is
 * resolved), or ATTN_KERNEL_AUTO with a message if the call is invalid or
 * the forced kernel cannot run it.  For printing the choice. */
ATTN_API attn_kernel attn_kernel_for(const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                                     const attn_options *opts);
/* The CPU features detection found, e.g. "fma avx2 os-ymm avx512f
 * avx512dq/bw/vl os-zmm" (os-ymm / os-zmm: the OS saves those registers);
 * static storage.  Cannot fail. */
ATTN_API const char *attn_cpu_features(void);

/* The machine's measured fp32 peak in GFLOP/s over `threads` threads
 * (<= 0: the default thread count): independent FMA chains on the widest
 * vectors the best kernel uses, timed for about `ms` milliseconds (<= 0 or
 * NaN: 200; at most 60000; at least 3 rounds of about 5 ms), best of those
 * short rounds.  For reporting a kernel's efficiency. */
ATTN_API double attn_peak_gflops(int threads, double ms);
/* The same FMA chains timed once, for about `ms` milliseconds (as above):
 * the rate the machine sustains over that time, host pauses included.
 * Beside a kernel timed for as long, it gives the kernel's efficiency in the
 * machine's state of the moment. */
ATTN_API double attn_fma_gflops(int threads, double ms);


/* ------------------------------------------------------------------------
 * Layers, losses, optimizers  (issue 4 adds its API below)
 * ------------------------------------------------------------------------ */

/*
 * Conventions of this section (layers, losses, optimizers)
 *   - Activations are flat, contiguous, row-major float arrays: a batch of
 *     sequences is (B, T, C) with C fastest; N = B * T rows.  A linear map's
 *     weight is (OC, C) as in PyTorch: out = inp @ w^T + b.
 *   - *_forward overwrites its outputs.  *_backward ACCUMULATES (+=) into
 *     every gradient it is given, so gradients from several uses add up and
 *     must be zeroed by the caller (attn_model_zero_grad) before a step.  A
 *     NULL gradient pointer means "not wanted" unless a comment says otherwise.
 *   - Arithmetic: f32 storage; matrix products accumulate in float in a fixed
 *     order (each output element is summed over k = 0..K-1 by one thread), so
 *     results do not depend on the thread count at all; row statistics
 *     (layer norm, softmax, losses, norms) accumulate in double.
 *   - Failure: ATTN_ERR_MISUSE for a NULL required pointer, ATTN_ERR_INVALID
 *     for negative or inconsistent sizes and out-of-range values (the message
 *     names them), ATTN_ERR_OVERFLOW for sizes whose product overflows,
 *     ATTN_ERR_NOMEM when scratch memory cannot be had.  Outputs are then
 *     unspecified (gradients possibly partly accumulated); inputs untouched.
 *   - Seeds: initialisation and dropout draw from counter-based hashes of
 *     (seed, tensor, element), so a run is bitwise repeatable for a fixed seed,
 *     whatever the thread count.
 */

/* ---- The parameter arena ------------------------------------------------
 * A model is a table of named parameter tensors living in ONE allocation
 * (llm.c style): params, grads and the optimizer's two state arrays, each
 * `count` floats in the same layout.  Layers are declared first (each records
 * its tensors and keeps their offsets), then attn_model_alloc allocates and
 * initialises everything at once. */

#define ATTN_PARAM_NAME_MAX 64

typedef enum attn_init {
    ATTN_INIT_ZEROS = 0,
    ATTN_INIT_ONES = 1,
    ATTN_INIT_UNIFORM = 2, /* U(-scale, scale) */
    ATTN_INIT_NORMAL = 3   /* N(0, scale^2) */
} attn_init;

typedef struct attn_param_info {
    char name[ATTN_PARAM_NAME_MAX]; /* "enc.0.attn.wq" */
    int rank;
    int64_t shape[ATTN_MAX_RANK];
    int64_t offset; /* in floats, into params / grads / opt_m / opt_v */
    int64_t numel;
    attn_init init;
    double init_scale;
    int decay;      /* 1: attn_model_step applies weight decay (see there) */
} attn_param_info;

typedef struct attn_model {
    attn_param_info *table; /* n_tensors entries, in declaration order */
    int64_t n_tensors, cap_tensors;
    int64_t count;          /* floats per array */
    float *params;          /* NULL until attn_model_alloc */
    float *grads;
    float *opt_m;           /* optimizer state: SGD momentum / Adam first moment */
    float *opt_v;           /* Adam second moment */
    int64_t step;           /* optimizer steps taken (Adam's bias correction) */
} attn_model;

/* Start an empty model (no allocation).  Cannot fail. */
ATTN_API void attn_model_init(attn_model *m);
/* Free everything the model owns and reset it to empty.  Harmless on an
 * empty model or NULL. */
ATTN_API void attn_model_free(attn_model *m);

/* Declare one parameter tensor of rank 1..4.  *offset receives its position
 * in the arrays.  Fails with ATTN_ERR_MISUSE after attn_model_alloc, with
 * ATTN_ERR_INVALID for a bad shape, a name of ATTN_PARAM_NAME_MAX chars or
 * more, or a name already declared. */
ATTN_API attn_status attn_model_add(attn_model *m, const char *name, int rank, const int64_t *shape,
                                    attn_init init, double init_scale, int64_t *offset);

/* Allocate params, grads, opt_m and opt_v (one allocation, 4 * count floats),
 * initialise params from `seed` as each tensor's declaration says, and zero
 * the rest.  Element e of tensor t depends only on (seed, t, e).  On failure
 * the model is unchanged. */
ATTN_API attn_status attn_model_alloc(attn_model *m, uint64_t seed);

/* grads = 0.  Cannot fail. */
ATTN_API void attn_model_zero_grad(attn_model *m);

/* The table entry named `name`, or NULL. */
ATTN_API const attn_param_info *attn_model_find(const attn_model *m, const char *name);

/* ---- Elementwise and per-row layers ------------------------------------- */

/* Linear: out (N, OC) = inp (N, C) @ w (OC, C)^T + b (OC); b NULL = no bias.
 * Backward: dinp (N, C) += dout @ w; dw (OC, C) += dout^T @ inp;
 * db (OC) += sum_n dout.  Any of dinp, dw, db may be NULL. */
ATTN_API attn_status attn_linear_forward(float *out, const float *inp, const float *w, const float *b,
                                         int64_t N, int64_t C, int64_t OC);
ATTN_API attn_status attn_linear_backward(float *dinp, float *dw, float *db, const float *dout,
                                          const float *inp, const float *w, int64_t N, int64_t C, int64_t OC);

/* Embedding: out (N, C) row n = table (V, C) row ids[n].  Backward:
 * dtable row ids[n] += dout row n.  ATTN_ERR_INVALID when an id is outside
 * [0, V) (forward and backward check; nothing is written past the check). */
ATTN_API attn_status attn_embedding_forward(float *out, const int64_t *ids, const float *table, int64_t N,
                                            int64_t C, int64_t V);
ATTN_API attn_status attn_embedding_backward(float *dtable, const float *dout, const int64_t *ids, int64_t N,
                                             int64_t C, int64_t V);

/* Positional encodings on x (B, T, C), position t = pos0 + row index in the
 * sequence.  out may equal inp (in place).
 * Sinusoidal (Vaswani et al.; the seeds' tutorial):
 *   out[b,t,2i] = inp + sin(t / 10000^(2i/C)),  out[b,t,2i+1] = inp + cos(same angle).
 * Learned: out[b,t,:] = inp[b,t,:] + table[t,:], table (Tmax, C), pos0 + T <= Tmax.
 * Backward: dinp += dout (either may be NULL for learned); dtable[t] += sum_b dout[b,t]. */
ATTN_API attn_status attn_posenc_sinusoidal_forward(float *out, const float *inp, int64_t B, int64_t T,
                                                    int64_t C, int64_t pos0);
ATTN_API attn_status attn_posenc_sinusoidal_backward(float *dinp, const float *dout, int64_t B, int64_t T,
                                                     int64_t C);
ATTN_API attn_status attn_posenc_learned_forward(float *out, const float *inp, const float *table, int64_t B,
                                                 int64_t T, int64_t C, int64_t pos0, int64_t Tmax);
ATTN_API attn_status attn_posenc_learned_backward(float *dinp, float *dtable, const float *dout, int64_t B,
                                                  int64_t T, int64_t C, int64_t pos0, int64_t Tmax);

/* Rotary position embedding (RoFormer) on x (B, T, H, D), D even, pairs of
 * ADJACENT channels (2i, 2i+1) rotated by the angle t * base^(-2i/D),
 * t = pos0 + row index (base 0 = 10000):
 *   out[2i]   = x[2i] cos - x[2i+1] sin,   out[2i+1] = x[2i] sin + x[2i+1] cos.
 * out may equal inp.  Backward applies the inverse rotation: dinp += R^T dout. */
ATTN_API attn_status attn_rope_forward(float *out, const float *inp, int64_t B, int64_t T, int64_t H,
                                       int64_t D, int64_t pos0, double base);
ATTN_API attn_status attn_rope_backward(float *dinp, const float *dout, int64_t B, int64_t T, int64_t H,
                                        int64_t D, int64_t pos0, double base);

/* Layer norm over the last dimension of inp (N, C), statistics in double:
 *   out = (inp - mean) * rstd * w + b,  rstd = 1 / sqrt(var + eps) (biased var).
 * mean, rstd (N) are written for the backward (required).  w, b (C) required.
 * Backward: dinp (N, C) +=, dw, db (C) +=; dinp, dw, db may be NULL. */
ATTN_API attn_status attn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                            const float *w, const float *b, int64_t N, int64_t C, double eps);
ATTN_API attn_status attn_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                                             const float *inp, const float *w, const float *mean,
                                             const float *rstd, int64_t N, int64_t C);

/* Activations over n elements; out may equal inp in the forward.
 * ReLU: max(x, 0) (gradient 0 at x = 0).
 * GELU: the EXACT form x * Phi(x) = x/2 (1 + erf(x / sqrt 2)) (PyTorch's
 * default), gradient Phi(x) + x phi(x).  Backward: dinp += dout * f'(inp). */
typedef enum attn_act { ATTN_ACT_RELU = 0, ATTN_ACT_GELU = 1 } attn_act;
ATTN_API attn_status attn_act_forward(float *out, const float *inp, int64_t n, attn_act act);
ATTN_API attn_status attn_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, attn_act act);

/* Inverted dropout over n elements: element e is kept, times 1/(1-p), when
 * attn_dropout_uniform(seed, 0, 0, e, 0) >= p, else zeroed.  No mask is
 * stored: the backward regenerates it from the same seed (dinp += dout * keep
 * / (1-p)).  p in [0, 1); p = 0 copies.  Use a fresh seed per layer and step.
 * out may equal inp. */
ATTN_API attn_status attn_dropout_forward(float *out, const float *inp, int64_t n, double p, uint64_t seed);
ATTN_API attn_status attn_dropout_backward(float *dinp, const float *dout, int64_t n, double p, uint64_t seed);

/* ---- Layers declared in a model ------------------------------------------
 * Each has a config, a struct of parameter offsets filled by *_declare
 * (tensor names are "<prefix>.<name>"), and a forward that saves what the
 * backward needs in a caller-owned `cache` of *_cache_floats(...) floats.
 * The backward reads m->params and the cache, and ACCUMULATES into m->grads
 * and the input gradients.  Declaring fails as attn_model_add. */

/* Feed-forward block: out (N, C) = act(inp @ w1^T + b1) @ w2^T + b2,
 * w1 (F, C), w2 (C, F).  Init: U(+-1/sqrt(fan_in)) for weights and biases. */
typedef struct attn_ffn {
    int64_t C, F;
    int bias;
    attn_act act;
    int64_t w1, b1, w2, b2; /* offsets; -1 when absent */
} attn_ffn;
ATTN_API attn_status attn_ffn_declare(attn_model *m, attn_ffn *l, const char *prefix, int64_t C, int64_t F,
                                      attn_act act, int bias);
ATTN_API int64_t attn_ffn_cache_floats(const attn_ffn *l, int64_t N);
ATTN_API attn_status attn_ffn_forward(const attn_model *m, const attn_ffn *l, float *out, float *cache,
                                      const float *inp, int64_t N);
ATTN_API attn_status attn_ffn_backward(attn_model *m, const attn_ffn *l, float *dinp, const float *dout,
                                       const float *cache, const float *inp, int64_t N);

/* Multi-head attention (Vaswani et al.), self or cross:
 *   Q = xq @ wq^T + bq   (B, Lq, Hq*Dk)     xq  (B, Lq, d_model)
 *   K = xkv @ wk^T + bk  (B, Lk, Hkv*Dk)    xkv (B, Lk, d_kv); self: xkv = xq
 *   V = xkv @ wv^T + bv  (B, Lk, Hkv*Dv)
 *   A = attn_forward(Q, K, V) per head, viewed (B, H, L, D) by strides, no copy
 *   out = A @ wo^T + bo  (B, Lq, d_model)
 * n_kv_heads < n_heads is GQA/MQA; d_k != d_v allowed.  key_lengths (B
 * entries, optional) hide padded keys; causal is attn_causal's alignment;
 * dropout_p drops attention weights with attn_dropout_uniform(seed, b, h, i, j).
 * weights (B, Hq, Lq, Lk), optional, receives the per-head weights.
 * Init: weights U(+-sqrt(6 / (fan_in + fan_out))) (Xavier), biases 0. */
typedef struct attn_mha_config {
    int64_t d_model;    /* width of xq and of out */
    int64_t d_kv;       /* width of xkv; 0 = d_model */
    int64_t n_heads;
    int64_t n_kv_heads; /* 0 = n_heads; must divide n_heads */
    int64_t d_k, d_v;   /* per head; 0 = d_model / n_heads */
    int bias;
    attn_causal causal;
    double dropout_p;
    attn_kernel kernel; /* passed to attn_forward / attn_backward */
    int rope;           /* 1: rotate Q and K by attn_rope_forward (positions 0..L-1; d_k even) */
    double rope_base;   /* RoPE's base; 0 = 10000 */
} attn_mha_config;
typedef struct attn_mha {
    attn_mha_config cfg; /* resolved: no zeros left */
    int64_t wq, bq, wk, bk, wv, bv, wo, bo;
} attn_mha;
ATTN_API attn_status attn_mha_declare(attn_model *m, attn_mha *l, const char *prefix, const attn_mha_config *cfg);
ATTN_API int64_t attn_mha_cache_floats(const attn_mha *l, int64_t B, int64_t Lq, int64_t Lk);
ATTN_API attn_status attn_mha_forward(const attn_model *m, const attn_mha *l, float *out, float *weights,
                                      float *cache, const float *xq, const float *xkv,
                                      const int64_t *key_lengths, int64_t B, int64_t Lq, int64_t Lk,
                                      uint64_t seed);
/* dxq (B, Lq, d_model) +=, dxkv (B, Lk, d_kv) +=; for self attention pass the
 * same pointer twice.  Same xq, xkv, key_lengths, sizes and seed as the forward. */
ATTN_API attn_status attn_mha_backward(attn_model *m, const attn_mha *l, float *dxq, float *dxkv,
                                       const float *dout, const float *cache, const float *xq, const float *xkv,
                                       const int64_t *key_lengths, int64_t B, int64_t Lq, int64_t Lk,
                                       uint64_t seed);

/* Attention pooling with a learned query (the seeds' AttentionLayer):
 *   s_j = query . (w @ x_j),  a = softmax over j < lengths[b] (all L if NULL),
 *   context (B, D) = sum_j a_j x_j.      x (B, L, D), w (A, D), query (A).
 * weights (B, L), optional, receives a (0 on padding).  lengths[b] must be in
 * [1, L].  Init: w U(+-1/sqrt(D)), query U(+-1/sqrt(A)).  Backward: dx +=
 * (may be NULL), grads of w and query +=. */
typedef struct attn_pooling {
    int64_t D, A;
    int64_t w, query;
} attn_pooling;
ATTN_API attn_status attn_pooling_declare(attn_model *m, attn_pooling *l, const char *prefix, int64_t D, int64_t A);
ATTN_API int64_t attn_pooling_cache_floats(const attn_pooling *l, int64_t B, int64_t L);
ATTN_API attn_status attn_pooling_forward(const attn_model *m, const attn_pooling *l, float *context, float *weights,
                                          float *cache, const float *x, const int64_t *lengths, int64_t B, int64_t L);
ATTN_API attn_status attn_pooling_backward(attn_model *m, const attn_pooling *l, float *dx, const float *dcontext,
                                           const float *cache, const float *x, const int64_t *lengths, int64_t B,
                                           int64_t L);

/* Additive (Bahdanau) attention:
 *   s_ij = v . tanh(wq @ q_i + wk @ k_j),  a_i = softmax over j < key_lengths[b],
 *   out_i = sum_j a_ij val_j.
 * q (B, Lq, Dq), k (B, Lk, Dk), val (B, Lk, Dv) (val may be k), out (B, Lq, Dv),
 * wq (A, Dq), wk (A, Dk), v (A).  weights (B, Lq, Lk) optional.  key_lengths
 * entries in [1, Lk].  Init: U(+-1/sqrt(fan_in)).  Backward: dq, dk, dval +=
 * (each may be NULL; dk and dval may be the same pointer when val is k). */
typedef struct attn_additive {
    int64_t Dq, Dk, A;
    int64_t wq, wk, v;
} attn_additive;
ATTN_API attn_status attn_additive_declare(attn_model *m, attn_additive *l, const char *prefix, int64_t Dq,
                                           int64_t Dk, int64_t A);
ATTN_API int64_t attn_additive_cache_floats(const attn_additive *l, int64_t B, int64_t Lq, int64_t Lk);
ATTN_API attn_status attn_additive_forward(const attn_model *m, const attn_additive *l, float *out, float *weights,
                                           float *cache, const float *q, const float *k, const float *val,
                                           const int64_t *key_lengths, int64_t B, int64_t Lq, int64_t Lk,
                                           int64_t Dv);
ATTN_API attn_status attn_additive_backward(attn_model *m, const attn_additive *l, float *dq, float *dk, float *dval,
                                            const float *dout, const float *cache, const float *q, const float *k,
                                            const float *val, const int64_t *key_lengths, int64_t B, int64_t Lq,
                                            int64_t Lk, int64_t Dv);

/* Transformer layer: an encoder layer (cross = 0) or a decoder layer
 * (cross = 1: self attention, then attention over `mem`, then the FFN).
 * Sublayers f in order, with residual dropout D (p = dropout_p):
 *   post-LN (pre_ln = 0, Vaswani et al.):  x = LN(x + D(f(x)))
 *   pre-LN  (pre_ln = 1, GPT-2):           x = x + D(f(LN(x)))
 * Self attention uses `causal` and hides keys j >= x_lengths[b]; cross
 * attention hides memory positions j >= mem_lengths[b].  The attention
 * weights are dropped with dropout_p too.  All dropout masks derive from
 * `seed`: pass a new seed per step and layer, the same to the backward.
 *   x (B, T, d_model), mem (B, S, d_model) (cross only; else NULL, S = 0),
 *   out (B, T, d_model).  Backward: dx +=, dmem += (cross only). */
typedef struct attn_transformer_config {
    int64_t d_model, n_heads, n_kv_heads, d_k, d_v, d_ff; /* n_kv_heads, d_k, d_v: 0 = default */
    attn_act act;
    int pre_ln;
    int cross;
    attn_causal causal;
    int bias;
    double dropout_p;
    double ln_eps;      /* 0 = 1e-5 */
    attn_kernel kernel;
    int rope;           /* 1: RoPE in the self attention (not the cross attention) */
    double rope_base;   /* 0 = 10000 */
} attn_transformer_config;
typedef struct attn_transformer_layer {
    attn_transformer_config cfg;
    attn_mha self_attn, cross_attn;
    attn_ffn ffn;
    int64_t ln_w[3], ln_b[3]; /* one per sublayer */
} attn_transformer_layer;
ATTN_API attn_status attn_transformer_declare(attn_model *m, attn_transformer_layer *l, const char *prefix,
                                              const attn_transformer_config *cfg);
ATTN_API int64_t attn_transformer_cache_floats(const attn_transformer_layer *l, int64_t B, int64_t T, int64_t S);
ATTN_API attn_status attn_transformer_forward(const attn_model *m, const attn_transformer_layer *l, float *out,
                                              float *cache, const float *x, const float *mem,
                                              const int64_t *x_lengths, const int64_t *mem_lengths, int64_t B,
                                              int64_t T, int64_t S, uint64_t seed);
ATTN_API attn_status attn_transformer_backward(attn_model *m, const attn_transformer_layer *l, float *dx, float *dmem,
                                               const float *dout, const float *cache, const float *x,
                                               const float *mem, const int64_t *x_lengths,
                                               const int64_t *mem_lengths, int64_t B, int64_t T, int64_t S,
                                               uint64_t seed);

/* ---- Models: encoder, decoder, encoder-decoder ---------------------------
 * Stacks of the layers above; all the arithmetic is theirs.  A stack is
 *   input   vocab > 0: token ids (B, T) -> table "<prefix>.embed" (vocab, d_model), N(0, 1)
 *           vocab = 0: vectors (B, T, d_in) -> linear "<prefix>.in.w" (d_model, d_in) + ".in.b"
 *   pos     ATTN_POS_SINUSOIDAL: + sinusoids (attn_posenc_sinusoidal_forward)
 *           ATTN_POS_LEARNED: + table "<prefix>.pos" (max_len, d_model), N(0, 0.1^2)
 *           ATTN_POS_ROPE: rotary in every self attention (layer.rope; d_k even)
 *           ATTN_POS_NONE
 *   dropout p = layer.dropout_p on the sum, then
 *   layers  n_layers attn_transformer_layer "<prefix>.layers.<i>" with cfg.layer
 *   final   pre-LN only: layer norm "<prefix>.ln_f.w", ".ln_f.b"
 *   head    d_out > 0: linear "<prefix>.head.w" (d_out, d_model) + ".head.b"
 *           (vocabulary logits, say); d_out = 0: the output is the last hidden state.
 * out is (B, T, d_out) with a head, else (B, T, d_model).  Key padding:
 * lengths[b] (optional, in [1, T]) hides positions >= lengths[b] from every
 * self attention (padded query rows still produce finite values: ignore them
 * in the loss).  An ENCODER uses layer.causal as given (NONE: bidirectional)
 * and no cross attention; a DECODER is causal (top-left: position i sees
 * j <= i) and, when layer.cross = 1, attends to a memory (B, S, d_model)
 * with mem_lengths hiding padded memory positions (layer.cross = 0: a
 * decoder-only model, mem NULL, S = 0).  Sequences may be shorter than
 * max_len; learned positions require T <= max_len, the others check only
 * when max_len > 0.
 * The cache of *_cache_floats(...) floats holds every activation the
 * backward needs; the backward ACCUMULATES into m->grads and into dx (input
 * vectors, optional) and dmem (optional).  The same ids/x, lengths, sizes and
 * seed as the forward.  Errors as the layers; sizes beyond the declared
 * configuration are ATTN_ERR_INVALID. */
#define ATTN_MAX_LAYERS 16

typedef enum attn_posenc {
    ATTN_POS_NONE = 0,
    ATTN_POS_SINUSOIDAL = 1,
    ATTN_POS_LEARNED = 2,
    ATTN_POS_ROPE = 3
} attn_posenc;

typedef struct attn_stack_config {
    int64_t vocab;    /* > 0: token ids in [0, vocab) in */
    int64_t d_in;     /* vocab == 0: width of the input vectors */
    int64_t d_out;    /* > 0: output head width (the target vocabulary); 0: no head */
    attn_posenc pos;
    int64_t max_len;  /* longest sequence (rows of the learned table); 0 = unbounded (not learned) */
    int64_t n_layers; /* 1..ATTN_MAX_LAYERS */
    attn_transformer_config layer; /* d_model, heads, pre_ln, dropout_p, ... of every layer */
} attn_stack_config;

typedef struct attn_stack {
    attn_stack_config cfg; /* resolved (decoder: causal set; rope from pos) */
    int64_t embed, in_w, in_b, pos_table, lnf_w, lnf_b, head_w, head_b; /* offsets; -1 when absent */
    attn_transformer_layer layers[ATTN_MAX_LAYERS];
} attn_stack;

typedef attn_stack_config attn_encoder_config;
typedef attn_stack_config attn_decoder_config;
typedef attn_stack attn_encoder;
typedef attn_stack attn_decoder;

/* Inputs: ids (B, T) when cfg.vocab > 0 (x NULL), else x (B, T, d_in) (ids NULL). */
ATTN_API attn_status attn_encoder_declare(attn_model *m, attn_encoder *e, const char *prefix,
                                          const attn_encoder_config *cfg);
ATTN_API int64_t attn_encoder_cache_floats(const attn_encoder *e, int64_t B, int64_t T);
ATTN_API attn_status attn_encoder_forward(const attn_model *m, const attn_encoder *e, float *out, float *cache,
                                          const int64_t *ids, const float *x, const int64_t *lengths, int64_t B,
                                          int64_t T, uint64_t seed);
ATTN_API attn_status attn_encoder_backward(attn_model *m, const attn_encoder *e, float *dx, const float *dout,
                                           const float *cache, const int64_t *ids, const float *x,
                                           const int64_t *lengths, int64_t B, int64_t T, uint64_t seed);

ATTN_API attn_status attn_decoder_declare(attn_model *m, attn_decoder *d, const char *prefix,
                                          const attn_decoder_config *cfg);
ATTN_API int64_t attn_decoder_cache_floats(const attn_decoder *d, int64_t B, int64_t T, int64_t S);
/* cross_weights (n_layers, B, H, T, S), optional (NULL: not wanted; only with
 * layer.cross = 1, else ATTN_ERR_INVALID), receives every layer's cross
 * attention weights per head, layer l at cross_weights + l*B*H*T*S: row
 * [l, b, h, t, :] sums to 1 over the memory positions j < mem_lengths[b] and
 * is 0 beyond.  Asking for them may route the attention through the
 * reference kernel (the fast one returns no weights), so out then agrees with
 * a call without them to rounding, not bit for bit. */
ATTN_API attn_status attn_decoder_forward(const attn_model *m, const attn_decoder *d, float *out,
                                          float *cross_weights, float *cache, const int64_t *ids, const float *x,
                                          const float *mem, const int64_t *lengths, const int64_t *mem_lengths,
                                          int64_t B, int64_t T, int64_t S, uint64_t seed);
ATTN_API attn_status attn_decoder_backward(attn_model *m, const attn_decoder *d, float *dx, float *dmem,
                                           const float *dout, const float *cache, const int64_t *ids,
                                           const float *x, const float *mem, const int64_t *lengths,
                                           const int64_t *mem_lengths, int64_t B, int64_t T, int64_t S,
                                           uint64_t seed);

/* Encoder-decoder (Vaswani et al.): the encoder ("<prefix>.enc", no head)
 * reads the source (B, S); its last hidden state is the memory of the
 * decoder ("<prefix>.dec", cross attention forced on), which reads the
 * target input (B, T) (teacher forcing: BOS then the target shifted right)
 * and writes out (B, T, dec.d_out): logits for attn_cross_entropy_forward.
 * src_lengths hide padded source positions from the encoder's self
 * attention and the decoder's cross attention; tgt_lengths hide padded
 * target positions from the decoder's self attention.  Both stacks need the
 * same layer.d_model.  Dropout seeds of the two halves derive from `seed`.
 * cross_weights (dec.n_layers, B, H, T, S), optional: the decoder's cross
 * attention weights, as attn_decoder_forward's. */
typedef struct attn_seq2seq_config {
    attn_encoder_config enc; /* d_out must be 0 */
    attn_decoder_config dec;
} attn_seq2seq_config;
typedef struct attn_seq2seq {
    attn_encoder enc;
    attn_decoder dec;
} attn_seq2seq;
ATTN_API attn_status attn_seq2seq_declare(attn_model *m, attn_seq2seq *s, const char *prefix,
                                          const attn_seq2seq_config *cfg);
ATTN_API int64_t attn_seq2seq_cache_floats(const attn_seq2seq *s, int64_t B, int64_t S, int64_t T);
ATTN_API attn_status attn_seq2seq_forward(const attn_model *m, const attn_seq2seq *s, float *out,
                                          float *cross_weights, float *cache, const int64_t *src_ids,
                                          const float *src_x, const int64_t *src_lengths,
                                          const int64_t *tgt_ids, const float *tgt_x, const int64_t *tgt_lengths,
                                          int64_t B, int64_t S, int64_t T, uint64_t seed);
/* dsrc_x (B, S, enc.d_in) and dtgt_x (B, T, dec.d_in) +=, both optional
 * (only for vector inputs). */
ATTN_API attn_status attn_seq2seq_backward(attn_model *m, const attn_seq2seq *s, float *dsrc_x, float *dtgt_x,
                                           const float *dout, const float *cache, const int64_t *src_ids,
                                           const float *src_x, const int64_t *src_lengths, const int64_t *tgt_ids,
                                           const float *tgt_x, const int64_t *tgt_lengths, int64_t B, int64_t S,
                                           int64_t T, uint64_t seed);

/* Greedy decoding with a token decoder (dec.vocab > 0, dec.d_out > 0),
 * dropout off: the source is encoded once, then for t = 1..max_len the
 * decoder re-runs over the whole prefix [bos, y_1 .. y_{t-1}] (no KV cache:
 * O(max_len^2) decoder work, simple and exactly the training-time
 * computation) and y_t = argmax of the last position's logits (the first
 * maximum).  A sequence stops at eos; decoding stops when every sequence
 * has.  out_ids (B, max_len) receives y_1.. (eos included; positions after
 * it are filled with eos); out_lengths (B, optional) the number of tokens
 * before the first eos (max_len if none).  bos and eos in [0, dec.vocab);
 * max_len >= 1, and the longest prefix fed is max_len tokens, so the
 * decoder's max_len (when set) must be >= max_len.
 * cross_weights (dec.n_layers, B, H, max_len, S), optional: where the decoder
 * looked, as attn_decoder_forward's: row t of sequence b holds the weights of
 * the position that predicted out_ids[b, t] (so rows 0 .. out_lengths[b]
 * are the translation and its eos), zero after the longest sequence's eos.
 * They come from one extra decoder pass over the final prefixes, after the
 * search, so the tokens are the same whether or not they are asked for.
 * Allocates its own scratch.  Errors as the forward passes. */
ATTN_API attn_status attn_seq2seq_greedy(const attn_model *m, const attn_seq2seq *s, int64_t *out_ids,
                                         int64_t *out_lengths, float *cross_weights, const int64_t *src_ids,
                                         const float *src_x, const int64_t *src_lengths, int64_t B, int64_t S,
                                         int64_t bos, int64_t eos, int64_t max_len);

/* ---- Losses -------------------------------------------------------------- */

/* Mean squared error: *loss = mean_e (pred_e - target_e)^2 over n > 0
 * elements (double).  Backward: dpred += dloss * 2 (pred - target) / n. */
ATTN_API attn_status attn_mse_forward(double *loss, const float *pred, const float *target, int64_t n);
ATTN_API attn_status attn_mse_backward(float *dpred, const float *pred, const float *target, int64_t n,
                                       double dloss);

/* Softmax cross-entropy over logits (N, V) and targets (N):
 *   probs (N, V) = softmax(logits), written for the backward (required).
 *   Rows whose target equals ignore_index are skipped (probs still written);
 *   other targets must be in [0, V).  With label smoothing e in [0, 1) the
 *   target distribution is (1 - e) onehot + e / V (PyTorch's definition).
 *   *loss = mean over the counted rows of -sum_v q_v log p_v; 0 when every
 *   row is ignored.  *count (may be NULL) = rows counted.
 * Backward: dlogits += dloss * (probs - q) / count on counted rows. */
ATTN_API attn_status attn_cross_entropy_forward(double *loss, int64_t *count, float *probs, const float *logits,
                                                const int64_t *targets, int64_t N, int64_t V,
                                                int64_t ignore_index, double label_smoothing);
ATTN_API attn_status attn_cross_entropy_backward(float *dlogits, const float *probs, const int64_t *targets,
                                                 int64_t N, int64_t V, int64_t ignore_index,
                                                 double label_smoothing, double dloss);

/* Fraction of non-ignored rows whose argmax (first maximum) is the target;
 * 0 when all are ignored. */
ATTN_API attn_status attn_accuracy(double *acc, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index);

/* ---- Optimizers ------------------------------------------------------------
 * Each updates n parameters in place from their gradients, with PyTorch's
 * update rules (arithmetic in double per element, stored as float), and
 * applies weight decay to every element it is given.  On a model:
 * attn_adamw_step(m->params, m->opt_m, m->opt_v, m->grads, m->count, ++m->step, ...). */

/* SGD: g = grad + wd * p;  buf = momentum * buf + g;  p -= lr * buf
 * (momentum 0: p -= lr * g, buf untouched and may be NULL). */
ATTN_API attn_status attn_sgd_step(float *params, float *buf, const float *grads, int64_t n, double lr,
                                   double momentum, double weight_decay);
/* Adam (weight decay as L2: g = grad + wd * p) and AdamW (decoupled:
 * p -= lr * wd * p first).  Then with step t >= 1:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
ATTN_API attn_status attn_adam_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t,
                                    double lr, double beta1, double beta2, double eps, double weight_decay);
ATTN_API attn_status attn_adamw_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t,
                                     double lr, double beta1, double beta2, double eps, double weight_decay);

/* Clip by global norm: *norm (may be NULL) = sqrt(sum grads^2) (double);
 * when it exceeds max_norm > 0, grads *= max_norm / (norm + 1e-6). */
ATTN_API attn_status attn_clip_grad_norm(float *grads, int64_t n, double max_norm, double *norm);

/* Learning rate at step s (0-based, negative read as 0): linear warmup
 * lr = base (s+1) / warmup for s < warmup; then base (cosine = 0), or
 * cosine decay lr = min + (base - min)(1 + cos(pi (s - warmup) / (total - warmup))) / 2
 * for warmup <= s < total and min_lr from s = total on.  NULL gives 0.
 * Cannot fail. */
typedef struct attn_lr_schedule {
    double base_lr, min_lr;
    int64_t warmup_steps, total_steps;
    int cosine;
} attn_lr_schedule;
ATTN_API double attn_lr_at(const attn_lr_schedule *s, int64_t step);

/* ---- Training a whole model ------------------------------------------------
 * Weight decay is per tensor: attn_model_add sets attn_param_info.decay to 1
 * for tensors of rank >= 2 (weight matrices, embedding and position tables)
 * and to 0 for rank 1 (biases, layer-norm gains and shifts, learned query
 * vectors), the usual Transformer recipe (nanoGPT's).  attn_model_set_decay
 * changes one tensor's flag, before or after attn_model_alloc;
 * ATTN_ERR_INVALID if no tensor has that name. */
ATTN_API attn_status attn_model_set_decay(attn_model *m, const char *name, int decay);

typedef enum attn_optim_kind {
    ATTN_OPTIM_SGD = 0,  /* attn_sgd_step (momentum, L2 weight decay) */
    ATTN_OPTIM_ADAM = 1, /* attn_adam_step (L2 weight decay) */
    ATTN_OPTIM_ADAMW = 2 /* attn_adamw_step (decoupled weight decay) */
} attn_optim_kind;

/* "sgd", "adam", "adamw"; "unknown" else. */
ATTN_API const char *attn_optim_name(attn_optim_kind kind);
/* Parse one of those names into *kind.  ATTN_ERR_INVALID if unknown. */
ATTN_API attn_status attn_optim_parse(const char *name, attn_optim_kind *kind);

/* An optimizer's hyper-parameters (its state, the moments and the step
 * count, lives in the model: opt_m, opt_v, step).  Every field is used as
 * given: start from attn_optimizer_default. */
typedef struct attn_optimizer {
    attn_optim_kind kind;
    attn_lr_schedule lr;   /* the learning rate of step s is attn_lr_at(&lr, s) */
    double momentum;       /* SGD, in [0, 1) */
    double beta1, beta2;   /* Adam, AdamW, in [0, 1) */
    double eps;            /* Adam, AdamW, > 0 */
    double weight_decay;   /* >= 0, applied to tensors whose decay flag is set */
    double clip_norm;      /* > 0: clip the global gradient norm to this first; 0: no clipping */
} attn_optimizer;

/* PyTorch's defaults for `kind` with a constant learning rate `lr`:
 * momentum 0, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 for AdamW and
 * 0 otherwise, no clipping.  Cannot fail. */
ATTN_API attn_optimizer attn_optimizer_default(attn_optim_kind kind, double lr);
/* ATTN_OK when attn_model_step accepts opt's hyper-parameters; otherwise
 * ATTN_ERR_INVALID (ATTN_ERR_MISUSE for NULL) with a message naming the one
 * out of range.  attn_checkpoint_load uses it on the settings it reads. */
ATTN_API attn_status attn_optimizer_check(const attn_optimizer *opt);

/* One optimizer step over every tensor of an allocated model:
 *   1. norm = sqrt(sum of every gradient squared) (double, fixed order);
 *      when clip_norm > 0 and norm > clip_norm, grads *= clip_norm / (norm + 1e-6)
 *      (attn_clip_grad_norm over the whole model, not per tensor);
 *   2. lr = attn_lr_at(&opt->lr, m->step), then m->step += 1;
 *   3. each tensor t gets the update of opt->kind (attn_sgd_step on opt_m as
 *      the momentum buffer, or attn_adam_step / attn_adamw_step with t =
 *      m->step on opt_m, opt_v) with weight decay opt->weight_decay when its
 *      decay flag is set and 0 otherwise.
 * The schedule position is the model's own step count, so a model restored
 * with its optimizer state (attn_checkpoint_load) continues bit for bit.
 * Gradients are not zeroed (call attn_model_zero_grad before the next
 * backward).  *grad_norm (may be NULL) receives the norm before clipping,
 * *lr_used (may be NULL) the learning rate applied.  Fails with
 * ATTN_ERR_MISUSE for a NULL or unallocated model and ATTN_ERR_INVALID for a
 * hyper-parameter out of range or a negative m->step (the message names it);
 * the model is then untouched.  The result does not depend on the thread count. */
ATTN_API attn_status attn_model_step(attn_model *m, const attn_optimizer *opt, double *grad_norm, double *lr_used);

/* ------------------------------------------------------------------------
 * Error reporting for companion libraries
 * ------------------------------------------------------------------------ */

/* Record `fmt`'s message (printf-style, truncated to 1023 bytes) as the
 * calling thread's attn_errmsg() and return `status`, exactly as libattn's
 * own functions do on failure.  For libraries built on attn, such as
 * libattn_checkpoint, so that every failure a program sees is read the same
 * way:  return attn_set_error(ATTN_ERR_FORMAT, "%s: truncated", path);
 * Cannot fail. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
ATTN_API attn_status attn_set_error(attn_status status, const char *fmt, ...);

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* One piece of a file's contents. */
typedef struct attn_bytes {
    const void *data;
    size_t size;
} attn_bytes;

/* Write the n_parts pieces, in order, as the whole contents of path,
 * atomically: they go to a temporary file beside path (path.tmp.XXXXXX),
 * which is flushed to disk and renamed over path only when complete.  An
 * existing path keeps its permission bits; a new one gets 0666 & ~umask.
 * Every writer in attn (.npy files, checkpoints, the tool's pictures and
 * reports) goes through here.  Fails with ATTN_ERR_MISUSE for NULL
 * arguments and ATTN_ERR_IO (naming path, the step and the system's reason)
 * when the file system refuses; either way path is untouched and no
 * temporary file remains. */
ATTN_API attn_status attn_file_write_atomic(const char *path, const attn_bytes *parts, size_t n_parts);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_H */
