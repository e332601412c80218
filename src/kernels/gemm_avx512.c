/* gemm_avx512.c - the packed GEMM for AVX-512F: an 8 x 32 microkernel (16
 * zmm accumulators of 16 lanes). Built with -mavx512f -mavx2 -mfma
 * (Makefile); runs only when the CPU has AVX-512F. Packing uses the AVX2
 * transposes, which every AVX-512 CPU has. */
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

typedef __m512 gt_vec;
#define GT_FN           cnn_gemm_avx512
#define GT_VL           16
#define GT_NV           2
#define GT_MR           8
#define GT_LOAD(p)      _mm512_loadu_ps(p)
#define GT_STORE(p, v)  _mm512_storeu_ps((p), (v))
#define GT_SET1(x)      _mm512_set1_ps(x)
#define GT_MUL(a, b)    _mm512_mul_ps((a), (b))
#define GT_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define GT_HAVE_AVX2    1
#define GT_DIRECT_FN    cnn_direct_avx512
#define GT_DIRECT_PACK_FN cnn_direct_pack_avx512
typedef __mmask16 gt_mask;
#define GT_MASKR(lo, hi)  ((__mmask16)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)))
#define GT_LOADM(p, m)     _mm512_maskz_loadu_ps((m), (p))
#define GT_STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define GT_DIRECT_DW_FN cnn_direct_dw_avx512
#define GT_TRANSPOSE_FN cnn_transpose_avx512
#define GT_GEMM_PA_FN   cnn_gemm_packed_a_avx512
#define GT_GEMM_PAB_FN  cnn_gemm_packed_ab_avx512
#define GT_PACK_B_FN    cnn_gemm_pack_b_avx512
#define GT_GEMM_PB_FN   cnn_gemm_packed_b_avx512
#define GT_PACK_A_FN    cnn_gemm_pack_a_avx512
#define GT_PACK_B_COLS_FN cnn_gemm_pack_b_cols_avx512
#define GT_DW_MR        4
#define GT_DW_NK        6
#define GT_HSUM(v)      _mm512_reduce_add_ps(v)
#include "gemm_tmpl.h"

#else
typedef int cnn_gemm_avx512_unused; /* not an x86 target: isa.c never selects it */
#endif
