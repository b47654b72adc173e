/*
 * uk_avx512.c - the micro-kernels for AVX-512F: 16 lanes, register tiles of
 * 48 lanes x 8 columns (24 accumulators of the 32 zmm registers).
 */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <math.h>

#define VF __m512
#define W 16
#define RVMAX 3
#define NCMAX 8
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VLOADB(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VBLEND_EQ(a, b, t, f) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_EQ_OQ), (f), (t))
#define VEXP(x) vexp512_keep((__mmask16)0xffff, (x))
#define VEXP_KEEP(s, x) vexp512_keep(_mm512_cmp_ps_mask((s), _mm512_set1_ps(-INFINITY), _CMP_NEQ_UQ), (x))
#define VHSUM(v) _mm512_reduce_add_ps(v)

/* exp(x) on the lanes of keep, 0 on the others (see uk_tmpl.h for the
 * method and its bound); the final 2^n scaling also applies the mask. */
#define ROUND512(v) _mm512_roundscale_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static inline __m512 vexp512_keep(__mmask16 keep, __m512 x)
{
    __m512 n, p;
    UK_EXP_PARTS(x, n, p, ROUND512);
    return _mm512_maskz_scalef_ps(keep, p, n);
}

#define UK_TABLE attn_uk_avx512
#define UK_NAME "avx512"
#define UK_ID ATTN_KERNEL_AVX512
#include "kernels/uk_tmpl.h"
