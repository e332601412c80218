/* pad.c - constant padding of every per-sample dim (ONNX's Pad, mode
 * "constant"; PyTorch's ConstantPad / ZeroPad): begin[d] values before and
 * end[d] after dim d; a negative count crops instead. */
#include "../graph/graph_impl.h"

#include <math.h>

static int pad_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    char            xs[64];

    n->shape = x->shape;
    for (int d = 0; d < x->shape.ndim; d++) {
        n->shape.dim[d] = x->shape.dim[d] + n->a.pad.begin[d] + n->a.pad.end[d];
        if (n->shape.dim[d] < 1)
            return cnn_fail(CNN_ESHAPE, "pad '%s': input '%s' of shape %s with pads %d and %d on "
                            "dim %d leaves nothing", n->name, x->name,
                            cnn_shape_str(&x->shape, xs, sizeof xs), n->a.pad.begin[d],
                            n->a.pad.end[d], d);
    }
    return CNN_OK;
}

/* Dims and leading pads of input and output, padded on the left to 4. */
typedef struct pad_geo {
    int64_t in[4], out[4], b[4];
} pad_geo;

static pad_geo geo_of(const cnn_node *x, const cnn_node *n)
{
    pad_geo   p   = {.in = {1, 1, 1, 1}, .out = {1, 1, 1, 1}, .b = {0, 0, 0, 0}};
    const int off = 4 - n->shape.ndim;

    for (int d = 0; d < n->shape.ndim; d++) {
        p.in[off + d]  = x->shape.dim[d];
        p.out[off + d] = n->shape.dim[d];
        p.b[off + d]   = n->a.pad.begin[d];
    }
    return p;
}

/* Output row (o0, o1, o2): the input row it copies from, or -1 when the
 * whole row is padding. */
static int64_t src_row(const pad_geo *p, int64_t o0, int64_t o1, int64_t o2)
{
    int64_t i0 = o0 - p->b[0], i1 = o1 - p->b[1], i2 = o2 - p->b[2];

    if (i0 < 0 || i0 >= p->in[0] || i1 < 0 || i1 >= p->in[1] || i2 < 0 || i2 >= p->in[2])
        return -1;
    return ((i0 * p->in[1] + i1) * p->in[2] + i2) * p->in[3];
}

/* Rows of every sample are split across threads. */
static void pad_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x = cnn_in_node(e, n, 0);
    const pad_geo   p = geo_of(x, n);
    const int64_t   rows = p.out[0] * p.out[1] * p.out[2], xs = cnn_node_numel(x);
    const float     v = n->a.pad.value;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows * e->batch; r++) {
        const int64_t s = r / rows, o = r % rows;
        const int64_t src = src_row(&p, o / (p.out[1] * p.out[2]), o / p.out[2] % p.out[1],
                                    o % p.out[2]);
        const float  *xr = x->y + s * xs + src;
        float        *yr = n->y + r * p.out[3];
        for (int64_t o3 = 0; o3 < p.out[3]; o3++) {
            int64_t i3 = o3 - p.b[3];
            yr[o3] = src >= 0 && i3 >= 0 && i3 < p.in[3] ? xr[i3] : v;
        }
    }
}

static void pad_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x = cnn_in_node(e, n, 0);
    const pad_geo p = geo_of(x, n);
    const int64_t rows = p.out[0] * p.out[1] * p.out[2], xs = cnn_node_numel(x);

    if (!x->req)
        return;
    /* Each output row reads at most one input row and no two output rows
     * read the same one, so the slices never write the same element. */
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows * e->batch; r++) {
        const int64_t s = r / rows, o = r % rows;
        const int64_t src = src_row(&p, o / (p.out[1] * p.out[2]), o / p.out[2] % p.out[1],
                                    o % p.out[2]);
        if (src < 0)
            continue;
        float       *dxr = x->dy + s * xs + src;
        const float *dyr = n->dy + r * p.out[3];
        for (int64_t o3 = 0; o3 < p.out[3]; o3++) {
            int64_t i3 = o3 - p.b[3];
            if (i3 >= 0 && i3 < p.in[3])
                dxr[i3] += dyr[o3];
        }
    }
}

const cnn_op_def cnn_op_pad = {
    .name = "pad", .infer = pad_infer, .forward = pad_forward, .backward = pad_backward,
};

int cnn_pad(cnn_graph *g, int x, const int *begin, const int *end, float value, const char *name)
{
    cnn_node    n  = {.op = CNN_OP_PAD};
    const char *nm = name ? name : "";
    cnn_shape   s;
    int         rc;

    if (!begin || !end || !isfinite(value))
        return cnn_fail(CNN_EINVAL, "pad '%s': NULL pads or a value that is not finite", nm);
    if ((rc = cnn_node_info(g, x, NULL, NULL, &s)) < 0)
        return rc;
    for (int d = 0; d < s.ndim; d++) {
        if (begin[d] < -(1 << 24) || begin[d] > (1 << 24) || end[d] < -(1 << 24) ||
            end[d] > (1 << 24))
            return cnn_fail(CNN_EINVAL, "pad '%s': pads %d and %d of dim %d, expected -2^24 to "
                            "2^24", nm, begin[d], end[d], d);
        n.a.pad.begin[d] = begin[d];
        n.a.pad.end[d]   = end[d];
    }
    n.a.pad.value = value;
    return cnn_graph_add(g, &n, &x, 1, name);
}
