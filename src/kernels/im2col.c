/* im2col.c - unrolling convolution windows into columns, and back.
 *
 * For a col row (ci, ky, kx) and an output row oy, the input column read by
 * output column ox is ix = ox*sw + off with off = kx*dw - pl. The ox for
 * which ix lands inside [0, w) form one interval [lo, hi): the row is zeros,
 * then a copy (contiguous when sw == 1, the common case), then zeros, with
 * no test per element. */
#include "kernels.h"

#include <string.h>

/* The row copies are the whole cost: built for each ISA (CNN_CLONES; the
 * result is the same bits, copies and adds of single floats). */

/* Short rows (OW is often 4 to 32) are the whole cost here, so copies and
 * fills go by 8 floats, the last 8 overlapping the previous ones, with no
 * per-element tail and no library call (constant-size memcpy is inlined). */
static inline void copy_row(float *restrict d, const float *restrict s, int n)
{
    int i = 0;
    if (n >= 8) {
        for (; i + 8 <= n; i += 8)
            memcpy(d + i, s + i, 8 * sizeof *d);
        if (i < n)
            memcpy(d + n - 8, s + n - 8, 8 * sizeof *d);
        return;
    }
    if (n >= 4) {
        memcpy(d, s, 4 * sizeof *d);
        memcpy(d + n - 4, s + n - 4, 4 * sizeof *d);
        return;
    }
    if (n > 0) /* not a loop: GCC would turn one into a memcpy call */
        d[0] = s[0];
    if (n > 1)
        d[1] = s[1];
    if (n > 2)
        d[2] = s[2];
}

static inline void zero_row(float *d, int n)
{
    static const float z[8] = {0};
    copy_row(d, z, n < 8 ? n : 8);
    for (int i = 8; i < n; i += 8)
        copy_row(d + i, z, n - i < 8 ? n - i : 8);
}

/* d[i] += s[i]: eight at a time, then four, then the rest. */
static inline void add_row(float *restrict d, const float *restrict s, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            d[i + l] += s[i + l];
    if (i + 4 <= n) {
        for (int l = 0; l < 4; l++)
            d[i + l] += s[i + l];
        i += 4;
    }
    for (; i < n; i++)
        d[i] += s[i];
}

/* d[2i] += s[i] for i < n (a stride of 2, ResNet stems' and downsampling
 * convs' col2im): four of s interleaved with -0 (x + -0 is x, bit for
 * bit, -0 included) and added to eight of d in vectors, the last ones
 * alone (the -0 after the last is past the span): the same sums, no
 * scalar scatter and no staging copy (ResNet-20's 14- and 7-wide rows). */
typedef float v4f __attribute__((vector_size(16)));
typedef int   v4i __attribute__((vector_size(16)));

/* Lanes i, j, k, l of the eight of a and b: clang and GCC 12 have
 * __builtin_shufflevector; older GCC only __builtin_shuffle. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4i){i, j, k, l})
#endif

static inline __attribute__((always_inline)) void add_row_s2(float *d, const float *s, int n)
{
    const v4f nz = {-0.0f, -0.0f, -0.0f, -0.0f};
    int       i  = 0;

    for (; i + 4 < n; i += 4) { /* d up to 2i + 7 < 2(n - 1) */
        v4f sv, a, b;
        memcpy(&sv, s + i, sizeof sv);
        memcpy(&a, d + 2 * i, sizeof a);
        memcpy(&b, d + 2 * i + 4, sizeof b);
        a += SHUF4(sv, nz, 0, 4, 1, 5);
        b += SHUF4(sv, nz, 2, 6, 3, 7);
        memcpy(d + 2 * i, &a, sizeof a);
        memcpy(d + 2 * i + 4, &b, sizeof b);
    }
    for (; i < n; i++)
        d[2 * i] += s[i];
}

/* The interval [*lo, *hi) of ox in [0, ow) with 0 <= ox*s + off < w. */
static void valid_cols(int ow, int w, int s, int off, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = w - off > 0 ? (w - off + s - 1) / s : 0;

    if (h > ow)
        h = ow;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* The interval [*lo, *hi) of oy in [0, oh) whose input row oy*sh + off is
 * inside [0, h). */
static void valid_rows(int oh, int h, int s, int off, int *lo, int *hi)
{
    valid_cols(oh, h, s, off, lo, hi);
}

/* Clamps the valid output rows [*y0, *y1) to the tile [r0, r1). */
static void clamp_rows(int r0, int r1, int *y0, int *y1)
{
    *y0 = *y0 < r0 ? r0 : *y0 > r1 ? r1 : *y0;
    *y1 = *y1 > r1 ? r1 : *y1 < *y0 ? *y0 : *y1;
}

/* col row k = (ci, ky, kx), column (oy - r0, ox) for oy in [r0, r1):
 *   x[ci, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw], 0 outside.
 * Only the rows [k0, k1), col pointing at row k0. */
CNN_CLONES void cnn_im2col_rows(const float *x, int c, const cnn_win2d *g, int k0, int k1, int r0,
                                int r1, float *col, int64_t ld)
{
    const int sw = g->sw, ow = g->ow, kk = g->kh * g->kw;

    if (k1 > c * kk)
        k1 = c * kk;
    for (int k = k0; k < k1; k++) {
        const int    ci = k / kk, ky = k % kk / g->kw, kx = k % g->kw;
        const float *xp = x + (int64_t)ci * g->h * g->w;
        float       *out = col + (int64_t)(k - k0) * ld;
        int          yoff = ky * g->dh - g->pt, off = kx * g->dw - g->pl, y0, y1, lo, hi;

        valid_rows(g->oh, g->h, g->sh, yoff, &y0, &y1);
        clamp_rows(r0, r1, &y0, &y1);
        valid_cols(ow, g->w, sw, off, &lo, &hi);
        /* Rows of the window above and below the input: zeros. */
        zero_row(out, (y0 - r0) * ow);
        zero_row(out + (int64_t)(y1 - r0) * ow, (r1 - y1) * ow);
        const float  *xr  = xp + (int64_t)(y0 * g->sh + yoff) * g->w;
        const int64_t xs  = (int64_t)g->sh * g->w;
        float        *row = out + (int64_t)(y0 - r0) * ow;
        if (sw == 1 && lo == 0 && hi == ow) { /* no horizontal pad: a 2-D copy */
            for (int oy = y0; oy < y1; oy++, xr += xs, row += ow)
                copy_row(row, xr + off, ow);
            continue;
        }
        for (int oy = y0; oy < y1; oy++, xr += xs, row += ow) {
            zero_row(row, lo);
            if (sw == 1)
                copy_row(row + lo, xr + lo + off, hi - lo);
            else
                for (int ox = lo; ox < hi; ox++)
                    row[ox] = xr[ox * sw + off];
            zero_row(row + hi, ow - hi);
        }
    }
}

void cnn_im2col(const float *x, int c, const cnn_win2d *g, float *col, int64_t ld)
{
    cnn_im2col_rows(x, c, g, 0, c * g->kh * g->kw, 0, g->oh, col, ld);
}

/* Rows are added in increasing k, so any split of [0, c*kh*kw) into
 * consecutive parts gives the same bits as the whole. */
CNN_CLONES void cnn_col2im_add_rows(const float *dcol, int64_t ld, int c, const cnn_win2d *g,
                                    int k0, int k1, int r0, int r1, float *dx)
{
    const int sw = g->sw, ow = g->ow, kk = g->kh * g->kw;

    if (k1 > c * kk)
        k1 = c * kk;
    for (int k = k0; k < k1; k++) {
        const int     ci = k / kk, ky = k % kk / g->kw, kx = k % g->kw;
        const float  *in = dcol + (int64_t)(k - k0) * ld;
        const int64_t xs = (int64_t)g->sh * g->w;
        int           yoff = ky * g->dh - g->pt, off = kx * g->dw - g->pl, y0, y1, lo, hi;

        valid_rows(g->oh, g->h, g->sh, yoff, &y0, &y1);
        clamp_rows(r0, r1, &y0, &y1);
        valid_cols(ow, g->w, sw, off, &lo, &hi);
        float       *xr  = dx + (int64_t)ci * g->h * g->w + (int64_t)(y0 * g->sh + yoff) * g->w;
        const float *row = in + (int64_t)(y0 - r0) * ow;
        for (int oy = y0; oy < y1; oy++, xr += xs, row += ow)
            if (sw == 1)
                add_row(xr + lo + off, row + lo, hi - lo);
            else if (sw == 2 && hi > lo)
                add_row_s2(xr + 2 * lo + off, row + lo, hi - lo);
            else
                for (int ox = lo; ox < hi; ox++)
                    xr[ox * sw + off] += row[ox];
    }
}

void cnn_col2im_add(const float *dcol, int64_t ld, int c, const cnn_win2d *g, float *dx)
{
    cnn_col2im_add_rows(dcol, ld, c, g, 0, c * g->kh * g->kw, 0, g->oh, dx);
}

CNN_CLONES void cnn_band_rows(const float *x, int c, int h, int w, int iy0, int hb, int pl, int wp,
                              int64_t ldc, float *xb)
{
    for (int ci = 0; ci < c; ci++)
        for (int r = 0; r < hb; r++) {
            float    *row = xb + ci * ldc + (int64_t)r * wp;
            const int iy  = iy0 + r;
            if (iy < 0 || iy >= h) {
                zero_row(row, wp);
                continue;
            }
            zero_row(row, pl);
            copy_row(row + pl, x + ((int64_t)ci * h + iy) * w, w);
            zero_row(row + pl + w, wp - pl - w);
        }
}

CNN_CLONES void cnn_band_rows_phased(const float *x, int c, int h, int w, int iy0, int hb, int pl,
                                     int sw, int wq, int64_t ldc, float *xb)
{
    /* Phase by phase, its interval worked out once (not two divisions a
     * row: they were most of the cost on 14- to 28-wide rows). */
    for (int ph = 0; ph < sw; ph++) {
        /* phase ph holds padded columns ph, ph + sw, ...: input column
         * q*sw + ph - pl for q in [qa, qb), zeros around */
        const int qa = pl - ph <= 0 ? 0 : (pl - ph + sw - 1) / sw;
        int       qb = (w + pl - ph + sw - 1) / sw;
        if (qb > wq)
            qb = wq;
        const int za = qa < wq ? qa : wq, zb = qb > qa ? qb : za;
        for (int ci = 0; ci < c; ci++)
            for (int r = 0; r < hb; r++) {
                float    *d  = xb + ci * ldc + (int64_t)r * sw * wq + (int64_t)ph * wq;
                const int iy = iy0 + r;
                if (iy < 0 || iy >= h) {
                    zero_row(d, wq);
                    continue;
                }
                const float *src = x + ((int64_t)ci * h + iy) * w + ph - pl;
                int          q   = qa;
                zero_row(d, za);
                if (sw == 2) /* every other float: the even lanes of eight */
                    for (; q + 4 <= qb && 2 * q + 8 + ph - pl <= w; q += 4) {
                        v4f lo, hi;
                        memcpy(&lo, src + 2 * q, sizeof lo);
                        memcpy(&hi, src + 2 * q + 4, sizeof hi);
                        const v4f e = SHUF4(lo, hi, 0, 2, 4, 6);
                        memcpy(d + q, &e, sizeof e);
                    }
                for (; q < qb; q++)
                    d[q] = src[q * sw];
                zero_row(d + zb, wq - zb);
            }
    }
}
