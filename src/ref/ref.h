/*
 * ref.h - the reference kernels (the oracle).  They take a validated
 * attn_problem (core/internal.h) and fail only on allocation.
 */
#ifndef ATTN_REF_H
#define ATTN_REF_H

#include "core/internal.h"

/* The scores of one query row, steps 1-5 of attn.h in double: written once
 * (forward_ref.c) and used by the forward and the backward, so the oracle
 * differentiates exactly the scores it computes.  Scratch, owned by the
 * caller (one per thread); Lk, A, Dq as in the problem:
 *   knorm  (Lk)                    cosine: |k_j|
 *   wk     (Lk * Dq) or (Lk * A)   bilinear: W k_j; additive: Wk k_j
 *   wq     (A)                     additive: Wq q_i
 *   qrow   (Dq)                    q_i as doubles
 *   s      (Lk)                    the row's scores; -inf for hidden keys
 *   t      (Lk) or NULL            when given: each visible key's score after
 *                                  step 1 (scaled, before the soft-cap), for
 *                                  the soft-cap's derivative */
typedef struct attn_ref_row {
    double *knorm, *wk, *wq, *qrow, *s, *t;
} attn_ref_row;

/* The key side of the score for batch b, query head h (knorm, wk): once per
 * (b, h) before the rows.  Nothing to do for the dot scores. */
void attn_ref_prepare_keys(const attn_problem *p, attn_ref_row *r, int64_t b, int64_t h);

/* Steps 1-5 for query row i: fills r->qrow, r->wq, r->s (and r->t) and
 * returns how many keys are visible.  No score is formed for a hidden key,
 * so NaN or Inf in its K cannot reach r->s. */
int64_t attn_ref_row_scores(const attn_problem *p, attn_ref_row *r, int64_t b, int64_t h, int64_t i);

/* out, lse, weights of p from q, k, v: steps 1-8 of attn.h in double. */
attn_status attn_forward_ref(const attn_problem *p);
/* Steps 1-5 only, written into p->weights (hidden keys -inf). */
attn_status attn_scores_ref(const attn_problem *p);

/* dq, dk, dv of p (attn_problem_init_backward) in double; the scaled_dot,
 * dot and cosine scores only (ATTN_ERR_UNSUPPORTED otherwise). */
attn_status attn_backward_ref(const attn_problem *p);

#endif /* ATTN_REF_H */
