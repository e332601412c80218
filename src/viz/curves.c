/* curves.c - training curves from the trainer's metrics CSV: loss and
 * accuracy per epoch, train and test, in two panels side by side.
 *
 * Layout (M = 20, L = 20 pixels per text line, all fixed):
 *
 *   M | GUTTER | PLOT_W | PANEL_GAP | GUTTER | PLOT_W | RIGHT_PAD | M
 *   W = 2M + 2 (GUTTER + PLOT_W) + PANEL_GAP + RIGHT_PAD = 1244
 *
 *   M, title L, 10, legend L, 14, panel titles L, 8, plot PLOT_H,
 *   TICK + 4, tick labels L, 6, "epoch" L, M
 *   H = 2M + 5L + 10 + 14 + 8 + PLOT_H + TICK + 4 + 6 = 508
 */
#include "viz.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define M  VIZ_MARGIN
#define FS VIZ_FONT
#define L  VIZ_LINE

#define GUTTER    110 /* left of each plot: tick labels of up to 8 characters */
#define PLOT_W    460
#define PLOT_H    320
#define PANEL_GAP 40
#define RIGHT_PAD 24  /* half of the widest x tick label */
#define TICK      6
#define LABEL_MAX 8   /* characters in a tick label */

#define W_TOTAL (2 * M + 2 * (GUTTER + PLOT_W) + PANEL_GAP + RIGHT_PAD)
#define H_TOTAL (2 * M + 5 * L + 10 + 14 + 8 + PLOT_H + TICK + 4 + 6)

static const viz_rgb train_col = {31, 119, 180}; /* blue   */
static const viz_rgb test_col  = {230, 97, 1};   /* orange */

/* ==== @@CSV ==== */

enum { EPOCH, TRAIN_LOSS, TRAIN_ACC, TEST_LOSS, TEST_ACC, NCOL };

static const char *const col_names[NCOL] = {"epoch", "train_loss", "train_acc", "test_loss",
                                            "test_acc"};

typedef struct curves {
    int64_t n, cap;
    double *v[NCOL]; /* [n] each; NaN where a value is missing */
} curves;

static void curves_free(curves *cv)
{
    for (int k = 0; k < NCOL; k++)
        free(cv->v[k]);
}

static int curves_push(curves *cv, const double *row, const char *path)
{
    if (cv->n == cv->cap) {
        int64_t cap = cv->cap ? cv->cap * 2 : 64;
        if (cap > (int64_t)(SIZE_MAX / sizeof(double)) || cap > INT64_C(1) << 40)
            return cnn_fail(CNN_EOVERFLOW, "%s: too many rows", path);
        for (int k = 0; k < NCOL; k++) {
            double *p = realloc(cv->v[k], (size_t)cap * sizeof *p);
            if (!p)
                return cnn_fail(CNN_ENOMEM, "%s: out of memory for %lld rows", path,
                                (long long)cap);
            cv->v[k] = p;
        }
        cv->cap = cap;
    }
    for (int k = 0; k < NCOL; k++)
        cv->v[k][cv->n] = row[k];
    cv->n++;
    return CNN_OK;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Cuts the next comma-separated field out of *s (in place, trimmed);
 * *s moves past it, to NULL after the last field. */
static char *next_field(char **s)
{
    char *f = *s, *end, *comma = strchr(f, ',');

    if (comma) {
        *comma = '\0';
        *s     = comma + 1;
    } else {
        *s = NULL;
    }
    while (is_space(*f))
        f++;
    end = f + strlen(f);
    while (end > f && is_space(end[-1]))
        *--end = '\0';
    return f;
}

static bool blank(const char *s)
{
    while (is_space(*s))
        s++;
    return *s == '\0';
}

/* A number, or NaN for an empty field (a value not recorded). */
static bool parse_num(const char *s, double *out)
{
    char *end;

    if (*s == '\0') {
        *out = NAN;
        return true;
    }
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

/* Finds the columns by name in the header; *nf gets the field count. */
static int parse_header(char *line, const char *path, int *col, int *nf)
{
    char *s = line;
    int   i = 0;

    if (strncmp(s, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte-order mark */
        s += 3;
    for (int k = 0; k < NCOL; k++)
        col[k] = -1;
    while (s) {
        const char *f = next_field(&s);
        for (int k = 0; k < NCOL; k++)
            if (col[k] < 0 && strcmp(f, col_names[k]) == 0)
                col[k] = i;
        i++;
    }
    *nf = i;
    for (int k = 0; k < NCOL; k++)
        if (col[k] < 0)
            return cnn_fail(CNN_EFORMAT,
                            "%s:1: the header has no '%s' column (expected "
                            "epoch,train_loss,train_acc,test_loss,test_acc,...)",
                            path, col_names[k]);
    return CNN_OK;
}

static int parse_row(char *line, const char *path, long long lineno, const int *col, int nf,
                     double *row)
{
    char *s = line;
    int   i = 0;

    while (s) {
        const char *f = next_field(&s);
        for (int k = 0; k < NCOL; k++)
            if (col[k] == i && !parse_num(f, &row[k]))
                return cnn_fail(CNN_EFORMAT, "%s:%lld: %s '%.40s' is not a number", path,
                                lineno, col_names[k], f);
        i++;
    }
    if (i != nf)
        return cnn_fail(CNN_EFORMAT, "%s:%lld: %d fields, the header has %d", path, lineno, i,
                        nf);
    if (!isfinite(row[EPOCH]))
        return cnn_fail(CNN_EFORMAT, "%s:%lld: the epoch is missing", path, lineno);
    return CNN_OK;
}

static int read_csv(const char *path, curves *cv)
{
    FILE     *f    = NULL;
    char     *line = NULL;
    size_t    cap  = 0;
    ssize_t   len;
    long long lineno = 0;
    int       col[NCOL], nf = 0, rc = CNN_OK;
    double    row[NCOL];

    errno = 0;
    if (!(f = fopen(path, "r")))
        return cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = cnn_fail(CNN_EFORMAT, "%s:%lld: a NUL byte in a text file", path, lineno);
            goto out;
        }
        if (lineno == 1)
            rc = parse_header(line, path, col, &nf);
        else if (!blank(line) && (rc = parse_row(line, path, lineno, col, nf, row)) >= 0)
            rc = curves_push(cv, row, path);
        if (rc < 0)
            goto out;
    }
    if (ferror(f)) {
        rc = cnn_fail(CNN_EIO, "%s: read failed after line %lld", path, lineno);
        goto out;
    }
    if (lineno == 0)
        rc = cnn_fail(CNN_EFORMAT, "%s: empty file, expected a header line "
                      "(epoch,train_loss,train_acc,test_loss,test_acc,...)", path);
    else if (cv->n == 0)
        rc = cnn_fail(CNN_EFORMAT, "%s: no epochs after the header", path);
out:
    free(line);
    fclose(f);
    return rc;
}

/* ==== @@AXES ==== */

typedef struct axis {
    double lo, hi;     /* the range shown                  */
    double first, step; /* ticks at first + i * step <= hi */
    int    decimals;   /* digits after the point in labels */
} axis;

/* 1, 2 or 5 times a power of ten, at least x. */
static double nice_step(double x)
{
    double p = pow(10.0, floor(log10(x))), f = x / p;

    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
}

static void set_ticks(axis *a, double step)
{
    a->step     = step;
    a->first    = ceil(a->lo / step - 1e-9) * step;
    a->decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (a->decimals > 9)
        a->decimals = 9;
}

/* A value axis over data in [lo, hi] (NaN: no data), padded by 5% and
 * widened to whole steps, kept inside [floor, ceil] when the data is. */
static void value_axis(axis *a, double lo, double hi, double floor_, double ceil_)
{
    double span, step;

    if (!isfinite(lo) || !isfinite(hi)) {
        lo = floor_;
        hi = isfinite(ceil_) ? ceil_ : floor_ + 1.0;
    }
    if (hi - lo <= 1e-9 * fmax(1.0, fabs(hi))) {
        double d = hi != 0.0 ? fabs(hi) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }
    span = hi - lo;
    if (lo >= floor_ && lo - 0.05 * span < floor_)
        lo = floor_;
    else
        lo -= 0.05 * span;
    if (hi <= ceil_ && hi + 0.05 * span > ceil_)
        hi = ceil_;
    else
        hi += 0.05 * span;
    step  = nice_step((hi - lo) / 5.0);
    a->lo = floor(lo / step + 1e-9) * step;
    a->hi = ceil(hi / step - 1e-9) * step;
    set_ticks(a, step);
}

/* The epoch axis: half an epoch (or 4%) beyond the data each side, ticks
 * on whole epochs when the epochs are whole numbers. */
static void epoch_axis(axis *a, const curves *cv)
{
    double lo = cv->v[EPOCH][0], hi = lo, pad, step;
    bool   whole = true;

    for (int64_t i = 0; i < cv->n; i++) {
        double e = cv->v[EPOCH][i];
        lo       = fmin(lo, e);
        hi       = fmax(hi, e);
        whole    = whole && e == floor(e);
    }
    pad = fmax(0.04 * (hi - lo), whole || hi == lo ? 0.5 : 0.0);
    a->lo = lo - pad;
    a->hi = hi + pad;
    step  = nice_step((a->hi - a->lo) / 6.0);
    if (whole && step < 1.0)
        step = 1.0;
    set_ticks(a, step);
}

/* "0.25" with the axis' decimals, or "%g" with as many digits (3 to 1)
 * as fit in LABEL_MAX characters. */
static void tick_label(char *buf, size_t n, double v, const axis *a)
{
    if (fabs(v) < a->step * 1e-6)
        v = 0.0; /* no "-0.00" */
    snprintf(buf, n, "%.*f", a->decimals, v);
    for (int digits = 3; strlen(buf) > LABEL_MAX && digits >= 1; digits--)
        snprintf(buf, n, "%.*g", digits, v);
}

/* ==== @@PANELS ==== */

typedef struct panel {
    int  x, y; /* top-left of the plot area */
    axis xa, ya;
} panel;

static double px_x(const panel *p, double v)
{
    return p->x + (v - p->xa.lo) / (p->xa.hi - p->xa.lo) * (PLOT_W - 1);
}

static double px_y(const panel *p, double v)
{
    return p->y + (PLOT_H - 1) - (v - p->ya.lo) / (p->ya.hi - p->ya.lo) * (PLOT_H - 1);
}

/* Grid, frame, ticks and their labels. */
static void draw_axes(viz_canvas *c, const panel *p)
{
    char buf[32];

    for (int i = 0;; i++) {
        double v = p->ya.first + i * p->ya.step;
        if (v > p->ya.hi + p->ya.step * 1e-6)
            break;
        int y = (int)lround(px_y(p, v));
        viz_fill(c, p->x, y, PLOT_W, 1, VIZ_GRID);
        viz_fill(c, p->x - TICK, y, TICK, 1, VIZ_INK);
        tick_label(buf, sizeof buf, v, &p->ya);
        viz_text(c, p->x - TICK - 6 - viz_text_w(viz_text_len(buf), FS),
                 y - VIZ_CAP_H * FS / 2, buf, FS, VIZ_INK);
    }
    for (int i = 0;; i++) {
        double v = p->xa.first + i * p->xa.step;
        if (v > p->xa.hi + p->xa.step * 1e-6)
            break;
        int x = (int)lround(px_x(p, v));
        viz_fill(c, x, p->y, 1, PLOT_H, VIZ_GRID);
        viz_fill(c, x, p->y + PLOT_H, 1, TICK, VIZ_INK);
        tick_label(buf, sizeof buf, v, &p->xa);
        viz_text(c, x - viz_text_w(viz_text_len(buf), FS) / 2, p->y + PLOT_H + TICK + 4, buf,
                 FS, VIZ_INK);
    }
    viz_frame(c, p->x - 1, p->y - 1, PLOT_W + 2, PLOT_H + 2, VIZ_INK);
    viz_text(c, p->x + (PLOT_W - viz_text_w(5, FS)) / 2, p->y + PLOT_H + TICK + 4 + L + 6,
             "epoch", FS, VIZ_INK);
}

/* A marker: a disc for train, a square for test, so the two series differ
 * in shape as well as colour. */
static void marker(viz_canvas *c, double x, double y, bool square, viz_rgb col)
{
    if (square)
        viz_fill(c, (int)lround(x) - 3, (int)lround(y) - 3, 7, 7, col);
    else
        viz_disc(c, x, y, 3.6, col);
}

/* One series: a line through the recorded values (over epochs where a
 * value is missing), and markers on every point when there are few of
 * them, or when there is only one. */
static void draw_series(viz_canvas *c, const panel *p, const curves *cv, const double *v,
                        double mul, bool square, viz_rgb col)
{
    int64_t prev = -1, points = 0;

    viz_clip(c, p->x, p->y, PLOT_W, PLOT_H);
    for (int64_t i = 0; i < cv->n; i++) {
        if (!isfinite(v[i]))
            continue;
        if (prev >= 0)
            viz_line(c, px_x(p, cv->v[EPOCH][prev]), px_y(p, v[prev] * mul),
                     px_x(p, cv->v[EPOCH][i]), px_y(p, v[i] * mul), 2.5, col);
        prev = i;
        points++;
    }
    for (int64_t i = 0; i < cv->n && points <= 60; i++)
        if (isfinite(v[i]))
            marker(c, px_x(p, cv->v[EPOCH][i]), px_y(p, v[i] * mul), square, col);
    viz_unclip(c);
}

/* Smallest and largest finite value of two series (NaN if none). */
static void span2(const curves *cv, const double *a, const double *b, double *lo, double *hi)
{
    *lo = *hi = NAN;
    for (int64_t i = 0; i < cv->n; i++)
        for (int k = 0; k < 2; k++) {
            double v = k ? b[i] : a[i];
            if (!isfinite(v))
                continue;
            *lo = isfinite(*lo) ? fmin(*lo, v) : v;
            *hi = isfinite(*hi) ? fmax(*hi, v) : v;
        }
}

/* The panel's title in bold, then a note in grey (left out if the two do
 * not fit over the panel), centred over the plot. */
static void panel_title(viz_canvas *c, const panel *p, const char *title, const char *note)
{
    int tw = viz_text_w(viz_text_len(title), FS) + 1;
    int nw = note[0] ? viz_text_w(viz_text_len(note), FS) + 12 : 0;
    int x, y = p->y - 8 - L;

    if (tw + nw > GUTTER + PLOT_W)
        nw = 0;
    x = p->x + (PLOT_W - tw - nw) / 2;
    if (x < p->x - GUTTER)
        x = p->x - GUTTER;
    viz_text_bold(c, x, y, title, FS, VIZ_INK);
    if (nw)
        viz_text(c, x + tw + 12, y, note, FS, VIZ_SOFT);
}

/* The best test value (lowest loss or highest accuracy) and its epoch. */
static void best_note(char *buf, size_t n, const curves *cv, int k, double mul, bool high)
{
    int64_t best = -1;

    for (int64_t i = 0; i < cv->n; i++)
        if (isfinite(cv->v[k][i]) &&
            (best < 0 || (high ? cv->v[k][i] > cv->v[k][best] : cv->v[k][i] < cv->v[k][best])))
            best = i;
    if (best < 0) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, n, "best test %.4g at epoch %g", cv->v[k][best] * mul, cv->v[EPOCH][best]);
}

/* ==== @@PICTURE ==== */

static int legend_item(viz_canvas *c, int x, int y, const char *text, bool square, viz_rgb col)
{
    int cy = y + VIZ_CAP_H * FS / 2;

    viz_line(c, x, cy, x + 30, cy, 2.5, col);
    marker(c, x + 15, cy, square, col);
    return 30 + 8 + viz_text(c, x + 38, y, text, FS, VIZ_INK);
}

int cnn_viz_curves(const char *csv_path, const char *png_path)
{
    curves      cv = {0};
    viz_canvas  c  = {0};
    panel       lp, ap;
    const char *base;
    char        name[64], title[160], note[64];
    double      lo, hi, mul;
    int         rc;

    if (!csv_path || !png_path)
        return cnn_fail(CNN_EINVAL, "viz curves: NULL %s path", csv_path ? "picture" : "CSV");
    if ((rc = viz_png_available(png_path)) < 0)
        return rc;
    if ((rc = read_csv(csv_path, &cv)) < 0)
        goto out;
    if ((rc = viz_canvas_init(&c, W_TOTAL, H_TOTAL, png_path)) < 0)
        goto out;

    base = strrchr(csv_path, '/');
    viz_fit(name, sizeof name, base ? base + 1 : csv_path, 50);
    snprintf(title, sizeof title, "Training curves: %s, %lld epoch%s", name, (long long)cv.n,
             cv.n == 1 ? "" : "s");
    viz_text_bold(&c, M, M, title, FS, VIZ_INK);
    int x = M + legend_item(&c, M, M + L + 10, "train", false, train_col) + 32;
    legend_item(&c, x, M + L + 10, "test", true, test_col);

    lp.x = M + GUTTER;
    lp.y = M + 3 * L + 10 + 14 + 8;
    epoch_axis(&lp.xa, &cv);
    ap    = lp;
    ap.x  = lp.x + PLOT_W + PANEL_GAP + GUTTER;

    span2(&cv, cv.v[TRAIN_LOSS], cv.v[TEST_LOSS], &lo, &hi);
    value_axis(&lp.ya, lo, hi, isfinite(lo) && lo < 0.0 ? -INFINITY : 0.0, INFINITY);
    /* accuracies are fractions in the trainer's file; values above 1 are
     * taken to be percentages already */
    span2(&cv, cv.v[TRAIN_ACC], cv.v[TEST_ACC], &lo, &hi);
    mul = isfinite(hi) && hi > 1.0 + 1e-9 ? 1.0 : 100.0;
    value_axis(&ap.ya, lo * mul, hi * mul, 0.0, 100.0);

    draw_axes(&c, &lp);
    draw_axes(&c, &ap);
    best_note(note, sizeof note, &cv, TEST_LOSS, 1.0, false);
    panel_title(&c, &lp, "loss", note);
    best_note(note, sizeof note, &cv, TEST_ACC, mul, true);
    panel_title(&c, &ap, "accuracy (%)", note);
    draw_series(&c, &lp, &cv, cv.v[TRAIN_LOSS], 1.0, false, train_col);
    draw_series(&c, &lp, &cv, cv.v[TEST_LOSS], 1.0, true, test_col);
    draw_series(&c, &ap, &cv, cv.v[TRAIN_ACC], mul, false, train_col);
    draw_series(&c, &ap, &cv, cv.v[TEST_ACC], mul, true, test_col);
    rc = viz_png_write(&c, png_path);
out:
    viz_canvas_free(&c);
    curves_free(&cv);
    return rc;
}
