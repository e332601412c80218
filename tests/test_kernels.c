/* test_kernels.c - the portable kernels against naive double loops: every
 * transpose case of GEMM over odd sizes, and im2col / col2im as a pair of
 * adjoint maps (<im2col(x), c> == <x, col2im(c)>). */
#include "t.h"
#include "kernels/kernels.h"

#include <stdlib.h>

static uint64_t seed = 88172645463325252ull;
static float frand(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (float)((double)(seed >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void gemm_case(bool ta, bool tb, int M, int N, int K, float alpha, float beta)
{
    int    lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2; /* padded strides */
    float *A = malloc(sizeof(float) * (size_t)lda * (ta ? K : M));
    float *B = malloc(sizeof(float) * (size_t)ldb * (tb ? N : K));
    float *C = malloc(sizeof(float) * (size_t)ldc * M);
    float *C0 = malloc(sizeof(float) * (size_t)ldc * M);

    for (int i = 0; i < lda * (ta ? K : M); i++)
        A[i] = frand();
    for (int i = 0; i < ldb * (tb ? N : K); i++)
        B[i] = frand();
    for (int i = 0; i < ldc * M; i++)
        C[i] = C0[i] = frand();
    cnn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++)
                s += (double)(ta ? A[p * lda + i] : A[i * lda + p]) *
                     (tb ? B[j * ldb + p] : B[p * ldb + j]);
            double want = alpha * s + (beta == 0.0f ? 0.0 : beta * (double)C0[i * ldc + j]);
            /* float sums of K terms of size <= 1: error ~ K * 2^-24 */
            if (fabs(C[i * ldc + j] - want) > 1e-6 * (K + 1) * (1 + fabs(want)))
                T_FAILED("gemm ta=%d tb=%d %dx%dx%d: C[%d,%d] = %.9g, want %.9g", ta, tb, M, N, K,
                         i, j, C[i * ldc + j], want);
        }
    /* The padding columns of C are untouched. */
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            T_FEQ(C[i * ldc + j], C0[i * ldc + j]);
    free(A);
    free(B);
    free(C);
    free(C0);
}

static void gemm_all_transposes(void)
{
    static const int sizes[][3] = {{1, 1, 1}, {3, 5, 7},    {6, 17, 25},  {16, 33, 9},
                                   {7, 600, 3}, {2, 3, 300}, {33, 70, 260}, {1, 513, 2}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            gemm_case(t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f);
            gemm_case(t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 0.5f, 1.0f);
            gemm_case(t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], -2.0f, 0.25f);
        }
}

/* beta == 0 overwrites even NaN in C, as BLAS does. */
static void gemm_beta_zero_ignores_c(void)
{
    float A[2] = {1, 2}, B[2] = {3, 4}, C[1] = {NAN};
    cnn_gemm(false, false, 1, 1, 2, 1.0f, A, 2, B, 1, 0.0f, C, 1);
    T_FEQ(C[0], 11);
}

static void im2col_adjoint(void)
{
    static const cnn_win2d geo[] = {
        {.h = 5, .w = 5, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .pt = 0, .pl = 0, .dh = 1, .dw = 1},
        {.h = 7, .w = 6, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .pt = 1, .pl = 0, .dh = 1, .dw = 1},
        {.h = 8, .w = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 2, .pt = 2, .pl = 1, .dh = 2, .dw = 3},
        {.h = 2, .w = 3, .kh = 4, .kw = 4, .sh = 3, .sw = 3, .pt = 2, .pl = 2, .dh = 1, .dw = 1},
    };
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
        cnn_win2d g = geo[gi];
        int       c = 3, pb = g.pt, pe = g.pl; /* symmetric extra pads for the output size */
        g.oh = (g.h + pb + pb - g.dh * (g.kh - 1) - 1) / g.sh + 1;
        g.ow = (g.w + pe + pe - g.dw * (g.kw - 1) - 1) / g.sw + 1;
        int64_t nx = (int64_t)c * g.h * g.w, nc = (int64_t)c * g.kh * g.kw * g.oh * g.ow;
        float  *x = malloc(sizeof(float) * nx), *dx = calloc(nx, sizeof(float));
        float  *col = malloc(sizeof(float) * nc), *r = malloc(sizeof(float) * nc);
        double  lhs = 0, rhs = 0;
        for (int64_t i = 0; i < nx; i++)
            x[i] = frand();
        for (int64_t i = 0; i < nc; i++)
            r[i] = frand();
        cnn_im2col(x, c, &g, col);
        cnn_col2im_add(r, c, &g, dx);
        for (int64_t i = 0; i < nc; i++)
            lhs += (double)col[i] * r[i];
        for (int64_t i = 0; i < nx; i++)
            rhs += (double)x[i] * dx[i];
        T_NEAR(lhs, rhs, 1e-4 * (1 + fabs(lhs)));
        /* And im2col itself against direct indexing. */
        for (int ci = 0; ci < c; ci++)
            for (int ky = 0; ky < g.kh; ky++)
                for (int kx = 0; kx < g.kw; kx++)
                    for (int oy = 0; oy < g.oh; oy++)
                        for (int ox = 0; ox < g.ow; ox++) {
                            int   iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
                            float want = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
                                             ? x[(ci * g.h + iy) * g.w + ix] : 0.0f;
                            int64_t row = (ci * g.kh + ky) * g.kw + kx;
                            T_FEQ(col[(row * g.oh + oy) * g.ow + ox], want);
                        }
        free(x);
        free(dx);
        free(col);
        free(r);
    }
}

int main(void)
{
    T_RUN(gemm_all_transposes);
    T_RUN(gemm_beta_zero_ignores_c);
    T_RUN(im2col_adjoint);
    return t_done("kernels");
}
