/* constant.c - a node without inputs whose output is its parameter
 * "value", the same for every sample of the batch: a learned bias or
 * scale read by add or mul, or a constant of an imported model. */
#include "../graph/graph_impl.h"

#include <string.h>

static int constant_infer(cnn_graph *g, cnn_node *n)
{
    (void)g;
    n->n_param        = 1;
    n->param_shape[0] = n->shape; /* set by the constructor */
    return CNN_OK;
}

static void constant_forward(const cnn_exec *e, cnn_node *n)
{
    const int64_t cnt = cnn_node_numel(n);
    const float  *v   = cnn_param(e, n, 0);

    for (int s = 0; s < e->batch; s++)
        memcpy(n->y + s * cnt, v, (size_t)cnt * sizeof *v);
}

/* d value = the sum of dy over the batch, element by element: threads take
 * elements, each summed over the samples in order. */
static void constant_backward(const cnn_exec *e, cnn_node *n)
{
    const int64_t cnt = cnn_node_numel(n);
    float        *dv  = cnn_pgrad(e, n, 0);

    if (!n->trainable)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < cnt; i++) {
        float sum = 0.0f;
        for (int s = 0; s < e->batch; s++)
            sum += n->dy[s * cnt + i];
        dv[i] += sum;
    }
}

const cnn_op_def cnn_op_constant = {
    .name = "constant", .param_names = {"value"},
    .infer = constant_infer, .forward = constant_forward, .backward = constant_backward,
};

int cnn_constant(cnn_graph *g, const cnn_shape *s, const char *name)
{
    cnn_node n = {.op = CNN_OP_CONSTANT};

    if (!s || s->ndim < 1 || s->ndim > 4)
        return cnn_fail(CNN_EINVAL, "constant '%s': %s shape, expected 1 to 4 dims",
                        name ? name : "", s ? "a bad" : "NULL");
    for (int d = 0; d < s->ndim; d++)
        if (s->dim[d] < 1 || s->dim[d] > INT32_MAX)
            return cnn_fail(CNN_EINVAL, "constant '%s': dim %d is %lld, expected 1 to 2^31-1",
                            name ? name : "", d, (long long)s->dim[d]);
    n.shape = *s;
    return cnn_graph_add(g, &n, NULL, 0, name);
}
