/* gemm_avx2.c - the packed GEMM for AVX2 + FMA: a 6 x 16 microkernel (12
 * ymm accumulators, 2 for the B row, 1 broadcast: 15 of 16 registers).
 * Built with -mavx2 -mfma (Makefile); runs only when the CPU has both. */
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

typedef __m256 gt_vec;
#define GT_FN           cnn_gemm_avx2
#define GT_VL           8
#define GT_NV           2
#define GT_MR           6
#define GT_LOAD(p)      _mm256_loadu_ps(p)
#define GT_STORE(p, v)  _mm256_storeu_ps((p), (v))
#define GT_SET1(x)      _mm256_set1_ps(x)
#define GT_MUL(a, b)    _mm256_mul_ps((a), (b))
#define GT_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define GT_HAVE_AVX2    1
#define GT_DIRECT_FN    cnn_direct_avx2
#define GT_DIRECT_PACK_FN cnn_direct_pack_avx2
typedef __m256i gt_mask;
#define GT_MASKR(lo, hi)   _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(hi), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), \
                                            _mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((lo) - 1)))
#define GT_LOADM(p, m)     _mm256_maskload_ps((p), (m))
#define GT_STOREM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define GT_DIRECT_DW_FN cnn_direct_dw_avx2
#define GT_TRANSPOSE_FN cnn_transpose_avx2
#define GT_GEMM_PA_FN   cnn_gemm_packed_a_avx2
#define GT_GEMM_PAB_FN  cnn_gemm_packed_ab_avx2
#define GT_PACK_B_FN    cnn_gemm_pack_b_avx2
#define GT_GEMM_PB_FN   cnn_gemm_packed_b_avx2
#define GT_PACK_A_FN    cnn_gemm_pack_a_avx2
#define GT_PACK_B_COLS_FN cnn_gemm_pack_b_cols_avx2
#define GT_DW_MR        3
#define GT_DW_NK        3
#define GT_HSUM(v)      gt_hsum256(v)
static inline float gt_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#include "gemm_tmpl.h"

#else
typedef int cnn_gemm_avx2_unused; /* not an x86 target: isa.c never selects it */
#endif
