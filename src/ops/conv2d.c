/* conv2d.c - 2-D convolution: attributes, shape inference, forward and
 * backward through im2col + GEMM, several images per GEMM when the output
 * plane is small. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

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

/* Images per GEMM. Small outputs (late layers, OH*OW down to 1) are batched
 * until N = images * OH*OW reaches CHUNK_N columns, so the microkernel's
 * panels fill and each packed weight block serves many columns; the col
 * buffer stays under CHUNK_COL floats (or one image, if that is larger). */
enum { CHUNK_N = 512 };
#define CHUNK_COL ((int64_t)1 << 21)

static int chunk_images(int64_t kc, int64_t ohw, int batch)
{
    int64_t nb = (CHUNK_N + ohw - 1) / ohw;

    if (nb * kc * ohw > CHUNK_COL)
        nb = CHUNK_COL / (kc * ohw);
    if (nb > batch)
        nb = batch;
    return nb < 1 ? 1 : (int)nb;
}

static int64_t r16(int64_t n) { return (n + 15) / 16 * 16; } /* keeps buffers 64-byte aligned */

/* One thread's scratch: GEMM workspace; col [Kc, nb*OH*OW] (im2col, then
 * reused for dcol); stage [OC/groups, nb*OH*OW] (forward output or
 * backward dY, side by side for the chunk's images); then the thread's
 * partial dW [OC, Kc] and db [OC]. */
typedef struct conv_plan {
    cnn_win2d w;
    int       G, oc, ocg, cg, kc, ohw, nb;
    bool      pw;
    int64_t   xs, ys, wn;
    int64_t   col_off, stage_off, part_off, total;
} conv_plan;

static conv_plan plan_of(const cnn_graph *g, const cnn_node *n, int batch)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    conv_plan       p = {.w = win_of(g, n), .G = n->a.conv.groups, .oc = n->a.conv.out_channels};

    p.ocg = p.oc / p.G;
    p.cg  = (int)x->shape.dim[0] / p.G;
    p.kc  = p.cg * p.w.kh * p.w.kw;
    p.ohw = p.w.oh * p.w.ow;
    p.pw  = is_pointwise(&p.w);
    p.nb  = chunk_images(p.kc, p.ohw, batch);
    p.xs  = cnn_node_numel(x);
    p.ys  = cnn_node_numel(n);
    p.wn  = cnn_shape_numel(&n->param_shape[0]);
    p.col_off   = r16(CNN_GEMM_WS_FLOATS);
    p.stage_off = p.col_off + r16((int64_t)p.kc * p.nb * p.ohw);
    p.part_off  = p.stage_off + r16((int64_t)p.ocg * p.nb * p.ohw);
    p.total     = p.part_off + p.wn + p.oc;
    return p;
}

static int64_t conv_scratch(const cnn_graph *g, const cnn_node *n, int batch)
{
    return plan_of(g, n, batch).total;
}

/* col [Kc, cnt*OH*OW] of cnt images of group gi (image i in columns
 * i*OH*OW ...), or the input itself when one pointwise image needs none. */
static const float *columns(const conv_plan *p, const float *x, int cnt, int gi, float *col)
{
    const int64_t gx = (int64_t)gi * p->cg * p->w.h * p->w.w, N = (int64_t)cnt * p->ohw;

    if (cnt == 1 && p->pw)
        return x + gx;
    for (int i = 0; i < cnt; i++)
        cnn_im2col(x + i * p->xs + gx, p->cg, &p->w, col + (int64_t)i * p->ohw, N);
    return col;
}

/* ==== @@FORWARD ==== */

/* Each thread takes a static slice of the batch, in chunks of nb images:
 * Y[OC/G, nb*OH*OW] = W_g[OC/G, Kc] col[Kc, nb*OH*OW], then Y is spread to
 * the images with the bias. Every output element is one GEMM sum over Kc
 * plus the bias, whatever the chunk, so the bits do not depend on the
 * thread count. */
static void conv_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x = cnn_in_node(e, n, 0);
    const conv_plan p = plan_of(e->g, n, e->batch);
    const float    *W = cnn_param(e, n, 0);
    const float    *B = n->a.conv.bias ? cnn_param(e, n, 1) : NULL;

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        float  *base = e->scratch + CNN_TID() * e->scratch_per_thread;
        float  *col = base + p.col_off, *stage = base + p.stage_off;
        int64_t lo, hi;

        cnn_slice(e->batch, CNN_TID(), CNN_TEAM(), &lo, &hi);
        for (int64_t b0 = lo; b0 < hi; b0 += p.nb) {
            const int     cnt = (int)(hi - b0 < p.nb ? hi - b0 : p.nb);
            const int64_t N   = (int64_t)cnt * p.ohw;
            for (int gi = 0; gi < p.G; gi++) {
                const float *cm = columns(&p, x->y + b0 * p.xs, cnt, gi, col);
                float       *y0 = n->y + b0 * p.ys + (int64_t)gi * p.ocg * p.ohw;
                float       *ym = cnt == 1 ? y0 : stage; /* one image: straight into y */
                cnn_gemm_ws(false, false, p.ocg, (int)N, p.kc, 1.0f, W + (int64_t)gi * p.ocg * p.kc,
                            p.kc, cm, (int)N, 0.0f, ym, (int)N, base);
                if (cnt == 1 && !B)
                    continue;
                for (int i = 0; i < cnt; i++)
                    for (int o = 0; o < p.ocg; o++) {
                        const float *s  = ym + o * N + (int64_t)i * p.ohw;
                        float       *d  = y0 + i * p.ys + (int64_t)o * p.ohw;
                        const float  bo = B ? B[gi * p.ocg + o] : 0.0f;
                        for (int j = 0; j < p.ohw; j++)
                            d[j] = s[j] + bo;
                    }
            }
        }
    }
}

/* ==== @@BACKWARD ==== */

/* Per chunk and group, with dY [OC/G, nb*OH*OW] (gathered when nb > 1):
 *   dW_g += dY col^T       (the GEMM packs col^T; no dot products)
 *   db   += row sums of dY
 *   dcol  = W_g^T dY, then dx += col2im(dcol)
 * With one thread, weight gradients accumulate in place; with more, each
 * thread sums its own images and the partials are added in thread order,
 * so a given thread count always gives the same bits. dx is always dx +
 * (its dcol sum), the same arithmetic for any chunk: it does not depend on
 * the thread count. */
static void conv_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node       *x = cnn_in_node(e, n, 0);
    const conv_plan p = plan_of(e->g, n, e->batch);
    const float    *W = cnn_param(e, n, 0);
    const bool      want_dx = x->req, want_dw = n->trainable, has_b = n->a.conv.bias;
    int             used = 1; /* threads that ran: partials to add up */

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        const int tid  = CNN_TID(), nt = CNN_TEAM();
        float    *base = e->scratch + tid * e->scratch_per_thread;
        float    *col = base + p.col_off, *stage = base + p.stage_off;
        float    *dW = nt > 1 ? base + p.part_off : cnn_pgrad(e, n, 0);
        float    *dB = nt > 1 ? dW + p.wn : (has_b ? cnn_pgrad(e, n, 1) : NULL);
        int64_t   lo, hi;

        if (tid == 0)
            used = nt;
        if (nt > 1 && want_dw)
            memset(dW, 0, (size_t)(p.wn + p.oc) * sizeof *dW);
        cnn_slice(e->batch, tid, nt, &lo, &hi);
        for (int64_t b0 = lo; b0 < hi; b0 += p.nb) {
            const int     cnt = (int)(hi - b0 < p.nb ? hi - b0 : p.nb);
            const int64_t N   = (int64_t)cnt * p.ohw;
            for (int gi = 0; gi < p.G; gi++) {
                const float *dy0 = n->dy + b0 * p.ys + (int64_t)gi * p.ocg * p.ohw;
                const float *dym = dy0;
                if (cnt > 1) {
                    for (int i = 0; i < cnt; i++)
                        for (int o = 0; o < p.ocg; o++)
                            memcpy(stage + o * N + (int64_t)i * p.ohw,
                                   dy0 + i * p.ys + (int64_t)o * p.ohw,
                                   (size_t)p.ohw * sizeof *stage);
                    dym = stage;
                }
                if (want_dw) {
                    const float *cm = columns(&p, x->y + b0 * p.xs, cnt, gi, col);
                    /* dW[ocg, kc] += dY[ocg, N] * col[kc, N]^T */
                    cnn_gemm_ws(false, true, p.ocg, p.kc, (int)N, 1.0f, dym, (int)N, cm, (int)N,
                                1.0f, dW + (int64_t)gi * p.ocg * p.kc, p.kc, base);
                    for (int o = 0; has_b && o < p.ocg; o++)
                        dB[gi * p.ocg + o] += cnn_sum(dym + o * N, N);
                }
                if (want_dx) {
                    /* dcol[kc, N] = W[ocg, kc]^T * dY[ocg, N] */
                    cnn_gemm_ws(true, false, p.kc, (int)N, p.ocg, 1.0f,
                                W + (int64_t)gi * p.ocg * p.kc, p.kc, dym, (int)N, 0.0f, col,
                                (int)N, base);
                    for (int i = 0; i < cnt; i++)
                        cnn_col2im_add(col + (int64_t)i * p.ohw, N, p.cg, &p.w,
                                       x->dy + (b0 + i) * p.xs +
                                           (int64_t)gi * p.cg * p.w.h * p.w.w);
                }
            }
        }
    }
    if (used > 1 && want_dw) {
        float *gW = cnn_pgrad(e, n, 0), *gB = has_b ? cnn_pgrad(e, n, 1) : NULL;
        for (int t = 0; t < used; t++) {
            const float *pW = e->scratch + t * e->scratch_per_thread + p.part_off;
            for (int64_t i = 0; i < p.wn; i++)
                gW[i] += pW[i];
            for (int o = 0; gB && o < p.oc; o++)
                gB[o] += pW[p.wn + o];
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
    .infer = conv_infer, .scratch_floats = conv_scratch,
    .forward = conv_forward, .backward = conv_backward,
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
