/* canvas.c - an RGB canvas with clipped, anti-aliased drawing, the colour
 * maps, and PNG output through stb_image_write (when the build has it). */
#include "viz.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CNN_HAVE_STB
#include <stb/stb_image_write.h>
#endif

/* ==== @@CANVAS ==== */

int viz_canvas_init(viz_canvas *c, int64_t w, int64_t h, const char *path)
{
    memset(c, 0, sizeof *c);
    if (w < 1 || h < 1 || w > VIZ_MAX_SIDE || h > VIZ_MAX_SIDE || w * h > VIZ_MAX_PIXELS)
        return cnn_fail(CNN_EOVERFLOW,
                        "%s: a picture of %lld x %lld pixels is too large (at most %d a side, "
                        "%lld pixels)",
                        path, (long long)w, (long long)h, VIZ_MAX_SIDE, VIZ_MAX_PIXELS);
    c->px = malloc((size_t)(w * h * 3));
    if (!c->px)
        return cnn_fail(CNN_ENOMEM, "%s: out of memory for a %lld x %lld picture", path,
                        (long long)w, (long long)h);
    memset(c->px, 255, (size_t)(w * h * 3));
    c->w = (int)w;
    c->h = (int)h;
    viz_unclip(c);
    return CNN_OK;
}

void viz_canvas_free(viz_canvas *c)
{
    free(c->px);
    c->px = NULL;
}

void viz_unclip(viz_canvas *c)
{
    c->cx0 = 0;
    c->cy0 = 0;
    c->cx1 = c->w;
    c->cy1 = c->h;
}

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

void viz_clip(viz_canvas *c, int x, int y, int w, int h)
{
    c->cx0 = imax(0, x);
    c->cy0 = imax(0, y);
    c->cx1 = imin(c->w, x + w);
    c->cy1 = imin(c->h, y + h);
}

static int inside(const viz_canvas *c, int x, int y)
{
    return x >= c->cx0 && x < c->cx1 && y >= c->cy0 && y < c->cy1;
}

void viz_pixel(viz_canvas *c, int x, int y, viz_rgb col)
{
    uint8_t *p;

    if (!inside(c, x, y))
        return;
    p    = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static uint8_t mix(uint8_t under, uint8_t over, double a)
{
    return (uint8_t)lrint(under + (over - under) * a);
}

void viz_blend(viz_canvas *c, int x, int y, viz_rgb col, double a)
{
    uint8_t *p;

    if (!inside(c, x, y) || !(a > 0.0))
        return;
    if (a >= 1.0) {
        viz_pixel(c, x, y, col);
        return;
    }
    p    = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = mix(p[0], col.r, a);
    p[1] = mix(p[1], col.g, a);
    p[2] = mix(p[2], col.b, a);
}

void viz_fill(viz_canvas *c, int x, int y, int w, int h, viz_rgb col)
{
    int x0 = imax(x, c->cx0), x1 = imin(x + w, c->cx1);
    int y0 = imax(y, c->cy0), y1 = imin(y + h, c->cy1);

    for (int yy = y0; yy < y1; yy++) {
        uint8_t *p = c->px + ((size_t)yy * (size_t)c->w + (size_t)x0) * 3;
        for (int xx = x0; xx < x1; xx++, p += 3) {
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
}

void viz_frame(viz_canvas *c, int x, int y, int w, int h, viz_rgb col)
{
    viz_fill(c, x, y, w, 1, col);
    viz_fill(c, x, y + h - 1, w, 1, col);
    viz_fill(c, x, y, 1, h, col);
    viz_fill(c, x + w - 1, y, 1, h, col);
}

/* Coverage of a pixel whose centre is at distance d from a shape's edge
 * region of half-width r: a one-pixel ramp centred on the edge. */
static double coverage(double d, double r)
{
    double a = r + 0.5 - d;
    return a < 0.0 ? 0.0 : a > 1.0 ? 1.0 : a;
}

void viz_line(viz_canvas *c, double x0, double y0, double x1, double y1, double width,
              viz_rgb col)
{
    double r  = width / 2.0;
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    int    bx0 = (int)floor(fmin(x0, x1) - r - 1), bx1 = (int)ceil(fmax(x0, x1) + r + 1);
    int    by0 = (int)floor(fmin(y0, y1) - r - 1), by1 = (int)ceil(fmax(y0, y1) + r + 1);

    bx0 = imax(bx0, c->cx0);
    by0 = imax(by0, c->cy0);
    bx1 = imin(bx1, c->cx1 - 1);
    by1 = imin(by1, c->cy1 - 1);
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) {
            /* distance from the pixel centre to the segment */
            double t = len2 > 0.0 ? ((x - x0) * dx + (y - y0) * dy) / len2 : 0.0;
            t        = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
            double ex = x0 + t * dx - x, ey = y0 + t * dy - y;
            viz_blend(c, x, y, col, coverage(sqrt(ex * ex + ey * ey), r));
        }
}

void viz_disc(viz_canvas *c, double x, double y, double r, viz_rgb col)
{
    viz_line(c, x, y, x, y, 2.0 * r, col);
}

/* ==== @@COLOURS ==== */

/* matplotlib's viridis sampled at t = 0, 1/8, ..., 1 (sRGB). Between
 * samples the map is interpolated linearly, which keeps it monotone in
 * lightness. */
static const viz_rgb viridis[9] = {
    {68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142},  {38, 130, 142},
    {31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {253, 231, 37},
};

viz_rgb viz_viridis(double t)
{
    double  u;
    int     i;
    viz_rgb a, b;

    if (!(t > 0.0))
        return viridis[0];
    if (t >= 1.0)
        return viridis[8];
    u = t * 8.0;
    i = (int)u;
    u -= i;
    a = viridis[i];
    b = viridis[i + 1];
    return (viz_rgb){mix(a.r, b.r, u), mix(a.g, b.g, u), mix(a.b, b.b, u)};
}

viz_rgb viz_grey(double v)
{
    uint8_t l;

    if (!(v > 0.0))
        return VIZ_BLACK;
    l = v >= 1.0 ? 255 : (uint8_t)lrint(v * 255.0);
    return (viz_rgb){l, l, l};
}

viz_rgb viz_contrast(viz_rgb bg)
{
    /* Rec. 709 luma of the sRGB values: close enough to choose a side. */
    double y = 0.2126 * bg.r + 0.7152 * bg.g + 0.0722 * bg.b;
    return y > 140.0 ? VIZ_BLACK : VIZ_WHITE;
}

/* ==== @@PNG ==== */

#ifdef CNN_HAVE_STB

int viz_png_available(const char *path)
{
    (void)path;
    return CNN_OK;
}

typedef struct png_sink {
    FILE *f;
    int   failed;
} png_sink;

static void png_put(void *ctx, void *data, int size)
{
    png_sink *s = ctx;

    if (!s->failed && size > 0 && fwrite(data, 1, (size_t)size, s->f) != (size_t)size)
        s->failed = errno ? errno : EIO;
}

int viz_png_write(const viz_canvas *c, const char *path)
{
    png_sink s = {NULL, 0};
    int      rc = CNN_OK;

    errno = 0;
    if (!(s.f = fopen(path, "wb")))
        return cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
    /* stb encodes the whole image in memory, then hands it over in one
     * call; 0 means that encoding failed (out of memory). */
    if (!stbi_write_png_to_func(png_put, &s, c->w, c->h, 3, c->px, c->w * 3)) {
        rc = cnn_fail(CNN_ENOMEM, "%s: PNG encoding failed (out of memory)", path);
        goto out;
    }
    if (s.failed) {
        rc = cnn_fail(CNN_EIO, "%s: write failed: %s", path, strerror(s.failed));
        goto out;
    }
    errno = 0;
    if (fclose(s.f) != 0) {
        s.f = NULL;
        rc  = cnn_fail(CNN_EIO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
        goto out;
    }
    s.f = NULL;
out:
    if (s.f)
        fclose(s.f);
    if (rc < 0)
        remove(path);
    return rc;
}

#else

int viz_png_available(const char *path)
{
    return cnn_fail(CNN_EIO,
                    "%s: this build has no image library (install libstb-dev and rebuild) "
                    "and cannot write PNG files",
                    path ? path : "(null)");
}

int viz_png_write(const viz_canvas *c, const char *path)
{
    (void)c;
    return viz_png_available(path);
}

#endif
