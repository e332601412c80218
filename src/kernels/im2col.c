/* im2col.c - unrolling convolution windows into columns, and back. */
#include "kernels.h"

#include <string.h>

/* col row r = (ci, ky, kx), column (oy, ox):
 *   x[ci, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw], 0 outside. */
void cnn_im2col(const float *x, int c, const cnn_win2d *g, float *col)
{
    const int64_t ohw = (int64_t)g->oh * g->ow;

    for (int ci = 0; ci < c; ci++) {
        const float *xp = x + (int64_t)ci * g->h * g->w;
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                float *out = col + (((int64_t)ci * g->kh + ky) * g->kw + kx) * ohw;
                for (int oy = 0; oy < g->oh; oy++) {
                    int    iy  = oy * g->sh - g->pt + ky * g->dh;
                    float *row = out + (int64_t)oy * g->ow;
                    if (iy < 0 || iy >= g->h) {
                        memset(row, 0, (size_t)g->ow * sizeof *row);
                        continue;
                    }
                    const float *xr = xp + (int64_t)iy * g->w;
                    int          ix = -g->pl + kx * g->dw;
                    if (g->sw == 1 && ix >= 0 && ix + g->ow <= g->w) {
                        memcpy(row, xr + ix, (size_t)g->ow * sizeof *row);
                        continue;
                    }
                    for (int ox = 0; ox < g->ow; ox++, ix += g->sw)
                        row[ox] = (ix >= 0 && ix < g->w) ? xr[ix] : 0.0f;
                }
            }
    }
}

void cnn_col2im_add(const float *dcol, int c, const cnn_win2d *g, float *dx)
{
    const int64_t ohw = (int64_t)g->oh * g->ow;

    for (int ci = 0; ci < c; ci++) {
        float *xp = dx + (int64_t)ci * g->h * g->w;
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                const float *in = dcol + (((int64_t)ci * g->kh + ky) * g->kw + kx) * ohw;
                for (int oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    float       *xr  = xp + (int64_t)iy * g->w;
                    const float *row = in + (int64_t)oy * g->ow;
                    int          ix  = -g->pl + kx * g->dw;
                    for (int ox = 0; ox < g->ow; ox++, ix += g->sw)
                        if (ix >= 0 && ix < g->w)
                            xr[ix] += row[ox];
                }
            }
    }
}
