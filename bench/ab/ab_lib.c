/* ab_lib.c - see ab_lib.sh: two whole libattn builds (old_ prefixed symbols
 * and the current one) timed alternately, round by round, on B = 1, H heads:
 * forward, backward, or decode (the forward of one query over N keys; of
 * AB_DEC_LQ queries when that is set).  AB_KV_F16=1: K and V in f16 (forward
 * and decode; both libraries must support it). */
#include "attn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
attn_status old_attn_forward(attn_tensor *out, attn_tensor *lse, attn_tensor *weights, const attn_tensor *q,
                             const attn_tensor *k, const attn_tensor *v, const attn_options *o);
attn_status old_attn_backward(const attn_tensor *dq, const attn_tensor *dk, const attn_tensor *dv,
                              const attn_tensor *dout, const attn_tensor *q, const attn_tensor *k,
                              const attn_tensor *v, const attn_tensor *out, const attn_tensor *lse,
                              const attn_options *opts);
/* AB_CLOCK=cpu: the process's CPU time instead of the wall clock (with one
 * thread, time the guest or the host gave to others is then left out) */
static clockid_t ab_clock = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec t;
    clock_gettime(ab_clock, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static float *randbuf(long n)
{
    float *x = malloc(4 * n);
    for (long i = 0; i < n; i++)
        x[i] = rand() / (float)RAND_MAX - 0.5f;
    return x;
}
static double maxdiff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = a[i] - b[i];
        m = d < 0 ? (-d > m ? -d : m) : (d > m ? d : m);
    }
    return m;
}
int main(int argc, char **argv)
{
    if (getenv("AB_CLOCK") && strcmp(getenv("AB_CLOCK"), "cpu") == 0)
        ab_clock = CLOCK_PROCESS_CPUTIME_ID;
    int N = atoi(argv[1]), D = atoi(argv[2]), causal = atoi(argv[3]), th = atoi(argv[4]), reps = atoi(argv[5]);
    int bwd = argc > 6 && strcmp(argv[6], "bwd") == 0, H = argc > 7 ? atoi(argv[7]) : 1;
    int Lq = argc > 6 && strcmp(argv[6], "dec") == 0 ? (getenv("AB_DEC_LQ") ? atoi(getenv("AB_DEC_LQ")) : 1) : N;
    /* AB_GROUP=g: g query heads per key/value head (GQA; decode rows = g x Lq) */
    int G = getenv("AB_GROUP") ? atoi(getenv("AB_GROUP")) : 1, Hq = H * (G > 0 ? G : 1);
    if (bwd && Hq != H) {
        fprintf(stderr, "ab_lib: AB_GROUP is for fwd and dec only\n");
        return 2;
    }
    long n = (long)H * N * D, nq = (long)Hq * Lq * D;
    srand(1);
    float *q = randbuf(nq), *k = randbuf(n), *v = randbuf(n), *go = randbuf(nq), *o = malloc(4 * nq), *ls = malloc(4L * Hq * Lq);
    float *g[2][3];
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 3; t++)
            g[s][t] = malloc(4 * n);
    float *o2 = malloc(4 * nq);
    attn_tensor tq = attn_tensor_4d(q, ATTN_F32, 1, Hq, Lq, D), tk = attn_tensor_4d(k, ATTN_F32, 1, H, N, D),
                tv = attn_tensor_4d(v, ATTN_F32, 1, H, N, D), tgo = attn_tensor_4d(go, ATTN_F32, 1, Hq, Lq, D);
    attn_tensor to = attn_tensor_4d(o, ATTN_F32, 1, Hq, Lq, D), to2 = attn_tensor_4d(o2, ATTN_F32, 1, Hq, Lq, D),
                tl = attn_tensor_3d(ls, ATTN_F32, 1, Hq, Lq);
    if (getenv("AB_KV_F16") && atoi(getenv("AB_KV_F16"))) {
        uint16_t *kh = malloc(2 * n), *vh = malloc(2 * n);
        attn_f16_from_f32(kh, k, (size_t)n), attn_f16_from_f32(vh, v, (size_t)n);
        tk = attn_tensor_4d(kh, ATTN_F16, 1, H, N, D), tv = attn_tensor_4d(vh, ATTN_F16, 1, H, N, D);
    }
    attn_tensor tg[2][3];
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 3; t++)
            tg[s][t] = attn_tensor_4d(g[s][t], ATTN_F32, 1, H, N, D);
    attn_options op;
    memset(&op, 0, sizeof op);
    op.causal = causal ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
    op.threads = th;
    double fl = 2.0 * Hq * Lq * (double)N * 2 * D * (causal ? 0.5 : 1) * (bwd ? 2.5 : 1);
    double *ta = malloc(8 * reps), *tb = malloc(8 * reps), *r = malloc(8 * reps);
    double pk = attn_peak_gflops(th, 200);
    attn_forward(&to, &tl, NULL, &tq, &tk, &tv, &op);
    for (int i = -1; i < reps; i++) { /* round -1: warm-up */
        double t0 = now(), t1, t2;
        if (bwd) {
            old_attn_backward(&tg[0][0], &tg[0][1], &tg[0][2], &tgo, &tq, &tk, &tv, &to, &tl, &op);
            t1 = now();
            attn_backward(&tg[1][0], &tg[1][1], &tg[1][2], &tgo, &tq, &tk, &tv, &to, &tl, &op);
        } else {
            old_attn_forward(&to2, &tl, NULL, &tq, &tk, &tv, &op);
            t1 = now();
            attn_forward(&to, &tl, NULL, &tq, &tk, &tv, &op);
        }
        t2 = now();
        if (i >= 0)
            ta[i] = t1 - t0, tb[i] = t2 - t1, r[i] = tb[i] / ta[i];
    }
    qsort(ta, reps, 8, cmpd), qsort(tb, reps, 8, cmpd), qsort(r, reps, 8, cmpd);
    double md = bwd ? maxdiff(g[0][0], g[1][0], n) : maxdiff(o, o2, nq);
    if (bwd)
        for (int t = 1; t < 3; t++) {
            double m = maxdiff(g[0][t], g[1][t], n);
            md = m > md ? m : md;
        }
    printf("%s H=%d N=%d D=%d causal=%d th=%d peak %.0f | old min %.2f ms (%.1f%%) p10 %.2f med %.2f | new min %.2f "
           "ms (%.1f%%) p10 %.2f med %.2f | new/old per-round ratio p10 %.3f med %.3f p90 %.3f | max|diff| %.2g\n",
           bwd ? "bwd" : Lq == 1 ? "dec" : "fwd", H, N, D, causal, th, pk, ta[0] * 1e3, 100 * fl / ta[0] / 1e9 / pk,
           ta[reps / 10] * 1e3, ta[reps / 2] * 1e3, tb[0] * 1e3, 100 * fl / tb[0] / 1e9 / pk, tb[reps / 10] * 1e3,
           tb[reps / 2] * 1e3, r[reps / 10], r[reps / 2], r[reps * 9 / 10], md);
    return 0;
}
