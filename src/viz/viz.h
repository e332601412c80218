/* viz.h - what the picture writers share: an RGB canvas with clipped and
 * anti-aliased drawing, a built-in bitmap font, colour maps, and the PNG
 * writer. Private to src/viz. */
#ifndef CNN_VIZ_H
#define CNN_VIZ_H

#include "../core/core.h"

#include <stddef.h>
#include <stdint.h>

/* ==== @@CANVAS ==== */

/* Every picture is at most this many pixels a side and VIZ_MAX_PIXELS in
 * all (192 MiB of RGB), so an absurd request is an error, not an attempt. */
#define VIZ_MAX_SIDE   16384
#define VIZ_MAX_PIXELS (64ll << 20)

typedef struct viz_rgb {
    uint8_t r, g, b;
} viz_rgb;

typedef struct viz_canvas {
    int      w, h;
    uint8_t *px;              /* [h, w, 3] RGB, row-major          */
    int      cx0, cy0, cx1, cy1; /* drawing is clipped to [cx0, cx1) x [cy0, cy1) */
} viz_canvas;

#define VIZ_WHITE ((viz_rgb){255, 255, 255})
#define VIZ_BLACK ((viz_rgb){0, 0, 0})
#define VIZ_INK   ((viz_rgb){34, 34, 34})    /* text and frames          */
#define VIZ_SOFT  ((viz_rgb){110, 110, 110}) /* secondary text           */
#define VIZ_GRID  ((viz_rgb){228, 228, 228}) /* grid lines               */

/* A w x h canvas filled with white. The size is checked against the limits
 * above; errors are prefixed with `path` (the picture being made). */
int  viz_canvas_init(viz_canvas *c, int64_t w, int64_t h, const char *path);
void viz_canvas_free(viz_canvas *c);

/* Restricts drawing to a rectangle (intersected with the canvas), or lifts
 * the restriction. */
void viz_clip(viz_canvas *c, int x, int y, int w, int h);
void viz_unclip(viz_canvas *c);

void viz_pixel(viz_canvas *c, int x, int y, viz_rgb col);
/* Mixes col into the pixel with weight a in [0, 1]. */
void viz_blend(viz_canvas *c, int x, int y, viz_rgb col, double a);
void viz_fill(viz_canvas *c, int x, int y, int w, int h, viz_rgb col);
/* A 1-pixel outline of the rectangle [x, x+w) x [y, y+h). */
void viz_frame(viz_canvas *c, int x, int y, int w, int h, viz_rgb col);
/* Anti-aliased line of the given width between pixel centres. */
void viz_line(viz_canvas *c, double x0, double y0, double x1, double y1, double width,
              viz_rgb col);
/* Anti-aliased filled disc. */
void viz_disc(viz_canvas *c, double x, double y, double r, viz_rgb col);

/* ==== @@TEXT ==== */

/* The font: 5 x 9 pixel glyphs (capitals 7 high, 2 rows of descender) on a
 * 6-pixel advance, for printable ASCII; anything else draws as '?'. All
 * sizes scale with `s` (pixels per font pixel). */
#define VIZ_GLYPH_W 5
#define VIZ_GLYPH_H 9
#define VIZ_ADVANCE 6
#define VIZ_CAP_H   7
#define VIZ_LINE_H  10

/* Every picture: a white margin, text at twice the font's size. */
#define VIZ_MARGIN 20
#define VIZ_FONT   2
#define VIZ_LINE   (VIZ_LINE_H * VIZ_FONT) /* 20 pixels from line to line */

/* Width in pixels of n characters at scale s (no trailing gap). */
static inline int viz_text_w(int n, int s) { return n > 0 ? n * VIZ_ADVANCE * s - s : 0; }

/* Characters drawn for s (the length of the string: the font is ASCII). */
int viz_text_len(const char *s);

/* Draws s with the top of its capitals at (x, y); returns the width. */
int viz_text(viz_canvas *c, int x, int y, const char *s, int scale, viz_rgb col);
/* The same, bold: struck twice, half a font pixel apart (so max(1, s/2)
 * pixels wider than viz_text_w); returns the width. */
int viz_text_bold(viz_canvas *c, int x, int y, const char *s, int scale, viz_rgb col);
/* Text turned 90 degrees counter-clockwise (reading upwards), in the box
 * [x, x + VIZ_GLYPH_H*scale) x [y, y + width): the first character at the
 * bottom, the tops of the capitals facing left. */
void viz_text_up(viz_canvas *c, int x, int y, const char *s, int scale, viz_rgb col);

/* Copies src into dst (size n) as printable ASCII (every other code point
 * becomes '?'), shortened to at most max_chars characters, the last two
 * then being "..". NULL src gives "". */
void viz_fit(char *dst, size_t n, const char *src, int max_chars);

/* ==== @@COLOURS ==== */

/* Perceptual sequential map, dark purple (0) through teal to yellow (1),
 * interpolated between samples of matplotlib's viridis. t is clamped;
 * NaN gives the colour of 0. */
viz_rgb viz_viridis(double t);
/* The colour of t = 1 and of t = 0. */
#define VIZ_VIRIDIS_TOP    ((viz_rgb){253, 231, 37})
#define VIZ_VIRIDIS_BOTTOM ((viz_rgb){68, 1, 84})

/* Grey level v in [0, 1] (clamped; NaN gives black). */
viz_rgb viz_grey(double v);

/* Black or white, whichever reads better on `bg`. */
viz_rgb viz_contrast(viz_rgb bg);

/* ==== @@PNG ==== */

/* 0 when the build can write PNG files; otherwise CNN_EIO naming `path`
 * ("this build has no image library"). Called first by every picture
 * function, so a build without one fails before doing any work. */
int viz_png_available(const char *path);

/* Writes the canvas as an 8-bit RGB PNG at `path`; CNN_EIO naming the path
 * if it cannot be opened or written (a partial file is removed). */
int viz_png_write(const viz_canvas *c, const char *path);

#endif
