/*
 * uk_avx2.c - the micro-kernels for AVX2 + FMA: 8 lanes, register tiles of
 * 16 lanes x 6 columns (12 accumulators of the 16 ymm registers).
 */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <math.h>

#define VF __m256
#define W 8
#define RVMAX 2
#define NCMAX 6
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VLOADB(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VBLEND_EQ(a, b, t, f) _mm256_blendv_ps((f), (t), _mm256_cmp_ps((a), (b), _CMP_EQ_OQ))
#define VEXP(x) vexp256(x)
#define VEXP_KEEP(s, x) _mm256_and_ps(_mm256_cmp_ps((s), _mm256_set1_ps(-INFINITY), _CMP_NEQ_UQ), vexp256(x))
#define VHSUM(v) hsum256(v)

static inline float hsum256(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

#define ROUND256(v) _mm256_round_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static inline __m256 vexp256(__m256 x)
{
    __m256 n, p;
    UK_EXP_PARTS(x, n, p, ROUND256);
    /* 2^n for n in [-126, 0]: build the exponent field */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#define UK_TABLE attn_uk_avx2
#define UK_NAME "avx2"
#define UK_ID ATTN_KERNEL_AVX2
#include "kernels/uk_tmpl.h"
