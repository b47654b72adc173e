/*
 * bench.c - `attn bench`: speed and memory, measured (issue 3).
 *
 *   attn bench [--op fwd|bwd|decode] [--shape B,H,Lq,Lk,D] [--kv-heads HKV] [--kv-dtype f32|f16|bf16]
 *              [--causal] [--threads N] [--kernel NAME] [--rounds N] [--json] [--memory]
 *
 * --kv-dtype f16 or bf16: K and V stored as binary16 or bfloat16 (a 16-bit
 * key/value cache; the same random values rounded; the backward's time
 * includes the f32 copies it makes of them).  The check slice gives the
 * reference the same 16-bit K and V.
 * --kv-heads: K and V have HKV heads (a divisor of H; default H), each
 * shared by H / HKV query heads (GQA; MQA with 1).  Each case is first
 * checked against the reference on a slice (the first key/value head with
 * its query heads and the first min(Lq, 128) queries, every key: the
 * reference is too slow for the full size), then timed as the median of
 * many short rounds (the host is shared and pauses cores for milliseconds,
 * so one long timing measures the neighbours): each round runs one (b, hkv)
 * key/value head with its query heads, 1/(B*HKV) of the work, and median_ms
 * is the median round times B*HKV (full_call_ms is one timing of the whole
 * call, for comparison).  GFLOP/s use forward = 2 B H Lq Lk (Dk + Dv),
 * halved for causal, backward = 2.5 x forward; pct_peak is the median
 * round's speed over the fp32 peak: the best of the FMA probe at the start of
 * the run (attn_peak_gflops, best of short rounds: the machine at its
 * fastest) and of the probes run before each round (below).
 * pct_peak_paired is the median over rounds of the round's speed over the
 * rate of the FMA probe run just before it, on the same threads and for as
 * long (attn_fma_gflops): the efficiency in the machine's state of the
 * moment, which the neighbours move less than the first figure (on the
 * shared 2-vCPU machine the probe's rate over 1 s is 70-85 % of its best
 * 2 ms rate).  The reference's speed
 * is measured on the check slice.  Decode also reports the time to read K and
 * V once (a parallel sum over both).  --memory runs forward and backward at
 * N = 65536, one head, D = 64 and reports the peak RSS (getrusage) against
 * inputs + outputs + 64 MiB.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct bcase {
    const char *op; /* fwd, bwd, decode */
    int64_t B, H, Lq, Lk, D;
    int causal;
    int64_t Hkv; /* key/value heads, a divisor of H (0: H) */
    attn_dtype kv16; /* K and V in f16 or bf16; 0: f32 */
} bcase;

typedef struct bopts {
    int threads, json, rounds;
    attn_kernel kernel;
    double peak;
} bopts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *rand_f32(int64_t n, uint64_t *state)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!x)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*state >> 40) / 16777216.0 * 2.0 - 1.0);
    }
    return x;
}

/* Tensors of one problem: q (B,H,Lq,D), k, v (B,H,Lk,D), out/dout (B,H,Lq,D),
 * lse; with kv16, K and V live in k16, v16 (f16 or bf16) and k, v are NULL. */
typedef struct prob {
    int64_t B, H, Hkv, Lq, Lk, D;
    attn_dtype kv16;
    float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv;
    uint16_t *k16, *v16;
    attn_tensor tq, tk, tv, tout, tlse, tdout, tdq, tdk, tdv;
} prob;

/* x (n floats, freed) as f16 or bf16 (dtype) in a new buffer, or NULL (x freed either way). */
static uint16_t *to_16bit(float *x, int64_t n, attn_dtype dtype)
{
    uint16_t *h = x ? malloc((size_t)(n > 0 ? n : 1) * sizeof(uint16_t)) : NULL;
    if (h && dtype == ATTN_BF16)
        attn_bf16_from_f32(h, x, (size_t)n);
    else if (h)
        attn_f16_from_f32(h, x, (size_t)n);
    free(x);
    return h;
}

/* The view of K or V (kv: 0 or 1) from key/value head hh on, (B, heads, Lk, D):
 * all of it from 0 with (p->B, p->Hkv), one head with (1, 1). */
static attn_tensor kv_view(const prob *p, int kv, int64_t hh, int64_t B, int64_t heads)
{
    int64_t off = hh * p->Lk * p->D;
    if (p->kv16)
        return attn_tensor_4d((kv ? p->v16 : p->k16) + off, p->kv16, B, heads, p->Lk, p->D);
    return attn_tensor_4d((kv ? p->v : p->k) + off, ATTN_F32, B, heads, p->Lk, p->D);
}

static int prob_init(prob *p, int64_t B, int64_t H, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t D, int bwd,
                     attn_dtype kv16)
{
    memset(p, 0, sizeof *p);
    p->B = B, p->H = H, p->Hkv = Hkv, p->Lq = Lq, p->Lk = Lk, p->D = D, p->kv16 = kv16;
    uint64_t st = 12345;
    int64_t nq = B * H * Lq * D, nk = B * Hkv * Lk * D;
    p->q = rand_f32(nq, &st), p->k = rand_f32(nk, &st), p->v = rand_f32(nk, &st);
    if (kv16) {
        p->k16 = to_16bit(p->k, nk, kv16), p->v16 = to_16bit(p->v, nk, kv16), p->k = p->v = NULL;
        if (!p->k16 || !p->v16)
            return -1;
    }
    p->out = rand_f32(nq, &st), p->lse = rand_f32(B * H * Lq, &st);
    if (bwd)
        p->dout = rand_f32(nq, &st), p->dq = rand_f32(nq, &st), p->dk = rand_f32(nk, &st), p->dv = rand_f32(nk, &st);
    if (!p->q || (!kv16 && (!p->k || !p->v)) || !p->out || !p->lse ||
        (bwd && (!p->dout || !p->dq || !p->dk || !p->dv)))
        return -1;
    p->tq = attn_tensor_4d(p->q, ATTN_F32, B, H, Lq, D);
    p->tk = kv_view(p, 0, 0, B, Hkv), p->tv = kv_view(p, 1, 0, B, Hkv);
    p->tout = attn_tensor_4d(p->out, ATTN_F32, B, H, Lq, D);
    p->tlse = attn_tensor_3d(p->lse, ATTN_F32, B, H, Lq);
    if (bwd) {
        p->tdout = attn_tensor_4d(p->dout, ATTN_F32, B, H, Lq, D);
        p->tdq = attn_tensor_4d(p->dq, ATTN_F32, B, H, Lq, D);
        p->tdk = attn_tensor_4d(p->dk, ATTN_F32, B, Hkv, Lk, D);
        p->tdv = attn_tensor_4d(p->dv, ATTN_F32, B, Hkv, Lk, D);
    }
    return 0;
}

static void prob_free(prob *p)
{
    free(p->q), free(p->k), free(p->v), free(p->k16), free(p->v16), free(p->out), free(p->lse);
    free(p->dout), free(p->dq), free(p->dk), free(p->dv);
}

static attn_status run_op(prob *p, int bwd, const attn_options *o)
{
    attn_status st = attn_forward(&p->tout, &p->tlse, NULL, &p->tq, &p->tk, &p->tv, o);
    if (st != ATTN_OK || !bwd)
        return st;
    return attn_backward(&p->tdq, &p->tdk, &p->tdv, &p->tdout, &p->tq, &p->tk, &p->tv, &p->tout, &p->tlse, o);
}

static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d; /* NaN wins */
    }
    return m;
}

/* Check the kernel against the reference on the slice; returns the max error
 * (out for fwd/decode; dq, dk, dv for bwd) and the reference's GFLOP/s. */
/* (query, key) pairs that rows queries see among Lk keys: all, or under the
 * top-left causal mask sum_i min(i + 1, Lk) (Lq Lk / 2 within 1/Lq when
 * Lq == Lk, the "halved for causal"). */
static double visible_pairs(int64_t rows, int64_t Lk, int causal)
{
    if (!causal)
        return (double)rows * (double)Lk;
    int64_t tri = rows < Lk ? rows : Lk; /* rows 0 .. tri-1 see i + 1 keys, the rest all Lk */
    return (double)tri * (double)(tri + 1) / 2 + (double)(rows - tri) * (double)Lk;
}

static int check_slice(const bcase *c, const bopts *bo, double *max_err, double *ref_gflops, int64_t *slice_rows)
{
    int bwd = strcmp(c->op, "bwd") == 0;
    int64_t rows = c->Lq < 128 ? c->Lq : 128, group = c->H / c->Hkv;
    *slice_rows = rows;
    prob a, r;
    if (prob_init(&a, 1, group, 1, rows, c->Lk, c->D, bwd, c->kv16) ||
        prob_init(&r, 1, group, 1, rows, c->Lk, c->D, bwd, c->kv16)) {
        fprintf(stderr, "attn: error: out of memory for the check slice\n");
        return -1;
    }
    attn_options o;
    memset(&o, 0, sizeof o);
    o.causal = c->causal ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE; /* top-left: a prefix of rows is exact */
    o.threads = bo->threads;
    o.kernel = bo->kernel;
    attn_status st = run_op(&a, bwd, &o);
    o.kernel = ATTN_KERNEL_REFERENCE;
    double t0 = now();
    if (st == ATTN_OK)
        st = run_op(&r, bwd, &o);
    double dt = now() - t0;
    if (st != ATTN_OK) {
        fprintf(stderr, "attn: error: %s\n", attn_errmsg());
        prob_free(&a), prob_free(&r);
        return -1;
    }
    double flops = 2.0 * (double)group * visible_pairs(rows, c->Lk, c->causal) * 2.0 * c->D * (bwd ? 2.5 : 1.0);
    *ref_gflops = flops / dt * 1e-9;
    int64_t nq = group * rows * c->D, nk = c->Lk * c->D;
    if (!bwd)
        *max_err = max_abs_diff(a.out, r.out, nq);
    else {
        double e1 = max_abs_diff(a.dq, r.dq, nq), e2 = max_abs_diff(a.dk, r.dk, nk), e3 = max_abs_diff(a.dv, r.dv, nk);
        *max_err = e1 > e2 ? e1 : e2;
        *max_err = e3 > *max_err ? e3 : *max_err;
    }
    prob_free(&a), prob_free(&r);
    return 0;
}

/* Seconds to read K and V once, as stored (f32 or 16-bit): a parallel sum over both. */
static double read_time(const prob *p, int threads)
{
    /* like the kernel's rounds: one head's K and V per round, median x heads */
    int64_t heads = p->B * p->Hkv, n = p->Lk * p->D;
    double t[63];
    for (int r = 0; r < 63; r++) {
        double t0 = now();
        float s = 0;
        if (p->kv16) { /* pairs of 16-bit values as 32-bit integers: the read, no widening (an odd n's last half is left out) */
            typedef uint32_t word __attribute__((may_alias, aligned(2)));
            const word *k = (const word *)(const void *)(p->k16 + (r % heads) * n),
                       *v = (const word *)(const void *)(p->v16 + (r % heads) * n);
            uint32_t si = 0;
#pragma omp parallel for simd num_threads(threads) reduction(+ : si) schedule(static)
            for (int64_t i = 0; i < n / 2; i++)
                si += k[i] + v[i];
            s = (float)si;
        } else {
            const float *k = p->k + (r % heads) * n, *v = p->v + (r % heads) * n;
#pragma omp parallel for simd num_threads(threads) reduction(+ : s) schedule(static)
            for (int64_t i = 0; i < n; i++)
                s += k[i] + v[i];
        }
        t[r] = (now() - t0) * (double)heads;
        if (s == 12345.678f)
            fprintf(stderr, " ");
    }
    qsort(t, 63, sizeof *t, cmp_double);
    return t[31];
}

static int run_case(const bcase *c, const bopts *bo)
{
    int bwd = strcmp(c->op, "bwd") == 0, decode = strcmp(c->op, "decode") == 0;
    double max_err = 0, ref_gflops = 0;
    int64_t slice_rows = 0;
    if (check_slice(c, bo, &max_err, &ref_gflops, &slice_rows))
        return 1;
    prob p;
    if (prob_init(&p, c->B, c->H, c->Hkv, c->Lq, c->Lk, c->D, bwd, c->kv16)) {
        fprintf(stderr, "attn: error: out of memory for B=%lld H=%lld Lq=%lld Lk=%lld D=%lld\n", (long long)c->B,
                (long long)c->H, (long long)c->Lq, (long long)c->Lk, (long long)c->D);
        prob_free(&p);
        return 1;
    }
    attn_options o;
    memset(&o, 0, sizeof o);
    o.causal = c->causal ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
    o.threads = bo->threads;
    o.kernel = bo->kernel;
    if (run_op(&p, bwd, &o) != ATTN_OK) { /* warm-up */
        fprintf(stderr, "attn: error: %s\n", attn_errmsg());
        prob_free(&p);
        return 1;
    }
    /* Rounds: each computes one (b, hkv) key/value head of the problem with
     * its query heads, 1/(B*Hkv) of the work (every head has the same),
     * cycling through the heads; the median round times B*Hkv estimates the
     * whole call.  Short rounds let the median skip the host's pauses. */
    double full_t0 = now(); /* one whole call, for comparison */
    attn_status fst = bwd ? attn_backward(&p.tdq, &p.tdk, &p.tdv, &p.tdout, &p.tq, &p.tk, &p.tv, &p.tout, &p.tlse, &o)
                          : attn_forward(&p.tout, &p.tlse, NULL, &p.tq, &p.tk, &p.tv, &o);
    if (fst != ATTN_OK) {
        fprintf(stderr, "attn: error: %s\n", attn_errmsg());
        prob_free(&p);
        return 1;
    }
    double full_s = now() - full_t0;
    const int64_t group = c->H / c->Hkv, heads = c->B * c->Hkv, nq = group * c->Lq * c->D, nk = c->Lk * c->D;
    static double times[2000], paired[2000];
    /* the peak: the best FMA rate of the run, the start's probe or one of
     * the rounds' (a start that met a pause of the host gives a low first
     * figure, and with it a flattering pct_peak) */
    double peak = bo->peak;
    int n = 0;
    double flops = 2.0 * c->B * c->H * visible_pairs(c->Lq, c->Lk, c->causal) * 2.0 * c->D * (bwd ? 2.5 : 1.0);
    double start = now();
    int want = bo->rounds > 0 ? bo->rounds : 31;
    for (int tries = 0; tries < 4000 && n < 2000 && (n < want || (bo->rounds == 0 && now() - start < 3.0 && n < 501));
         tries++) {
        int64_t hh = n % heads;
        attn_tensor hq = attn_tensor_4d(p.q + hh * nq, ATTN_F32, 1, group, c->Lq, c->D);
        attn_tensor hk = kv_view(&p, 0, hh, 1, 1), hv = kv_view(&p, 1, hh, 1, 1);
        attn_tensor ho = attn_tensor_4d(p.out + hh * nq, ATTN_F32, 1, group, c->Lq, c->D);
        attn_tensor hl = attn_tensor_3d(p.lse + hh * group * c->Lq, ATTN_F32, 1, group, c->Lq);
        attn_status st;
        /* the FMA rate right now, over the same threads and about as long as
         * the last round: the round's speed over it is its efficiency in the
         * machine's state of the moment */
        double last_ms = n > 0 ? 1e3 * times[n - 1] / (double)heads : 20;
        double peak_now = attn_fma_gflops(bo->threads, last_ms > 1 ? last_ms : 1); /* >= 1 ms: not all start-up */
        peak = peak_now > peak ? peak_now : peak;
        double t0 = now();
        if (bwd) {
            attn_tensor hdo = attn_tensor_4d(p.dout + hh * nq, ATTN_F32, 1, group, c->Lq, c->D);
            attn_tensor hdq = attn_tensor_4d(p.dq + hh * nq, ATTN_F32, 1, group, c->Lq, c->D);
            attn_tensor hdk = attn_tensor_4d(p.dk + hh * nk, ATTN_F32, 1, 1, c->Lk, c->D);
            attn_tensor hdv = attn_tensor_4d(p.dv + hh * nk, ATTN_F32, 1, 1, c->Lk, c->D);
            st = attn_backward(&hdq, &hdk, &hdv, &hdo, &hq, &hk, &hv, &ho, &hl, &o);
        } else
            st = attn_forward(&ho, &hl, NULL, &hq, &hk, &hv, &o);
        times[n] = (now() - t0) * (double)heads;
        if (!(times[n] > 0))
            continue; /* below the clock's resolution: not a measurement */
        paired[n] = flops / times[n] * 1e-9 / peak_now;
        n++;
        if (st != ATTN_OK) {
            fprintf(stderr, "attn: error: %s\n", attn_errmsg());
            prob_free(&p);
            return 1;
        }
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    qsort(paired, (size_t)n, sizeof *paired, cmp_double);
    double med = times[n / 2], pct_paired = 100 * paired[n / 2];
    double gf = flops / med * 1e-9;
    attn_kernel used = attn_kernel_for(&p.tq, &p.tk, &p.tv, &o);
    double rd = decode ? read_time(&p, bo->threads > 0 ? bo->threads : attn_get_num_threads()) : 0;
    int threads = bo->threads > 0 ? bo->threads : attn_get_num_threads();
    if (bo->json) {
        printf("{\"op\":\"%s\",\"B\":%lld,\"H\":%lld,\"Lq\":%lld,\"Lk\":%lld,\"D\":%lld,\"causal\":%s,\"threads\":%d,"
               "\"kernel\":\"%s\",\"median_ms\":%.4f,\"min_ms\":%.4f,\"rounds\":%d,\"gflops\":%.2f,"
               "\"peak_gflops\":%.2f,\"pct_peak\":%.2f,\"max_err\":%.3g,\"check\":\"B=1 H=%lld Hkv=1 Lq=%lld slice\","
               "\"pct_peak_paired\":%.2f,\"ref_gflops\":%.3f,\"speedup_vs_ref\":%.1f,\"full_call_ms\":%.3f,"
               "\"Hkv\":%lld,\"kv_dtype\":\"%s\"",
               c->op, (long long)c->B, (long long)c->H, (long long)c->Lq, (long long)c->Lk, (long long)c->D,
               c->causal ? "true" : "false", threads, attn_kernel_name(used), med * 1e3, times[0] * 1e3, n, gf,
               peak, 100 * gf / peak, max_err, (long long)group, (long long)slice_rows, pct_paired, ref_gflops,
               gf / ref_gflops, full_s * 1e3, (long long)c->Hkv, c->kv16 ? attn_dtype_name(c->kv16) : "f32");
        if (decode)
            printf(",\"read_kv_ms\":%.4f,\"ratio_to_read\":%.3f", rd * 1e3, med / rd);
        printf("}\n");
    } else {
        char hkv[32] = "";
        if (c->Hkv != c->H)
            snprintf(hkv, sizeof hkv, " Hkv=%lld", (long long)c->Hkv);
        if (c->kv16)
            snprintf(hkv + strlen(hkv), sizeof hkv - strlen(hkv), " kv=%s", attn_dtype_name(c->kv16));
        printf("%-6s B=%lld H=%lld%s Lq=%lld Lk=%lld D=%lld %-6s threads=%d kernel=%-9s median %9.3f ms (%3d rounds)  "
               "%7.1f GFLOP/s  %5.1f%% of peak (%.1f%% paired)  x%.0f vs reference  max_err %.2g",
               c->op, (long long)c->B, (long long)c->H, hkv, (long long)c->Lq, (long long)c->Lk, (long long)c->D,
               c->causal ? "causal" : "full", threads, attn_kernel_name(used), med * 1e3, n, gf,
               100 * gf / peak, pct_paired, gf / ref_gflops, max_err);
        if (decode)
            printf("  read K,V once %.3f ms (x%.2f)", rd * 1e3, med / rd);
        printf("\n");
    }
    fflush(stdout);
    prob_free(&p);
    return max_err < 1e-2 ? 0 : 1;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int run_memory(const bopts *bo, int causal)
{
    const int64_t N = 65536, D = 64;
    prob p;
    if (prob_init(&p, 1, 1, 1, N, N, D, 1, 0)) {
        fprintf(stderr, "attn: error: out of memory\n");
        return 1;
    }
    double io_mib = (double)(8 * N * D + N) * 4 / 1048576.0; /* q k v out dout dq dk dv + lse */
    long base = max_rss_kib();
    attn_options o;
    memset(&o, 0, sizeof o);
    o.causal = causal ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
    o.threads = bo->threads;
    o.kernel = bo->kernel;
    double t0 = now();
    attn_status st = attn_forward(&p.tout, &p.tlse, NULL, &p.tq, &p.tk, &p.tv, &o);
    double t1 = now();
    long after_fwd = max_rss_kib();
    if (st == ATTN_OK)
        st = attn_backward(&p.tdq, &p.tdk, &p.tdv, &p.tdout, &p.tq, &p.tk, &p.tv, &p.tout, &p.tlse, &o);
    double t2 = now();
    long after_bwd = max_rss_kib();
    if (st != ATTN_OK) {
        fprintf(stderr, "attn: error: %s\n", attn_errmsg());
        prob_free(&p);
        return 1;
    }
    double extra = (double)(after_bwd - base) / 1024.0;
    int ok = extra <= 64.0;
    if (bo->json)
        printf("{\"op\":\"memory\",\"N\":%lld,\"H\":1,\"D\":%lld,\"causal\":%s,\"inputs_outputs_mib\":%.1f,"
               "\"rss_before_mib\":%.1f,\"peak_rss_fwd_mib\":%.1f,\"peak_rss_bwd_mib\":%.1f,\"extra_mib\":%.1f,"
               "\"fwd_s\":%.2f,\"bwd_s\":%.2f,\"within_64mib\":%s}\n",
               (long long)N, (long long)D, causal ? "true" : "false", io_mib, base / 1024.0, after_fwd / 1024.0,
               after_bwd / 1024.0, extra, t1 - t0, t2 - t1, ok ? "true" : "false");
    else
        printf("memory N=%lld H=1 D=%lld %s: inputs+outputs %.1f MiB, peak RSS %.1f MiB before, %.1f after forward, "
               "%.1f after backward: %.1f MiB beyond the inputs and outputs (limit 64) %s; forward %.2f s, backward "
               "%.2f s\n",
               (long long)N, (long long)D, causal ? "causal" : "full", io_mib, base / 1024.0, after_fwd / 1024.0,
               after_bwd / 1024.0, extra, ok ? "OK" : "OVER", t1 - t0, t2 - t1);
    prob_free(&p);
    return ok ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: attn bench [--op fwd|bwd|decode] [--shape B,H,Lq,Lk,D] [--kv-heads HKV] "
                    "[--kv-dtype f32|f16|bf16] [--causal] [--threads N] [--kernel auto|reference|scalar|avx2|avx512] "
                    "[--rounds N] [--json] [--memory]\n");
    return 2;
}

int attn_cmd_bench(int argc, char **argv)
{
    bopts bo;
    memset(&bo, 0, sizeof bo);
    bcase one;
    memset(&one, 0, sizeof one);
    one.op = "fwd";
    int have_shape = 0, memory = 0;
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(s, "--op") == 0 && val) {
            if (strcmp(val, "fwd") && strcmp(val, "bwd") && strcmp(val, "decode")) {
                fprintf(stderr, "attn: error: --op is '%s', expected fwd, bwd or decode\n", val);
                return 2;
            }
            one.op = val, a++;
        } else if (strcmp(s, "--shape") == 0 && val) {
            long long b, h, lq, lk, d;
            char extra;
            if (sscanf(val, "%lld,%lld,%lld,%lld,%lld%c", &b, &h, &lq, &lk, &d, &extra) != 5 || b < 1 || h < 1 ||
                lq < 1 || lk < 1 || d < 1) {
                fprintf(stderr, "attn: error: --shape is '%s', expected B,H,Lq,Lk,D (positive integers)\n", val);
                return 2;
            }
            one.B = b, one.H = h, one.Lq = lq, one.Lk = lk, one.D = d, have_shape = 1, a++;
        } else if (strcmp(s, "--kv-heads") == 0 && val) {
            char *end;
            long long hkv = strtoll(val, &end, 10);
            if (*val == '\0' || *end != '\0' || hkv < 1) {
                fprintf(stderr, "attn: error: --kv-heads is '%s', expected a positive integer\n", val);
                return 2;
            }
            one.Hkv = hkv, a++;
        } else if (strcmp(s, "--kv-dtype") == 0 && val) {
            if (strcmp(val, "f32") && strcmp(val, "f16") && strcmp(val, "bf16")) {
                fprintf(stderr, "attn: error: --kv-dtype is '%s', expected f32, f16 or bf16\n", val);
                return 2;
            }
            one.kv16 = strcmp(val, "f16") == 0 ? ATTN_F16 : strcmp(val, "bf16") == 0 ? ATTN_BF16 : 0, a++;
        } else if (strcmp(s, "--causal") == 0)
            one.causal = 1;
        else if (strcmp(s, "--threads") == 0 && val) {
            bo.threads = atoi(val), a++;
            if (bo.threads < 1) {
                fprintf(stderr, "attn: error: --threads is '%s', expected a positive integer\n", val);
                return 2;
            }
        } else if (strcmp(s, "--rounds") == 0 && val) {
            bo.rounds = atoi(val), a++;
            if (bo.rounds < 1 || bo.rounds > 1000) {
                fprintf(stderr, "attn: error: --rounds is '%s', expected 1 to 1000\n", val);
                return 2;
            }
        } else if (strcmp(s, "--kernel") == 0 && val) {
            if (attn_kernel_parse(val, &bo.kernel) != ATTN_OK) {
                fprintf(stderr, "attn: error: %s\n", attn_errmsg());
                return 2;
            }
            a++;
        } else if (strcmp(s, "--json") == 0)
            bo.json = 1;
        else if (strcmp(s, "--memory") == 0)
            memory = 1;
        else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "attn: error: unknown or incomplete option '%s'\n", s);
            return usage();
        }
    }
    if (bo.kernel != ATTN_KERNEL_AUTO && !attn_kernel_available(bo.kernel)) {
        fprintf(stderr, "attn: error: this CPU cannot run the %s kernel (features: %s)\n", attn_kernel_name(bo.kernel),
                attn_cpu_features());
        return 1;
    }
    if (one.Hkv == 0)
        one.Hkv = have_shape ? one.H : 0;
    else if (!have_shape) {
        fprintf(stderr, "attn: error: --kv-heads needs --shape\n");
        return 2;
    } else if (one.H % one.Hkv != 0) {
        fprintf(stderr, "attn: error: --kv-heads is %lld, which does not divide the %lld query heads of --shape\n",
                (long long)one.Hkv, (long long)one.H);
        return 2;
    }
    if (one.kv16 && (memory || !have_shape)) {
        fprintf(stderr, "attn: error: --kv-dtype %s needs --shape (the sweep has its own 16-bit cases; --memory uses f32)\n",
                attn_dtype_name(one.kv16));
        return 2;
    }
    int threads = bo.threads > 0 ? bo.threads : attn_get_num_threads();
    bo.peak = attn_peak_gflops(threads, 400);
    if (!bo.json)
        printf("attn bench: cpu %s, best kernel %s, %d threads, measured fp32 peak %.1f GFLOP/s\n", attn_cpu_features(),
               attn_kernel_name(attn_kernel_best()), threads, bo.peak);
    if (memory)
        return run_memory(&bo, one.causal);
    if (have_shape)
        return run_case(&one, &bo);
    static const bcase sweep[] = {
        {"fwd", 1, 8, 4096, 4096, 128, 0, 8, 0},    {"fwd", 1, 8, 4096, 4096, 64, 1, 8, 0},
        {"fwd", 1, 8, 4096, 4096, 64, 0, 8, 0},     {"fwd", 1, 8, 1024, 1024, 64, 0, 8, 0},
        {"bwd", 1, 8, 4096, 4096, 64, 0, 8, 0},     {"bwd", 1, 8, 4096, 4096, 128, 0, 8, 0},
        {"decode", 1, 8, 1, 32768, 128, 0, 8, 0},   {"decode", 1, 32, 1, 32768, 128, 0, 8, 0},
        {"decode", 1, 8, 1, 32768, 128, 0, 8, ATTN_F16}, /* 16-bit key/value caches */
        {"decode", 1, 8, 1, 32768, 128, 0, 8, ATTN_BF16},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof sweep / sizeof *sweep; i++)
        rc |= run_case(&sweep[i], &bo);
    return rc;
}
