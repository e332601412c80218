/* batchnorm.c - batch normalization over channels, PyTorch's definition:
 * training normalizes with the batch mean and biased variance and moves the
 * running statistics towards the batch mean and *unbiased* variance; eval
 * (and a frozen node) normalizes with the running statistics. */
#include "../graph/graph_impl.h"
#include "../kernels/kernels.h"

#include <math.h>

static int bn_infer(cnn_graph *g, cnn_node *n)
{
    const cnn_node *x = &g->nodes[n->in[0]];
    char            xs[64];

    if (x->shape.ndim != 3 && x->shape.ndim != 1)
        return cnn_fail(CNN_ESHAPE, "batchnorm2d '%s': input '%s' has shape %s, expected C x H x W or F",
                        n->name, x->name, cnn_shape_str(&x->shape, xs, sizeof xs));
    n->shape   = x->shape;
    n->n_param = 2;
    n->n_buf   = 2;
    n->param_shape[0] = n->param_shape[1] = (cnn_shape){1, {x->shape.dim[0]}};
    n->buf_shape[0]   = n->buf_shape[1]   = (cnn_shape){1, {x->shape.dim[0]}};
    return CNN_OK;
}

/* Saved: the mean and 1/sqrt(var + eps) used by the last forward; with
 * synchronized statistics (cnn_graph_set_stat_reduce) then 2C + 1 doubles
 * that go through the reduction: the global count, then two C-vectors. */
static int64_t sync_floats(const cnn_node *n) { return 2 * (2 * n->shape.dim[0] + 1); }

/* Then [batch][C][2] plane statistics from the conv before (stats_bn),
 * used only without synchronized statistics: at aux + 2C. */
static int64_t bn_aux(const cnn_graph *g, const cnn_node *n, int batch)
{
    return 2 * n->shape.dim[0] + (g->reduce ? sync_floats(n) : 0) +
           (n->shape.ndim == 3 ? 2 * (int64_t)batch * n->shape.dim[0] : 0);
}

static int64_t spatial(const cnn_node *n)
{
    return n->shape.ndim == 3 ? n->shape.dim[1] * n->shape.dim[2] : 1;
}

static bool uses_batch_stats(const cnn_exec *e, const cnn_node *n)
{
    return e->mode == CNN_TRAIN && n->trainable;
}

float *cnn_bn_plane_stats(const cnn_exec *e, cnn_node *bn)
{
    const int64_t C = bn->shape.dim[0];

    if (!uses_batch_stats(e, bn) || e->g->reduce || bn->shape.ndim != 3 ||
        bn->aux_floats < 2 * C + 2 * (int64_t)e->batch * C)
        return NULL;
    bn->stats_ready = true;
    return bn->aux + 2 * C;
}

static int bn_check(const cnn_exec *e, const cnn_node *n)
{
    if (uses_batch_stats(e, n) && e->batch * spatial(n) < 2)
        return cnn_fail(CNN_ESHAPE,
                        "batchnorm2d '%s': training needs more than 1 value per channel (batch %d "
                        "x %lld positions)",
                        n->name, e->batch, (long long)spatial(n));
    if (uses_batch_stats(e, n) && e->g->reduce && n->aux_floats < bn_aux(e->g, n, e->batch))
        return cnn_fail(CNN_ESTATE, "batchnorm2d '%s': synchronized statistics were asked for "
                        "after the graph was planned; plan it again", n->name);
    return CNN_OK;
}

/* The reduction buffer of a synchronized node (2C floats in: doubles are
 * 8-byte aligned there, as aux starts 64-byte aligned). */
static double *sync_buf(const cnn_node *n)
{
    return (double *)(void *)(n->aux + 2 * n->shape.dim[0]);
}

/* Sums v over the replicas; a failure is kept for forward/backward to return. */
static bool reduce(const cnn_exec *e, double *v, int count)
{
    cnn_graph *g = e->g;
    int        rc;
    if (g->hook_rc == CNN_OK && (rc = g->reduce(v, count, g->reduce_user)) < 0)
        g->hook_rc = rc;
    return g->hook_rc == CNN_OK;
}

/* Asks for the plane x [n] to be brought into cache: a channel's planes
 * lie C planes apart, too short (3 KiB at 28x28) for the hardware's
 * prefetchers to get going on each. */
static void prefetch(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16)
        __builtin_prefetch(x + i);
}

/* The same for a plane about to be written. */
static void prefetch_w(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16)
        __builtin_prefetch(x + i, 1);
}

/* y = x * scale + shift of channel c from its mean m and 1/sqrt(var + eps). */
static void affine_of(const cnn_exec *e, const cnn_node *n, int c, float m, float inv,
                      float *scale, float *shift)
{
    *scale = cnn_param(e, n, 0)[c] * inv;
    *shift = cnn_param(e, n, 1)[c] - m * *scale;
}

/* Channel c's mean m, 1/sqrt(var + eps) and y = x * scale + shift. */
static void coef(const cnn_exec *e, const cnn_node *n, int c, double mean, double var, float *m,
                 float *inv, float *scale, float *shift)
{
    *m   = (float)mean;
    *inv = (float)(1.0 / sqrt(var + (double)n->a.bn.eps));
    affine_of(e, n, c, *m, *inv, scale, shift);
}

void cnn_bn_eval_coef(const cnn_exec *e, const cnn_node *bn, int c, float *scale, float *shift)
{
    float m, inv;
    coef(e, bn, c, cnn_buffer(e, bn, 0)[c], cnn_buffer(e, bn, 1)[c], &m, &inv, scale, shift);
}

/* Channel c from its statistics: with batch statistics over `count` values
 * (count > 0), moves the running statistics towards the batch mean and
 * unbiased variance; then saves the mean and 1/sqrt(var + eps) for backward
 * and, with `write`, writes y = x * scale + shift. */
static void normalize(const cnn_exec *e, cnn_node *n, int c, double mean, double var,
                      double count, bool write)
{
    const cnn_node *x  = cnn_in_node(e, n, 0);
    const int       C  = (int)n->shape.dim[0];
    const int64_t   hw = spatial(n);
    const float     mom = n->a.bn.momentum;
    float          *rmean = cnn_buffer(e, n, 0), *rvar = cnn_buffer(e, n, 1);

    if (count > 0) {
        rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * mean);
        rvar[c]  = (float)((1.0 - mom) * rvar[c] + mom * var * count / (count - 1.0));
    }
    float m, inv, scale, shift;
    coef(e, n, c, mean, var, &m, &inv, &scale, &shift);
    n->aux[c]     = m;
    n->aux[C + c] = inv;
    for (int b = 0; write && b < e->batch; b++) { /* with a training plan's ReLU (fuse_relu) */
        if (b + 1 < e->batch)
            prefetch_w(n->y + ((int64_t)(b + 1) * C + c) * hw, hw);
        cnn_affine_to(x->y + ((int64_t)b * C + c) * hw, n->y + ((int64_t)b * C + c) * hw, hw, scale,
                      shift, n->fuse_relu);
    }
}

/* The epilogue of a producer that computes this node's eval output. */
void cnn_fused_epilogue(const cnn_exec *e, const cnn_node *n, int c, float *y, int64_t len)
{
    float s = 1.0f, t = 0.0f;

    if (n->fuse_bn >= 0)
        cnn_bn_eval_coef(e, &e->g->nodes[n->fuse_bn], c, &s, &t);
    cnn_affine_relu(y, len, s, t, n->fuse_bn >= 0, cnn_fused_residual(e, n, y), n->fuse_relu);
}

/* Training forward with synchronized statistics: the same two passes as
 * below, each summed over the replicas before it is used. */
static void bn_forward_sync(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x     = cnn_in_node(e, n, 0);
    const int       C     = (int)n->shape.dim[0];
    const int64_t   hw    = spatial(n);
    double         *d = sync_buf(n), *sum = d + 1, *ssd = d + 1 + C; /* count, [C], [C] */

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int b = 0; b < e->batch; b++)
            s += cnn_sum(x->y + ((int64_t)b * C + c) * hw, hw);
        sum[c] = s;
    }
    d[0] = (double)hw * e->batch;
    if (!reduce(e, d, C + 1))
        return;
    const double count = d[0];
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int c = 0; c < C; c++) {
        double ss = 0.0;
        for (int b = 0; b < e->batch; b++)
            ss += cnn_sum_sqdev(x->y + ((int64_t)b * C + c) * hw, hw, (float)(sum[c] / count));
        ssd[c] = ss;
    }
    if (!reduce(e, ssd, C))
        return;
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int c = 0; c < C; c++)
        normalize(e, n, c, sum[c] / count, ssd[c] / count, count, true);
}

/* Planes of at least this many pixels go through the passes in memory's
 * order (bn_forward's y, bn_backward_stream): shorter ones would pay a
 * call a plane for a few floats. */
enum { BN_STREAM_HW = 64 };

static void bn_forward(const cnn_exec *e, cnn_node *n)
{
    const cnn_node *x     = cnn_in_node(e, n, 0);
    const int       C     = (int)n->shape.dim[0];
    const int64_t   hw    = spatial(n), count = hw * e->batch;
    const float    *rmean = cnn_buffer(e, n, 0), *rvar = cnn_buffer(e, n, 1);
    const bool      batch_stats = uses_batch_stats(e, n);

    if (batch_stats && e->g->reduce) {
        bn_forward_sync(e, n);
        return;
    }
    /* The planes' statistics, from the conv before when it made them. */
    const float *stats = batch_stats && n->stats_ready ? n->aux + 2 * C : NULL;
    n->stats_ready     = false;
    /* Where no pass over the planes makes the statistics, y is written
     * after, in the planes' order in memory (channel by channel, each
     * channel's planes lie C planes apart: 3 KiB runs at 28x28, half the
     * bandwidth of one stream); else channel by channel, each plane just
     * read. */
    const bool stream = (!batch_stats || stats) && hw >= BN_STREAM_HW;
    /* A channel is one thread's, whichever: taken as they come. */
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(dynamic, 1))
    for (int c = 0; c < C; c++) {
        double mean, var;
        if (batch_stats) {
            /* Each plane's sum and squared deviations from its own mean
             * (cnn_plane_stats: two passes over a plane in cache, in
             * float lanes), merged plane after plane in double (Chan,
             * Golub and LeVeque): one read of the planes from memory, or
             * none when the conv before made them. */
            double na = 0.0, m2 = 0.0;
            mean = 0.0;
            for (int b = 0; b < e->batch; b++) {
                float st[2];
                if (stats) {
                    st[0] = stats[2 * ((int64_t)b * C + c)];
                    st[1] = stats[2 * ((int64_t)b * C + c) + 1];
                } else {
                    if (b + 1 < e->batch)
                        prefetch(x->y + ((int64_t)(b + 1) * C + c) * hw, hw);
                    cnn_plane_stats(x->y + ((int64_t)b * C + c) * hw, hw, st);
                }
                const double nb = (double)hw, d = st[0] / nb - mean;
                mean += d * nb / (na + nb);
                m2 += st[1] + d * d * na * nb / (na + nb);
                na += nb;
            }
            var = m2 / (double)count;
        } else {
            mean = rmean[c];
            var  = rvar[c];
        }
        normalize(e, n, c, mean, var, batch_stats ? (double)count : 0.0, !stream);
    }
    if (!stream)
        return;
    const int64_t planes = (int64_t)e->batch * C;
    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        int64_t lo, hi;
        cnn_slice(planes, CNN_TID(), CNN_TEAM(), &lo, &hi);
        for (int64_t p = lo; p < hi; p++) {
            const int c = (int)(p % C);
            float     scale, shift;
            affine_of(e, n, c, n->aux[c], n->aux[C + c], &scale, &shift);
            cnn_affine_to(x->y + p * hw, n->y + p * hw, hw, scale, shift, n->fuse_relu);
        }
    }
}

/* Training backward with synchronized statistics: the sums over this
 * replica's samples go into the parameter gradients (averaged with the
 * other replicas' later, as every gradient is), the sums over all replicas
 * into the input gradient, with the global count. */
static void bn_backward_sync(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x     = cnn_in_node(e, n, 0);
    const int     C     = (int)n->shape.dim[0];
    const int64_t hw    = spatial(n);
    const float  *gamma = cnn_param(e, n, 0);
    const float  *smean = n->aux, *sinv = n->aux + C;
    const float  *r     = n->relu_bwd ? n->y : NULL; /* a fused ReLU's output */
    double       *d = sync_buf(n), *sdy = d + 1, *sdyx = d + 1 + C; /* count, [C], [C] */

    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int c = 0; c < C; c++) {
        double s = 0.0, sx = 0.0;
        for (int b = 0; b < e->batch; b++) {
            const int64_t o = ((int64_t)b * C + c) * hw;
            float         ps, px;
            cnn_bn_sums(n->dy + o, r ? r + o : NULL, x->y + o, hw, smean[c], &ps, &px);
            s += ps;
            sx += px;
        }
        sdy[c]  = s;
        sdyx[c] = sx * sinv[c];
        if (n->trainable) {
            cnn_pgrad(e, n, 0)[c] += (float)sdyx[c];
            cnn_pgrad(e, n, 1)[c] += (float)sdy[c];
        }
    }
    if (!x->req || !reduce(e, sdy, 2 * C))
        return;
    const double count = d[0]; /* from the forward */
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(static))
    for (int c = 0; c < C; c++) {
        const float m = smean[c], inv = sinv[c], k = gamma[c] * inv;
        const float a1 = (float)(sdy[c] / count), a2 = (float)(sdyx[c] / count);
        for (int b = 0; b < e->batch; b++) {
            const int64_t o = ((int64_t)b * C + c) * hw;
            if (b + 1 < e->batch)
                prefetch_w(x->dy + o + C * hw, hw);
            cnn_bn_dx(x->y + o, n->dy + o, r ? r + o : NULL, x->dy + o, hw, k, a1, m, inv * a2,
                      !n->over_dx);
        }
    }
}

/* Channel c's sums over the batch, sum dy and sum dy*(x - m): the
 * parameter gradients, and a1 = sum dy / count, a2 = sum dy*xhat / count
 * for cnn_bn_dx (0 with running statistics, which are constants). */
static void channel_grads(const cnn_exec *e, cnn_node *n, int c, double sdy, double sdyx,
                          double count, float *a1, float *a2)
{
    const bool batch_stats = uses_batch_stats(e, n);

    sdyx *= n->aux[n->shape.dim[0] + c]; /* times inv: sum dy * xhat */
    if (n->trainable) {
        cnn_pgrad(e, n, 0)[c] += (float)sdyx;
        cnn_pgrad(e, n, 1)[c] += (float)sdy;
    }
    *a1 = batch_stats ? (float)(sdy / count) : 0.0f;
    *a2 = batch_stats ? (float)(sdyx / count) : 0.0f;
}

/* bn_backward in the planes' order in memory (3 KiB runs C planes apart
 * at 28x28 read channel by channel got half the bandwidth of one stream):
 * each plane's sums into the room of the conv's plane statistics (read by
 * the forward, free now), then each channel's, added plane after plane in
 * the batch's order as bn_backward adds them (the same bits), which leave
 * its a1 and a2 in its first plane's pair; then dx plane by plane. */
static void bn_backward_stream(const cnn_exec *e, cnn_node *n)
{
    cnn_node      *x      = cnn_in_node(e, n, 0);
    const int      C      = (int)n->shape.dim[0];
    const int64_t  hw     = spatial(n), count = hw * e->batch, planes = (int64_t)e->batch * C;
    const float   *gamma  = cnn_param(e, n, 0);
    const float   *smean  = n->aux, *sinv = n->aux + C;
    const float   *r      = n->relu_bwd ? n->y : NULL; /* a fused ReLU's output */
    float         *ps     = n->aux + 2 * C; /* [batch][C][2] */

    CNN_OMP(omp parallel num_threads(e->nthreads))
    {
        int64_t lo, hi;
        cnn_slice(planes, CNN_TID(), CNN_TEAM(), &lo, &hi);
        for (int64_t p = lo; p < hi; p++)
            cnn_bn_sums(n->dy + p * hw, r ? r + p * hw : NULL, x->y + p * hw, hw,
                        smean[p % C], &ps[2 * p], &ps[2 * p + 1]);
        CNN_OMP(omp barrier)
        CNN_OMP(omp for schedule(static))
        for (int c = 0; c < C; c++) {
            double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat */
            for (int b = 0; b < e->batch; b++) {
                sdy += ps[2 * ((int64_t)b * C + c)];
                sdyx += ps[2 * ((int64_t)b * C + c) + 1];
            }
            channel_grads(e, n, c, sdy, sdyx, (double)count, &ps[2 * c], &ps[2 * c + 1]);
        }
        /* omp for's barrier: every channel's a1 and a2 are there */
        for (int64_t p = lo; x->req && p < hi; p++) {
            const int   c = (int)(p % C);
            const float inv = sinv[c];
            cnn_bn_dx(x->y + p * hw, n->dy + p * hw, r ? r + p * hw : NULL, x->dy + p * hw, hw,
                      gamma[c] * inv, ps[2 * c], smean[c], inv * ps[2 * c + 1], !n->over_dx);
        }
    }
}

static void bn_backward(const cnn_exec *e, cnn_node *n)
{
    cnn_node     *x     = cnn_in_node(e, n, 0);
    const int     C     = (int)n->shape.dim[0];
    const int64_t hw    = spatial(n), count = hw * e->batch;
    const float  *gamma = cnn_param(e, n, 0);
    const float  *smean = n->aux, *sinv = n->aux + C;
    const float  *r     = n->relu_bwd ? n->y : NULL; /* a fused ReLU's output */
    const bool    batch_stats = uses_batch_stats(e, n);

    if (batch_stats && e->g->reduce) {
        bn_backward_sync(e, n);
        return;
    }
    if (hw >= BN_STREAM_HW && !e->g->reduce && n->aux_floats >= 2 * C + 2 * (int64_t)e->batch * C) {
        bn_backward_stream(e, n);
        return;
    }
    CNN_OMP(omp parallel for num_threads(e->nthreads) schedule(dynamic, 1))
    for (int c = 0; c < C; c++) {
        const float m = smean[c], inv = sinv[c];
        double      sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat */
        for (int b = 0; b < e->batch; b++) {
            const int64_t o = ((int64_t)b * C + c) * hw;
            float         ps, px;
            if (b + 1 < e->batch) {
                prefetch(n->dy + o + C * hw, hw);
                prefetch(x->y + o + C * hw, hw);
                if (r)
                    prefetch(r + o + C * hw, hw);
            }
            cnn_bn_sums(n->dy + o, r ? r + o : NULL, x->y + o, hw, m, &ps, &px);
            sdy += ps;
            sdyx += px;
        }
        float a1, a2;
        channel_grads(e, n, c, sdy, sdyx, (double)count, &a1, &a2);
        if (!x->req)
            continue;
        /* Batch statistics: dx = g*inv/m * (m*dy - sum(dy) - xhat*sum(dy*xhat));
         * running statistics are constants: dx = g*inv*dy. */
        const float k = gamma[c] * inv;
        for (int b = 0; b < e->batch; b++) {
            const int64_t o = ((int64_t)b * C + c) * hw;
            if (b + 1 < e->batch)
                prefetch_w(x->dy + o + C * hw, hw);
            cnn_bn_dx(x->y + o, n->dy + o, r ? r + o : NULL, x->dy + o, hw, k, a1, m, inv * a2,
                      !n->over_dx);
        }
    }
}

const cnn_op_def cnn_op_batchnorm2d = {
    .name = "batchnorm2d", .param_names = {"weight", "bias"},
    .buf_names = {"running_mean", "running_var"},
    .infer = bn_infer, .aux_floats = bn_aux, .check = bn_check,
    .forward = bn_forward, .backward = bn_backward, .writes_dx = true,
};

int cnn_batchnorm2d(cnn_graph *g, int x, float eps, float momentum, const char *name)
{
    cnn_node n = {.op = CNN_OP_BATCHNORM2D};

    if (!(eps > 0.0f) || !isfinite(eps) || !(momentum >= 0.0f && momentum <= 1.0f))
        return cnn_fail(CNN_EINVAL, "batchnorm2d '%s': eps %g must be > 0 and momentum %g in [0, 1]",
                        name ? name : "", (double)eps, (double)momentum);
    n.a.bn.eps      = eps;
    n.a.bn.momentum = momentum;
    return cnn_graph_add(g, &n, &x, 1, name);
}
