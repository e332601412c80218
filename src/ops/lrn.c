/* lrn.c - local response normalization across channels (AlexNet's), ONNX's
 * definition: over a per-sample C x ... input,
 *   s[c] = k + alpha / size * sum_{c' in window(c)} x[c']^2,  y[c] = x[c] * s[c]^-beta
 * with window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] within
 * [0, C). */
#include "../graph/graph_impl.h"

#include <math.h>

static int lrn_infer(cnn_graph *g, cnn_node *n)
{
    n->shape = g->nodes[n->in[0]].shape;
    return CNN_OK;
}

/* Saved: s of every element, for backward. */
static int64_t lrn_aux(const cnn_graph *g, const cnn_node *n, int batch)
{
    (void)g;
    return cnn_node_numel(n) * batch;
}

/* C channels, P positions per channel; the window's reach below and above. */
static void geometry(const cnn_node *n, int64_t *C, int64_t *P, int *lo, int *hi)
{
    *C  = n->shape.dim[0];
    *P  = cnn_node_numel(n) / *C;
    *lo = (n->a.lrn.size - 1) / 2;
    *hi = n->a.lrn.size / 2; /* ceil((size-1)/2) */
}

/* Threads take (sample, position) columns; each walks its channels. */
static void lrn_forward(const cnn_exec *e, cnn_node *n)
{
    const float  *x = cnn_in_node(e, n, 0)->y;
    const float   k = n->a.lrn.k, beta = n->a.lrn.beta;
    const double  an = (double)n->a.lrn.alpha / n->a.lrn.size;
    int64_t       C, P;
    int           lo, hi;
    geometry(n, &C, &P, &lo, &hi);

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t col = 0; col < P * e->batch; col++) {
        const int64_t base = (col / P) * C * P + col % P; /* element (sample, 0, position) */
        for (int64_t c = 0; c < C; c++) {
            double sq = 0.0;
            for (int64_t j = c - lo < 0 ? 0 : c - lo; j <= c + hi && j < C; j++)
                sq += (double)x[base + j * P] * x[base + j * P];
            float s = (float)(k + an * sq);
            n->aux[base + c * P] = s;
            n->y[base + c * P]   = x[base + c * P] * powf(s, -beta);
        }
    }
}

/* dx[j] = dy[j] s[j]^-beta
 *         - 2 alpha beta / size * x[j] * sum_{c: j in window(c)} dy[c] x[c] s[c]^(-beta-1)
 * where j in window(c) means c in [j - hi, j + lo]. */
static void lrn_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *in = cnn_in_node(e, n, 0);
    const float  *x = in->y, *s = n->aux, *dy = n->dy;
    const float   beta = n->a.lrn.beta;
    const double  f = 2.0 * n->a.lrn.alpha * beta / n->a.lrn.size;
    int64_t       C, P;
    int           lo, hi;
    geometry(n, &C, &P, &lo, &hi);

    if (!in->req)
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int64_t col = 0; col < P * e->batch; col++) {
        const int64_t base = (col / P) * C * P + col % P;
        for (int64_t j = 0; j < C; j++) {
            double acc = 0.0;
            for (int64_t c = j - hi < 0 ? 0 : j - hi; c <= j + lo && c < C; c++) {
                const int64_t i = base + c * P;
                acc += (double)dy[i] * x[i] * pow(s[i], -beta - 1.0);
            }
            const int64_t i = base + j * P;
            in->dy[i] += (float)(dy[i] * pow(s[i], -beta) - f * x[i] * acc);
        }
    }
}

const cnn_op_def cnn_op_lrn = {
    .name = "lrn", .infer = lrn_infer, .aux_floats = lrn_aux, .forward = lrn_forward,
    .backward = lrn_backward,
};

int cnn_lrn(cnn_graph *g, int x, int size, float alpha, float beta, float k, const char *name)
{
    cnn_node n = {.op = CNN_OP_LRN};

    if (size < 1 || size > (1 << 16) || !isfinite(alpha) || !isfinite(beta) || !(k > 0.0f) ||
        !isfinite(k) || alpha < 0.0f)
        return cnn_fail(CNN_EINVAL, "lrn '%s': size %d, alpha %g, beta %g, k %g: expected size 1 "
                        "to 65536, alpha >= 0, finite beta and k > 0", name ? name : "", size,
                        (double)alpha, (double)beta, (double)k);
    n.a.lrn.size  = size;
    n.a.lrn.alpha = alpha;
    n.a.lrn.beta  = beta;
    n.a.lrn.k     = k;
    return cnn_graph_add(g, &n, &x, 1, name);
}
