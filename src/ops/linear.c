/* linear.c - fully connected layer, y = x W^T + b, PyTorch's layout. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

static int linear_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    int64_t         f = cnn_node_numel(x);

    if (f > INT32_MAX)
        return cnn_fail(CNN_EOVERFLOW, "linear '%s': %lld input features is too many", n->name,
                        (long long)f);
    n->shape          = (cnn_shape){1, {n->a.linear.out}};
    n->n_param        = n->a.linear.bias ? 2 : 1;
    n->param_shape[0] = (cnn_shape){2, {n->a.linear.out, f}};
    n->param_shape[1] = (cnn_shape){1, {n->a.linear.out}};
    return CNN_OK;
}

/* Per thread: the GEMM's packing workspace (no allocation per call). */
static int64_t linear_scratch(const cnn_graph *g, const cnn_node *n, int batch, bool train)
{
    (void)g;
    (void)n;
    (void)train;
    (void)batch;
    return CNN_GEMM_WS_FLOATS;
}

static float *gemm_ws(const cnn_exec *e)
{
    return e->scratch + CNN_TID() * e->scratch_per_thread;
}

/* Rows of the batch are split across threads: Y[rows] = X[rows] W^T + b. */
/* y[b][o] = B[o] (0 without a bias) for samples [b0, b1), outputs [o0, o1):
 * the GEMM then adds the products. */
static void fill_bias(float *y, const float *B, int O, int64_t b0, int64_t b1, int64_t o0,
                      int64_t o1)
{
    for (int64_t b = b0; b < b1; b++)
        for (int64_t o = o0; o < o1; o++)
            y[b * O + o] = B ? B[o] : 0.0f;
}

static void linear_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x = cnn_in_node(e, n, 0);
    const int       F = (int)cnn_node_numel(x), O = n->a.linear.out;
    const float    *W = cnn_param(e, n, 0);
    const float    *B = n->a.linear.bias ? cnn_param(e, n, 1) : NULL;

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        int64_t lo, hi;
        if (e->batch < CNN_TEAM()) {
            /* Fewer samples than threads (inference of one image): each
             * thread takes a slice of the outputs, and each sample is
             * W x, A = W read in place, no transposing pack. The GEMM's
             * bits depend on K alone, so they are those of X W^T. */
            cnn_slice(O, CNN_TID(), CNN_TEAM(), &lo, &hi);
            fill_bias(n->y, B, O, 0, e->batch, lo, hi);
            for (int64_t b = 0; hi > lo && b < e->batch; b++)
                cnn_gemm_ws(false, false, (int)(hi - lo), 1, F, 1.0f, W + lo * F, F, x->y + b * F,
                            1, 1.0f, n->y + b * O + lo, 1, gemm_ws(e));
        } else {
            cnn_slice(e->batch, CNN_TID(), CNN_TEAM(), &lo, &hi);
            fill_bias(n->y, B, O, lo, hi, 0, O);
            cnn_gemm_ws(false, true, (int)(hi - lo), O, F, 1.0f, x->y + lo * F, F, W, F, 1.0f,
                        n->y + lo * O, O, gemm_ws(e));
        }
    }
}

static void linear_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node   *x = cnn_in_node(e, n, 0);
    const int   F = (int)cnn_node_numel(x), O = n->a.linear.out;
    const float *W = cnn_param(e, n, 0);

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        int64_t lo, hi;
        int     tid = CNN_TID();
        /* dW [O, F] += dY^T [O, N] X [N, F]: rows of dW split across threads,
         * so every element is summed over the whole batch in one order. */
        if (n->trainable) {
            cnn_slice(O, tid, CNN_TEAM(), &lo, &hi);
            if (hi > lo)
                cnn_gemm_ws(true, false, (int)(hi - lo), F, e->batch, 1.0f, n->dy + lo, O, x->y,
                            F, 1.0f, cnn_pgrad(e, n, 0) + lo * F, F, gemm_ws(e));
            if (n->a.linear.bias)
                for (int64_t o = lo; o < hi; o++) {
                    float s = 0.0f;
                    for (int b = 0; b < e->batch; b++)
                        s += n->dy[(int64_t)b * O + o];
                    cnn_pgrad(e, n, 1)[o] += s;
                }
        }
        /* dX [N, F] += dY [N, O] W [O, F], rows of the batch split. */
        if (x->req) {
            cnn_slice(e->batch, tid, CNN_TEAM(), &lo, &hi);
            if (hi > lo)
                cnn_gemm_ws(false, false, (int)(hi - lo), F, O, 1.0f, n->dy + lo * O, O, W, F,
                            1.0f, x->dy + lo * F, F, gemm_ws(e));
        }
    }
}

static int64_t linear_macs(const cnn_graph *g, const cnn_node *n)
{
    (void)g;
    return cnn_shape_numel(&n->param_shape[0]);
}

/* Every output sees the whole input. */
static void linear_rf(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st)
{
    (void)g;
    (void)n;
    st->whole = true;
}

const cnn_op_def cnn_op_linear = {
    .name = "linear", .param_names = {"weight", "bias"},
    .infer = linear_infer, .scratch_floats = linear_scratch,
    .forward = linear_forward, .backward = linear_backward,
    .macs = linear_macs, .rf = linear_rf,
};

int cnn_linear(cnn_graph *g, int x, int out_features, bool bias, const char *name)
{
    cnn_node n = {.op = CNN_OP_LINEAR};

    if (out_features < 1 || out_features > (1 << 24))
        return cnn_fail(CNN_EINVAL, "linear '%s': out_features %d, expected 1 to 2^24",
                        name ? name : "", out_features);
    n.a.linear.out  = out_features;
    n.a.linear.bias = bias;
    return cnn_graph_add(g, &n, &x, 1, name);
}
