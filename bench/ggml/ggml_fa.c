/*
 * ggml_fa.c - time ggml's CPU ggml_flash_attn_ext forward the way `attn bench` times attn.
 *
 *   ggml_fa [--op fwd|decode] [--shape B,H,Lq,Lk,D] [--causal] [--threads N] [--kv f32|f16] [--rounds N]
 *
 * Prints one JSON object (the fields of `attn bench --json` that apply, plus kv_type).
 *
 * The problem is attn's: Q, K, V uniform in [-1, 1) from the same kind of generator, shape (B, H, L, D)
 * row-major, scale 1/sqrt(D), no mask, or under --causal the top-left causal mask (query i sees keys
 * 0..i). --op only labels the output: decode is the same call with Lq = 1.
 *
 * ggml's contract (ggml.h of the vendored ggml 0.15.3), sizes in ggml's ne order (innermost first):
 *   q    [D,  Lq, H,  B]  F32
 *   k, v [D,  Lk, Hk, B]  F32 or F16, rows contiguous; v is NOT transposed
 *   mask [Lk, Lq, 1,  1]  F16, contiguous, added to the scaled scores (-INF hides a key); broadcast
 *                         over heads and batches (H % ne2 == 0, B % ne3 == 0); no padding of Lq is
 *                         needed in this version (GGML_KQ_MASK_PAD is gone)
 *   out  [D,  H,  Lq, B]  F32, PERMUTED: heads and queries swap places
 * The (B, H, L, D) row-major arrays are exactly q, k, v in that order, so they are copied as they are.
 *
 * Timing follows attn bench: each round computes one (b, h) head (a graph over views of that head),
 * cycling through the heads; median_ms is the median round times B*H; at least 31 rounds, more until
 * 3 s have passed (at most 501), or exactly --rounds. Then the same for rounds of the whole problem in
 * one graph, ggml's usual call (call_median_ms, at least 15 rounds): with one head per graph ggml's
 * 4 row chunks per thread are uneven under the causal mask, with all heads they are not.
 * FLOPs: 2 * B * H * P * (Dk + Dv), P the visible (query, key) pairs.
 *
 * The check: the whole-problem output of head (0, 0), first min(Lq, 128) queries, against a double
 * reference computed from the K and V values ggml was given (rounded to F16 under --kv f16), so max_err
 * measures ggml's arithmetic, not the rounding of the inputs.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "ggml-cpu.h"
#include "ggml.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *op;
    int64_t B, H, Lq, Lk, D;
    int causal, threads, rounds;
    enum ggml_type kv;
} fa_case;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n floats uniform in [-1, 1): a 64-bit LCG, top 24 bits (as attn bench draws its inputs) */
static void fill_uniform(float *x, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*state >> 40) / 16777216.0 * 2.0 - 1.0);
    }
}

/* (query, key) pairs seen by rows queries among Lk keys: all, or under the top-left causal mask
 * sum_i min(i + 1, Lk) (the count attn bench uses) */
static double visible_pairs(int64_t rows, int64_t Lk, int causal)
{
    if (!causal)
        return (double)rows * (double)Lk;
    int64_t tri = rows < Lk ? rows : Lk;
    return (double)tri * (double)(tri + 1) / 2 + (double)(rows - tri) * (double)Lk;
}

/* Copies n floats into t's data, converting to t's type (F32 or F16). */
static void tensor_set(struct ggml_tensor *t, const float *x, int64_t n)
{
    if (t->type == GGML_TYPE_F16)
        ggml_fp32_to_fp16_row(x, (ggml_fp16_t *)t->data, n);
    else
        memcpy(t->data, x, (size_t)n * sizeof(float));
}

/* Reads n floats of t's data from element offset off (F32 or F16) into x. */
static void tensor_get(float *x, const struct ggml_tensor *t, int64_t off, int64_t n)
{
    if (t->type == GGML_TYPE_F16)
        ggml_fp16_to_fp32_row((const ggml_fp16_t *)t->data + off, x, n);
    else
        memcpy(x, (const float *)t->data + off, (size_t)n * sizeof(float));
}

/* A view of head (b, h) of t [D, L, H, B]: [D, L, 1, 1] over the same data. */
static struct ggml_tensor *head_view(struct ggml_context *ctx, struct ggml_tensor *t, int64_t b, int64_t h)
{
    return ggml_view_4d(ctx, t, t->ne[0], t->ne[1], 1, 1, t->nb[1], t->nb[2], t->nb[3],
                        (size_t)b * t->nb[3] + (size_t)h * t->nb[2]);
}

/* Max |ggml - reference| over head (0, 0), queries 0..rows-1. q: (rows, D) floats; k, v: (Lk, D) floats
 * as ggml saw them; out: ggml's permuted [D, H, Lq, B] result. Returns -1 if out of memory. */
static double check_head0(const float *q, const float *k, const float *v, const float *out, const fa_case *c,
                          int64_t rows)
{
    int64_t D = c->D, Lk = c->Lk;
    double *s = malloc((size_t)Lk * sizeof *s), *o = malloc((size_t)D * sizeof *o);
    if (!s || !o) {
        free(s), free(o);
        return -1;
    }
    double scale = 1.0 / sqrt((double)D), err = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t seen = c->causal ? (i + 1 < Lk ? i + 1 : Lk) : Lk; /* top-left: keys 0..i */
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < seen; j++) {
            double dot = 0;
            for (int64_t d = 0; d < D; d++)
                dot += (double)q[i * D + d] * (double)k[j * D + d];
            s[j] = dot * scale;
            m = s[j] > m ? s[j] : m;
        }
        for (int64_t d = 0; d < D; d++)
            o[d] = 0;
        for (int64_t j = 0; j < seen; j++) {
            double w = exp(s[j] - m);
            sum += w;
            for (int64_t d = 0; d < D; d++)
                o[d] += w * (double)v[j * D + d];
        }
        const float *got = out + i * c->H * D; /* (d, h = 0, i, b = 0) */
        for (int64_t d = 0; d < D; d++) {
            double e = fabs((double)got[d] - o[d] / sum);
            if (!(e <= err))
                err = e; /* NaN wins */
        }
    }
    free(s), free(o);
    return err;
}

typedef struct {
    double median, min; /* seconds for the whole problem */
    int n;
} rounds;

/* Times rounds of graph[r % ngraphs] (each 1/ngraphs of the problem) and scales each round's time by
 * ngraphs. Runs want rounds, then if more is set keeps going until 3 s have passed (at most 501).
 * Returns 0, or -1 if a compute fails. */
static int time_rounds(rounds *res, struct ggml_cgraph **graph, struct ggml_cplan *plan, int64_t ngraphs, int want,
                       int more)
{
    static double t[501];
    int n = 0;
    double start = now();
    while (n < want || (more && n < 501 && now() - start < 3.0)) {
        int64_t g = n % ngraphs;
        double t0 = now();
        if (ggml_graph_compute(graph[g], &plan[g]) != GGML_STATUS_SUCCESS)
            return -1;
        t[n++] = (now() - t0) * (double)ngraphs;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    res->median = t[n / 2], res->min = t[0], res->n = n;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: ggml_fa [--op fwd|decode] [--shape B,H,Lq,Lk,D] [--causal] [--threads N] "
                    "[--kv f32|f16] [--rounds N]\n");
    return 2;
}

static int parse_args(fa_case *c, int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(s, "--causal") == 0) {
            c->causal = 1;
        } else if (!val) {
            return usage();
        } else if (strcmp(s, "--op") == 0) {
            if (strcmp(val, "fwd") && strcmp(val, "decode")) {
                fprintf(stderr, "ggml_fa: error: --op is '%s', expected fwd or decode\n", val);
                return 2;
            }
            c->op = val, a++;
        } else if (strcmp(s, "--shape") == 0) {
            long long b, h, lq, lk, d;
            char end;
            if (sscanf(val, "%lld,%lld,%lld,%lld,%lld%c", &b, &h, &lq, &lk, &d, &end) != 5 || b < 1 || h < 1 ||
                lq < 1 || lk < 1 || d < 1) {
                fprintf(stderr, "ggml_fa: error: --shape is '%s', expected B,H,Lq,Lk,D (all >= 1)\n", val);
                return 2;
            }
            c->B = b, c->H = h, c->Lq = lq, c->Lk = lk, c->D = d, a++;
        } else if (strcmp(s, "--threads") == 0) {
            c->threads = atoi(val), a++;
            if (c->threads < 1 || c->threads > 512) {
                fprintf(stderr, "ggml_fa: error: --threads is '%s', expected 1 to 512\n", val);
                return 2;
            }
        } else if (strcmp(s, "--kv") == 0) {
            if (strcmp(val, "f32") && strcmp(val, "f16")) {
                fprintf(stderr, "ggml_fa: error: --kv is '%s', expected f32 or f16\n", val);
                return 2;
            }
            c->kv = strcmp(val, "f16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_F32, a++;
        } else if (strcmp(s, "--rounds") == 0) {
            c->rounds = atoi(val), a++;
            if (c->rounds < 1 || c->rounds > 1000) {
                fprintf(stderr, "ggml_fa: error: --rounds is '%s', expected 1 to 1000\n", val);
                return 2;
            }
        } else {
            return usage();
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    fa_case c = {"fwd", 1, 8, 4096, 4096, 128, 0, 2, 0, GGML_TYPE_F32};
    int rc = parse_args(&c, argc, argv);
    if (rc)
        return rc;
    const int64_t B = c.B, H = c.H, Lq = c.Lq, Lk = c.Lk, D = c.D, heads = B * H;
    const int64_t nq = B * H * Lq * D, nk = B * H * Lk * D;
    const size_t kv_size = ggml_type_size(c.kv);

    /* inputs as attn bench makes them: q, then k, then v from one generator */
    float *x = malloc((size_t)(nq + 2 * nk) * sizeof *x);
    if (!x) {
        fprintf(stderr, "ggml_fa: error: out of memory for the inputs\n");
        return 1;
    }
    uint64_t st = 12345;
    fill_uniform(x, nq + 2 * nk, &st);

    /* one context holds every tensor: inputs, mask, whole-problem output, per-head views and outputs */
    size_t mem = (size_t)nq * 4 * 3 + (size_t)nk * kv_size * 2 + (c.causal ? (size_t)(Lq * Lk) * 2 : 0) +
                 (size_t)(6 + 4 * heads) * (ggml_tensor_overhead() + 64) + (size_t)(heads + 1) * ggml_graph_overhead() +
                 (1u << 20);
    struct ggml_init_params ip = {mem, NULL, false};
    struct ggml_context *ctx = ggml_init(ip);
    if (!ctx) {
        fprintf(stderr, "ggml_fa: error: ggml_init failed for %zu bytes\n", mem);
        return 1;
    }
    struct ggml_tensor *q = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, D, Lq, H, B);
    struct ggml_tensor *k = ggml_new_tensor_4d(ctx, c.kv, D, Lk, H, B);
    struct ggml_tensor *v = ggml_new_tensor_4d(ctx, c.kv, D, Lk, H, B);
    tensor_set(q, x, nq);
    tensor_set(k, x + nq, nk);
    tensor_set(v, x + nq + nk, nk);
    struct ggml_tensor *mask = NULL;
    if (c.causal) {
        mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, Lk, Lq, 1, 1);
        ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), hide = ggml_fp32_to_fp16(-INFINITY);
        ggml_fp16_t *m = (ggml_fp16_t *)mask->data;
        for (int64_t i = 0; i < Lq; i++)
            for (int64_t j = 0; j < Lk; j++)
                m[i * Lk + j] = j <= i ? zero : hide;
    }
    const float scale = 1.0f / sqrtf((float)D);

    /* the whole problem in one graph, and one graph per (b, h) head over views of q, k, v */
    struct ggml_cgraph *full = ggml_new_graph(ctx);
    struct ggml_tensor *out = ggml_flash_attn_ext(ctx, q, k, v, mask, scale, 0.0f, 0.0f);
    ggml_build_forward_expand(full, out);
    struct ggml_cgraph **head = malloc((size_t)heads * sizeof *head);
    struct ggml_cplan *plan = malloc((size_t)(heads + 1) * sizeof *plan);
    if (!head || !plan) {
        fprintf(stderr, "ggml_fa: error: out of memory for %lld graphs\n", (long long)heads);
        return 1;
    }
    for (int64_t hh = 0; hh < heads; hh++) {
        int64_t b = hh / H, h = hh % H;
        struct ggml_tensor *o = ggml_flash_attn_ext(ctx, head_view(ctx, q, b, h), head_view(ctx, k, b, h),
                                                    head_view(ctx, v, b, h), mask, scale, 0.0f, 0.0f);
        head[hh] = ggml_new_graph(ctx);
        ggml_build_forward_expand(head[hh], o);
    }

    /* plans: one work buffer, as large as the largest plan needs */
    size_t work = 0;
    for (int64_t g = 0; g <= heads; g++) {
        plan[g] = ggml_graph_plan(g < heads ? head[g] : full, c.threads, NULL);
        work = plan[g].work_size > work ? plan[g].work_size : work;
    }
    uint8_t *wdata = malloc(work ? work : 1);
    if (!wdata) {
        fprintf(stderr, "ggml_fa: error: out of memory for a %zu-byte work buffer\n", work);
        return 1;
    }
    for (int64_t g = 0; g <= heads; g++)
        plan[g].work_data = wdata;
    struct ggml_cplan *full_plan = &plan[heads];

    /* warm-up, and the check on its output */
    if (ggml_graph_compute(full, full_plan) != GGML_STATUS_SUCCESS) {
        fprintf(stderr, "ggml_fa: error: ggml_graph_compute failed\n");
        return 1;
    }
    int64_t rows = Lq < 128 ? Lq : 128;
    float *k0 = malloc((size_t)(2 * Lk * D) * sizeof *k0);
    if (!k0) {
        fprintf(stderr, "ggml_fa: error: out of memory for the check\n");
        return 1;
    }
    tensor_get(k0, k, 0, Lk * D); /* head (0, 0) as ggml holds it */
    tensor_get(k0 + Lk * D, v, 0, Lk * D);
    double max_err = check_head0(x, k0, k0 + Lk * D, (const float *)out->data, &c, rows);
    free(k0);
    if (max_err < 0) {
        fprintf(stderr, "ggml_fa: error: out of memory for the check\n");
        return 1;
    }
    /* rounds of one head each, cycling through the heads (attn bench's method), then rounds of the
     * whole problem in one graph (ggml's usual call: all heads share its row chunks) */
    rounds head_r, call_r;
    if (time_rounds(&head_r, head, plan, heads, c.rounds > 0 ? c.rounds : 31, c.rounds == 0) ||
        time_rounds(&call_r, &full, full_plan, 1, c.rounds > 0 ? c.rounds : 15, c.rounds == 0)) {
        fprintf(stderr, "ggml_fa: error: ggml_graph_compute failed\n");
        return 1;
    }
    double flops = 2.0 * (double)heads * visible_pairs(Lq, Lk, c.causal) * 2.0 * (double)D;
    printf("{\"op\":\"%s\",\"B\":%lld,\"H\":%lld,\"Lq\":%lld,\"Lk\":%lld,\"D\":%lld,\"causal\":%s,\"threads\":%d,"
           "\"impl\":\"ggml %s\",\"kv_type\":\"%s\",\"avx512\":%s,\"median_ms\":%.4f,\"min_ms\":%.4f,\"rounds\":%d,"
           "\"gflops\":%.2f,\"max_err\":%.3g,\"check\":\"b=0 h=0 Lq=%lld slice\",\"call_median_ms\":%.4f,"
           "\"call_rounds\":%d,\"call_gflops\":%.2f}\n",
           c.op, (long long)B, (long long)H, (long long)Lq, (long long)Lk, (long long)D, c.causal ? "true" : "false",
           c.threads, ggml_version(), c.kv == GGML_TYPE_F16 ? "f16" : "f32", ggml_cpu_has_avx512() ? "true" : "false",
           head_r.median * 1e3, head_r.min * 1e3, head_r.n, flops / head_r.median * 1e-9, max_err, (long long)rows,
           call_r.median * 1e3, call_r.n, flops / call_r.median * 1e-9);

    free(wdata), free(plan), free(head), free(x);
    ggml_free(ctx);
    return 0;
}
