/* kernels.h - numeric kernels on plain float arrays. They know nothing of
 * graphs and trust their arguments (callers validate). Single-threaded:
 * callers split work across threads. */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* C = alpha * op(A) * op(B) + beta * C, row-major, as BLAS sgemm.
 * op(A) is M x K (A is K x M when ta), op(B) is K x N (N x K when tb).
 * beta == 0 overwrites C without reading it. The order of every sum is
 * fixed, so results are the same bits on every call. */
void cnn_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* Geometry of a 2-D convolution or pooling window over one plane. */
typedef struct cnn_win2d {
    int h, w;      /* input plane                    */
    int kh, kw;    /* window                         */
    int sh, sw;    /* stride                         */
    int pt, pl;    /* leading pads                   */
    int dh, dw;    /* dilation                       */
    int oh, ow;    /* output plane                   */
} cnn_win2d;

/* im2col of c planes x [c, h, w] into col [c*kh*kw, oh*ow]; zeros where the
 * window is in the padding. */
void cnn_im2col(const float *x, int c, const cnn_win2d *g, float *col);

/* The adjoint: dx [c, h, w] += col2im(dcol [c*kh*kw, oh*ow]). */
void cnn_col2im_add(const float *dcol, int c, const cnn_win2d *g, float *dx);

#endif
