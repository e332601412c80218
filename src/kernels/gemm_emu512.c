/* gemm_emu512.c - the AVX-512 variant's code paths on an AVX2 CPU: the
 * template of gemm_avx512.c at its geometry (16 lanes, 8 x 32 tiles, the
 * depthwise kernel's 4 x 6), each 16-lane vector held as two AVX2 halves.
 * The same sums in the same order as gemm_avx512.c (lane by lane FMAs;
 * GT_HSUM adds the halves first, as _mm512_reduce_add_ps does), so the
 * tests that sweep every variant check the AVX-512 blocking, edges, masks
 * and transposes on machines without AVX-512. Slower than gemm_avx2.c
 * (its 16 accumulators take 32 registers): never picked by itself, only
 * by name (CNN_ISA=emu512, cnn_gemm_set_isa). Built with -mavx2 -mfma. */
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

typedef struct gt_vec {
    __m256 lo, hi;
} gt_vec;
typedef unsigned gt_mask; /* lanes 0-15, as __mmask16 */

static inline __attribute__((always_inline)) gt_vec gt_e_load(const float *p)
{
    return (gt_vec){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
static inline __attribute__((always_inline)) void gt_e_store(float *p, gt_vec v)
{
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
static inline __attribute__((always_inline)) gt_vec gt_e_set1(float x)
{
    return (gt_vec){_mm256_set1_ps(x), _mm256_set1_ps(x)};
}
static inline __attribute__((always_inline)) gt_vec gt_e_mul(gt_vec a, gt_vec b)
{
    return (gt_vec){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
}
static inline __attribute__((always_inline)) gt_vec gt_e_fma(gt_vec a, gt_vec b, gt_vec c)
{
    return (gt_vec){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
/* Lane i of a half (first: lanes 0-7, else 8-15) on when bit i of m is. */
static inline __attribute__((always_inline)) __m256i gt_e_lanes(gt_mask m, bool first)
{
    const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i v    = _mm256_set1_epi32((int)(first ? m & 0xFF : m >> 8 & 0xFF));
    return _mm256_cmpeq_epi32(_mm256_and_si256(v, bits), bits);
}
/* Masked lanes are neither read nor written: _mm256_maskload_ps and
 * _mm256_maskstore_ps do not touch them (no fault past an array's end). */
static inline __attribute__((always_inline)) gt_vec gt_e_loadm(const float *p, gt_mask m)
{
    return (gt_vec){_mm256_maskload_ps(p, gt_e_lanes(m, true)),
                    _mm256_maskload_ps(p + 8, gt_e_lanes(m, false))};
}
static inline __attribute__((always_inline)) void gt_e_storem(float *p, gt_mask m, gt_vec v)
{
    _mm256_maskstore_ps(p, gt_e_lanes(m, true), v.lo);
    _mm256_maskstore_ps(p + 8, gt_e_lanes(m, false), v.hi);
}
/* _mm512_reduce_add_ps's order: the halves, then the quarters, then
 * (0 + 2) + (1 + 3). */
static inline float gt_e_hsum(gt_vec v)
{
    const __m256 h = _mm256_add_ps(v.lo, v.hi);
    __m128       s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

#define GT_FN              cnn_gemm_emu512
#define GT_VL              16
#define GT_NV              2
#define GT_MR              8
#define GT_LOAD(p)         gt_e_load(p)
#define GT_STORE(p, v)     gt_e_store((p), (v))
#define GT_SET1(x)         gt_e_set1(x)
#define GT_MUL(a, b)       gt_e_mul((a), (b))
#define GT_FMA(a, b, c)    gt_e_fma((a), (b), (c))
#define GT_HAVE_AVX2       1
#define GT_DIRECT_FN       cnn_direct_emu512
#define GT_DIRECT_PACK_FN  cnn_direct_pack_emu512
#define GT_MASKR(lo, hi)   ((gt_mask)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)))
#define GT_LOADM(p, m)     gt_e_loadm((p), (m))
#define GT_STOREM(p, m, v) gt_e_storem((p), (m), (v))
#define GT_DIRECT_DW_FN    cnn_direct_dw_emu512
#define GT_TRANSPOSE_FN    cnn_transpose_emu512
#define GT_GEMM_PA_FN      cnn_gemm_packed_a_emu512
#define GT_GEMM_PAB_FN     cnn_gemm_packed_ab_emu512
#define GT_PACK_B_FN       cnn_gemm_pack_b_emu512
#define GT_GEMM_PB_FN      cnn_gemm_packed_b_emu512
#define GT_PACK_A_FN       cnn_gemm_pack_a_emu512
#define GT_PACK_B_COLS_FN  cnn_gemm_pack_b_cols_emu512
#define GT_DW_MR           4
#define GT_DW_NK           6
#define GT_HSUM(v)         gt_e_hsum(v)
#include "gemm_tmpl.h"

#else
typedef int cnn_gemm_emu512_unused; /* not an x86 target: isa.c never selects it */
#endif
