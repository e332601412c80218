/* act.c - elementwise activations: relu, leaky relu, sigmoid, tanh. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

#include <math.h>

static int same_shape_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = g->nodes[n->in[0]].shape;
    return CNN_OK;
}

/* Every activation below runs over [0, batch * numel) in static slices. */
#define ELEMENTWISE(e, n, i, body)                                                               \
    do {                                                                                         \
        const int64_t total_ = cnn_node_numel(n) * (e)->batch;                                   \
        CNN_OMP(omp parallel for num_threads((e)->nthreads) schedule(static))                    \
        for (int64_t i = 0; i < total_; i++) {                                                   \
            body;                                                                                \
        }                                                                                        \
    } while (0)

/* The same static slices, each handed whole to a vectorized kernel
 * (src/kernels/eltwise.c): lo and hi name the slice. */
#define SLICED(e, n, lo, hi, call)                                                               \
    do {                                                                                         \
        const int64_t total_ = cnn_node_numel(n) * (e)->batch;                                   \
        CNN_OMP(omp parallel num_threads((e)->nthreads))                                         \
        {                                                                                        \
            int64_t lo, hi;                                                                      \
            cnn_slice(total_, CNN_TID(), CNN_TEAM(), &lo, &hi);                                 \
            call;                                                                                \
        }                                                                                        \
    } while (0)

static void relu_forward(const cnn_exec *e, cnn_node *n)
{
    const float *x = cnn_in_node(e, n, 0)->y;
    float       *y = n->y;
    SLICED(e, n, lo, hi, cnn_relu_fwd(x + lo, y + lo, hi - lo));
}

static void relu_backward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *in = cnn_in_node(e, n, 0);
    const float    *x = in->y, *dy = n->dy;
    float          *dx = in->dy;
    if (in->req)
        SLICED(e, n, lo, hi, cnn_relu_bwd_add(x + lo, dy + lo, dx + lo, hi - lo));
}

static void leaky_forward(const cnn_exec *e, cnn_node *n)
{
    const float *x = cnn_in_node(e, n, 0)->y;
    float       *y = n->y;
    const float  s = n->a.leaky.slope;
    SLICED(e, n, lo, hi, cnn_leaky_fwd(x + lo, y + lo, hi - lo, s));
}

static void leaky_backward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *in = cnn_in_node(e, n, 0);
    const float    *x = in->y, *dy = n->dy;
    float          *dx = in->dy;
    const float     s = n->a.leaky.slope;
    if (in->req)
        SLICED(e, n, lo, hi, cnn_leaky_bwd_add(x + lo, dy + lo, dx + lo, hi - lo, s));
}

/* Written so that exp never overflows. */
static inline float sigmoidf(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float z = expf(x);
    return z / (1.0f + z);
}

static void sigmoid_forward(const cnn_exec *e, cnn_node *n)
{
    const float *x = cnn_in_node(e, n, 0)->y;
    float       *y = n->y;
    ELEMENTWISE(e, n, i, y[i] = sigmoidf(x[i]));
}

static void sigmoid_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node    *in = cnn_in_node(e, n, 0);
    const float *y = n->y, *dy = n->dy;
    float       *dx = in->dy;
    if (in->req)
        ELEMENTWISE(e, n, i, dx[i] += dy[i] * y[i] * (1.0f - y[i]));
}

static void tanh_forward(const cnn_exec *e, cnn_node *n)
{
    const float *x = cnn_in_node(e, n, 0)->y;
    float       *y = n->y;
    ELEMENTWISE(e, n, i, y[i] = tanhf(x[i]));
}

static void tanh_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node    *in = cnn_in_node(e, n, 0);
    const float *y = n->y, *dy = n->dy;
    float       *dx = in->dy;
    if (in->req)
        ELEMENTWISE(e, n, i, dx[i] += dy[i] * (1.0f - y[i] * y[i]));
}

const cnn_op_def cnn_op_relu = {
    .name = "relu", .infer = same_shape_infer, .forward = relu_forward, .backward = relu_backward,
};
const cnn_op_def cnn_op_leaky_relu = {
    .name = "leaky_relu", .infer = same_shape_infer, .forward = leaky_forward,
    .backward = leaky_backward,
};
const cnn_op_def cnn_op_sigmoid = {
    .name = "sigmoid", .infer = same_shape_infer, .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};
const cnn_op_def cnn_op_tanh = {
    .name = "tanh", .infer = same_shape_infer, .forward = tanh_forward, .backward = tanh_backward,
};

static int add_unary(cnn_graph *g, cnn_op op, int x, const char *name)
{
    cnn_node n = {.op = op};
    return cnn_graph_add(g, &n, &x, 1, name);
}

int cnn_relu(cnn_graph *g, int x, const char *name) { return add_unary(g, CNN_OP_RELU, x, name); }
int cnn_sigmoid(cnn_graph *g, int x, const char *name) { return add_unary(g, CNN_OP_SIGMOID, x, name); }
int cnn_tanh(cnn_graph *g, int x, const char *name) { return add_unary(g, CNN_OP_TANH, x, name); }

int cnn_leaky_relu(cnn_graph *g, int x, float slope, const char *name)
{
    cnn_node n = {.op = CNN_OP_LEAKY_RELU};

    if (!isfinite(slope))
        return cnn_fail(CNN_EINVAL, "leaky_relu '%s': slope must be finite", name ? name : "");
    n.a.leaky.slope = slope;
    return cnn_graph_add(g, &n, &x, 1, name);
}
