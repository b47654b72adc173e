/*
 * matmul.c - the blocked, OpenMP-parallel matrix product of the layers.
 *
 * C is cut into MB x NB tiles; each tile is one task computed by one thread,
 * which walks K in KC-long panels: it packs the panel of op(B) (KC x NB) into
 * a contiguous buffer and adds each row of op(A) times that panel into a tile
 * accumulator.  The innermost loop runs over the NB columns of a contiguous
 * row, so the compiler vectorises it without reordering any sum: every C
 * element is still summed over k in increasing order from 0 (see nn.h).
 * Small products (PAR_MIN_MNK) stay on the calling thread.
 */
#include "nn/nn.h"

#include <omp.h>

enum { MB = 16, NB = 64, KC = 256 };

/* Products of fewer multiply-adds (M*N*K) than this run on the calling
 * thread, without a parallel region.  Measured with `attn train translate
 * --steps 40` (64-wide model, batch 64, products up to 768 x 256 x 64 =
 * 12.6M) on a shared 2-core host, median of 3 (training seconds):
 *   every product parallel (before):  1 thread 11.3 s, 2 threads 73.5 s
 *   threshold 2^22:                   1 thread 12.0 s, 2 threads 38.2 s (1 run)
 *   threshold 2^24:                   1 thread 10.6 s, 2 threads 16.9 s
 * A region costs little on an idle machine, but when the host is busy a
 * thread is often descheduled and everyone waits for it at the region's
 * end, for milliseconds: 2^24 multiply-adds is ~3 ms of one core here, the
 * order of that wait.  The result does not depend on this (one thread per
 * tile either way). */
#define PAR_MIN_MNK 16777216.0

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
    double mnk = (double)M * (double)N * (double)K;
    int nth = mnk < PAR_MIN_MNK ? 1 : attn_nn_threads(2.0 * mnk);
    if (nth > tasks)
        nth = (int)tasks;
#pragma omp parallel num_threads(nth) if (nth > 1)
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
