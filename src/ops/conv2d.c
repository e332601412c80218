/* conv2d.c - 2-D convolution: attributes, shape inference, forward and
 * backward through im2col + GEMM, one image at a time per thread. */
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

/* Per thread: col and dcol [Kc, OH*OW], then partial dW and db. */
static int64_t conv_scratch(const cnn_graph *g, const cnn_node *n, int batch)
{
    (void)batch;
    cnn_win2d w   = win_of(g, n);
    int64_t   kc  = n->param_shape[0].dim[1] * w.kh * w.kw;
    int64_t   col = kc * w.oh * w.ow;
    return 2 * col + cnn_shape_numel(&n->param_shape[0]) + n->a.conv.out_channels;
}

static void conv_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x   = cnn_in_node(e, n, 0);
    cnn_win2d       w   = win_of(e->g, n);
    const int       G   = n->a.conv.groups, oc = n->a.conv.out_channels;
    const int       ocg = oc / G, cg = (int)x->shape.dim[0] / G;
    const int       kc  = cg * w.kh * w.kw, ohw = w.oh * w.ow;
    const int64_t   xs  = cnn_node_numel(x), ys = cnn_node_numel(n);
    const float    *W   = cnn_param(e, n, 0);
    const float    *B   = n->a.conv.bias ? cnn_param(e, n, 1) : NULL;
    const bool      pw  = is_pointwise(&w);

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int b = 0; b < e->batch; b++) {
        float *col = e->scratch + CNN_TID() * e->scratch_per_thread;
        for (int gi = 0; gi < G; gi++) {
            const float *xg = x->y + b * xs + (int64_t)gi * cg * w.h * w.w;
            float       *yg = n->y + b * ys + (int64_t)gi * ocg * ohw;
            const float *cm = xg;
            if (!pw) {
                cnn_im2col(xg, cg, &w, col);
                cm = col;
            }
            cnn_gemm(false, false, ocg, ohw, kc, 1.0f, W + (int64_t)gi * ocg * kc, kc, cm, ohw,
                     0.0f, yg, ohw);
            for (int o = 0; B && o < ocg; o++) {
                float bo = B[gi * ocg + o], *yo = yg + (int64_t)o * ohw;
                for (int i = 0; i < ohw; i++)
                    yo[i] += bo;
            }
        }
    }
}

static void conv_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x   = cnn_in_node(e, n, 0);
    cnn_win2d     w   = win_of(e->g, n);
    const int     G   = n->a.conv.groups, oc = n->a.conv.out_channels;
    const int     ocg = oc / G, cg = (int)x->shape.dim[0] / G;
    const int     kc  = cg * w.kh * w.kw, ohw = w.oh * w.ow;
    const int64_t xs  = cnn_node_numel(x), ys = cnn_node_numel(n);
    const int64_t wn  = cnn_shape_numel(&n->param_shape[0]);
    const float  *W   = cnn_param(e, n, 0);
    const bool    pw  = is_pointwise(&w), want_dx = x->req, want_dw = n->trainable;
    const bool    has_b = n->a.conv.bias;
    const int     nt  = e->nthreads;

    /* With one thread, weight gradients accumulate in place; with more, each
     * thread sums its own images and the partials are added in thread
     * order, so a given thread count always gives the same bits. */
    CNN_OMP(omp parallel num_threads(nt))
    {
        const int tid   = CNN_TID();
        float    *base  = e->scratch + tid * e->scratch_per_thread;
        float    *col   = base, *dcol = base + (int64_t)kc * ohw;
        float    *dW    = nt > 1 ? dcol + (int64_t)kc * ohw : cnn_pgrad(e, n, 0);
        float    *dB    = nt > 1 ? dW + wn : (has_b ? cnn_pgrad(e, n, 1) : NULL);

        if (nt > 1 && want_dw)
            memset(dW, 0, (size_t)(wn + oc) * sizeof *dW);
        CNN_OMP(omp for schedule(static))
        for (int b = 0; b < e->batch; b++) {
            for (int gi = 0; gi < G; gi++) {
                const float *xg  = x->y + b * xs + (int64_t)gi * cg * w.h * w.w;
                float       *dxg = x->dy + b * xs + (int64_t)gi * cg * w.h * w.w;
                const float *dyg = n->dy + b * ys + (int64_t)gi * ocg * ohw;
                const float *Wg  = W + (int64_t)gi * ocg * kc;
                if (want_dw) {
                    const float *cm = xg;
                    if (!pw) {
                        cnn_im2col(xg, cg, &w, col);
                        cm = col;
                    }
                    /* dW[ocg, kc] += dY[ocg, ohw] * col[kc, ohw]^T */
                    cnn_gemm(false, true, ocg, kc, ohw, 1.0f, dyg, ohw, cm, ohw, 1.0f,
                             dW + (int64_t)gi * ocg * kc, kc);
                    for (int o = 0; has_b && o < ocg; o++) {
                        const float *d = dyg + (int64_t)o * ohw;
                        float        s = 0.0f;
                        for (int i = 0; i < ohw; i++)
                            s += d[i];
                        dB[gi * ocg + o] += s;
                    }
                }
                if (want_dx) {
                    /* dcol[kc, ohw] = W[ocg, kc]^T * dY[ocg, ohw] */
                    if (pw) {
                        cnn_gemm(true, false, kc, ohw, ocg, 1.0f, Wg, kc, dyg, ohw, 1.0f, dxg, ohw);
                    } else {
                        cnn_gemm(true, false, kc, ohw, ocg, 1.0f, Wg, kc, dyg, ohw, 0.0f, dcol, ohw);
                        cnn_col2im_add(dcol, cg, &w, dxg);
                    }
                }
            }
        }
    }
    if (nt > 1 && want_dw) {
        float *gW = cnn_pgrad(e, n, 0), *gB = has_b ? cnn_pgrad(e, n, 1) : NULL;
        for (int t = 0; t < nt; t++) {
            const float *pW = e->scratch + t * e->scratch_per_thread + 2 * (int64_t)kc * ohw;
            for (int64_t i = 0; i < wn; i++)
                gW[i] += pW[i];
            for (int o = 0; gB && o < oc; o++)
                gB[o] += pW[wn + o];
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
