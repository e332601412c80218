/* pool.c - max pooling, average pooling and global average pooling, with
 * PyTorch's conventions for ceil mode and the average's divisor. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

#include <math.h>

cnn_pool2d_attr cnn_pool2d_defaults(int kh, int kw)
{
    cnn_pool2d_attr a = {
        .kernel = {kh, kw}, .stride = {kh, kw}, .pad = {0, 0, 0, 0},
        .ceil_mode = false, .count_include_pad = true,
    };
    return a;
}

/* Pooling reads C x H x W; anything else fails naming both nodes. */
static int need_chw(const cnn_node *n, const cnn_node *x)
{
    char xs[64];
    if (x->shape.ndim == 3)
        return CNN_OK;
    return cnn_fail(CNN_ESHAPE, "%s '%s': input '%s' has shape %s, expected C x H x W",
                    cnn_op_name(n->op), n->name, x->name, cnn_shape_str(&x->shape, xs, sizeof xs));
}

/* Output length of one axis. Ceil mode rounds up, but (PyTorch) the last
 * window must start inside the input or the leading pad. */
static int64_t pool_len(int64_t w, int pb, int pe, int k, int s, bool ceil_mode)
{
    int64_t span = w + pb + pe - k;
    int64_t out;

    if (span < 0)
        return 0;
    out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= w + pb)
        out--;
    return out;
}

static int pool_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node        *x = &g->nodes[n->in[0]];
    const cnn_pool2d_attr *a = &n->a.pool;
    char                   xs[64];
    int64_t                oh, ow;
    int                    rc;

    if ((rc = need_chw(n, x)) < 0)
        return rc;
    oh = pool_len(x->shape.dim[1], a->pad[0], a->pad[2], a->kernel[0], a->stride[0], a->ceil_mode);
    ow = pool_len(x->shape.dim[2], a->pad[1], a->pad[3], a->kernel[1], a->stride[1], a->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_fail(CNN_ESHAPE, "%s '%s': input %s is smaller than the %dx%d window",
                        cnn_op_name(n->op), n->name, cnn_shape_str(&x->shape, xs, sizeof xs),
                        a->kernel[0], a->kernel[1]);
    n->shape = (cnn_shape){3, {x->shape.dim[0], oh, ow}};
    return CNN_OK;
}

/* Window of output (oy, ox), clipped to the input: rows [*y0, *y1), cols
 * [*x0, *x1); *padded is its size counting the pads (PyTorch's divisor
 * with count_include_pad). */
typedef struct win {
    int y0, y1, x0, x1, padded;
} win;

static inline win window(const cnn_pool2d_attr *a, int h, int w, int oy, int ox)
{
    win r;
    int ys = oy * a->stride[0] - a->pad[0], xs = ox * a->stride[1] - a->pad[1];
    int ye = ys + a->kernel[0], xe = xs + a->kernel[1];

    if (ye > h + a->pad[2])
        ye = h + a->pad[2];
    if (xe > w + a->pad[3])
        xe = w + a->pad[3];
    r.padded = (ye - ys) * (xe - xs);
    r.y0 = ys < 0 ? 0 : ys;
    r.x0 = xs < 0 ? 0 : xs;
    r.y1 = ye > h ? h : ye;
    r.x1 = xe > w ? w : xe;
    return r;
}

/* ==== @@MAXPOOL ==== */

/* The first output whose window starts inside the plane (o*s >= pad), and
 * one past the last whose window ends inside it (o*s - pad + k <= n),
 * capped at the output length. */
static int interior_lo(int pad, int s) { return (pad + s - 1) / s; }

static int interior_hi(int n, int pad, int k, int s, int out)
{
    int64_t last = (int64_t)n + pad - k;
    int64_t hi   = last < 0 ? 0 : last / s + 1;
    return hi < out ? (int)hi : out;
}

/* Saved: the arg-max (index in its input plane) of every output. */
static int64_t max_aux(const cnn_graph *g, const cnn_node *n, int batch)
{
    (void)g;
    return cnn_node_numel(n) * batch;
}

static void max_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const int       h = (int)x->shape.dim[1], w = (int)x->shape.dim[2];
    const int       oh = (int)n->shape.dim[1], ow = (int)n->shape.dim[2];
    const int64_t   planes = (int64_t)e->batch * n->shape.dim[0];
    int32_t        *arg = (int32_t *)n->aux;

    const cnn_pool2d_attr *a = &n->a.pool;
    const cnn_win2d g = {.h = h, .w = w, .kh = a->kernel[0], .kw = a->kernel[1],
                         .sh = a->stride[0], .sw = a->stride[1], .pt = a->pad[0],
                         .pl = a->pad[1], .dh = 1, .dw = 1, .oh = oh, .ow = ow};
    /* The interior: outputs whose windows lie wholly inside the plane
     * (all of them without pads or ceil clipping, as LeNet's and VGG's
     * 2x2/2) go to a kernel with no clipping; the border is done here. */
    const int iy0 = interior_lo(a->pad[0], a->stride[0]);
    const int iy1 = interior_hi(h, a->pad[0], a->kernel[0], a->stride[0], oh);
    const int ix0 = interior_lo(a->pad[1], a->stride[1]);
    const int ix1 = interior_hi(w, a->pad[1], a->kernel[1], a->stride[1], ow);
    const bool any = iy0 < iy1 && ix0 < ix1;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x->y + p * h * w;
        float       *yp = n->y + p * oh * ow;
        int32_t     *ap = arg + p * oh * ow;
        if (any)
            cnn_maxpool_fwd_rect(xp, &g, iy0, iy1, ix0, ix1, yp, ap);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                if (any && oy >= iy0 && oy < iy1 && ox == ix0) {
                    ox = ix1 - 1; /* the interior of this row is done */
                    continue;
                }
                win   r    = window(&n->a.pool, h, w, oy, ox);
                float best = -INFINITY;
                int   at   = -1;
                /* Strict '>' keeps the first of equal values; a NaN wins, as
                 * in PyTorch. */
                for (int iy = r.y0; iy < r.y1; iy++)
                    for (int ix = r.x0; ix < r.x1; ix++) {
                        float v = xp[iy * w + ix];
                        if (at < 0 || v > best || isnan(v)) {
                            best = v;
                            at   = iy * w + ix;
                        }
                    }
                yp[oy * ow + ox] = best;
                ap[oy * ow + ox] = at;
            }
    }
}

static void max_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node      *x  = cnn_in_node(e, n, 0);
    const int64_t  xs = (int64_t)x->shape.dim[1] * x->shape.dim[2];
    const int64_t  ys = (int64_t)n->shape.dim[1] * n->shape.dim[2];
    const int64_t  planes = (int64_t)e->batch * n->shape.dim[0];
    const int32_t *arg = (const int32_t *)n->aux;

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < ys; i++)
            if (arg[p * ys + i] >= 0)
                x->dy[p * xs + arg[p * ys + i]] += n->dy[p * ys + i];
}

/* ==== @@AVGPOOL ==== */

static float avg_divisor(const cnn_pool2d_attr *a, const win *r)
{
    return (float)(a->count_include_pad ? r->padded : (r->y1 - r->y0) * (r->x1 - r->x0));
}

static void avg_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const int       h = (int)x->shape.dim[1], w = (int)x->shape.dim[2];
    const int       oh = (int)n->shape.dim[1], ow = (int)n->shape.dim[2];
    const int64_t   planes = (int64_t)e->batch * n->shape.dim[0];

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x->y + p * h * w;
        float       *yp = n->y + p * oh * ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                win   r = window(&n->a.pool, h, w, oy, ox);
                float s = 0.0f;
                for (int iy = r.y0; iy < r.y1; iy++)
                    for (int ix = r.x0; ix < r.x1; ix++)
                        s += xp[iy * w + ix];
                yp[oy * ow + ox] = s / avg_divisor(&n->a.pool, &r);
            }
    }
}

static void avg_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x  = cnn_in_node(e, n, 0);
    const int     h = (int)x->shape.dim[1], w = (int)x->shape.dim[2];
    const int     oh = (int)n->shape.dim[1], ow = (int)n->shape.dim[2];
    const int64_t planes = (int64_t)e->batch * n->shape.dim[0];

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++) {
        float       *dxp = x->dy + p * h * w;
        const float *dyp = n->dy + p * oh * ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                win   r = window(&n->a.pool, h, w, oy, ox);
                float d = dyp[oy * ow + ox] / avg_divisor(&n->a.pool, &r);
                for (int iy = r.y0; iy < r.y1; iy++)
                    for (int ix = r.x0; ix < r.x1; ix++)
                        dxp[iy * w + ix] += d;
            }
    }
}

/* ==== @@GLOBAL ==== */

static int gap_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    int             rc;

    if ((rc = need_chw(n, x)) < 0)
        return rc;
    n->shape = (cnn_shape){3, {x->shape.dim[0], 1, 1}};
    return CNN_OK;
}

static void gap_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x      = cnn_in_node(e, n, 0);
    const int64_t   hw     = x->shape.dim[1] * x->shape.dim[2];
    const int64_t   planes = (int64_t)e->batch * n->shape.dim[0];

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++) {
        double s = 0.0;
        for (int64_t i = 0; i < hw; i++)
            s += x->y[p * hw + i];
        n->y[p] = (float)(s / (double)hw);
    }
}

static void gap_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x      = cnn_in_node(e, n, 0);
    const int64_t hw     = x->shape.dim[1] * x->shape.dim[2];
    const int64_t planes = (int64_t)e->batch * n->shape.dim[0];

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++) {
        float d = n->dy[p] / (float)hw;
        for (int64_t i = 0; i < hw; i++)
            x->dy[p * hw + i] += d;
    }
}

/* ==== @@ADAPTIVE ==== */

/* PyTorch's AdaptiveAvgPool2d windows: [floor(i*in/out), ceil((i+1)*in/out)). */
static inline int64_t ad_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
static inline int64_t ad_end(int64_t i, int64_t in, int64_t out)
{
    return ((i + 1) * in + out - 1) / out;
}

static int adaptive_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    int             rc;

    if ((rc = need_chw(n, x)) < 0)
        return rc;
    n->shape = (cnn_shape){3, {x->shape.dim[0], n->a.adaptive.out[0], n->a.adaptive.out[1]}};
    return CNN_OK;
}

static void adaptive_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const int64_t   h = x->shape.dim[1], w = x->shape.dim[2];
    const int64_t   oh = n->shape.dim[1], ow = n->shape.dim[2];
    const int64_t   planes = (int64_t)e->batch * n->shape.dim[0];

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
                int64_t x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                float   s = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += x->y[(p * h + iy) * w + ix];
                n->y[(p * oh + oy) * ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
}

static void adaptive_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x  = cnn_in_node(e, n, 0);
    const int64_t h = x->shape.dim[1], w = x->shape.dim[2];
    const int64_t oh = n->shape.dim[1], ow = n->shape.dim[2];
    const int64_t planes = (int64_t)e->batch * n->shape.dim[0];

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
                int64_t x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                float   d = n->dy[(p * oh + oy) * ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        x->dy[(p * h + iy) * w + ix] += d;
            }
}

/* ==== @@RECEPTIVE_FIELD ==== */

static void pool_rf(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st)
{
    (void)g;
    for (int d = 0; d < 2; d++) {
        st->k[d] = n->a.pool.kernel[d];
        st->s[d] = n->a.pool.stride[d];
    }
}

static void whole_rf(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st)
{
    (void)g;
    (void)n;
    st->whole = true;
}

/* The largest window ceil(in/out) and the stride floor(in/out) (exact when
 * out divides in; identity when in == out). */
static void adaptive_rf(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    for (int d = 0; d < 2; d++) {
        int64_t in = x->shape.dim[1 + d], out = n->shape.dim[1 + d];
        st->k[d] = (int)((in + out - 1) / out);
        st->s[d] = in >= out ? (int)(in / out) : 1;
    }
}

const cnn_op_def cnn_op_maxpool2d = {
    .name = "maxpool2d", .infer = pool_infer, .aux_floats = max_aux,
    .forward = max_forward, .backward = max_backward, .rf = pool_rf,
};
const cnn_op_def cnn_op_avgpool2d = {
    .name = "avgpool2d", .infer = pool_infer, .forward = avg_forward, .backward = avg_backward,
    .rf = pool_rf,
};
const cnn_op_def cnn_op_global_avgpool = {
    .name = "global_avgpool", .infer = gap_infer, .forward = gap_forward, .backward = gap_backward,
    .rf = whole_rf,
};
const cnn_op_def cnn_op_adaptive_avgpool = {
    .name = "adaptive_avgpool", .infer = adaptive_infer, .forward = adaptive_forward,
    .backward = adaptive_backward, .rf = adaptive_rf,
};

int cnn_adaptive_avgpool2d(cnn_graph *g, int x, int oh, int ow, const char *name)
{
    cnn_node n = {.op = CNN_OP_ADAPTIVE_AVGPOOL};

    if (oh < 1 || ow < 1 || oh > (1 << 16) || ow > (1 << 16))
        return cnn_fail(CNN_EINVAL, "adaptive_avgpool '%s': output %dx%d, expected 1 to 65536 each",
                        name ? name : "", oh, ow);
    n.a.adaptive.out[0] = oh;
    n.a.adaptive.out[1] = ow;
    return cnn_graph_add(g, &n, &x, 1, name);
}

static int add_pool(cnn_graph *g, cnn_op op, int x, const cnn_pool2d_attr *a, const char *name)
{
    cnn_node    n  = {.op = op};
    const char *nm = name ? name : "";

    if (!a)
        return cnn_fail(CNN_EINVAL, "%s '%s': NULL attributes", cnn_op_name(op), nm);
    for (int d = 0; d < 2; d++)
        if (a->kernel[d] < 1 || a->stride[d] < 1 || a->kernel[d] > (1 << 16) ||
            a->stride[d] > (1 << 16))
            return cnn_fail(CNN_EINVAL, "%s '%s': kernel %dx%d and stride %dx%d must be 1 to 65536",
                            cnn_op_name(op), nm, a->kernel[0], a->kernel[1], a->stride[0],
                            a->stride[1]);
    for (int i = 0; i < 4; i++)
        if (a->pad[i] < 0 || a->pad[i] >= a->kernel[i % 2])
            return cnn_fail(CNN_EINVAL,
                            "%s '%s': pad %d is %d, expected 0 to kernel-1 (%d), so every window "
                            "holds an input element",
                            cnn_op_name(op), nm, i, a->pad[i], a->kernel[i % 2] - 1);
    n.a.pool = *a;
    return cnn_graph_add(g, &n, &x, 1, name);
}

int cnn_maxpool2d(cnn_graph *g, int x, const cnn_pool2d_attr *a, const char *name)
{
    return add_pool(g, CNN_OP_MAXPOOL2D, x, a, name);
}

int cnn_avgpool2d(cnn_graph *g, int x, const cnn_pool2d_attr *a, const char *name)
{
    return add_pool(g, CNN_OP_AVGPOOL2D, x, a, name);
}

int cnn_global_avgpool(cnn_graph *g, int x, const char *name)
{
    cnn_node n = {.op = CNN_OP_GLOBAL_AVGPOOL};
    return cnn_graph_add(g, &n, &x, 1, name);
}
