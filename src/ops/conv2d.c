/* conv2d.c - 2-D convolution: attributes, shape inference, forward and
 * backward through im2col + GEMM, several images per GEMM when the output
 * plane is small; or, for a stride of 1 across rows, the forward and the
 * input gradient by cnn_direct, which reads the input rows themselves. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

cnn_conv2d_attr cnn_conv2d_defaults(int out_channels, int kh, int kw)
{
    cnn_conv2d_attr a = {
        .out_channels = out_channels, .kernel = {kh, kw}, .stride = {1, 1},
        .pad = {0, 0, 0, 0}, .dilation = {1, 1}, .groups = 1, .bias = true,
    };
    return a;
}

void cnn_conv2d_pad_valid(cnn_conv2d_attr *a)
{
    if (a)
        memset(a->pad, 0, sizeof a->pad);
}

int cnn_conv2d_pad_same(cnn_conv2d_attr *a, int in_h, int in_w)
{
    int in[2] = {in_h, in_w};

    if (!a || in_h < 1 || in_w < 1 || in_h > (1 << 24) || in_w > (1 << 24))
        return cnn_fail(CNN_EINVAL, "conv2d pad same: NULL attributes or input size %dx%d (expected "
                        "1 to 2^24 each)", in_h, in_w);
    for (int d = 0; d < 2; d++) {
        int s = a->stride[d], k = a->kernel[d], dil = a->dilation[d];
        if (s < 1 || k < 1 || dil < 1)
            return cnn_fail(CNN_EINVAL, "conv2d pad same: kernel, stride and dilation must be >= 1");
        int64_t out   = ((int64_t)in[d] + s - 1) / s;
        int64_t total = (out - 1) * s + (int64_t)(k - 1) * dil + 1 - in[d];
        if (total < 0)
            total = 0;
        if (total > 2 * (1 << 20))
            return cnn_fail(CNN_EINVAL, "conv2d pad same: a total pad of %lld is needed, more than "
                            "2^21", (long long)total);
        a->pad[d]     = (int)(total / 2);         /* top / left     */
        a->pad[d + 2] = (int)(total - total / 2); /* bottom / right */
    }
    return CNN_OK;
}

/* Output length of one axis: floor((W + Pb + Pe - D*(F-1) - 1) / S) + 1,
 * or <= 0 when the window does not fit. */
static int64_t out_len(int64_t w, int pb, int pe, int f, int d, int s)
{
    int64_t span = w + pb + pe - (int64_t)d * (f - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

static int conv_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node        *x = &g->nodes[n->in[0]];
    const cnn_conv2d_attr *a = &n->a.conv;
    char                   xs[64];
    int64_t                c, oh, ow;

    if (x->shape.ndim != 3)
        return cnn_fail(CNN_ESHAPE, "conv2d '%s': input '%s' has shape %s, expected C x H x W",
                        n->name, x->name, cnn_shape_str(&x->shape, xs, sizeof xs));
    c = x->shape.dim[0];
    if (c % a->groups != 0 || a->out_channels % a->groups != 0)
        return cnn_fail(CNN_ESHAPE,
                        "conv2d '%s': input has %lld channels and output %d; both must divide "
                        "by groups = %d",
                        n->name, (long long)c, a->out_channels, a->groups);
    if (c / a->groups * a->kernel[0] * (int64_t)a->kernel[1] > INT32_MAX)
        return cnn_fail(CNN_EOVERFLOW, "conv2d '%s': %lld input channels per group with a %dx%d "
                        "kernel is too large", n->name, (long long)(c / a->groups), a->kernel[0],
                        a->kernel[1]);
    oh = out_len(x->shape.dim[1], a->pad[0], a->pad[2], a->kernel[0], a->dilation[0], a->stride[0]);
    ow = out_len(x->shape.dim[2], a->pad[1], a->pad[3], a->kernel[1], a->dilation[1], a->stride[1]);
    if (oh < 1 || ow < 1)
        return cnn_fail(CNN_ESHAPE,
                        "conv2d '%s': input %s with kernel %dx%d, dilation %dx%d, pads "
                        "(%d,%d,%d,%d) gives an output below 1x1",
                        n->name, cnn_shape_str(&x->shape, xs, sizeof xs), a->kernel[0],
                        a->kernel[1], a->dilation[0], a->dilation[1], a->pad[0], a->pad[1],
                        a->pad[2], a->pad[3]);
    n->shape = (cnn_shape){3, {a->out_channels, oh, ow}};
    n->n_param = a->bias ? 2 : 1;
    n->param_shape[0] = (cnn_shape){4, {a->out_channels, c / a->groups, a->kernel[0], a->kernel[1]}};
    n->param_shape[1] = (cnn_shape){1, {a->out_channels}};
    return CNN_OK;
}

static cnn_win2d win_of(const cnn_graph *g, const cnn_node *n)
{
    const cnn_node        *x = &g->nodes[n->in[0]];
    const cnn_conv2d_attr *a = &n->a.conv;
    cnn_win2d              w = {
        .h = (int)x->shape.dim[1], .w = (int)x->shape.dim[2],
        .kh = a->kernel[0], .kw = a->kernel[1], .sh = a->stride[0], .sw = a->stride[1],
        .pt = a->pad[0], .pl = a->pad[1], .dh = a->dilation[0], .dw = a->dilation[1],
        .oh = (int)n->shape.dim[1], .ow = (int)n->shape.dim[2],
    };
    return w;
}

/* A 1x1 stride-1 unpadded conv reads its input as the column matrix. */
static bool is_pointwise(const cnn_win2d *w)
{
    return w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && w->pt == 0 && w->pl == 0 &&
           w->h == w->oh && w->w == w->ow;
}

/* ==== @@PLAN ==== */

/* The unit of work is a block: a group's columns for either a chunk of
 * whole images or a tile of output rows of one image.
 *
 * Small outputs (late layers, OH*OW down to 1) are batched until N =
 * images * OH*OW reaches chunk_n columns, so the microkernel's panels fill
 * and each packed weight block serves many columns. Large outputs are cut
 * into tiles of rows whose columns (Kc x rows*OW) stay under col_tile
 * floats, so im2col writes into cache what the GEMM reads right after, and
 * a batch smaller than the thread count still splits over the threads.
 *
 * A deep kernel (Kc > CNN_GEMM_KC, e.g. 256 channels x 3x3) would need
 * megabytes of columns for even one row of output: its columns are made
 * and used in slices of k_slice = CNN_GEMM_KC rows (ks), each slice's
 * product added into the output. The GEMM sums K in slices of that size
 * anyway, so the output has the bits of one product over the whole of
 * Kc, and so do dW and dx in backward. */
#define CHUNK_COL ((int64_t)1 << 21)

/* 512 columns fill the GEMM's panels; 1 MiB of columns is half an L2.
 * The output channels in the lanes at a fill equal to the pixels' (gain
 * 0): conv a (64 channels on 56x56, 0.97 of the lanes by pixels) +15%
 * forward, +25% fwd+bwd, as it needs no packing of the pixels' taps.
 * Panels of one vector of channels (ocl 2) load a vector for every row's
 * FMA, so they pay only well above the pixels' fill: conv d (16 channels,
 * 10x10 output: 0.69 of the lanes) forward +5-10% on 2 threads, ResNet-20's
 * 16-channel 28x28 convs (0.92) 10-25% slower (bench/README.md). */
struct cnn_conv_tuning cnn_conv_tuning = {
    .chunk_n = 512, .col_tile = (int64_t)1 << 18, .k_slice = CNN_GEMM_KC, .direct = true,
    .direct_fill = 0.65f, .direct_band = (int64_t)1 << 17, .direct_ocl_gain = 0.0f,
    .direct_ocl_narrow_gain = 0.15f, .direct_pw = 49, .direct_pw_ocw = 32, .direct_dw_fill = 0.6f,
    .direct_dw_min = 1536, .direct_dw_ocl_gain = 0.0f, .wino = true, .wino_min_c = 32,
    .wino_min_tiles = 64, .bwd_pack_once = true, .bwd_fresh_dw = true};

static int chunk_images(int64_t kc, int64_t ohw, int batch) /* kc: col rows at a time */
{
    int64_t nb = (cnn_conv_tuning.chunk_n + ohw - 1) / ohw;

    if (nb * kc * ohw > CHUNK_COL)
        nb = CHUNK_COL / (kc * ohw);
    if (nb > batch)
        nb = batch;
    return nb < 1 ? 1 : (int)nb;
}

static int64_t r16(int64_t n) { return (n + 15) / 16 * 16; } /* keeps buffers 64-byte aligned */

/* One thread's scratch: GEMM workspace; col [ks, tn] (im2col of a slice,
 * then reused for its dcol); stage [OC/groups, tn] (a chunk's forward
 * output or backward dY, its images side by side); then the thread's
 * partial dW [OC, Kc] and db [OC]. tn is the most columns of a block. */
typedef struct conv_plan {
    cnn_win2d w;
    int       G, oc, ocg, cg, kc, ks, ohw, nb, rows, tiles;
    bool      pw, small; /* small: batched in chunks of nb images, never tiled */
    int64_t   xs, ys, wn, tn;
    int64_t   col_off, stage_off, part_off, total;
    /* The forward by cnn_direct (when `direct`): the input band [cg, rows,
     * wp] and the tap offsets [kc] in the scratch, over col and stage.
     * The input gradient by cnn_direct (when `direct_dx`): W transposed
     * and flipped [G][cg][ocg*kh*kw] (wt_off), a band of dY [ocg,
     * h + reach, wpx] and its tap offsets (bandx_off), after the
     * backward's partial dW. */
    cnn_direct_fn *direct, *direct_dx;
    cnn_direct_pack_fn *packx; /* direct_dx's packing of Wt (oclx) */
    bool      wide, widex; /* cnn_direct's wide mode (forward, dx) */
    int       dxrows;      /* direct_dx's tiles: input-gradient rows a call */
    int       ocl, oclx;   /* cnn_direct's ocl (forward, dx): 0, 1, 2 */
    bool      pwd;         /* pointwise by cnn_direct: no band, dimg images a call */
    int       wq, wpx;     /* band row pitches (a phase's: the row's is sw*wq) */
    int64_t   band_off, koff_off, wt_off, bandx_off, wtp_off; /* wtp: Wt packed (oclx) */
    /* The direct forward's items (direct_split): images x groups x parts
     * of the output channels x tiles of rows. Weights that several items
     * use are packed once (pack), in thread 0's scratch at pk_off, pk_group
     * floats a group, part j of a group at (its first channel + 32j) rows. */
    int       parts, drows, dtiles, dimg; /* dimg: images (x groups) an item */
    cnn_direct_pack_fn *pack;
    int64_t   pk_off, pk_group;
    float    *pk; /* or there: an inference plan's kept weights (conv_keep) */
    cnn_gemm_packed_a_fn *gemm_pa; /* by the GEMM: with kept weights (packed as its A) */
    /* and a chunk's columns packed once as the GEMM's B for all its row
     * pieces, at bp_off (over the backward's partial dW), or NULL */
    cnn_gemm_packed_ab_fn *gemm_pab;
    cnn_gemm_pack_b_fn    *pack_b;
    cnn_gemm_pack_b_cols_fn *pack_b_cols; /* a pointwise conv's columns: from x */
    int64_t                  bp_off;
    /* The backward's GEMMs of more than CNN_GEMM_ONE_BLOCK rows (dW's
     * output channels, dcol's rows) pack their B once, at bpb_off, not
     * once a block of rows: bpb floats (0: none). With one slice of
     * columns, dcol's A (each group's W^T) is packed once for all the
     * blocks, by the threads together, in thread 0's scratch at wta_off
     * (wta floats; wtap when the backward does it). */
    int64_t                  bpb_off, bpb, wta_off, wta;
    const float             *wtap;   /* its rows: wt_mup, a group's */
    int64_t                  wt_mup;
    cnn_gemm_packed_b_fn    *gemm_pb; /* with pack_b: B once (conv_backward) */
    /* dW by cnn_direct_dw (when `direct_dw`): per image, the input padded
     * all round [cg, hbd, wpd] (bandd floats with the slack), dY at the
     * same row pitch [ocg, nd] or, with ocl (dwo), transposed in panels
     * (staged floats); nimgd images at a time; after the backward's
     * partial dW: tap offsets, bands, staged dY, then (dwo) the
     * positions' places and the kernel's workspace. */
    cnn_direct_dw_fn *direct_dw;
    bool      dwo;
    int       hbd, wpd, nimgd, ocw; /* ocw: dwo's panel width */
    bool      dwi;                  /* dwo by items (direct_dw_panels) */
    int       dwkb;                 /* dwo: taps a call (an item's, or all) */
    int64_t   nd, bandd, staged, dwk_off, dwb_off, dws_off, dwp_off, dwt_off;
    /* An inference forward by Winograd F(2x2, 3x3) (when `wino`, with
     * kept weights: wino_forward): tiles of 2x2 output pixels, wtw a
     * row and wth rows an image, numbered across the batch; items of
     * wcols tiles (the last fewer), the GEMM's columns;
     * the thread's V [16][cg][wcols] at wv_off, the products
     * [16][ocg][wcols] at wm_off (first the filters' transform when
     * packing them), the transforms' rows at wtr_off, after the GEMM's
     * workspace. */
    bool      wino;
    int       wtw, wth, wcols;
    int64_t   wv_off, wm_off, wtr_off;
} conv_plan;

/* The band's phase width (*wq; its row pitch is sw * wq) and the share
 * of vector lanes that hold output pixels, for output rows of ow pixels
 * (oh of them) read with strides sh, sw from input rows of w placed at
 * column pl, with a reach of (kw-1)*dw: by rows, each row padded to whole
 * vectors (wide false); or wide (cnn_direct), the rows one span at the
 * band's pitch, for strides of 1 and rows 8 lanes apart or more. Takes
 * the mode that fills more lanes. */
static double direct_mode(int oh, int ow, int w, int pl, int reach, int sh, int sw, int lanes,
                          bool *wide, int *wq)
{
    const int     vecs = (ow + lanes - 1) / lanes;
    const double  frow = (double)ow / ((double)vecs * lanes);
    const int     pw   = ow + reach > pl + w ? ow + reach : pl + w;
    const int64_t span = (int64_t)(oh - 1) * pw + ow;
    const double  fw   = sh == 1 && sw == 1 && pw >= 8
                             ? (double)oh * ow / ((double)((span + lanes - 1) / lanes) * lanes)
                             : 0.0;

    *wide = fw > frow;
    if (*wide) {
        *wq = pw;
        return fw;
    }
    /* Sizes for the widest vectors (16 lanes), whichever variant runs:
     * the last vector of a row reads up to (ow rounded up) + reach / sw
     * in a phase, which holds the padded row's columns up to pl + w. */
    *wq = (ow + 15) / 16 * 16 + reach / sw;
    if (*wq < (pl + w + sw - 1) / sw)
        *wq = (pl + w + sw - 1) / sw;
    return frow;
}

/* The direct forward's items: runs of images x groups, each in tiles of
 * rows (each tile's band within direct_band floats, half a MiB: L2 keeps
 * it while the kernel sweeps the weights over it) and parts of its output
 * channels (at most 256 a part, the kernel's packed weights): with too
 * few images for the threads, more tiles, then more parts.
 * Weights that more than one item uses are packed once, in thread 0's
 * scratch (its part_off region, which only the backward uses, or after
 * the band if that is further). */
static void direct_split(conv_plan *p, int batch, int nt)
{
    /* Items: as many as threads; for fewer images (x groups) than four
     * a thread, tiles of rows for four times that where the planes have
     * the rows: the two vCPUs of a shared machine often run at different
     * speeds, and with one item each the faster waits (conv b at batch
     * 1: 2 tiles of 56 rows, now 8 of 14, 9% faster in alternating runs).
     * Not more parts of the output channels (each reads the whole band:
     * ResNet-50's 14x14 and 7x7 stages at batch 1 measured ~6% slower in
     * 4 parts than 2), nor more items at larger batches (conv e at batch
     * 8: 6-9% slower). */
    const int64_t ig = (int64_t)batch * p->G, want = nt;
    const int64_t want_tiles = ig < 4 * nt ? 4 * nt : nt;

    /* Tiles of 8 rows or more first (the fewer the parts, the more row
     * panels share each packing of the taps), then parts of 64 channels
     * or more. */
    p->parts = (p->ocg + 255) / 256;
    int64_t split = (want_tiles + ig * p->parts - 1) / (ig * p->parts);
    if (split > p->w.oh)
        split = p->w.oh;
    while (split > 1 && (p->w.oh + split - 1) / split < 8)
        split--;
    int           rows = (int)((p->w.oh + split - 1) / split);
    const int64_t fit  = cnn_conv_tuning.direct_band / ((int64_t)p->cg * p->wq * p->w.sw);
    const int64_t most = (fit - (int64_t)(p->w.kh - 1) * p->w.dh - 1) / p->w.sh + 1;
    if (rows > most)
        rows = most > 1 ? (int)most : 1;
    const int64_t tiles = (p->w.oh + rows - 1) / rows;
    if (ig * p->parts * tiles < want) {
        const int64_t need = (want + ig * tiles - 1) / (ig * tiles);
        const int     few  = p->ocg / 64 > 1 ? p->ocg / 64 : 1;
        if (need > p->parts)
            p->parts = need < few ? (int)need : few > p->parts ? few : p->parts;
    }
    p->drows    = rows;
    p->dtiles   = (p->w.oh + rows - 1) / rows;
    /* Small items in runs of images (2 MFLOP or more an item, about
     * 10 us), as long as there are as many items as threads. */
    const double  unit  = 2.0 * p->ocg / p->parts * p->kc * rows * p->w.ow;
    const int64_t units = ig * p->parts * p->dtiles;
    int64_t       run   = (int64_t)(2e6 / unit) + 1;
    if (run > units / want)
        run = units / want;
    p->dimg = run > 1 ? (int)run : 1;
    /* For the most parts there can be, whatever the tuning at run time. */
    const int64_t parts_most = p->ocg / 64 > (p->ocg + 255) / 256 ? p->ocg / 64 : (p->ocg + 255) / 256;
    p->pk_group = ((int64_t)p->ocg + 32 * parts_most) * p->kc; /* CNN_DIRECT_PACKED a part */
    p->pk_off   = p->koff_off + r16(p->kc) > p->part_off ? p->koff_off + r16(p->kc) : p->part_off;
    if (p->pk_off + p->G * p->pk_group > p->total)
        p->total = p->pk_off + p->G * p->pk_group;
    if ((int64_t)batch * p->dtiles < 2)
        p->pack = NULL;
}

/* Whether m output channels in panels of ocw lanes fill more of them than
 * *fill (the pixels' share) by direct_ocl_gain (1), or in panels of ocw
 * / 2 more than both (by direct_ocl_narrow_gain above the pixels: 2); if
 * so, *fill becomes theirs. 0: the pixels in the lanes. */
static int ocl_fills(int64_t m, int ocw, double *fill)
{
    const double f = (double)m / (double)((m + ocw - 1) / ocw * ocw);
    const int    h = ocw / 2;
    const double fh = (double)m / (double)((m + h - 1) / h * h);

    if (fh > f && fh > *fill + cnn_conv_tuning.direct_ocl_narrow_gain) {
        *fill = fh;
        return 2;
    }
    if (f <= *fill + cnn_conv_tuning.direct_ocl_gain)
        return 0;
    *fill = f;
    return 1;
}

/* Whether the forward goes by cnn_direct: the microkernel reads the input
 * rows where im2col would copy them, which pays where im2col costs as much
 * as the product (few output channels). The input band of a whole image,
 * zero-padded (for a stride across rows above 1, each row in its phases,
 * cnn_band_rows_phased), and the tap offsets go in the scratch. It needs
 * rows that fill direct_fill of the vectors (by rows or wide). */
static void plan_direct(conv_plan *p, int batch, int nt)
{
    int           lanes = 1, ocw = 1;
    cnn_direct_fn *fn   = cnn_direct_kernel(&lanes, &ocw, &p->pack);
    const int64_t full = (int64_t)(p->w.oh - 1) * p->w.sh + (int64_t)(p->w.kh - 1) * p->w.dh + 1;
    double        fill = direct_mode(p->w.oh, p->w.ow, p->w.w, p->w.pl, (p->w.kw - 1) * p->w.dw,
                                     p->w.sh, p->w.sw, lanes, &p->wide, &p->wq);
    /* A pointwise conv on small planes (direct_pw: 7x7): its input read
     * in place (rows of w, planes h*w apart), output channels in the
     * lanes, instead of staging the images for the GEMM (conv f forward
     * +17%). On 14x14 planes the GEMM measured faster (ResNet-50 batch 16
     * -15%): each tap of a 1x1 is another plane, so the pixels' values
     * come from a new cache line at every k. With AVX2's panels of 16
     * channels (6 pixels a step: 8 loads for 12 FMAs), the GEMM measured
     * faster on conv f too (AMD EPYC, AVX2: 1 thread +25%, 2 threads
     * +10%), so only AVX-512's panels of 32 (direct_pw_ocw). */
    p->pwd = p->pw && p->G == 1 && p->ohw <= cnn_conv_tuning.direct_pw &&
             ocw >= cnn_conv_tuning.direct_pw_ocw;
    if (p->pwd) {
        p->wq   = p->w.w;
        p->wide = false;
        fill    = 0.0;
    }
    /* Wide: 16 floats past the last row (zeros). */
    const int64_t band = p->pwd ? 0 : (int64_t)p->cg * full * p->wq * p->w.sw + 16;

    p->direct = NULL;
    if (p->w.sw > 4 || (p->pw && !p->pwd) || p->kc > (1 << 16) || band > ((int64_t)1 << 22) ||
        (p->w.kh * p->w.kw == 1 && p->w.sh * p->w.sw > 1)) /* a strided 1x1: im2col subsamples */
        return;
    p->band_off = p->col_off;
    p->koff_off = p->band_off + r16(band);
    if (p->koff_off + r16(p->kc) > p->total)
        p->total = p->koff_off + r16(p->kc);
    direct_split(p, batch, nt);
    /* Output channels in the lanes where they fill more of them (7x7 to
     * 56x56 planes of 32 or 64 channels or more; 16 channels on a 10x10
     * output in panels of one vector): the parts' channels in panels of
     * ocw or ocw / 2. Tiles of more than CNN_DIRECT_OCL_PIXELS pixels
     * keep the pixels in the lanes. */
    const int64_t m = (p->ocg + p->parts - 1) / p->parts;
    p->ocl = (int64_t)p->drows * p->w.ow <= CNN_DIRECT_OCL_PIXELS ? ocl_fills(m, ocw, &fill) : 0;
    if (p->ocl)
        p->wide = false;
    if (p->pwd) { /* as many images a call as fit, while every thread has an item */
        const int64_t per = (int64_t)p->drows * p->w.ow, items = (int64_t)p->parts * p->dtiles;
        int64_t       k   = CNN_DIRECT_OCL_PIXELS / per < batch ? CNN_DIRECT_OCL_PIXELS / per : batch;
        while (k > 1 && (batch + k - 1) / k * items < nt)
            k--;
        p->dimg = k > 1 ? (int)k : 1;
    }
    if (cnn_conv_tuning.direct && fill >= cnn_conv_tuning.direct_fill && (p->ocl || !p->pwd))
        p->direct = fn;
    if (!p->direct) /* the GEMM's way: the input is staged after all */
        p->pwd = false;
}

/* dx of a conv with stride 1 is the conv of dY with W transposed and
 * flipped, pads (k-1)*d - p: by cnn_direct too, where it would go by
 * dcol = W^T dY and col2im. Its sums run in another order than col2im's,
 * the same one for any threads or batch. */
static void plan_direct_dx(conv_plan *p)
{
    int           lanes = 1, ocw = 1;
    cnn_direct_fn *fn   = cnn_direct_kernel(&lanes, &ocw, &p->packx);
    const cnn_win2d *w  = &p->w;
    const int     ptx = (w->kh - 1) * w->dh - w->pt, plx = (w->kw - 1) * w->dw - w->pl;
    const int64_t full = (int64_t)w->h - 1 + (int64_t)(w->kh - 1) * w->dh + 1;
    const int64_t kx = (int64_t)p->ocg * w->kh * w->kw;
    int64_t       band, need;

    double        fill = direct_mode(w->h, w->w, w->ow, plx, (w->kw - 1) * w->dw, 1, 1, lanes,
                                     &p->widex, &p->wpx);

    p->direct_dx = NULL;
    band = p->ocg * full * p->wpx + 16; /* the whole plane's: any tile's fits */
    if (w->sh != 1 || w->sw != 1 || p->pw || ptx < 0 || plx < 0 || p->cg > 256 || kx > 4096 ||
        band > ((int64_t)1 << 22))
        return;
    /* With output channels in the lanes, Wt packed once for every image
     * (wtp_off, in thread 0's scratch). */
    /* With ocl, tiles of rows of at most CNN_DIRECT_OCL_PIXELS pixels
     * (as even as can be); without, the whole plane a call. */
    p->oclx   = w->w <= CNN_DIRECT_OCL_PIXELS ? ocl_fills(p->cg, ocw, &fill) : 0;
    p->dxrows = w->h;
    if (p->oclx) {
        const int most  = CNN_DIRECT_OCL_PIXELS / w->w;
        const int tiles = (w->h + most - 1) / most;
        p->dxrows = (w->h + tiles - 1) / tiles;
        p->widex  = false;
    }
    p->wt_off   = p->part_off + r16(p->wn + p->oc);
    p->bandx_off = p->wt_off + r16(p->wn);
    p->wtp_off  = p->bandx_off + r16(band) + r16(kx);
    need = p->wtp_off + (p->oclx ? p->G * CNN_DIRECT_PACKED(p->cg, kx) : 0);
    if (need > p->total)
        p->total = need;
    if (cnn_conv_tuning.direct && fn && fill >= cnn_conv_tuning.direct_fill)
        p->direct_dx = fn;
}

/* dW by cnn_direct_dw: each image's input zero-padded all round into a
 * band of row pitch wpd (= ow + (kw-1)*dw for a stride of 1). With the
 * positions in the lanes (stride 1), its dY laid out at that pitch with
 * zeros between the rows, so output position j reads the band at j + the
 * tap's offset for every tap: no columns, no packing; the zeros cost
 * lanes (7x7 pad 1: 49 pixels in 64 lanes). With the output channels in
 * the lanes (dwo, where they fill more; any stride), dY transposed and
 * each pixel's place in the band listed. Below direct_dw_fill of the
 * lanes filled it goes by im2col + GEMM. Images go nimgd
 * at a time, so the sums across lanes are few beside the products (about
 * 2048 positions a call), and a chunk stays within about 4 MiB; where a
 * thread's chunk would still sum fewer than direct_dw_min positions (deep
 * layers of few images), the GEMM's way is faster. */
static void plan_direct_dw(conv_plan *p, int batch, int nt)
{
    cnn_direct_dw_fn *fn = cnn_direct_dw_kernel(NULL);
    const cnn_win2d  *w  = &p->w;
    int64_t           per, need;
    int               ocw = 32;

    const bool        strided = w->sh != 1 || w->sw != 1;

    p->direct_dw = NULL;
    p->dwo       = false;
    if (p->pw || !fn)
        return;
    cnn_direct_kernel(NULL, &ocw, NULL);
    p->ocw = ocw;
    /* Every tap of every output pixel inside: for a stride of 1, h + pt +
     * pb rows of w + pl + pr. */
    p->hbd = (w->oh - 1) * w->sh + (w->kh - 1) * w->dh + 1;
    p->wpd = (w->ow - 1) * w->sw + (w->kw - 1) * w->dw + 1;
    if (p->wpd < w->pl + w->w)
        p->wpd = w->pl + w->w;
    /* Sizes for the widest vectors (16 lanes, panels of 32 channels),
     * whichever variant runs. */
    p->nd     = ((int64_t)w->oh * p->wpd + 15) / 16 * 16;
    p->bandd  = r16((int64_t)p->cg * p->hbd * p->wpd + p->wpd + 16);
    p->staged = (int64_t)p->ocg * p->nd;
    if (p->staged < (int64_t)(p->ocg + 31) / 32 * 32 * p->ohw)
        p->staged = (int64_t)(p->ocg + 31) / 32 * 32 * p->ohw;
    per       = p->bandd + p->staged + p->ohw;
    /* Lanes filled: positions in the lanes (pads between the rows and at
     * the end; stride 1 only), or output channels (the last panel's: any
     * stride, each pixel's place in the band its own). */
    const double fpos = strided ? 0.0 : (double)p->ohw / (double)p->nd;
    const double fch  = (double)p->ocg / (double)((p->ocg + ocw - 1) / ocw * ocw);
    p->dwo = fch > fpos + cnn_conv_tuning.direct_dw_ocl_gain;
    if (per > ((int64_t)1 << 22) || (p->dwo ? fch : fpos) < cnn_conv_tuning.direct_dw_fill ||
        (strided && !p->dwo))
        return;
    int64_t nimg = (2048 + p->nd - 1) / p->nd;
    if (nimg * per > ((int64_t)1 << 20))
        nimg = ((int64_t)1 << 20) / per;
    if (nimg > batch)
        nimg = batch;
    if (nimg < 1) /* one image over the limit: a chunk of one, still */
        nimg = 1;
    /* With ocl, where a thread's share of the batch fits in one chunk
     * (deep layers at small batches: conv e), by items (dwi): a chunk for
     * every thread to stage; items of a panel x taps, the taps in as few
     * blocks as give every thread an item (each block reads the panel's
     * dY again), of 24 taps or a multiple (whole rows of every variant's
     * tiles). Else each thread sums its own images (partial dW, reduced
     * after), which keeps each thread's staged data in its own cache
     * (ResNet-20 at batch 128: items measured 3-12% slower). */
    p->dwi  = p->dwo && (batch + nt - 1) / nt <= nimg;
    p->dwkb = p->kc;
    if (p->dwi) {
        nimg = (batch + nt - 1) / nt;
        const int64_t panels = (p->ocg + ocw - 1) / ocw, blocks = (nt + panels - 1) / panels;
        int64_t       kb     = ((p->kc + blocks - 1) / blocks + 23) / 24 * 24;
        if (kb < 48)
            kb = 48;
        p->dwkb = kb < p->kc ? (int)kb : p->kc;
    }
    p->nimgd   = (int)nimg;
    p->dwk_off = p->part_off + r16(p->wn + p->oc);
    p->dwb_off = p->dwk_off + r16(p->kc);
    p->dws_off = p->dwb_off + p->nimgd * p->bandd;
    p->dwp_off = p->dws_off + p->nimgd * p->staged;
    p->dwt_off = p->dwp_off + r16((int64_t)p->nimgd * p->ohw);
    need       = p->dwt_off + CNN_DIRECT_DW_WS(p->kc);
    if (need > p->total)
        p->total = need;
    p->direct_dw = fn;
}

static bool wino_env_off(void)
{
    const char *v = getenv("CNN_WINOGRAD");
    return v && strcmp(v, "0") == 0;
}

/* Winograd for a 3x3 stride-1 conv of one group with enough channels and
 * tiles (cnn_conv_tuning.wino*), where the variant packs the GEMM's A
 * (the transformed filters are kept packed). Its items: runs of tiles,
 * at most about 1 MiB of V and of products each (64 tiles of 256
 * channels), three or more a thread where the batch has that many, a
 * multiple of 32 columns where they are 32 or more (whole panels of the
 * GEMM on every variant), else 32 (each item reads all of U: runs of a
 * few columns would read it for little work). */
static void plan_wino(conv_plan *p, int batch, int nt)
{
    const cnn_win2d    *w = &p->w;
    cnn_direct_pack_fn *pack;

    cnn_direct_kernel(NULL, NULL, &pack);
    p->wino = false;
    if (!cnn_conv_tuning.wino || !pack || !cnn_gemm_packed_a_kernel() || w->kh != 3 ||
        w->kw != 3 || w->sh != 1 || w->sw != 1 || w->dh != 1 || w->dw != 1 || p->G != 1 ||
        p->cg < cnn_conv_tuning.wino_min_c || p->ocg < cnn_conv_tuning.wino_min_c ||
        wino_env_off())
        return;
    p->wtw = (w->ow + 1) / 2;
    p->wth = (w->oh + 1) / 2;
    const int64_t tiles = (int64_t)batch * p->wth * p->wtw;
    if (tiles < cnn_conv_tuning.wino_min_tiles)
        return;
    int64_t cmax = 32768 / (p->cg + p->ocg), t = (tiles + 3 * nt - 1) / (3 * nt);
    cmax     = cmax < 32 ? 32 : cmax > 256 ? 256 : cmax;
    t        = t < cmax ? t : cmax;
    t        = t >= 32 ? t / 32 * 32 : tiles < 32 ? tiles : 32;
    p->wcols = (int)t;
    p->wino  = true;

    const int64_t prod = (int64_t)16 * p->ocg * p->wcols, filt = (int64_t)p->ocg * p->cg;
    p->wv_off  = r16(CNN_GEMM_WS_FLOATS);
    p->wm_off  = p->wv_off + r16((int64_t)16 * p->cg * p->wcols);
    p->wtr_off = p->wm_off + r16(prod > filt ? prod : filt);
    const int64_t need = p->wtr_off + r16(18 * (int64_t)p->wtw + 8);
    if (p->total < need)
        p->total = need;
}

/* `split`: at least this many row tiles per large image (forward with
 * fewer images than threads); 1 otherwise. nt: the threads. */
static conv_plan plan_of(const cnn_graph *g, const cnn_node *n, int batch, int split, int nt)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    conv_plan       p = {.w = win_of(g, n), .G = n->a.conv.groups, .oc = n->a.conv.out_channels};

    p.ocg = p.oc / p.G;
    p.cg  = (int)x->shape.dim[0] / p.G;
    p.kc  = p.cg * p.w.kh * p.w.kw;
    p.ohw = p.w.oh * p.w.ow;
    p.pw  = is_pointwise(&p.w);
    /* Columns are made at most k_slice rows at a time when all Kc rows of
     * a block would not fit in col_tile. */
    const int kcol = p.kc < cnn_conv_tuning.k_slice ? p.kc : cnn_conv_tuning.k_slice;
    p.nb  = chunk_images(kcol, p.ohw, batch);
    p.small = p.ohw < cnn_conv_tuning.chunk_n;
    p.rows  = p.w.oh;
    p.tiles = 1;
    if (!p.small) {
        int64_t fit = cnn_conv_tuning.col_tile / ((int64_t)kcol * p.w.ow);
        int64_t t   = fit < 1 ? p.w.oh : (p.w.oh + fit - 1) / fit;
        if (t < split)
            t = split;
        if (t > p.w.oh)
            t = p.w.oh;
        p.rows  = (int)((p.w.oh + t - 1) / t);
        p.tiles = (p.w.oh + p.rows - 1) / p.rows;
    }
    p.tn  = p.small ? (int64_t)p.nb * p.ohw : (int64_t)p.rows * p.w.ow;
    p.ks  = (int64_t)p.kc * p.tn <= cnn_conv_tuning.col_tile ? p.kc : kcol;
    p.xs  = cnn_node_numel(x);
    p.ys  = cnn_node_numel(n);
    p.wn  = cnn_shape_numel(&n->param_shape[0]);
    p.col_off   = r16(CNN_GEMM_WS_FLOATS);
    p.stage_off = p.col_off + r16((int64_t)p.ks * p.tn);
    p.part_off  = p.stage_off + r16((int64_t)p.ocg * ((p.tn + 31) / 32 * 32)); /* fwd_cols */
    p.total     = p.part_off + p.wn + p.oc;
    /* A chunk's columns packed as panels (B panels of up to 32 columns). */
    p.bp_off = p.part_off;
    if (p.small && p.ks == p.kc && p.bp_off + p.kc * ((p.tn + 31) / 32 * 32) > p.total)
        p.total = p.bp_off + p.kc * ((p.tn + 31) / 32 * 32);
    plan_direct(&p, batch, nt);
    plan_direct_dx(&p);
    plan_direct_dw(&p, batch, nt);
    plan_wino(&p, batch, nt);
    const int64_t r32 = 32 - 1, bw = p.ocg > CNN_GEMM_ONE_BLOCK ? p.tn * ((p.ks + r32) / 32 * 32) : 0,
                  bx = p.ks > CNN_GEMM_ONE_BLOCK ? p.ocg * ((p.tn + r32) / 32 * 32) : 0;
    p.bpb     = bw > bx ? bw : bx;
    p.bpb_off = r16(p.total);
    if (p.bpb > 0)
        p.total = p.bpb_off + r16(p.bpb);
    p.wta     = p.ks == p.kc && !p.direct_dx ? p.G * (p.kc + r32) * p.ocg : 0; /* mup <= kc + 31 */
    p.wta_off = r16(p.total);
    if (p.wta > 0)
        p.total = p.wta_off + r16(p.wta);
    return p;
}

static int64_t conv_scratch(const cnn_graph *g, const cnn_node *n, int batch, bool train)
{
    const conv_plan p = plan_of(g, n, batch, 1, g->nthreads); /* split only makes tiles smaller */
    return train ? p.total : p.bpb_off; /* the backward's packed B and A last */
}

/* Where part j's packed weights start in its group's: the parts before
 * it, each rounded up to the kernel's panels (cnn_direct_panel; at most
 * 31 rows more than its channels). j = parts: the group's size. */
static int64_t packed_at(const conv_plan *p, int j)
{
    const int w  = cnn_direct_panel(p->ocl);
    int64_t   at = 0, o0, o1;

    for (int i = 0; i < j; i++) {
        cnn_slice(p->ocg, i, p->parts, &o0, &o1);
        at += (o1 - o0 + w - 1) / w * w * p->kc;
    }
    return at;
}

/* Kept packed weights take what the parts the forward has take
 * (direct_packed's layout with pk_group this for each group). */
static int64_t kept_floats(const conv_plan *p) { return p->G * packed_at(p, p->parts); }

/* By im2col + GEMM, the weights kept packed as the GEMM's A (its panels
 * of cnn_direct_panel(0) rows), each group's mup(p) rows. */
static int64_t gemm_mup(const conv_plan *p)
{
    const int mr = cnn_direct_panel(0);
    return (int64_t)(p->ocg + mr - 1) / mr * mr;
}

static int64_t gemm_kept_floats(const conv_plan *p) { return p->G * gemm_mup(p) * p->kc; }

/* What kept weights were packed for besides the parameters: the variant
 * and the layout (cnn_direct's ocl 0-2, or KEPT_GEMM: the GEMM's A) and
 * the parts of the output channels. */
enum { KEPT_GEMM = 3, KEPT_WINO = 4 };
static int kept_key(const conv_plan *p, int layout)
{
    return (int)cnn_gemm_isa() | layout << 4 | p->parts << 8;
}

/* Winograd's kept filters: U[xi] packed as the GEMM's A, 16 of them. */
static int64_t wino_kept_floats(const conv_plan *p) { return 16 * gemm_mup(p) * p->cg; }

static conv_plan forward_plan(const cnn_graph *g, const cnn_node *n, int batch, int nt)
{
    return plan_of(g, n, batch, batch < nt ? (nt + batch - 1) / batch : 1, nt);
}

/* An inference plan keeps the weights of a conv's forward packed, from
 * one forward to the next while the parameters stay (cnn_graph
 * param_gen): for the direct kernel (packing them anew each time cost
 * ResNet-50 at batch 1 about a tenth of its time: stage 4 reads 9 MiB of
 * weights a conv for 49 pixels) or as the GEMM's A (its 1x1 convs: the
 * GEMM's packing was 6% of ResNet-50 at batch 1 on AVX2). The training
 * forward packs them each step, as they change. */
static int64_t conv_keep(const cnn_graph *g, const cnn_node *n, int batch)
{
    cnn_direct_pack_fn *pack;
    const conv_plan     p = forward_plan(g, n, batch, g->nthreads);

    cnn_direct_kernel(NULL, NULL, &pack);
    if (!pack)
        return 0;
    /* Room for either way's layout (the tuning may change the way) */
    const int64_t d = p.direct ? kept_floats(&p) : 0, a = gemm_kept_floats(&p);
    const int64_t wk = p.wino ? wino_kept_floats(&p) : 0, m = d > a ? d : a;
    return wk > m ? wk : m;
}

/* A block: images [b0, b0+cnt) of group gi, output rows [r0, r1) (all rows
 * when cnt > 1). Its columns have ld = cnt * OH*OW, or rows*OW for a tile. */
typedef struct conv_block {
    int64_t b0;
    int     cnt, r0, r1, gi;
} conv_block;

static int64_t block_n(const conv_plan *p, const conv_block *k)
{
    return k->cnt > 1 ? (int64_t)k->cnt * p->ohw : (int64_t)(k->r1 - k->r0) * p->w.ow;
}

/* Rows [s0, s1) of the block's columns [Kc, N] and their row stride:
 * im2col into col, or, for one image of a pointwise conv, the input rows
 * themselves. */
static const float *columns(const conv_plan *p, const float *x, const conv_block *k, int s0,
                            int s1, float *col, int64_t *ld)
{
    const int64_t gx = (int64_t)k->gi * p->cg * p->w.h * p->w.w, N = block_n(p, k);
    const float  *x0 = x + k->b0 * p->xs + gx;

    if (k->cnt == 1 && p->pw) {
        *ld = p->ohw;
        return x0 + (int64_t)s0 * p->ohw + (int64_t)k->r0 * p->w.ow;
    }
    *ld = N;
    if (k->cnt == 1)
        cnn_im2col_rows(x0, p->cg, &p->w, s0, s1, k->r0, k->r1, col, N);
    else
        for (int i = 0; i < k->cnt; i++)
            cnn_im2col_rows(x0 + i * p->xs, p->cg, &p->w, s0, s1, 0, p->w.oh,
                            col + (int64_t)i * p->ohw, N);
    return col;
}

static int slice_end(const conv_plan *p, int s0)
{
    return p->kc - s0 < p->ks ? p->kc : s0 + p->ks;
}

/* Block number i of the forward's list: large images cut into tiles,
 * images first; chunks of nb small images otherwise. Groups vary
 * fastest. */
static conv_block block_at(const conv_plan *p, int batch, int64_t i)
{
    conv_block k = {.gi = (int)(i % p->G), .r0 = 0, .r1 = p->w.oh, .cnt = 1};

    i /= p->G;
    if (!p->small) {
        k.b0 = i / p->tiles;
        k.r0 = (int)(i % p->tiles) * p->rows;
        k.r1 = k.r0 + p->rows < p->w.oh ? k.r0 + p->rows : p->w.oh;
    } else {
        k.b0  = i * p->nb;
        k.cnt = (int)(batch - k.b0 < p->nb ? batch - k.b0 : p->nb);
    }
    return k;
}

/* ==== @@FORWARD ==== */

enum { FWD_PIECE = 96 };

/* Y rows [o0, o1) of block k: Y = W_g col, slice by slice of Kc, then the
 * bias (and a fused epilogue). One image's tile goes straight into y; a chunk goes to stage and
 * is spread to its images. `cm` holds the first slice's columns (made by
 * the caller, who may share them between the parts of a block). */
static void fwd_block(const conv_plan *p, const cnn_exec *e, cnn_node *n, const conv_block *k,
                      const float *cm, int64_t ldc, int o0, int o1, float *col, float *stage,
                      float *ws, float *sums, const float *apk, const float *bpk)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const float    *W  = cnn_param(e, n, 0) + ((int64_t)k->gi * p->ocg + o0) * p->kc;
    const float    *B  = n->a.conv.bias ? cnn_param(e, n, 1) + k->gi * p->ocg : NULL;
    const int64_t   N  = block_n(p, k);
    float          *y0 = n->y + k->b0 * p->ys + (int64_t)k->gi * p->ocg * p->ohw;
    float          *y  = k->cnt == 1 ? y0 + (int64_t)o0 * p->ohw + (int64_t)k->r0 * p->w.ow : stage;
    const int       ldy = k->cnt == 1 ? p->ohw : (int)N;
    /* An inference plan's batch norm, residual add and ReLU, on each row
     * while in cache. */
    const bool      fused = cnn_fused(n);

    if (o1 <= o0)
        return;
    /* A chunk's rows a piece at a time where its columns are made once:
     * each piece's stage (96 rows: whole panels of every variant) is
     * spread while in L2, not after the whole of it (conv f: 2048 rows x
     * 4 images, 1.6 MB). */
    if (k->cnt > 1 && p->ks == p->kc && o1 - o0 > FWD_PIECE) {
        for (int r = o0; r < o1; r += FWD_PIECE)
            fwd_block(p, e, n, k, cm, ldc, r, r + FWD_PIECE < o1 ? r + FWD_PIECE : o1, col, stage,
                      ws, sums, apk, bpk);
        return;
    }
    for (int s0 = 0; s0 < p->kc; s0 = slice_end(p, s0)) {
        const int s1 = slice_end(p, s0);
        if (s0 > 0)
            cm = columns(p, x->y, k, s0, s1, col, &ldc);
        if (bpk) /* one slice: the columns packed by the caller */
            p->gemm_pab(o1 - o0, (int)N, p->kc, apk + k->gi * p->kc * gemm_mup(p), gemm_mup(p),
                        o0, bpk, 0.0f, y, ldy, ws);
        else if (apk) /* kept packed: group k->gi's, rows from o0 (a whole panel) */
            p->gemm_pa(o1 - o0, (int)N, s1 - s0, apk + (k->gi * p->kc + s0) * gemm_mup(p),
                       gemm_mup(p), o0, cm, (int)ldc, s0 > 0 ? 1.0f : 0.0f, y, ldy, ws);
        else
            cnn_gemm_ws(false, false, o1 - o0, (int)N, s1 - s0, 1.0f, W + s0, p->kc, cm,
                        (int)ldc, s0 > 0 ? 1.0f : 0.0f, y, ldy, ws);
    }
    if (k->cnt == 1) {
        for (int o = o0; o < o1; o++, y += p->ohw) {
            if (B)
                cnn_add_bias(y, N, B[o]);
            if (fused)
                cnn_fused_epilogue(e, n, k->gi * p->ocg + o, y, N);
            if (sums) /* whole planes only */
                cnn_plane_stats(y, N, sums + 2 * (k->b0 * p->oc + k->gi * p->ocg + o));
        }
        return;
    }
    /* The chunk's rows to its images, SPREAD rows a call: the bias, the
     * fused batch norm (its coefficients once for the images), residual
     * add and ReLU. */
    enum { SPREAD = 64 };
    float sc[SPREAD], sh[SPREAD];
    for (int r0 = o0; r0 < o1; r0 += SPREAD) {
        const int r1 = r0 + SPREAD < o1 ? r0 + SPREAD : o1;
        if (n->fuse_bn >= 0)
            for (int o = r0; o < r1; o++)
                cnn_bn_eval_coef(e, &e->g->nodes[n->fuse_bn], k->gi * p->ocg + o, &sc[o - r0],
                                 &sh[o - r0]);
        for (int i = 0; i < k->cnt; i++) {
            float *d = y0 + i * p->ys + (int64_t)r0 * p->ohw;
            cnn_bias_rows(stage + (r0 - o0) * N + (int64_t)i * p->ohw, N, d, p->ohw, r1 - r0,
                          p->ohw, B ? B + r0 : NULL, n->fuse_bn >= 0 ? sc : NULL, sh,
                          cnn_fused_residual(e, n, d), n->fuse_relu);
            for (int o = r0; sums && o < r1; o++)
                cnn_plane_stats(d + (int64_t)(o - r0) * p->ohw, p->ohw,
                                sums + 2 * ((k->b0 + i) * p->oc + k->gi * p->ocg + o));
        }
    }
}

/* Rows [o0, o1) (from a whole panel) of a pointwise conv's chunk of
 * columns [c0, c0 + cn) of the batch (the images' planes side by side;
 * one group), B packed at bpk and the weights kept packed (p->pk):
 * FWD_PIECE rows at a time into stage (cn columns a row), then spread to
 * the images' runs of pixels with the bias and the fused epilogue. */
static void fwd_cols(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t c0, int cn, int o0,
                     int o1, float *stage, float *ws, const float *bpk)
{
    const float *B = n->a.conv.bias ? cnn_param(e, n, 1) : NULL;
    float        sc[FWD_PIECE], sh[FWD_PIECE];

    for (int r0 = o0; r0 < o1; r0 += FWD_PIECE) {
        const int r1 = r0 + FWD_PIECE < o1 ? r0 + FWD_PIECE : o1;
        p->gemm_pab(r1 - r0, cn, p->kc, p->pk, gemm_mup(p), r0, bpk, 0.0f, stage, cn, ws);
        if (n->fuse_bn >= 0)
            for (int o = r0; o < r1; o++)
                cnn_bn_eval_coef(e, &e->g->nodes[n->fuse_bn], o, &sc[o - r0], &sh[o - r0]);
        for (int64_t j = 0, len; j < cn; j += len) { /* a run of one image's pixels */
            const int64_t c = c0 + j;
            const int     q = (int)(c % p->ohw);
            len = p->ohw - q < cn - j ? p->ohw - q : cn - j;
            float        *d = n->y + c / p->ohw * p->ys + (int64_t)r0 * p->ohw + q;
            cnn_bias_rows(stage + j, cn, d, p->ohw, r1 - r0, len, B ? B + r0 : NULL,
                          n->fuse_bn >= 0 ? sc : NULL, sh, cnn_fused_residual(e, n, d),
                          n->fuse_relu);
        }
    }
}

/* A convolution by cnn_direct: input x [c, h, w], window kh x kw with
 * row stride sh, dilation dh x dw and leading pads pt, pl; output rows
 * [r0, r1) of y [M, oh, ow] (ldy apart per channel), weights W [M, c*kh*kw].
 * The input rows those outputs read go into a zero-padded band xb, hs
 * rows a channel (enough for a tile of rows), each row sw * wq floats (its
 * sw phases, wq floats each); koff holds the tap offsets in it
 * (direct_koff, once per call of the op). */
typedef struct direct_geo {
    const float *x;
    int          c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, wq, hs, M;
    const float *W, *Ap; /* Ap: W packed (cnn_direct's Ap), or NULL */
    float       *y;
    int64_t      ldy;
    bool         add, wide;
    int          ocl;
    bool         pwd;      /* x read in place (a pointwise conv), no band */
    int          nimg;     /* images a call (ocl), xs and ys floats apart */
    const float *bias;     /* added by the kernel (forward), or NULL */
    int64_t      xs, ys;
} direct_geo;

static void direct_koff(const direct_geo *q, int32_t *koff)
{
    const int64_t wp = (int64_t)q->sw * q->wq;

    for (int k = 0; k < q->c * q->kh * q->kw; k++) {
        const int ci = k / (q->kh * q->kw), ky = k / q->kw % q->kh, kx = k % q->kw;
        const int at = kx * q->dw; /* padded column of output 0: phase at % sw */
        koff[k] = (int32_t)(((int64_t)ci * q->hs + (int64_t)ky * q->dh) * wp +
                            (int64_t)(at % q->sw) * q->wq + at / q->sw);
    }
}

/* Output rows [r0, r1) by cnn_direct; `band`: xb holds their band
 * already (the thread's last call read the same rows of the same
 * image). */
static void direct_run(cnn_direct_fn *fn, const direct_geo *q, int r0, int r1, float *xb,
                       bool band, const int32_t *koff, float *ws)
{
    const int iy0 = r0 * q->sh - q->pt, hb = (r1 - r0 - 1) * q->sh + (q->kh - 1) * q->dh + 1;
    const int     kc = q->c * q->kh * q->kw;
    const int64_t wp = (int64_t)q->sw * q->wq;

    if (q->pwd)
        xb = (float *)q->x + (int64_t)r0 * q->w; /* read only */
    else if (!band && q->sw == 1)
        cnn_band_rows(q->x, q->c, q->h, q->w, iy0, hb, q->pl, q->wq, q->hs * wp, xb);
    else if (!band)
        cnn_band_rows_phased(q->x, q->c, q->h, q->w, iy0, hb, q->pl, q->sw, q->wq, q->hs * wp,
                             xb);
    /* read (into lanes not stored) by wide mode past the last row */
    if (!band && !q->pwd)
        memset(xb + ((int64_t)(q->c - 1) * q->hs + hb) * wp, 0, 16 * sizeof *xb);
    const cnn_direct d = {
        .M = q->M, .K = kc, .ow = q->ow, .r0 = r0, .r1 = r1, .W = q->W, .ldw = kc, .koff = koff,
        .xb = xb, .ldx = q->sh * wp, .y = q->y, .ldy = q->ldy, .add = q->add,
        .wide = q->wide, .Ap = q->Ap, .ocl = q->ocl, .nimg = q->nimg, .xbs = q->xs, .ys = q->ys,
        .bias = q->bias,
    };
    fn(&d, ws);
}

/* The forward of image b, group gi, for cnn_direct (all its output
 * channels), by tiles of at most `rows` output rows. */
static direct_geo direct_fwd_geo(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b,
                                 int gi, int rows)
{
    const cnn_win2d *w = &p->w;
    const direct_geo q = {
        .x = cnn_in_node(e, n, 0)->y + b * p->xs + (int64_t)gi * p->cg * w->h * w->w,
        .c = p->cg, .h = w->h, .w = w->w, .kh = w->kh, .kw = w->kw, .sh = w->sh, .sw = w->sw,
        .dh = w->dh, .dw = w->dw, .pt = w->pt, .pl = w->pl, .oh = w->oh, .ow = w->ow, .wq = p->wq,
        .hs = p->pwd ? w->h : (rows - 1) * w->sh + (w->kh - 1) * w->dh + 1, .M = p->ocg,
        .W = cnn_param(e, n, 0) + (int64_t)gi * p->ocg * p->kc,
        .y = n->y + b * p->ys + (int64_t)gi * p->ocg * p->ohw, .ldy = p->ohw, .wide = p->wide,
        .ocl = p->ocl, .pwd = p->pwd, .nimg = 1, .xs = p->xs, .ys = p->ys,
    };
    return q;
}

/* The packed weights of part j of group gi (direct_split). */
static float *direct_packed(const conv_plan *p, const cnn_exec *e, int gi, int j)
{
    return (p->pk ? p->pk : e->scratch + p->pk_off) + gi * p->pk_group + packed_at(p, j);
}

/* Part j of group gi's output channels (at most 256) in output rows
 * [r0, r1) (at most p->drows) of images b ... b + nimg - 1 (more than one
 * only for pwd) by cnn_direct (which adds the bias), then a fused epilogue as in
 * fwd_block. `band`: as for direct_run. */
static void direct_block(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b, int nimg,
                         int gi, int r0, int r1, int j, bool band, float *base, float *sums)
{
    const cnn_win2d *w   = &p->w;
    const float     *B   = n->a.conv.bias ? cnn_param(e, n, 1) + gi * p->ocg : NULL;
    const bool       fused = cnn_fused(n);
    direct_geo q = direct_fwd_geo(p, e, n, b, gi, p->drows);
    int64_t    o0, o1;

    cnn_slice(p->ocg, j, p->parts, &o0, &o1);
    q.M = (int)(o1 - o0);
    q.W += o0 * p->kc;
    q.y += o0 * p->ohw;
    q.Ap = p->pack ? direct_packed(p, e, gi, j) : NULL;
    q.nimg = nimg;
    q.bias = B ? B + o0 : NULL;
    direct_run(p->direct, &q, r0, r1, base + p->band_off, band,
               (int32_t *)(void *)(base + p->koff_off), base);
    q.y -= (int64_t)o0 * p->ohw;
    for (int i = 0; (fused || sums) && i < nimg; i++)
        for (int o = o0; o < o1; o++) {
            float        *yo = q.y + i * p->ys + (int64_t)o * p->ohw + (int64_t)r0 * w->ow;
            const int64_t len = (int64_t)(r1 - r0) * w->ow;
            if (fused)
                cnn_fused_epilogue(e, n, gi * p->ocg + o, yo, len);
            if (sums) /* whole planes only */
                cnn_plane_stats(yo, len, sums + 2 * ((b + i) * p->oc + gi * p->ocg + o));
        }
}

/* Of the batch's tiles [g, g1) (tpi an image), those of g's image: image
 * *b, its tiles [*t0, *t1). */
static inline void wino_span(int64_t tpi, int64_t g, int64_t g1, int64_t *b, int64_t *t0,
                             int64_t *t1)
{
    *b  = g / tpi;
    *t0 = g - *b * tpi;
    *t1 = g1 - *b * tpi < tpi ? g1 - *b * tpi : tpi;
}

/* A fused epilogue on the pixels of tiles [t0, t1) of an image: two
 * output rows' runs a tile row. */
static void wino_epilogue(const conv_plan *p, const cnn_exec *e, cnn_node *n, float *y,
                          int64_t t0, int64_t t1)
{
    const cnn_win2d *w = &p->w;

    for (int o = 0; o < p->ocg; o++)
        for (int64_t ty = t0 / p->wtw; ty <= (t1 - 1) / p->wtw; ty++) {
            const int64_t a  = t0 - ty * p->wtw, b = t1 - ty * p->wtw;
            const int64_t x0 = 2 * (a > 0 ? a : 0), x1 = 2 * (b < p->wtw ? b : p->wtw);
            const int64_t px = (x1 < w->ow ? x1 : w->ow) - x0;
            for (int64_t oy = 2 * ty; oy < 2 * ty + 2 && oy < w->oh; oy++)
                cnn_fused_epilogue(e, n, o, y + o * p->ohw + oy * w->ow + x0, px);
        }
}

/* An inference forward by Winograd F(2x2, 3x3) (plan_wino): the filters'
 * transforms U[xi] kept packed as the GEMM's A (transformed and packed
 * again when the parameters or the variant change, the 16 positions
 * shared by the threads); then per item (a run of tiles, across images)
 * the input tiles' transforms V, the 16 products U[xi] V[xi] by the GEMM, the output
 * transform with the bias, and a fused epilogue on the rows made. Each
 * output element comes from its tile's column alone, in an order fixed
 * by the channels: the bits do not depend on the items or the threads. */
static void wino_forward(const conv_plan *p, const cnn_exec *e, cnn_node *n)
{
    const cnn_win2d      *w  = &p->w;
    const float          *x  = cnn_in_node(e, n, 0)->y, *W = cnn_param(e, n, 0);
    const float          *B  = n->a.conv.bias ? cnn_param(e, n, 1) : NULL;
    const bool            fused = cnn_fused(n);
    const int64_t         tpi = (int64_t)p->wth * p->wtw; /* tiles an image */
    const int64_t         tiles = e->batch * tpi, items = (tiles + p->wcols - 1) / p->wcols;
    const int64_t         mup = gemm_mup(p), ust = mup * p->cg, ldx = (int64_t)p->cg * p->wcols;
    const int64_t         ldm = (int64_t)p->ocg * p->wcols;
    const int             key = kept_key(p, KEPT_WINO);
    const bool            pack_now = n->kept_gen != e->g->param_gen || n->kept_key != key;
    cnn_gemm_packed_a_fn *gemm = cnn_gemm_packed_a_kernel();
    cnn_direct_pack_fn   *pack;
    float                *U = cnn_kept(n);
    cnn_counter           next = {0};

    cnn_direct_kernel(NULL, NULL, &pack);
    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        float *base = e->scratch + CNN_TID() * e->scratch_per_thread;
        float *V = base + p->wv_off, *M = base + p->wm_off, *tmp = base + p->wtr_off;

        if (pack_now) {
            const int slices = (p->cg + CNN_GEMM_KC - 1) / CNN_GEMM_KC;
            int64_t   lo, hi;
            cnn_slice(16, CNN_TID(), CNN_TEAM(), &lo, &hi);
            for (int xi = (int)lo; xi < hi; xi++) {
                cnn_wino_filter(W, p->ocg, p->cg, xi, M, p->cg);
                pack(p->ocg, p->cg, M, p->cg, 0, slices, 0, U + xi * ust);
            }
            CNN_OMP(omp barrier)
        }
        for (int64_t i; (i = cnn_next(&next)) < items;) {
            const int64_t g0 = i * p->wcols, g1 = g0 + p->wcols < tiles ? g0 + p->wcols : tiles;
            /* image by image: b's tiles [t0, t1) of the item, at column g - g0 */
            for (int64_t g = g0, b, t0, t1; g < g1; g = b * tpi + t1) {
                wino_span(tpi, g, g1, &b, &t0, &t1);
                cnn_wino_input(x + b * p->xs, p->cg, w->h, w->w, w->pt, w->pl, p->wtw, t0, t1,
                               V + (g - g0), p->wcols, ldx, tmp);
            }
            for (int xi = 0; xi < 16; xi++)
                gemm(p->ocg, (int)(g1 - g0), p->cg, U + xi * ust, mup, 0, V + xi * ldx, p->wcols,
                     0.0f, M + xi * ldm, p->wcols, base);
            for (int64_t g = g0, b, t0, t1; g < g1; g = b * tpi + t1) {
                wino_span(tpi, g, g1, &b, &t0, &t1);
                cnn_wino_output(M + (g - g0), p->wcols, ldm, p->ocg, w->oh, w->ow, p->wtw, t0, t1,
                                B, n->y + b * p->ys, p->ohw, tmp);
                if (fused)
                    wino_epilogue(p, e, n, n->y + b * p->ys, t0, t1);
            }
        }
    }
    n->kept_gen = e->g->param_gen;
    n->kept_key = key;
}

/* Every output element is one GEMM sum over Kc plus the bias, whatever the
 * block or the thread, so the bits depend on neither the thread count nor
 * the split, and the threads take the items (blocks, or the direct
 * kernel's tiles) as they come (cnn_next): on a machine whose two vCPUs
 * run at different speeds, the faster one does more. */
static void conv_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const int       nt = e->nthreads;
    conv_plan p  = forward_plan(e->g, n, e->batch, nt);
    int       ms = 1; /* output-channel parts a block */
    /* The sums of the output planes for the batch norm after (training),
     * where every item holds whole planes: they are in cache here. */
    float    *sums = n->stats_bn >= 0 && (p.direct ? p.dtiles == 1 : p.small || p.tiles == 1)
                         ? cnn_bn_plane_stats(e, &e->g->nodes[n->stats_bn])
                         : NULL;

    if (p.wino && !sums && n->keep_floats >= wino_kept_floats(&p)) {
        wino_forward(&p, e, n);
        return;
    }
    if (p.direct) {
        const int64_t ig = (int64_t)e->batch * p.G;
        const int64_t items = (ig + p.dimg - 1) / p.dimg * p.parts * p.dtiles;
        const int     slices = (p.kc + CNN_GEMM_KC - 1) / CNN_GEMM_KC;
        cnn_counter   next   = {0};
        /* Kept packed weights (conv_keep) are packed when the parameters
         * or the layout (variant, ocl, parts) changed since. */
        const int key = kept_key(&p, p.ocl);
        bool      pack_now = p.pack != NULL;
        if (n->keep_floats >= kept_floats(&p)) {
            cnn_direct_kernel(NULL, NULL, &p.pack);
            p.pk       = cnn_kept(n);
            p.pk_group = packed_at(&p, p.parts);
            pack_now = n->kept_gen != e->g->param_gen || n->kept_key != key;
        }
        CNN_OMP(omp parallel num_threads(nt))
        {
            float  *base = e->scratch + CNN_TID() * e->scratch_per_thread;
            int64_t lo, hi, last = -1;
            if (pack_now) { /* the weights packed once, slices shared by the threads */
                cnn_slice((int64_t)p.G * p.parts * slices, CNN_TID(), CNN_TEAM(), &lo, &hi);
                for (int64_t i = lo; i < hi; i++) {
                    const int gi = (int)(i / slices / p.parts), j = (int)(i / slices % p.parts);
                    const int s0 = (int)(i % slices);
                    int64_t   o0, o1;
                    cnn_slice(p.ocg, j, p.parts, &o0, &o1);
                    p.pack((int)(o1 - o0), p.kc, cnn_param(e, n, 0) + (gi * p.ocg + o0) * p.kc,
                           p.kc, s0, s0 + 1, p.ocl, direct_packed(&p, e, gi, j));
                }
                CNN_OMP(omp barrier)
            }
            const direct_geo q = direct_fwd_geo(&p, e, n, 0, 0, p.drows);
            direct_koff(&q, (int32_t *)(void *)(base + p.koff_off));
            /* Items by parts fastest, so one taken right after another
             * often reads the band the thread has built. */
            for (int64_t i; (i = cnn_next(&next)) < items;) {
                const int     j = (int)(i % p.parts);
                const int64_t rest = i / p.parts, c0 = rest / p.dtiles * p.dimg;
                const int     r0 = (int)(rest % p.dtiles) * p.drows;
                /* pwd (G = 1): the run in one call */
                const int64_t end = c0 + p.dimg < ig ? c0 + p.dimg : ig;
                for (int64_t bg = c0; bg < end; bg += p.pwd ? end - c0 : 1)
                    direct_block(&p, e, n, bg / p.G, p.pwd ? (int)(end - c0) : 1, (int)(bg % p.G),
                                 r0, r0 + p.drows < p.w.oh ? r0 + p.drows : p.w.oh, j,
                                 p.dimg == 1 && rest == last, base, sums);
                last = rest;
            }
        }
        if (p.pk) {
            n->kept_gen = e->g->param_gen;
            n->kept_key = key;
        }
        return;
    }
    if (p.small && p.nb > (e->batch + nt - 1) / nt) /* a chunk or more a thread */
        p.nb = (e->batch + nt - 1) / nt;
    /* Kept weights (an inference plan): packed as the GEMM's A when the
     * parameters or the variant changed since, slices shared by the
     * threads; each part of the output channels then starts at a panel. */
    cnn_direct_pack_fn *pack_a = NULL;
    const int           mr     = cnn_direct_panel(0);
    const int           key_a  = kept_key(&p, KEPT_GEMM);
    bool                pack_a_now = false;
    cnn_direct_kernel(NULL, NULL, &pack_a);
    p.gemm_pa = cnn_gemm_packed_a_kernel();
    if (pack_a && p.gemm_pa && n->keep_floats >= gemm_kept_floats(&p)) {
        p.pk       = cnn_kept(n);
        pack_a_now = n->kept_gen != e->g->param_gen || n->kept_key != key_a;
    } else {
        p.gemm_pa = NULL;
    }
    /* A chunk's columns serve several row pieces or parts: packed once. */
    int nr = 0;
    p.gemm_pab = p.gemm_pa && p.small && p.ks == p.kc
                     ? cnn_gemm_packed_ab_kernel(&p.pack_b, &p.pack_b_cols, &nr)
                     : NULL;
    /* A pointwise conv of one group in chunks of wcols of the batch's
     * columns (the images side by side), whole panels of B but the last,
     * rather than of whole images (conv f: 2 x 196 columns, each ending
     * in a panel of 4; 208 + 184: one half panel, 8 columns). */
    const int64_t cols = (int64_t)e->batch * p.ohw;
    int64_t       wcols = 0;
    if (p.gemm_pab && p.pw && p.G == 1 && p.nb > 1 && p.tn + 32 <= CNN_GEMM_WS_FLOATS) {
        const int64_t tn = (int64_t)p.nb * p.ohw, nch = (cols + tn - 1) / tn;
        wcols = ((cols + nch - 1) / nch + nr - 1) / nr * nr; /* <= tn rounded up to 32 */
    }
    const int64_t chunks = wcols         ? (cols + wcols - 1) / wcols
                           : p.small     ? (e->batch + p.nb - 1) / p.nb
                                         : (int64_t)e->batch * p.tiles;
    /* Blocks (chunks of images, or tiles of one), each in ms parts of
     * its output channels (64 or more) when there are fewer than
     * threads; the threads take them as they come. */
    const int64_t want = nt;
    if (chunks * p.G < want) {
        ms = (int)((want + chunks * p.G - 1) / (chunks * p.G));
        if (ms > p.ocg / 64)
            ms = p.ocg / 64 > 1 ? p.ocg / 64 : 1;
    }
    /* Chunks whose rows go in pieces (fwd_block), fewer than four a
     * thread: each piece an item (conv f: 2 chunks of 4 images, 2048
     * rows: 44 items, not 2), so a thread on a slower vCPU does fewer
     * (the same work and the same bits; a thread makes a chunk's
     * columns once for each run of its pieces it takes). */
    if (p.small && p.ks == p.kc && (p.nb > 1 || wcols) && chunks * p.G < 4 * want &&
        p.ocg > 2 * FWD_PIECE)
        ms = (p.ocg + FWD_PIECE - 1) / FWD_PIECE;
    cnn_counter next = {0};
    CNN_OMP(omp parallel num_threads(nt))
    {
        float       *base = e->scratch + CNN_TID() * e->scratch_per_thread;
        float       *col = base + p.col_off, *stage = base + p.stage_off;
        int64_t      last = -1, ld = 0;
        const float *cm = NULL, *bpk = NULL;

        if (pack_a_now) {
            const int slices = (p.kc + CNN_GEMM_KC - 1) / CNN_GEMM_KC;
            int64_t   lo, hi;
            cnn_slice((int64_t)p.G * slices, CNN_TID(), CNN_TEAM(), &lo, &hi);
            for (int64_t i = lo; i < hi; i++) {
                const int gi = (int)(i / slices), s0 = (int)(i % slices);
                pack_a(p.ocg, p.kc, cnn_param(e, n, 0) + (int64_t)gi * p.ocg * p.kc, p.kc, s0,
                       s0 + 1, 0, p.pk + gi * gemm_mup(&p) * p.kc);
            }
            CNN_OMP(omp barrier)
        }
        for (int64_t i; (i = cnn_next(&next)) < chunks * p.G * ms;) {
            int64_t o0, o1;
            if (wcols) { /* columns [c0, c0 + cn), rows a part of whole panels */
                const int64_t c0 = i / ms * wcols;
                const int     cn = (int)(cols - c0 < wcols ? cols - c0 : wcols);
                if (i / ms != last)
                    p.pack_b_cols(p.kc, c0, cn, p.ohw, x->y, p.xs, base, base + p.bp_off);
                last = i / ms;
                cnn_slice((p.ocg + mr - 1) / mr, (int)(i % ms), ms, &o0, &o1);
                fwd_cols(&p, e, n, c0, cn, (int)(o0 * mr), (int)(o1 * mr < p.ocg ? o1 * mr : p.ocg),
                         stage, base, base + p.bp_off);
                continue;
            }
            const conv_block k = block_at(&p, e->batch, i / ms);
            /* The parts of one block share its columns when it has one
             * slice and one thread takes them one after the other. */
            if (i / ms != last || p.ks < p.kc) {
                cm  = columns(&p, x->y, &k, 0, slice_end(&p, 0), col, &ld);
                bpk = NULL;
                if (p.gemm_pab && cm == col) {
                    bpk = base + p.bp_off;
                    p.pack_b(false, p.kc, (int)block_n(&p, &k), cm, (int)ld, base + p.bp_off);
                }
            }
            last = i / ms;
            if (p.gemm_pa) {
                cnn_slice((p.ocg + mr - 1) / mr, (int)(i % ms), ms, &o0, &o1);
                o0 *= mr;
                o1 = o1 * mr < p.ocg ? o1 * mr : p.ocg;
            } else {
                cnn_slice(p.ocg, (int)(i % ms), ms, &o0, &o1);
            }
            fwd_block(&p, e, n, &k, cm, ld, (int)o0, (int)o1, col, stage, base, sums,
                      p.gemm_pa ? p.pk : NULL, bpk);
        }
    }
    if (p.gemm_pa) {
        n->kept_gen = e->g->param_gen;
        n->kept_key = key_a;
    }
}

/* ==== @@BACKWARD ==== */

/* Per block, with dY [OC/G, N] (gathered into stage for a chunk, read in
 * place for one image's tile):
 *   dW_g += dY col^T       (the GEMM packs col^T; no dot products)
 *   db   += row sums of dY
 *   dcol  = W_g^T dY, then dx += col2im(dcol)
 * Threads take static slices of the batch (a tile's col2im reaches into its
 * neighbours' input rows, so an image stays with one thread). With one
 * thread, weight gradients accumulate in place; with more, each thread
 * sums its own images and the partials are added in thread order, so a
 * given thread count always gives the same bits. dx is always dx + (its
 * dcol sum), the same arithmetic for any split. */
static void bwd_block(const conv_plan *p, const cnn_exec *e, cnn_node *n, const conv_block *k,
                      float *col, float *stage, float *dW, float beta, float *dB, float *ws)
{
    cnn_node      *x  = cnn_in_node(e, n, 0);
    const float   *W  = cnn_param(e, n, 0) + (int64_t)k->gi * p->ocg * p->kc;
    const int64_t  N  = block_n(p, k);
    const float   *dy = n->dy + k->b0 * p->ys + (int64_t)k->gi * p->ocg * p->ohw;
    int64_t        ldy = p->ohw, ld;

    if (k->cnt > 1) {
        for (int i = 0; i < k->cnt; i++)
            for (int o = 0; o < p->ocg; o++)
                memcpy(stage + o * N + (int64_t)i * p->ohw, dy + i * p->ys + (int64_t)o * p->ohw,
                       (size_t)p->ohw * sizeof *stage);
        dy  = stage;
        ldy = N;
    } else {
        dy += (int64_t)k->r0 * p->w.ow;
    }
    for (int o = 0; dW && dB && o < p->ocg; o++)
        dB[k->gi * p->ocg + o] += cnn_sum(dy + o * ldy, N);
    /* Slice by slice of Kc: the columns [s0, s1) serve dW's columns
     * [s0, s1), then hold dcol's rows [s0, s1). */
    /* A GEMM of more rows than one block packs its B once, at bp. */
    float *bp = ws + p->bpb_off;
    for (int s0 = 0; s0 < p->kc; s0 = slice_end(p, s0)) {
        const int s1 = slice_end(p, s0);
        if (dW) {
            const float *cm = columns(p, x->y, k, s0, s1, col, &ld);
            float       *dw = dW + (int64_t)k->gi * p->ocg * p->kc + s0;
            /* dW[ocg, s0:s1] = beta dW + dY[ocg, N] * col[s0:s1, N]^T */
            if (p->gemm_pb && p->ocg > CNN_GEMM_ONE_BLOCK) {
                p->pack_b(true, (int)N, s1 - s0, cm, (int)ld, bp);
                p->gemm_pb(false, p->ocg, s1 - s0, (int)N, 1.0f, dy, (int)ldy, bp, beta, dw, p->kc,
                           ws);
            } else {
                cnn_gemm_ws(false, true, p->ocg, s1 - s0, (int)N, 1.0f, dy, (int)ldy, cm, (int)ld,
                            beta, dw, p->kc, ws);
            }
        }
        if (x->req && !p->direct_dx) {
            /* dcol[s0:s1, N] = W[ocg, s0:s1]^T * dY[ocg, N] */
            float *dx = x->dy + k->b0 * p->xs + (int64_t)k->gi * p->cg * p->w.h * p->w.w;
            /* A: W^T packed once (wtap; one slice, s0 = 0) or by the GEMM;
             * B: dY packed once here (bk) or by the GEMM */
            const float *wt = p->wtap ? p->wtap + k->gi * p->wt_mup * p->ocg : NULL, *bk = NULL;
            if (p->gemm_pb && s1 - s0 > CNN_GEMM_ONE_BLOCK) {
                p->pack_b(false, p->ocg, (int)N, dy, (int)ldy, bp);
                bk = bp;
            }
            if (wt && bk)
                p->gemm_pab(s1 - s0, (int)N, p->ocg, wt, p->wt_mup, 0, bk, 0.0f, col, (int)N, ws);
            else if (wt)
                p->gemm_pa(s1 - s0, (int)N, p->ocg, wt, p->wt_mup, 0, dy, (int)ldy, 0.0f, col,
                           (int)N, ws);
            else if (bk)
                p->gemm_pb(true, s1 - s0, (int)N, p->ocg, 1.0f, W + s0, p->kc, bk, 0.0f, col,
                           (int)N, ws);
            else
                cnn_gemm_ws(true, false, s1 - s0, (int)N, p->ocg, 1.0f, W + s0, p->kc, dy,
                            (int)ldy, 0.0f, col, (int)N, ws);
            if (k->cnt == 1)
                cnn_col2im_add_rows(col, N, p->cg, &p->w, s0, s1, k->r0, k->r1, dx);
            else
                for (int i = 0; i < k->cnt; i++)
                    cnn_col2im_add_rows(col + (int64_t)i * p->ohw, N, p->cg, &p->w, s0, s1, 0,
                                        p->w.oh, dx + i * p->xs);
        }
    }
}

/* Images in the weight gradient's chunk at c0 (nimgd, or the rest). */
static int dw_chunk(const conv_plan *p, const cnn_exec *e, int64_t c0)
{
    return (int)(e->batch - c0 < p->nimgd ? e->batch - c0 : p->nimgd);
}

/* Stages images [b0, b0 + cnt) of group gi for cnn_direct_dw
 * (plan_direct_dw) in the scratch at base: their bands, and their dY at
 * the bands' pitch (db += their sums), or with ocl (dwo) each pixel's
 * place (dY^T: dw_stage_panel). */
static void dw_stage(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b0, int cnt,
                     int gi, float *dB, float *base)
{
    const cnn_win2d *w    = &p->w;
    const float     *xg   = cnn_in_node(e, n, 0)->y + (int64_t)gi * p->cg * w->h * w->w;
    const float     *dyg  = n->dy + (int64_t)gi * p->ocg * p->ohw;
    float           *band = base + p->dwb_off, *stage = base + p->dws_off;
    int32_t         *pos  = (int32_t *)(void *)(base + p->dwp_off);

    for (int i = 0; i < cnt; i++) {
        const float *x  = xg + (b0 + i) * p->xs, *dy = dyg + (b0 + i) * p->ys;
        float       *xb = band + i * p->bandd, *g = stage + i * p->staged;
        const int64_t used = (int64_t)p->cg * p->hbd * p->wpd, rows = (int64_t)w->oh * p->wpd;
        cnn_band_rows(x, p->cg, w->h, w->w, -w->pt, p->hbd, w->pl, p->wpd, (int64_t)p->hbd * p->wpd,
                      xb);
        memset(xb + used, 0, (size_t)(p->bandd - used) * sizeof *xb);
        if (p->dwo) {
            int32_t *pi = pos + i * p->ohw;
            for (int oy = 0; oy < w->oh; oy++)
                for (int ox = 0; ox < w->ow; ox++)
                    *pi++ = (int32_t)(i * p->bandd + (int64_t)oy * w->sh * p->wpd + ox * w->sw);
            continue;
        }
        cnn_band_rows(dy, p->ocg, w->oh, w->ow, 0, w->oh, 0, p->wpd, p->nd, g);
        for (int o = 0; o < p->ocg; o++) {
            memset(g + o * p->nd + rows, 0, (size_t)(p->nd - rows) * sizeof *g);
            if (dB)
                dB[gi * p->ocg + o] += cnn_sum(dy + (int64_t)o * p->ohw, p->ohw);
        }
    }
}

/* With ocl: dY^T of images [b0, b0 + cnt), group gi, output channels
 * [oc, oc + ocw) (zeros past the group's), into their panel [npos][ocw]
 * in the scratch at base. 64 pixels at a time: their ocw-float rows stay
 * in L1 while the panel's channels fill them (a 112x112 plane's panel
 * would not). */
static void dw_stage_panel(const conv_plan *p, const cnn_node *n, int64_t b0, int cnt, int gi,
                           int oc, float *base)
{
    const float  *dyg  = n->dy + (int64_t)gi * p->ocg * p->ohw;
    const int     ocw  = p->ocw, nr = p->ocg - oc < ocw ? p->ocg - oc : ocw;
    const int64_t npos = (int64_t)cnt * p->ohw;
    float        *pan  = base + p->dws_off + (int64_t)(oc / ocw) * npos * ocw;

    for (int i = 0; i < cnt; i++) {
        const float *dy = dyg + (b0 + i) * p->ys + (int64_t)oc * p->ohw;
        for (int q0 = 0; q0 < p->ohw; q0 += 64) {
            const int nq  = p->ohw - q0 < 64 ? p->ohw - q0 : 64;
            float    *dst = pan + ((int64_t)i * p->ohw + q0) * ocw;
            cnn_transpose(dy + q0, p->ohw, nr, nq, dst, ocw);
            for (int q = 0; nr < ocw && q < nq; q++)
                memset(dst + (int64_t)q * ocw + nr, 0, (size_t)(ocw - nr) * sizeof *dst);
        }
    }
}

/* dW and db of group gi, output channels [o0, o0 + ocw) (the group's),
 * taps [k0, k0 + dwkb) (db with the first block) += those of the chunk
 * of images [c0, c0 + cnt) staged at sb (dw_stage, dw_stage_panel); the
 * tap offsets and the kernel's workspace at base. */
static void dw_panel_chunk(const conv_plan *p, const cnn_node *n, int gi, int o0, int k0,
                           int64_t c0, int cnt, const float *sb, float *base, float *dW, float *dB)
{
    const int     nr   = p->ocg - o0 < p->ocw ? p->ocg - o0 : p->ocw;
    const int64_t npos = (int64_t)cnt * p->ohw;
    const cnn_direct_dw d = {
        .M = nr, .K = p->kc - k0 < p->dwkb ? p->kc - k0 : p->dwkb, .n = npos, .ldw = p->kc,
        .dy = sb + p->dws_off + o0 / p->ocw * npos * p->ocw, .xb = sb + p->dwb_off,
        .koff = (const int32_t *)(const void *)(base + p->dwk_off) + k0,
        .dw = dW + ((int64_t)gi * p->ocg + o0) * p->kc + k0, .ocl = true,
        .pos = (const int32_t *)(const void *)(sb + p->dwp_off), .ws = base + p->dwt_off,
    };
    p->direct_dw(&d);
    const float *dyg = n->dy + (int64_t)gi * p->ocg * p->ohw;
    for (int b = 0; dB && k0 == 0 && b < cnt; b++)
        for (int o = o0; o < o0 + nr; o++)
            dB[gi * p->ocg + o] += cnn_sum(dyg + (c0 + b) * p->ys + (int64_t)o * p->ohw, p->ohw);
}

/* dW and db of group gi += those of images [b0, b0 + cnt): staged, then
 * one call (positions in the lanes) or one a panel (ocl). koff holds the
 * tap offsets already. */
static void direct_dw(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b0, int cnt,
                      int gi, float *dW, float *dB, float *base)
{
    dw_stage(p, e, n, b0, cnt, gi, dB, base);
    if (p->dwo) {
        for (int oc = 0; oc < p->ocg; oc += p->ocw) {
            dw_stage_panel(p, n, b0, cnt, gi, oc, base);
            dw_panel_chunk(p, n, gi, oc, 0, b0, cnt, base, base, dW, dB);
        }
        return;
    }
    const cnn_direct_dw d = {
        .M = p->ocg, .K = p->kc, .nimg = cnt, .n = p->nd, .dys = p->staged, .xbs = p->bandd,
        .ldw = p->kc, .dy = base + p->dws_off, .xb = base + p->dwb_off,
        .koff = (const int32_t *)(const void *)(base + p->dwk_off),
        .dw = dW + (int64_t)gi * p->ocg * p->kc, .ws = base + p->dwt_off,
    };
    p->direct_dw(&d);
}

/* The weight gradient with the output channels in the lanes (dwo), for
 * any batch: group by group, in rounds of nt chunks of nimgd images, each
 * thread stages one chunk in its own scratch (dw_stage); then the threads
 * take items, a panel of ocw output channels x a block of dwkb taps, as
 * they come, each adding every chunk's sums into dW (and its panel's db,
 * with the first block) in chunk order. Every element of dW is one item's,
 * summed in the same order whichever thread takes it: no partial dW to
 * reduce, no thread waiting on a static share. koff: in each thread's
 * scratch already; ctr: two counters at 0. */
static void direct_dw_panels(const conv_plan *p, const cnn_exec *e, cnn_node *n, float *dW,
                             float *dB, int tid, int nt, cnn_counter ctr[2])
{
    float        *base   = e->scratch + tid * e->scratch_per_thread;
    const int     panels = (p->ocg + p->ocw - 1) / p->ocw;
    const int     blocks = (p->kc + p->dwkb - 1) / p->dwkb;
    const int64_t round  = (int64_t)p->nimgd * nt;
    int           r      = 0;

    if (e->batch < nt) { /* each thread its share of the panels, all images, staged itself */
        int64_t lo, hi;
        cnn_slice(panels, tid, nt, &lo, &hi);
        for (int gi = 0; gi < p->G && lo < hi; gi++)
            for (int64_t c0 = 0; c0 < e->batch; c0 += p->nimgd) {
                const int cnt = dw_chunk(p, e, c0);
                dw_stage(p, e, n, c0, cnt, gi, NULL, base);
                for (int64_t j = lo; j < hi; j++) {
                    dw_stage_panel(p, n, c0, cnt, gi, (int)j * p->ocw, base);
                    for (int k0 = 0; k0 < p->kc; k0 += p->dwkb)
                        dw_panel_chunk(p, n, gi, (int)j * p->ocw, k0, c0, cnt, base, base, dW, dB);
                }
            }
        return;
    }
    for (int gi = 0; gi < p->G; gi++)
        for (int64_t b0 = 0; b0 < e->batch; b0 += round, r++) {
            const int64_t c0 = b0 + (int64_t)tid * p->nimgd;
            if (c0 < e->batch)
                dw_stage(p, e, n, c0, dw_chunk(p, e, c0),
                         gi, NULL, base);
            /* the chunks' panels of dY^T, shared by all the threads */
            const int64_t chunks = (e->batch - b0 + p->nimgd - 1) / p->nimgd;
            int64_t       lo, hi;
            cnn_slice((chunks < nt ? chunks : nt) * panels, tid, nt, &lo, &hi);
            for (int64_t i = lo; i < hi; i++) {
                const int64_t ct = b0 + i / panels * p->nimgd;
                dw_stage_panel(p, n, ct, dw_chunk(p, e, ct),
                               gi, (int)(i % panels) * p->ocw,
                               e->scratch + i / panels * e->scratch_per_thread);
            }
            if (tid == 0) /* the next round's counter: every thread is done with it */
                atomic_store_explicit(&ctr[(r + 1) & 1].next, 0, memory_order_relaxed);
            CNN_OMP(omp barrier)
            for (int64_t i; (i = cnn_next(&ctr[r & 1])) < (int64_t)panels * blocks;) {
                const int o0 = (int)(i / blocks) * p->ocw, k0 = (int)(i % blocks) * p->dwkb;
                for (int t = 0; t < nt && b0 + (int64_t)t * p->nimgd < e->batch; t++) {
                    const int64_t ct  = b0 + (int64_t)t * p->nimgd;
                    const int     cnt = dw_chunk(p, e, ct);
                    dw_panel_chunk(p, n, gi, o0, k0, ct, cnt,
                                   e->scratch + t * e->scratch_per_thread, base, dW, dB);
                }
            }
            CNN_OMP(omp barrier) /* the chunks staged are read no more */
        }
}

/* dx of image b, group gi, += (with over_dx: =) the conv of its dY with W^T flipped (Wt). */
static direct_geo direct_dx_geo(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b,
                                int gi, const float *Wt)
{
    const cnn_win2d *w = &p->w;
    cnn_node        *x = cnn_in_node(e, n, 0);
    const direct_geo q = {
        .x = n->dy + b * p->ys + (int64_t)gi * p->ocg * p->ohw,
        .c = p->ocg, .h = w->oh, .w = w->ow, .kh = w->kh, .kw = w->kw, .sh = 1, .sw = 1,
        .dh = w->dh, .dw = w->dw, .pt = (w->kh - 1) * w->dh - w->pt,
        .pl = (w->kw - 1) * w->dw - w->pl, .oh = w->h, .ow = w->w, .wq = p->wpx,
        .hs = p->dxrows + (w->kh - 1) * w->dh, .M = p->cg,
        .W = Wt + (int64_t)gi * p->cg * p->ocg * w->kh * w->kw,
        .y = x->dy + b * p->xs + (int64_t)gi * p->cg * w->h * w->w, .ldy = (int64_t)w->h * w->w,
        .add = !n->over_dx, .wide = p->widex, .ocl = p->oclx,
        .Ap = p->oclx ? e->scratch + p->wtp_off +
                            gi * CNN_DIRECT_PACKED(p->cg, (int64_t)p->ocg * w->kh * w->kw)
                      : NULL,
    };
    return q;
}

/* The tap offsets of direct_dx, after its band. */
static int32_t *dx_koff(const conv_plan *p, float *base)
{
    const int64_t band = (int64_t)p->ocg * (p->w.h + (p->w.kh - 1) * p->w.dh) * p->wpx + 16;
    return (int32_t *)(void *)(base + p->bandx_off + r16(band));
}

static void direct_dx(const conv_plan *p, const cnn_exec *e, cnn_node *n, int64_t b, int gi,
                      const float *Wt, float *base)
{
    const direct_geo q = direct_dx_geo(p, e, n, b, gi, Wt);

    for (int r0 = 0; r0 < p->w.h; r0 += p->dxrows)
        direct_run(p->direct_dx, &q, r0, r0 + p->dxrows < p->w.h ? r0 + p->dxrows : p->w.h,
                   base + p->bandx_off, false, dx_koff(p, base), base);
}

/* Rows [r0, r1) of the G*cg rows of Wt[g][ci][(o, ky, kx)] =
 * W[g][o][(ci, kh-1-ky, kw-1-kx)]. */
static void flip_weights(const conv_plan *p, const float *W, float *Wt, int64_t r0, int64_t r1)
{
    const int kk = p->w.kh * p->w.kw;

    for (int64_t r = r0; r < r1; r++) {
        const int64_t gi = r / p->cg, ci = r % p->cg;
        for (int o = 0; o < p->ocg; o++)
            for (int t = 0; t < kk; t++)
                Wt[(r * p->ocg + o) * kk + t] = W[((gi * p->ocg + o) * p->cg + ci) * kk + kk - 1 - t];
    }
}

/* Row tile number i of a large image in the backward's order: the even
 * tiles, then the odd ones. Tiles t and t + 2 add into dx rows apart
 * where tile_phases holds, so the tiles of one parity may go to
 * different threads; dx rows that two tiles share get the even tile's
 * sum first whatever the split, so dx's bits do not depend on it. */
static int tile_at(const conv_plan *p, int i)
{
    const int even = (p->tiles + 1) / 2;
    return i < even ? 2 * i : 2 * (i - even) + 1;
}

static bool tile_phases(const conv_plan *p)
{
    return p->tiles > 1 && (int64_t)(p->w.kh - 1) * p->w.dh < (int64_t)(p->rows + 1) * p->w.sh;
}

/* Whether gemm_bwd shares each image's row tiles among the threads, one
 * parity at a time (fewer images than threads), rather than giving each
 * thread its own images. */
static bool bwd_by_phases(const conv_plan *p, int batch, int nt)
{
    return batch < nt && tile_phases(p);
}

/* The backward by im2col + GEMM and col2im (dW where gdW, dx unless by
 * direct_dx), in a parallel region. Images [lo, hi) of this thread, nb at
 * a time; with fewer images than threads (conv b at batch 1), each large
 * image's row tiles shared by all, one parity at a time. fresh: gdW is
 * the thread's partial, not zeroed: its first block's GEMMs write it
 * (beta 0: the bits of 0 + their sums, but for the sign of a zero, which
 * adding the partials into the zeroed gradient drops). */
static void gemm_bwd(const conv_plan *p, const cnn_exec *e, cnn_node *n, int tid, int nt,
                     int64_t lo, int64_t hi, float *col, float *stage, float *gdW, bool fresh,
                     float *dB, float *base)
{
    float *dx = cnn_in_node(e, n, 0)->dy;

    if (bwd_by_phases(p, e->batch, nt)) {
        for (int64_t b = 0; b < e->batch; b++) {
            int64_t a, z;
            if (n->over_dx && !p->direct_dx) {
                cnn_slice(p->xs, tid, nt, &a, &z);
                memset(dx + b * p->xs + a, 0, (size_t)(z - a) * sizeof *dx);
                CNN_OMP(omp barrier)
            }
            for (int ph = 0; ph < 2; ph++) {
                const int cnt = (p->tiles - ph + 1) / 2;
                cnn_slice((int64_t)cnt * p->G, tid, nt, &a, &z);
                for (int64_t i = a; i < z; i++) {
                    conv_block k = {.b0 = b, .cnt = 1, .r0 = (ph + 2 * (int)(i / p->G)) * p->rows,
                                    .gi = (int)(i % p->G)};
                    k.r1 = k.r0 + p->rows < p->w.oh ? k.r0 + p->rows : p->w.oh;
                    bwd_block(p, e, n, &k, col, stage, gdW, 1.0f, dB, base);
                }
                CNN_OMP(omp barrier)
            }
        }
        return;
    }
    for (int64_t b0 = lo; b0 < hi; b0 += p->nb) {
        const int cnt = (int)(hi - b0 < p->nb ? hi - b0 : p->nb);
        /* dx not zeroed (over_dx): these images' dx zeroed here, in
         * cache, before col2im adds into it. */
        if (n->over_dx && !p->direct_dx)
            memset(dx + b0 * p->xs, 0, (size_t)(cnt * p->xs) * sizeof *dx);
        for (int t = 0; t < p->tiles; t++)
            for (int gi = 0; gi < p->G; gi++) {
                conv_block k = {.b0 = b0, .cnt = cnt, .r0 = tile_at(p, t) * p->rows, .gi = gi};
                k.r1 = k.r0 + p->rows < p->w.oh ? k.r0 + p->rows : p->w.oh;
                bwd_block(p, e, n, &k, col, stage, gdW, fresh && b0 == lo && t == 0 ? 0.0f : 1.0f,
                          dB, base);
            }
    }
}

static void conv_backward(const cnn_exec *e, cnn_node *n)
{
    conv_plan       p = plan_of(e->g, n, e->batch, 1, e->nthreads);
    const bool      want_dw = n->trainable, has_b = n->a.conv.bias;
    const int64_t   slice = (e->batch + e->nthreads - 1) / e->nthreads;

    cnn_counter     next = {0}, ctr[2] = {{0}, {0}};

    if (!p.dwo && (slice < p.nimgd ? slice : p.nimgd) * p.nd < cnn_conv_tuning.direct_dw_min)
        p.direct_dw = NULL;
    /* dcol's A (W^T) packed once for every block (plan_of's wta). */
    cnn_gemm_pack_a_fn *pack_wt = p.wta > 0 && cnn_conv_tuning.bwd_pack_once &&
                                          cnn_in_node(e, n, 0)->req && cnn_gemm_packed_a_kernel()
                                      ? cnn_gemm_pack_a_kernel()
                                      : NULL;
    p.wtap   = pack_wt ? e->scratch + p.wta_off : NULL;
    p.wt_mup = (p.kc + cnn_direct_panel(0) - 1) / cnn_direct_panel(0) * cnn_direct_panel(0);
    /* ... and the GEMMs' entries for packed operands (NULL: portable) */
    int nr;
    p.gemm_pa  = cnn_gemm_packed_a_kernel();
    p.gemm_pab = cnn_gemm_packed_ab_kernel(&p.pack_b, &p.pack_b_cols, &nr);
    p.gemm_pb  = p.bpb > 0 && cnn_conv_tuning.bwd_pack_once ? cnn_gemm_packed_b_kernel(&p.pack_b)
                                                             : NULL;

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        const int tid  = CNN_TID(), nt = CNN_TEAM();
        float    *base = e->scratch + tid * e->scratch_per_thread;
        float    *col = base + p.col_off, *stage = base + p.stage_off;
        /* Partial dW and db a thread, reduced after, unless by panels. */
        const bool part = nt > 1 && want_dw && !(p.direct_dw && p.dwi);
        float     *dW = part ? base + p.part_off : cnn_pgrad(e, n, 0);
        float     *dB = part ? (has_b ? dW + p.wn : NULL) : (has_b ? cnn_pgrad(e, n, 1) : NULL);
        int64_t    lo, hi;

        cnn_slice(e->batch, tid, nt, &lo, &hi);
        /* A partial dW that the GEMMs' first block of the thread writes
         * whole (gemm_bwd's fresh) is not zeroed first: 4 MiB a thread
         * for conv f, written and read back from memory. */
        const bool fresh = part && !p.direct_dw && lo < hi && !bwd_by_phases(&p, e->batch, nt) &&
                           cnn_conv_tuning.bwd_fresh_dw;
        if (part)
            memset(fresh ? dW + p.wn : dW, 0, (size_t)(fresh ? p.oc : p.wn + p.oc) * sizeof *dW);
        if (p.direct_dw && want_dw) {
            /* The taps' offsets in the input padded all round, pitch wpd. */
            const direct_geo q = {.c = p.cg, .kh = p.w.kh, .kw = p.w.kw, .sh = 1, .sw = 1,
                                  .dh = p.w.dh, .dw = p.w.dw, .wq = p.wpd, .hs = p.hbd};
            direct_koff(&q, (int32_t *)(void *)(base + p.dwk_off));
            if (p.dwi)
                direct_dw_panels(&p, e, n, dW, dB, tid, nt, ctr);
            else
                for (int64_t b0 = lo; b0 < hi; b0 += p.nimgd)
                    for (int gi = 0; gi < p.G; gi++)
                        direct_dw(&p, e, n, b0, (int)(hi - b0 < p.nimgd ? hi - b0 : p.nimgd), gi,
                                  dW, dB, base);
        }
        if (pack_wt) { /* slices of each group's W^T a thread, into thread 0's scratch */
            const int slices = (p.ocg + CNN_GEMM_KC - 1) / CNN_GEMM_KC;
            int64_t   a, z;
            cnn_slice((int64_t)p.G * slices, tid, nt, &a, &z);
            for (int64_t i = a; i < z; i++) {
                const int gi = (int)(i / slices), s = (int)(i % slices);
                pack_wt(true, p.kc, p.ocg, cnn_param(e, n, 0) + (int64_t)gi * p.ocg * p.kc, p.kc,
                        p.wt_mup, s, s + 1, e->scratch + p.wta_off + gi * p.wt_mup * p.ocg);
            }
            CNN_OMP(omp barrier)
        }
        /* What is left for im2col + GEMM and col2im: dW, dx or both. */
        float *gdW = want_dw && !p.direct_dw ? dW : NULL;
        if (gdW || !p.direct_dx)
            gemm_bwd(&p, e, n, tid, nt, lo, hi, col, stage, gdW, fresh, dB, base);
        /* Every thread's partial dW is done (and the scratch of thread
         * 0's direct dW free): each thread adds a slice of the elements,
         * thread by thread in order, the arithmetic of one loop. */
        CNN_OMP(omp barrier)
        if (part) {
            float  *gW = cnn_pgrad(e, n, 0), *gB = has_b ? cnn_pgrad(e, n, 1) : NULL;
            int64_t a, z;
            cnn_slice(p.wn + (gB ? p.oc : 0), tid, nt, &a, &z);
            const int64_t zw = z < p.wn ? z : p.wn, ab = a > p.wn ? a : p.wn;
            for (int t = 0; t < nt; t++) {
                const float *pW = e->scratch + t * e->scratch_per_thread + p.part_off;
                if (zw > a)
                    cnn_add_to(gW + a, pW + a, zw - a);
                if (z > ab)
                    cnn_add_to(gB + (ab - p.wn), pW + ab, z - ab);
            }
        }
        if (p.direct_dx && cnn_in_node(e, n, 0)->req) {
            /* W flipped once, a slice per thread, into thread 0's scratch */
            float  *Wt = e->scratch + p.wt_off;
            int64_t a, z;
            cnn_slice((int64_t)p.G * p.cg, tid, nt, &a, &z);
            flip_weights(&p, cnn_param(e, n, 0), Wt, a, z);
            CNN_OMP(omp barrier)
            if (p.oclx) { /* and packed, slices shared by the threads */
                const int kx = p.ocg * p.w.kh * p.w.kw, slices = (kx + CNN_GEMM_KC - 1) / CNN_GEMM_KC;
                cnn_slice((int64_t)p.G * slices, tid, nt, &a, &z);
                for (int64_t i = a; i < z; i++)
                    p.packx(p.cg, kx, Wt + i / slices * p.cg * kx, kx, (int)(i % slices),
                         (int)(i % slices) + 1, p.oclx,
                         e->scratch + p.wtp_off + i / slices * CNN_DIRECT_PACKED(p.cg, kx));
                CNN_OMP(omp barrier)
            }
            const direct_geo q = direct_dx_geo(&p, e, n, 0, 0, Wt);
            direct_koff(&q, dx_koff(&p, base));
            /* Each image's dx is its own sum: taken as they come. */
            for (int64_t i; (i = cnn_next(&next)) < (int64_t)e->batch * p.G;)
                direct_dx(&p, e, n, i / p.G, (int)(i % p.G), Wt, base);
        }
    }
}

/* Each output element costs C_in/groups * kh * kw multiply-accumulates. */
static int64_t conv_macs(const cnn_graph *g, const cnn_node *n)
{
    (void)g;
    return cnn_node_numel(n) * (cnn_shape_numel(&n->param_shape[0]) / n->a.conv.out_channels);
}

static void conv_rf(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st)
{
    (void)g;
    for (int d = 0; d < 2; d++) {
        st->k[d] = n->a.conv.kernel[d];
        st->s[d] = n->a.conv.stride[d];
        st->d[d] = n->a.conv.dilation[d];
    }
}

const cnn_op_def cnn_op_conv2d = {
    .name = "conv2d", .param_names = {"weight", "bias"},
    .infer = conv_infer, .scratch_floats = conv_scratch, .keep_floats = conv_keep,
    .forward = conv_forward, .backward = conv_backward, .writes_dx = true,
    .macs = conv_macs, .rf = conv_rf,
};

int cnn_conv2d(cnn_graph *g, int x, const cnn_conv2d_attr *a, const char *name)
{
    cnn_node    n  = {.op = CNN_OP_CONV2D};
    const char *nm = name ? name : "";

    if (!a)
        return cnn_fail(CNN_EINVAL, "conv2d '%s': NULL attributes", nm);
    if (a->out_channels < 1 || a->kernel[0] < 1 || a->kernel[1] < 1)
        return cnn_fail(CNN_EINVAL, "conv2d '%s': out_channels %d and kernel %dx%d must be >= 1",
                        nm, a->out_channels, a->kernel[0], a->kernel[1]);
    if (a->stride[0] < 1 || a->stride[1] < 1 || a->dilation[0] < 1 || a->dilation[1] < 1)
        return cnn_fail(CNN_EINVAL, "conv2d '%s': stride %dx%d and dilation %dx%d must be >= 1",
                        nm, a->stride[0], a->stride[1], a->dilation[0], a->dilation[1]);
    for (int i = 0; i < 4; i++)
        if (a->pad[i] < 0 || a->pad[i] > (1 << 20))
            return cnn_fail(CNN_EINVAL, "conv2d '%s': pad %d is %d, expected 0 to 2^20", nm, i,
                            a->pad[i]);
    if (a->groups < 1)
        return cnn_fail(CNN_EINVAL, "conv2d '%s': groups %d, expected >= 1", nm, a->groups);
    if (a->kernel[0] > (1 << 16) || a->kernel[1] > (1 << 16) || a->stride[0] > (1 << 16) ||
        a->stride[1] > (1 << 16) || a->dilation[0] > (1 << 16) || a->dilation[1] > (1 << 16) ||
        a->out_channels > (1 << 24))
        return cnn_fail(CNN_EINVAL, "conv2d '%s': kernel, stride, dilation or channels too large", nm);
    n.a.conv = *a;
    return cnn_graph_add(g, &n, &x, 1, name);
}
