/*
 * fuzz_model.h - the small model fuzz_checkpoint.c loads checkpoints into,
 * and gen_corpus.c saves its seed checkpoints from: three tensors of ranks
 * 2, 1 and 4, 15 floats.
 */
#ifndef ATTN_FUZZ_MODEL_H
#define ATTN_FUZZ_MODEL_H

#include <attn.h>

/* Declare and allocate the model into *m (initialised here).  ATTN_OK, or
 * the status of the failing call. */
static inline attn_status fuzz_model_build(attn_model *m)
{
    static const int64_t s_w[2] = {2, 3}, s_b[1] = {3}, s_h[4] = {3, 1, 1, 2};
    int64_t off;
    attn_status st;
    attn_model_init(m);
    if ((st = attn_model_add(m, "enc.w", 2, s_w, ATTN_INIT_UNIFORM, 1.0, &off)) != ATTN_OK ||
        (st = attn_model_add(m, "enc.b", 1, s_b, ATTN_INIT_ZEROS, 0.0, &off)) != ATTN_OK ||
        (st = attn_model_add(m, "head.w", 4, s_h, ATTN_INIT_NORMAL, 0.5, &off)) != ATTN_OK ||
        (st = attn_model_alloc(m, 7)) != ATTN_OK)
        attn_model_free(m);
    return st;
}

#endif
