/* softmax.c - softmax over the channels (first per-sample dim), at each
 * spatial position; max-subtracted so exp never overflows. */
#include "../graph/graph_impl.h"

#include <math.h>

static int softmax_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = g->nodes[n->in[0]].shape;
    return CNN_OK;
}

static int64_t inner(const cnn_node *n) { return cnn_node_numel(n) / n->shape.dim[0]; }

static void softmax_forward(const cnn_exec *e, cnn_node *n)
{
    const float  *x = cnn_in_node(e, n, 0)->y;
    const int64_t C = n->shape.dim[0], S = inner(n), rows = (int64_t)e->batch * S;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const int64_t base = (r / S) * C * S + r % S; /* element (b, 0, s) */
        float         mx = -INFINITY;
        double        sum = 0.0;
        for (int64_t c = 0; c < C; c++)
            mx = fmaxf(mx, x[base + c * S]);
        for (int64_t c = 0; c < C; c++) {
            float v = expf(x[base + c * S] - mx);
            n->y[base + c * S] = v;
            sum += v;
        }
        for (int64_t c = 0; c < C; c++)
            n->y[base + c * S] = (float)(n->y[base + c * S] / sum);
    }
}

/* dx = y * (dy - sum_c dy * y) */
static void softmax_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x = cnn_in_node(e, n, 0);
    const int64_t C = n->shape.dim[0], S = inner(n), rows = (int64_t)e->batch * S;

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const int64_t base = (r / S) * C * S + r % S;
        double        dot  = 0.0;
        for (int64_t c = 0; c < C; c++)
            dot += (double)n->dy[base + c * S] * n->y[base + c * S];
        for (int64_t c = 0; c < C; c++)
            x->dy[base + c * S] += n->y[base + c * S] * (n->dy[base + c * S] - (float)dot);
    }
}

const cnn_op_def cnn_op_softmax = {
    .name = "softmax", .infer = softmax_infer, .forward = softmax_forward,
    .backward = softmax_backward,
};

int cnn_softmax(cnn_graph *g, int x, const char *name)
{
    cnn_node n = {.op = CNN_OP_SOFTMAX};
    return cnn_graph_add(g, &n, &x, 1, name);
}
