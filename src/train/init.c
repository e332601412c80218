/* init.c - parameter initialization: He (Kaiming), Xavier (Glorot) and
 * PyTorch's default, each from a seeded stream per node, so the same seed
 * gives the same bits whatever the order nodes are initialized in. */
#include "../graph/graph_impl.h"

#include <math.h>

/* fan_in = dim1 * receptive, fan_out = dim0 * receptive (PyTorch's
 * _calculate_fan_in_and_fan_out) for a weight [out, in, ...]. */
static void fans(const cnn_shape *w, double *fan_in, double *fan_out)
{
    double rf = 1.0;
    for (int d = 2; d < w->ndim; d++)
        rf *= (double)w->dim[d];
    *fan_in  = (double)w->dim[1] * rf;
    *fan_out = (double)w->dim[0] * rf;
}

static void fill_uniform(cnn_rng *r, float *p, int64_t n, double bound)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * cnn_rng_uniform(r) - 1.0) * bound);
}

static void fill_normal(cnn_rng *r, float *p, int64_t n, double std)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(cnn_rng_normal(r) * std);
}

static void fill(float *p, int64_t n, float v)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = v;
}

void cnn_node_init_params(cnn_graph *g, int id, cnn_init scheme, uint64_t seed)
{
    cnn_node *n = &g->nodes[id];
    cnn_rng   r;

    cnn_rng_seed(&r, seed ^ (0x5851f42d4c957f2dull * (uint64_t)(id + 1)));
    switch (n->op) {
    case CNN_OP_CONV2D:
    case CNN_OP_LINEAR: {
        float  *w  = g->params + n->param_off[0];
        int64_t nw = cnn_shape_numel(&n->param_shape[0]);
        double  fi, fo;
        fans(&n->param_shape[0], &fi, &fo);
        switch (scheme) {
        case CNN_INIT_HE_NORMAL:      fill_normal(&r, w, nw, sqrt(2.0 / fi)); break;
        case CNN_INIT_HE_UNIFORM:     fill_uniform(&r, w, nw, sqrt(6.0 / fi)); break;
        case CNN_INIT_XAVIER_NORMAL:  fill_normal(&r, w, nw, sqrt(2.0 / (fi + fo))); break;
        case CNN_INIT_XAVIER_UNIFORM: fill_uniform(&r, w, nw, sqrt(6.0 / (fi + fo))); break;
        case CNN_INIT_PYTORCH:        fill_uniform(&r, w, nw, 1.0 / sqrt(fi)); break;
        }
        if (n->n_param > 1) {
            float  *b  = g->params + n->param_off[1];
            int64_t nb = cnn_shape_numel(&n->param_shape[1]);
            if (scheme == CNN_INIT_PYTORCH)
                fill_uniform(&r, b, nb, 1.0 / sqrt(fi));
            else
                fill(b, nb, 0.0f);
        }
        break;
    }
    case CNN_OP_BATCHNORM2D: {
        int64_t c = n->shape.dim[0];
        fill(g->params + n->param_off[0], c, 1.0f);
        fill(g->params + n->param_off[1], c, 0.0f);
        fill(g->buffers + n->buf_off[0], c, 0.0f);
        fill(g->buffers + n->buf_off[1], c, 1.0f);
        break;
    }
    case CNN_OP_CONSTANT:
        fill(g->params + n->param_off[0], cnn_shape_numel(&n->param_shape[0]), 0.0f);
        break;
    default:
        break;
    }
}

static int check_scheme(cnn_init scheme)
{
    if ((int)scheme < CNN_INIT_HE_NORMAL || scheme > CNN_INIT_PYTORCH)
        return cnn_fail(CNN_EINVAL, "init: unknown scheme %d", (int)scheme);
    return CNN_OK;
}

int cnn_graph_init(cnn_graph *g, cnn_init scheme, uint64_t seed)
{
    int rc;

    if (!g)
        return cnn_fail(CNN_EINVAL, "init: NULL graph");
    if ((rc = check_scheme(scheme)) < 0 || (rc = cnn_graph_ensure_params(g, false)) < 0)
        return rc;
    for (int i = 0; i < g->n_nodes; i++)
        cnn_node_init_params(g, i, scheme, seed);
    cnn_rng_seed(&g->rng, seed ^ 0xd1b54a32d192ed03ull);
    return CNN_OK;
}

int cnn_node_init(cnn_graph *g, int id, cnn_init scheme, uint64_t seed)
{
    int rc;

    if (!g || id < 0 || id >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "node init: bad graph or node id %d", id);
    if ((rc = check_scheme(scheme)) < 0 || (rc = cnn_graph_ensure_params(g, true)) < 0)
        return rc;
    if (g->nodes[id].op != CNN_OP_CONV2D && g->nodes[id].op != CNN_OP_LINEAR)
        return cnn_fail(CNN_EINVAL, "node init: '%s' is a %s; only conv2d and linear take a scheme",
                        g->nodes[id].name, cnn_op_name(g->nodes[id].op));
    cnn_node_init_params(g, id, scheme, seed);
    return CNN_OK;
}
