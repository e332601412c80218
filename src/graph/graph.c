/* graph.c - building a graph: nodes, names, shape checks, the flat
 * parameter and buffer arrays, and read access to all of it. */
#include "graph_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 128

cnn_graph *cnn_graph_new(void)
{
    cnn_graph *g = calloc(1, sizeof *g);

    if (!g) {
        cnn_fail(CNN_ENOMEM, "graph: out of memory");
        return NULL;
    }
    g->nthreads = 1;
    cnn_rng_seed(&g->rng, 0);
    return g;
}

void cnn_graph_drop_plan(cnn_graph *g); /* exec.c */

void cnn_graph_free(cnn_graph *g)
{
    if (!g)
        return;
    cnn_graph_drop_plan(g);
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].in);
    }
    free(g->nodes);
    free(g->prof);
    free(g->params);
    free(g->grads);
    free(g->buffers);
    free(g);
}

int cnn_graph_size(const cnn_graph *g) { return g ? g->n_nodes : 0; }

const char *cnn_op_name(cnn_op op)
{
    if ((int)op < 0 || op >= CNN_OP_COUNT_ || !cnn_op_defs[op])
        return "?";
    return cnn_op_defs[op]->name;
}

const char *cnn_node_label(const cnn_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s '%s'", cnn_op_name(n->op), n->name ? n->name : "?");
    return buf;
}

int cnn_graph_find(const cnn_graph *g, const char *name)
{
    if (!g || !name)
        return cnn_fail(CNN_EINVAL, "graph find: NULL argument");
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    return cnn_fail(CNN_EINVAL, "graph: no node named '%s'", name);
}

static bool name_taken(const cnn_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return true;
    return false;
}

/* A copy of `name`, or a fresh "op_N" when it is NULL. */
static int make_name(const cnn_graph *g, cnn_op op, const char *name, char **out)
{
    char buf[MAX_NAME + 32];

    if (name) {
        size_t len = strlen(name);
        if (len == 0 || len > MAX_NAME)
            return cnn_fail(CNN_EINVAL, "%s: name must have 1 to %d characters, got %zu",
                            cnn_op_name(op), MAX_NAME, len);
        if (name_taken(g, name))
            return cnn_fail(CNN_EINVAL, "%s '%s': a node of that name already exists",
                            cnn_op_name(op), name);
        snprintf(buf, sizeof buf, "%s", name);
    } else {
        int k = g->n_nodes;
        do
            snprintf(buf, sizeof buf, "%s_%d", cnn_op_name(op), k++);
        while (name_taken(g, buf));
    }
    if (!(*out = malloc(strlen(buf) + 1)))
        return cnn_fail(CNN_ENOMEM, "graph: out of memory");
    strcpy(*out, buf);
    return CNN_OK;
}

/* Grows a float array to hold `need` floats (capacity doubles). */
static int grow(float **p, int64_t *cap, int64_t need)
{
    int64_t ncap = *cap ? *cap : 1024;
    float  *q;

    while (ncap < need) {
        if (ncap > INT64_MAX / 2)
            return cnn_fail(CNN_EOVERFLOW, "graph: parameter array too large");
        ncap *= 2;
    }
    if (ncap == *cap)
        return CNN_OK;
    if ((uint64_t)ncap > SIZE_MAX / sizeof(float) || !(q = realloc(*p, (size_t)ncap * sizeof(float))))
        return cnn_fail(CNN_ENOMEM, "graph: out of memory for %lld parameters", (long long)need);
    *p   = q;
    *cap = ncap;
    return CNN_OK;
}

int cnn_graph_add(cnn_graph *g, cnn_node *proto, const int *in, int n_in, const char *name)
{
    const cnn_op_def *def = cnn_op_defs[proto->op];
    cnn_node          n   = *proto;
    int64_t           np = 0, nb = 0, total, pcap, bcap;
    int               rc;

    if (!g)
        return cnn_fail(CNN_EINVAL, "%s: NULL graph", def->name);
    for (int k = 0; k < n_in; k++)
        if (in[k] < 0 || in[k] >= g->n_nodes)
            return cnn_fail(CNN_EINVAL, "%s%s%s: input %d is node id %d, but the graph has %d nodes",
                            def->name, name ? " " : "", name ? name : "", k, in[k], g->n_nodes);
    if (g->n_nodes == g->cap_nodes) {
        int       cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
        cnn_node *q   = realloc(g->nodes, (size_t)cap * sizeof *q);
        if (!q)
            return cnn_fail(CNN_ENOMEM, "graph: out of memory");
        g->nodes     = q;
        g->cap_nodes = cap;
    }

    n.name = NULL;
    n.in   = NULL;
    n.n_in = n_in;
    n.trainable = true;
    if ((rc = make_name(g, n.op, name, &n.name)) < 0)
        return rc;
    if (n_in > 0) {
        if (!(n.in = malloc((size_t)n_in * sizeof *n.in))) {
            rc = cnn_fail(CNN_ENOMEM, "graph: out of memory");
            goto fail;
        }
        memcpy(n.in, in, (size_t)n_in * sizeof *n.in);
    }
    if ((rc = def->infer(g, &n)) < 0)
        goto fail;
    /* Per-sample sizes stay below 2^31 so kernels may index a sample with
     * int; the product is checked, not wrapped. */
    {
        int64_t numel = 1;
        char    ss[96];
        for (int d = 0; d < n.shape.ndim && rc == CNN_OK; d++)
            if (n.shape.dim[d] < 1 || cnn_size_mul(numel, n.shape.dim[d], &numel) < 0 ||
                numel > INT32_MAX)
                rc = CNN_EOVERFLOW;
        if (rc < 0 || n.shape.ndim < 1) {
            rc = cnn_fail(CNN_EOVERFLOW, "%s '%s': output %s per sample is out of range (at most "
                          "2^31-1 elements)", def->name, n.name, cnn_shape_str(&n.shape, ss, sizeof ss));
            goto fail;
        }
    }

    /* Parameters and buffers go at the end of the flat arrays. */
    for (int k = 0; k < n.n_param; k++) {
        int64_t cnt = 1;
        for (int d = 0; d < n.param_shape[k].ndim; d++)
            if ((rc = cnn_size_mul(cnt, n.param_shape[k].dim[d], &cnt)) < 0)
                goto fail;
        n.param_off[k] = g->n_params + np;
        if ((rc = cnn_size_add(np, cnt, &np)) < 0)
            goto fail;
    }
    for (int k = 0; k < n.n_buf; k++) {
        int64_t cnt = cnn_shape_numel(&n.buf_shape[k]);
        n.buf_off[k] = g->n_buffers + nb;
        nb += cnt;
    }
    if ((rc = cnn_size_add(g->n_params, np, &total)) < 0)
        goto fail;
    /* Parameter memory exists only once something needs it (see
     * cnn_graph_ensure_params); until then a graph is shapes and counts, so
     * summarizing VGG-19 allocates nothing. */
    if (g->params) {
        pcap = g->cap_params;
        if ((rc = grow(&g->params, &pcap, total)) < 0)
            goto fail;
        g->cap_params = pcap;
        bcap = g->cap_buffers;
        if ((rc = grow(&g->buffers, &bcap, g->n_buffers + nb)) < 0)
            goto fail;
        g->cap_buffers = bcap;
    }
    if (g->grads) {
        pcap = g->cap_grads;
        if ((rc = grow(&g->grads, &pcap, total)) < 0)
            goto fail;
        g->cap_grads = pcap;
        memset(g->grads + g->n_params, 0, (size_t)np * sizeof(float));
    }

    cnn_graph_drop_plan(g);
    g->n_params += np;
    g->n_buffers += nb;
    n.fuse_bn = n.fuse_add = n.fused_into = -1; /* set by inference plans */
    n.fuse_relu = false;
    g->nodes[g->n_nodes] = n;
    if (g->params)
        cnn_node_init_params(g, g->n_nodes, CNN_INIT_PYTORCH, 0);
    return g->n_nodes++;

fail:
    free(n.name);
    free(n.in);
    return rc;
}

/* ==== @@QUERIES ==== */

static int check_id(const cnn_graph *g, int id)
{
    if (!g)
        return cnn_fail(CNN_EINVAL, "graph: NULL graph");
    if (id < 0 || id >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "graph: node id %d out of range (graph has %d nodes)", id,
                        g->n_nodes);
    return CNN_OK;
}

int cnn_node_info(const cnn_graph *g, int id, cnn_op *op, const char **name, cnn_shape *shape)
{
    int rc = check_id(g, id);
    if (rc < 0)
        return rc;
    if (op)
        *op = g->nodes[id].op;
    if (name)
        *name = g->nodes[id].name;
    if (shape)
        *shape = g->nodes[id].shape;
    return CNN_OK;
}

int cnn_node_attrs(const cnn_graph *g, int id, cnn_node_attr *a)
{
    int             rc = check_id(g, id);
    const cnn_node *n;

    if (rc < 0)
        return rc;
    if (!a)
        return cnn_fail(CNN_EINVAL, "node attrs: NULL output");
    memset(a, 0, sizeof *a);
    n = &g->nodes[id];
    switch (n->op) {
    case CNN_OP_CONV2D:           a->conv = n->a.conv; break;
    case CNN_OP_MAXPOOL2D:
    case CNN_OP_AVGPOOL2D:        a->pool = n->a.pool; break;
    case CNN_OP_LINEAR:           a->out[0] = n->a.linear.out; a->bias = n->a.linear.bias; break;
    case CNN_OP_ADAPTIVE_AVGPOOL: a->out[0] = n->a.adaptive.out[0]; a->out[1] = n->a.adaptive.out[1]; break;
    case CNN_OP_LEAKY_RELU:       a->slope = n->a.leaky.slope; break;
    case CNN_OP_DROPOUT:          a->p = n->a.dropout.p; break;
    case CNN_OP_BATCHNORM2D:      a->eps = n->a.bn.eps; a->momentum = n->a.bn.momentum; break;
    case CNN_OP_SOFTMAX:
    case CNN_OP_LOG_SOFTMAX:      a->axis = n->a.softmax.axis; break;
    case CNN_OP_CLIP:             a->clip.lo = n->a.clip.lo; a->clip.hi = n->a.clip.hi; break;
    case CNN_OP_PAD:
        memcpy(a->pad.begin, n->a.pad.begin, sizeof a->pad.begin);
        memcpy(a->pad.end, n->a.pad.end, sizeof a->pad.end);
        a->pad.value = n->a.pad.value;
        break;
    case CNN_OP_LRN:
        a->lrn.size = n->a.lrn.size, a->lrn.alpha = n->a.lrn.alpha;
        a->lrn.beta = n->a.lrn.beta, a->lrn.k = n->a.lrn.k;
        break;
    default: break;
    }
    return CNN_OK;
}

int cnn_node_inputs(const cnn_graph *g, int id, int *ids, int max)
{
    int rc = check_id(g, id);
    if (rc < 0)
        return rc;
    for (int k = 0; k < g->nodes[id].n_in && k < max && ids; k++)
        ids[k] = g->nodes[id].in[k];
    return g->nodes[id].n_in;
}

/* Exactly sized arrays (at least one float, so a graph without parameters
 * still has a valid pointer). */
static float *alloc_exact(int64_t n, bool zero)
{
    if (n < 1)
        n = 1;
    if ((uint64_t)n > SIZE_MAX / sizeof(float))
        return NULL;
    return zero ? calloc((size_t)n, sizeof(float)) : malloc((size_t)n * sizeof(float));
}

int cnn_graph_ensure_params(cnn_graph *g, bool init_defaults)
{
    g->param_gen++; /* the caller may write them */
    if (g->params)
        return CNN_OK;
    if (!(g->params = alloc_exact(g->n_params, false)))
        return cnn_fail(CNN_ENOMEM, "graph: out of memory for %lld parameters", (long long)g->n_params);
    if (!(g->buffers = alloc_exact(g->n_buffers, false))) {
        free(g->params);
        g->params = NULL;
        return cnn_fail(CNN_ENOMEM, "graph: out of memory for %lld buffers", (long long)g->n_buffers);
    }
    g->cap_params  = g->n_params > 0 ? g->n_params : 1;
    g->cap_buffers = g->n_buffers > 0 ? g->n_buffers : 1;
    for (int i = 0; init_defaults && i < g->n_nodes; i++)
        cnn_node_init_params(g, i, CNN_INIT_PYTORCH, 0);
    return CNN_OK;
}

int cnn_graph_ensure_grads(cnn_graph *g)
{
    if (g->grads)
        return CNN_OK;
    if (!(g->grads = alloc_exact(g->n_params, true)))
        return cnn_fail(CNN_ENOMEM, "graph: out of memory for %lld gradients", (long long)g->n_params);
    g->cap_grads = g->n_params > 0 ? g->n_params : 1;
    return CNN_OK;
}

int64_t cnn_graph_param_count(const cnn_graph *g) { return g ? g->n_params : 0; }
int64_t cnn_graph_buffer_count(const cnn_graph *g) { return g ? g->n_buffers : 0; }

float *cnn_graph_params(cnn_graph *g)
{
    if (!g) {
        cnn_fail(CNN_EINVAL, "graph params: NULL graph");
        return NULL;
    }
    return cnn_graph_ensure_params(g, true) < 0 ? NULL : g->params;
}

float *cnn_graph_param_grads(cnn_graph *g)
{
    if (!g) {
        cnn_fail(CNN_EINVAL, "graph grads: NULL graph");
        return NULL;
    }
    return cnn_graph_ensure_grads(g) < 0 ? NULL : g->grads;
}

float *cnn_graph_buffers(cnn_graph *g)
{
    if (!g) {
        cnn_fail(CNN_EINVAL, "graph buffers: NULL graph");
        return NULL;
    }
    return cnn_graph_ensure_params(g, true) < 0 ? NULL : g->buffers;
}

int cnn_node_param_count(const cnn_graph *g, int id)
{
    int rc = check_id(g, id);
    return rc < 0 ? rc : g->nodes[id].n_param;
}

int cnn_node_param(cnn_graph *g, int id, int k, float **data, float **grad, cnn_shape *shape,
                   const char **pname)
{
    int       rc = check_id(g, id);
    cnn_node *n;

    if (rc < 0)
        return rc;
    n = &g->nodes[id];
    if (k < 0 || k >= n->n_param)
        return cnn_fail(CNN_EINVAL, "node '%s' has %d parameter tensors, asked for #%d", n->name,
                        n->n_param, k);
    if ((data && (rc = cnn_graph_ensure_params(g, true)) < 0) ||
        (grad && (rc = cnn_graph_ensure_grads(g)) < 0))
        return rc;
    if (data)
        *data = g->params + n->param_off[k];
    if (grad)
        *grad = g->grads + n->param_off[k];
    if (shape)
        *shape = n->param_shape[k];
    if (pname)
        *pname = cnn_op_defs[n->op]->param_names[k];
    return CNN_OK;
}

int cnn_node_buffer_count(const cnn_graph *g, int id)
{
    int rc = check_id(g, id);
    return rc < 0 ? rc : g->nodes[id].n_buf;
}

int cnn_node_buffer(cnn_graph *g, int id, int k, float **data, cnn_shape *shape,
                    const char **bname)
{
    int       rc = check_id(g, id);
    cnn_node *n;

    if (rc < 0)
        return rc;
    n = &g->nodes[id];
    if (k < 0 || k >= n->n_buf)
        return cnn_fail(CNN_EINVAL, "node '%s' has %d buffers, asked for #%d", n->name, n->n_buf,
                        k);
    if (data && (rc = cnn_graph_ensure_params(g, true)) < 0)
        return rc;
    if (data)
        *data = g->buffers + n->buf_off[k];
    if (shape)
        *shape = n->buf_shape[k];
    if (bname)
        *bname = cnn_op_defs[n->op]->buf_names[k];
    return CNN_OK;
}

int cnn_node_set_trainable(cnn_graph *g, int id, bool trainable)
{
    int rc = check_id(g, id);
    if (rc < 0)
        return rc;
    g->nodes[id].trainable = trainable;
    return CNN_OK;
}

bool cnn_node_trainable(const cnn_graph *g, int id)
{
    return check_id(g, id) == CNN_OK && g->nodes[id].trainable;
}

void cnn_graph_rng_get(const cnn_graph *g, uint64_t state[4])
{
    for (int i = 0; g && state && i < 4; i++)
        state[i] = g->rng.s[i];
}

void cnn_graph_rng_set(cnn_graph *g, const uint64_t state[4])
{
    for (int i = 0; g && state && i < 4; i++)
        g->rng.s[i] = state[i];
}
