/*
 * fast_cases.h - what the tiled-kernel tests (test_fast_fwd.c,
 * test_fast_bwd.c) share: strided f32 test tensors, a problem
 * configuration, and the generator of random configurations covering every
 * option of SEMANTICS.md.
 */
#ifndef ATTN_FAST_CASES_H
#define ATTN_FAST_CASES_H

#include "testutil.h"

typedef struct buf {
    float *mem;
    int64_t total; /* floats at mem */
    attn_tensor t;
} buf;

/* A (n0, n1, n2, n3) f32 tensor in one of three layouts:
 *   0 contiguous; 1 stored as (n0, n2, n1, n3) with rows padded by 3 and the
 *   data pointer one float off alignment; 2 last dimension of stride 2. */
buf make(test_rng *r, const int64_t n[4], int layout, double sd);
/* The element (i0, i1, i2, i3) of b. */
float *at(buf *b, int64_t i0, int64_t i1, int64_t i2, int64_t i3);
/* b's elements rounded to dtype (ATTN_F16 or ATTN_BF16), in the same layout,
 * at *half (allocated here, freed by the caller): the 16-bit view of b.  b's
 * own floats become the rounded values too, so that b (read by at()) holds
 * what the 16-bit view does. */
attn_tensor to_16bit(buf *b, uint16_t **half, attn_dtype dtype);

typedef struct cfg {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int layout;
    attn_options o;
    const char *what;
    double qscale; /* multiplies q (1e15 for the huge-score test) */
    int nan_hidden; /* plant NaN/Inf in K/V rows of keys hidden from every row: 1 keys >= Lq, 2 keys < Lk - Lq */
    int nan_visible; /* 1: plant NaN in a K row, a Q row and a V element that rows see; 2: the V element only */
    int tiny; /* test_fast_bwd: plant q and k rows of norm below 1e-12 (cosine) */
    int half; /* 1 q in f16, 2 k and v in f16, 3 all three */
    int bf16; /* which of those are bfloat16 instead of f16: 1 q, 2 k and v, 3 all */
} cfg;

/* The views of q, k, v the call takes: f16 or bf16 (to_16bit) as c->half and
 * c->bf16 say, else the f32 ones; h[3] the 16-bit copies to free (NULL where f32). */
void input_views(const cfg *c, buf *q, buf *k, buf *v, attn_tensor t[3], uint16_t *h[3]);

/* The kernels the tests force, each if this CPU supports it. */
extern const attn_kernel kernels[3];

/* A one-line description of c for failure messages. */
void describe(const cfg *c, char *s, size_t n);

/* Storage for the optional tensors of one random config. */
typedef struct extras {
    unsigned char *mask;
    float *bias;
    int64_t klen[4];
    int64_t cu_q[5], cu_k[5];
    float slopes[16];
} extras;

/* A random configuration whose optional tensors live in *x (freed by the
 * caller: x->mask, x->bias). */
cfg random_cfg(test_rng *r, extras *x);

/* The NaN of c->nan_hidden (NaN/Inf in every K and V row of keys >= Lq,
 * hidden from every row by top-left causal; with nan_hidden == 2, of keys
 * < Lk - Lq, for a mask that shows the last Lq keys only) and c->nan_visible (NaN in
 * element 1 of K row 5 and element 0 of V row 9 of every key/value head, and
 * in element 0 of Q row 7 of head 0: rows see them), planted in q, k, v. */
void plant_nans(const cfg *c, buf *q, buf *k, buf *v);

/* The "nan-visible" configuration: one batch, 2 query heads over 1 key/value
 * head, 130 queries, 150 keys, D = 16, Dv = 8, no causal mask. */
cfg nan_visible_cfg(void);

#endif
