/*
 * nn.h - what the layers, losses and optimizers share (private).
 */
#ifndef ATTN_NN_H
#define ATTN_NN_H

#include "core/internal.h"

#include <math.h>
#include <string.h>

/* The one matrix product every layer uses (matmul.c):
 *   C (M, N) = [C +] op(A) op(B),  op(A) (M, K), op(B) (K, N)
 * with op(A)(i, k) = a[i * a_rs + k * a_cs] and op(B)(k, j) = b[k * b_rs + j * b_cs],
 * so a transpose is a swap of the two strides.  C is row-major with row
 * stride ldc.  accumulate = 0 overwrites C, 1 adds to it.
 * Each C element is the float sum over k = 0..K-1 in increasing k, started
 * from 0 and then added to C (when accumulating): the result is the same for
 * every blocking and thread count, and equals the plain triple loop
 *     acc = 0; for k: acc += A(i,k) * B(k,j); C(i,j) = (accumulate ? C(i,j) : 0) + acc
 * bit for bit (with the compiler's default -ffp-contract=off of ISO C). */
void attn_nn_matmul(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                    int64_t b_rs, int64_t b_cs, int64_t M, int64_t N, int64_t K, int accumulate);

/* Argument checks: return from the calling function on failure. */
#define NN_NOTNULL(fn, p)                                                                                    \
    do {                                                                                                     \
        if (!(p))                                                                                            \
            return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, #p);                                    \
    } while (0)
#define NN_NONNEG(fn, x)                                                                                     \
    do {                                                                                                     \
        if ((x) < 0)                                                                                         \
            return attn_fail(ATTN_ERR_INVALID, "%s: %s = %lld is negative", fn, #x, (long long)(x));        \
    } while (0)
#define NN_POS(fn, x)                                                                                        \
    do {                                                                                                     \
        if ((x) <= 0)                                                                                        \
            return attn_fail(ATTN_ERR_INVALID, "%s: %s = %lld must be positive", fn, #x, (long long)(x));   \
    } while (0)

/* *r = a * b * c (all >= 0), or ATTN_ERR_OVERFLOW with a message. */
attn_status attn_nn_size3(const char *fn, int64_t a, int64_t b, int64_t c, int64_t *r);

/* Threads for a piece of work of about `flops` operations: 1 when small. */
int attn_nn_threads(double flops);

/* A 64-bit hash of (seed, a, b), for seeds derived per sublayer. */
uint64_t attn_nn_hash(uint64_t seed, uint64_t a, uint64_t b);

/* Scratch of n floats, or NULL with an ATTN_ERR_NOMEM message. */
float *attn_nn_scratch(int64_t n, const char *what);

/* Softmax in place over the first n of row[0..L) in double, zeroing the rest
 * (n >= 1). */
void attn_nn_softmax_prefix(double *row, int64_t n, int64_t L);

/* Unchecked kernels behind the public functions (layers.c); same contracts. */
void attn_nn_linear_fwd(float *out, const float *inp, const float *w, const float *b, int64_t N, int64_t C,
                        int64_t OC);
void attn_nn_linear_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        int64_t N, int64_t C, int64_t OC);
void attn_nn_layernorm_fwd(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                           int64_t N, int64_t C, double eps);
void attn_nn_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int64_t N, int64_t C);
void attn_nn_act_fwd(float *out, const float *inp, int64_t n, attn_act act);
void attn_nn_act_bwd(float *dinp, const float *dout, const float *inp, int64_t n, attn_act act);
void attn_nn_dropout_fwd(float *out, const float *inp, int64_t n, double p, uint64_t seed);
void attn_nn_dropout_bwd(float *dinp, const float *dout, int64_t n, double p, uint64_t seed);

/* attn_transformer_forward, plus the cross attention's per-head weights
 * (B, H, T, S) into cross_weights when it is not NULL (a decoder layer with
 * cross = 1 only; ignored otherwise).  fn names the public caller in messages. */
attn_status attn_nn_transformer_fwd(const char *fn, const attn_model *m, const attn_transformer_layer *l, float *out,
                                    float *cross_weights, float *cache, const float *x, const float *mem,
                                    const int64_t *x_lengths, const int64_t *mem_lengths, int64_t B, int64_t T,
                                    int64_t S, uint64_t seed);

/* Declare "<prefix>.<name>" in m (attn_model_add with the name joined). */
attn_status attn_nn_add(attn_model *m, const char *prefix, const char *name, int rank, int64_t s0, int64_t s1,
                        attn_init init, double scale, int64_t *offset);

/* A declared tensor's parameters / gradients (offset -1 = absent: NULL). */
#define NN_P(m, off) ((off) >= 0 ? (m)->params + (off) : NULL)
#define NN_G(m, off) ((off) >= 0 ? (m)->grads + (off) : NULL)

/* The checks every declared layer's forward/backward starts with. */
static inline attn_status attn_nn_check_layer(const char *fn, const attn_model *m, const void *l, const void *cache)
{
    if (!m || !l || !cache)
        return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, !m ? "m" : !l ? "l" : "cache");
    if (!m->params)
        return attn_fail(ATTN_ERR_MISUSE, "%s: the model is not allocated (attn_model_alloc)", fn);
    return ATTN_OK;
}

#endif /* ATTN_NN_H */
