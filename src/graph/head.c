/* head.c - transfer learning's graph surgery: a copy of a trained network
 * without its classifier head, weights, batch-norm statistics and frozen
 * flags included, ready for a new head. */
#include "graph_impl.h"

#include <stdlib.h>
#include <string.h>

/* Ops that may follow the default head without changing which class wins
 * (a softmax over the logits, an exported model's dropout or reshape):
 * they are dropped with it. */
static bool tail_op(cnn_op op)
{
    return op == CNN_OP_SOFTMAX || op == CNN_OP_LOG_SOFTMAX || op == CNN_OP_DROPOUT ||
           op == CNN_OP_FLATTEN || op == CNN_OP_RESHAPE;
}

/* The id of the head to cut at: the linear node named `name`, or the last
 * linear node when it is NULL, whose successors must all be tail ops reading
 * it or each other. */
static int find_head(const cnn_graph *g, const char *name)
{
    int  head = -1;
    char lab[192];

    if (name) {
        for (int i = 0; i < g->n_nodes && head < 0; i++)
            if (strcmp(g->nodes[i].name, name) == 0)
                head = i;
        if (head < 0)
            return cnn_fail(CNN_EINVAL, "drop head: no node named '%s'", name);
        if (g->nodes[head].op != CNN_OP_LINEAR)
            return cnn_fail(CNN_EINVAL, "drop head: %s is not a linear layer",
                            cnn_node_label(&g->nodes[head], lab, sizeof lab));
        return head;
    }
    for (int i = g->n_nodes - 1; i >= 0 && head < 0; i--)
        if (g->nodes[i].op == CNN_OP_LINEAR)
            head = i;
    if (head < 0)
        return cnn_fail(CNN_EINVAL, "drop head: the model has no linear layer to replace");
    for (int i = head + 1; i < g->n_nodes; i++) {
        const cnn_node *n = &g->nodes[i];
        bool            reads_tail = true;
        for (int k = 0; k < n->n_in; k++)
            reads_tail &= n->in[k] >= head;
        if (!tail_op(n->op) || !reads_tail)
            return cnn_fail(CNN_EINVAL, "drop head: the last linear layer '%s' is followed by %s; "
                            "name the layer to cut at", g->nodes[head].name,
                            cnn_node_label(n, lab, sizeof lab));
    }
    return head;
}

cnn_graph *cnn_graph_drop_head(const cnn_graph *g, const char *head_name, int *features)
{
    cnn_graph *ng = NULL;
    int        head, rc;

    if (!g || !features) {
        cnn_fail(CNN_EINVAL, "drop head: NULL argument");
        return NULL;
    }
    if ((head = find_head(g, head_name)) < 0 || !(ng = cnn_graph_new()))
        return NULL;
    /* Nodes are re-added in the same order, so each one's parameters and
     * buffers land at the same offsets: the old arrays' prefixes. */
    for (int i = 0; i < head; i++) {
        cnn_node proto = g->nodes[i];
        proto.y = proto.dy = proto.aux = NULL;
        proto.aux_floats = 0;
        proto.req = proto.want_grad = false;
        if ((rc = cnn_graph_add(ng, &proto, g->nodes[i].in, g->nodes[i].n_in,
                                g->nodes[i].name)) < 0)
            goto fail;
        ng->nodes[rc].trainable = g->nodes[i].trainable;
    }
    /* Parameters that were never materialized are PyTorch's defaults on
     * both sides (the same per-node streams); copy only real ones. */
    if (g->params) {
        if ((rc = cnn_graph_ensure_params(ng, false)) < 0)
            goto fail;
        if (ng->n_params > 0)
            memcpy(ng->params, g->params, (size_t)ng->n_params * sizeof(float));
        if (ng->n_buffers > 0)
            memcpy(ng->buffers, g->buffers, (size_t)ng->n_buffers * sizeof(float));
    }
    ng->rng      = g->rng;
    ng->nthreads = g->nthreads;
    *features    = g->nodes[head].in[0];
    return ng;
fail:
    cnn_graph_free(ng);
    return NULL;
}
