/* summary.c - bookkeeping over a graph: parameters, multiply-accumulates,
 * receptive field and depth per node, and their totals. */
#include "graph_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct rf_state {
    int64_t r[2], j[2], size[2]; /* field, jump, spatial size at the output */
} rf_state;

int cnn_graph_stats_get(const cnn_graph *g, cnn_node_stats *nodes, cnn_graph_stats *total)
{
    rf_state       *st;
    int            *depth;
    cnn_graph_stats t = {0};

    if (!g)
        return cnn_fail(CNN_EINVAL, "stats: NULL graph");
    st    = calloc((size_t)g->n_nodes + 1, sizeof *st);
    depth = calloc((size_t)g->n_nodes + 1, sizeof *depth);
    if (!st || !depth) {
        free(st);
        free(depth);
        return cnn_fail(CNN_ENOMEM, "stats: out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_node   *n   = &g->nodes[i];
        const cnn_op_def *def = cnn_op_defs[n->op];
        rf_state          in  = {{1, 1}, {1, 1}, {1, 1}};
        cnn_rf_step       step = {{1, 1}, {1, 1}, {1, 1}, false};
        int64_t           params = 0;

        if (n->op == CNN_OP_INPUT && n->shape.ndim == 3) {
            in.size[0] = n->shape.dim[1];
            in.size[1] = n->shape.dim[2];
        }
        /* Where branches meet, the largest field and jump. */
        depth[i] = 0;
        for (int k = 0; k < n->n_in; k++) {
            const rf_state *s = &st[n->in[k]];
            for (int d = 0; d < 2; d++) {
                if (k == 0 || s->r[d] > in.r[d])
                    in.r[d] = s->r[d];
                if (k == 0 || s->j[d] > in.j[d])
                    in.j[d] = s->j[d];
                if (k == 0 || s->size[d] > in.size[d])
                    in.size[d] = s->size[d];
            }
            if (depth[n->in[k]] > depth[i])
                depth[i] = depth[n->in[k]];
        }
        if (def->rf)
            def->rf(g, n, &step);
        for (int d = 0; d < 2; d++) {
            if (step.whole) {
                st[i].r[d]    = in.r[d] + (in.size[d] - 1) * in.j[d];
                st[i].j[d]    = in.j[d] * in.size[d];
                st[i].size[d] = 1;
            } else {
                st[i].r[d]    = in.r[d] + (int64_t)(step.k[d] - 1) * step.d[d] * in.j[d];
                st[i].j[d]    = in.j[d] * step.s[d];
                st[i].size[d] = n->shape.ndim == 3 ? n->shape.dim[1 + d] : in.size[d];
            }
        }
        if (n->op == CNN_OP_CONV2D || n->op == CNN_OP_LINEAR)
            depth[i]++;
        for (int k = 0; k < n->n_param; k++)
            params += cnn_shape_numel(&n->param_shape[k]);
        t.params += params;
        if (n->trainable)
            t.trainable += params;
        else
            t.non_trainable += params;
        for (int k = 0; k < n->n_buf; k++)
            t.buffers += cnn_shape_numel(&n->buf_shape[k]);
        int64_t macs = def->macs ? def->macs(g, n) : 0;
        t.macs += macs;
        if (depth[i] > t.depth)
            t.depth = depth[i];
        if (nodes) {
            cnn_node_stats *ns = &nodes[i];
            ns->params = params;
            ns->macs   = macs;
            ns->depth  = depth[i];
            for (int d = 0; d < 2; d++) {
                ns->rf[d]   = st[i].r[d];
                ns->jump[d] = st[i].j[d];
            }
        }
    }
    if (total)
        *total = t;
    free(st);
    free(depth);
    return CNN_OK;
}
