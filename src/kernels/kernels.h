/* kernels.h - numeric kernels on plain float arrays. They know nothing of
 * graphs and trust their arguments (callers validate). Single-threaded:
 * callers split work across threads. */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* Loops the compiler vectorizes, built for AVX-512, AVX2 and plain x86-64
 * and picked by the loader from the CPU (GCC target_clones). Only for code
 * whose bits do not depend on the vector width: elementwise arithmetic
 * (ISO C mode: no contraction into FMAs) and sums in fixed lanes. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CNN_CLONES
#endif

/* ==== @@GEMM ==== */

/* C = alpha * op(A) * op(B) + beta * C, row-major, as BLAS sgemm.
 * op(A) is M x K (A is K x M when ta), op(B) is K x N (N x K when tb).
 * beta == 0 overwrites C without reading it. The order of every sum is
 * fixed by K alone (not by M, N, the strides or where the element sits), so
 * the same inputs give the same bits on every call with the same variant.
 * Runs the variant chosen at startup (see cnn_gemm_isa); its packing buffers
 * come from malloc, or, if that fails, the portable kernel runs. */
void cnn_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* The same with caller-provided workspace of CNN_GEMM_WS_FLOATS floats (any
 * alignment), so hot paths do no allocation. */
void cnn_gemm_ws(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc, float *ws);

/* Every variant sums K in slices of CNN_GEMM_KC k's, each slice's sum then
 * added into C in order: a caller that splits K at multiples of it (beta 0
 * for the first part, 1 for the rest) gets the bits of the whole. */
#define CNN_GEMM_KC 256

/* Workspace of every variant: a packed A block (up to 272 x KC), a packed
 * B panel (KC x NR, NR <= 32), one C tile and 64-byte alignment slack:
 * about 310 KiB. */
#define CNN_GEMM_WS_FLOATS (272 * CNN_GEMM_KC + CNN_GEMM_KC * 32 + 16 * 32 + 64)

/* C = A * B + beta * C (no transposes, alpha 1) with A packed already
 * by the variant's cnn_direct_pack_fn with ocl 0 (slice s of CNN_GEMM_KC
 * columns at Ap + mup*s*CNN_GEMM_KC, in panels of cnn_direct_panel(0)
 * rows; mup: the packed rows, a multiple of it), from packed row a0 (a
 * multiple of it): the bits of cnn_gemm_ws on the unpacked A, without
 * packing it again (weights kept between inference forwards). The
 * variant that packed Ap must be the one running. */
typedef void cnn_gemm_packed_a_fn(int M, int N, int K, const float *Ap, int64_t mup, int a0,
                                  const float *B, int ldb, float beta, float *C, int ldc,
                                  float *ws);
cnn_gemm_packed_a_fn cnn_gemm_packed_a_avx2, cnn_gemm_packed_a_avx512,
    cnn_gemm_packed_a_emu512;
/* The running variant's, or NULL (portable). */
cnn_gemm_packed_a_fn *cnn_gemm_packed_a_kernel(void);

/* The same with B packed too, by the variant's cnn_gemm_pack_b_fn (B [K,
 * N] in panels of its NR columns; K * N rounded up to 32 floats at most):
 * the bits of cnn_gemm_packed_a_fn on the unpacked B. For several calls
 * on one B (the row pieces of a conv's chunk), which then pack it once. */
typedef void cnn_gemm_pack_b_fn(bool tb, int K, int N, const float *B, int ldb, float *Bp);
/* B [K, N] whose column j is column c0 + j of planes of n pixels side
 * by side, xs floats apart (row k, column c at x[(c / n)*xs + k*n + c %
 * n]: a pointwise conv's columns, read in place), packed as
 * cnn_gemm_pack_b_fn does; row: workspace of N rounded up to 32 floats. */
typedef void cnn_gemm_pack_b_cols_fn(int K, int64_t c0, int N, int n, const float *x,
                                     int64_t xs, float *row, float *Bp);
typedef void cnn_gemm_packed_ab_fn(int M, int N, int K, const float *Ap, int64_t mup, int a0,
                                   const float *Bp, float beta, float *C, int ldc, float *ws);
cnn_gemm_pack_b_fn    cnn_gemm_pack_b_avx2, cnn_gemm_pack_b_avx512, cnn_gemm_pack_b_emu512;
cnn_gemm_pack_b_cols_fn cnn_gemm_pack_b_cols_avx2, cnn_gemm_pack_b_cols_avx512,
    cnn_gemm_pack_b_cols_emu512;
cnn_gemm_packed_ab_fn cnn_gemm_packed_ab_avx2, cnn_gemm_packed_ab_avx512,
    cnn_gemm_packed_ab_emu512;
/* cnn_gemm_ws with op(B) packed once (cnn_gemm_pack_b_fn, tb as it was
 * packed) for several calls, or for a GEMM of more than
 * CNN_GEMM_ONE_BLOCK rows, which packs B for every block of rows: the
 * same bits. */
#define CNN_GEMM_ONE_BLOCK 272
typedef void cnn_gemm_packed_b_fn(bool ta, int M, int N, int K, float alpha, const float *A,
                                  int lda, const float *Bp, float beta, float *C, int ldc,
                                  float *ws);
cnn_gemm_packed_b_fn cnn_gemm_packed_b_avx2, cnn_gemm_packed_b_avx512,
    cnn_gemm_packed_b_emu512;
/* The running variant's and its packing, or NULL (portable). */
cnn_gemm_packed_b_fn *cnn_gemm_packed_b_kernel(cnn_gemm_pack_b_fn **pack);
/* op(A) [M, K] (A^T when ta) packed as cnn_gemm_packed_a_fn reads it,
 * slices [s0, s1) of CNN_GEMM_KC columns (mup: M rounded up to
 * cnn_direct_panel(0)): for a GEMM whose A serves several calls. */
typedef void cnn_gemm_pack_a_fn(bool ta, int M, int K, const float *A, int lda, int64_t mup,
                                int s0, int s1, float *Ap);
cnn_gemm_pack_a_fn  cnn_gemm_pack_a_avx2, cnn_gemm_pack_a_avx512, cnn_gemm_pack_a_emu512;
cnn_gemm_pack_a_fn *cnn_gemm_pack_a_kernel(void); /* the running variant's, or NULL */
/* The running variant's GEMM, packings and panel width NR, or NULL
 * (portable). */
cnn_gemm_packed_ab_fn *cnn_gemm_packed_ab_kernel(cnn_gemm_pack_b_fn      **pack,
                                                 cnn_gemm_pack_b_cols_fn **pack_cols, int *nr);

/* The GEMM variants, chosen once at startup: the best the CPU supports
 * (__builtin_cpu_supports), or the one named by the environment variable
 * CNN_ISA=portable|avx2|avx512|emu512 when the CPU supports it (an
 * unsupported or unknown name falls back to the best supported one).
 * emu512 is never the best: the AVX-512 variant's code at its geometry on
 * AVX2 (gemm_emu512.c), for the tests. */
typedef enum cnn_isa {
    CNN_ISA_PORTABLE, /* plain C, the reference: always built, runs anywhere */
    CNN_ISA_AVX2,     /* AVX2 + FMA, packed 6x16 microkernel                  */
    CNN_ISA_AVX512,   /* AVX-512F, packed 8x32 microkernel                    */
    CNN_ISA_EMU512,   /* AVX512's template and geometry in AVX2 halves: tests */
    CNN_ISA_COUNT_
} cnn_isa;

/* The variant cnn_gemm runs now. */
cnn_isa cnn_gemm_isa(void);
/* "portable", "avx2", "avx512", "emu512". */
const char *cnn_isa_name(cnn_isa isa);
/* Whether this build has the variant and this CPU can run it. */
bool cnn_isa_supported(cnn_isa isa);
/* Makes cnn_gemm run `isa` from now on (tests and benchmarks; not to be
 * called while another thread is in a kernel). Returns false and changes
 * nothing if the variant is not supported. */
bool cnn_gemm_set_isa(cnn_isa isa);

/* The variants themselves, same contract as cnn_gemm_ws. The portable one
 * needs no workspace (ws may be NULL). */
typedef void cnn_gemm_fn(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc,
                         float *ws);
cnn_gemm_fn cnn_gemm_portable, cnn_gemm_avx2, cnn_gemm_avx512, cnn_gemm_emu512;

/* ==== @@DIRECT ==== */

/* Direct convolution, for a conv whose stride across a row is 1: output
 * channels [0, M) of output rows [r0, r1) of one image,
 *   y[o*ldy + oy*ow + ox] = sum over k < K of
 *                           W[o*ldw + k] * xb[(oy - r0)*ldx + ox + koff[k]],
 * xb being the input (rows in a padded band, so no tap is out of bounds)
 * and koff[k] the offset of tap k = (ci, ky, kx) in it. k runs in order in
 * slices of CNN_GEMM_KC with the GEMM's arithmetic, so y has the bits of
 * the same variant's GEMM of W and the im2col columns, with no columns:
 * the microkernel reads the input itself. Each output row is computed in
 * whole vectors of `lanes` pixels: xb must be readable that far past ow
 * in every row. ws: CNN_GEMM_WS_FLOATS; M <= 256. */
typedef struct cnn_direct {
    int            M, K, ow, r0, r1;
    const float   *W;
    int64_t        ldw;
    const int32_t *koff;
    const float   *xb;
    int64_t        ldx;
    float         *y;
    int64_t        ldy;
    bool           add; /* y += the sums (each slice added in order) */
    /* Wide: output rows [r0, r1) taken as one span of pixels, pixel j =
     * (oy - r0)*ldx + ox reading xb[j + koff[k]] (stride 1, ldx the
     * band's row pitch >= 8), the lanes with ox >= ow computed and not
     * stored: rows of 7 or 10 pixels fill the vectors as well as long
     * ones. xb must be readable lanes floats past the last row's end. */
    bool           wide;
    /* The weights already packed by the variant's cnn_direct_pack_fn
     * (W and ldw unused; packed with the same ocl), or NULL: the kernel
     * packs them itself, per call. The bits are the same either way. */
    const float   *Ap;
    /* Output channels in the lanes: each output pixel a row of the
     * microkernel, reading its input values at xb[pixel's place + koff[k]]
     * (one at a time: the place is (oy - r0)*ldx + ox, any stride), the
     * weights W^T in panels of `ocw` channels (cnn_direct_kernel; ocl 1)
     * or of one vector, ocw / 2 (ocl 2: 16 channels fill AVX-512's
     * lanes), so M fills the lanes however few pixels a row has (a 7x7
     * plane: 49 of 49, where pixels in the lanes fill 49 of 64). The
     * same bits as without; wide is ignored. With ocl, nimg images
     * (0: 1) go in one call, image i's input at xb + i*xbs and its output
     * at y + i*ys: at most CNN_DIRECT_OCL_PIXELS pixels (nimg * (r1 - r0)
     * * ow) a call. */
    int            ocl; /* 0: pixels in the lanes; 1: panels of ocw channels; 2: of ocw / 2 */
    int            nimg;
    int64_t        xbs, ys;
    /* Or NULL: bias[o] added to every output of channel o after its sum
     * (y = y + b as a pass after would, the same bits, while in cache). */
    const float   *bias;
} cnn_direct;
#define CNN_DIRECT_OCL_PIXELS 2048

typedef void cnn_direct_fn(const cnn_direct *d, float *ws);
cnn_direct_fn cnn_direct_avx2, cnn_direct_avx512, cnn_direct_emu512;

/* Packs W [M, K] (rows ldw apart) for cnn_direct's Ap (for its ocl or
 * not), into at most CNN_DIRECT_PACKED(M, K) floats: for weights that
 * several calls use. Slices [s0, s1) of CNN_GEMM_KC columns only, so
 * threads can share the work (each slice's place in Ap does not depend
 * on the others). */
typedef void cnn_direct_pack_fn(int M, int K, const float *W, int64_t ldw, int s0, int s1,
                                int ocl, float *Ap);
cnn_direct_pack_fn cnn_direct_pack_avx2, cnn_direct_pack_avx512, cnn_direct_pack_emu512;
#define CNN_DIRECT_PACKED(M, K) (((int64_t)(M) + 32) * (K))
/* The rows the running variant's packing rounds M up to a multiple of
 * (for cnn_direct's ocl 0, 1 or 2): it packs M rows into M rounded up
 * times K floats. */
int cnn_direct_panel(int ocl);

/* The direct kernel of the variant cnn_gemm runs now, its vector lanes
 * and its panels of output channels with ocl (*ocw), or NULL when it has
 * none (portable: im2col + GEMM); *pack gets the variant's packing of
 * the weights. Any pointer may be NULL. */
cnn_direct_fn *cnn_direct_kernel(int *lanes, int *ocw, cnn_direct_pack_fn **pack);

/* Weight gradient by direct correlation, for a conv of stride 1: over
 * images i < nimg and positions j < n (a multiple of the lanes),
 *   dw[o*ldw + k] += sum of dy[i*dys + o*n + j] * xb[i*xbs + koff[k] + j]
 * for o < M, k < K. The caller lays each image's dY out with the row
 * pitch of its zero-padded input band xb (so position j reads the same
 * offset of the band for every tap: no columns), zeros where no output
 * pixel is; xb must be readable n floats past every koff. Each sum runs
 * in the lanes of a vector over the images and positions in order, then
 * across the lanes: the same bits for the same call, whatever the CPU
 * does around it. */
typedef struct cnn_direct_dw {
    int            M, K, nimg;
    int64_t        n, dys, xbs, ldw;
    const float   *dy, *xb;
    const int32_t *koff;
    float         *dw;
    /* Output channels in the lanes: dy is dY transposed, in panels of
     * ocw channels (cnn_direct_kernel's *ocw), panel j at dy + j*n*ocw,
     * [n][ocw], zeros past M; position j reads its input at xb[pos[j] +
     * koff[k]] (pos holds each image's place in xb too, so no position
     * need be a pad: nimg, dys and xbs unused). Each sum runs over the
     * positions in order, in slices of CNN_GEMM_KC (a slice summed, then
     * added), with no sums across lanes. ws: CNN_DIRECT_DW_WS(K) floats. */
    bool           ocl;
    const int32_t *pos;
    float         *ws;
} cnn_direct_dw;
#define CNN_DIRECT_DW_WS(K) ((int64_t)(K) * 32 + 16)

typedef void cnn_direct_dw_fn(const cnn_direct_dw *d);
cnn_direct_dw_fn cnn_direct_dw_avx2, cnn_direct_dw_avx512, cnn_direct_dw_emu512;

/* The direct weight-gradient kernel of the variant cnn_gemm runs now, or
 * NULL (portable); lanes as for cnn_direct_kernel. */
cnn_direct_dw_fn *cnn_direct_dw_kernel(int *lanes);

/* dst[j*ldd + i] = src[i*lds + j] for i < ni, j < nj: 8 x 8 blocks in
 * registers on AVX2 and AVX-512 (the variant cnn_gemm runs), else a plain
 * loop. Only moves floats: the same result on every variant. */
void cnn_transpose(const float *src, int64_t lds, int ni, int nj, float *dst, int64_t ldd);
typedef void cnn_transpose_fn(const float *src, int64_t lds, int ni, int nj, float *dst,
                              int64_t ldd);
cnn_transpose_fn cnn_transpose_avx2, cnn_transpose_avx512, cnn_transpose_emu512;

/* ==== @@IM2COL ==== */

/* Geometry of a 2-D convolution or pooling window over one plane. */
typedef struct cnn_win2d {
    int h, w;      /* input plane                    */
    int kh, kw;    /* window                         */
    int sh, sw;    /* stride                         */
    int pt, pl;    /* leading pads                   */
    int dh, dw;    /* dilation                       */
    int oh, ow;    /* output plane                   */
} cnn_win2d;

/* im2col of c planes x [c, h, w] into col [c*kh*kw, oh*ow] whose rows start
 * ld floats apart (ld >= oh*ow; a larger ld lets several images sit side by
 * side in one matrix); zeros where the window is in the padding. */
void cnn_im2col(const float *x, int c, const cnn_win2d *g, float *col, int64_t ld);

/* The adjoint: dx [c, h, w] += col2im(dcol [c*kh*kw, oh*ow], rows ld apart). */
void cnn_col2im_add(const float *dcol, int64_t ld, int c, const cnn_win2d *g, float *dx);

/* The same for the col rows [k0, k1) (col, dcol pointing at row k0) and
 * the output rows [r0, r1) only: col column (oy - r0) * ow + ox. Tiles of
 * rows keep the columns of one large image in cache and let threads share
 * an image; slices of col rows keep a deep kernel's columns in cache.
 * col2im adds rows in increasing k, so consecutive slices give the bits of
 * the whole. */
void cnn_im2col_rows(const float *x, int c, const cnn_win2d *g, int k0, int k1, int r0, int r1,
                     float *col, int64_t ld);
void cnn_col2im_add_rows(const float *dcol, int64_t ld, int c, const cnn_win2d *g, int k0, int k1,
                         int r0, int r1, float *dx);

/* A zero-padded band of c planes x [c, h, w] for the direct kernels: row
 * r < hb of plane ci, at xb + ci*ldc + r*wp, holds input row iy0 + r from
 * column pl on (wp >= pl + w), zeros around it, and all zeros where that
 * row is off the input. */
void cnn_band_rows(const float *x, int c, int h, int w, int iy0, int hb, int pl, int wp,
                   int64_t ldc, float *xb);

/* The same for a stride of sw across rows: each band row (pitch sw*wq)
 * holds the padded row's sw phases one after the other, phase p (at
 * p*wq) the padded columns p, p + sw, p + 2*sw, ..., so the inputs that
 * consecutive outputs read through one tap are consecutive. */
void cnn_band_rows_phased(const float *x, int c, int h, int w, int iy0, int hb, int pl, int sw,
                          int wq, int64_t ldc, float *xb);

/* ==== @@WINOGRAD ==== */

/* Winograd F(2x2, 3x3) (winograd.c): a 3x3 stride-1 correlation as 16
 * matrix products U[xi] V[xi] (xi < 16, the positions of a 4x4 tile),
 * each output tile of 2x2 pixels one column of V. The transforms add and
 * subtract in a fixed order (halves are exact): the same bits on every
 * ISA. */

/* U[xi] = position xi of G g G^T for every filter g of w [k][c][3][3]:
 * u[o*ldu + ci], o < k, ci < c. */
void cnn_wino_filter(const float *w, int k, int c, int xi, float *u, int64_t ldu);

/* The input tiles [t0, t1) (tile t = ty*tw + tx, tw a row) of x [c][h][w]
 * read with leading pads pt, pl (zeros off the input): tile t's position
 * xi of channel ci at v[xi*ldx + ci*ldv + t - t0]. tmp: 18 * tw + 8
 * floats. */
void cnn_wino_input(const float *x, int c, int h, int w, int pt, int pl, int tw, int64_t t0,
                    int64_t t1, float *v, int64_t ldv, int64_t ldx, float *tmp);

/* The output of tiles [t0, t1) from the products m (channel o's position
 * xi of tile t at m[xi*ldx + o*ldm + t - t0]), plus bias[o] (or NULL):
 * y[o*ldy + oy*ow + ox] for o < k and the pixels of those tiles inside
 * oh x ow. tmp: 10 * tw floats. */
void cnn_wino_output(const float *m, int64_t ldm, int64_t ldx, int k, int oh, int ow, int tw,
                     int64_t t0, int64_t t1, const float *bias, float *y, int64_t ldy,
                     float *tmp);

/* ==== @@ELEMENTWISE ==== */

/* y = max(x, 0) (NaN gives 0, as x > 0 ? x : 0). */
void cnn_relu_fwd(const float *x, float *y, int64_t n);
/* dx += x > 0 ? dy : 0 */
void cnn_relu_bwd_add(const float *x, const float *dy, float *dx, int64_t n);
/* y += x (y and x do not overlap) */
void cnn_add_to(float *y, const float *x, int64_t n);
/* y += b, one value for all (a conv's bias on a plane) */
void cnn_add_bias(float *y, int64_t n, float b);
/* y = a + b (y may be a or b) */
void cnn_vadd(const float *a, const float *b, float *y, int64_t n);
/* dx += r > 0 ? dy + 0 : 0: the gradient through a ReLU whose output is
 * r, as the ReLU's backward would leave it in a zeroed buffer (-0 gives
 * +0), added in (a training plan's ReLU fused into its producer). */
void cnn_relu_bwd_acc(const float *r, const float *dy, float *dx, int64_t n);
/* The same into two gradients at once (an add's inputs; dx != dx2). */
void cnn_relu_bwd_acc2(const float *r, const float *dy, float *dx, float *dx2, int64_t n);
/* y = x > 0 ? x : slope * x */
void cnn_leaky_fwd(const float *x, float *y, int64_t n, float slope);
/* dx += x > 0 ? dy : slope * dy */
void cnn_leaky_bwd_add(const float *x, const float *dy, float *dx, int64_t n, float slope);

/* Sum of x [n] in eight fixed lanes (element i in lane i % 8), combined in
 * a fixed order: fast and the same bits everywhere. */
float cnn_sum(const float *x, int64_t n);

/* Batch normalization's passes, in the same fixed lanes as cnn_sum:
 * sum (x - m)^2; sum a * (x - m); y = x * s + t; and
 * dx += k * (dy - a1 - (x - m) * b) (or = without `add`). */
float cnn_sum_sqdev(const float *x, int64_t n, float m);
/* A plane's statistics for batch normalization: st[0] = cnn_sum(x, n),
 * st[1] = cnn_sum_sqdev(x, n, st[0] / n) (the squared deviations from
 * its own mean, rounded to float), two passes over x while it is in
 * cache. */
void  cnn_plane_stats(const float *x, int64_t n, float st[2]);
float cnn_dot_dev(const float *a, const float *x, int64_t n, float m);
/* *sdy = sum d, *sdyx = sum d * (x - m): the bits of cnn_sum and
 * cnn_dot_dev; d = dy, or, with r (the output of a ReLU
 * that follows, fused into the batch norm), the gradient through it as
 * cnn_relu_bwd_acc gives it. The same r in cnn_bn_dx. */
void  cnn_bn_sums(const float *dy, const float *r, const float *x, int64_t n, float m, float *sdy,
                  float *sdyx);
void  cnn_affine(const float *x, float *y, int64_t n, float s, float t);
/* y = x * s + t, then max(y, 0) when `relu`: the bits of cnn_affine then
 * cnn_relu_fwd, in one pass. */
void  cnn_affine_to(const float *x, float *y, int64_t n, float s, float t, bool relu);
/* In place: y = y * s + t when `affine`, then y + r[i] when r (not NULL),
 * then max(y, 0) when `relu`; the bits of cnn_affine, cnn_vadd and
 * cnn_relu_fwd one after the other. */
void  cnn_affine_relu(float *y, int64_t n, float s, float t, bool affine, const float *r,
                      bool relu);
/* Rows r < rows of n floats, s[r*lds ...] to d[r*ldd ...]: x * 1 + b[r]
 * (b NULL: 0), then * sc[r] + sh[r] when sc, then + res[r*ldd ...] when
 * res (not NULL), then max(., 0) when relu: the bits of cnn_affine then
 * cnn_affine_relu on each row, in one call and one pass (a conv's output
 * spread from its chunk with the bias and a fused batch norm, residual
 * add and ReLU). */
void  cnn_bias_rows(const float *s, int64_t lds, float *d, int64_t ldd, int rows, int64_t n,
                    const float *b, const float *sc, const float *sh, const float *res,
                    bool relu);
void  cnn_bn_dx(const float *x, const float *dy, const float *r, float *dx, int64_t n, float k,
                float a1, float m, float b, bool add);

/* Max pooling of one plane x [h, w] into y [oh, ow] with arg [oh, ow] the
 * index in x of each maximum (the first of equal values; the last NaN if
 * any). Only for windows that lie inside the plane: no padding, no ceil
 * clipping (pt = pl = 0, (oh-1)*sh + kh <= h, (ow-1)*sw + kw <= w). */
void cnn_maxpool_fwd(const float *x, const cnn_win2d *g, float *y, int32_t *arg);

/* The same for the outputs [oy0, oy1) x [ox0, ox1) only, whose windows,
 * shifted by the leading pads pt and pl, all lie inside the plane (the
 * interior of a padded pooling; the caller does the border). */
void cnn_maxpool_fwd_rect(const float *x, const cnn_win2d *g, int oy0, int oy1, int ox0, int ox1,
                          float *y, int32_t *arg);

#endif
