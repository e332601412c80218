/* test_viz.c - the pictures: each of the four is written into a fresh
 * directory, decoded again with stb_image and checked for its exact size
 * (from the layout formulas in the src/viz files), for more than one colour, and
 * the heat map for its colours; then every error path (missing and
 * malformed CSV, wrong nodes, no forward pass, unwritable paths). A build
 * without stb checks that every function says it cannot write PNG. */
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CNN_HAVE_STB
#include <stb/stb_image.h>
#endif

/* ==== @@HELPERS ==== */

static char dir[64]; /* mkdtemp'd, emptied and removed at the end */
static char paths[32][128];
static int  n_paths;

/* A path in the test directory, remembered for the clean-up. */
static const char *tmp_path(const char *name)
{
    char *p = paths[n_paths < 31 ? n_paths++ : 31];

    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

static const char *write_file(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE       *f = fopen(p, "w");

    T_TRUE(f != NULL);
    T_TRUE(fputs(text, f) >= 0);
    T_TRUE(fclose(f) == 0);
    return p;
}

/* The last error names `what` (a file, a node). */
#define T_NAMES(what)                                                                            \
    do {                                                                                         \
        if (!strstr(cnn_last_error(), (what)))                                                   \
            T_FAILED("message \"%s\" does not name '%s'", cnn_last_error(), (what));             \
    } while (0)

/* input 3x16x16 -> conv1 (8 filters 3x3) -> relu1, initialized, and, when
 * `run`, planned for 2 samples of smooth test patterns and run forward. */
static cnn_graph *tiny(bool run, int *x, int *conv, int *relu)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(8, 3, 3);
    float          *in;

    T_TRUE(g != NULL);
    T_OK(*x = cnn_input(g, 3, 16, 16, "image"));
    T_OK(*conv = cnn_conv2d(g, *x, &a, "conv1"));
    T_OK(*relu = cnn_relu(g, *conv, "relu1"));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 42));
    if (!run)
        return g;
    T_OK(cnn_graph_plan(g, 2));
    T_TRUE((in = cnn_graph_data(g, *x)) != NULL);
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 16; i++)
                for (int j = 0; j < 16; j++)
                    in[((s * 3 + c) * 16 + i) * 16 + j] =
                        c == 0 ? i / 15.0f : c == 1 ? j / 15.0f : (float)((i - 8) * (j - 8)) / 64;
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    return g;
}

#ifdef CNN_HAVE_STB

/* Width in pixels of the text s at the pictures' font scale 2:
 * 12 pixels a character, less the gap after the last. */
static int tw(const char *s) { return (int)strlen(s) * 12 - 2; }

static int imax(int a, int b) { return a > b ? a : b; }

typedef struct image {
    int            w, h;
    unsigned char *px; /* [h, w, 3] */
} image;

/* Decodes the PNG at path as RGB and checks it is w x h with at least
 * `colours` distinct colours (counted up to that many). */
static image load(const char *path, int w, int h, int colours)
{
    image im = {0, 0, NULL};
    int   n, seen = 0;
    unsigned char found[64][3];

    im.px = stbi_load(path, &im.w, &im.h, &n, 3);
    if (!im.px)
        T_FAILED("%s does not decode: %s", path, stbi_failure_reason());
    if (im.w != w || im.h != h) {
        stbi_image_free(im.px);
        T_FAILED("%s is %d x %d, expected %d x %d", path, im.w, im.h, w, h);
    }
    for (int64_t i = 0; i < (int64_t)w * h && seen < colours; i++) {
        const unsigned char *p = im.px + i * 3;
        int                  k = 0;
        while (k < seen && memcmp(found[k], p, 3) != 0)
            k++;
        if (k == seen)
            memcpy(found[seen++], p, 3);
    }
    if (seen < colours) {
        stbi_image_free(im.px);
        T_FAILED("%s has %d colours, expected at least %d", path, seen, colours);
    }
    return im;
}

static const unsigned char *at(const image *im, int x, int y)
{
    return im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
}

/* Whether the rectangle holds a pixel of exactly colour (r, g, b). */
static bool has_colour(const image *im, int x, int y, int w, int h, int r, int g, int b)
{
    for (int yy = y; yy < y + h; yy++)
        for (int xx = x; xx < x + w; xx++) {
            const unsigned char *p = at(im, xx, yy);
            if (p[0] == r && p[1] == g && p[2] == b)
                return true;
        }
    return false;
}

/* ==== @@PICTURES ==== */

/* filters: cols = ceil(sqrt(OC)), rows = ceil(OC / cols), grid = cols *
 * (KW*scale + 1) + 1 by rows * (KH*scale + 1) + 1, W = 40 + max(grid_w,
 * tw(title) + 1), H = 20 + 20 + 10 + grid_h + 20. */
static void filters_picture(void)
{
    int         x, conv, relu;
    cnn_graph  *g = tiny(false, &x, &conv, &relu);
    const char *p = tmp_path("filters.png");
    image       im;

    /* 8 filters 3x3 at 40 pixels a weight: a 3 x 3 grid of 120-pixel tiles */
    T_OK(cnn_viz_filters(g, conv, 40, p));
    im = load(p, 40 + imax(3 * 121 + 1, tw("conv1: 8 filters 3x3 (RGB)") + 1),
              20 + 20 + 10 + (3 * 121 + 1) + 20, 16);
    stbi_image_free(im.px);

    /* a small scale: the title is the widest thing */
    T_OK(cnn_viz_filters(g, conv, 2, p));
    im = load(p, 40 + tw("conv1: 8 filters 3x3 (RGB)") + 1, 20 + 20 + 10 + (3 * 7 + 1) + 20, 8);
    stbi_image_free(im.px);
    cnn_graph_free(g);
}

/* One input channel (grey), many (mean), and a filter of equal weights:
 * no division by zero, the tile is mid grey. */
static void filters_grey_and_flat(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 5, 5);
    const char     *p = tmp_path("filters_grey.png");
    float          *w;
    int             x, c1, c2;
    image           im;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 1, 12, 12, "in"));
    T_OK(c1 = cnn_conv2d(g, x, &a, "c1"));
    a = cnn_conv2d_defaults(3, 3, 3);
    T_OK(c2 = cnn_conv2d(g, c1, &a, "c2"));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_UNIFORM, 3));
    T_OK(cnn_node_param(g, c1, 0, &w, NULL, NULL, NULL));
    for (int i = 0; i < 25; i++)
        w[i] = 0.25f; /* filter 0: all weights equal */

    /* 4 filters 5x5 at 10: 2 x 2 tiles of 50 pixels */
    T_OK(cnn_viz_filters(g, c1, 10, p));
    im = load(p, 40 + imax(2 * 51 + 1, tw("c1: 4 filters 5x5") + 1), 20 + 20 + 10 + 2 * 51 + 1 + 20,
              3);
    {
        /* the grid is centred: tile 0 starts one pixel in */
        int gx = (im.w - (2 * 51 + 1)) / 2, gy = 20 + 20 + 10;
        const unsigned char *c = at(&im, gx + 1 + 25, gy + 1 + 25);
        bool grey = c[0] == 128 && c[1] == 128 && c[2] == 128;
        stbi_image_free(im.px);
        if (!grey)
            T_FAILED("the flat filter's tile is (%d, %d, %d), expected mid grey", c[0], c[1], c[2]);
    }

    /* 3 filters over 4 channels, shown as their mean */
    T_OK(cnn_viz_filters(g, c2, 10, p));
    im = load(p, 40 + imax(2 * 31 + 1, tw("c2: 3 filters 3x3 (mean of 4 channels)") + 1),
              20 + 20 + 10 + 2 * 31 + 1 + 20, 3);
    stbi_image_free(im.px);
    cnn_graph_free(g);
}

/* feature maps: k0 = ceil(112/16) = 7, k = ceil(112/14) = 8, cells 112 x
 * 112; panels = maps + 1 in cols = min(panels, max(8, ceil(sqrt(panels))));
 * W = max(40 + cols 112 + (cols-1) 12, 40 + tw(title) + 1, 40 + sub_w),
 * H = 20 + 20 + 6 + 20 + 14 + rows (20 + 4 + 112) + (rows-1) 12 + 20. */
static void feature_maps_picture(void)
{
    static const char sub[] = "sample 0, each map scaled to its own range:  min";
    int               x, conv, relu;
    cnn_graph        *g     = tiny(true, &x, &conv, &relu);
    const char       *p     = tmp_path("maps.png");
    int               sub_w = tw(sub) + 8 + 100 + 8 + tw("max");
    image             im;

    T_OK(cnn_viz_feature_maps(g, x, relu, 6, p)); /* 7 panels in one row */
    im = load(p,
              imax(40 + 7 * 112 + 6 * 12,
                   imax(40 + tw("Feature maps of relu1: 6 of 8 channels, 14x14") + 1, 40 + sub_w)),
              20 + 20 + 6 + 20 + 14 + (20 + 4 + 112) + 20, 32);
    stbi_image_free(im.px);

    T_OK(cnn_viz_feature_maps(g, x, conv, 100, p)); /* all 8: 9 panels, 8 + 1 */
    im = load(p,
              imax(40 + 8 * 112 + 7 * 12,
                   imax(40 + tw("Feature maps of conv1: 8 of 8 channels, 14x14") + 1, 40 + sub_w)),
              20 + 20 + 6 + 20 + 14 + 2 * (20 + 4 + 112) + 12 + 20, 32);
    stbi_image_free(im.px);
    cnn_graph_free(g);
}

/* curves: a fixed layout, 2*20 + 2*(110 + 460) + 40 + 24 wide and
 * 2*20 + 5*20 + 10 + 14 + 8 + 320 + 6 + 4 + 6 high. */
static void curves_picture(void)
{
    const char *csv = write_file("metrics.csv",
                                 "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n"
                                 "1,1.20,0.61,1.00,0.66,0.1,3.0\n"
                                 "2,0.80,0.74,0.75,0.76,0.1,3.1\n"
                                 "3,0.61,0.80,0.66,0.79,0.1,2.9\r\n" /* CRLF is fine */
                                 "\n"                                 /* so is a blank line */
                                 "4, 0.52 ,0.83,0.63,0.80,0.01,3.0\n");
    const char *one = write_file("one.csv", "epoch,test_acc,train_acc,train_loss,test_loss\n"
                                            "1,0.8,0.7,0.9,1.0\n");
    const char *p   = tmp_path("curves.png");
    image       im;

    T_OK(cnn_viz_curves(csv, p));
    im = load(p, 1244, 508, 16);
    /* both series are drawn: their colours are in the plots */
    T_TRUE(has_colour(&im, 130, 112, 460, 320, 31, 119, 180));  /* train, loss panel */
    T_TRUE(has_colour(&im, 740, 112, 460, 320, 230, 97, 1));    /* test, accuracy     */
    stbi_image_free(im.px);

    /* one epoch (columns in another order): still a point of each */
    T_OK(cnn_viz_curves(one, p));
    im = load(p, 1244, 508, 8);
    T_TRUE(has_colour(&im, 130, 112, 460, 320, 31, 119, 180));
    T_TRUE(has_colour(&im, 130, 112, 460, 320, 230, 97, 1));
    stbi_image_free(im.px);
}

/* confusion: cell = max(40, tw(digits) + 14), names cut to 12 characters
 * (names = tw(12) = 142 here), gx = 20 + 20 + 10 + names + 10, gy = 56,
 * W = max(gx + K cell + 20 + 18 + 6 + tw(4) + 20, 40 + tw(title) + 1),
 * H = gy + K cell + 10 + below + 10 + 20 + 20, where below = names when
 * the column names are turned, 20 when they fit across a cell. */
static void confusion_picture(void)
{
    static const int64_t     counts[9] = {50, 0, 0, 3, 40, 7, 0, 5, 45};
    static const char *const names[3]  = {"cat", "dog", "a-very-long-class-name"};
    const char              *p         = tmp_path("confusion.png");
    const char              *title     = "Confusion matrix: 150 samples, 90.00% correct";
    int                      gx = 20 + 20 + 10 + tw("a-very-lon..") + 10, gy = 56, cell = 40;
    image                    im;

    T_OK(cnn_viz_confusion(counts, 3, names, p));
    im = load(p, imax(gx + 3 * cell + 20 + 18 + 6 + tw("100%") + 20, 40 + tw(title) + 1),
              gy + 3 * cell + 10 + tw("a-very-lon..") + 10 + 20 + 20, 16);
    {
        /* the largest count (50, the whole of its row) is the map's top
         * colour at the cell's centre: its two digits leave the centre
         * column free */
        const unsigned char *c    = at(&im, gx + (cell - 1) / 2, gy + (cell - 1) / 2);
        bool top                  = c[0] == 253 && c[1] == 231 && c[2] == 37;
        /* its count is written in black on the yellow, a zero in white on
         * the dark purple beside it */
        bool black = has_colour(&im, gx, gy, cell - 1, cell - 1, 0, 0, 0);
        bool white = has_colour(&im, gx + cell, gy, cell - 1, cell - 1, 255, 255, 255);
        bool dark  = at(&im, gx + cell + 2, gy + 2)[0] == 68; /* viridis(0) = (68, 1, 84) */
        stbi_image_free(im.px);
        if (!top)
            T_FAILED("the top cell's centre is (%d, %d, %d), expected (253, 231, 37)", c[0], c[1],
                     c[2]);
        T_TRUE(black && white && dark);
    }

    /* no names: the indices; 4-digit counts widen the cells to tw(4) + 14 */
    {
        static const int64_t big[4] = {1234, 10, 0, 999};
        gx   = 20 + 20 + 10 + tw("0") + 10;
        cell = tw("1234") + 14;
        T_OK(cnn_viz_confusion(big, 2, NULL, p));
        title = "Confusion matrix: 2243 samples, 99.55% correct";
        im    = load(p, imax(gx + 2 * cell + 20 + 18 + 6 + tw("100%") + 20, 40 + tw(title) + 1),
                     gy + 2 * cell + 10 + 20 + 10 + 20 + 20, 8); /* names across */
        stbi_image_free(im.px);
    }
}

/* ==== @@ERRORS ==== */

#define HEADER "epoch,train_loss,train_acc,test_loss,test_acc\n"

static void curves_errors(void)
{
    const char *p       = tmp_path("bad.png");
    const char *missing = tmp_path("missing.csv");
    const char *word    = write_file("word.csv", "epoch,train_loss,train_acc,test_loss,test_acc\n"
                                                 "1,0.5,0.8,0.6,0.7\n"
                                                 "2,0.4,high,0.5,0.8\n");
    const char *short_  = write_file("short.csv", "epoch,train_loss,train_acc,test_loss,test_acc\n"
                                                  "1,0.5,0.8,0.6,0.7\n"
                                                  "\n"
                                                  "3,0.4,0.8\n");
    const char *nocol   = write_file("nocol.csv", "epoch,train_loss,train_acc,test_loss\n"
                                                  "1,0.5,0.8,0.6\n");
    const char *empty   = write_file("empty.csv", "");
    const char *noepoch = write_file("noepoch.csv", HEADER ",0.5,0.8,0.6,0.7\n");
    const char *header  = write_file("header.csv", HEADER);

    T_ERR(cnn_viz_curves(missing, p), CNN_EIO);
    T_NAMES(missing);
    T_ERR(cnn_viz_curves(word, p), CNN_EFORMAT);
    T_NAMES("word.csv:3:");
    T_NAMES("train_acc");
    T_ERR(cnn_viz_curves(short_, p), CNN_EFORMAT);
    T_NAMES("short.csv:4:");
    T_ERR(cnn_viz_curves(nocol, p), CNN_EFORMAT);
    T_NAMES("nocol.csv:1:");
    T_NAMES("test_acc");
    T_ERR(cnn_viz_curves(empty, p), CNN_EFORMAT);
    T_NAMES("empty.csv");
    T_ERR(cnn_viz_curves(noepoch, p), CNN_EFORMAT);
    T_NAMES("noepoch.csv:2:");
    T_ERR(cnn_viz_curves(header, p), CNN_EFORMAT);
    T_NAMES("header.csv");
    T_TRUE(access(p, F_OK) != 0); /* nothing written on failure */
    T_ERR(cnn_viz_curves(NULL, p), CNN_EINVAL);
    T_ERR(cnn_viz_curves(word, NULL), CNN_EINVAL);
}

static void graph_errors(void)
{
    int             x, conv, relu, fl;
    cnn_graph      *g = tiny(false, &x, &conv, &relu);
    const char     *p = tmp_path("bad.png");

    /* filters of a node that is not a convolution, or of no node */
    T_ERR(cnn_viz_filters(g, relu, 4, p), CNN_EINVAL);
    T_NAMES("relu1");
    T_NAMES(p);
    T_ERR(cnn_viz_filters(g, 99, 4, p), CNN_EINVAL);
    T_ERR(cnn_viz_filters(g, conv, 0, p), CNN_EINVAL);
    T_ERR(cnn_viz_filters(NULL, conv, 4, p), CNN_EINVAL);

    /* feature maps before a plan, then planned but not run */
    T_ERR(cnn_viz_feature_maps(g, x, relu, 4, p), CNN_ESTATE);
    T_NAMES("relu1");
    T_NAMES(p);
    T_OK(cnn_graph_plan(g, 1));
    T_ERR(cnn_viz_feature_maps(g, x, relu, 4, p), CNN_ESTATE);
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_ERR(cnn_viz_feature_maps(g, x, relu, 0, p), CNN_EINVAL);
    T_ERR(cnn_viz_feature_maps(g, x, 42, 4, p), CNN_EINVAL);
    T_TRUE(access(p, F_OK) != 0);

    /* a node without C x H x W output */
    T_OK(fl = cnn_flatten(g, relu, "flat"));
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_ERR(cnn_viz_feature_maps(g, x, fl, 4, p), CNN_ESHAPE);
    T_NAMES("flat");
    T_ERR(cnn_viz_feature_maps(g, fl, relu, 4, p), CNN_ESHAPE);
    T_NAMES("flat");
    cnn_graph_free(g);
}

static void confusion_errors(void)
{
    static const int64_t neg[4] = {3, -1, 0, 2};
    static const int64_t big[4] = {INT64_MAX, 1, 0, 0};
    const char          *p      = tmp_path("bad.png");

    T_ERR(cnn_viz_confusion(neg, 2, NULL, p), CNN_EINVAL);
    T_NAMES(p);
    T_ERR(cnn_viz_confusion(big, 2, NULL, p), CNN_EOVERFLOW);
    T_ERR(cnn_viz_confusion(neg, 0, NULL, p), CNN_EINVAL);
    T_ERR(cnn_viz_confusion(NULL, 2, NULL, p), CNN_EINVAL);
    T_ERR(cnn_viz_confusion(neg, 2, NULL, NULL), CNN_EINVAL);
}

/* Every picture to a directory that does not exist: CNN_EIO naming it. */
static void unwritable_path(void)
{
    static const int64_t counts[4] = {1, 2, 3, 4};
    const char          *bad       = "/nonexistent/x.png";
    const char          *csv       = write_file("ok.csv", "epoch,train_loss,train_acc,test_loss,"
                                                          "test_acc\n1,0.5,0.8,0.6,0.7\n");
    int                  x, conv, relu;
    cnn_graph           *g = tiny(true, &x, &conv, &relu);

    T_ERR(cnn_viz_filters(g, conv, 4, bad), CNN_EIO);
    T_NAMES(bad);
    T_ERR(cnn_viz_feature_maps(g, x, relu, 4, bad), CNN_EIO);
    T_NAMES(bad);
    T_ERR(cnn_viz_curves(csv, bad), CNN_EIO);
    T_NAMES(bad);
    T_ERR(cnn_viz_confusion(counts, 2, NULL, bad), CNN_EIO);
    T_NAMES(bad);
    cnn_graph_free(g);
}

#else /* no image library in this build */

static void no_image_library(void)
{
    static const int64_t counts[4] = {1, 2, 3, 4};
    const char          *p         = tmp_path("x.png");
    const char          *csv       = write_file("ok.csv", "epoch,train_loss,train_acc,test_loss,"
                                                          "test_acc\n1,0.5,0.8,0.6,0.7\n");
    int                  x, conv, relu;
    cnn_graph           *g = tiny(true, &x, &conv, &relu);

    T_ERR(cnn_viz_filters(g, conv, 4, p), CNN_EIO);
    T_NAMES("no image library");
    T_ERR(cnn_viz_feature_maps(g, x, relu, 4, p), CNN_EIO);
    T_NAMES("no image library");
    T_ERR(cnn_viz_curves(csv, p), CNN_EIO);
    T_NAMES("no image library");
    T_ERR(cnn_viz_confusion(counts, 2, NULL, p), CNN_EIO);
    T_NAMES("no image library");
    T_TRUE(access(p, F_OK) != 0);
    cnn_graph_free(g);
}

#endif

int main(void)
{
    int rc;

    snprintf(dir, sizeof dir, "%s", "/tmp/cnn_test_viz_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("viz: cannot make a temporary directory\nviz: 0 passed, 1 failed\n");
        return 1;
    }
#ifdef CNN_HAVE_STB
    T_RUN(filters_picture);
    T_RUN(filters_grey_and_flat);
    T_RUN(feature_maps_picture);
    T_RUN(curves_picture);
    T_RUN(confusion_picture);
    T_RUN(curves_errors);
    T_RUN(graph_errors);
    T_RUN(confusion_errors);
    T_RUN(unwritable_path);
#else
    T_RUN(no_image_library);
#endif
    rc = t_done("viz");
    for (int i = 0; i < n_paths; i++)
        remove(paths[i]);
    rmdir(dir);
    return rc;
}
