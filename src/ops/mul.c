/* mul.c - elementwise product a * b, b broadcast to a's shape (a channel
 * gate [C, 1, 1] over C x H x W, a per-feature scale, two equal maps). */
#include "../graph/graph_impl.h"
#include "bcast.h"

static int mul_infer(cnn_graph *g, cnn_node *n)
{
    return cnn_bcast_infer(n, &g->nodes[n->in[0]], &g->nodes[n->in[1]]);
}

/* Samples are split across threads: y[s] = a[s] * b[s] (broadcast). */
static void mul_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *A = cnn_in_node(e, n, 0), *B = cnn_in_node(e, n, 1);
    const cnn_bcast bc = cnn_bcast_of(A, B);
    const int64_t   as = cnn_node_numel(A), bs = cnn_node_numel(B);

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int s = 0; s < e->batch; s++) {
        const float *a = A->y + s * as, *b = B->y + s * bs;
        float       *y = n->y + s * as;
        if (bc.same)
            for (int64_t i = 0; i < as; i++)
                y[i] = a[i] * b[i];
        else
            CNN_BCAST_FOR(bc, i, j, y[i] = a[i] * b[j]);
    }
}

/* da += dy * b;  db += dy * a, summed over the positions b was repeated at.
 * Each sample is one thread's, so the sums run in one order for any
 * thread count. */
static void mul_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node       *A = cnn_in_node(e, n, 0), *B = cnn_in_node(e, n, 1);
    const cnn_bcast bc = cnn_bcast_of(A, B);
    const int64_t   as = cnn_node_numel(A), bs = cnn_node_numel(B);
    const bool      want_a = A->req, want_b = B->req;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int s = 0; s < e->batch; s++) {
        const float *a = A->y + s * as, *b = B->y + s * bs, *dy = n->dy + s * as;
        float       *da = A->dy + s * as, *db = B->dy + s * bs;
        /* mul(x, x): both terms land in the same gradient, one after the
         * other, as they would for two distinct inputs. */
        if (want_a)
            CNN_BCAST_FOR(bc, i, j, da[i] += dy[i] * b[j]);
        if (want_b)
            CNN_BCAST_FOR(bc, i, j, db[j] += dy[i] * a[i]);
    }
}

const cnn_op_def cnn_op_mul = {
    .name = "mul", .infer = mul_infer, .forward = mul_forward, .backward = mul_backward,
};

int cnn_mul(cnn_graph *g, int a, int b, const char *name)
{
    cnn_node n     = {.op = CNN_OP_MUL};
    int      in[2] = {a, b};
    return cnn_graph_add(g, &n, in, 2, name);
}
