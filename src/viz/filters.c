/* filters.c - pictures of tensors: a conv layer's filters as a grid of
 * tiles, and the feature maps of a node beside the input image.
 *
 * Layouts (M = VIZ_MARGIN = 20, L = VIZ_LINE = 20, tw(n) = 12n - 2 is the
 * width of n characters at the font scale 2):
 *
 * filters of [OC, IC, KH, KW] at `scale`:
 *   cols = ceil(sqrt(OC)), rows = ceil(OC / cols)
 *   grid = (cols * (KW*scale + 1) + 1) x (rows * (KH*scale + 1) + 1)
 *   W = 2M + max(grid_w, tw(title) + 1),  H = M + L + 10 + grid_h + M
 *
 * feature maps (input C0 x H0 x W0, node C x H x W, n = min(max_maps, C)):
 *   k0 = ceil(112 / max(H0, W0)), k = ceil(112 / max(H, W))
 *   cell = max(W0 k0, W k) x max(H0 k0, H k); then each image grows by
 *   whole factors to fill its cell (k0 = max(k0, min(cell_w / W0, cell_h / H0)))
 *   panels = n + 1, cols = min(panels, max(8, ceil(sqrt(panels)))),
 *   rows = ceil(panels / cols)
 *   W = max(2M + cols cell_w + (cols - 1) 12, 2M + tw(title) + 1, 2M + sub_w)
 *   H = M + L + 6 + L + 14 + rows (L + 4 + cell_h) + (rows - 1) 12 + M
 *   sub_w = tw(len(SUBTITLE)) + 8 + RAMP_W + 8 + tw(3)
 */
#include "viz.h"

#include "../graph/graph_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M  VIZ_MARGIN
#define FS VIZ_FONT
#define L  VIZ_LINE

#define MAP_MIN  112 /* feature-map panels are enlarged to at least this */
#define CELL_GAP 12
#define RAMP_W   100
#define SUBTITLE "sample 0, each map scaled to its own range:  min"

static const viz_rgb gap_grey = {200, 200, 200};
static const viz_rgb gap_blue = {70, 120, 190};

/* ==== @@HELPERS ==== */

/* Re-records the last error with the picture's path in front. The message
 * is copied first: cnn_fail writes into the buffer it would read. */
static int with_path(int rc, const char *path)
{
    char msg[400];

    snprintf(msg, sizeof msg, "%s", cnn_last_error());
    return cnn_fail(rc, "%s: %s", path, msg);
}

/* The smallest and largest finite values of v[0..n-1] (0, 0 if none);
 * whether there was one. */
static bool range_of(const float *v, int64_t n, double *lo, double *hi)
{
    bool any = false;

    *lo = *hi = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i];
        if (!isfinite(x))
            continue;
        if (!any || x < *lo)
            *lo = x;
        if (!any || x > *hi)
            *hi = x;
        any = true;
    }
    return any;
}

/* v scaled from [lo, hi] to [0, 1]; `flat` when the range is empty (all
 * values equal), 0 for a value that is not finite. */
static double unit(double v, double lo, double hi, double flat)
{
    if (!isfinite(v))
        return 0.0;
    if (!(hi > lo))
        return flat;
    return (v - lo) / (hi - lo);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The smallest c with c * c >= n. */
static int64_t ceil_sqrt(int64_t n)
{
    int64_t c = (int64_t)sqrt((double)n);

    while (c * c < n)
        c++;
    while (c > 1 && (c - 1) * (c - 1) >= n)
        c--;
    return c < 1 ? 1 : c;
}

/* Draws an image of ch channels (3: RGB, else the mean over channels as
 * grey) of h x w values, planes `plane` floats apart, scaled jointly to its
 * own range, each value a k x k block at (x, y). A constant image is mid
 * grey. */
static void draw_image(viz_canvas *c, int x, int y, const float *v, int ch, int h, int w,
                       int64_t plane, int k)
{
    double lo = 0.0, hi = 0.0, l, u;
    bool   any = false;

    if (ch == 3) {
        for (int i = 0; i < 3; i++)
            if (range_of(v + i * plane, (int64_t)h * w, &l, &u)) {
                lo  = !any || l < lo ? l : lo;
                hi  = !any || u > hi ? u : hi;
                any = true;
            }
    } else {
        for (int64_t p = 0; p < (int64_t)h * w; p++) {
            double m = 0.0;
            for (int i = 0; i < ch; i++)
                m += v[i * plane + p];
            m /= ch;
            if (!isfinite(m))
                continue;
            lo  = !any || m < lo ? m : lo;
            hi  = !any || m > hi ? m : hi;
            any = true;
        }
    }
    for (int r = 0; r < h; r++)
        for (int q = 0; q < w; q++) {
            int64_t p = (int64_t)r * w + q;
            viz_rgb col;
            if (ch == 3) {
                col.r = viz_grey(unit(v[p], lo, hi, 0.5)).r;
                col.g = viz_grey(unit(v[plane + p], lo, hi, 0.5)).r;
                col.b = viz_grey(unit(v[2 * plane + p], lo, hi, 0.5)).r;
            } else {
                double m = 0.0;
                for (int i = 0; i < ch; i++)
                    m += v[i * plane + p];
                col = viz_grey(unit(m / ch, lo, hi, 0.5));
            }
            viz_fill(c, x + q * k, y + r * k, k, k, col);
        }
}

/* ==== @@FILTERS ==== */

int cnn_viz_filters(cnn_graph *g, int conv, int scale, const char *png_path)
{
    viz_canvas  c = {0};
    cnn_op      op;
    const char *name;
    cnn_shape   ws;
    float      *w;
    char        title[160], nm[64];
    int         rc, oc, ic, kh, kw;
    int64_t     cols, rows, grid_w, grid_h, tile_w, tile_h, width, height;

    if (!png_path)
        return cnn_fail(CNN_EINVAL, "viz filters: NULL picture path");
    if (!g)
        return cnn_fail(CNN_EINVAL, "%s: NULL graph", png_path);
    if ((rc = viz_png_available(png_path)) < 0)
        return rc;
    if (scale < 1 || scale > 256)
        return cnn_fail(CNN_EINVAL, "%s: scale %d is out of range (1 to 256 pixels per weight)",
                        png_path, scale);
    if (cnn_node_info(g, conv, &op, &name, NULL) < 0)
        return cnn_fail(CNN_EINVAL, "%s: the graph has no node %d", png_path, conv);
    if (op != CNN_OP_CONV2D)
        return cnn_fail(CNN_EINVAL, "%s: node %d '%s' is a %s, not a conv2d", png_path, conv, name,
                        cnn_op_name(op));
    if ((rc = cnn_node_param(g, conv, 0, &w, NULL, &ws, NULL)) < 0)
        return with_path(rc, png_path);
    if (ws.ndim != 4 || ws.dim[0] < 1 || ws.dim[1] < 1 || ws.dim[2] < 1 || ws.dim[3] < 1)
        return cnn_fail(CNN_ESHAPE, "%s: conv2d '%s' has a weight of %d dimensions", png_path,
                        name, ws.ndim);
    if (ws.dim[2] > VIZ_MAX_SIDE || ws.dim[3] > VIZ_MAX_SIDE)
        return cnn_fail(CNN_EOVERFLOW, "%s: conv2d '%s' has %lldx%lld filters, too large to draw",
                        png_path, name, (long long)ws.dim[2], (long long)ws.dim[3]);
    oc = (int)ws.dim[0];
    ic = (int)ws.dim[1];
    kh = (int)ws.dim[2];
    kw = (int)ws.dim[3];

    viz_fit(nm, sizeof nm, name, 40);
    if (ic == 3)
        snprintf(title, sizeof title, "%s: %d filters %dx%d (RGB)", nm, oc, kh, kw);
    else if (ic == 1)
        snprintf(title, sizeof title, "%s: %d filters %dx%d", nm, oc, kh, kw);
    else
        snprintf(title, sizeof title, "%s: %d filters %dx%d (mean of %d channels)", nm, oc, kh,
                 kw, ic);

    tile_w = (int64_t)kw * scale;
    tile_h = (int64_t)kh * scale;
    cols   = ceil_sqrt(oc);
    rows   = ceil_div(oc, cols);
    grid_w = cols * (tile_w + 1) + 1;
    grid_h = rows * (tile_h + 1) + 1;
    width  = 2 * M + max64(grid_w, viz_text_w(viz_text_len(title), FS) + 1);
    height = M + L + 10 + grid_h + M;
    if ((rc = viz_canvas_init(&c, width, height, png_path)) < 0)
        return rc;

    viz_text_bold(&c, M, M, title, FS, VIZ_INK);
    int gx = (int)((width - grid_w) / 2), gy = M + L + 10;
    for (int o = 0; o < oc; o++) {
        int          tx = gx + 1 + (int)((o % cols) * (tile_w + 1));
        int          ty = gy + 1 + (int)((o / cols) * (tile_h + 1));
        const float *f  = w + (int64_t)o * ic * kh * kw;
        /* the gap lines: blue between grey tiles, white between colour ones */
        viz_fill(&c, tx - 1, ty - 1, (int)tile_w + 2, (int)tile_h + 2,
                 ic == 3 ? VIZ_WHITE : gap_blue);
        draw_image(&c, tx, ty, f, ic, kh, kw, (int64_t)kh * kw, scale);
    }
    rc = viz_png_write(&c, png_path);
    viz_canvas_free(&c);
    return rc;
}

/* ==== @@FEATURE_MAPS ==== */

/* Node `id` must exist and be C x H x W; its op and name for messages. */
static int spatial_node(cnn_graph *g, int id, const char *role, const char *path,
                        cnn_shape *s, const char **name)
{
    cnn_op op;
    char   buf[64];

    if (cnn_node_info(g, id, &op, name, s) < 0)
        return cnn_fail(CNN_EINVAL, "%s: the graph has no %s node %d", path, role, id);
    if (s->ndim != 3 || s->dim[0] < 1 || s->dim[1] < 1 || s->dim[2] < 1)
        return cnn_fail(CNN_ESHAPE, "%s: %s node %d '%s' (%s) has shape %s, not C x H x W", path,
                        role, id, *name, cnn_op_name(op), cnn_shape_str(s, buf, sizeof buf));
    return CNN_OK;
}

int cnn_viz_feature_maps(cnn_graph *g, int input, int node, int max_maps, const char *png_path)
{
    viz_canvas   c = {0};
    cnn_shape    is, ns;
    const char  *iname, *nname;
    const float *x, *y;
    char         title[200], nm[64], text[32], label[32];
    int          rc;
    int64_t      ic, ih, iw, nc, nh, nw, k0, k, cell_w, cell_h, n, panels, cols, rows;
    int64_t      width, height, sub_w;

    if (!png_path)
        return cnn_fail(CNN_EINVAL, "viz feature maps: NULL picture path");
    if (!g)
        return cnn_fail(CNN_EINVAL, "%s: NULL graph", png_path);
    if ((rc = viz_png_available(png_path)) < 0)
        return rc;
    if (max_maps < 1)
        return cnn_fail(CNN_EINVAL, "%s: max_maps is %d, must be at least 1", png_path, max_maps);
    if ((rc = spatial_node(g, input, "input", png_path, &is, &iname)) < 0 ||
        (rc = spatial_node(g, node, "feature", png_path, &ns, &nname)) < 0)
        return rc;
    if (is.dim[0] > INT_MAX || is.dim[1] > VIZ_MAX_SIDE || is.dim[2] > VIZ_MAX_SIDE ||
        ns.dim[1] > VIZ_MAX_SIDE || ns.dim[2] > VIZ_MAX_SIDE)
        return cnn_fail(CNN_EOVERFLOW, "%s: an input of %lld channels, or a map larger than %d "
                        "pixels a side, does not fit a picture",
                        png_path, (long long)is.dim[0], VIZ_MAX_SIDE);
    if (!(x = cnn_graph_data(g, input)) || !(y = cnn_graph_data(g, node)) || !g->forward_done)
        return cnn_fail(CNN_ESTATE,
                        "%s: no activations to show for node '%s': plan the graph and run "
                        "cnn_graph_forward first",
                        png_path, nname);

    ic     = is.dim[0];
    ih     = is.dim[1];
    iw     = is.dim[2];
    nc     = ns.dim[0];
    nh     = ns.dim[1];
    nw     = ns.dim[2];
    k0     = ceil_div(MAP_MIN, max64(ih, iw));
    k      = ceil_div(MAP_MIN, max64(nh, nw));
    cell_w = max64(iw * k0, nw * k);
    cell_h = max64(ih * k0, nh * k);
    k0     = max64(k0, min64(cell_w / iw, cell_h / ih));
    k      = max64(k, min64(cell_w / nw, cell_h / nh));
    n      = min64(max_maps, nc);
    panels = n + 1;
    cols   = min64(panels, max64(8, ceil_sqrt(panels)));
    rows   = ceil_div(panels, cols);

    viz_fit(nm, sizeof nm, nname, 40);
    snprintf(title, sizeof title, "Feature maps of %s: %lld of %lld channels, %lldx%lld", nm,
             (long long)n, (long long)nc, (long long)nh, (long long)nw);
    sub_w  = viz_text_w(viz_text_len(SUBTITLE), FS) + 8 + RAMP_W + 8 + viz_text_w(3, FS);
    width  = max64(2 * M + cols * cell_w + (cols - 1) * CELL_GAP,
                   max64(2 * M + viz_text_w(viz_text_len(title), FS) + 1, 2 * M + sub_w));
    height = M + L + 6 + L + 14 + rows * (L + 4 + cell_h) + (rows - 1) * CELL_GAP + M;
    if ((rc = viz_canvas_init(&c, width, height, png_path)) < 0)
        return rc;

    viz_text_bold(&c, M, M, title, FS, VIZ_INK);
    int sy = M + L + 6, sx = M + viz_text(&c, M, sy, SUBTITLE, FS, VIZ_SOFT) + 8;
    for (int i = 0; i < RAMP_W; i++)
        viz_fill(&c, sx + i, sy, 1, VIZ_CAP_H * FS, viz_viridis(i / (RAMP_W - 1.0)));
    viz_text(&c, sx + RAMP_W + 8, sy, "max", FS, VIZ_SOFT);

    /* panel p: the input (p = 0) or channel p - 1, row-major in the grid */
    for (int64_t p = 0; p < panels; p++) {
        int     px = (int)(M + (p % cols) * (cell_w + CELL_GAP));
        int     py = (int)(M + L + 6 + L + 14 + (p / cols) * (L + 4 + cell_h + CELL_GAP));
        int64_t pw = p == 0 ? iw * k0 : nw * k, ph = p == 0 ? ih * k0 : nh * k;
        int     ix = px + (int)((cell_w - pw) / 2), iy = py + L + 4 + (int)((cell_h - ph) / 2);

        if (p == 0)
            snprintf(text, sizeof text, "input");
        else
            snprintf(text, sizeof text, "ch %lld", (long long)(p - 1));
        viz_fit(label, sizeof label, text, (int)((cell_w + FS) / (VIZ_ADVANCE * FS)));
        int lw = viz_text_w(viz_text_len(label), FS);
        viz_text(&c, px + (int)(cell_w - lw) / 2, py, label, FS, VIZ_INK);
        viz_frame(&c, ix - 1, iy - 1, (int)pw + 2, (int)ph + 2, gap_grey);
        if (p == 0) {
            draw_image(&c, ix, iy, x, (int)ic, (int)ih, (int)iw, ih * iw, (int)k0);
            continue;
        }
        const float *map = y + (p - 1) * nh * nw;
        double       lo, hi;
        bool         finite = range_of(map, nh * nw, &lo, &hi);
        for (int64_t r = 0; r < nh; r++)
            for (int64_t q = 0; q < nw; q++)
                viz_fill(&c, ix + (int)(q * k), iy + (int)(r * k), (int)k, (int)k,
                         viz_viridis(unit(map[r * nw + q], lo, hi, 0.0)));
        if (!(hi > lo)) { /* a flat map says so, and what its value is */
            if (finite)
                snprintf(text, sizeof text, "all %.3g", lo);
            else
                snprintf(text, sizeof text, "no finite value");
            viz_fit(label, sizeof label, text, (int)((pw + FS) / (VIZ_ADVANCE * FS)));
            lw = viz_text_w(viz_text_len(label), FS);
            viz_text(&c, ix + (int)(pw - lw) / 2, iy + (int)(ph - VIZ_CAP_H * FS) / 2, label, FS,
                     VIZ_WHITE);
        }
    }
    rc = viz_png_write(&c, png_path);
    viz_canvas_free(&c);
    return rc;
}
