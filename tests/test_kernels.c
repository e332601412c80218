/* test_kernels.c - the kernels against naive double loops: every
 * transpose case of GEMM over odd sizes for every GEMM variant this CPU
 * runs (and the AVX-512 one emulated, on any CPU), im2col / col2im as a
 * pair of adjoint maps (<im2col(x), c> == <x, col2im(c)>), the elementwise
 * and max-pool kernels against their definitions. */
#include "t.h"
#include "kernels/kernels.h"

#include <stdlib.h>

/* ==== @@EMULATED_AVX512 ==== */

/* The packed GEMM template at 16 lanes, each a scalar fmaf: the exact
 * arithmetic of the AVX-512 variant (vfmadd rounds once, like fmaf), run on
 * a CPU that may not have AVX-512. */
typedef struct emu16 {
    float v[16];
} emu16;
static inline emu16 emu_load(const float *p)
{
    emu16 r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void emu_store(float *p, emu16 a) { memcpy(p, a.v, sizeof a.v); }
static inline emu16 emu_set1(float x)
{
    emu16 r;
    for (int l = 0; l < 16; l++)
        r.v[l] = x;
    return r;
}
static inline emu16 emu_mul(emu16 a, emu16 b)
{
    for (int l = 0; l < 16; l++)
        a.v[l] *= b.v[l];
    return a;
}
static inline emu16 emu_fma(emu16 a, emu16 b, emu16 c)
{
    for (int l = 0; l < 16; l++)
        c.v[l] = fmaf(a.v[l], b.v[l], c.v[l]);
    return c;
}
typedef emu16 gt_vec;
#define GT_FN           emu_gemm_avx512
#define GT_VL           16
#define GT_NV           2
#define GT_MR           8
#define GT_LOAD(p)      emu_load(p)
#define GT_STORE(p, v)  emu_store((p), (v))
#define GT_SET1(x)      emu_set1(x)
#define GT_MUL(a, b)    emu_mul((a), (b))
#define GT_FMA(a, b, c) emu_fma((a), (b), (c))
static cnn_gemm_fn emu_gemm_avx512;
#include "kernels/gemm_tmpl.h"

static uint64_t seed = 88172645463325252ull;
static float frand(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (float)((double)(seed >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

/* ==== @@GEMM ==== */

/* Tolerance against the exact (double) result, per element: the
 * worst-case bound of a float sum of K products plus alpha and beta terms,
 * (K + 2) * 2^-23 * (sum |alpha a_ik b_kj| + |beta c_ij|). Every variant
 * must meet it; two variants may differ by twice it. */
static double gemm_bound(int K, double abs_sum) { return (K + 2) * 0x1.0p-23 * abs_sum + 1e-30; }

/* One GEMM through `fn` on padded strides, checked against double loops;
 * the result is left in *out (ldc = N + 2) for bitwise comparisons. */
static void gemm_check(cnn_gemm_fn *fn, const char *name, bool ta, bool tb, int M, int N, int K,
                       float alpha, float beta, float **out)
{
    int    lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2; /* padded strides */
    size_t na = (size_t)lda * (ta ? K : M), nb = (size_t)ldb * (tb ? N : K);
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C  = malloc(sizeof(float) * (size_t)ldc * M);
    float *C0 = malloc(sizeof(float) * (size_t)ldc * M);
    float *ws = malloc(sizeof(float) * CNN_GEMM_WS_FLOATS);

    for (size_t i = 0; i < na; i++)
        A[i] = frand();
    for (size_t i = 0; i < nb; i++)
        B[i] = frand();
    for (int i = 0; i < ldc * M; i++)
        C[i] = C0[i] = frand();
    if (beta == 0.0f) /* beta == 0 must not read C: NaN there must not leak */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[i * ldc + j] = NAN;
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, abs_s = 0;
            for (int p = 0; p < K; p++) {
                double t = (double)(ta ? A[p * lda + i] : A[i * lda + p]) *
                           (tb ? B[j * ldb + p] : B[p * ldb + j]);
                s += t;
                abs_s += fabs(t);
            }
            double cb   = beta == 0.0f ? 0.0 : beta * (double)C0[i * ldc + j];
            double want = alpha * s + cb;
            double tol  = gemm_bound(K, fabs(alpha) * abs_s + fabs(cb));
            if (!(fabs(C[i * ldc + j] - want) <= tol))
                T_FAILED("gemm %s ta=%d tb=%d %dx%dx%d alpha=%g beta=%g: C[%d,%d] = %.9g, want "
                         "%.9g (tol %.3g)", name, ta, tb, M, N, K, alpha, beta, i, j,
                         C[i * ldc + j], want, tol);
        }
    /* The padding columns of C are untouched. */
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            T_FEQ(C[i * ldc + j], C0[i * ldc + j]);
    free(A);
    free(B);
    free(C0);
    free(ws);
    if (out)
        *out = C;
    else
        free(C);
}

/* Shapes: tiny, odd, single rows and columns, K = 1, K past one KC = 256
 * slice, M past one MC = 144 block (and a last block taken whole), N not a
 * multiple of any NR, and the conv and linear shapes of LeNet-5. */
static const int gemm_sizes[][3] = {
    {1, 1, 1},     {3, 5, 7},    {6, 17, 25},   {16, 33, 9},  {7, 600, 3},  {2, 3, 300},
    {33, 70, 260}, {1, 513, 2},  {1, 40, 37},   {45, 1, 19},  {13, 29, 1},  {5, 31, 1000},
    {150, 37, 40}, {6, 784, 25}, {16, 150, 100}, {25, 100, 6}, {32, 120, 400}, {12, 32, 513},
    {155, 33, 300}, {300, 20, 7},
};
static const float gemm_ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}, {0.0f, 0.5f}};

/* Every variant this CPU runs, forced through the dispatch, against double
 * loops; and against the portable reference within twice the bound. */
static void gemm_every_variant(void)
{
    int ran = 0;
    for (int isa = 0; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_isa_supported((cnn_isa)isa)) {
            printf("note: gemm variant %s not supported by this CPU: skipped\n",
                   cnn_isa_name((cnn_isa)isa));
            continue;
        }
        cnn_isa keep = cnn_gemm_isa();
        T_TRUE(cnn_gemm_set_isa((cnn_isa)isa));
        for (int t = 0; t < 4; t++)
            for (size_t s = 0; s < sizeof gemm_sizes / sizeof *gemm_sizes; s++)
                for (size_t ab = 0; ab < sizeof gemm_ab / sizeof *gemm_ab; ab++) {
                    const int *z = gemm_sizes[s];
                    /* Through the dispatch, as the ops call it. */
                    gemm_check(cnn_gemm_ws, cnn_isa_name((cnn_isa)isa), t & 1, t & 2, z[0], z[1],
                               z[2], gemm_ab[ab][0], gemm_ab[ab][1], NULL);
                }
        T_TRUE(cnn_gemm_set_isa(keep));
        ran++;
    }
    T_TRUE(ran >= 1);
}

/* cnn_gemm (no workspace given) is the same as cnn_gemm_ws. */
static void gemm_plain_entry(void)
{
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 1, 0}, C[4], D[4], ws[CNN_GEMM_WS_FLOATS];
    cnn_gemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    cnn_gemm_ws(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, D, 2, ws);
    T_ARRAY_EQ(C, D, 4);
    T_FEQ(C[0], 1 * 1 + 2 * -1 + 3 * 1);
    T_FEQ(C[1], 1 * 0 + 2 * 2 + 3 * 0);
}

/* The bits of an element depend on K alone: the leading block of a larger
 * product, a product computed twice, and (for the packed variants, which
 * share KC and FMA chains) AVX2 and the emulated AVX-512 all agree to the
 * bit. The conv relies on this: batching images into one GEMM must not
 * change any output. */
static void gemm_bits_depend_on_k_only(void)
{
    enum { M = 23, N = 70, K = 600, LD = 80 };
    static float A[M * K], B[K * LD], C1[M * LD], C2[M * LD], C3[M * LD], ws[CNN_GEMM_WS_FLOATS];
    for (int i = 0; i < M * K; i++)
        A[i] = frand();
    for (int i = 0; i < K * LD; i++)
        B[i] = frand();
    for (int isa = 0; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_isa_supported((cnn_isa)isa))
            continue;
        cnn_isa keep = cnn_gemm_isa();
        T_TRUE(cnn_gemm_set_isa((cnn_isa)isa));
        for (int t = 0; t < 2; t++) { /* op(B) = B, then B^T read from the same floats */
            bool tb = t == 1;
            cnn_gemm_ws(false, tb, M, N, K, 1.0f, A, K, B, tb ? K : LD, 0.0f, C1, LD, ws);
            cnn_gemm_ws(false, tb, M, N, K, 1.0f, A, K, B, tb ? K : LD, 0.0f, C2, LD, ws);
            cnn_gemm_ws(false, tb, 7, 19, K, 1.0f, A, K, B, tb ? K : LD, 0.0f, C3, LD, ws);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    T_FEQ(C2[i * LD + j], C1[i * LD + j]);
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 19; j++)
                    T_FEQ(C3[i * LD + j], C1[i * LD + j]);
        }
        T_TRUE(cnn_gemm_set_isa(keep));
    }
}

/* The AVX-512 variant's arithmetic, emulated lane by lane: correct against
 * double loops on the whole sweep, and the same bits as AVX2 where that
 * runs (same KC, same FMA chains), as real AVX-512 where that runs, and as
 * the library's emu512 (the AVX-512 template in AVX2 halves). */
static void gemm_emulated_avx512(void)
{
    static cnn_gemm_fn *const real[]     = {cnn_gemm_avx2, cnn_gemm_avx512, cnn_gemm_emu512};
    static const cnn_isa      real_isa[] = {CNN_ISA_AVX2, CNN_ISA_AVX512, CNN_ISA_EMU512};

    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof gemm_sizes / sizeof *gemm_sizes; s++)
            for (size_t ab = 0; ab < sizeof gemm_ab / sizeof *gemm_ab; ab++) {
                const int *z    = gemm_sizes[s];
                uint64_t   from = seed;
                float     *emu, *got;
                gemm_check(emu_gemm_avx512, "avx512-emulated", t & 1, t & 2, z[0], z[1], z[2],
                           gemm_ab[ab][0], gemm_ab[ab][1], &emu);
                for (int r = 0; r < 3; r++) {
                    if (!cnn_isa_supported(real_isa[r]))
                        continue;
                    seed = from; /* the same inputs again */
                    gemm_check(real[r], cnn_isa_name(real_isa[r]), t & 1, t & 2, z[0], z[1],
                               z[2], gemm_ab[ab][0], gemm_ab[ab][1], &got);
                    for (int i = 0; i < z[0]; i++)
                        for (int j = 0; j < z[1]; j++)
                            if (memcmp(&got[i * (z[1] + 2) + j], &emu[i * (z[1] + 2) + j],
                                       sizeof(float)) != 0)
                                T_FAILED("%s and emulated avx512 differ at [%d,%d] of %dx%dx%d: "
                                         "%.9g vs %.9g", cnn_isa_name(real_isa[r]), i, j, z[0],
                                         z[1], z[2], got[i * (z[1] + 2) + j],
                                         emu[i * (z[1] + 2) + j]);
                    free(got);
                }
                free(emu);
            }
}

/* beta == 0 overwrites even NaN in C, as BLAS does. */
static void gemm_beta_zero_ignores_c(void)
{
    float A[2] = {1, 2}, B[2] = {3, 4}, C[1] = {NAN};
    cnn_gemm(false, false, 1, 1, 2, 1.0f, A, 2, B, 1, 0.0f, C, 1);
    T_FEQ(C[0], 11);
}

/* ==== @@IM2COL ==== */

static void im2col_adjoint(void)
{
    static const cnn_win2d geo[] = {
        {.h = 5, .w = 5, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .pt = 0, .pl = 0, .dh = 1, .dw = 1},
        {.h = 7, .w = 6, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .pt = 1, .pl = 0, .dh = 1, .dw = 1},
        {.h = 8, .w = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 2, .pt = 2, .pl = 1, .dh = 2, .dw = 3},
        {.h = 2, .w = 3, .kh = 4, .kw = 4, .sh = 3, .sw = 3, .pt = 2, .pl = 2, .dh = 1, .dw = 1},
        /* rows of 20 and 11 (copies by 8 with an overlapping last 8), of 6
         * (by 4), LeNet's 28x28 pad 2, pointwise, and a wide pad */
        {.h = 12, .w = 20, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .pt = 2, .pl = 2, .dh = 1, .dw = 1},
        {.h = 9, .w = 11, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .pt = 1, .pl = 1, .dh = 1, .dw = 1},
        {.h = 6, .w = 6, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .pt = 1, .pl = 1, .dh = 1, .dw = 1},
        {.h = 28, .w = 28, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .pt = 2, .pl = 2, .dh = 1, .dw = 1},
        {.h = 4, .w = 5, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .pt = 0, .pl = 0, .dh = 1, .dw = 1},
        {.h = 3, .w = 13, .kh = 3, .kw = 7, .sh = 1, .sw = 1, .pt = 6, .pl = 6, .dh = 1, .dw = 1},
    };
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
        cnn_win2d g = geo[gi];
        int       c = 3, pb = g.pt, pe = g.pl; /* symmetric extra pads for the output size */
        g.oh = (g.h + pb + pb - g.dh * (g.kh - 1) - 1) / g.sh + 1;
        g.ow = (g.w + pe + pe - g.dw * (g.kw - 1) - 1) / g.sw + 1;
        /* Rows ld apart with a gap, as for several images side by side. */
        int64_t ohw = (int64_t)g.oh * g.ow, ld = ohw + 3, rows = (int64_t)c * g.kh * g.kw;
        int64_t nx = (int64_t)c * g.h * g.w, nc = rows * ld;
        float  *x = malloc(sizeof(float) * nx), *dx = calloc(nx, sizeof(float));
        float  *col = malloc(sizeof(float) * nc), *r = malloc(sizeof(float) * nc);
        double  lhs = 0, rhs = 0;
        for (int64_t i = 0; i < nx; i++)
            x[i] = frand();
        for (int64_t i = 0; i < nc; i++) {
            r[i]   = i % ld < ohw ? frand() : NAN; /* the gap must not be read */
            col[i] = 7.0f;
        }
        cnn_im2col(x, c, &g, col, ld);
        cnn_col2im_add(r, ld, c, &g, dx);
        for (int64_t i = 0; i < nc; i++)
            if (i % ld < ohw)
                lhs += (double)col[i] * r[i];
            else
                T_FEQ(col[i], 7.0f); /* the gap is not written */
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
                            T_FEQ(col[row * ld + oy * g.ow + ox], want);
                        }
        free(x);
        free(dx);
        free(col);
        free(r);
    }
}

/* col2im's adds, bit for bit, against the plain loop that adds each
 * dcol element into its dx element in increasing k (one add per k for
 * any element): strides 1 to 3 on rows of 1 to 112 (stride 2's vectors
 * of four, with -0 added between, from 5 wide on), dx starting with
 * zeros of both signs, a NaN and infinities among the values, and the
 * rows of dcol in two calls ([0, m) and [m, c*kh*kw): the same bits). */
static void col2im_bits(void)
{
    static const int ws[] = {1, 2, 5, 7, 9, 10, 14, 17, 28, 56, 112, 224};
    for (int sw = 1; sw <= 3; sw++)
        for (size_t wi = 0; wi < sizeof ws / sizeof *ws; wi++)
            for (int kw = 1; kw <= 7; kw += 2) {
                cnn_win2d g = {.h = 5, .w = ws[wi], .kh = 3, .kw = kw, .sh = 2, .sw = sw,
                               .pt = 1, .pl = kw / 2, .dh = 1, .dw = 1};
                g.oh = (g.h + 2 * g.pt - (g.kh - 1) - 1) / g.sh + 1;
                g.ow = (g.w + 2 * g.pl - (g.kw - 1) - 1) / g.sw + 1;
                if (g.ow < 1)
                    continue;
                const int     c = 2, kk = g.kh * g.kw;
                const int64_t ld = (int64_t)g.oh * g.ow, nx = (int64_t)c * g.h * g.w;
                float *dcol = malloc(sizeof(float) * (size_t)(c * kk * ld));
                float *dx = malloc(sizeof(float) * (size_t)nx), *want = malloc(sizeof(float) * (size_t)nx);
                for (int64_t i = 0; i < c * kk * ld; i++)
                    dcol[i] = i % 13 == 0 ? -0.0f : i % 29 == 0 ? INFINITY : frand();
                dcol[ld / 2] = NAN;
                for (int64_t i = 0; i < nx; i++)
                    want[i] = dx[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? 0.0f : frand();
                for (int k = 0; k < c * kk; k++) {
                    const int ci = k / kk, ky = k % kk / g.kw, kx = k % g.kw;
                    for (int oy = 0; oy < g.oh; oy++)
                        for (int ox = 0; ox < g.ow; ox++) {
                            const int iy = oy * g.sh - g.pt + ky, ix = ox * g.sw - g.pl + kx;
                            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
                                want[(ci * g.h + iy) * g.w + ix] += dcol[k * ld + oy * g.ow + ox];
                        }
                }
                const int m = c * kk / 2;
                cnn_col2im_add_rows(dcol, ld, c, &g, 0, m, 0, g.oh, dx);
                cnn_col2im_add_rows(dcol + m * ld, ld, c, &g, m, c * kk, 0, g.oh, dx);
                T_TRUE(memcmp(dx, want, sizeof(float) * (size_t)nx) == 0);
                free(dcol);
                free(dx);
                free(want);
            }
}

/* ==== @@ELEMENTWISE ==== */

/* Bits of the vectorized loops against the scalar definitions, on signs,
 * zeros of both signs, NaN and infinities, over odd lengths. */
static void eltwise_definitions(void)
{
    enum { N = 37 };
    static const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f};
    float x[N], dy[N], y[N], dx[N], dx0[N];
    const float s = 0.1f;

    for (int i = 0; i < N; i++) {
        x[i]  = i < 7 ? special[i] : frand();
        dy[i] = frand();
        dx0[i] = frand();
    }
    for (int len = 0; len <= N; len += 5) {
        cnn_relu_fwd(x, y, len);
        for (int i = 0; i < len; i++) {
            float want = x[i] > 0.0f ? x[i] : 0.0f;
            T_TRUE(memcmp(&y[i], &want, sizeof want) == 0);
        }
        memcpy(dx, dx0, sizeof dx);
        cnn_relu_bwd_add(x, dy, dx, len);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + (x[i] > 0.0f ? dy[i] : 0.0f);
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
        }
        cnn_leaky_fwd(x, y, len, s);
        for (int i = 0; i < len; i++) {
            float want = x[i] > 0.0f ? x[i] : s * x[i];
            T_TRUE(isnan(want) ? isnan(y[i]) : memcmp(&y[i], &want, sizeof want) == 0);
        }
        memcpy(dx, dx0, sizeof dx);
        cnn_leaky_bwd_add(x, dy, dx, len, s);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + (x[i] > 0.0f ? dy[i] : s * dy[i]);
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
        }
        memcpy(dx, dx0, sizeof dx);
        cnn_add_to(dx, x, len);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + x[i];
            T_TRUE(isnan(want) ? isnan(dx[i]) : memcmp(&dx[i], &want, sizeof want) == 0);
        }
        /* The gradient through a ReLU whose output is x: as the ReLU's
         * backward leaves it in a zeroed buffer (0 + dy: -0 gives +0). */
        float g[N], gz[N];
        for (int i = 0; i < len; i++) {
            gz[i] = 0.0f;
            g[i]  = dy[i];
        }
        g[0] = -0.0f;
        cnn_relu_bwd_add(x, g, gz, len);
        memcpy(dx, dx0, sizeof dx);
        cnn_relu_bwd_acc(x, g, dx, len);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + gz[i];
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
        }
        float dx2[N];
        memcpy(dx, dx0, sizeof dx);
        memcpy(dx2, dy, sizeof dx2);
        cnn_relu_bwd_acc2(x, g, dx, dx2, len);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + gz[i], want2 = dy[i] + gz[i];
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
            T_TRUE(memcmp(&dx2[i], &want2, sizeof want2) == 0);
        }
        /* Batch norm's sums in one pass: the bits of the two calls, with
         * and without the ReLU's gradient. */
        for (int masked = 0; masked < 2; masked++) {
            const float *d = masked ? gz : g;
            float        sd, sx;
            cnn_bn_sums(g, masked ? x : NULL, dx0, len, 0.3f, &sd, &sx);
            float wd = cnn_sum(d, len), wx = cnn_dot_dev(d, dx0, len, 0.3f);
            T_TRUE(memcmp(&sd, &wd, sizeof sd) == 0);
            T_TRUE(memcmp(&sx, &wx, sizeof sx) == 0);
            float want[N];
            memcpy(want, dy, sizeof want);
            cnn_bn_dx(dx0, d, NULL, want, len, 0.7f, 0.1f, 0.3f, 0.2f, true);
            memcpy(dx, dy, sizeof dx);
            cnn_bn_dx(dx0, g, masked ? x : NULL, dx, len, 0.7f, 0.1f, 0.3f, 0.2f, true);
            T_TRUE(memcmp(dx, want, (size_t)len * sizeof *dx) == 0);
            for (int i = 0; i < len; i++) {
                float w = dy[i] + 0.7f * (d[i] - 0.1f - (dx0[i] - 0.3f) * 0.2f);
                T_TRUE(memcmp(&want[i], &w, sizeof w) == 0);
            }
            memcpy(dx, dy, sizeof dx); /* written, not added to */
            cnn_bn_dx(dx0, g, masked ? x : NULL, dx, len, 0.7f, 0.1f, 0.3f, 0.2f, false);
            for (int i = 0; i < len; i++) {
                float w = 0.7f * (d[i] - 0.1f - (dx0[i] - 0.3f) * 0.2f);
                T_TRUE(memcmp(&dx[i], &w, sizeof w) == 0);
            }
        }
        memcpy(dx, dx0, sizeof dx);
        cnn_add_bias(dx, len, s);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + s;
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
        }
        cnn_vadd(x, dy, y, len);
        for (int i = 0; i < len; i++) {
            float want = x[i] + dy[i];
            T_TRUE(isnan(want) ? isnan(y[i]) : memcmp(&y[i], &want, sizeof want) == 0);
        }
        memcpy(dx, dx0, sizeof dx); /* in place: y = a + b with y = a */
        cnn_vadd(dx, dy, dx, len);
        for (int i = 0; i < len; i++) {
            float want = dx0[i] + dy[i];
            T_TRUE(memcmp(&dx[i], &want, sizeof want) == 0);
        }
    }
}

/* cnn_sum: element i in lane i % 8, lanes combined in a fixed tree. */
static void sum_fixed_lanes(void)
{
    float x[53];
    for (int i = 0; i < 53; i++)
        x[i] = frand();
    for (int n = 0; n <= 53; n += 4) {
        float acc[8] = {0};
        for (int i = 0; i < n; i++)
            acc[i % 8] += x[i];
        float want =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        T_FEQ(cnn_sum(x, n), want);
    }
}

/* cnn_transpose on every variant the CPU has: 8 x 8 blocks, their edges
 * and whole small shapes give exactly the plain loop's result, and the
 * destination's padding between rows (ldd > ni) is left alone. */
static void transpose_every_variant(void)
{
    static const int sizes[][2] = {{1, 1}, {3, 5}, {8, 8}, {9, 17}, {16, 64}, {21, 13}, {32, 70}};
    static float     src[32 * 75], got[80 * 40], want[80 * 40];
    int              ran = 0;

    for (int i = 0; i < 32 * 75; i++)
        src[i] = frand();
    for (int isa = 0; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_isa_supported((cnn_isa)isa))
            continue;
        cnn_isa keep = cnn_gemm_isa();
        T_TRUE(cnn_gemm_set_isa((cnn_isa)isa));
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            const int ni = sizes[s][0], nj = sizes[s][1], lds = 75, ldd = ni + 3;
            for (int k = 0; k < 80 * 40; k++)
                got[k] = want[k] = -7.0f;
            for (int i = 0; i < ni; i++)
                for (int j = 0; j < nj; j++)
                    want[j * ldd + i] = src[i * lds + j];
            cnn_transpose(src, lds, ni, nj, got, ldd);
            T_ARRAY_EQ(got, want, 80 * 40);
        }
        T_TRUE(cnn_gemm_set_isa(keep));
        ran++;
    }
    T_TRUE(ran >= 1);
}

/* The max-pool kernel against the loop it replaces: the first of equal
 * values wins; a NaN always wins, so the last NaN is kept. Values are drawn
 * from a few levels so ties are frequent. */
static void maxpool_kernel_ties_and_nan(void)
{
    static const int geo[][6] = {/* h, w, kh, kw, sh, sw */
                                 {6, 8, 2, 2, 2, 2}, {7, 9, 2, 2, 2, 2}, {7, 7, 3, 3, 2, 2},
                                 {5, 6, 2, 3, 1, 3}, {4, 4, 4, 4, 1, 1}};
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
        cnn_win2d g = {.h = geo[gi][0], .w = geo[gi][1], .kh = geo[gi][2], .kw = geo[gi][3],
                       .sh = geo[gi][4], .sw = geo[gi][5], .dh = 1, .dw = 1};
        g.oh = (g.h - g.kh) / g.sh + 1;
        g.ow = (g.w - g.kw) / g.sw + 1;
        float   x[64], y[64];
        int32_t arg[64];
        for (int trial = 0; trial < 20; trial++) {
            for (int i = 0; i < g.h * g.w; i++) {
                float v = frand();
                x[i]    = v > 0.8f ? NAN : (float)(int)(v * 3.0f); /* -2..2 and some NaN */
            }
            cnn_maxpool_fwd(x, &g, y, arg);
            for (int oy = 0; oy < g.oh; oy++)
                for (int ox = 0; ox < g.ow; ox++) {
                    float best = 0.0f;
                    int   at   = -1;
                    for (int ky = 0; ky < g.kh; ky++)
                        for (int kx = 0; kx < g.kw; kx++) {
                            int   i = (oy * g.sh + ky) * g.w + ox * g.sw + kx;
                            float v = x[i];
                            if (at < 0 || v > best || isnan(v)) {
                                best = v;
                                at   = i;
                            }
                        }
                    T_EQ(arg[oy * g.ow + ox], at);
                    T_TRUE(memcmp(&y[oy * g.ow + ox], &x[at], sizeof(float)) == 0);
                }
        }
    }
}

int main(void)
{
    T_RUN(gemm_every_variant);
    T_RUN(gemm_plain_entry);
    T_RUN(gemm_bits_depend_on_k_only);
    T_RUN(gemm_emulated_avx512);
    T_RUN(gemm_beta_zero_ignores_c);
    T_RUN(im2col_adjoint);
    T_RUN(col2im_bits);
    T_RUN(eltwise_definitions);
    T_RUN(sum_fixed_lanes);
    T_RUN(transpose_every_variant);
    T_RUN(maxpool_kernel_ties_and_nan);
    return t_done("kernels");
}
