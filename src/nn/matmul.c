/*
 * matmul.c - the blocked, OpenMP-parallel matrix product of the layers.
 *
 * C is cut into MB x NB tiles; each tile is one task computed by one thread,
 * which walks K in KC-long panels: it packs the panel of op(B) (KC x NB) into
 * a contiguous buffer and adds each row of op(A) times that panel into a tile
 * accumulator.  The innermost loop runs over the NB columns of a contiguous
 * row, so the compiler vectorises it without reordering any sum: every C
 * element is still summed over k in increasing order from 0 (see nn.h).
 */
#include "nn/nn.h"

#include <omp.h>

enum { MB = 16, NB = 64, KC = 256 };

/* One tile: rows i0..i0+mb, columns j0..j0+nb, of C. */
static void tile(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_cs, const float *b, int64_t b_rs,
                 int64_t b_cs, int64_t K, int accumulate, int64_t i0, int64_t mb, int64_t j0, int64_t nb,
                 float *restrict pack)
{
    float acc[MB][NB];
    for (int64_t i = 0; i < mb; i++)
        for (int64_t j = 0; j < NB; j++)
            acc[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC;
        for (int64_t kk = 0; kk < kc; kk++) { /* pack op(B)[k0.., j0..] zero-padded to NB columns */
            const float *brow = b + (k0 + kk) * b_rs + j0 * b_cs;
            float *prow = pack + kk * NB;
            if (b_cs == 1)
                for (int64_t j = 0; j < nb; j++)
                    prow[j] = brow[j];
            else
                for (int64_t j = 0; j < nb; j++)
                    prow[j] = brow[j * b_cs];
            for (int64_t j = nb; j < NB; j++)
                prow[j] = 0.0f;
        }
        for (int64_t i = 0; i < mb; i++) {
            const float *arow = a + (i0 + i) * a_rs + k0 * a_cs;
            float *restrict accrow = acc[i];
            for (int64_t kk = 0; kk < kc; kk++) {
                float x = arow[kk * a_cs];
                const float *restrict prow = pack + kk * NB;
                for (int64_t j = 0; j < NB; j++)
                    accrow[j] += x * prow[j];
            }
        }
    }
    for (int64_t i = 0; i < mb; i++) {
        float *crow = c + (i0 + i) * ldc + j0;
        if (accumulate)
            for (int64_t j = 0; j < nb; j++)
                crow[j] += acc[i][j];
        else
            for (int64_t j = 0; j < nb; j++)
                crow[j] = acc[i][j];
    }
}

void attn_nn_matmul(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                    int64_t b_rs, int64_t b_cs, int64_t M, int64_t N, int64_t K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    int64_t tm = (M + MB - 1) / MB, tn = (N + NB - 1) / NB, tasks = tm * tn;
    int nth = attn_nn_threads(2.0 * (double)M * (double)N * (double)K);
    if (nth > tasks)
        nth = (int)tasks;
#pragma omp parallel num_threads(nth)
    {
        float pack[KC * NB]; /* 64 KiB per thread */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t i0 = (t / tn) * MB, j0 = (t % tn) * NB;
            int64_t mb = M - i0 < MB ? M - i0 : MB, nb = N - j0 < NB ? N - j0 : NB;
            tile(c, ldc, a, a_rs, a_cs, b, b_rs, b_cs, K, accumulate, i0, mb, j0, nb, pack);
        }
    }
}
