/* winograd.c - the transforms of Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016): a 3x3 correlation of stride 1 computed two by two output pixels
 * from a 4x4 input tile with 16 products a channel pair instead of 36.
 *
 * With d a 4x4 input tile and g a 3x3 filter, the 2x2 outputs are
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * where
 *     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *     A^T = [1 1 1 0; 0 1 -1 -1].
 * The sum over input channels of the 16 products at each position xi of
 * the tile is a matrix product, U[xi] (K x C) times V[xi] (C x tiles):
 * the caller runs it by the GEMM. These are the transforms before and
 * after it. B and A hold only 0 and +-1 and G's halves are exact, so
 * every transform is adds and subtracts in a fixed order: the same bits
 * on every ISA the loops are built for (CNN_CLONES). */
#include "kernels.h"

#include <limits.h>
#include <string.h>

/* Row a of G times (g0, g1, g2). */
static inline float g_row(int a, float g0, float g1, float g2)
{
    switch (a) {
    case 0: return g0;
    case 1: return 0.5f * ((g0 + g1) + g2);
    case 2: return 0.5f * ((g0 - g1) + g2);
    default: return g2;
    }
}

void cnn_wino_filter(const float *w, int k, int c, int xi, float *u, int64_t ldu)
{
    const int a = xi / 4, b = xi % 4;

    for (int o = 0; o < k; o++)
        for (int ci = 0; ci < c; ci++) {
            const float *g = w + ((int64_t)o * c + ci) * 9;
            /* (G g) row a, then times G^T's column b */
            const float r0 = g_row(a, g[0], g[3], g[6]);
            const float r1 = g_row(a, g[1], g[4], g[7]);
            const float r2 = g_row(a, g[2], g[5], g[8]);
            u[o * ldu + ci] = g_row(b, r0, r1, r2);
        }
}

/* The input transform's two passes and the output transform's, on rows
 * of tiles (restrict, so the loops are vectorized). Tile tx of a padded
 * input row r reads r[2tx .. 2tx + 3]: d B gives its four values
 *     (r0 - r2, r1 + r2, r2 - r1, r1 - r3). */
static inline void across_in(const float *restrict r, int tw, float *restrict h0,
                             float *restrict h1, float *restrict h2, float *restrict h3)
{
    for (int tx = 0; tx < tw; tx++) {
        const float d0 = r[2 * tx], d1 = r[2 * tx + 1], d2 = r[2 * tx + 2], d3 = r[2 * tx + 3];
        h0[tx] = d0 - d2;
        h1[tx] = d1 + d2;
        h2[tx] = d2 - d1;
        h3[tx] = d1 - d3;
    }
}

/* B^T down: rows a, b, c, d (the four input rows' values at one
 * position) give (a - c, b + c, c - b, b - d). */
static inline void down_in(const float *restrict a, const float *restrict b,
                           const float *restrict c, const float *restrict d, int tw,
                           float *restrict v0, float *restrict v1, float *restrict v2,
                           float *restrict v3)
{
    for (int tx = 0; tx < tw; tx++) {
        v0[tx] = a[tx] - c[tx];
        v1[tx] = b[tx] + c[tx];
        v2[tx] = c[tx] - b[tx];
        v3[tx] = b[tx] - d[tx];
    }
}

/* The tile rows of tiles [t0, t1) (tw a row): row ty, tiles [*xa, *xb). */
static inline void row_span(int ty, int tw, int64_t t0, int64_t t1, int *xa, int *xb)
{
    const int64_t a = t0 - (int64_t)ty * tw, b = t1 - (int64_t)ty * tw;
    *xa = a > 0 ? (int)a : 0;
    *xb = b < tw ? (int)b : tw;
}

/* x's row iy padded into row [pw] (cnn_band_rows: from column pl, zeros
 * around it, all zeros off the input), then d B across: its tw tiles'
 * four values at h [4][tw]. */
static inline void row_across(const float *xc, int h, int w, int iy, int pl, int pw, int tw,
                              float *restrict row, float *restrict hr)
{
    cnn_band_rows(xc, 1, h, w, iy, 1, pl, pw, pw, row);
    across_in(row, tw, hr, hr + tw, hr + 2 * tw, hr + 3 * tw);
}

CNN_CLONES
void cnn_wino_input(const float *x, int c, int h, int w, int pt, int pl, int tw, int64_t t0,
                    int64_t t1, float *v, int64_t ldv, int64_t ldx, float *tmp)
{
    /* padded row: the tiles' 2tw + 2 columns, at least pl + w (the
     * output is w + pl + pr - 2 wide) */
    const int pw = 2 * tw + 2;
    float    *row = tmp, *ring = tmp + pw + 6; /* ring: 4 rows' [4 values][tw] */

    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (int64_t)ci * h * w;
        /* Tile rows ty and ty + 1 share two input rows: each row's d B
         * is made once, in slot iy & 3 of the ring (tag: which row). */
        int tag[4] = {INT_MIN, INT_MIN, INT_MIN, INT_MIN};
        for (int ty = (int)(t0 / tw); ty <= (t1 - 1) / tw; ty++) {
            int xa, xb;
            row_span(ty, tw, t0, t1, &xa, &xb);
            const int    nt = xb - xa;
            float       *vt = v + (int64_t)ci * ldv + (int64_t)ty * tw + xa - t0;
            const float *hr[4];
            for (int i = 0; i < 4; i++) {
                const int iy = 2 * ty - pt + i, slot = iy & 3;
                if (tag[slot] != iy) {
                    row_across(xc, h, w, iy, pl, pw, tw, row, ring + 4 * slot * tw);
                    tag[slot] = iy;
                }
                hr[i] = ring + 4 * slot * tw + xa;
            }
            for (int j = 0; j < 4; j++)
                down_in(hr[0] + j * tw, hr[1] + j * tw, hr[2] + j * tw, hr[3] + j * tw, nt,
                        vt + j * ldx, vt + (4 + j) * ldx, vt + (8 + j) * ldx,
                        vt + (12 + j) * ldx);
        }
    }
}

/* A^T down: rows a, b, c, d of the products give (a + b + c, b - c - d). */
static inline void down_out(const float *restrict a, const float *restrict b,
                            const float *restrict c, const float *restrict d, int tw,
                            float *restrict s0, float *restrict s1)
{
    for (int tx = 0; tx < tw; tx++) {
        s0[tx] = (a[tx] + b[tx]) + c[tx];
        s1[tx] = (b[tx] - c[tx]) - d[tx];
    }
}

/* Then A across, plus the bias: output pixels 2tx, 2tx + 1 of a row. */
static inline void across_out(const float *restrict s, int nt, int tw, float bias,
                              float *restrict y)
{
    const float *s0 = s, *s1 = s + tw, *s2 = s + 2 * tw, *s3 = s + 3 * tw;

    for (int tx = 0; tx < nt; tx++) {
        y[2 * tx]     = ((s0[tx] + s1[tx]) + s2[tx]) + bias;
        y[2 * tx + 1] = ((s1[tx] - s2[tx]) - s3[tx]) + bias;
    }
}

CNN_CLONES
void cnn_wino_output(const float *m, int64_t ldm, int64_t ldx, int k, int oh, int ow, int tw,
                     int64_t t0, int64_t t1, const float *bias, float *y, int64_t ldy, float *tmp)
{
    float *s = tmp, *row = tmp + 8 * tw; /* s: [2 rows][4 values][tw]; row: 2tw */

    for (int o = 0; o < k; o++) {
        const float b = bias ? bias[o] : 0.0f;
        for (int ty = (int)(t0 / tw); ty <= (t1 - 1) / tw; ty++) {
            int xa, xb;
            row_span(ty, tw, t0, t1, &xa, &xb);
            const int    nt = xb - xa, px = (2 * xb < ow ? 2 * xb : ow) - 2 * xa;
            const float *mt = m + (int64_t)o * ldm + (int64_t)ty * tw + xa - t0;
            for (int j = 0; j < 4; j++)
                down_out(mt + j * ldx, mt + (4 + j) * ldx, mt + (8 + j) * ldx,
                         mt + (12 + j) * ldx, nt, s + j * tw, s + (4 + j) * tw);
            for (int r = 0; r < 2 && 2 * ty + r < oh; r++) {
                float *yr = y + (int64_t)o * ldy + (int64_t)(2 * ty + r) * ow + 2 * xa;
                if (px == 2 * nt) {
                    across_out(s + 4 * r * tw, nt, tw, b, yr);
                } else { /* an odd row: the last tile's second pixel dropped */
                    across_out(s + 4 * r * tw, nt, tw, b, row);
                    memcpy(yr, row, (size_t)px * sizeof *yr);
                }
            }
        }
    }
}
