/*
 * test_kernel_dispatch.c - CPU detection, the kernel table, forcing a kernel
 * (per call, globally), the vectorised exp's error bound, and the binary16
 * and bfloat16 conversions (public, and each table's f16_to_f32 and
 * bf16_to_f32).
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

static uint16_t to_half(float x)
{
    uint16_t h;
    attn_f16_from_f32(&h, &x, 1);
    return h;
}

static void test_f16(void)
{
    static uint16_t all[65536];
    static float dec[65536], tab[65536];
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    attn_f32_from_f16(dec, all, 65536);
    for (uint32_t i = 0; i < 65536 && bad < 5; i++) {
        double want = half_value(all[i]);
        uint16_t back = to_half(dec[i]);
        bool ok = isnan(want) ? isnan(dec[i]) && (back & 0x7e00) == 0x7e00 && (back & 0x8000) == (i & 0x8000)
                              : (double)dec[i] == want && back == all[i] && !signbit(dec[i]) == !signbit(want);
        if (!ok)
            bad++;
        CHECK(ok, "f16 0x%04x: decoded %.9g (want %.9g), encoded back 0x%04x", i, dec[i], want, back);
    }
    /* float -> half rounds to nearest, ties to even: between two neighbours
     * a < b (and their negatives), the midpoint (exact in float: 12
     * significant bits) goes to the even one, a float either side of it to
     * the nearer */
    for (uint32_t a = 0; a < 0x7bff && bad < 5; a++)
        for (int neg = 0; neg <= 1; neg++) {
            uint16_t ha = (uint16_t)(a | (neg ? 0x8000u : 0)), hb = (uint16_t)(ha + 1), even = (a & 1) ? hb : ha;
            float mid = (float)((half_value(ha) + half_value(hb)) / 2);
            uint16_t got[3] = {to_half(nextafterf(mid, 0.0f)), to_half(mid), to_half(nextafterf(mid, neg ? -1e9f : 1e9f))};
            bool ok = got[0] == ha && got[1] == even && got[2] == hb;
            if (!ok)
                bad++;
            CHECK(ok, "f16 rounding between 0x%04x and 0x%04x: got 0x%04x 0x%04x 0x%04x around %.9g", ha, hb, got[0],
                  got[1], got[2], mid);
        }
    /* the ends: 65520 (midway from 65504 to 2^16) and above overflow, below
     * it 65504; 2^-25 (midway from 0 to the least subnormal) goes to 0 */
    CHECK(to_half(65520.0f) == 0x7c00 && to_half(-65520.0f) == 0xfc00 && to_half(1e30f) == 0x7c00,
          "f16 overflow: 65520 -> 0x%04x", to_half(65520.0f));
    CHECK(to_half(nextafterf(65520.0f, 0.0f)) == 0x7bff, "f16: just below 65520 -> 0x%04x",
          to_half(nextafterf(65520.0f, 0.0f)));
    CHECK(to_half(0x1p-25f) == 0 && to_half(-0x1p-25f) == 0x8000 && to_half(nextafterf(0x1p-25f, 1.0f)) == 1 &&
              to_half(1e-30f) == 0,
          "f16 underflow: 2^-25 -> 0x%04x", to_half(0x1p-25f));
    CHECK(to_half(INFINITY) == 0x7c00 && to_half(-INFINITY) == 0xfc00, "f16 of +-Inf");
    /* the same halves whatever the rounding mode: subnormals, ties, normals */
    enum { NX = 3 * 2048 };
    static float xs[NX];
    static uint16_t want[NX], got[NX];
    for (int i = 0; i < 2048; i++) {
        float a = (float)half_value((uint16_t)i), b = (float)half_value((uint16_t)(i + 1)); /* subnormal range and up */
        xs[3 * i] = (a + b) / 2, xs[3 * i + 1] = nextafterf(xs[3 * i], 1.0f);
        xs[3 * i + 2] = (float)half_value((uint16_t)(0x3c00 + i)) * 1.000244f; /* normals, between neighbours */
    }
    attn_f16_from_f32(want, xs, NX);
    const int modes[3] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (int mi = 0; mi < 3; mi++) {
        fesetround(modes[mi]);
        attn_f16_from_f32(got, xs, NX);
        fesetround(FE_TONEAREST);
        int first = -1;
        for (int i = 0; i < NX && first < 0; i++)
            if (got[i] != want[i])
                first = i;
        CHECK(first < 0, "f16 of %.9g is 0x%04x under rounding mode %d, 0x%04x to nearest", first < 0 ? 0 : xs[first],
              first < 0 ? 0 : got[first], modes[mi], first < 0 ? 0 : want[first]);
    }
    /* every table's conversion, on every half (odd lengths: vector tails) */
    for (int k = ATTN_KERNEL_SCALAR; k <= ATTN_KERNEL_AVX512; k++) {
        const attn_ukernels *uk = attn_ukernels_get((attn_kernel)k);
        if (!uk)
            continue;
        for (int64_t i0 = 0; i0 < 65536; i0 += 4093)
            uk->f16_to_f32(tab + i0, all + i0, 65536 - i0 < 4093 ? 65536 - i0 : 4093);
        CHECK(memcmp(tab, dec, sizeof tab) == 0, "%s f16_to_f32 differs from attn_f32_from_f16", uk->name);
    }
}

/* The value of bfloat16 b from its fields in double (an oracle independent
 * of attn's shift); NaN for NaN. */
static double bf16_value(uint16_t b)
{
    int e = (b >> 7) & 255, m = b & 127;
    double mag = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return (b & 0x8000) ? -mag : mag;
}

static uint16_t to_bf16(float x)
{
    uint16_t b;
    attn_bf16_from_f32(&b, &x, 1);
    return b;
}

static void test_bf16(void)
{
    static uint16_t all[65536];
    static float dec[65536], tab[65536];
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    attn_f32_from_bf16(dec, all, 65536);
    for (uint32_t i = 0; i < 65536 && bad < 5; i++) {
        double want = bf16_value(all[i]);
        uint16_t back = to_bf16(dec[i]);
        /* NaN: stays NaN, made quiet on the way back (sign and top payload kept) */
        bool ok = isnan(want) ? isnan(dec[i]) && back == (all[i] | 0x0040)
                              : (double)dec[i] == want && back == all[i] && !signbit(dec[i]) == !signbit(want);
        if (!ok)
            bad++;
        CHECK(ok, "bf16 0x%04x: decoded %.9g (want %.9g), encoded back 0x%04x", i, dec[i], want, back);
    }
    /* float -> bfloat16 rounds to nearest, ties to even: between two
     * neighbours a < b (and their negatives), the midpoint (exact in float)
     * goes to the even one, a float either side of it to the nearer; the
     * largest finite (0x7f7f) and 2^128 have the midpoint 0x1.ffp127, which
     * rounds to even: Inf */
    for (uint32_t a = 0; a < 0x7f7f && bad < 5; a++)
        for (int neg = 0; neg <= 1; neg++) {
            uint16_t ba = (uint16_t)(a | (neg ? 0x8000u : 0)), bb = (uint16_t)(ba + 1), even = (a & 1) ? bb : ba;
            float mid = (float)((bf16_value(ba) + bf16_value(bb)) / 2);
            uint16_t got[3] = {to_bf16(nextafterf(mid, 0.0f)), to_bf16(mid),
                               to_bf16(nextafterf(mid, neg ? -INFINITY : INFINITY))};
            bool ok = got[0] == ba && got[1] == even && got[2] == bb;
            if (!ok)
                bad++;
            CHECK(ok, "bf16 rounding between 0x%04x and 0x%04x: got 0x%04x 0x%04x 0x%04x around %.9g", ba, bb,
                  got[0], got[1], got[2], mid);
        }
    CHECK(to_bf16(0x1.ffp127f) == 0x7f80 && to_bf16(-0x1.ffp127f) == 0xff80 && to_bf16(FLT_MAX) == 0x7f80,
          "bf16 overflow: 0x1.ffp127 -> 0x%04x", to_bf16(0x1.ffp127f));
    CHECK(to_bf16(nextafterf(0x1.ffp127f, 0.0f)) == 0x7f7f, "bf16: just below 0x1.ffp127 -> 0x%04x",
          to_bf16(nextafterf(0x1.ffp127f, 0.0f)));
    CHECK(to_bf16(INFINITY) == 0x7f80 && to_bf16(-INFINITY) == 0xff80 && to_bf16(-0.0f) == 0x8000,
          "bf16 of +-Inf, -0");
    /* the same bfloat16 values whatever the rounding mode: ties, either side
     * of them, subnormals and normals */
    enum { NX = 3 * 4096 };
    static float xs[NX];
    static uint16_t want[NX], got[NX];
    for (int i = 0; i < 4096; i++) {
        uint16_t b = (uint16_t)(i * 16 + (i & 3)); /* spread over every exponent */
        float a = (float)bf16_value(b), c = (float)bf16_value((uint16_t)(b + 1));
        xs[3 * i] = (a + c) / 2, xs[3 * i + 1] = nextafterf(xs[3 * i], 0.0f), xs[3 * i + 2] = nextafterf(xs[3 * i], 1e30f);
    }
    attn_bf16_from_f32(want, xs, NX);
    const int modes[3] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (int mi = 0; mi < 3; mi++) {
        fesetround(modes[mi]);
        attn_bf16_from_f32(got, xs, NX);
        fesetround(FE_TONEAREST);
        int first = -1;
        for (int i = 0; i < NX && first < 0; i++)
            if (got[i] != want[i])
                first = i;
        CHECK(first < 0, "bf16 of %.9g is 0x%04x under rounding mode %d, 0x%04x to nearest", first < 0 ? 0 : xs[first],
              first < 0 ? 0 : got[first], modes[mi], first < 0 ? 0 : want[first]);
    }
    /* every table's conversion, on every bfloat16 (odd lengths: vector tails) */
    for (int k = ATTN_KERNEL_SCALAR; k <= ATTN_KERNEL_AVX512; k++) {
        const attn_ukernels *uk = attn_ukernels_get((attn_kernel)k);
        if (!uk)
            continue;
        for (int64_t i0 = 0; i0 < 65536; i0 += 4093)
            uk->bf16_to_f32(tab + i0, all + i0, 65536 - i0 < 4093 ? 65536 - i0 : 4093);
        CHECK(memcmp(tab, dec, sizeof tab) == 0, "%s bf16_to_f32 differs from attn_f32_from_bf16", uk->name);
    }
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
    test_f16();
    test_bf16();
    double g = attn_peak_gflops(1, 20);
    printf("  peak probe (1 thread, 20 ms): %.1f GFLOP/s\n", g);
    CHECK(g > 0.1 && isfinite(g), "peak probe gave %g", g);
    return test_summary("test_kernel_dispatch");
}
