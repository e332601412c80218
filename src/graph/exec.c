/* exec.c - running a graph: the plan (all activation, gradient and scratch
 * memory, allocated once per batch size), forward and backward. */
#include "graph_impl.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16 /* 64-byte alignment for every buffer */

static int64_t round_up(int64_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

void cnn_graph_drop_plan(cnn_graph *g)
{
    free(g->arena);
    free(g->scratch);
    g->arena   = NULL;
    g->scratch = NULL;
    g->batch   = 0;
    g->forward_done = false;
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i].y   = NULL;
        g->nodes[i].dy  = NULL;
        g->nodes[i].aux = NULL;
        g->nodes[i].aux_floats = 0;
    }
}

int cnn_graph_set_threads(cnn_graph *g, int nthreads)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "set threads: NULL graph");
    if (nthreads < 1 || nthreads > 1024)
        return cnn_fail(CNN_EINVAL, "set threads: %d threads asked, expected 1 to 1024", nthreads);
    g->nthreads = nthreads;
    return CNN_OK;
}

static float *alloc_floats(int64_t n)
{
    size_t bytes;
    float *p;

    if (n <= 0)
        n = ALIGN_FLOATS;
    if ((uint64_t)n > SIZE_MAX / sizeof(float))
        return NULL;
    bytes = (size_t)round_up(n) * sizeof(float);
    p     = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Sizes of a plan, all checked: the arena (activations, gradients, saved
 * data) and the scratch of one thread, in floats. */
static int plan_sizes(const cnn_graph *g, int batch, int64_t *arena, int64_t *scratch)
{
    int64_t total = 0, most = 0;
    int     rc;

    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_node   *n   = &g->nodes[i];
        const cnn_op_def *def = cnn_op_defs[n->op];
        int64_t           act, aux = 0;

        if ((rc = cnn_size_mul(cnn_node_numel(n), batch, &act)) < 0)
            return cnn_fail(rc, "plan: node '%s' at batch %d: activation size overflows", n->name,
                            batch);
        if (def->aux_floats)
            aux = def->aux_floats(g, n, batch);
        if (aux < 0)
            return cnn_fail(CNN_EOVERFLOW, "plan: node '%s' at batch %d: saved data too large",
                            n->name, batch);
        if ((rc = cnn_size_add(total, round_up(act), &total)) < 0 ||
            (rc = cnn_size_add(total, round_up(act), &total)) < 0 ||
            (rc = cnn_size_add(total, round_up(aux), &total)) < 0)
            return cnn_fail(rc, "plan: batch %d needs more memory than can be addressed", batch);
        if (def->scratch_floats) {
            int64_t s = def->scratch_floats(g, n, batch);
            if (s < 0)
                return cnn_fail(CNN_EOVERFLOW, "plan: node '%s': scratch size overflows", n->name);
            if (s > most)
                most = s;
        }
    }
    *arena   = total;
    *scratch = round_up(most);
    return CNN_OK;
}

int64_t cnn_graph_plan_bytes(const cnn_graph *g, int batch)
{
    int64_t arena, scratch, t, bytes;
    int     rc;

    if (!g || batch < 1)
        return cnn_fail(CNN_EINVAL, "plan bytes: NULL graph or batch %d < 1", batch);
    if ((rc = plan_sizes(g, batch, &arena, &scratch)) < 0)
        return rc;
    if ((rc = cnn_size_mul(scratch, g->nthreads, &t)) < 0 || (rc = cnn_size_add(arena, t, &t)) < 0 ||
        (rc = cnn_size_mul(t, (int64_t)sizeof(float), &bytes)) < 0)
        return rc;
    return bytes;
}

int cnn_graph_plan(cnn_graph *g, int batch)
{
    int64_t total, scratch, t;
    int     rc;

    if (!g)
        return cnn_fail(CNN_EINVAL, "plan: NULL graph");
    if (batch < 1)
        return cnn_fail(CNN_EINVAL, "plan: batch size %d, expected >= 1", batch);
    if (g->n_nodes == 0)
        return cnn_fail(CNN_ESTATE, "plan: the graph has no nodes");
    /* Sizes are checked before the old plan goes, so a refused plan leaves
     * the previous one usable. */
    if ((rc = plan_sizes(g, batch, &total, &scratch)) < 0 ||
        (rc = cnn_graph_ensure_params(g, true)) < 0 || (rc = cnn_graph_ensure_grads(g)) < 0)
        return rc;
    if ((rc = cnn_size_mul(scratch, g->nthreads, &t)) < 0)
        return cnn_fail(rc, "plan: scratch for %d threads overflows", g->nthreads);
    cnn_graph_drop_plan(g);

    if (!(g->arena = alloc_floats(total)) || !(g->scratch = alloc_floats(t))) {
        free(g->arena);
        g->arena = NULL;
        return cnn_fail(CNN_ENOMEM, "plan: out of memory for batch %d (%lld MiB)", batch,
                        (long long)((total + t) * 4 >> 20));
    }
    float *p = g->arena;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node         *n   = &g->nodes[i];
        const cnn_op_def *def = cnn_op_defs[n->op];
        int64_t           act = cnn_node_numel(n) * batch;

        n->y  = p;
        p    += round_up(act);
        n->dy = p;
        p    += round_up(act);
        n->aux_floats = def->aux_floats ? def->aux_floats(g, n, batch) : 0;
        n->aux = p;
        p    += round_up(n->aux_floats);
    }
    g->scratch_per_thread = scratch;
    g->plan_threads       = g->nthreads;
    g->batch              = batch;
    return CNN_OK;
}

int cnn_graph_batch(const cnn_graph *g) { return g ? g->batch : 0; }

static bool planned_id(const cnn_graph *g, int id)
{
    return g && g->batch > 0 && id >= 0 && id < g->n_nodes;
}

float *cnn_graph_data(cnn_graph *g, int id)
{
    if (!planned_id(g, id)) {
        cnn_fail(CNN_ESTATE, "graph data: node %d of a graph that is not planned or has no such node", id);
        return NULL;
    }
    return g->nodes[id].y;
}

float *cnn_graph_grad(cnn_graph *g, int id)
{
    if (!planned_id(g, id)) {
        cnn_fail(CNN_ESTATE, "graph grad: node %d of a graph that is not planned or has no such node", id);
        return NULL;
    }
    return g->nodes[id].dy;
}

int cnn_graph_set_input(cnn_graph *g, int id, const float *x)
{
    if (!g || !x || id < 0 || id >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "set input: NULL graph or data, or bad node id %d", id);
    if (g->batch == 0)
        return cnn_fail(CNN_ESTATE, "set input: the graph is not planned (call cnn_graph_plan)");
    if (g->nodes[id].op != CNN_OP_INPUT)
        return cnn_fail(CNN_EINVAL, "set input: node '%s' is a %s, not an input", g->nodes[id].name,
                        cnn_op_name(g->nodes[id].op));
    memcpy(g->nodes[id].y, x, (size_t)(cnn_node_numel(&g->nodes[id]) * g->batch) * sizeof *x);
    return CNN_OK;
}

int cnn_graph_want_input_grad(cnn_graph *g, int id, bool want)
{
    if (!g || id < 0 || id >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "want input grad: bad graph or node id %d", id);
    if (g->nodes[id].op != CNN_OP_INPUT)
        return cnn_fail(CNN_EINVAL, "want input grad: node '%s' is not an input", g->nodes[id].name);
    g->nodes[id].want_grad = want;
    return CNN_OK;
}

static cnn_exec make_exec(cnn_graph *g, cnn_mode mode)
{
    cnn_exec e = {
        .g = g, .batch = g->batch, .mode = mode, .nthreads = g->plan_threads,
        .scratch = g->scratch, .scratch_per_thread = g->scratch_per_thread,
    };
    return e;
}

int cnn_graph_forward(cnn_graph *g, cnn_mode mode)
{
    cnn_exec e;

    if (!g)
        return cnn_fail(CNN_EINVAL, "forward: NULL graph");
    if (g->batch == 0)
        return cnn_fail(CNN_ESTATE, "forward: the graph is not planned (call cnn_graph_plan)");
    if (mode != CNN_EVAL && mode != CNN_TRAIN)
        return cnn_fail(CNN_EINVAL, "forward: unknown mode %d", (int)mode);
    e = make_exec(g, mode);
    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_op_def *def = cnn_op_defs[g->nodes[i].op];
        int               rc;
        if (def->check && (rc = def->check(&e, &g->nodes[i])) < 0)
            return rc;
    }
    g->forward_done = false;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *n = &g->nodes[i];
        if (n->op != CNN_OP_INPUT)
            cnn_op_defs[n->op]->forward(&e, n);
    }
    g->last_mode    = mode;
    g->forward_done = true;
    return CNN_OK;
}

int cnn_graph_clear_grads(cnn_graph *g)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "clear grads: NULL graph");
    if (g->batch == 0)
        return cnn_fail(CNN_ESTATE, "clear grads: the graph is not planned");
    for (int i = 0; i < g->n_nodes; i++)
        memset(g->nodes[i].dy, 0, (size_t)(cnn_node_numel(&g->nodes[i]) * g->batch) * sizeof(float));
    return CNN_OK;
}

int cnn_graph_zero_param_grads(cnn_graph *g)
{
    int rc;

    if (!g)
        return cnn_fail(CNN_EINVAL, "zero param grads: NULL graph");
    if ((rc = cnn_graph_ensure_grads(g)) < 0)
        return rc;
    if (g->n_params)
        memset(g->grads, 0, (size_t)g->n_params * sizeof(float));
    return CNN_OK;
}

/* Which outputs need a gradient: those downstream of a trainable parameter
 * or of an input whose gradient was asked for. */
static void mark_req(cnn_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *n = &g->nodes[i];
        n->req = (n->n_param > 0 && n->trainable) || (n->op == CNN_OP_INPUT && n->want_grad);
        for (int k = 0; k < n->n_in && !n->req; k++)
            n->req = g->nodes[n->in[k]].req;
    }
}

int cnn_graph_backward(cnn_graph *g)
{
    cnn_exec e;

    if (!g)
        return cnn_fail(CNN_EINVAL, "backward: NULL graph");
    if (!g->forward_done)
        return cnn_fail(CNN_ESTATE, "backward: no forward pass to go back through");
    mark_req(g);
    e = make_exec(g, g->last_mode);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        cnn_node *n = &g->nodes[i];
        if (n->req && n->op != CNN_OP_INPUT)
            cnn_op_defs[n->op]->backward(&e, n);
    }
    return CNN_OK;
}
