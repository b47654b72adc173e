/* uk_bwd.c - one step of the tiled backward (128 query rows x 192 keys, as
 * flash_bwd.c runs it) on hot data, each product and pass timed next to a
 * short FMA probe in every round.  Prints, per part, the median and the 90th
 * percentile of its speed over the probe's (for exp_sub and dsoftmax: their
 * time in units of one product's).  Build and run:
 *   gcc -O2 -Isrc -Iinclude bench/ab/uk_bwd.c build-speed/libattn.a -fopenmp -lm -o /tmp/uk_bwd && /tmp/uk_bwd 64 */
#include "kernels/kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define REPS 300
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static float *buf(long n, int mod)
{
    float *x = aligned_alloc(64, (size_t)(4 * n + 63) / 64 * 64);
    for (long i = 0; i < n; i++)
        x[i] = mod ? 0.01f * (float)(i % mod) : 0.0f;
    return x;
}
int main(int argc, char **argv)
{
    const int D = argc > 1 ? atoi(argv[1]) : 64, R = 192, NR = 128;
    const attn_ukernels *uk = attn_ukernels_get(ATTN_KERNEL_AVX512);
    if (!uk)
        uk = attn_ukernels_get(ATTN_KERNEL_AVX2);
    if (!uk)
        return 1;
    float *kt = buf(D * R, 7), *vt = buf(D * R, 5), *kn = buf(R * D, 3), *s = buf(NR * R, 0), *dp = buf(NR * R, 0);
    float *dkt = buf(D * R, 0), *dvt = buf(D * R, 0), *qp = buf(NR * D, 11), *dop = buf(NR * D, 13), *dq = buf(NR * D, 0);
    float lse[NR], di[NR];
    const float *qr[NR], *dr[NR], *sr[NR];
    for (int r = 0; r < NR; r++)
        qr[r] = qp + r * D, dr[r] = dop + r * D, sr[r] = dp + r * R, lse[r] = 1, di[r] = 0.1f;
    static double e[7][REPS];
    const double fl = 2.0 * NR * R * D;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now(), f = uk->fma_probe(20000), peak = f / (now() - t0), t[8];
        t[0] = now();
        uk->gemm_a(NR, D, R, kt, R, qr, s, R, 0, NULL), t[1] = now();
        uk->exp_sub(s, s, NR * R, lse, R), t[2] = now();
        uk->gemm_a(NR, D, R, vt, R, dr, dp, R, 0, NULL), t[3] = now();
        uk->dsoftmax(s, dp, NR * R, R, di, 1.0f), t[4] = now();
        uk->gemm_b(D, NR, R, s, R, dr, dvt, R, 1, NULL), t[5] = now();
        uk->gemm_b(D, NR, R, dp, R, qr, dkt, R, 1, NULL), t[6] = now();
        uk->gemm_a(NR, R, D, kn, D, sr, dq, D, 1, NULL), t[7] = now();
        for (int c = 0; c < 7; c++)
            e[c][rep] = c == 1 || c == 3 ? (t[c + 1] - t[c]) * peak / fl : fl / (t[c + 1] - t[c]) / peak;
    }
    const char *name[7] = {"S = Q K^T", "P = exp(S - lse)", "dP = dO V^T", "dS", "dV += P^T dO", "dK += dS^T Q",
                           "dQ += dS K"};
    printf("kernel %s, D = %d, %d query rows x %d keys\n", uk->name, D, NR, R);
    for (int c = 0; c < 7; c++) {
        qsort(e[c], REPS, 8, cmpd);
        int pass = c == 1 || c == 3; /* a pass: lower is better, so its 10th percentile */
        printf("  %-18s %s med %.3f %s %.3f\n", name[c], pass ? "time / product's:" : "speed / probe's:  ",
               e[c][REPS / 2], pass ? "p10" : "p90", pass ? e[c][REPS / 10] : e[c][REPS * 9 / 10]);
    }
    return 0;
}
