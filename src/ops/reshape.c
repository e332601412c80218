/* reshape.c - the same elements under another per-sample shape. Row-major
 * order is kept, so forward is a copy and backward passes the gradient
 * back unchanged (as flatten, which is the 1-D case). */
#include "../graph/graph_impl.h"

#include <string.h>

/* The constructor set n->shape; only the element count is checked. */
static int reshape_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    char            xs[64], ys[64];

    if (cnn_node_numel(x) != cnn_node_numel(n))
        return cnn_fail(CNN_ESHAPE, "reshape '%s': input '%s' of shape %s has %lld elements, "
                        "shape %s holds %lld", n->name, x->name,
                        cnn_shape_str(&x->shape, xs, sizeof xs), (long long)cnn_node_numel(x),
                        cnn_shape_str(&n->shape, ys, sizeof ys), (long long)cnn_node_numel(n));
    return CNN_OK;
}

static void reshape_forward(const cnn_exec *e, cnn_node *n)
{
    memcpy(n->y, cnn_in_node(e, n, 0)->y, (size_t)(cnn_node_numel(n) * e->batch) * sizeof(float));
}

static void reshape_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x     = cnn_in_node(e, n, 0);
    const int64_t count = cnn_node_numel(n) * e->batch;

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < count; i++)
        x->dy[i] += n->dy[i];
}

const cnn_op_def cnn_op_reshape = {
    .name = "reshape", .infer = reshape_infer, .forward = reshape_forward,
    .backward = reshape_backward,
};

int cnn_reshape(cnn_graph *g, int x, const cnn_shape *s, const char *name)
{
    cnn_node n = {.op = CNN_OP_RESHAPE};

    if (!s || s->ndim < 1 || s->ndim > 4)
        return cnn_fail(CNN_EINVAL, "reshape '%s': %s shape, expected 1 to 4 dims",
                        name ? name : "", s ? "a bad" : "NULL");
    for (int d = 0; d < s->ndim; d++)
        if (s->dim[d] < 1 || s->dim[d] > INT32_MAX)
            return cnn_fail(CNN_EINVAL, "reshape '%s': dim %d is %lld, expected 1 to 2^31-1",
                            name ? name : "", d, (long long)s->dim[d]);
    n.shape = *s;
    return cnn_graph_add(g, &n, &x, 1, name);
}
