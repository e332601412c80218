/* dropout.c - inverted dropout: in training, zero each element with
 * probability p and scale the survivors by 1/(1-p); in eval, the identity. */
#include "../graph/graph_impl.h"

#include <string.h>

static int dropout_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = g->nodes[n->in[0]].shape;
    return CNN_OK;
}

/* Saved: the mask, 0 or 1/(1-p) per element. */
static int64_t dropout_aux(const cnn_graph *g, const cnn_node *n, int batch)
{
    (void)g;
    return cnn_node_numel(n) * batch;
}

static void dropout_forward(const cnn_exec *e, cnn_node *n)
{
    const float  *x     = cnn_in_node(e, n, 0)->y;
    const int64_t count = cnn_node_numel(n) * e->batch;
    const float   p     = n->a.dropout.p, keep = 1.0f / (1.0f - p);

    if (e->mode != CNN_TRAIN || p == 0.0f) {
        memcpy(n->y, x, (size_t)count * sizeof *x);
        return;
    }
    /* The mask is drawn in one sequence from the graph's RNG, so it does not
     * depend on the thread count. */
    for (int64_t i = 0; i < count; i++)
        n->aux[i] = cnn_rng_uniform(&e->g->rng) < p ? 0.0f : keep;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < count; i++)
        n->y[i] = x[i] * n->aux[i];
}

static void dropout_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x     = cnn_in_node(e, n, 0);
    const int64_t count = cnn_node_numel(n) * e->batch;
    const bool    masked = e->mode == CNN_TRAIN && n->a.dropout.p != 0.0f;

    if (!x->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < count; i++)
        x->dy[i] += masked ? n->dy[i] * n->aux[i] : n->dy[i];
}

const cnn_op_def cnn_op_dropout = {
    .name = "dropout", .infer = dropout_infer, .aux_floats = dropout_aux,
    .forward = dropout_forward, .backward = dropout_backward,
};

int cnn_dropout(cnn_graph *g, int x, float p, const char *name)
{
    cnn_node n = {.op = CNN_OP_DROPOUT};

    if (!(p >= 0.0f && p < 1.0f))
        return cnn_fail(CNN_EINVAL, "dropout '%s': p = %g, expected 0 <= p < 1", name ? name : "",
                        (double)p);
    n.a.dropout.p = p;
    return cnn_graph_add(g, &n, &x, 1, name);
}
