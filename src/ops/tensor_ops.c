/* tensor_ops.c - ops that move data without arithmetic of their own:
 * input, flatten, add (residual, or a broadcast bias), concat along
 * channels. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"
#include "bcast.h"

#include <string.h>

/* ==== @@INPUT ==== */

static int input_infer(cnn_graph *g, cnn_node *n)
{
    (void)g;
    (void)n; /* shape set by the constructor */
    return CNN_OK;
}

static void nop(const cnn_exec *e, cnn_node *n)
{
    (void)e;
    (void)n;
}

const cnn_op_def cnn_op_input = {
    .name = "input", .infer = input_infer, .forward = nop, .backward = nop,
};

static int add_input(cnn_graph *g, cnn_shape s, const char *name)
{
    cnn_node n = {.op = CNN_OP_INPUT, .shape = s};

    for (int d = 0; d < s.ndim; d++)
        if (s.dim[d] < 1 || s.dim[d] > (1 << 24))
            return cnn_fail(CNN_EINVAL, "input '%s': dimension %d is %lld, expected 1 to 2^24",
                            name ? name : "", d, (long long)s.dim[d]);
    return cnn_graph_add(g, &n, NULL, 0, name);
}

int cnn_input(cnn_graph *g, int c, int h, int w, const char *name)
{
    return add_input(g, (cnn_shape){3, {c, h, w}}, name);
}

int cnn_input_flat(cnn_graph *g, int features, const char *name)
{
    return add_input(g, (cnn_shape){1, {features}}, name);
}

/* ==== @@FLATTEN ==== */

static int flatten_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = (cnn_shape){1, {cnn_node_numel(&g->nodes[n->in[0]])}};
    return CNN_OK;
}

static void copy_forward(const cnn_exec *e, cnn_node *n)
{
    memcpy(n->y, cnn_in_node(e, n, 0)->y, (size_t)(cnn_node_numel(n) * e->batch) * sizeof(float));
}

static void accumulate(float *dst, const float *src, int64_t count, int nthreads)
{
    (void)nthreads; /* unused without OpenMP */
    CNN_OMP(omp parallel num_threads(nthreads))
    {
        int64_t lo, hi;
        cnn_slice(count, CNN_TID(), CNN_TEAM(), &lo, &hi);
        cnn_add_to(dst + lo, src + lo, hi - lo);
    }
}

/* Passes the gradient unchanged to every input that wants it. */
static void pass_backward(const cnn_exec *e, cnn_node *n)
{
    for (int k = 0; k < n->n_in; k++) {
        cnn_node *x = cnn_in_node(e, n, k);
        if (x->req)
            accumulate(x->dy, n->dy, cnn_node_numel(n) * e->batch, e->nthreads);
    }
}

const cnn_op_def cnn_op_flatten = {
    .name = "flatten", .infer = flatten_infer, .forward = copy_forward, .backward = pass_backward,
};

int cnn_flatten(cnn_graph *g, int x, const char *name)
{
    cnn_node n = {.op = CNN_OP_FLATTEN};
    return cnn_graph_add(g, &n, &x, 1, name);
}

/* ==== @@ADD ==== */

static int add_infer(cnn_graph *g, cnn_node *n)
{
    return cnn_bcast_infer(n, &g->nodes[n->in[0]], &g->nodes[n->in[1]]);
}

static void add_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *A = cnn_in_node(e, n, 0), *B = cnn_in_node(e, n, 1);
    const float    *a = A->y, *b = B->y;
    float          *y = n->y;
    const int64_t   count = cnn_node_numel(n) * e->batch;
    const cnn_bcast bc = cnn_bcast_of(A, B);
    const int64_t   as = cnn_node_numel(A), bs = cnn_node_numel(B);

    if (bc.same) {
        CNN_OMP(omp parallel num_threads(e->nthreads))
        {
            int64_t lo, hi;
            cnn_slice(count, CNN_TID(), CNN_TEAM(), &lo, &hi);
            cnn_vadd(a + lo, b + lo, y + lo, hi - lo);
            if (n->fuse_relu) /* an inference plan's ReLU, while in cache */
                cnn_affine_relu(y + lo, hi - lo, 1.0f, 0.0f, false, NULL, true);
        }
        return;
    }
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int s = 0; s < e->batch; s++) {
        const float *as_ = a + s * as, *bs_ = b + s * bs;
        float       *ys_ = y + s * as;
        CNN_BCAST_FOR(bc, i, j, ys_[i] = as_[i] + bs_[j]);
        if (n->fuse_relu)
            cnn_affine_relu(ys_, cnn_node_numel(n), 1.0f, 0.0f, false, NULL, true);
    }
}

/* a gets the gradient as it is; a broadcast b the sum over the positions
 * it was repeated at, per sample (so the threads' slices never meet). */
static void add_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node       *A = cnn_in_node(e, n, 0), *B = cnn_in_node(e, n, 1);
    const cnn_bcast bc = cnn_bcast_of(A, B);
    const int64_t   as = cnn_node_numel(A), bs = cnn_node_numel(B);

    if (bc.same && n->relu_bwd) { /* through the fused ReLU (its output: n->y) */
        const int64_t count = cnn_node_numel(n) * e->batch;
        CNN_OMP(omp parallel num_threads(e->nthreads))
        {
            int64_t lo, hi;
            cnn_slice(count, CNN_TID(), CNN_TEAM(), &lo, &hi);
            if (A->req && B->req && A != B)
                cnn_relu_bwd_acc2(n->y + lo, n->dy + lo, A->dy + lo, B->dy + lo, hi - lo);
            else
                for (int k = 0; k < 2; k++)
                    if (cnn_in_node(e, n, k)->req)
                        cnn_relu_bwd_acc(n->y + lo, n->dy + lo, cnn_in_node(e, n, k)->dy + lo,
                                         hi - lo);
        }
        return;
    }
    if (bc.same) {
        pass_backward(e, n);
        return;
    }
    if (A->req)
        accumulate(A->dy, n->dy, as * e->batch, e->nthreads);
    if (!B->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int s = 0; s < e->batch; s++) {
        const float *dy = n->dy + s * as;
        float       *db = B->dy + s * bs;
        CNN_BCAST_FOR(bc, i, j, db[j] += dy[i]);
    }
}

const cnn_op_def cnn_op_add = {
    .name = "add", .infer = add_infer, .forward = add_forward, .backward = add_backward,
};

int cnn_add(cnn_graph *g, int a, int b, const char *name)
{
    cnn_node n     = {.op = CNN_OP_ADD};
    int      in[2] = {a, b};
    return cnn_graph_add(g, &n, in, 2, name);
}

/* ==== @@CONCAT ==== */

static int concat_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *first = &g->nodes[n->in[0]];
    int64_t         c     = 0;
    char            as[64], bs[64];

    for (int k = 0; k < n->n_in; k++) {
        const cnn_node *x  = &g->nodes[n->in[k]];
        bool            ok = x->shape.ndim == first->shape.ndim;
        for (int d = 1; ok && d < x->shape.ndim; d++)
            ok = x->shape.dim[d] == first->shape.dim[d];
        if (!ok)
            return cnn_fail(CNN_ESHAPE,
                            "concat '%s': '%s' has shape %s but '%s' has shape %s; all but the "
                            "channels must agree",
                            n->name, first->name, cnn_shape_str(&first->shape, as, sizeof as),
                            x->name, cnn_shape_str(&x->shape, bs, sizeof bs));
        c += x->shape.dim[0];
    }
    n->shape        = first->shape;
    n->shape.dim[0] = c;
    return CNN_OK;
}

static void concat_forward(const cnn_exec *e, cnn_node *n)
{
    const int64_t ys = cnn_node_numel(n);

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int b = 0; b < e->batch; b++) {
        int64_t off = 0;
        for (int k = 0; k < n->n_in; k++) {
            const cnn_node *x  = cnn_in_node(e, n, k);
            int64_t         xs = cnn_node_numel(x);
            memcpy(n->y + b * ys + off, x->y + b * xs, (size_t)xs * sizeof(float));
            off += xs;
        }
    }
}

static void concat_backward(const cnn_exec *e, cnn_node *n)
{
    const int64_t ys = cnn_node_numel(n);

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int b = 0; b < e->batch; b++) {
        int64_t off = 0;
        for (int k = 0; k < n->n_in; k++) {
            cnn_node *x  = cnn_in_node(e, n, k);
            int64_t   xs = cnn_node_numel(x);
            if (x->req)
                for (int64_t i = 0; i < xs; i++)
                    x->dy[b * xs + i] += n->dy[b * ys + off + i];
            off += xs;
        }
    }
}

const cnn_op_def cnn_op_concat = {
    .name = "concat", .infer = concat_infer, .forward = concat_forward,
    .backward = concat_backward,
};

int cnn_concat(cnn_graph *g, const int *xs, int n_in, const char *name)
{
    cnn_node n = {.op = CNN_OP_CONCAT};

    if (!xs || n_in < 1 || n_in > 4096)
        return cnn_fail(CNN_EINVAL, "concat '%s': %d inputs, expected 1 to 4096", name ? name : "",
                        xs ? n_in : 0);
    return cnn_graph_add(g, &n, xs, n_in, name);
}
