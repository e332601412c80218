/* confusion.c - a confusion matrix as a heat map: each cell coloured by
 * its share of the true class (row-normalized, viridis), its count written
 * in black or white to read on the cell, class names along both axes.
 *
 * Layout (M = 20, L = 20, tw(n) = 12n - 2 the width of n characters; K
 * classes, names cut to NAME_MAX characters, the longest nm characters;
 * d digits in the largest count):
 *
 *   cell = max(CELL_MIN, tw(d) + 14),  grid = K cell,  names = tw(nm)
 *   gx = M + L + 10 + names + 10      (rotated "true", row names)
 *   gy = M + L + 16                   (title)
 *   W  = max(gx + grid + 20 + BAR_W + 6 + tw(4) + M, 2M + tw(title) + 1)
 *   H  = gy + grid + 10 + below + 10 + L + M   (column names, "predicted")
 *   where the column names are written across when they fit in a cell
 *   (names <= cell - 4: below = L) and turned to read upwards otherwise
 *   (below = names).
 */
#include "viz.h"

#include <stdio.h>
#include <string.h>

#define M  VIZ_MARGIN
#define FS VIZ_FONT
#define L  VIZ_LINE

#define NAME_MAX_CHARS 12
#define CELL_MIN       40
#define BAR_W          18
#define MAX_CLASSES    4096

static int digits(int64_t v)
{
    int d = 1;

    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Class i's name as shown: cut to NAME_MAX_CHARS, or the index. */
static void class_name(char *buf, size_t n, const char *const *names, int i)
{
    char num[16];

    if (names && names[i]) {
        viz_fit(buf, n, names[i], NAME_MAX_CHARS);
    } else {
        snprintf(num, sizeof num, "%d", i);
        viz_fit(buf, n, num, NAME_MAX_CHARS);
    }
}

int cnn_viz_confusion(const int64_t *counts, int classes, const char *const *names,
                      const char *png_path)
{
    viz_canvas c = {0};
    char       title[160], buf[NAME_MAX_CHARS + 1];
    int64_t    total = 0, right = 0, top = 0, cell, grid, gx, gy, width, height;
    int        rc, nm = 1;
    bool       across;

    if (!png_path)
        return cnn_fail(CNN_EINVAL, "viz confusion: NULL picture path");
    if (!counts)
        return cnn_fail(CNN_EINVAL, "%s: NULL counts", png_path);
    if ((rc = viz_png_available(png_path)) < 0)
        return rc;
    if (classes < 1 || classes > MAX_CLASSES)
        return cnn_fail(CNN_EINVAL, "%s: %d classes, expected 1 to %d", png_path, classes,
                        MAX_CLASSES);
    for (int64_t i = 0; i < (int64_t)classes * classes; i++) {
        if (counts[i] < 0)
            return cnn_fail(CNN_EINVAL, "%s: count [%lld][%lld] is negative (%lld)", png_path,
                            (long long)(i / classes), (long long)(i % classes),
                            (long long)counts[i]);
        if (counts[i] > INT64_MAX - total)
            return cnn_fail(CNN_EOVERFLOW, "%s: the counts add up to more than 2^63", png_path);
        total += counts[i];
        top = counts[i] > top ? counts[i] : top;
        if (i / classes == i % classes)
            right += counts[i];
    }
    for (int i = 0; i < classes; i++) {
        class_name(buf, sizeof buf, names, i);
        nm = viz_text_len(buf) > nm ? viz_text_len(buf) : nm;
    }

    if (total > 0)
        snprintf(title, sizeof title, "Confusion matrix: %lld samples, %.2f%% correct",
                 (long long)total, 100.0 * (double)right / (double)total);
    else
        snprintf(title, sizeof title, "Confusion matrix: no samples");
    cell = viz_text_w(digits(top), FS) + 14;
    cell = cell > CELL_MIN ? cell : CELL_MIN;
    grid = classes * cell;
    int names_w = viz_text_w(nm, FS);
    gx     = M + L + 10 + names_w + 10;
    gy     = M + L + 16;
    width  = gx + grid + 20 + BAR_W + 6 + viz_text_w(4, FS) + M;
    width  = width > 2 * M + viz_text_w(viz_text_len(title), FS) + 1
                 ? width
                 : 2 * M + viz_text_w(viz_text_len(title), FS) + 1;
    across = names_w <= cell - 4;
    height = gy + grid + 10 + (across ? L : names_w) + 10 + L + M;
    if ((rc = viz_canvas_init(&c, width, height, png_path)) < 0)
        return rc;

    viz_text_bold(&c, M, M, title, FS, VIZ_INK);
    for (int i = 0; i < classes; i++) {
        int64_t row = 0;
        for (int j = 0; j < classes; j++)
            row += counts[(int64_t)i * classes + j];
        for (int j = 0; j < classes; j++) {
            int64_t n  = counts[(int64_t)i * classes + j];
            viz_rgb bg = viz_viridis(row > 0 ? (double)n / (double)row : 0.0);
            int     x  = (int)(gx + j * cell), y = (int)(gy + i * cell);
            char    num[24];
            /* cells of cell - 1 pixels: a white line between neighbours */
            viz_fill(&c, x, y, (int)cell - 1, (int)cell - 1, bg);
            snprintf(num, sizeof num, "%lld", (long long)n);
            int tw = viz_text_w(viz_text_len(num), FS), mid = ((int)cell - 1) / 2;
            viz_text(&c, x + mid - tw / 2, y + mid - VIZ_CAP_H * FS / 2, num, FS,
                     viz_contrast(bg));
        }
    }

    /* class names: rows right-aligned before the grid; columns below it,
     * across and centred, or turned to read upwards with their ends
     * towards the grid */
    for (int i = 0; i < classes; i++) {
        int mid = (int)(i * cell) + ((int)cell - 1) / 2, tw;
        class_name(buf, sizeof buf, names, i);
        tw = viz_text_w(viz_text_len(buf), FS);
        viz_text(&c, (int)gx - 10 - tw, (int)gy + mid - VIZ_CAP_H * FS / 2, buf, FS, VIZ_INK);
        if (across)
            viz_text(&c, (int)gx + mid - tw / 2, (int)(gy + grid) + 10, buf, FS, VIZ_INK);
        else
            viz_text_up(&c, (int)gx + mid - VIZ_CAP_H * FS / 2, (int)(gy + grid) + 10, buf, FS,
                        VIZ_INK);
    }
    viz_text_up(&c, M, (int)(gy + (grid - viz_text_w(4, FS)) / 2), "true", FS, VIZ_INK);
    viz_text(&c, (int)(gx + (grid - viz_text_w(9, FS)) / 2), (int)(height - M - L) + 4,
             "predicted", FS, VIZ_INK);

    /* the colour bar: share of the row, 0% at the bottom */
    int bx = (int)(gx + grid + 20), bh = (int)grid - 1;
    for (int r = 0; r < bh; r++)
        viz_fill(&c, bx, (int)gy + r, BAR_W, 1, viz_viridis(1.0 - r / (bh > 1 ? bh - 1.0 : 1.0)));
    viz_frame(&c, bx - 1, (int)gy - 1, BAR_W + 2, bh + 2, VIZ_SOFT);
    for (int t = 0; t <= 2; t++) {
        static const char *const lab[3] = {"0%", "50%", "100%"};
        if (t == 1 && bh < 60)
            continue;
        int y = (int)gy + (bh - 1) - (bh - 1) * t / 2;
        viz_fill(&c, bx + BAR_W, y, 4, 1, VIZ_SOFT);
        viz_text(&c, bx + BAR_W + 6, y - VIZ_CAP_H * FS / 2, lab[t], FS, VIZ_INK);
    }
    rc = viz_png_write(&c, png_path);
    viz_canvas_free(&c);
    return rc;
}
