/*
 * ref.h - the reference kernels (the oracle).  They take a validated
 * attn_problem (core/internal.h) and fail only on allocation.
 */
#ifndef ATTN_REF_H
#define ATTN_REF_H

#include "core/internal.h"

/* out, lse, weights of p from q, k, v: steps 1-8 of attn.h in double. */
attn_status attn_forward_ref(const attn_problem *p);
/* Steps 1-5 only, written into p->weights (hidden keys -inf). */
attn_status attn_scores_ref(const attn_problem *p);

/* dq, dk, dv of p (attn_problem_init_backward) in double; the scaled_dot and
 * dot scores only (ATTN_ERR_UNSUPPORTED otherwise). */
attn_status attn_backward_ref(const attn_problem *p);

#endif /* ATTN_REF_H */
