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
    ATTN_BOOL = 3  /* one byte per element, 0 = false, anything else = true */
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
/* "f32", "f64", "bool", or "unknown". */
ATTN_API const char *attn_dtype_name(attn_dtype dtype);

/* Contiguous (C order) views over caller-owned memory.  They only fill in the
 * struct: no allocation, no validation, cannot fail.  attn_tensor_nd takes
 * rank <= ATTN_MAX_RANK sizes. */
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
    ATTN_KERNEL_AVX2 = 3,      /* tiled, AVX2 + FMA */
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
 *   q, k, v  f32 or f64 inputs, read only.
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
 * Read: little-endian '<f4', '<f8' and '|b1' arrays of rank 1..4 in C order.
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

/* Serialise t (any strides; f32, f64 or bool) as a .npy image in memory.  On
 * success *bytes (freed with attn_free) holds *size bytes.  On failure *bytes
 * is NULL. */
ATTN_API attn_status attn_npy_serialize(const attn_tensor *t, void **bytes, size_t *size);

/* Write t to path atomically (see above).  On failure the target is
 * untouched and no temporary file remains. */
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
 * The bias and ALiBi are constants (no gradient is returned for them).  Rows
 * with no visible key and hidden keys get zero gradient; a hidden key's K or
 * V is never read into a visible result, even if NaN.  The scores are
 * recomputed tile by tile: no Lq x Lk storage (except by the reference).
 * Supports the scaled_dot and dot scores; others return ATTN_ERR_UNSUPPORTED.
 * Deterministic: bitwise repeatable for a fixed kernel and thread count.
 * Errors as attn_forward; outputs possibly partly written on failure. */
ATTN_API attn_status attn_backward(const attn_tensor *dq, const attn_tensor *dk, const attn_tensor *dv,
                                   const attn_tensor *dout, const attn_tensor *q, const attn_tensor *k,
                                   const attn_tensor *v, const attn_tensor *out, const attn_tensor *lse,
                                   const attn_options *opts);


/* ------------------------------------------------------------------------
 * Layers, losses, optimizers  (issue 4 adds its API below)
 * ------------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif /* ATTN_H */
