/*
 * test_kernel_dispatch.c - CPU detection, the kernel table, forcing a kernel
 * (per call, globally), the vectorised exp's error bound, and the binary16
 * and bfloat16 conversions (public, and each table's widen16).
 *
 * exp bound: every kernel's exp_sub must agree with exp in double to a
 * relative error of 2^-21 (4.8e-7, ~4 ulp) over [-87.3, 0] (below that,
 * outputs are clamped to ~1e-38 and compared absolutely), give exactly 1 at
 * 0 and exactly 0 for -inf.  The softmax weights inherit this bound.
 */
#include "kernels/kernels.h"
#include "testutil.h"

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <string.h>

static void test_exp(const attn_ukernels *uk)
{
    enum { N = 1 << 16 };
    static float x[N], y[N];
    float zero = 0;
    double worst = 0, worst_x = 0;
    for (int round = 0; round < 32; round++) {
        for (int i = 0; i < N; i++)
            x[i] = -87.3f * (float)((double)(round * N + i) / (32.0 * N));
        uk->exp_sub(x, y, N, &zero, N);
        for (int i = 0; i < N; i++) {
            double want = exp((double)x[i]), err = fabs((double)y[i] - want) / want;
            if (err > worst)
                worst = err, worst_x = x[i];
        }
    }
    printf("  %s exp: max relative error %.3g at x = %.6g (bound 4.77e-7)\n", uk->name, worst, worst_x);
    CHECK(worst <= 4.77e-7, "%s exp: relative error %.3g at x = %.9g exceeds 2^-21", uk->name, worst, worst_x);
    for (int i = 0; i < 16; i++)
        x[i] = i == 3 ? -INFINITY : i == 5 ? -1000.0f : 0.0f;
    uk->exp_sub(x, y, 16, &zero, 16);
    CHECK(y[3] == 0.0f, "%s exp(-inf) = %g, expected exactly 0", uk->name, y[3]);
    CHECK(y[0] == 1.0f, "%s exp(0) = %.9g, expected exactly 1", uk->name, y[0]);
    CHECK(y[5] >= 0.0f && y[5] < 2e-38f, "%s exp(-1000) = %g, expected 0 or below 2e-38", uk->name, y[5]);
}

/* The value of binary16 h, decoded from its fields in double (an oracle
 * independent of attn's bit manipulation); NaN for NaN. */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double mag = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -mag : mag;
}

/* The same for bfloat16 b (8 exponent bits, 7 mantissa bits). */
static double bf16_value(uint16_t b)
{
    int e = (b >> 7) & 255, m = b & 127;
    double mag = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return (b & 0x8000) ? -mag : mag;
}

/* A 16-bit float format and attn's conversions for it. */
typedef struct fmt16 {
    const char *name;
    double (*value)(uint16_t);                          /* the oracle */
    void (*from_f32)(uint16_t *, const float *, size_t); /* public */
    void (*to_f32)(float *, const uint16_t *, size_t);   /* public */
    uint16_t max_finite, quiet;                          /* largest finite pattern; the quiet-NaN bit */
    int table;                                           /* the tables' widen16 as 0: ATTN_KV_F16, 1: ATTN_KV_BF16 */
} fmt16;

static uint16_t to16(const fmt16 *f, float x)
{
    uint16_t h;
    f->from_f32(&h, &x, 1);
    return h;
}

/* Every 16-bit pattern decoded (against the oracle) and encoded back; ties
 * between every pair of neighbours; the same results under every rounding
 * mode; each table's conversion on every pattern. */
static void test_format(const fmt16 *f)
{
    static uint16_t all[65536];
    static float dec[65536], tab[65536];
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    f->to_f32(dec, all, 65536);
    for (uint32_t i = 0; i < 65536 && bad < 5; i++) {
        double want = f->value(all[i]);
        uint16_t back = to16(f, dec[i]);
        /* NaN: stays NaN, and comes back made quiet with its sign and payload */
        bool ok = isnan(want) ? isnan(dec[i]) && back == (all[i] | f->quiet)
                              : (double)dec[i] == want && back == all[i] && !signbit(dec[i]) == !signbit(want);
        if (!ok)
            bad++;
        CHECK(ok, "%s 0x%04x: decoded %.9g (want %.9g), encoded back 0x%04x", f->name, i, dec[i], want, back);
    }
    /* float -> 16 bits rounds to nearest, ties to even: between two
     * neighbours a < b (and their negatives), the midpoint (exact in float)
     * goes to the even one, a float either side of it to the nearer */
    for (uint32_t a = 0; a < f->max_finite && bad < 5; a++)
        for (int neg = 0; neg <= 1; neg++) {
            uint16_t ha = (uint16_t)(a | (neg ? 0x8000u : 0)), hb = (uint16_t)(ha + 1), even = (a & 1) ? hb : ha;
            float mid = (float)((f->value(ha) + f->value(hb)) / 2);
            uint16_t got[3] = {to16(f, nextafterf(mid, 0.0f)), to16(f, mid),
                               to16(f, nextafterf(mid, neg ? -INFINITY : INFINITY))};
            bool ok = got[0] == ha && got[1] == even && got[2] == hb;
            if (!ok)
                bad++;
            CHECK(ok, "%s rounding between 0x%04x and 0x%04x: got 0x%04x 0x%04x 0x%04x around %.9g", f->name, ha, hb,
                  got[0], got[1], got[2], mid);
        }
    /* the same patterns whatever the rounding mode: ties and either side of
     * them, spread over every exponent */
    enum { NX = 3 * 4096 };
    static float xs[NX];
    static uint16_t want[NX], got[NX];
    for (int i = 0; i < 4096; i++) {
        uint16_t h = (uint16_t)((uint32_t)i * f->max_finite / 4096);
        float a = (float)f->value(h), c = (float)f->value((uint16_t)(h + 1));
        xs[3 * i] = (a + c) / 2, xs[3 * i + 1] = nextafterf(xs[3 * i], 0.0f), xs[3 * i + 2] = nextafterf(xs[3 * i], 1e30f);
    }
    f->from_f32(want, xs, NX);
    const int modes[3] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (int mi = 0; mi < 3; mi++) {
        fesetround(modes[mi]);
        f->from_f32(got, xs, NX);
        fesetround(FE_TONEAREST);
        int first = -1;
        for (int i = 0; i < NX && first < 0; i++)
            if (got[i] != want[i])
                first = i;
        CHECK(first < 0, "%s of %.9g is 0x%04x under rounding mode %d, 0x%04x to nearest", f->name,
              first < 0 ? 0 : xs[first], first < 0 ? 0 : got[first], modes[mi], first < 0 ? 0 : want[first]);
    }
    /* every table's conversion, on every pattern (odd lengths: vector tails) */
    for (int k = ATTN_KERNEL_SCALAR; k <= ATTN_KERNEL_AVX512; k++) {
        const attn_ukernels *uk = attn_ukernels_get((attn_kernel)k);
        if (!uk)
            continue;
        for (int64_t i0 = 0; i0 < 65536; i0 += 4093) {
            int64_t n = 65536 - i0 < 4093 ? 65536 - i0 : 4093;
            uk->widen16(tab + i0, all + i0, n, f->table ? ATTN_KV_BF16 : ATTN_KV_F16);
        }
        CHECK(memcmp(tab, dec, sizeof tab) == 0, "%s: the %s table's conversion differs from the public one", f->name,
              uk->name);
    }
}

static void test_16bit(void)
{
    static const fmt16 f16 = {"f16", half_value, attn_f16_from_f32, attn_f32_from_f16, 0x7bff, 0x0200, 0};
    static const fmt16 bf16 = {"bf16", bf16_value, attn_bf16_from_f32, attn_f32_from_bf16, 0x7f7f, 0x0040, 1};
    test_format(&f16);
    test_format(&bf16);
    /* the ends of f16: 65520 (midway from 65504 to 2^16) and above overflow,
     * below it 65504; 2^-25 (midway from 0 to the least subnormal) goes to 0 */
    CHECK(to16(&f16, 65520.0f) == 0x7c00 && to16(&f16, -65520.0f) == 0xfc00 && to16(&f16, 1e30f) == 0x7c00,
          "f16 overflow: 65520 -> 0x%04x", to16(&f16, 65520.0f));
    CHECK(to16(&f16, nextafterf(65520.0f, 0.0f)) == 0x7bff, "f16: just below 65520 -> 0x%04x",
          to16(&f16, nextafterf(65520.0f, 0.0f)));
    CHECK(to16(&f16, 0x1p-25f) == 0 && to16(&f16, -0x1p-25f) == 0x8000 && to16(&f16, nextafterf(0x1p-25f, 1.0f)) == 1 &&
              to16(&f16, 1e-30f) == 0,
          "f16 underflow: 2^-25 -> 0x%04x", to16(&f16, 0x1p-25f));
    CHECK(to16(&f16, INFINITY) == 0x7c00 && to16(&f16, -INFINITY) == 0xfc00, "f16 of +-Inf");
    /* the ends of bf16: 0x1.ffp127, midway from the largest finite to 2^128,
     * rounds to even: Inf */
    CHECK(to16(&bf16, 0x1.ffp127f) == 0x7f80 && to16(&bf16, -0x1.ffp127f) == 0xff80 && to16(&bf16, FLT_MAX) == 0x7f80,
          "bf16 overflow: 0x1.ffp127 -> 0x%04x", to16(&bf16, 0x1.ffp127f));
    CHECK(to16(&bf16, nextafterf(0x1.ffp127f, 0.0f)) == 0x7f7f, "bf16: just below 0x1.ffp127 -> 0x%04x",
          to16(&bf16, nextafterf(0x1.ffp127f, 0.0f)));
    CHECK(to16(&bf16, INFINITY) == 0x7f80 && to16(&bf16, -INFINITY) == 0xff80 && to16(&bf16, -0.0f) == 0x8000,
          "bf16 of +-Inf, -0");
}

int main(void)
{
    printf("test_kernel_dispatch: cpu features '%s', best kernel %s\n", attn_cpu_features(),
           attn_kernel_name(attn_kernel_best()));
    /* names */
    for (int k = ATTN_KERNEL_AUTO; k <= ATTN_KERNEL_AVX512; k++) {
        attn_kernel back;
        CHECK_OK(attn_kernel_parse(attn_kernel_name((attn_kernel)k), &back));
        CHECK(back == (attn_kernel)k, "parse(name(%d)) = %d", k, (int)back);
    }
    attn_kernel kk;
    CHECK_FAILS(attn_kernel_parse("avx1024", &kk), ATTN_ERR_INVALID, "avx1024");
    CHECK(strcmp(attn_kernel_name((attn_kernel)99), "unknown") == 0, "name of 99");
    CHECK(attn_kernel_available(ATTN_KERNEL_REFERENCE) && attn_kernel_available(ATTN_KERNEL_SCALAR),
          "reference and scalar always available");
    CHECK(!attn_kernel_available(ATTN_KERNEL_AVX512) || attn_kernel_available(ATTN_KERNEL_AVX2),
          "avx512 implies avx2 here");
    CHECK(attn_kernel_available(attn_kernel_best()), "best kernel available");

    /* what a call would run: per call, global, fallbacks (starting from AUTO
     * whatever ATTN_KERNEL says) */
    attn_kernel from_env = attn_get_kernel();
    printf("  ATTN_KERNEL gave the global choice %s\n", attn_kernel_name(from_env));
    CHECK_OK(attn_set_kernel(ATTN_KERNEL_AUTO));
    float q[8 * 4] = {0};
    double qd[8 * 4] = {0};
    attn_tensor tq = attn_tensor_2d(q, ATTN_F32, 8, 4), tqd = attn_tensor_2d(qd, ATTN_F64, 8, 4);
    attn_options o = {0};
    CHECK(attn_kernel_for(&tq, &tq, &tq, &o) == attn_kernel_best(), "auto picks the best kernel");
    CHECK(attn_kernel_for(&tqd, &tqd, &tqd, &o) == ATTN_KERNEL_REFERENCE, "auto falls back for f64");
    o.score = ATTN_SCORE_COSINE;
    CHECK(attn_kernel_for(&tq, &tq, &tq, &o) == attn_kernel_best(), "auto runs cosine tiled");
    o.score = ATTN_SCORE_BILINEAR;
    float w[4 * 4] = {0};
    o.bilinear_w = attn_tensor_2d(w, ATTN_F32, 4, 4);
    CHECK(attn_kernel_for(&tq, &tq, &tq, &o) == ATTN_KERNEL_REFERENCE, "auto falls back for bilinear");
    o.bilinear_w.rank = 0;
    o.score = ATTN_SCORE_SCALED_DOT;
    o.kernel = ATTN_KERNEL_SCALAR;
    CHECK(attn_kernel_for(&tq, &tq, &tq, &o) == ATTN_KERNEL_SCALAR, "forced scalar");
    o.kernel = ATTN_KERNEL_AUTO;
    CHECK_OK(attn_set_kernel(ATTN_KERNEL_SCALAR));
    CHECK(attn_get_kernel() == ATTN_KERNEL_SCALAR, "global choice stored");
    CHECK(attn_kernel_for(&tq, &tq, &tq, &o) == ATTN_KERNEL_SCALAR, "global choice used");
    CHECK(attn_kernel_for(&tqd, &tqd, &tqd, &o) == ATTN_KERNEL_REFERENCE, "global choice falls back for f64");
    CHECK_OK(attn_set_kernel(ATTN_KERNEL_AUTO));
    CHECK_FAILS(attn_set_kernel((attn_kernel)42), ATTN_ERR_INVALID, "42");
    if (!attn_kernel_available(ATTN_KERNEL_AVX512))
        CHECK_FAILS(attn_set_kernel(ATTN_KERNEL_AVX512), ATTN_ERR_UNSUPPORTED, "avx512");

    /* exp of every kernel this CPU runs */
    for (int k = ATTN_KERNEL_SCALAR; k <= ATTN_KERNEL_AVX512; k++) {
        const attn_ukernels *uk = attn_ukernels_get((attn_kernel)k);
        if (uk)
            test_exp(uk);
    }
    test_16bit();
    double g = attn_peak_gflops(1, 20);
    printf("  peak probe (1 thread, 20 ms): %.1f GFLOP/s\n", g);
    CHECK(g > 0.1 && isfinite(g), "peak probe gave %g", g);
    return test_summary("test_kernel_dispatch");
}
