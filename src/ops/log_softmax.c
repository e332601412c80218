/* log_softmax.c - log(softmax(x)) over one per-sample dim, as
 * x - max - log(sum(exp(x - max))): no overflow, no log of 0 (the
 * classifier head of ONNX models exported from PyTorch's log_softmax). */
#include "../graph/graph_impl.h"

#include <math.h>

static int log_softmax_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    char            xs[64];

    if (n->a.softmax.axis >= x->shape.ndim)
        return cnn_fail(CNN_ESHAPE, "log_softmax '%s': axis %d, but input '%s' has shape %s",
                        n->name, n->a.softmax.axis, x->name,
                        cnn_shape_str(&x->shape, xs, sizeof xs));
    n->shape = x->shape;
    return CNN_OK;
}

/* Per sample [outer, C, inner] around the axis, as in softmax.c: row r
 * starts at (r / S) * C * S + r % S and steps by S. */
static void geometry(const cnn_node *n, int64_t *C, int64_t *S)
{
    *C = n->shape.dim[n->a.softmax.axis];
    *S = 1;
    for (int d = n->a.softmax.axis + 1; d < n->shape.ndim; d++)
        *S *= n->shape.dim[d];
}

static void log_softmax_forward(const cnn_exec *e, cnn_node *n)
{
    const float  *x = cnn_in_node(e, n, 0)->y;
    int64_t       C, S;
    geometry(n, &C, &S);
    const int64_t rows = cnn_node_numel(n) * e->batch / C;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const int64_t base = (r / S) * C * S + r % S;
        float         mx = -INFINITY;
        double        sum = 0.0;
        for (int64_t c = 0; c < C; c++)
            mx = fmaxf(mx, x[base + c * S]);
        for (int64_t c = 0; c < C; c++)
            sum += exp((double)x[base + c * S] - mx);
        const float lse = mx + (float)log(sum); /* sum >= 1: the max term is exp(0) */
        for (int64_t c = 0; c < C; c++)
            n->y[base + c * S] = x[base + c * S] - lse;
    }
}

/* dx = dy - softmax(x) * sum_c dy, with softmax(x) = exp(y). */
static void log_softmax_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x = cnn_in_node(e, n, 0);
    int64_t       C, S;
    geometry(n, &C, &S);
    const int64_t rows = cnn_node_numel(n) * e->batch / C;

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const int64_t base = (r / S) * C * S + r % S;
        double        sum  = 0.0;
        for (int64_t c = 0; c < C; c++)
            sum += n->dy[base + c * S];
        for (int64_t c = 0; c < C; c++)
            x->dy[base + c * S] += n->dy[base + c * S] - expf(n->y[base + c * S]) * (float)sum;
    }
}

const cnn_op_def cnn_op_log_softmax = {
    .name = "log_softmax", .infer = log_softmax_infer, .forward = log_softmax_forward,
    .backward = log_softmax_backward,
};

int cnn_log_softmax(cnn_graph *g, int x, int axis, const char *name)
{
    cnn_node n = {.op = CNN_OP_LOG_SOFTMAX};

    if (axis < 0 || axis > 3)
        return cnn_fail(CNN_EINVAL, "log_softmax '%s': axis %d, expected 0 to 3",
                        name ? name : "", axis);
    n.a.softmax.axis = axis;
    return cnn_graph_add(g, &n, &x, 1, name);
}
