/*
 * dropout.h - inline pieces of the dropout generator for the kernels.
 * u(seed, b, h, i, j) = (attn_dropout_bits(attn_dropout_row(seed, b, h, i), j) >> 8) * 2^-24;
 * a weight is kept when u >= p, i.e. when (bits >> 8) >= attn_dropout_threshold(p).
 */
#ifndef ATTN_DROPOUT_H
#define ATTN_DROPOUT_H

#include <math.h>
#include <stdint.h>

static inline uint64_t attn_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

static inline uint32_t attn_fmix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

#define ATTN_GOLDEN64 0x9E3779B97F4A7C15ull

static inline uint64_t attn_dropout_row(uint64_t seed, int64_t b, int64_t h, int64_t i)
{
    uint64_t r = attn_mix64((seed ^ (uint64_t)b) + ATTN_GOLDEN64);
    r = attn_mix64((r ^ (uint64_t)h) + ATTN_GOLDEN64);
    return attn_mix64((r ^ (uint64_t)i) + ATTN_GOLDEN64);
}

static inline uint32_t attn_dropout_bits(uint64_t row, int64_t j)
{
    uint32_t x = attn_fmix32((uint32_t)row ^ ((uint32_t)j * 0x9E3779B9u));
    return attn_fmix32(x ^ (uint32_t)(row >> 32));
}

/* Keep iff (bits >> 8) >= threshold, threshold = ceil(p * 2^24). */
static inline uint32_t attn_dropout_threshold(double p) { return (uint32_t)ceil(p * 16777216.0); }

#endif /* ATTN_DROPOUT_H */
