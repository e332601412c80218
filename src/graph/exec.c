/* exec.c - running a graph: the plan (all activation, gradient and scratch
 * memory, allocated once per batch size), forward and backward. */
#include "graph_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    g->infer_plan   = false;
    g->shared_dy    = false;
    g->n_fused      = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i].y   = NULL;
        g->nodes[i].dy  = NULL;
        g->nodes[i].aux = NULL;
        g->nodes[i].aux_floats = 0;
        g->nodes[i].keep_floats = 0;
        g->nodes[i].kept_gen    = 0;
        g->nodes[i].fuse_bn = g->nodes[i].fuse_add = g->nodes[i].fused_into = -1;
        g->nodes[i].fuse_relu = g->nodes[i].relu_bwd = g->nodes[i].bwd_fused = false;
        g->nodes[i].stats_bn    = -1;
        g->nodes[i].stats_ready = false;
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

/* Whether operand k of add n can be its conv's epilogue: a conv, or its
 * fused batch norm, that nothing else reads, and the other operand of the
 * same shape, computed before that conv runs (a residual block's
 * shortcut, made before the block's last conv). */
static bool add_fusable(const cnn_graph *g, const int *root, const int *readers, int i, int k)
{
    const cnn_node *n = &g->nodes[i];
    const int       a = n->in[k], b = n->in[1 - k], r = root[a];
    const cnn_op    aop = g->nodes[a].op;

    return (aop == CNN_OP_CONV2D || (aop == CNN_OP_BATCHNORM2D && r != a)) &&
           g->nodes[r].op == CNN_OP_CONV2D && readers[a] == 1 && root[b] < r &&
           cnn_node_numel(&g->nodes[a]) == cnn_node_numel(n) &&
           cnn_node_numel(&g->nodes[b]) == cnn_node_numel(n);
}

/* Fusion for inference: a batch norm whose input is a conv that nothing
 * else reads, an add one of whose operands is such a conv (or its fused
 * batch norm) made after the other operand (add_fusable), and a ReLU
 * whose input is such a conv (or its fused batch norm or add) or an add
 * that nothing else reads, are computed by the producer's epilogue, in its
 * output memory (root[i]: the producer computing node i, or i). The same
 * bits as the nodes one by one (cnn_fused_epilogue): only the passes over
 * memory go. */
static int fusion_roots(const cnn_graph *g, int *root)
{
    int *readers = calloc((size_t)g->n_nodes, sizeof *readers);

    if (!readers)
        return cnn_fail(CNN_ENOMEM, "plan: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        root[i] = i;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            readers[g->nodes[i].in[k]]++;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_node *n = &g->nodes[i];
        if (n->op == CNN_OP_ADD && n->n_in == 2) { /* into the conv made last */
            const bool f0 = add_fusable(g, root, readers, i, 0);
            const bool f1 = add_fusable(g, root, readers, i, 1);
            if (f0 || f1) /* (not both: each needs the other made first) */
                root[i] = root[n->in[f0 ? 0 : 1]];
            continue;
        }
        if (n->n_in != 1 || readers[n->in[0]] != 1)
            continue;
        const int       src = n->in[0], r = root[src];
        const cnn_op    sop = g->nodes[src].op, rop = g->nodes[r].op;
        if (n->op == CNN_OP_BATCHNORM2D && sop == CNN_OP_CONV2D && n->shape.ndim == 3)
            root[i] = src;
        else if (n->op == CNN_OP_RELU && (rop == CNN_OP_CONV2D || rop == CNN_OP_ADD) &&
                 sop != CNN_OP_RELU)
            root[i] = r;
    }
    free(readers);
    return CNN_OK;
}

/* Training plans: a ReLU that is the only reader of a conv, a batch norm
 * or an add is computed by that producer's forward, in the producer's
 * output, which then holds the ReLU's output (the backward of neither op
 * reads its own output, and the ReLU's backward reads only the signs of
 * its output); the ReLU's pass over memory goes, and its own output
 * buffer, its backward stays. The producer, or -1 for any other node. */
static int train_relu_producer(const cnn_graph *g, int i)
{
    const cnn_node *n = &g->nodes[i];
    int             readers = 0;

    if (n->op != CNN_OP_RELU || n->n_in != 1)
        return -1;
    const cnn_op src = g->nodes[n->in[0]].op;
    if (src != CNN_OP_CONV2D && src != CNN_OP_BATCHNORM2D && src != CNN_OP_ADD)
        return -1;
    for (int j = 0; j < g->n_nodes; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++)
            readers += g->nodes[j].in[k] == n->in[0];
    return readers == 1 ? n->in[0] : -1;
}

/* With gradient memory shared (intermediate gradients not kept), a batch
 * norm or a same-shape add also does its ReLU's backward: it reads the
 * ReLU's dy and takes the gradient through the ReLU from its own output,
 * as the ReLU's backward would (cnn_relu_bwd_acc, cnn_bn_sums), so the
 * ReLU's pass and the producer's own dy go. */
static bool relu_bwd_fusable(const cnn_graph *g, int at)
{
    const cnn_node *src = &g->nodes[at];

    return src->op == CNN_OP_BATCHNORM2D ||
           (src->op == CNN_OP_ADD && cnn_node_numel(&g->nodes[src->in[0]]) == cnn_node_numel(src) &&
            cnn_node_numel(&g->nodes[src->in[1]]) == cnn_node_numel(src));
}

/* The gradient layout's roots of a plan sharing gradient memory: a ReLU
 * whose backward its producer does shares the producer's dy block. */
static void shared_roots(const cnn_graph *g, int *root)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const int at = train_relu_producer(g, i);
        root[i]      = at >= 0 && relu_bwd_fusable(g, at) ? at : i;
    }
}

static void fuse_train_relus(cnn_graph *g, bool shared)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const int at = train_relu_producer(g, i);
        if (at < 0)
            continue;
        cnn_node *r = &g->nodes[i], *src = &g->nodes[at];
        r->fused_into  = at;
        r->y           = src->y;
        src->fuse_relu = true;
        if (shared && relu_bwd_fusable(g, at)) { /* src->dy == r->dy: shared_roots */
            src->relu_bwd = true;
            r->bwd_fused  = true;
        }
    }
}

/* Activation offsets of an inference plan: each output takes the best-
 * fitting free block of the arena, and goes back to the free list once
 * the last node that reads it has run. Inputs and outputs (nodes no node
 * reads) are never given back. A node's output is placed before its
 * inputs are freed, so no op reads and writes the same memory. With
 * `root` (fusion_roots), fused nodes share their producer's block, which
 * lives until the last reader of any of them. Fills off[i] (floats from
 * the start of the activations) and *size. */
typedef struct block {
    int64_t at, len;
} block;

/* A block of `need` floats: the best-fitting free block, else the free
 * block at the top of the arena grown, else a new one at the top. */
static int64_t place(block *free_, int *nfree, int64_t *top, int64_t need)
{
    int64_t at;
    int     best = -1;

    for (int f = 0; f < *nfree; f++)
        if (free_[f].len >= need && (best < 0 || free_[f].len < free_[best].len))
            best = f;
    if (best >= 0) {
        at = free_[best].at;
        free_[best].at += need;
        free_[best].len -= need;
        if (free_[best].len == 0)
            free_[best] = free_[--*nfree];
    } else if (*nfree > 0 && free_[*nfree - 1].at + free_[*nfree - 1].len == *top) {
        /* Grow the block at the top of the arena rather than start a new one. */
        at   = free_[*nfree - 1].at;
        *top = at + need;
        --*nfree;
    } else {
        at = *top;
        *top += need;
    }
    return at;
}

static int infer_layout(const cnn_graph *g, int batch, const int *root, int64_t *off,
                        int64_t *size, int *last_out)
{
    int     *last = malloc((size_t)g->n_nodes * sizeof *last);
    block   *free_ = malloc((size_t)(g->n_nodes + 1) * sizeof *free_);
    int      nfree = 0;
    int64_t  top = 0;

#define ROOT(i) (root ? root[i] : (i))
    if (!last || !free_) {
        free(last);
        free(free_);
        return cnn_fail(CNN_ENOMEM, "plan: out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++)
        last[i] = g->n_nodes; /* kept: read by no node, or an input */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int src = ROOT(g->nodes[i].in[k]);
            if (g->nodes[src].op != CNN_OP_INPUT && src != ROOT(i))
                last[src] = last[src] == g->n_nodes || last[src] < i ? i : last[src];
        }
    for (int i = 0; i < g->n_nodes; i++) {
        /* A fused node is computed into its producer's block; a fused
         * add's shortcut may still go back to the free list below. */
        off[i] = ROOT(i) != i ? off[ROOT(i)]
                              : place(free_, &nfree, &top,
                                      round_up(cnn_node_numel(&g->nodes[i]) * batch));
        /* Inputs whose last reader is this node: back to the free list,
         * merged with free neighbours. */
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int     src = ROOT(g->nodes[i].in[k]);
            block   b   = {off[src], round_up(cnn_node_numel(&g->nodes[src]) * batch)};
            bool    dup = false;
            if (last[src] != i)
                continue;
            for (int k2 = 0; k2 < k; k2++)
                dup |= ROOT(g->nodes[i].in[k2]) == src;
            if (dup)
                continue;
            for (int f = 0; f < nfree;) {
                if (free_[f].at + free_[f].len == b.at || b.at + b.len == free_[f].at) {
                    b.at  = free_[f].at < b.at ? free_[f].at : b.at;
                    b.len += free_[f].len;
                    free_[f] = free_[--nfree];
                    f = 0;
                    continue;
                }
                f++;
            }
            /* Keep the block that reaches the top last, so it can grow. */
            free_[nfree++] = b;
            for (int f = 0; f + 1 < nfree; f++)
                if (free_[f].at + free_[f].len == top) {
                    block t = free_[f];
                    free_[f] = free_[nfree - 1];
                    free_[nfree - 1] = t;
                    break;
                }
        }
    }
    *size = top;
    for (int i = 0; last_out && i < g->n_nodes; i++)
        last_out[i] = last[ROOT(i)];
#undef ROOT
    free(last);
    free(free_);
    return CNN_OK;
}

/* What a plan holds: every y, dy and saved data (TRAIN); the same with
 * the dy of nodes other than inputs and outputs sharing memory by
 * liveness (SHARED: backward zeroes each one just before its first
 * writer); or no dy and the y sharing memory (INFER). */
typedef enum plan_kind { PLAN_TRAIN, PLAN_SHARED, PLAN_INFER } plan_kind;

/* A node's saved data and (INFER) what it keeps, rounded up each; -1 if
 * either does not fit. */
static int64_t node_aux(const cnn_graph *g, const cnn_node *n, int batch, plan_kind kind)
{
    const cnn_op_def *def  = cnn_op_defs[n->op];
    const int64_t     aux  = def->aux_floats ? def->aux_floats(g, n, batch) : 0;
    const int64_t     keep = kind == PLAN_INFER && def->keep_floats ? def->keep_floats(g, n, batch) : 0;

    if (aux < 0 || keep < 0 || aux > INT64_MAX / 4 || keep > INT64_MAX / 4)
        return -1;
    return round_up(aux) + round_up(keep);
}

/* Sizes of a plan, all checked: the arena and the scratch of one thread,
 * in floats; for SHARED and INFER also the offsets in the shared region
 * (off, may be NULL) and each node's last reader (last, may be NULL). */
static int plan_sizes(const cnn_graph *g, int batch, plan_kind kind, int64_t *off, int *last,
                      int *root, int64_t *arena, int64_t *scratch)
{
    int64_t total = 0, most = 0, shared = 0, fused = 0; /* fused: training ReLUs' y */
    int     rc;

    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_node   *n   = &g->nodes[i];
        const cnn_op_def *def = cnn_op_defs[n->op];
        int64_t           act, aux = 0;

        if ((rc = cnn_size_mul(cnn_node_numel(n), batch, &act)) < 0)
            return cnn_fail(rc, "plan: node '%s' at batch %d: activation size overflows", n->name,
                            batch);
        aux = node_aux(g, n, batch, kind);
        if (aux < 0)
            return cnn_fail(CNN_EOVERFLOW, "plan: node '%s' at batch %d: saved data too large",
                            n->name, batch);
        /* Every kind fits in this (y, dy and aux of every node): the sums
         * below cannot overflow once it is checked. */
        if ((rc = cnn_size_add(total, round_up(act), &total)) < 0 ||
            (rc = cnn_size_add(total, round_up(act), &total)) < 0 ||
            (rc = cnn_size_add(total, round_up(aux), &total)) < 0)
            return cnn_fail(rc, "plan: batch %d needs more memory than can be addressed", batch);
        if (kind != PLAN_INFER && train_relu_producer(g, i) >= 0)
            fused += round_up(act);
        if (def->scratch_floats) {
            int64_t s = def->scratch_floats(g, n, batch, kind != PLAN_INFER);
            if (s < 0)
                return cnn_fail(CNN_EOVERFLOW, "plan: node '%s': scratch size overflows", n->name);
            if (s > most)
                most = s;
        }
    }
    if (kind != PLAN_TRAIN) {
        int64_t *o = off ? off : malloc((size_t)g->n_nodes * sizeof *o);
        int     *r = root ? root : malloc((size_t)g->n_nodes * sizeof *r);
        if (!o || !r) {
            rc = cnn_fail(CNN_ENOMEM, "plan: out of memory");
        } else {
            rc = CNN_OK;
            if (kind == PLAN_INFER)
                rc = fusion_roots(g, r);
            else
                shared_roots(g, r);
            if (rc == CNN_OK)
                rc = infer_layout(g, batch, r, o, &shared, last);
        }
        if (o != off)
            free(o);
        if (r != root)
            free(r);
        if (rc < 0)
            return rc;
        total = shared;
        for (int i = 0; i < g->n_nodes; i++) {
            total += node_aux(g, &g->nodes[i], batch, kind); /* checked above */
            if (kind == PLAN_SHARED)
                total += round_up(cnn_node_numel(&g->nodes[i]) * batch);
        }
    }
    *arena   = total - fused;
    *scratch = round_up(most);
    return CNN_OK;
}

static int64_t plan_bytes(const cnn_graph *g, int batch, plan_kind kind)
{
    int64_t arena, scratch, t, bytes;
    int     rc;

    if (!g || batch < 1)
        return cnn_fail(CNN_EINVAL, "plan bytes: NULL graph or batch %d < 1", batch);
    if ((rc = plan_sizes(g, batch, kind, NULL, NULL, NULL, &arena, &scratch)) < 0)
        return rc;
    if ((rc = cnn_size_mul(scratch, g->nthreads, &t)) < 0 || (rc = cnn_size_add(arena, t, &t)) < 0 ||
        (rc = cnn_size_mul(t, (int64_t)sizeof(float), &bytes)) < 0)
        return rc;
    return bytes;
}

int64_t cnn_graph_plan_bytes(const cnn_graph *g, int batch)
{
    return plan_bytes(g, batch, g && g->share_grads ? PLAN_SHARED : PLAN_TRAIN);
}

int64_t cnn_graph_plan_infer_bytes(const cnn_graph *g, int batch)
{
    return plan_bytes(g, batch, PLAN_INFER);
}

static int plan(cnn_graph *g, int batch, bool infer)
{
    int64_t   total, scratch, t, *off = NULL;
    int      *last = NULL, *root = NULL;
    plan_kind kind;
    int       rc;

    if (!g)
        return cnn_fail(CNN_EINVAL, "plan: NULL graph");
    if (batch < 1)
        return cnn_fail(CNN_EINVAL, "plan: batch size %d, expected >= 1", batch);
    if (g->n_nodes == 0)
        return cnn_fail(CNN_ESTATE, "plan: the graph has no nodes");
    kind = infer ? PLAN_INFER : g->share_grads ? PLAN_SHARED : PLAN_TRAIN;
    if (kind != PLAN_TRAIN && (!(off = malloc((size_t)g->n_nodes * sizeof *off)) ||
                               !(last = malloc((size_t)g->n_nodes * sizeof *last)) ||
                               !(root = malloc((size_t)g->n_nodes * sizeof *root)))) {
        rc = cnn_fail(CNN_ENOMEM, "plan: out of memory");
        goto out;
    }
    /* Sizes are checked before the old plan goes, so a refused plan leaves
     * the previous one usable. */
    if ((rc = plan_sizes(g, batch, kind, off, last, root, &total, &scratch)) < 0 ||
        (rc = cnn_graph_ensure_params(g, true)) < 0 ||
        (!infer && (rc = cnn_graph_ensure_grads(g)) < 0))
        goto out;
    if ((rc = cnn_size_mul(scratch, g->nthreads, &t)) < 0) {
        rc = cnn_fail(rc, "plan: scratch for %d threads overflows", g->nthreads);
        goto out;
    }
    cnn_graph_drop_plan(g);

    if (!(g->arena = alloc_floats(total)) || !(g->scratch = alloc_floats(t))) {
        free(g->arena);
        g->arena = NULL;
        rc = cnn_fail(CNN_ENOMEM, "plan: out of memory for batch %d (%lld MiB)", batch,
                      (long long)((total + t) * 4 >> 20));
        goto out;
    }
    float *p = g->arena;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node         *n   = &g->nodes[i];
        const cnn_op_def *def = cnn_op_defs[n->op];
        int64_t           act = round_up(cnn_node_numel(n) * batch);

        n->aux_floats  = def->aux_floats ? def->aux_floats(g, n, batch) : 0;
        n->keep_floats = infer && def->keep_floats ? def->keep_floats(g, n, batch) : 0;
        n->kept_gen    = 0;
        n->readers    = 0;
        for (int j = 0; j < g->n_nodes; j++)
            for (int k = 0; k < g->nodes[j].n_in; k++)
                n->readers += g->nodes[j].in[k] == i;
        n->last       = last ? last[i] : g->n_nodes;
        n->aux = p;
        p += round_up(n->aux_floats) + round_up(n->keep_floats);
        if (kind != PLAN_INFER && train_relu_producer(g, i) < 0) { /* fused: later */
            n->y = p;
            p += act;
        }
        if (kind == PLAN_TRAIN) {
            n->dy = p;
            p += act;
        }
    }
    for (int i = 0; kind != PLAN_TRAIN && i < g->n_nodes; i++) {
        g->nodes[i].y  = kind == PLAN_INFER ? p + off[i] : g->nodes[i].y;
        g->nodes[i].dy = kind == PLAN_SHARED ? p + off[i] : NULL;
    }
    if (kind != PLAN_INFER)
        fuse_train_relus(g, kind == PLAN_SHARED);
    for (int i = 0; kind != PLAN_INFER && i < g->n_nodes; i++) { /* conv -> its batch norm */
        cnn_node *n = &g->nodes[i], *src = n->n_in == 1 ? &g->nodes[n->in[0]] : NULL;
        if (n->op == CNN_OP_BATCHNORM2D && src && src->op == CNN_OP_CONV2D && src->readers == 1 &&
            n->shape.ndim == 3)
            src->stats_bn = i;
    }
    for (int i = 0; kind == PLAN_INFER && i < g->n_nodes; i++) {
        cnn_node *n = &g->nodes[i], *r = &g->nodes[root[i]];
        if (root[i] == i)
            continue;
        n->fused_into = root[i];
        g->n_fused++;
        if (n->op == CNN_OP_BATCHNORM2D)
            r->fuse_bn = i;
        else if (n->op == CNN_OP_ADD) /* the operand not made by r */
            r->fuse_add = n->in[root[n->in[0]] == root[i] ? 1 : 0];
        else
            r->fuse_relu = true;
    }
    g->scratch_per_thread = scratch;
    g->plan_threads       = g->nthreads;
    g->batch              = batch;
    g->infer_plan         = infer;
    g->shared_dy          = kind == PLAN_SHARED;
    rc                    = CNN_OK;
out:
    free(off);
    free(last);
    free(root);
    return rc;
}

int cnn_graph_plan(cnn_graph *g, int batch) { return plan(g, batch, false); }
int cnn_graph_plan_infer(cnn_graph *g, int batch) { return plan(g, batch, true); }

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
    if (g->infer_plan) {
        cnn_fail(CNN_ESTATE, "graph grad: the graph is planned for inference (no gradients)");
        return NULL;
    }
    if (g->shared_dy && g->nodes[id].last != g->n_nodes) {
        cnn_fail(CNN_ESTATE, "graph grad: the gradient of '%s' is not kept (the graph shares "
                 "gradient memory: only inputs and outputs keep theirs)", g->nodes[id].name);
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

/* ==== @@PROFILE ==== */

int cnn_graph_set_profile(cnn_graph *g, bool on)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "set profile: NULL graph");
    if (on) {
        double *p = realloc(g->prof, (size_t)(g->n_nodes > 0 ? g->n_nodes : 1) * 2 * sizeof *p);
        if (!p)
            return cnn_fail(CNN_ENOMEM, "set profile: out of memory");
        memset(p, 0, (size_t)(g->n_nodes > 0 ? g->n_nodes : 1) * 2 * sizeof *p);
        g->prof   = p;
        g->prof_n = g->n_nodes;
    }
    g->profile = on;
    return CNN_OK;
}

int cnn_graph_profile(const cnn_graph *g, int id, double *fwd_s, double *bwd_s)
{
    if (!g || id < 0 || id >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "profile: NULL graph or node id %d out of range", id);
    if (fwd_s)
        *fwd_s = id < g->prof_n ? g->prof[2 * id] : 0.0;
    if (bwd_s)
        *bwd_s = id < g->prof_n ? g->prof[2 * id + 1] : 0.0;
    return CNN_OK;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs node i's forward (dir 0) or backward (1), timed when profiling
 * (nodes added after cnn_graph_set_profile go untimed). */
static void run_node(cnn_graph *g, const cnn_exec *e, int i, int dir)
{
    cnn_node  *n  = &g->nodes[i];
    const bool on = g->profile && i < g->prof_n;
    double     t0 = on ? now_s() : 0.0;

    if (dir == 0)
        cnn_op_defs[n->op]->forward(e, n);
    else
        cnn_op_defs[n->op]->backward(e, n);
    if (on)
        g->prof[2 * i + dir] += now_s() - t0;
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
    if (mode == CNN_TRAIN && g->n_fused > 0)
        return cnn_fail(CNN_ESTATE, "forward: the graph is planned for inference, with batch norms "
                        "and ReLUs fused into their producers; training mode needs cnn_graph_plan");
    e = make_exec(g, mode);
    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_op_def *def = cnn_op_defs[g->nodes[i].op];
        int               rc;
        if (def->check && (rc = def->check(&e, &g->nodes[i])) < 0)
            return rc;
    }
    g->forward_done = false;
    g->hook_rc      = CNN_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *n = &g->nodes[i];
        if (n->op != CNN_OP_INPUT && n->fused_into < 0) /* fused: done by its producer */
            run_node(g, &e, i, 0);
        if (g->hook_rc < 0) /* a synchronized batch norm could not reduce */
            return g->hook_rc;
    }
    g->last_mode    = mode;
    g->forward_done = true;
    return CNN_OK;
}

/* x[0, n) = 0, by the threads when it is large. */
static void zero(float *x, int64_t n, int nthreads)
{
    if (n < ((int64_t)1 << 16) || nthreads < 2) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    CNN_OMP(omp parallel num_threads(nthreads))
    {
        int64_t lo, hi;
        cnn_slice(n, CNN_TID(), CNN_TEAM(), &lo, &hi);
        memset(x + lo, 0, (size_t)(hi - lo) * sizeof *x);
    }
}

int cnn_graph_clear_grads(cnn_graph *g)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "clear grads: NULL graph");
    if (g->batch == 0)
        return cnn_fail(CNN_ESTATE, "clear grads: the graph is not planned");
    if (g->infer_plan)
        return cnn_fail(CNN_ESTATE, "clear grads: the graph is planned for inference (no "
                        "gradients; plan with cnn_graph_plan to train)");
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->shared_dy || g->nodes[i].last == g->n_nodes) /* shared ones: by backward */
            zero(g->nodes[i].dy, cnn_node_numel(&g->nodes[i]) * g->batch, g->plan_threads);
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
    if (g->infer_plan)
        return cnn_fail(CNN_ESTATE, "backward: the graph is planned for inference (no "
                        "gradients; plan with cnn_graph_plan to train)");
    if (!g->forward_done)
        return cnn_fail(CNN_ESTATE, "backward: no forward pass to go back through");
    mark_req(g);
    e = make_exec(g, g->last_mode);
    g->hook_rc = CNN_OK;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        cnn_node *n = &g->nodes[i];
        int       rc;
        n->over_dx = false;
        if (g->shared_dy)
            for (int k = 0; k < n->n_in; k++) { /* first writer of a shared dy: zero it */
                cnn_node *src = &g->nodes[n->in[k]];
                if (src->last != i || !src->req || n->bwd_fused) /* fused: src->dy is n's */
                    continue;
                if (k == 0 && src->readers == 1 && cnn_op_defs[n->op]->writes_dx)
                    n->over_dx = true; /* its only writer: writes it whole */
                else
                    zero(src->dy, cnn_node_numel(src) * g->batch, e.nthreads);
            }
        if (n->req && n->op != CNN_OP_INPUT && !n->bwd_fused)
            run_node(g, &e, i, 1);
        if (g->hook_rc < 0)
            return g->hook_rc;
        if (g->bwd_hook && (rc = g->bwd_hook(g, i, g->bwd_user)) < 0)
            return rc;
    }
    return CNN_OK;
}

int cnn_graph_share_grads(cnn_graph *g, bool share)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "share grads: NULL graph");
    g->share_grads = share;
    return CNN_OK;
}

int cnn_graph_set_backward_hook(cnn_graph *g, cnn_backward_hook fn, void *user)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "set backward hook: NULL graph");
    g->bwd_hook = fn;
    g->bwd_user = fn ? user : NULL;
    return CNN_OK;
}

int cnn_graph_set_stat_reduce(cnn_graph *g, cnn_reduce_fn fn, void *user)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "set stat reduce: NULL graph");
    g->reduce      = fn;
    g->reduce_user = fn ? user : NULL;
    return CNN_OK;
}
