/* gemm_tmpl.h - the packed, cache-blocked GEMM, written once and compiled
 * per instruction set: gemm_avx2.c and gemm_avx512.c include it with their
 * vector type, and tests/test_kernels.c includes it with 16 lanes of scalar
 * fmaf, which computes the very bits of the AVX-512 variant on any CPU.
 *
 * The includer defines:
 *   GT_FN             the entry point to define (cnn_gemm_fn signature)
 *   GT_VL             lanes per vector
 *   GT_NV             vectors per microkernel row; NR = GT_VL * GT_NV
 *   GT_MR             rows per microkernel
 *   gt_vec            the vector type, with
 *   GT_LOAD(p), GT_STORE(p, v)   unaligned load and store of GT_VL floats
 *   GT_SET1(x), GT_MUL(a, b)
 *   GT_FMA(a, b, c)   a * b + c with one rounding
 *   GT_HAVE_AVX2      (optional) pack with AVX2 8x8 transposes
 *   GT_DIRECT_DW_FN   (optional, with GT_DIRECT_FN) the direct weight
 *                     gradient to define, with
 *   GT_DW_MR, GT_DW_NK, GT_HSUM(v)   its tile (rows x taps) and the sum of
 *                     a vector's lanes
 *   GT_DIRECT_FN      (optional) the direct convolution to define, with
 *                     GT_DIRECT_PACK_FN (its packing of the weights) and
 *   gt_mask, GT_MASKR(lo, hi), GT_LOADM(p, m), GT_STOREM(p, m, v)   lanes
 *                     [lo, hi) only (the others read as 0, not written)
 *
 * Blocking (BLIS / GotoBLAS): for each KC-deep slice of K, an MC x KC block
 * of op(A) is packed into MR-row panels (k-major, MR values per k) that stay
 * in L2; for each NR-wide column panel of op(B), a KC x NR panel is packed
 * (NR values per k) that stays in L1 while the microkernel sweeps the A
 * panels. When the A block is at most two panels high and op(B) is B
 * itself, the microkernel reads B in place: packing would cost as much as
 * the multiply. Likewise, when N is at most two panels wide and op(A) is A
 * itself, it reads A's rows in place (batch-1 late layers: each weight is
 * used for only N columns).
 *
 * Order of sums: each element of C is summed over k in order, one FMA
 * chain per KC slice, and the slices are added into C in order. Bottom
 * edge tiles run the microkernel on fewer rows, right edge tiles run it on
 * a full-width copy, so every element gets the same arithmetic wherever it
 * sits: the bits depend on K, not on M, N or the strides. */
#include <stdint.h>
#include <string.h>

#define GT_NR     (GT_VL * GT_NV)
#ifndef GT_KC
#define GT_KC CNN_GEMM_KC
#endif
#ifndef GT_MC
#define GT_MC (256 / GT_MR * GT_MR) /* about 256 rows: most convs' M in one block */
#endif
#define GT_MC_MAX (GT_MC + 2 * GT_MR) /* a last block this close is taken whole, not split */
_Static_assert(GT_MC_MAX <= CNN_GEMM_ONE_BLOCK, "CNN_GEMM_ONE_BLOCK: rows in one block at most");
#ifndef GT_A_IN_PLACE_N
#define GT_A_IN_PLACE_N (2 * GT_NR) /* N up to this: op(A) = A read in place, unpacked */
#endif

_Static_assert(GT_MC_MAX * GT_KC + GT_KC * GT_NR + GT_MR * GT_NR + 32 <= CNN_GEMM_WS_FLOATS,
               "GEMM workspace too small for this blocking");

/* The products of a tile, shared by the GEMM and the direct convolution:
 * acc[r][v] = sum over k < kc, in order, one FMA each, of A(r, k) times
 * vector v of B's row k, for r < rows and v < nv (constants after
 * inlining). A(r, k) = Ap[r*ars + k*aks]; B's row k is Bp + k*ldbp, or,
 * with koff (the direct convolution reading its input), vector v is at
 * b0[v] + koff[k]. */
static inline __attribute__((always_inline)) void
gt_products(gt_vec acc[GT_MR][GT_NV], int rows, int nv, int kc, const float *restrict Ap,
            int64_t ars, int64_t aks, const float *restrict Bp, int64_t ldbp,
            const int32_t *restrict koff, const float *const *b0)
{
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = GT_SET1(0.0f);
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        gt_vec b[GT_NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            b[v] = koff ? GT_LOAD(b0[v] + koff[k]) : GT_LOAD(Bp + k * ldbp + v * GT_VL);
#pragma GCC unroll 16
        for (int r = 0; r < rows; r++) {
            gt_vec a = GT_SET1(Ap[r * ars + k * aks]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = GT_FMA(a, b[v], acc[r][v]);
        }
    }
}

/* One tile of the first `rows` rows (rows <= MR, a constant after
 * inlining) and nv * VL columns (nv = NV, or 1 for a right edge of at most
 * VL columns): C = alpha * A Bp (over) or C += alpha * A Bp.
 * Element (r, k) of the A panel is Ap[r*ars + k*aks]: a packed panel
 * [kc][MR] (ars 1, aks MR) or rows of A itself (ars lda, aks 1). Bp
 * [kc][ldbp] (NR used), C rows ldc apart. Every row is the same arithmetic
 * whatever `rows` or the A layout is. */
static inline __attribute__((always_inline)) void
gt_kernel_rows(int rows, int nv, int kc, const float *restrict Ap, int64_t ars, int64_t aks,
               const float *restrict Bp, int64_t ldbp, float *restrict C, int64_t ldc, float alpha,
               bool over)
{
    gt_vec acc[GT_MR][GT_NV];

    gt_products(acc, rows, nv, kc, Ap, ars, aks, Bp, ldbp, NULL, NULL);
    gt_vec va = GT_SET1(alpha);
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            float *c = C + r * ldc + v * GT_VL;
            GT_STORE(c, over ? GT_MUL(va, acc[r][v]) : GT_FMA(va, acc[r][v], GT_LOAD(c)));
        }
}

static void gt_kernel(int kc, const float *restrict Ap, const float *restrict Bp, int64_t ldbp,
                      float *restrict C, int64_t ldc, float alpha, bool over)
{
    gt_kernel_rows(GT_MR, GT_NV, kc, Ap, 1, GT_MR, Bp, ldbp, C, ldc, alpha, over);
}

/* The same reading A in place, rows lda apart (small N: packing A would
 * cost as much as the multiply). */
static void gt_kernel_a(int kc, const float *restrict A, int64_t lda, const float *restrict Bp,
                        int64_t ldbp, float *restrict C, int64_t ldc, float alpha, bool over)
{
    gt_kernel_rows(GT_MR, GT_NV, kc, A, lda, 1, Bp, ldbp, C, ldc, alpha, over);
}

/* The last rows of a block (M not a multiple of MR): only those rows, so
 * M = 16 costs 16 rows of work, not 18; and a right edge of at most VL
 * columns (narrow) in one vector, so 196 columns cost 196 + 12, not + 28.
 * One instance per row count and width. */
/* CALL(n) with n the constant `rows` (at most GT_MR; GT_MR for any
 * other value): one instance of an inlined kernel per row count. */
_Static_assert(GT_MR <= 8, "GT_BY_ROWS: add cases for a taller microkernel");
#define GT_ROWS_N(n) (n < GT_MR ? n : GT_MR)
#define GT_BY_ROWS(rows, CALL)                                                                   \
    switch (rows) {                                                                              \
    case 1: CALL(GT_ROWS_N(1)); break;                                                           \
    case 2: CALL(GT_ROWS_N(2)); break;                                                           \
    case 3: CALL(GT_ROWS_N(3)); break;                                                           \
    case 4: CALL(GT_ROWS_N(4)); break;                                                           \
    case 5: CALL(GT_ROWS_N(5)); break;                                                           \
    case 6: CALL(GT_ROWS_N(6)); break;                                                           \
    case 7: CALL(GT_ROWS_N(7)); break;                                                           \
    default: CALL(GT_MR);                                                                        \
    }

static void gt_kernel_edge(int rows, bool narrow, int kc, const float *restrict Ap, int64_t ars,
                           int64_t aks, const float *restrict Bp, int64_t ldbp, float *restrict C,
                           int64_t ldc, float alpha, bool over)
{
#define GT_CALL_1(n) gt_kernel_rows(n, 1, kc, Ap, ars, aks, Bp, ldbp, C, ldc, alpha, over)
#define GT_CALL_NV(n) gt_kernel_rows(n, GT_NV, kc, Ap, ars, aks, Bp, ldbp, C, ldc, alpha, over)
    if (narrow)
        GT_BY_ROWS(rows, GT_CALL_1)
    else
        GT_BY_ROWS(rows, GT_CALL_NV)
#undef GT_CALL_1
#undef GT_CALL_NV
}

#ifdef GT_HAVE_AVX2
#include <immintrin.h>

/* Transposes 8 rows of 8 floats (r[i] = row i) in place: r[i] = column i. */
static inline void gt_transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

/* Packs rows [0, rows) of a panel whose row i, element k is src[i*ld + k]
 * (k in [0, kc)) as out[k*width + i], rows >= `rows` zero: the transposing
 * pack (op(A) = A row-major, op(B) = B^T). */
static void gt_pack_t(const float *src, int64_t ld, int rows, int kc, int width, float *out)
{
    int k = 0;
#ifdef GT_HAVE_AVX2
    /* Eight rows by eight k at a time, through registers. */
    for (; k + 8 <= kc; k += 8)
        for (int i0 = 0; i0 < width; i0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = i0 + i < rows ? _mm256_loadu_ps(src + (i0 + i) * ld + k)
                                     : _mm256_setzero_ps();
            gt_transpose8(r);
            if (i0 + 8 <= width) {
                for (int t = 0; t < 8; t++)
                    _mm256_storeu_ps(out + (k + t) * width + i0, r[t]);
            } else if (width < 8) {
                /* A panels (width MR = 6): full stores whose 8 - width extra
                 * floats land at the start of the next row, which its own
                 * store (or the scalar tail) then overwrites; only the
                 * panel's very last row is masked. Masked stores are slow
                 * on AMD, full ones are not. */
                const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(width),
                                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                for (int t = 0; t < 7; t++)
                    _mm256_storeu_ps(out + (k + t) * width, r[t]);
                if (k + 8 < kc)
                    _mm256_storeu_ps(out + (k + 7) * width, r[7]);
                else
                    _mm256_maskstore_ps(out + (k + 7) * width, m, r[7]);
            } else {
                const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - i0),
                                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                for (int t = 0; t < 8; t++)
                    _mm256_maskstore_ps(out + (k + t) * width + i0, m, r[t]);
            }
        }
#endif
    for (; k < kc; k++) {
        float *o = out + k * width;
        for (int i = 0; i < rows; i++)
            o[i] = src[i * ld + k];
        for (int i = rows; i < width; i++)
            o[i] = 0.0f;
    }
}

/* Packs a panel whose element (k, i) is src[k*ld + i] as out[k*width + i]:
 * rows of the panel are already contiguous (op(A) = A^T, op(B) = B). */
static void gt_pack_n(const float *src, int64_t ld, int cols, int kc, int width, float *out)
{
    if (cols == width && width == GT_NR) { /* the common case, in vectors */
        for (int k = 0; k < kc; k++)
#pragma GCC unroll 4
            for (int v = 0; v < GT_NV; v++)
                GT_STORE(out + k * GT_NR + v * GT_VL, GT_LOAD(src + k * ld + v * GT_VL));
        return;
    }
    int k = 0;
    if (cols == width && width < GT_VL) /* A^T's whole panels (MR < VL) */
        /* a vector a row: its extra floats come from the next row of src
         * (there is one: the last rows go one by one) and land where the
         * next rows go, which their own stores then fill */
        for (; (int64_t)(k + 1) * width + GT_VL <= (int64_t)kc * width; k++)
            GT_STORE(out + k * width, GT_LOAD(src + k * ld));
    for (; k < kc; k++) {
        for (int i = 0; i < cols; i++)
            out[k * width + i] = src[k * ld + i];
        for (int i = cols; i < width; i++)
            out[k * width + i] = 0.0f;
    }
}

/* The MC x KC block of op(A) at (i0, p0) as MR-row panels, kc x MR each. */
static void gt_pack_a(bool ta, const float *A, int64_t lda, int i0, int mc, int p0, int kc,
                      float *Ap)
{
    for (int ir = 0; ir < mc; ir += GT_MR) {
        int    mr = mc - ir < GT_MR ? mc - ir : GT_MR;
        float *o  = Ap + (int64_t)ir * kc;
        if (ta)
            gt_pack_n(A + (int64_t)p0 * lda + i0 + ir, lda, mr, kc, GT_MR, o);
        else
            gt_pack_t(A + (int64_t)(i0 + ir) * lda + p0, lda, mr, kc, GT_MR, o);
    }
}

static void gt_scale(int M, int N, float beta, float *C, int64_t ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else
            for (int j = 0; j < N; j++)
                c[j] *= beta;
    }
}

/* GT_FN's body; apk: op(A) packed already (cnn_gemm_packed_a: row i0's
 * panel of slice p0 at apk + mup*p0 + (a0 + i0)*kc, a0 a multiple of
 * GT_MR), else NULL; bpk: B packed already (gt_pack_b: column j0's panel
 * at bpk + j0*K, rows p0 on at + p0*NR), else NULL. */
static void gt_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda_,
                    const float *B, int ldb_, float beta, float *C, int ldc_, float *ws,
                    const float *apk, int64_t mup, int a0, const float *bpk)
{
    const int64_t lda = lda_, ldb = ldb_, ldc = ldc_;
    float        *Ap, *Bp, *T;

    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        if (beta != 1.0f)
            gt_scale(M, N, beta, C, ldc);
        return;
    }
    if (beta != 0.0f && beta != 1.0f) { /* rare: scale first, then accumulate */
        gt_scale(M, N, beta, C, ldc);
        beta = 1.0f;
    }
    Ap = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    Bp = Ap + GT_MC_MAX * GT_KC;
    T  = Bp + GT_KC * GT_NR;

    /* A small N (a late layer of one image) uses each element of A only a
     * few times: the microkernel then reads op(A) = A in place. */
    const bool a_in_place = !apk && !ta && N <= GT_A_IN_PLACE_N;
    for (int p0 = 0; p0 < K; p0 += GT_KC) {
        const int  kc   = K - p0 < GT_KC ? K - p0 : GT_KC;
        const bool over = p0 == 0 && beta == 0.0f;
        for (int i0 = 0, mc; i0 < M; i0 += mc) {
            mc = M - i0 <= GT_MC_MAX ? M - i0 : GT_MC;
            if (apk)
                Ap = (float *)apk + mup * p0 + (int64_t)(a0 + i0) * kc; /* read only */
            else if (!a_in_place)
                gt_pack_a(ta, A, lda, i0, mc, p0, kc, Ap);
            for (int j0 = 0; j0 < N; j0 += GT_NR) {
                const int    nr = N - j0 < GT_NR ? N - j0 : GT_NR;
                const float *Bk = Bp;
                int64_t      ldbp = GT_NR;
                if (bpk) {
                    Bk = bpk + (int64_t)j0 * K + (int64_t)p0 * GT_NR;
                } else if (!tb && nr == GT_NR && mc <= 2 * GT_MR) {
                    Bk   = B + (int64_t)p0 * ldb + j0;
                    ldbp = ldb;
                } else if (tb) {
                    gt_pack_t(B + (int64_t)j0 * ldb + p0, ldb, nr, kc, GT_NR, Bp);
                } else {
                    gt_pack_n(B + (int64_t)p0 * ldb + j0, ldb, nr, kc, GT_NR, Bp);
                }
                for (int ir = 0; ir < mc; ir += GT_MR) {
                    const int     mr  = mc - ir < GT_MR ? mc - ir : GT_MR;
                    const float  *a   = a_in_place ? A + (int64_t)(i0 + ir) * lda + p0
                                                   : Ap + (int64_t)ir * kc;
                    const int64_t ars = a_in_place ? lda : 1, aks = a_in_place ? 1 : GT_MR;
                    float        *c   = C + (i0 + ir) * ldc + j0;
                    if (nr == GT_NR) {
                        if (mr == GT_MR && a_in_place)
                            gt_kernel_a(kc, a, lda, Bk, ldbp, c, ldc, alpha, over);
                        else if (mr == GT_MR)
                            gt_kernel(kc, a, Bk, ldbp, c, ldc, alpha, over);
                        else
                            gt_kernel_edge(mr, false, kc, a, ars, aks, Bk, ldbp, c, ldc, alpha,
                                           over);
                        continue;
                    }
                    if (nr == GT_VL) { /* a right edge of one whole vector: in place */
                        gt_kernel_edge(mr, true, kc, a, ars, aks, Bk, ldbp, c, ldc, alpha, over);
                        continue;
                    }
                    /* Right edge: the same kernel on a full-width copy
                     * (one vector wide when that covers it). */
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < GT_NR; j++)
                            T[r * GT_NR + j] = !over && j < nr ? c[r * ldc + j] : 0.0f;
                    gt_kernel_edge(mr, nr <= GT_VL, kc, a, ars, aks, Bk, ldbp, T, GT_NR, alpha,
                                   over);
                    for (int r = 0; r < mr; r++) {
                        int j = 0; /* vectors, then floats: no memcpy call for a few floats */
                        for (; j + GT_VL <= nr; j += GT_VL)
                            GT_STORE(c + r * ldc + j, GT_LOAD(T + r * GT_NR + j));
                        for (; j < nr; j++)
                            c[r * ldc + j] = T[r * GT_NR + j];
                    }
                }
            }
        }
    }
}

void GT_FN(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc, float *ws)
{
    gt_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws, NULL, 0, 0, NULL);
}

#ifdef GT_GEMM_PA_FN
void GT_GEMM_PA_FN(int M, int N, int K, const float *Ap, int64_t mup, int a0, const float *B,
                   int ldb, float beta, float *C, int ldc, float *ws)
{
    gt_gemm(false, false, M, N, K, 1.0f, NULL, 0, B, ldb, beta, C, ldc, ws, Ap, mup, a0, NULL);
}

/* op(B) [K, N] (B, or B^T when tb; rows ldb apart) in panels of NR
 * columns, panel j0 / NR at Bp + j0*K as [K][NR], the last one's columns
 * past N zero. */
void GT_PACK_B_FN(bool tb, int K, int N, const float *B, int ldb, float *Bp)
{
    for (int j0 = 0; j0 < N; j0 += GT_NR) {
        const int nr = N - j0 < GT_NR ? N - j0 : GT_NR;
        if (tb)
            gt_pack_t(B + (int64_t)j0 * ldb, ldb, nr, K, GT_NR, Bp + (int64_t)j0 * K);
        else
            gt_pack_n(B + j0, ldb, nr, K, GT_NR, Bp + (int64_t)j0 * K);
    }
}

/* op(A) [M, K] (A, or A^T when ta; rows lda apart), slices [s0, s1) of
 * GT_KC columns, as GT_GEMM_PA_FN reads it: slice s at Ap + mup*s*GT_KC
 * (mup: M rounded up to GT_MR), in panels of GT_MR rows. */
void GT_PACK_A_FN(bool ta, int M, int K, const float *A, int lda, int64_t mup, int s0, int s1,
                  float *Ap)
{
    for (int s = s0; s < s1; s++) {
        const int p0 = s * GT_KC, kc = K - p0 < GT_KC ? K - p0 : GT_KC;
        gt_pack_a(ta, A, lda, 0, M, p0, kc, Ap + mup * p0);
    }
}

/* GT_FN with op(B) packed already by GT_PACK_B_FN. */
void GT_GEMM_PB_FN(bool ta, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *Bp, float beta, float *C, int ldc, float *ws)
{
    gt_gemm(ta, false, M, N, K, alpha, A, lda, NULL, 0, beta, C, ldc, ws, NULL, 0, 0, Bp);
}

/* The same for B [K, N] whose column j is column c0 + j of the images'
 * planes of n pixels side by side (xs floats apart): row k, column c at
 * x[(c / n)*xs + k*n + c % n] (a pointwise conv's columns, read in
 * place). Each row is gathered into row (N rounded up to NR floats),
 * then stored in the panels. */
void GT_PACK_B_COLS_FN(int K, int64_t c0, int N, int n, const float *x, int64_t xs, float *row,
                       float *Bp)
{
    for (int j = N; j < (N + GT_NR - 1) / GT_NR * GT_NR; j++)
        row[j] = 0.0f;
    for (int k = 0; k < K; k++) {
        for (int j = 0, len; j < N; j += len) { /* a run of one image's pixels */
            const int64_t c = c0 + j;
            const int     q = (int)(c % n);
            const float  *s = x + (c / n) * xs + (int64_t)k * n + q;
            float        *d = row + j;
            int           i = 0;
            len = n - q < N - j ? n - q : N - j;
            for (; i + GT_VL <= len; i += GT_VL)
                GT_STORE(d + i, GT_LOAD(s + i));
            if (i < len && len >= GT_VL) /* the last vector again, over floats already there */
                GT_STORE(d + len - GT_VL, GT_LOAD(s + len - GT_VL));
            else
                for (; i < len; i++)
                    d[i] = s[i];
        }
        for (int j0 = 0; j0 < N; j0 += GT_NR)
#pragma GCC unroll 4
            for (int v = 0; v < GT_NV; v++)
                GT_STORE(Bp + (int64_t)j0 * K + (int64_t)k * GT_NR + v * GT_VL,
                         GT_LOAD(row + j0 + v * GT_VL));
    }
}

void GT_GEMM_PAB_FN(int M, int N, int K, const float *Ap, int64_t mup, int a0, const float *Bp,
                    float beta, float *C, int ldc, float *ws)
{
    gt_gemm(false, false, M, N, K, 1.0f, NULL, 0, NULL, 0, beta, C, ldc, ws, Ap, mup, a0, Bp);
}
#endif

#ifdef GT_DIRECT_FN
/* ==== direct convolution (cnn_direct in kernels.h) ==== */

/* A segment of GT_VL output pixels stores in up to GT_PARTS parts: part p
 * is lanes [lo, hi) at c[p] (the address lane 0 would have), one per
 * output row the segment reaches (wide mode: rows of 8 or more lanes'
 * pitch, so a segment of 16 reaches at most 3). */
#define GT_PARTS 3
typedef struct gt_seg {
    float *c[GT_PARTS];
    int    lo[GT_PARTS], hi[GT_PARTS], n;
} gt_seg;

/* `rows` output channels (a packed A panel, as the GEMM's) by GT_NV
 * segments of GT_VL output pixels, segment v reading its input at
 * b0[v] + koff[k] (or, when Bp, the same packed as a GEMM B panel) and
 * storing its parts sg[v] (rows ldy apart). The arithmetic of
 * gt_kernel_rows with alpha 1, element by element. */
static inline __attribute__((always_inline)) void
gt_direct_rows(int rows, int kc, const float *restrict Ap, int64_t ars, int64_t aks,
               const float *restrict Bp, const int32_t *restrict koff, const float *const *b0,
               const gt_seg *sg, int64_t ldy, bool over, const float *bias)
{
    gt_vec acc[GT_MR][GT_NV];

    gt_products(acc, rows, GT_NV, kc, Ap, ars, aks, Bp, GT_NR, Bp ? NULL : koff, b0);
    const gt_vec one = GT_SET1(1.0f);
    gt_vec       bv[GT_MR];
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++) /* 1 * s + b: s + b rounded once, as cnn_add_bias */
        bv[r] = bias ? GT_SET1(bias[r]) : GT_SET1(0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < GT_NV; v++)
        for (int q = 0; q < sg[v].n; q++) {
            const int lo = sg[v].lo[q], hi = sg[v].hi[q];
            if (lo == 0 && hi == GT_VL) {
#pragma GCC unroll 16
                for (int r = 0; r < rows; r++) {
                    float *c = sg[v].c[q] + r * ldy;
                    gt_vec s = over ? GT_MUL(one, acc[r][v]) : GT_FMA(one, acc[r][v], GT_LOAD(c));
                    GT_STORE(c, bias ? GT_FMA(one, s, bv[r]) : s);
                }
                continue;
            }
            const gt_mask m = GT_MASKR(lo, hi); /* a row's first or last pixels */
#pragma GCC unroll 16
            for (int r = 0; r < rows; r++) {
                float *c = sg[v].c[q] + r * ldy;
                gt_vec s = over ? GT_MUL(one, acc[r][v]) : GT_FMA(one, acc[r][v], GT_LOADM(c, m));
                GT_STOREM(c, m, bias ? GT_FMA(one, s, bv[r]) : s);
            }
        }
}

/* The same for any rows <= GT_MR, from the input (Bp NULL) or packed,
 * the weights packed (ars 1, aks GT_MR) or read in place (ars ldw, aks 1). */
static void gt_direct_any(int rows, int kc, const float *restrict Ap, int64_t ars, int64_t aks,
                          const float *restrict Bp, const int32_t *restrict koff,
                          const float *const *b0, const gt_seg *sg, int64_t ldy, bool over,
                          const float *bias)
{
    if (Bp && rows == GT_MR && ars == 1) {
        gt_direct_rows(GT_MR, kc, Ap, 1, GT_MR, Bp, NULL, b0, sg, ldy, over, bias);
        return;
    }
    if (Bp && rows == GT_MR) {
        gt_direct_rows(GT_MR, kc, Ap, ars, 1, Bp, NULL, b0, sg, ldy, over, bias);
        return;
    }
    if (rows == GT_MR) {
        gt_direct_rows(GT_MR, kc, Ap, ars, aks, NULL, koff, b0, sg, ldy, over, bias);
        return;
    }
#define GT_CALL(n) gt_direct_rows(n, kc, Ap, ars, aks, Bp, koff, b0, sg, ldy, over, bias)
    GT_BY_ROWS(rows, GT_CALL)
#undef GT_CALL
}

/* Segment si of the call: where it reads (b0) and the parts it stores.
 * By rows: each output row in ceil(ow / VL) segments, the last one's
 * tail masked. Wide: the rows' pixels as one span of pitch ldx (the
 * band's row pitch), the lanes that fall between rows computed and not
 * stored. */
static void gt_direct_seg(const cnn_direct *d, int64_t si, int segs, const float **b0, gt_seg *sg)
{
    if (!d->wide) {
        const int oy = d->r0 + (int)(si / segs), ox0 = (int)(si % segs) * GT_VL;
        *b0      = d->xb + (int64_t)(oy - d->r0) * d->ldx + ox0;
        sg->n    = 1;
        sg->c[0] = d->y + (int64_t)oy * d->ow + ox0;
        sg->lo[0] = 0;
        sg->hi[0] = d->ow - ox0 < GT_VL ? d->ow - ox0 : GT_VL;
        return;
    }
    const int64_t j = si * GT_VL;
    *b0   = d->xb + j;
    sg->n = 0;
    for (int64_t t = j / d->ldx; t * d->ldx < j + GT_VL && d->r0 + t < d->r1; t++) {
        const int64_t a = t * d->ldx > j ? t * d->ldx : j;
        const int64_t b = t * d->ldx + d->ow < j + GT_VL ? t * d->ldx + d->ow : j + GT_VL;
        if (b <= a)
            continue;
        sg->c[sg->n]  = d->y + (d->r0 + t) * d->ow + (j - t * d->ldx);
        sg->lo[sg->n] = (int)(a - j);
        sg->hi[sg->n] = (int)(b - j);
        sg->n++;
    }
}

/* The GT_NV segments of the tile from segment s: where each reads and
 * the parts it stores (one past nseg repeats segment s, unstored). */
static void gt_direct_tile(const cnn_direct *d, int64_t s, int64_t nseg, int segs,
                           const float **b0, gt_seg *sg)
{
    for (int v = 0; v < GT_NV; v++) {
        gt_direct_seg(d, s + v < nseg ? s + v : s, segs, &b0[v], &sg[v]);
        if (s + v >= nseg)
            sg[v].n = 0;
    }
}

/* ---- output channels in the lanes (cnn_direct's ocl) ---- */

_Static_assert(GT_NV == 2, "cnn_direct_kernel's ocw is two vectors");
_Static_assert(64 + GT_KC * GT_NR + CNN_DIRECT_OCL_PIXELS * (GT_NR + 2) <= CNN_GEMM_WS_FLOATS,
               "gt_direct_ocl: workspace too small");

/* Columns [p0, p0 + kc) of W [M, K] transposed, in panels of wid (NR or
 * VL) channels: panel j0 (channels j0 ... j0 + wid - 1, zeros past M) at
 * Bp + j0*kc, [kc][wid]. */
static void gt_pack_wt(int M, int wid, const float *W, int64_t ldw, int p0, int kc, float *Bp)
{
    for (int j0 = 0; j0 < M; j0 += wid)
        gt_pack_t(W + (int64_t)j0 * ldw + p0, ldw, M - j0 < wid ? M - j0 : wid, kc, wid,
                  Bp + (int64_t)j0 * kc);
}

/* `rows` pixels (row r reading its input at a0[r] + koff[k]) by the nv
 * vectors of channels of a panel Bp [kc][nv*VL] (nv = NV, or 1 for a
 * narrow panel, whose rows may then go up to MR*NV: the same
 * accumulators), into T (row r at T + r*ldt): the arithmetic of
 * gt_kernel_rows with alpha 1, element by element (the factors of each
 * product swapped, which an FMA does not see). */
#define GT_OCL_ROWS(nv) (GT_MR * GT_NV / (nv))
static inline __attribute__((always_inline)) void
gt_ocl_rows(int rows, int nv, int kc, const float *const *a0, const int32_t *restrict koff,
            const float *restrict Bp, float *restrict T, int64_t ldt, bool over)
{
    gt_vec acc[GT_MR * GT_NV][GT_NV];

#pragma GCC unroll 16
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = GT_SET1(0.0f);
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const int32_t o = koff[k];
        gt_vec        b[GT_NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            b[v] = GT_LOAD(Bp + k * nv * GT_VL + v * GT_VL);
#pragma GCC unroll 16
        for (int r = 0; r < rows; r++) {
            const gt_vec a = GT_SET1(a0[r][o]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = GT_FMA(a, b[v], acc[r][v]);
        }
    }
    const gt_vec one = GT_SET1(1.0f);
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            float *c = T + r * ldt + v * GT_VL;
            GT_STORE(c, over ? GT_MUL(one, acc[r][v]) : GT_FMA(one, acc[r][v], GT_LOAD(c)));
        }
}

/* Any rows up to GT_OCL_ROWS(nv): one instance per row count. */
_Static_assert(GT_MR * GT_NV <= 16 && GT_NV == 2, "gt_ocl_any: add cases");
static void gt_ocl_any(int rows, int nv, int kc, const float *const *a0,
                       const int32_t *restrict koff, const float *restrict Bp, float *restrict T,
                       int64_t ldt, bool over)
{
#define GT_CALL(n) gt_ocl_rows(n, GT_NV, kc, a0, koff, Bp, T, ldt, over)
    if (nv == GT_NV) {
        GT_BY_ROWS(rows, GT_CALL)
        return;
    }
#undef GT_CALL
#define GT_CALL(n) gt_ocl_rows(n < GT_MR * GT_NV ? n : GT_MR * GT_NV, 1, kc, a0, koff, Bp, T, ldt, over)
    switch (rows) {
    case 1: GT_CALL(1); break;
    case 2: GT_CALL(2); break;
    case 3: GT_CALL(3); break;
    case 4: GT_CALL(4); break;
    case 5: GT_CALL(5); break;
    case 6: GT_CALL(6); break;
    case 7: GT_CALL(7); break;
    case 8: GT_CALL(8); break;
    case 9: GT_CALL(9); break;
    case 10: GT_CALL(10); break;
    case 11: GT_CALL(11); break;
    case 12: GT_CALL(12); break;
    case 13: GT_CALL(13); break;
    case 14: GT_CALL(14); break;
    case 15: GT_CALL(15); break;
    default: GT_CALL(16);
    }
#undef GT_CALL
}

/* T [ni pixels][wid channels] (rows wid floats apart, a constant once
 * inlined) into dst's nj channel rows, ldd apart (+ bias[j]): channels
 * outermost, so the eight rows stored stay in registers while the pixels
 * go by (a loop with pixels outermost kept its eight destinations on the
 * stack: most of the store pass of an ocl direct conv); each row gets its
 * bias before the transpose, the same adds. */
static inline __attribute__((always_inline)) void
gt_transpose_rows(const float *src, int wid, int ni, int nj, float *dst, int64_t ldd,
                  const float *bias)
{
    int j = 0;
#ifdef GT_HAVE_AVX2
    for (; j + 8 <= nj; j += 8) {
        float       *d[8];
        const __m256 bv = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
        for (int t = 0; t < 8; t++)
            d[t] = dst + (int64_t)(j + t) * ldd;
        int i = 0;
        for (; i + 8 <= ni; i += 8) {
            __m256 r[8];
            for (int t = 0; t < 8; t++) {
                r[t] = _mm256_loadu_ps(src + (int64_t)(i + t) * wid + j);
                if (bias)
                    r[t] = _mm256_add_ps(r[t], bv);
            }
            gt_transpose8(r);
            for (int t = 0; t < 8; t++)
                _mm256_storeu_ps(d[t] + i, r[t]);
        }
        for (; i < ni; i++)
            for (int t = 0; t < 8; t++)
                d[t][i] = bias ? src[(int64_t)i * wid + j + t] + bias[j + t]
                               : src[(int64_t)i * wid + j + t];
    }
#endif
    for (; j < nj; j++)
        for (int i = 0; i < ni; i++)
            dst[(int64_t)j * ldd + i] = bias ? src[(int64_t)i * wid + j] + bias[j]
                                             : src[(int64_t)i * wid + j];
}

static void gt_store_panel(const float *T, int wid, int ni, int nj, float *dst, int64_t ldd,
                           const float *bias)
{
    if (wid == GT_NR)
        gt_transpose_rows(T, GT_NR, ni, nj, dst, ldd, bias);
    else
        gt_transpose_rows(T, GT_VL, ni, nj, dst, ldd, bias);
}

/* dst[j*W + i] = src[i*lds + j] for i < ni, j < nj: the eight source
 * rows outermost, kept in registers. Inlined with W a constant (a
 * panel's width: dY^T for the direct weight gradient, y read back into T
 * before the ocl kernel adds to it), the destination is one pointer. */
static inline __attribute__((always_inline)) void
gt_transpose_to(const float *src, int64_t lds, int ni, int nj, float *dst, int64_t W)
{
    int i = 0;
#ifdef GT_HAVE_AVX2
    for (; i + 8 <= ni; i += 8) {
        const float *s[8];
        for (int t = 0; t < 8; t++)
            s[t] = src + (int64_t)(i + t) * lds;
        int j = 0;
        for (; j + 8 <= nj; j += 8) {
            __m256 r[8];
            for (int t = 0; t < 8; t++)
                r[t] = _mm256_loadu_ps(s[t] + j);
            gt_transpose8(r);
            for (int t = 0; t < 8; t++)
                _mm256_storeu_ps(dst + (int64_t)(j + t) * W + i, r[t]);
        }
        for (; j < nj; j++)
            for (int t = 0; t < 8; t++)
                dst[(int64_t)j * W + i + t] = s[t][j];
    }
#endif
    for (; i < ni; i++)
        for (int j = 0; j < nj; j++)
            dst[(int64_t)j * W + i] = src[(int64_t)i * lds + j];
}

void GT_TRANSPOSE_FN(const float *src, int64_t lds, int ni, int nj, float *dst, int64_t ldd)
{
    if (ldd == GT_NR)
        gt_transpose_to(src, lds, ni, nj, dst, GT_NR);
    else
        gt_transpose_to(src, lds, ni, nj, dst, ldd);
}

/* y's nj channel rows (ldy apart) into T [ni pixels][wid]: gt_store_panel's
 * inverse, for the ocl kernel to add to. */
static void gt_load_panel(const float *y, int64_t ldy, int nj, int ni, float *T, int wid)
{
    if (wid == GT_NR)
        gt_transpose_to(y, ldy, nj, ni, T, GT_NR);
    else
        gt_transpose_to(y, ldy, nj, ni, T, GT_VL);
}

/* Panels of NR channels (VL with d->ocl 2), as many at a time as T holds
 * their sums over all the call's pixels (ResNet-50's 512 channels of 7x7
 * at once): for each slice of K, each panel's weights (in L1 while the
 * pixels sweep them) into its part of T [pixels][panel width] (the GEMM's
 * C, transposed; with `add`, y's values first); then T into y. Slices
 * outermost, so a slice's rows of the input band (used by every panel)
 * stay in cache, and kept weights stream in one run (slice by slice,
 * panels side by side): panels outermost read the whole band again for
 * each panel, from L3 where it is larger than L2 (a 512-channel stride-2
 * band: 0.5 MB), and each panel's slice was a separate stream. Each sum
 * is the same: a slice's chain, added to T slice by slice in order. */
static void gt_direct_ocl(const cnn_direct *d, float *ws)
{
    float        *Bw   = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    const int     nv   = d->ocl == 2 ? 1 : GT_NV, wid = nv * GT_VL, step = GT_OCL_ROWS(nv);
    const int     per  = (d->r1 - d->r0) * d->ow, nimg = d->nimg > 1 ? d->nimg : 1;
    const int     npix = per * nimg;
    const int64_t mun  = (d->M + wid - 1) / wid * wid;
    float        *y    = d->y + (int64_t)d->r0 * d->ow;
    /* Where each pixel reads the band, worked out once for every panel
     * and slice, without divisions (three a pixel for each tile of
     * pixels, panel and slice were about a quarter of the time spent
     * outside the kernel) */
    int64_t      *at   = (int64_t *)(void *)(Bw + GT_KC * GT_NR);
    float        *T    = (float *)(void *)(at + CNN_DIRECT_OCL_PIXELS);
    /* T's room: the workspace after Bw and at (64 floats for Bw's
     * alignment), at least one panel of the most pixels (assert above). */
    const int64_t room  = CNN_GEMM_WS_FLOATS - 64 - GT_KC * GT_NR - 2 * CNN_DIRECT_OCL_PIXELS;
    const int64_t tpan  = (int64_t)npix * wid; /* a panel's part of T */
    const int     group = (int)(room / tpan) * wid;

    for (int i = 0, q = 0; i < nimg; i++)
        for (int r = 0; r < d->r1 - d->r0; r++)
            for (int c = 0; c < d->ow; c++)
                at[q++] = i * d->xbs + (int64_t)r * d->ldx + c;
    for (int g0 = 0; g0 < d->M; g0 += group) {
        const int g1 = d->M - g0 < group ? d->M : g0 + group;
        for (int j0 = g0; d->add && j0 < g1; j0 += wid)
            for (int i = 0; i < nimg; i++)
                gt_load_panel(y + i * d->ys + j0 * d->ldy, d->ldy, g1 - j0 < wid ? g1 - j0 : wid,
                              per, T + (j0 - g0) / wid * tpan + (int64_t)i * per * wid, wid);
        for (int p0 = 0; p0 < d->K; p0 += GT_KC) {
            const int kc = d->K - p0 < GT_KC ? d->K - p0 : GT_KC;
            for (int j0 = g0; j0 < g1; j0 += wid) {
                const int    nr = g1 - j0 < wid ? g1 - j0 : wid;
                const float *Bk = Bw;
                float       *Tj = T + (j0 - g0) / wid * tpan;
                if (d->Ap)
                    Bk = d->Ap + mun * p0 + (int64_t)j0 * kc;
                else
                    gt_pack_t(d->W + (int64_t)j0 * d->ldw + p0, d->ldw, nr, kc, wid, Bw);
                for (int t = 0; t < npix; t += step) {
                    const int    mr = npix - t < step ? npix - t : step;
                    const float *a0[GT_MR * GT_NV];
                    for (int r = 0; r < step; r++)
                        a0[r] = d->xb + at[t + (r < mr ? r : 0)];
                    gt_ocl_any(mr, nv, kc, a0, d->koff + p0, Bk, Tj + (int64_t)t * wid, wid,
                               p0 == 0 && !d->add);
                }
            }
        }
        for (int j0 = g0; j0 < g1; j0 += wid)
            for (int i = 0; i < nimg; i++)
                gt_store_panel(T + (j0 - g0) / wid * tpan + (int64_t)i * per * wid, wid, per,
                               g1 - j0 < wid ? g1 - j0 : wid, y + i * d->ys + j0 * d->ldy, d->ldy,
                               d->bias ? d->bias + j0 : NULL);
    }
}

/* Slices [s0, s1) of GT_KC columns of W [M, K] (rows ldw apart) packed
 * as GT_DIRECT_FN packs them: slice s at Ap + mup*s*GT_KC, in GT_MR-row
 * panels (mup = M rounded up to GT_MR), or with ocl, transposed in
 * panels of GT_NR channels (ocl 1) or GT_VL (ocl 2), mup = M rounded up
 * to the panel. */
void GT_DIRECT_PACK_FN(int M, int K, const float *W, int64_t ldw, int s0, int s1, int ocl,
                       float *Ap)
{
    const int     w   = ocl == 2 ? GT_VL : ocl ? GT_NR : GT_MR;
    const int64_t mup = (M + w - 1) / w * w;

    for (int p0 = s0 * GT_KC; p0 < K && p0 < s1 * GT_KC; p0 += GT_KC) {
        const int kc = K - p0 < GT_KC ? K - p0 : GT_KC;
        if (ocl)
            gt_pack_wt(M, w, W, ldw, p0, kc, Ap + mup * p0);
        else
            gt_pack_a(false, W, ldw, 0, M, p0, kc, Ap + mup * p0);
    }
}

void GT_DIRECT_FN(const cnn_direct *d, float *ws)
{
    if (d->ocl) {
        gt_direct_ocl(d, ws);
        return;
    }
    float    *Ap   = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    float    *Bp   = Ap + GT_MC_MAX * GT_KC;
    const int segs = (d->ow + GT_VL - 1) / GT_VL; /* per output row */
    /* More than two panels of rows: the segments' taps are packed once
     * into an L1 panel that every row panel then reads. */
    const bool    pack = d->M > 2 * GT_MR;
    const int64_t span = (int64_t)(d->r1 - d->r0 - 1) * d->ldx + d->ow;
    const int64_t nseg = d->wide ? (span + GT_VL - 1) / GT_VL : (int64_t)(d->r1 - d->r0) * segs;
    /* Weights used by two tiles of segments or fewer (a 7x7 plane): read
     * in place, as packing them would cost as much as using them, unless
     * the caller packed them (d->Ap). */
    const bool    a_in_place = nseg <= 2 * GT_NV && !d->Ap;
    const int64_t mup        = (d->M + GT_MR - 1) / GT_MR * GT_MR;

    for (int p0 = 0; p0 < d->K; p0 += GT_KC) {
        const int kc = d->K - p0 < GT_KC ? d->K - p0 : GT_KC;
        if (d->Ap)
            Ap = (float *)d->Ap + mup * p0; /* read only */
        else if (!a_in_place)
            gt_pack_a(false, d->W, d->ldw, 0, d->M, p0, kc, Ap);
        /* Tile s's segments: those of the tile before's `next` when it
         * made them, or made here. */
        const float *b0[GT_NV], *b0n[GT_NV];
        gt_seg       sg[GT_NV], next[GT_NV];
        bool         ahead = false;
        for (int64_t s = 0; s < nseg; s += GT_NV) {
            if (ahead) {
                memcpy(b0, b0n, sizeof b0);
                memcpy(sg, next, sizeof sg);
            } else {
                gt_direct_tile(d, s, nseg, segs, b0, sg);
            }
            if (pack)
                for (int k = 0; k < kc; k++)
#pragma GCC unroll 4
                    for (int v = 0; v < GT_NV; v++)
                        GT_STORE(Bp + k * GT_NR + v * GT_VL, GT_LOAD(b0[v] + d->koff[p0 + k]));
            /* The next tile's output lines, fetched a tile ahead, a row
             * panel at a time: each output channel's row is another page,
             * and stores that wait for their lines fill the store queue
             * (conv b forward, one thread: 4.2 -> 3.6 ms, median of 15).
             * Only for planes of 4 KiB or more and more than two row
             * panels: on small ones it costs more than it saves. */
            ahead = pack && d->ldy >= 1024 && s + GT_NV < nseg;
            if (ahead)
                gt_direct_tile(d, s + GT_NV, nseg, segs, b0n, next);
            for (int ir = 0; ir < d->M; ir += GT_MR) {
                const int mr = d->M - ir < GT_MR ? d->M - ir : GT_MR;
                for (int v = 0; ahead && v < GT_NV; v++)
                    for (int q = 0; q < next[v].n; q++)
                        for (int r = 0; r < mr; r++)
                            __builtin_prefetch(next[v].c[q] + next[v].lo[q] + (ir + r) * d->ldy,
                                               1, 3);
                gt_seg    sr[GT_NV];
                for (int v = 0; v < GT_NV; v++) {
                    sr[v] = sg[v];
                    for (int q = 0; q < sr[v].n; q++)
                        sr[v].c[q] += ir * d->ldy;
                }
                const float *bias = d->bias && p0 + kc == d->K ? d->bias + ir : NULL;
                if (a_in_place)
                    gt_direct_any(mr, kc, d->W + (int64_t)ir * d->ldw + p0, d->ldw, 1,
                                  pack ? Bp : NULL, d->koff + p0, b0, sr, d->ldy,
                                  p0 == 0 && !d->add, bias);
                else
                    gt_direct_any(mr, kc, Ap + (int64_t)ir * kc, 1, GT_MR, pack ? Bp : NULL,
                                  d->koff + p0, b0, sr, d->ldy, p0 == 0 && !d->add, bias);
            }
        }
    }
}
#endif

#ifdef GT_DIRECT_DW_FN
/* ==== weight gradient by direct correlation (cnn_direct_dw in kernels.h) ==== */

/* dw[o0 + r][k0 + c] += the sums of dy row o0 + r times tap k0 + c, for r
 * < mr, c < nk: GT_DW_MR x GT_DW_NK vector accumulators, each product a
 * vector of dy by one of the band, so a step of VL positions loads MR + NK
 * vectors for MR * NK FMAs. Rows and taps past mr and nk repeat the first
 * and are not stored. */
static void gt_dw_tile(const cnn_direct_dw *d, int o0, int mr, int k0, int nk)
{
    gt_vec acc[GT_DW_MR][GT_DW_NK];

#pragma GCC unroll 8
    for (int r = 0; r < GT_DW_MR; r++)
#pragma GCC unroll 8
        for (int c = 0; c < GT_DW_NK; c++)
            acc[r][c] = GT_SET1(0.0f);
    for (int i = 0; i < d->nimg; i++) {
        const float *g0[GT_DW_MR], *x0[GT_DW_NK];
#pragma GCC unroll 8
        for (int r = 0; r < GT_DW_MR; r++)
            g0[r] = d->dy + i * d->dys + (int64_t)(o0 + (r < mr ? r : 0)) * d->n;
#pragma GCC unroll 8
        for (int c = 0; c < GT_DW_NK; c++)
            x0[c] = d->xb + i * d->xbs + d->koff[k0 + (c < nk ? c : 0)];
        for (int64_t j = 0; j < d->n; j += GT_VL) {
            gt_vec g[GT_DW_MR];
#pragma GCC unroll 8
            for (int r = 0; r < GT_DW_MR; r++)
                g[r] = GT_LOAD(g0[r] + j);
#pragma GCC unroll 8
            for (int c = 0; c < GT_DW_NK; c++) {
                const gt_vec x = GT_LOAD(x0[c] + j);
#pragma GCC unroll 8
                for (int r = 0; r < GT_DW_MR; r++)
                    acc[r][c] = GT_FMA(g[r], x, acc[r][c]);
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nk; c++)
            d->dw[(int64_t)(o0 + r) * d->ldw + k0 + c] += GT_HSUM(acc[r][c]);
}

/* With ocl: panel by panel of NR channels, slices of GT_KC positions,
 * the taps in tiles of MR rows reading the band as the forward's pixels
 * do (gt_ocl_any, the roles of taps and positions swapped): T [K][NR]
 * takes the first slice's sums and adds the others', then dw += T^T. A
 * slice of the panel (KC x NR) stays in L1 while the taps sweep it. */
static void gt_dw_ocl(const cnn_direct_dw *d)
{
    float *T = (float *)(((uintptr_t)d->ws + 63) & ~(uintptr_t)63);

    for (int j0 = 0; j0 < d->M; j0 += GT_NR) {
        const int    nr = d->M - j0 < GT_NR ? d->M - j0 : GT_NR;
        const float *Bp = d->dy + (int64_t)(j0 / GT_NR) * d->n * GT_NR;
        for (int64_t p0 = 0; p0 < d->n; p0 += GT_KC) {
            const int kc = d->n - p0 < GT_KC ? (int)(d->n - p0) : GT_KC;
            for (int k0 = 0; k0 < d->K; k0 += GT_MR) {
                const int    mr = d->K - k0 < GT_MR ? d->K - k0 : GT_MR;
                const float *a0[GT_MR];
                for (int r = 0; r < GT_MR; r++)
                    a0[r] = d->xb + d->koff[k0 + (r < mr ? r : 0)];
                gt_ocl_any(mr, GT_NV, kc, a0, d->pos + p0, Bp + p0 * GT_NR,
                           T + (int64_t)k0 * GT_NR, GT_NR, p0 == 0);
            }
        }
        /* T read in order, dw's nr rows written side by side */
        float *dw = d->dw + (int64_t)j0 * d->ldw;
        for (int k = 0; k < d->K; k++)
            for (int c = 0; c < nr; c++)
                dw[c * d->ldw + k] += T[(int64_t)k * GT_NR + c];
    }
}

void GT_DIRECT_DW_FN(const cnn_direct_dw *d)
{
    if (d->ocl) {
        gt_dw_ocl(d);
        return;
    }
    for (int o0 = 0; o0 < d->M; o0 += GT_DW_MR)
        for (int k0 = 0; k0 < d->K; k0 += GT_DW_NK)
            gt_dw_tile(d, o0, d->M - o0 < GT_DW_MR ? d->M - o0 : GT_DW_MR, k0,
                       d->K - k0 < GT_DW_NK ? d->K - k0 : GT_DW_NK);
}
#endif

#undef GT_NR
#undef GT_BY_ROWS
#undef GT_ROWS_N
#undef GT_A_IN_PLACE_N
#undef GT_KC
#undef GT_MC
#undef GT_MC_MAX
