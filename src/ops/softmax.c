/* softmax.c - softmax and log-softmax over one per-sample dim (the
 * channels unless told otherwise), independently at every index of the
 * other dims; max-subtracted so exp never overflows. Log-softmax is
 * x - max - log(sum(exp(x - max))): no log of 0 (the classifier head of
 * ONNX models exported from PyTorch's log_softmax). */
#include "../graph/graph_impl.h"

#include <math.h>

/* Both ops. */
static int softmax_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    char            xs[64];

    if (n->a.softmax.axis >= x->shape.ndim)
        return cnn_fail(CNN_ESHAPE, "%s '%s': axis %d, but input '%s' has shape %s",
                        cnn_op_name(n->op), n->name, n->a.softmax.axis, x->name,
                        cnn_shape_str(&x->shape, xs, sizeof xs));
    n->shape = x->shape;
    return CNN_OK;
}

/* Per sample [outer, C, inner] around the axis; the batch folds into outer,
 * so row r (of batch * outer * inner) starts at (r / S) * C * S + r % S and
 * steps by S. A row function gets the input's y and dy (x, dx), the node
 * and that row: y[base + c*S], c < C. */
typedef void row_fn(const float *x, float *dx, cnn_node *n, int64_t base, int64_t C, int64_t S);

/* fn on every row, the rows over the threads in static slices. */
static void each_row(const cnn_exec *e, cnn_node *n, row_fn *fn)
{
    cnn_node     *in = cnn_in_node(e, n, 0);
    const int64_t C  = n->shape.dim[n->a.softmax.axis];
    int64_t       S  = 1;

    for (int d = n->a.softmax.axis + 1; d < n->shape.ndim; d++)
        S *= n->shape.dim[d];
    const int64_t rows = cnn_node_numel(n) * e->batch / C;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows; r++)
        fn(in->y, in->dy, n, (r / S) * C * S + r % S, C, S);
}

/* The largest x of the row (subtracted so exp never overflows). */
static float row_max(const float *x, int64_t base, int64_t C, int64_t S)
{
    float mx = -INFINITY;

    for (int64_t c = 0; c < C; c++)
        mx = fmaxf(mx, x[base + c * S]);
    return mx;
}

static row_fn softmax_row, softmax_grad_row, log_softmax_row, log_softmax_grad_row;

/* Both ops, by their row functions. */
static void rows_forward(const cnn_exec *e, cnn_node *n)
{
    each_row(e, n, n->op == CNN_OP_SOFTMAX ? softmax_row : log_softmax_row);
}

static void rows_backward(const cnn_exec *e, cnn_node *n)
{
    if (cnn_in_node(e, n, 0)->req)
        each_row(e, n, n->op == CNN_OP_SOFTMAX ? softmax_grad_row : log_softmax_grad_row);
}

static void softmax_row(const float *x, float *dx, cnn_node *n, int64_t base, int64_t C,
                        int64_t S)
{
    const float mx  = row_max(x, base, C, S);
    double      sum = 0.0;

    (void)dx;
    for (int64_t c = 0; c < C; c++) {
        float v = expf(x[base + c * S] - mx);
        n->y[base + c * S] = v;
        sum += v;
    }
    for (int64_t c = 0; c < C; c++)
        n->y[base + c * S] = (float)(n->y[base + c * S] / sum);
}

/* dx = y * (dy - sum_c dy * y) */
static void softmax_grad_row(const float *x, float *dx, cnn_node *n, int64_t base, int64_t C,
                             int64_t S)
{
    double dot = 0.0;

    (void)x;
    for (int64_t c = 0; c < C; c++)
        dot += (double)n->dy[base + c * S] * n->y[base + c * S];
    for (int64_t c = 0; c < C; c++)
        dx[base + c * S] += n->y[base + c * S] * (n->dy[base + c * S] - (float)dot);
}

/* Both ops: a node of `op` over `axis`. */
static int add_axis_op(cnn_graph *g, int x, cnn_op op, int axis, const char *name)
{
    cnn_node n = {.op = op};

    if (axis < 0 || axis > 3)
        return cnn_fail(CNN_EINVAL, "%s '%s': axis %d, expected 0 to 3", cnn_op_name(op),
                        name ? name : "", axis);
    n.a.softmax.axis = axis;
    return cnn_graph_add(g, &n, &x, 1, name);
}

const cnn_op_def cnn_op_softmax = {
    .name = "softmax", .infer = softmax_infer, .forward = rows_forward, .backward = rows_backward,
};

int cnn_softmax_axis(cnn_graph *g, int x, int axis, const char *name)
{
    return add_axis_op(g, x, CNN_OP_SOFTMAX, axis, name);
}

int cnn_softmax(cnn_graph *g, int x, const char *name) { return cnn_softmax_axis(g, x, 0, name); }

/* ==== @@LOG_SOFTMAX ==== */

static void log_softmax_row(const float *x, float *dx, cnn_node *n, int64_t base, int64_t C,
                            int64_t S)
{
    const float mx  = row_max(x, base, C, S);
    double      sum = 0.0;

    (void)dx;
    for (int64_t c = 0; c < C; c++)
        sum += exp((double)x[base + c * S] - mx);
    const float lse = mx + (float)log(sum); /* sum >= 1: the max term is exp(0) */
    for (int64_t c = 0; c < C; c++)
        n->y[base + c * S] = x[base + c * S] - lse;
}

/* dx = dy - softmax(x) * sum_c dy, with softmax(x) = exp(y). */
static void log_softmax_grad_row(const float *x, float *dx, cnn_node *n, int64_t base, int64_t C,
                                 int64_t S)
{
    double sum = 0.0;

    (void)x;
    for (int64_t c = 0; c < C; c++)
        sum += n->dy[base + c * S];
    for (int64_t c = 0; c < C; c++)
        dx[base + c * S] += n->dy[base + c * S] - expf(n->y[base + c * S]) * (float)sum;
}

const cnn_op_def cnn_op_log_softmax = {
    .name = "log_softmax", .infer = softmax_infer, .forward = rows_forward,
    .backward = rows_backward,
};

int cnn_log_softmax(cnn_graph *g, int x, int axis, const char *name)
{
    return add_axis_op(g, x, CNN_OP_LOG_SOFTMAX, axis, name);
}
