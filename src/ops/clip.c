/* clip.c - y = min(max(x, lo), hi) elementwise (ReLU6 is lo 0, hi 6). */
#include "../graph/graph_impl.h"

#include <math.h>

static int clip_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = g->nodes[n->in[0]].shape;
    return CNN_OK;
}

/* Two comparisons rather than fminf/fmaxf: a NaN stays NaN (as in NumPy and
 * ONNX Runtime), and lo > hi gives hi (ONNX Runtime's order). */
static inline float clip1(float x, float lo, float hi)
{
    float v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static void clip_forward(const cnn_exec *e, cnn_node *n)
{
    const float  *x  = cnn_in_node(e, n, 0)->y;
    const float   lo = n->a.clip.lo, hi = n->a.clip.hi;
    const int64_t count = cnn_node_numel(n) * e->batch;

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < count; i++)
        n->y[i] = clip1(x[i], lo, hi);
}

/* PyTorch's clamp: the gradient passes where lo <= x <= hi. */
static void clip_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *in = cnn_in_node(e, n, 0);
    const float   lo = n->a.clip.lo, hi = n->a.clip.hi;
    const int64_t count = cnn_node_numel(n) * e->batch;

    if (!in->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t i = 0; i < count; i++)
        if (in->y[i] >= lo && in->y[i] <= hi)
            in->dy[i] += n->dy[i];
}

const cnn_op_def cnn_op_clip = {
    .name = "clip", .infer = clip_infer, .forward = clip_forward, .backward = clip_backward,
};

int cnn_clip(cnn_graph *g, int x, float lo, float hi, const char *name)
{
    cnn_node n = {.op = CNN_OP_CLIP};

    if (isnan(lo) || isnan(hi))
        return cnn_fail(CNN_EINVAL, "clip '%s': bounds %g and %g must not be NaN",
                        name ? name : "", (double)lo, (double)hi);
    n.a.clip.lo = lo;
    n.a.clip.hi = hi;
    return cnn_graph_add(g, &n, &x, 1, name);
}
