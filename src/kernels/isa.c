/* isa.c - picks the GEMM variant once, at startup, from what the CPU
 * supports (or from CNN_ISA), and routes cnn_gemm through it. */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_X86_VARIANTS 1
#endif

static const char *const isa_names[CNN_ISA_COUNT_] = {"portable", "avx2", "avx512", "emu512"};

static cnn_gemm_fn *const isa_gemm[CNN_ISA_COUNT_] = {
    cnn_gemm_portable,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_avx2,
    cnn_gemm_avx512,
    cnn_gemm_emu512,
#endif
};

static cnn_direct_fn *const isa_direct[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_direct_avx2,
    cnn_direct_avx512,
    cnn_direct_emu512,
#endif
};
static cnn_direct_pack_fn *const isa_direct_pack[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_direct_pack_avx2,
    cnn_direct_pack_avx512,
    cnn_direct_pack_emu512,
#endif
};
static cnn_direct_dw_fn *const isa_direct_dw[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_direct_dw_avx2,
    cnn_direct_dw_avx512,
    cnn_direct_dw_emu512,
#endif
};
static cnn_gemm_packed_a_fn *const isa_gemm_pa[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_packed_a_avx2,
    cnn_gemm_packed_a_avx512,
    cnn_gemm_packed_a_emu512,
#endif
};
static cnn_gemm_packed_ab_fn *const isa_gemm_pab[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_packed_ab_avx2,
    cnn_gemm_packed_ab_avx512,
    cnn_gemm_packed_ab_emu512,
#endif
};
static cnn_gemm_pack_b_fn *const isa_pack_b[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_pack_b_avx2,
    cnn_gemm_pack_b_avx512,
    cnn_gemm_pack_b_emu512,
#endif
};
static cnn_gemm_pack_b_cols_fn *const isa_pack_b_cols[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_pack_b_cols_avx2,
    cnn_gemm_pack_b_cols_avx512,
    cnn_gemm_pack_b_cols_emu512,
#endif
};
static cnn_gemm_packed_b_fn *const isa_gemm_pb[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_packed_b_avx2,
    cnn_gemm_packed_b_avx512,
    cnn_gemm_packed_b_emu512,
#endif
};
static cnn_gemm_pack_a_fn *const isa_pack_a[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_gemm_pack_a_avx2,
    cnn_gemm_pack_a_avx512,
    cnn_gemm_pack_a_emu512,
#endif
};
static cnn_transpose_fn *const isa_transpose[CNN_ISA_COUNT_] = {
    NULL,
#ifdef HAVE_X86_VARIANTS
    cnn_transpose_avx2,
    cnn_transpose_avx512,
    cnn_transpose_emu512,
#endif
};
static const int isa_lanes[CNN_ISA_COUNT_] = {1, 8, 16, 16};
/* GT_MR of gemm_avx2.c, gemm_avx512.c, gemm_emu512.c */
static const int isa_mr[CNN_ISA_COUNT_]    = {1, 6, 8, 8};

static cnn_isa      active = CNN_ISA_PORTABLE;
static cnn_gemm_fn *gemm   = NULL; /* set once by select_isa */

const char *cnn_isa_name(cnn_isa isa)
{
    return (unsigned)isa < CNN_ISA_COUNT_ ? isa_names[isa] : "unknown";
}

bool cnn_isa_supported(cnn_isa isa)
{
    switch (isa) {
    case CNN_ISA_PORTABLE:
        return true;
#ifdef HAVE_X86_VARIANTS
    case CNN_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CNN_ISA_AVX512: /* its packing uses AVX2: every AVX-512F CPU has it, checked anyway */
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
    case CNN_ISA_EMU512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default:
        return false;
    }
}

bool cnn_gemm_set_isa(cnn_isa isa)
{
    if ((unsigned)isa >= CNN_ISA_COUNT_ || !isa_gemm[isa] || !cnn_isa_supported(isa))
        return false;
    active = isa;
    gemm   = isa_gemm[isa];
    return true;
}

/* The best supported variant (emu512, slower than avx2, is never it),
 * unless CNN_ISA names another supported one. */
static void select_isa(void)
{
    const char *want = getenv("CNN_ISA");
    int         best = CNN_ISA_PORTABLE;

#ifdef HAVE_X86_VARIANTS
    __builtin_cpu_init(); /* required before cpu_supports in a constructor */
#endif
    for (int i = CNN_ISA_AVX512; i > 0; i--)
        if (isa_gemm[i] && cnn_isa_supported((cnn_isa)i)) {
            best = i;
            break;
        }
    cnn_gemm_set_isa((cnn_isa)best);
    for (int i = 0; want && i < CNN_ISA_COUNT_; i++)
        if (strcmp(want, isa_names[i]) == 0)
            cnn_gemm_set_isa((cnn_isa)i); /* unsupported: keeps the best */
}

#if defined(__GNUC__)
__attribute__((constructor)) static void select_at_startup(void) { select_isa(); }
#endif

cnn_isa cnn_gemm_isa(void)
{
    if (!gemm)
        select_isa();
    return active;
}

cnn_direct_fn *cnn_direct_kernel(int *lanes, int *ocw, cnn_direct_pack_fn **pack)
{
    cnn_isa isa = cnn_gemm_isa();

    if (lanes)
        *lanes = isa_lanes[isa];
    if (ocw) /* the microkernel's NR: two vectors */
        *ocw = 2 * isa_lanes[isa];
    if (pack)
        *pack = isa_direct_pack[isa];
    return isa_direct[isa];
}

int cnn_direct_panel(int ocl)
{
    return ocl ? (ocl == 2 ? 1 : 2) * isa_lanes[cnn_gemm_isa()] : isa_mr[cnn_gemm_isa()];
}

cnn_direct_dw_fn *cnn_direct_dw_kernel(int *lanes)
{
    cnn_isa isa = cnn_gemm_isa();

    if (lanes)
        *lanes = isa_lanes[isa];
    return isa_direct_dw[isa];
}

cnn_gemm_packed_a_fn *cnn_gemm_packed_a_kernel(void) { return isa_gemm_pa[cnn_gemm_isa()]; }

cnn_gemm_pack_a_fn *cnn_gemm_pack_a_kernel(void) { return isa_pack_a[cnn_gemm_isa()]; }

cnn_gemm_packed_b_fn *cnn_gemm_packed_b_kernel(cnn_gemm_pack_b_fn **pack)
{
    *pack = isa_pack_b[cnn_gemm_isa()];
    return isa_gemm_pb[cnn_gemm_isa()];
}

cnn_gemm_packed_ab_fn *cnn_gemm_packed_ab_kernel(cnn_gemm_pack_b_fn      **pack,
                                                 cnn_gemm_pack_b_cols_fn **pack_cols, int *nr)
{
    *pack      = isa_pack_b[cnn_gemm_isa()];
    *pack_cols = isa_pack_b_cols[cnn_gemm_isa()];
    *nr        = 2 * isa_lanes[cnn_gemm_isa()]; /* GT_NV = 2 vectors */
    return isa_gemm_pab[cnn_gemm_isa()];
}

void cnn_transpose(const float *src, int64_t lds, int ni, int nj, float *dst, int64_t ldd)
{
    cnn_transpose_fn *fn = isa_transpose[cnn_gemm_isa()];

    if (fn) {
        fn(src, lds, ni, nj, dst, ldd);
        return;
    }
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nj; j++)
            dst[j * ldd + i] = src[i * lds + j];
}

void cnn_gemm_ws(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc, float *ws)
{
    if (!gemm) /* compilers without constructors: first call picks */
        select_isa();
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

void cnn_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    float *ws = NULL;

    if (!gemm)
        select_isa();
    if (gemm != cnn_gemm_portable && !(ws = malloc(CNN_GEMM_WS_FLOATS * sizeof *ws))) {
        cnn_gemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
        return;
    }
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
    free(ws);
}
