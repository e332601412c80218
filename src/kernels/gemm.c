/* gemm.c - the portable single-precision matrix multiply. Plain C that the
 * compiler vectorizes; blocked so the B panel stays in cache. This is the
 * reference every faster kernel is tested against (CNN_ISA=portable runs
 * it everywhere), and the kernel of CPUs without AVX2 + FMA. */
#include "kernels.h"

#include <string.h>

enum { KC = CNN_GEMM_KC, NC = 512 }; /* B panel of KC x NC floats = 512 KiB */

static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++)
                c[j] *= beta;
    }
}

/* C += alpha * A[M,K] * B[K,N]: rows of C updated by axpy over rows of B. */
static void gemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc)
{
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nb = N - j0 < NC ? N - j0 : NC;
        for (int p0 = 0; p0 < K; p0 += KC) {
            int kb = K - p0 < KC ? K - p0 : KC;
            for (int i = 0; i < M; i++) {
                float *restrict c = C + (int64_t)i * ldc + j0;
                for (int p = p0; p < p0 + kb; p++) {
                    const float *restrict b = B + (int64_t)p * ldb + j0;
                    float a = alpha * A[(int64_t)i * lda + p];
                    if (a == 0.0f)
                        continue;
                    for (int j = 0; j < nb; j++)
                        c[j] += a * b[j];
                }
            }
        }
    }
}

/* C += alpha * A^T * B with A [K,M]: the same axpy form, A read by column. */
static void gemm_tn(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc)
{
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nb = N - j0 < NC ? N - j0 : NC;
        for (int p0 = 0; p0 < K; p0 += KC) {
            int kb = K - p0 < KC ? K - p0 : KC;
            for (int i = 0; i < M; i++) {
                float *restrict c = C + (int64_t)i * ldc + j0;
                for (int p = p0; p < p0 + kb; p++) {
                    const float *restrict b = B + (int64_t)p * ldb + j0;
                    float a = alpha * A[(int64_t)p * lda + i];
                    if (a == 0.0f)
                        continue;
                    for (int j = 0; j < nb; j++)
                        c[j] += a * b[j];
                }
            }
        }
    }
}

/* Dot product in 8 fixed lanes summed in a fixed order: vectorizable
 * without reassociating, so the bits do not depend on the compiler. */
static float dot8(const float *restrict a, const float *restrict b, int n)
{
    float acc[8] = {0};
    int   p      = 0;

    for (; p + 8 <= n; p += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[p + l] * b[p + l];
    for (int l = 0; p < n; p++, l++)
        acc[l] += a[p] * b[p];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* C += alpha * A[M,K] * B[N,K]^T: dot products of rows. */
static void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(int64_t)i * ldc + j] +=
                alpha * dot8(A + (int64_t)i * lda, B + (int64_t)j * ldb, K);
}

static void gemm_tt(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int p = 0; p < K; p++)
                s += A[(int64_t)p * lda + i] * B[(int64_t)j * ldb + p];
            C[(int64_t)i * ldc + j] += alpha * s;
        }
}

void cnn_gemm_portable(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc, float *ws)
{
    (void)ws;
    if (M <= 0 || N <= 0)
        return;
    scale_c(M, N, beta, C, ldc);
    if (K <= 0 || alpha == 0.0f)
        return;
    if (!ta && !tb)
        gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else if (ta && !tb)
        gemm_tn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else if (!ta && tb)
        gemm_nt(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else
        gemm_tt(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
