/*
 * dropout.c - the counter-based dropout generator (definition in attn.h).
 *
 * Stateless: the draw for (seed, b, h, i, j) is a hash of those five numbers,
 * so the backward pass, every kernel and every thread count see one mask.
 * The per-row part (seed, b, h, i) is a 64-bit value computed once per row;
 * the per-column part is two 32-bit rounds, cheap to vectorise.
 */
#include "core/internal.h"
#include "core/dropout.h"

double attn_dropout_uniform(uint64_t seed, int64_t b, int64_t h, int64_t i, int64_t j)
{
    uint64_t r = attn_dropout_row(seed, b, h, i);
    return (double)(attn_dropout_bits(r, j) >> 8) * (1.0 / 16777216.0);
}
