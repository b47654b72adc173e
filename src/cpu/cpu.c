/*
 * cpu.c - CPU detection and the kernel dispatch table.
 *
 * Detection runs once (CPUID, then XGETBV to check that the operating system
 * saves the YMM / ZMM registers: a CPU flag alone is not enough).  The table
 * lists the reference first, then the tiled kernels from slowest to fastest;
 * AUTO takes the last one available.  The one piece of global state besides
 * detection is the global kernel choice (attn_set_kernel / ATTN_KERNEL).
 */
#include "kernels/kernels.h"

#include <omp.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ATTN_X86 1
#endif

typedef struct cpu_info {
    bool avx2, fma, f16c, avx512f, avx512dq, avx512bw, avx512vl, os_ymm, os_zmm;
} cpu_info;

static atomic_int detected; /* 0 no, 1 yes */
static cpu_info cpu;

#ifdef ATTN_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void detect(void)
{
    if (atomic_load(&detected))
        return;
    cpu_info c;
    memset(&c, 0, sizeof c);
#ifdef ATTN_X86
    unsigned a, b, cx, d;
    if (__get_cpuid(1, &a, &b, &cx, &d)) {
        bool osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1;
        c.fma = (cx >> 12) & 1;
        c.f16c = (cx >> 29) & 1;
        if (osxsave && avx) {
            uint64_t xcr0 = xgetbv0();
            c.os_ymm = (xcr0 & 0x6) == 0x6;            /* SSE and AVX state */
            c.os_zmm = c.os_ymm && (xcr0 & 0xE0) == 0xE0; /* opmask, ZMM_Hi256, Hi16_ZMM */
        }
    }
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
        c.avx2 = (b >> 5) & 1;
        c.avx512f = (b >> 16) & 1;
        c.avx512dq = (b >> 17) & 1;
        c.avx512bw = (b >> 30) & 1;
        c.avx512vl = (b >> 31) & 1;
    }
#endif
    cpu = c; /* every thread computes the same value: a benign race */
    atomic_store(&detected, 1);
}

bool attn_cpu_avx2(void)
{
    detect();
    return cpu.avx2 && cpu.fma && cpu.f16c && cpu.os_ymm; /* F16C: every AVX2 CPU has it */
}

bool attn_cpu_avx512(void)
{
    detect();
    return attn_cpu_avx2() && cpu.avx512f && cpu.avx512dq && cpu.avx512bw && cpu.avx512vl && cpu.os_zmm;
}

int64_t attn_cpu_l2_bytes(void)
{
    static _Atomic int64_t cached = 0;
    int64_t n = atomic_load(&cached);
    if (n == 0) {
#ifdef _SC_LEVEL2_CACHE_SIZE
        long v = sysconf(_SC_LEVEL2_CACHE_SIZE); /* glibc reads it from the CPU's cache descriptors */
#else
        long v = 0; /* not a glibc system: assume 1 MiB */
#endif
        n = v > 0 ? (int64_t)v : (int64_t)1 << 20;
        atomic_store(&cached, n);
    }
    return n;
}

const char *attn_cpu_features(void)
{
    static char buf[128];
    static atomic_int done;
    if (!atomic_load(&done)) {
        detect();
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s%s%s%s%s%s%s", cpu.fma ? "fma " : "", cpu.avx2 ? "avx2 " : "", cpu.f16c ? "f16c " : "",
                 cpu.os_ymm ? "os-ymm " : "", cpu.avx512f ? "avx512f " : "",
                 (cpu.avx512dq && cpu.avx512bw && cpu.avx512vl) ? "avx512dq/bw/vl " : "",
                 cpu.os_zmm ? "os-zmm" : "");
        size_t n = strlen(tmp);
        while (n && tmp[n - 1] == ' ')
            tmp[--n] = 0;
        memcpy(buf, tmp, sizeof buf);
        atomic_store(&done, 1);
    }
    return buf;
}

/* The table: order matters (slowest first after the reference). */
static const attn_kernel table[] = {ATTN_KERNEL_REFERENCE, ATTN_KERNEL_SCALAR, ATTN_KERNEL_AVX2, ATTN_KERNEL_AVX512};
static const char *kernel_names[] = {"auto", "reference", "scalar", "avx2", "avx512"};

const char *attn_kernel_name(attn_kernel k)
{
    if ((int)k >= 0 && (int)k <= ATTN_KERNEL_AVX512)
        return kernel_names[k];
    return "unknown";
}

attn_status attn_kernel_parse(const char *name, attn_kernel *k)
{
    if (!name || !k)
        return attn_fail(ATTN_ERR_MISUSE, "attn_kernel_parse: name or kernel is NULL");
    for (int i = 0; i <= ATTN_KERNEL_AVX512; i++)
        if (strcmp(name, kernel_names[i]) == 0) {
            *k = (attn_kernel)i;
            return ATTN_OK;
        }
    return attn_fail(ATTN_ERR_INVALID, "unknown kernel '%s': expected auto, reference, scalar, avx2 or avx512", name);
}

int attn_kernel_available(attn_kernel k)
{
    switch (k) {
    case ATTN_KERNEL_AUTO:
    case ATTN_KERNEL_REFERENCE:
    case ATTN_KERNEL_SCALAR: return 1;
    case ATTN_KERNEL_AVX2: return attn_cpu_avx2();
    case ATTN_KERNEL_AVX512: return attn_cpu_avx512();
    }
    return 0;
}

attn_kernel attn_kernel_best(void)
{
    attn_kernel best = ATTN_KERNEL_REFERENCE;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (attn_kernel_available(table[i]))
            best = table[i];
    return best;
}

const attn_ukernels *attn_ukernels_get(attn_kernel k)
{
    if (!attn_kernel_available(k))
        return NULL;
    switch (k) {
    case ATTN_KERNEL_SCALAR: return &attn_uk_scalar;
    case ATTN_KERNEL_AVX2: return &attn_uk_avx2;
    case ATTN_KERNEL_AVX512: return &attn_uk_avx512;
    default: return NULL;
    }
}

/* Global choice: -1 = not yet read from the environment. */
static atomic_int global_kernel = -1;

static int env_kernel(void)
{
    const char *env = getenv("ATTN_KERNEL");
    attn_kernel k;
    if (env && *env) {
        for (int i = 0; i <= ATTN_KERNEL_AVX512; i++)
            if (strcmp(env, kernel_names[i]) == 0) {
                k = (attn_kernel)i;
                return attn_kernel_available(k) ? (int)k : ATTN_KERNEL_AUTO;
            }
    }
    return ATTN_KERNEL_AUTO;
}

attn_kernel attn_get_kernel(void)
{
    int k = atomic_load(&global_kernel);
    if (k < 0) {
        int expected = -1;
        atomic_compare_exchange_strong(&global_kernel, &expected, env_kernel());
        k = atomic_load(&global_kernel);
    }
    return (attn_kernel)k;
}

attn_status attn_set_kernel(attn_kernel k)
{
    if ((int)k < ATTN_KERNEL_AUTO || (int)k > ATTN_KERNEL_AVX512)
        return attn_fail(ATTN_ERR_INVALID, "attn_set_kernel: kernel %d is not a known kernel", (int)k);
    if (!attn_kernel_available(k))
        return attn_fail(ATTN_ERR_UNSUPPORTED, "attn_set_kernel: this CPU cannot run the %s kernel (features: %s)",
                         attn_kernel_name(k), attn_cpu_features());
    atomic_store(&global_kernel, (int)k);
    return ATTN_OK;
}

static bool is_f32(const attn_view4 *v) { return v->dtype == ATTN_F32; }
static bool is_16(const attn_view4 *v) { return ATTN_DT(v->dtype) & ATTN_DT_HALF; } /* f16, bf16 */

const char *attn_tiled_unsupported(const attn_problem *p)
{
    if (p->score == ATTN_SCORE_BILINEAR || p->score == ATTN_SCORE_ADDITIVE)
        return p->score == ATTN_SCORE_BILINEAR ? "the bilinear score" : "the additive score";
    if (p->backward && (!is_f32(&p->q) || !is_f32(&p->k) || !is_f32(&p->v)))
        return is_16(&p->q) || is_16(&p->k) || is_16(&p->v) ? "16-bit inputs in the backward" : "f64 inputs";
    if (!(is_f32(&p->q) || is_16(&p->q)) || !(is_f32(&p->k) || is_16(&p->k)) || !(is_f32(&p->v) || is_16(&p->v)))
        return "f64 inputs";
    if (p->k.dtype != p->v.dtype)
        return "k and v of different dtypes";
    if (p->has_weights)
        return "the weights output";
    if (!p->backward) {
        if (!is_f32(&p->out) || (p->has_lse && !is_f32(&p->lse)))
            return "f64 outputs";
    } else if (!is_f32(&p->out) || !is_f32(&p->lse) || !is_f32(&p->dout) || !is_f32(&p->dq) || !is_f32(&p->dk) ||
               !is_f32(&p->dv))
        return "f64 tensors";
    return NULL;
}

/* The probe table, and its iterations for about 1 ms on one thread
 * (calibrated once per table, on the fastest of three timings, so that a
 * pause of the host during calibration does not shorten every probe). */
static const attn_ukernels *probe_table(double *iters_1ms)
{
    const attn_ukernels *uk = attn_ukernels_get(attn_kernel_best());
    if (!uk)
        uk = &attn_uk_scalar;
    static _Atomic double calibrated[ATTN_KERNEL_AVX512 + 1];
    double per_ms = atomic_load(&calibrated[uk->id]);
    if (per_ms == 0) {
        int64_t iters = 1000;
        for (;;) { /* grow until one run takes 0.5 ms */
            double t0 = omp_get_wtime();
            uk->fma_probe(iters);
            if (omp_get_wtime() - t0 > 5e-4 || iters > ((int64_t)1 << 40))
                break;
            iters *= 2;
        }
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = omp_get_wtime();
            uk->fma_probe(iters);
            double dt = omp_get_wtime() - t0;
            best = dt < best ? dt : best;
        }
        per_ms = (double)iters * 1e-3 / (best > 0 ? best : 1e-9);
        atomic_store(&calibrated[uk->id], per_ms);
    }
    *iters_1ms = per_ms;
    return uk;
}

/* One timed run of the probe on nt threads, iters rounds each: GFLOP/s. */
static double probe_run(const attn_ukernels *uk, int nt, int64_t iters)
{
    double flops = 0, t0 = 0, t1 = 0;
#pragma omp parallel num_threads(nt) reduction(+ : flops)
    {
#pragma omp barrier
#pragma omp master
        t0 = omp_get_wtime();
        flops += uk->fma_probe(iters);
#pragma omp barrier
#pragma omp master
        t1 = omp_get_wtime();
    }
    return flops / (t1 - t0) * 1e-9;
}

/* ms as asked, or the default for <= 0 and NaN, at most one minute */
static double probe_ms(double ms) { return !(ms > 0) ? 200 : ms > 60000 ? 60000 : ms; }

double attn_peak_gflops(int threads, double ms)
{
    int nt = attn_resolve_threads(threads);
    double per_ms;
    const attn_ukernels *uk = probe_table(&per_ms);
    int rounds = (int)(probe_ms(ms) / 5.0); /* rounds of 5 ms */
    if (rounds < 3)
        rounds = 3;
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        double g = probe_run(uk, nt, (int64_t)(per_ms * 5.0) + 1);
        if (g > best)
            best = g;
    }
    return best;
}

double attn_fma_gflops(int threads, double ms)
{
    int nt = attn_resolve_threads(threads);
    double per_ms;
    const attn_ukernels *uk = probe_table(&per_ms);
    return probe_run(uk, nt, (int64_t)(per_ms * probe_ms(ms)) + 1);
}
