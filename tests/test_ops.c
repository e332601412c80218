/* test_ops.c - every op and every attribute: forward against a plain
 * double-precision reference (direct loops), backward against central
 * finite differences of that reference.
 *
 * Tolerances: forward |got - ref| <= 1e-4 * (1 + |ref|) (float sums of at
 * most a few hundred terms of magnitude <= 1); gradients
 * |got - fd| <= 2e-3 * (1 + |fd|), with fd = (L(p + h) - L(p - h)) / 2h in
 * double, h = 1e-6, L = sum(r * y) for a fixed random r, so the finite
 * difference itself is exact to ~1e-9 and the bound covers float rounding.
 * Inputs of max pooling and ReLU are drawn away from ties and kinks. */
#include "t.h"
#include "graph/graph_impl.h" /* the conv blocking, to reach every path */
#include "kernels/kernels.h"    /* every GEMM variant this CPU runs       */

#include <stdlib.h>

/* ==== @@HARNESS ==== */

typedef struct opcase opcase;
typedef int  (*build_fn)(cnn_graph *g, const int *in, const opcase *c);
typedef void (*ref_fn)(const opcase *c, double *const *x, const double *p, const double *buf,
                       double *y);

enum { SMOOTH, DISTINCT, AWAY_FROM_0 };

struct opcase {
    int       n_in;
    cnn_shape in[4];    /* per-sample input shapes                      */
    int       batch;
    cnn_mode  mode;
    int       inputs;   /* SMOOTH, DISTINCT or AWAY_FROM_0               */
    build_fn  build;
    ref_fn    ref;
    /* attributes the builders and references read */
    cnn_conv2d_attr conv;
    cnn_pool2d_attr pool;
    float     f;        /* slope, eps, ...                              */
    int       k;        /* out features, ...                            */
    bool      flag;
    int       threads;  /* 0: the graph's default (1)                   */
    cnn_shape out;      /* filled by the harness                        */
};

static uint64_t rng_state = 0x853c49e6748fea9bull;
static double urand(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static int64_t numel(const cnn_shape *s) { return cnn_shape_numel(s); }

/* Fills n values; DISTINCT gives a shuffled ramp (gaps of 2/n, no ties). */
static void fill(double *v, int64_t n, int kind)
{
    for (int64_t i = 0; i < n; i++) {
        v[i] = 2.0 * urand() - 1.0;
        if (kind == AWAY_FROM_0)
            v[i] += v[i] < 0 ? -0.05 : 0.05;
    }
    if (kind == DISTINCT) {
        for (int64_t i = 0; i < n; i++)
            v[i] = -1.0 + 2.0 * (double)i / (double)n;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(urand() * (double)(i + 1));
            double  t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
    }
}

static double loss_of(const opcase *c, double *const *x, const double *p, const double *buf,
                      double *y, const double *r, int64_t ny)
{
    double s = 0.0;
    c->ref(c, x, p, buf, y);
    for (int64_t i = 0; i < ny; i++)
        s += r[i] * y[i];
    return s;
}

static bool close_to(double got, double want, double tol)
{
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* Builds the op on fresh inputs, then checks forward and every gradient. */
static void check_case(opcase *c)
{
    cnn_graph *g = cnn_graph_new();
    int        in[4], id;
    double    *x[4] = {0}, *p = NULL, *buf = NULL, *y = NULL, *r = NULL;
    int64_t    nx[4], np, nb, ny;
    float     *gp;

    T_TRUE(g != NULL);
    for (int k = 0; k < c->n_in; k++) {
        in[k] = c->in[k].ndim == 3 ? cnn_input(g, (int)c->in[k].dim[0], (int)c->in[k].dim[1],
                                               (int)c->in[k].dim[2], NULL)
                                   : cnn_input_flat(g, (int)c->in[k].dim[0], NULL);
        T_OK(in[k]);
        T_OK(cnn_graph_want_input_grad(g, in[k], true));
    }
    T_OK(id = c->build(g, in, c));
    T_OK(cnn_node_info(g, id, NULL, NULL, &c->out));
    if (c->threads)
        T_OK(cnn_graph_set_threads(g, c->threads));
    T_OK(cnn_graph_plan(g, c->batch));

    /* Parameters sit at the end of the flat array (only this node has any). */
    np = cnn_graph_param_count(g);
    nb = cnn_graph_buffer_count(g);
    ny = numel(&c->out) * c->batch;
    p   = calloc((size_t)np + 1, sizeof *p);
    buf = calloc((size_t)nb + 1, sizeof *buf);
    y   = calloc((size_t)ny, sizeof *y);
    r   = calloc((size_t)ny, sizeof *r);
    fill(p, np, SMOOTH);
    for (int64_t i = 0; i < np; i++)
        cnn_graph_params(g)[i] = (float)p[i], p[i] = cnn_graph_params(g)[i];
    for (int64_t i = 0; i < nb; i++) { /* running mean in [-1,1], var in [0.5, 1.5] */
        double v = i < nb / 2 ? 2.0 * urand() - 1.0 : 0.5 + urand();
        cnn_graph_buffers(g)[i] = (float)v;
        buf[i]                  = cnn_graph_buffers(g)[i];
    }
    for (int k = 0; k < c->n_in; k++) {
        nx[k] = numel(&c->in[k]) * c->batch;
        x[k]  = calloc((size_t)nx[k], sizeof **x);
        fill(x[k], nx[k], c->inputs);
        float *d = cnn_graph_data(g, in[k]);
        for (int64_t i = 0; i < nx[k]; i++)
            d[i] = (float)x[k][i], x[k][i] = d[i];
    }

    /* Forward. The reference sees the buffers as they were before it. */
    T_OK(cnn_graph_forward(g, c->mode));
    c->ref(c, x, p, buf, y);
    const float *got = cnn_graph_data(g, id);
    for (int64_t i = 0; i < ny; i++)
        if (!close_to(got[i], y[i], 1e-4))
            T_FAILED("forward y[%lld] = %.9g, reference %.9g", (long long)i, got[i], y[i]);

    /* Backward of L = sum(r * y). */
    fill(r, ny, SMOOTH);
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    for (int64_t i = 0; i < ny; i++)
        cnn_graph_grad(g, id)[i] = (float)r[i];
    T_OK(cnn_graph_backward(g));

    const double h = 1e-6;
    for (int k = 0; k < c->n_in; k++) {
        const float *dx = cnn_graph_grad(g, in[k]);
        for (int64_t i = 0; i < nx[k]; i++) {
            double keep = x[k][i], lp, lm;
            x[k][i] = keep + h;
            lp      = loss_of(c, x, p, buf, y, r, ny);
            x[k][i] = keep - h;
            lm      = loss_of(c, x, p, buf, y, r, ny);
            x[k][i] = keep;
            if (!close_to(dx[i], (lp - lm) / (2 * h), 2e-3))
                T_FAILED("d input%d[%lld] = %.9g, finite difference %.9g", k, (long long)i, dx[i],
                         (lp - lm) / (2 * h));
        }
    }
    gp = cnn_graph_param_grads(g);
    for (int64_t i = 0; i < np; i++) {
        double keep = p[i], lp, lm, want;
        p[i] = keep + h;
        lp   = loss_of(c, x, p, buf, y, r, ny);
        p[i] = keep - h;
        lm   = loss_of(c, x, p, buf, y, r, ny);
        p[i] = keep;
        want = cnn_node_trainable(g, id) ? (lp - lm) / (2 * h) : 0.0;
        if (!close_to(gp[i], want, 2e-3))
            T_FAILED("d param[%lld] = %.9g, finite difference %.9g", (long long)i, gp[i], want);
    }

    for (int k = 0; k < c->n_in; k++)
        free(x[k]);
    free(p);
    free(buf);
    free(y);
    free(r);
    cnn_graph_free(g);
}

#define C_(s) ((s).dim[0])
#define H_(s) ((s).dim[1])
#define W_(s) ((s).dim[2])

/* ==== @@CONV ==== */

static int build_conv(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_conv2d(g, in[0], &c->conv, "conv");
}

static void ref_conv(const opcase *c, double *const *x, const double *p, const double *buf,
                     double *y)
{
    const cnn_conv2d_attr *a = &c->conv;
    const int64_t C = C_(c->in[0]), H = H_(c->in[0]), W = W_(c->in[0]);
    const int64_t O = C_(c->out), OH = H_(c->out), OW = W_(c->out);
    const int64_t cg = C / a->groups, og = O / a->groups;
    const double *bias = a->bias ? p + O * cg * a->kernel[0] * a->kernel[1] : NULL;
    (void)buf;

    for (int b = 0; b < c->batch; b++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double  s  = bias ? bias[o] : 0.0;
                    int64_t g0 = o / og * cg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < a->kernel[0]; ky++)
                            for (int kx = 0; kx < a->kernel[1]; kx++) {
                                int64_t iy = oy * a->stride[0] - a->pad[0] + ky * a->dilation[0];
                                int64_t ix = ox * a->stride[1] - a->pad[1] + kx * a->dilation[1];
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                s += x[0][((b * C + g0 + ci) * H + iy) * W + ix] *
                                     p[((o * cg + ci) * a->kernel[0] + ky) * a->kernel[1] + kx];
                            }
                    y[((b * O + o) * OH + oy) * OW + ox] = s;
                }
}

static opcase conv_case(int c, int h, int w, int o, int kh, int kw)
{
    opcase k = {.n_in = 1, .in = {{3, {c, h, w}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_conv, .ref = ref_conv, .conv = cnn_conv2d_defaults(o, kh, kw)};
    return k;
}

static void conv_basic(void)
{
    opcase c = conv_case(2, 6, 7, 3, 3, 3);
    check_case(&c);
    T_EQ(H_(c.out), 4);
    T_EQ(W_(c.out), 5);
}

static void conv_stride_asymmetric_pads(void)
{
    opcase c = conv_case(2, 7, 6, 3, 3, 2);
    c.conv.stride[0] = 2;
    c.conv.pad[0] = 1, c.conv.pad[1] = 0, c.conv.pad[2] = 2, c.conv.pad[3] = 1;
    check_case(&c);
    T_EQ(H_(c.out), (7 + 1 + 2 - 3) / 2 + 1);
    T_EQ(W_(c.out), (6 + 0 + 1 - 2) / 1 + 1);
}

static void conv_dilation(void)
{
    opcase c = conv_case(2, 8, 9, 2, 3, 3);
    c.conv.dilation[0] = 2, c.conv.dilation[1] = 3;
    c.conv.pad[0] = c.conv.pad[2] = 1;
    check_case(&c);
    T_EQ(H_(c.out), (8 + 2 - 2 * 2 - 1) / 1 + 1);
    T_EQ(W_(c.out), (9 - 3 * 2 - 1) / 1 + 1);
}

static void conv_groups(void)
{
    opcase c = conv_case(4, 5, 5, 6, 3, 3);
    c.conv.groups = 2;
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 1;
    check_case(&c);
}

static void conv_depthwise(void)
{
    opcase c = conv_case(3, 6, 5, 3, 3, 3);
    c.conv.groups = 3;
    c.conv.stride[0] = c.conv.stride[1] = 2;
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 1;
    check_case(&c);
}

static void conv_depthwise_multiplier(void)
{
    opcase c = conv_case(3, 5, 5, 6, 3, 3);
    c.conv.groups = 3;
    check_case(&c);
}

static void conv_no_bias(void)
{
    opcase c = conv_case(2, 5, 5, 3, 3, 3);
    c.conv.bias = false;
    check_case(&c);
}

static void conv_pointwise(void)
{
    opcase c = conv_case(5, 4, 3, 4, 1, 1); /* the im2col-free path */
    check_case(&c);
    c = conv_case(4, 4, 4, 6, 1, 1);
    c.conv.groups = 2;
    check_case(&c);
}

static void conv_pointwise_strided(void)
{
    opcase c = conv_case(3, 7, 7, 4, 1, 1);
    c.conv.stride[0] = c.conv.stride[1] = 2;
    check_case(&c);
    T_EQ(H_(c.out), 4);
}

static void conv_stride_larger_than_kernel(void)
{
    opcase c = conv_case(2, 9, 8, 2, 2, 1);
    c.conv.stride[0] = 3, c.conv.stride[1] = 4;
    check_case(&c);
    T_EQ(H_(c.out), 3);
    T_EQ(W_(c.out), 2);
}

static void conv_pad_same(void)
{
    opcase c = conv_case(2, 7, 6, 3, 5, 4);
    T_OK(cnn_conv2d_pad_same(&c.conv, 7, 6));
    check_case(&c);
    T_EQ(H_(c.out), 7);
    T_EQ(W_(c.out), 6);
    c = conv_case(2, 7, 6, 3, 3, 3);
    c.conv.stride[0] = c.conv.stride[1] = 2;
    T_OK(cnn_conv2d_pad_same(&c.conv, 7, 6));
    check_case(&c);
    T_EQ(H_(c.out), 4); /* ceil(7 / 2) */
    T_EQ(W_(c.out), 3);
    cnn_conv2d_pad_valid(&c.conv);
    T_EQ(c.conv.pad[0] + c.conv.pad[1] + c.conv.pad[2] + c.conv.pad[3], 0);
}

static void conv_kernel_larger_than_input(void)
{
    opcase c = conv_case(1, 2, 3, 2, 4, 4);
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 2;
    c.batch = 3;
    check_case(&c);
}

static void conv_batch_one(void)
{
    opcase c = conv_case(3, 5, 5, 2, 3, 3);
    c.batch = 1;
    check_case(&c);
}

/* Small output planes are batched: several images per GEMM (their columns
 * side by side), in chunks that straddle each thread's slice of the batch.
 * With 2 threads and batch 3, one thread runs a chunk of 2, the other a
 * single image (the unbatched path). */
static void conv_batched_images(void)
{
    opcase c = conv_case(3, 4, 4, 5, 3, 3); /* 4x4 out: 32 images per GEMM at most */
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 1;
    c.batch = 7;
    check_case(&c);
    c.threads = 2;
    check_case(&c);
    c.batch = 3;
    check_case(&c);

    c = conv_case(4, 7, 7, 6, 3, 3); /* strided, groups, chunks of 2 + 1 */
    c.conv.stride[0] = c.conv.stride[1] = 2;
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 1;
    c.conv.groups = 2;
    c.batch = 3, c.threads = 2;
    check_case(&c);
}

/* Pointwise convs read the input in place for a single image and copy it
 * into columns when images are batched: both, with and without bias;
 * 200 output channels in pieces. */
static void conv_pointwise_batched(void)
{
    opcase c = conv_case(5, 3, 3, 4, 1, 1);
    c.batch = 5;
    check_case(&c);
    c.threads = 2, c.batch = 3; /* a chunk of 2 and a single image */
    check_case(&c);
    c.conv.bias = false;
    check_case(&c);
    /* more than two pieces of output channels, few chunks: each piece
     * an item */
    c = conv_case(3, 3, 3, 200, 1, 1);
    c.threads = 2, c.batch = 4;
    check_case(&c);
}

/* A plane of 23x23 = 529 outputs fills a GEMM alone (no batching); a
 * 12x12 one is batched, with Kc = 2*5*5 = 50. */
static void conv_large_planes(void)
{
    opcase c = conv_case(1, 23, 23, 3, 1, 1);
    c.batch = 2;
    check_case(&c);
    c = conv_case(2, 14, 14, 7, 5, 5);
    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 1;
    c.batch = 2;
    check_case(&c);
}

/* Every blocking of the conv op on small shapes: with the blocking shrunk,
 * planes are cut into row tiles of one or two rows (im2col and col2im of
 * partial planes, tiles shared between threads when the batch is smaller
 * than the thread count), and small planes batched with the output
 * channels split between threads. Thread counts 1 to 3, batches 1 to 3,
 * every GEMM variant. */
static void conv_tiles_and_splits(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    static const int shapes[][7] = {
        /* c, h, w, o, k, stride, pad */
        {2, 9, 7, 3, 3, 1, 1}, {3, 8, 8, 4, 3, 2, 1}, {2, 6, 5, 5, 1, 1, 0},
        {1, 7, 9, 2, 5, 1, 2}, {4, 6, 6, 32, 3, 1, 0}, {5, 6, 5, 3, 3, 1, 1},
        {3, 4, 14, 20, 3, 1, 1}, /* 14 wide: the AVX-512 direct forward and dx */ 
    };

    const cnn_isa isa0 = cnn_gemm_isa();
    /* Every GEMM variant the CPU runs (portable, AVX2, AVX-512), each
     * against the double reference: results do not depend on which one
     * the dispatch picks beyond the tolerance of check_case. */
    for (int isa = 0; isa < CNN_ISA_COUNT_; isa++)
    for (int tune = 0; tune < 2; tune++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            break;
        /* tune 0: tiles of about 2 rows; tune 1: every plane batched;
         * both with columns made 8 col rows at a time. */
        cnn_conv_tuning.chunk_n  = tune == 0 ? 1 : 4096;
        cnn_conv_tuning.col_tile = 40;
        cnn_conv_tuning.k_slice  = 8;
        /* dW: by cnn_direct_dw wherever the stride is 1 (tune 0), never (1) */
        cnn_conv_tuning.direct_dw_fill = tune == 0 ? 0.0f : 2.0f;
        cnn_conv_tuning.direct_dw_min  = 0;
        /* the direct forward and dx wherever they can go (tune 0) */
        cnn_conv_tuning.direct_fill = tune == 0 ? 0.0f : keep.direct_fill;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int threads = 1; threads <= 3; threads++)
                for (int batch = 1; batch <= 3; batch++) {
                    const int *v = shapes[s];
                    opcase     c = conv_case(v[0], v[1], v[2], v[3], v[4], v[4]);
                    c.conv.stride[0] = c.conv.stride[1] = v[5];
                    c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = v[6];
                    c.conv.bias = s != 2;
                    c.threads = threads, c.batch = batch;
                    check_case(&c);
                }
    }
    cnn_conv_tuning = keep;
    T_TRUE(cnn_gemm_set_isa(isa0));
}

/* The weight gradient by cnn_direct_dw (each image's dY laid out at the
 * pitch of its padded input, or transposed with the output channels in
 * the lanes) against the double reference and finite differences: pads
 * on each side, dilation, groups, output channels and taps off the
 * kernel's tiles, 1 to 3 threads and images, every variant that has one.
 * conv_direct_dw_ocl takes larger shapes. */
static void conv_direct_dw(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    static const int shapes[][10] = {
        /* c, h, w, oc, kh, kw, pads t l b r (as one code), dilation,
         * groups, stride (0: 1; other strides by ocl only) */
        {3, 9, 7, 5, 3, 3, 1111, 1, 1},  {2, 8, 9, 4, 3, 2, 1021, 2, 1},
        {4, 6, 6, 6, 3, 3, 1111, 1, 2},  {1, 12, 11, 7, 5, 5, 2222, 1, 1},
        {6, 7, 5, 3, 1, 3, 101, 1, 1},  {2, 5, 18, 9, 3, 3, 0, 1, 1},
        {3, 9, 8, 5, 3, 3, 1111, 1, 1, 2}, {2, 11, 10, 4, 3, 2, 1021, 1, 2, 3},
    };
    const cnn_isa isa0 = cnn_gemm_isa();

    cnn_conv_tuning.direct_dw_fill = 0.0f;
    cnn_conv_tuning.direct_dw_min  = 0;
    for (int isa = CNN_ISA_AVX2; isa < CNN_ISA_COUNT_; isa++)
    for (int ocl = 0; ocl < 2; ocl++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            continue;
        cnn_conv_tuning.direct_dw_ocl_gain = ocl ? -2.0f : 2.0f;
        T_TRUE(cnn_direct_dw_kernel(NULL) != NULL);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int threads = 1; threads <= 3; threads += 2)
                for (int batch = 1; batch <= 3; batch += 2) {
                    const int *v = shapes[s];
                    opcase     c = conv_case(v[0], v[1], v[2], v[3], v[4], v[5]);
                    for (int i = 0, code = v[6]; i < 4; i++, code /= 10)
                        c.conv.pad[3 - i] = code % 10;
                    c.conv.dilation[0] = c.conv.dilation[1] = v[7];
                    c.conv.groups = v[8];
                    c.conv.stride[0] = c.conv.stride[1] = v[9] ? v[9] : 1;
                    c.threads = threads, c.batch = batch;
                    check_case(&c);
                }
    }
    cnn_conv_tuning = keep;
    T_TRUE(cnn_gemm_set_isa(isa0));
}

/* ==== @@ACTIVATIONS ==== */

static int build_act(cnn_graph *g, const int *in, const opcase *c)
{
    switch (c->k) {
    case 0: return cnn_relu(g, in[0], NULL);
    case 1: return cnn_leaky_relu(g, in[0], c->f, NULL);
    case 2: return cnn_sigmoid(g, in[0], NULL);
    default: return cnn_tanh(g, in[0], NULL);
    }
}

static void ref_act(const opcase *c, double *const *x, const double *p, const double *buf,
                    double *y)
{
    (void)p;
    (void)buf;
    for (int64_t i = 0; i < numel(&c->in[0]) * c->batch; i++) {
        double v = x[0][i];
        switch (c->k) {
        case 0: y[i] = v > 0 ? v : 0; break;
        case 1: y[i] = v > 0 ? v : c->f * v; break;
        case 2: y[i] = 1.0 / (1.0 + exp(-v)); break;
        default: y[i] = tanh(v); break;
        }
    }
}

static void activations(void)
{
    for (int k = 0; k < 4; k++) {
        opcase c = {.n_in = 1, .in = {{3, {3, 4, 5}}}, .batch = 2, .mode = CNN_TRAIN,
                    .inputs = AWAY_FROM_0, .build = build_act, .ref = ref_act, .k = k, .f = 0.1f};
        check_case(&c);
    }
    /* Flat inputs too, and a large argument that must not overflow. */
    opcase c = {.n_in = 1, .in = {{1, {7}}}, .batch = 3, .mode = CNN_EVAL, .inputs = AWAY_FROM_0,
                .build = build_act, .ref = ref_act, .k = 2};
    check_case(&c);
}

static void sigmoid_saturates(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input_flat(g, 4, "x");
    int        s = cnn_sigmoid(g, x, "s"), t = cnn_tanh(g, x, "t");
    float      v[4] = {-1000.0f, -90.0f, 90.0f, 1000.0f};

    T_OK(s);
    T_OK(t);
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_FEQ(cnn_graph_data(g, s)[0], 0.0);
    T_FEQ(cnn_graph_data(g, s)[3], 1.0);
    T_FEQ(cnn_graph_data(g, t)[0], -1.0);
    T_FEQ(cnn_graph_data(g, t)[3], 1.0);
    cnn_graph_free(g);
}

/* ==== @@POOLING ==== */

static int build_pool(cnn_graph *g, const int *in, const opcase *c)
{
    return c->k == 0 ? cnn_maxpool2d(g, in[0], &c->pool, "pool")
                     : cnn_avgpool2d(g, in[0], &c->pool, "pool");
}

/* Direct from PyTorch's definition: the window starts at o*s - pad_begin;
 * it is clipped to [.., size + pad_end) for the padded count, then to the
 * input for the elements. */
static void ref_pool(const opcase *c, double *const *x, const double *p, const double *buf,
                     double *y)
{
    const cnn_pool2d_attr *a = &c->pool;
    const int64_t C = C_(c->in[0]), H = H_(c->in[0]), W = W_(c->in[0]);
    const int64_t OH = H_(c->out), OW = W_(c->out);
    (void)p;
    (void)buf;

    for (int64_t bc = 0; bc < c->batch * C; bc++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t y0 = oy * a->stride[0] - a->pad[0], x0 = ox * a->stride[1] - a->pad[1];
                int64_t y1 = y0 + a->kernel[0], x1 = x0 + a->kernel[1];
                if (y1 > H + a->pad[2])
                    y1 = H + a->pad[2];
                if (x1 > W + a->pad[3])
                    x1 = W + a->pad[3];
                int64_t padded = (y1 - y0) * (x1 - x0), count = 0;
                double  best = -INFINITY, sum = 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        double v = x[0][(bc * H + iy) * W + ix];
                        best = v > best ? v : best;
                        sum += v;
                        count++;
                    }
                y[(bc * OH + oy) * OW + ox] =
                    c->k == 0 ? best : sum / (double)(a->count_include_pad ? padded : count);
            }
}

static opcase pool_case(int kind, int c, int h, int w, int kh, int kw)
{
    opcase k = {.n_in = 1, .in = {{3, {c, h, w}}}, .batch = 2, .mode = CNN_TRAIN,
                .inputs = DISTINCT, .build = build_pool, .ref = ref_pool, .k = kind,
                .pool = cnn_pool2d_defaults(kh, kw)};
    return k;
}

static void pool_variants(int kind)
{
    opcase c = pool_case(kind, 2, 6, 6, 2, 2);
    check_case(&c);
    T_EQ(H_(c.out), 3);

    c = pool_case(kind, 2, 7, 7, 3, 3); /* overlapping windows, pads */
    c.pool.stride[0] = c.pool.stride[1] = 2;
    c.pool.pad[0] = c.pool.pad[1] = c.pool.pad[2] = c.pool.pad[3] = 1;
    check_case(&c);
    T_EQ(H_(c.out), 4);

    c = pool_case(kind, 1, 6, 6, 3, 3); /* ceil mode: 6x6 / 3x3 s2 -> 3x3, floor 2x2 */
    c.pool.stride[0] = c.pool.stride[1] = 2;
    c.pool.ceil_mode = true;
    check_case(&c);
    T_EQ(H_(c.out), 3);

    c = pool_case(kind, 1, 5, 5, 2, 2); /* ceil mode, last window would start in the pad */
    c.pool.pad[0] = c.pool.pad[1] = c.pool.pad[2] = c.pool.pad[3] = 1;
    c.pool.ceil_mode = true;
    check_case(&c);
    T_EQ(H_(c.out), 3); /* PyTorch: MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5 -> 3 */

    c = pool_case(kind, 2, 7, 6, 3, 2); /* asymmetric pads, non-square */
    c.pool.stride[0] = 2, c.pool.stride[1] = 1;
    c.pool.pad[0] = 2, c.pool.pad[1] = 0, c.pool.pad[2] = 0, c.pool.pad[3] = 1;
    check_case(&c);

    c = pool_case(kind, 2, 5, 5, 2, 2); /* stride 1 */
    c.pool.stride[0] = c.pool.stride[1] = 1;
    check_case(&c);
    T_EQ(H_(c.out), 4);
}

static void maxpool_all(void) { pool_variants(0); }

/* Ties and NaNs, which the other cases avoid: the first of equal maxima
 * wins (it gets the gradient) and a NaN always wins, so the last NaN of a
 * window is the output, as in PyTorch; in the special 2x2/2 and 3x3/2
 * (ResNet's stem) kernels, the general one and the border code alike. */
static void maxpool_ties_nan(void)
{
    static const int cfg[][3] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 2, 1}}; /* k, s, pad */
    enum { H = 11, W = 13 };

    for (size_t t = 0; t < sizeof cfg / sizeof *cfg; t++) {
        const int       k = cfg[t][0], st = cfg[t][1], pd = cfg[t][2];
        cnn_graph      *g = cnn_graph_new();
        cnn_pool2d_attr a = cnn_pool2d_defaults(k, k);
        float           x[H * W], want_dx[H * W] = {0};
        int             in, y;

        a.stride[0] = a.stride[1] = st;
        a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = pd;
        for (int i = 0; i < H * W; i++)
            x[i] = i % 17 == 5 ? NAN : (float)((i * 2654435761u >> 9) % 3) - 1.0f; /* ties */
        in = cnn_input(g, 1, H, W, "x");
        y  = cnn_maxpool2d(g, in, &a, "pool");
        T_OK(y);
        T_OK(cnn_graph_want_input_grad(g, in, true));
        T_OK(cnn_graph_plan(g, 1));
        T_OK(cnn_graph_set_input(g, in, x));
        T_OK(cnn_graph_forward(g, CNN_TRAIN));
        cnn_shape os;
        T_OK(cnn_node_info(g, y, NULL, NULL, &os));
        const int oh = (int)os.dim[1], ow = (int)os.dim[2];
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float best = 0.0f;
                int   at   = -1;
                for (int iy = oy * st - pd; iy < oy * st - pd + k; iy++)
                    for (int ix = ox * st - pd; ix < ox * st - pd + k; ix++) {
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        const float v = x[iy * W + ix];
                        if (at < 0 || v > best || isnan(v))
                            best = v, at = iy * W + ix;
                    }
                const float got = cnn_graph_data(g, y)[oy * ow + ox];
                if (!(got == best || (isnan(got) && isnan(best))))
                    T_FAILED("k%d s%d p%d: y[%d,%d] = %g, expected %g", k, st, pd, oy, ox, got,
                             best);
                want_dx[at] += 1.0f;
                cnn_graph_grad(g, y)[oy * ow + ox] = 1.0f;
            }
        T_OK(cnn_graph_backward(g));
        T_ARRAY_EQ(cnn_graph_grad(g, in), want_dx, H * W);
        cnn_graph_free(g);
    }
}
static void avgpool_include_pad(void) { pool_variants(1); }

static void avgpool_exclude_pad(void)
{
    opcase c = pool_case(1, 2, 7, 7, 3, 3);
    c.pool.stride[0] = c.pool.stride[1] = 2;
    c.pool.pad[0] = c.pool.pad[1] = c.pool.pad[2] = c.pool.pad[3] = 1;
    c.pool.count_include_pad = false;
    check_case(&c);
    c = pool_case(1, 1, 6, 6, 3, 3);
    c.pool.stride[0] = c.pool.stride[1] = 2;
    c.pool.pad[0] = c.pool.pad[1] = c.pool.pad[2] = c.pool.pad[3] = 1;
    c.pool.ceil_mode = true;
    c.pool.count_include_pad = false;
    check_case(&c);
}

/* Values that PyTorch 1.13 prints for AvgPool2d(3, 2, padding=1,
 * ceil_mode=True) on arange(36).view(1,1,6,6): the last row and column of
 * windows reach past the pad, and the divisor counts only up to it. */
static void avgpool_ceil_divisor_matches_pytorch(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_pool2d_attr a = cnn_pool2d_defaults(3, 3);
    float           v[36];
    int             x, p;

    a.stride[0] = a.stride[1] = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    a.ceil_mode = true;
    for (int i = 0; i < 36; i++)
        v[i] = (float)i;
    T_OK(x = cnn_input(g, 1, 6, 6, "x"));
    T_OK(p = cnn_avgpool2d(g, x, &a, "p"));
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    /* out 4x4 (ceil((6+2-3)/2)+1 = 4, and 3*2 = 6 < 6+1 keeps it). Window
     * (3,3) covers rows 5..7 clipped to 5..6 (pad end 1): divisor 2*2 = 4,
     * one element (35) inside: 35/4. Window (0,0): rows -1..1, 9 padded,
     * holds 0,1,6,7: 14/9. */
    T_NEAR(cnn_graph_data(g, p)[0], 14.0 / 9.0, 1e-6);
    T_NEAR(cnn_graph_data(g, p)[15], 35.0 / 4.0, 1e-6);
    T_NEAR(cnn_graph_data(g, p)[3], (5.0 + 11.0) / 6.0, 1e-6);
    cnn_graph_free(g);
}

static int build_gap(cnn_graph *g, const int *in, const opcase *c)
{
    (void)c;
    return cnn_global_avgpool(g, in[0], NULL);
}

static void ref_gap(const opcase *c, double *const *x, const double *p, const double *buf,
                    double *y)
{
    const int64_t hw = H_(c->in[0]) * W_(c->in[0]);
    (void)p;
    (void)buf;
    for (int64_t bc = 0; bc < c->batch * C_(c->in[0]); bc++) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++)
            s += x[0][bc * hw + i];
        y[bc] = s / (double)hw;
    }
}

static void global_avgpool(void)
{
    opcase c = {.n_in = 1, .in = {{3, {3, 5, 4}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_gap, .ref = ref_gap};
    check_case(&c);
    T_EQ(C_(c.out), 3);
    T_EQ(H_(c.out), 1);
}

static int build_adaptive(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_adaptive_avgpool2d(g, in[0], c->k, (int)c->f, NULL);
}

/* PyTorch: cell i averages [floor(i*in/out), ceil((i+1)*in/out)). */
static void ref_adaptive(const opcase *c, double *const *x, const double *p, const double *buf,
                         double *y)
{
    const int64_t H = H_(c->in[0]), W = W_(c->in[0]), OH = H_(c->out), OW = W_(c->out);
    (void)p;
    (void)buf;
    for (int64_t bc = 0; bc < c->batch * C_(c->in[0]); bc++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t y0 = (int64_t)floor((double)oy * H / OH);
                int64_t y1 = (int64_t)ceil((double)(oy + 1) * H / OH);
                int64_t x0 = (int64_t)floor((double)ox * W / OW);
                int64_t x1 = (int64_t)ceil((double)(ox + 1) * W / OW);
                double  s  = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += x[0][(bc * H + iy) * W + ix];
                y[(bc * OH + oy) * OW + ox] = s / (double)((y1 - y0) * (x1 - x0));
            }
}

static void adaptive_avgpool(void)
{
    static const int sizes[][4] = {{7, 5, 3, 2}, {4, 4, 7, 7}, {6, 6, 6, 6}, {5, 9, 1, 1}};
    for (int i = 0; i < 4; i++) {
        opcase c = {.n_in = 1, .in = {{3, {2, sizes[i][0], sizes[i][1]}}}, .batch = 2,
                    .mode = CNN_TRAIN, .build = build_adaptive, .ref = ref_adaptive,
                    .k = sizes[i][2], .f = (float)sizes[i][3]};
        check_case(&c);
        T_EQ(H_(c.out), sizes[i][2]);
        T_EQ(W_(c.out), sizes[i][3]);
    }
}

/* ==== @@BATCHNORM ==== */

static int build_bn(cnn_graph *g, const int *in, const opcase *c)
{
    int id = cnn_batchnorm2d(g, in[0], c->f, 0.1f, "bn");
    if (id >= 0 && c->flag)
        cnn_node_set_trainable(g, id, false);
    return id;
}

/* Batch statistics in training (unless frozen), running ones otherwise. */
static void ref_bn(const opcase *c, double *const *x, const double *p, const double *buf,
                   double *y)
{
    const int64_t C = C_(c->in[0]), hw = numel(&c->in[0]) / C, m = hw * c->batch;
    const bool    batch_stats = c->mode == CNN_TRAIN && !c->flag;

    for (int64_t ch = 0; ch < C; ch++) {
        double mean = 0, var = 0;
        if (batch_stats) {
            for (int b = 0; b < c->batch; b++)
                for (int64_t i = 0; i < hw; i++)
                    mean += x[0][(b * C + ch) * hw + i];
            mean /= (double)m;
            for (int b = 0; b < c->batch; b++)
                for (int64_t i = 0; i < hw; i++) {
                    double d = x[0][(b * C + ch) * hw + i] - mean;
                    var += d * d;
                }
            var /= (double)m;
        } else {
            mean = buf[ch];
            var  = buf[C + ch];
        }
        for (int b = 0; b < c->batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t j = (b * C + ch) * hw + i;
                y[j] = (x[0][j] - mean) / sqrt(var + c->f) * p[ch] + p[C + ch];
            }
    }
}

static void batchnorm_modes(void)
{
    /* planes of 12 pixels (channel by channel) and of 72 (written, and
     * the backward's sums and dx made, plane by plane in memory's order) */
    for (int big = 0; big < 2; big++) {
        opcase c = {.n_in = 1, .in = {{3, {3, big ? 8 : 4, big ? 9 : 3}}}, .batch = 3,
                    .mode = CNN_TRAIN, .build = build_bn, .ref = ref_bn, .f = 1e-5f};
        check_case(&c);
        c.mode = CNN_EVAL;
        check_case(&c);
        c.mode = CNN_TRAIN;
        c.flag = true; /* frozen: running statistics, no parameter gradients */
        check_case(&c);
    }
    opcase f = {.n_in = 1, .in = {{1, {5}}}, .batch = 4, .mode = CNN_TRAIN,
                .build = build_bn, .ref = ref_bn, .f = 1e-3f}; /* BatchNorm1d */
    check_case(&f);
}

/* Running statistics: PyTorch's update with the unbiased batch variance. */
static void batchnorm_running_stats(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input(g, 1, 1, 2, "x"), bn = cnn_batchnorm2d(g, x, 1e-5f, 0.1f, "bn");
    float      v[4] = {1, 2, 3, 6}, *rm, *rv; /* batch 2 x 2 values: mean 3, var 3.5 (biased) */

    T_OK(bn);
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_node_buffer(g, bn, 0, &rm, NULL, NULL));
    T_OK(cnn_node_buffer(g, bn, 1, &rv, NULL, NULL));
    T_NEAR(rm[0], 0.9 * 0 + 0.1 * 3.0, 1e-7);
    T_NEAR(rv[0], 0.9 * 1 + 0.1 * (14.0 / 3.0), 1e-6); /* unbiased: 14/3 */
    /* Normalized with the biased variance. */
    T_NEAR(cnn_graph_data(g, bn)[3], (6 - 3) / sqrt(3.5 + 1e-5), 1e-5);
    /* Eval leaves the statistics alone. */
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_NEAR(rm[0], 0.3, 1e-7);
    cnn_graph_free(g);
}

/* ==== @@LINEAR ==== */

static int build_linear(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_linear(g, in[0], c->k, c->flag, "fc");
}

static void ref_linear(const opcase *c, double *const *x, const double *p, const double *buf,
                       double *y)
{
    const int64_t F = numel(&c->in[0]), O = c->k;
    (void)buf;
    for (int b = 0; b < c->batch; b++)
        for (int64_t o = 0; o < O; o++) {
            double s = c->flag ? p[O * F + o] : 0.0;
            for (int64_t f = 0; f < F; f++)
                s += x[0][b * F + f] * p[o * F + f];
            y[b * O + o] = s;
        }
}

static void linear_variants(void)
{
    opcase c = {.n_in = 1, .in = {{1, {7}}}, .batch = 3, .mode = CNN_TRAIN,
                .build = build_linear, .ref = ref_linear, .k = 5, .flag = true};
    check_case(&c);
    c.flag = false;
    check_case(&c);
    opcase s = {.n_in = 1, .in = {{3, {2, 3, 2}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_linear, .ref = ref_linear, .k = 4, .flag = true};
    check_case(&s); /* a C x H x W input is read flattened */
    s.batch = 5;
    check_case(&s);
}

/* ==== @@TENSOR_OPS ==== */

static int build_flatten(cnn_graph *g, const int *in, const opcase *c)
{
    (void)c;
    return cnn_flatten(g, in[0], NULL);
}

static void ref_copy(const opcase *c, double *const *x, const double *p, const double *buf,
                     double *y)
{
    (void)p;
    (void)buf;
    for (int64_t i = 0; i < numel(&c->in[0]) * c->batch; i++)
        y[i] = x[0][i];
}

static void flatten(void)
{
    opcase c = {.n_in = 1, .in = {{3, {2, 3, 4}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_flatten, .ref = ref_copy};
    check_case(&c);
    T_EQ(c.out.ndim, 1);
    T_EQ(c.out.dim[0], 24);
}

static int build_add(cnn_graph *g, const int *in, const opcase *c)
{
    return c->flag ? cnn_add(g, in[0], in[0], NULL) : cnn_add(g, in[0], in[1], NULL);
}

static void ref_add(const opcase *c, double *const *x, const double *p, const double *buf,
                    double *y)
{
    (void)p;
    (void)buf;
    for (int64_t i = 0; i < numel(&c->in[0]) * c->batch; i++)
        y[i] = x[0][i] + (c->flag ? x[0][i] : x[1][i]);
}

static void add(void)
{
    opcase c = {.n_in = 2, .in = {{3, {2, 3, 3}}, {3, {2, 3, 3}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_add, .ref = ref_add};
    check_case(&c);
    opcase twice = {.n_in = 1, .in = {{3, {2, 3, 3}}}, .batch = 2, .mode = CNN_TRAIN,
                    .build = build_add, .ref = ref_add, .flag = true};
    check_case(&twice); /* x + x: the gradient accumulates twice */
}

static int build_concat(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_concat(g, in, c->n_in, NULL);
}

static void ref_concat(const opcase *c, double *const *x, const double *p, const double *buf,
                       double *y)
{
    int64_t ys = numel(&c->out), off = 0;
    (void)p;
    (void)buf;
    for (int b = 0; b < c->batch; b++) {
        off = 0;
        for (int k = 0; k < c->n_in; k++) {
            int64_t xs = numel(&c->in[k]);
            for (int64_t i = 0; i < xs; i++)
                y[b * ys + off + i] = x[k][b * xs + i];
            off += xs;
        }
    }
}

static void concat(void)
{
    opcase c = {.n_in = 3, .in = {{3, {2, 3, 2}}, {3, {1, 3, 2}}, {3, {3, 3, 2}}}, .batch = 2,
                .mode = CNN_TRAIN, .build = build_concat, .ref = ref_concat};
    check_case(&c);
    T_EQ(C_(c.out), 6);
}

static int build_softmax(cnn_graph *g, const int *in, const opcase *c)
{
    (void)c;
    return cnn_softmax(g, in[0], NULL);
}

static void ref_softmax(const opcase *c, double *const *x, const double *p, const double *buf,
                        double *y)
{
    const int64_t C = c->in[0].dim[0], S = numel(&c->in[0]) / C;
    (void)p;
    (void)buf;
    for (int b = 0; b < c->batch; b++)
        for (int64_t s = 0; s < S; s++) {
            double sum = 0;
            for (int64_t k = 0; k < C; k++)
                sum += exp(x[0][(b * C + k) * S + s]);
            for (int64_t k = 0; k < C; k++)
                y[(b * C + k) * S + s] = exp(x[0][(b * C + k) * S + s]) / sum;
        }
}

static void softmax(void)
{
    opcase c = {.n_in = 1, .in = {{1, {6}}}, .batch = 3, .mode = CNN_TRAIN,
                .build = build_softmax, .ref = ref_softmax};
    check_case(&c);
    opcase s = {.n_in = 1, .in = {{3, {4, 2, 3}}}, .batch = 2, .mode = CNN_TRAIN,
                .build = build_softmax, .ref = ref_softmax};
    check_case(&s); /* per position, over channels */
}

static void softmax_large_logits(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input_flat(g, 3, "x"), s = cnn_softmax(g, x, "s");
    float      v[3] = {1000.0f, 1000.0f, -1000.0f};

    T_OK(s);
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_NEAR(cnn_graph_data(g, s)[0], 0.5, 1e-7);
    T_NEAR(cnn_graph_data(g, s)[2], 0.0, 1e-30);
    cnn_graph_free(g);
}

/* ==== @@DROPOUT ==== */

static void dropout(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input_flat(g, 1000, "x"), d = cnn_dropout(g, x, 0.25f, "d");
    float      v[2000], *y, *dx;
    int        zeros = 0;

    T_OK(d);
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, 2));
    for (int i = 0; i < 2000; i++)
        v[i] = 1.0f + (float)i / 2000.0f;
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    y = cnn_graph_data(g, d);
    T_OK(cnn_graph_clear_grads(g));
    for (int i = 0; i < 2000; i++)
        cnn_graph_grad(g, d)[i] = 1.0f;
    T_OK(cnn_graph_backward(g));
    dx = cnn_graph_grad(g, x);
    for (int i = 0; i < 2000; i++) {
        if (y[i] == 0.0f) {
            zeros++;
            T_FEQ(dx[i], 0.0);
        } else {
            T_NEAR(y[i], v[i] / 0.75f, 1e-6); /* inverted: survivors scaled by 1/(1-p) */
            T_NEAR(dx[i], 1.0f / 0.75f, 1e-6);
        }
    }
    T_TRUE(zeros > 400 && zeros < 600); /* 500 expected; 5 sigma is ~97 */
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_ARRAY_EQ(cnn_graph_data(g, d), v, 2000); /* identity in eval */
    cnn_graph_free(g);
}

/* ==== @@THREADS ==== */

/* A small net run with 1 and 2 threads: forward is the same bits (each
 * output is computed by one thread in one order); parameter gradients
 * agree to rounding; the same thread count always gives the same bits. */
static void run_net(int threads, float *out, float *grads, int64_t *np)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    int             x, h, logits, labels[6] = {0, 1, 2, 0, 1, 2};
    float           v[6 * 2 * 8 * 8], loss;

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    x = cnn_input(g, 2, 8, 8, "x");
    h = cnn_conv2d(g, x, &a, "c1");
    h = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn");
    h = cnn_relu(g, h, NULL);
    h = cnn_maxpool2d(g, h, &p, NULL);
    logits = cnn_linear(g, h, 3, true, "fc");
    T_OK(logits);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 7));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, 6));
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++)
        v[i] = (float)sin(i * 0.37);
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, NULL));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    memcpy(out, cnn_graph_data(g, logits), 18 * sizeof *out);
    *np = cnn_graph_param_count(g);
    memcpy(grads, cnn_graph_param_grads(g), (size_t)*np * sizeof *grads);
    cnn_graph_free(g);
}

static void threads_agree(void)
{
    static float o1[18], o2[18], o2b[18], g1[4096], g2[4096], g2b[4096];
    int64_t      n1, n2;

    run_net(1, o1, g1, &n1);
    run_net(2, o2, g2, &n2);
    run_net(2, o2b, g2b, &n2);
    T_EQ(n1, n2);
    T_ARRAY_EQ(o2, o1, 18);
    T_ARRAY_EQ(g2b, g2, n2);
    for (int64_t i = 0; i < n1; i++)
        T_NEAR(g2[i], g1[i], 1e-5 * (1 + fabs(g1[i])));
}

/* Convs whose images are batched into chunks that depend on the thread
 * count (batch 5: one chunk of 5, or 3 + 2, or 2 + 2 + 1): the outputs and
 * the input gradient are the same bits for 1, 2 and 3 threads; parameter
 * gradients agree to rounding. */
static void run_chunked(int threads, float *out, float *dx, float *grads, int64_t *np)
{
    cnn_graph      *g  = cnn_graph_new();
    cnn_conv2d_attr pw = cnn_conv2d_defaults(4, 1, 1), c3 = cnn_conv2d_defaults(8, 3, 3);
    int             x, h, logits, labels[5] = {0, 1, 2, 0, 1};
    float           v[5 * 3 * 6 * 6], loss;

    c3.stride[0] = c3.stride[1] = 2;
    c3.pad[0] = c3.pad[1] = c3.pad[2] = c3.pad[3] = 1;
    x = cnn_input(g, 3, 6, 6, "x");
    h = cnn_conv2d(g, x, &pw, "pw");
    h = cnn_conv2d(g, h, &c3, "c3");
    h = cnn_relu(g, h, NULL);
    logits = cnn_linear(g, h, 3, true, "fc");
    T_OK(logits);
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 11));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, 5));
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++)
        v[i] = (float)cos(i * 0.29);
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, NULL));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    memcpy(out, cnn_graph_data(g, logits), 15 * sizeof *out);
    memcpy(dx, cnn_graph_grad(g, x), sizeof v);
    *np = cnn_graph_param_count(g);
    memcpy(grads, cnn_graph_param_grads(g), (size_t)*np * sizeof *grads);
    cnn_graph_free(g);
}

static void threads_agree_chunked(void)
{
    static float o1[15], on[15], d1[540], dn[540], g1[4096], gn[4096];
    int64_t      n1, nn;

    run_chunked(1, o1, d1, g1, &n1);
    for (int t = 2; t <= 3; t++) {
        run_chunked(t, on, dn, gn, &nn);
        T_EQ(nn, n1);
        T_ARRAY_EQ(on, o1, 15);
        T_ARRAY_EQ(dn, d1, 540);
        for (int64_t i = 0; i < n1; i++)
            T_NEAR(gn[i], g1[i], 1e-5 * (1 + fabs(g1[i])));
    }
}

/* Fewer images than threads: the backward by im2col + GEMM shares each
 * image's row tiles between the threads, the even tiles, then the odd
 * ones (dx rows that neighbouring tiles share). Against the double
 * reference and finite differences at 2 and 3 threads, batch 1 and 2,
 * tiles of two output rows (5x5 stride 2: tiles two apart add into dx
 * rows apart) and of one (3x3 stride 2 on one axis; with stride 1 and
 * dilation 2, tiles two apart overlap: by images). */
static void conv_tiles_few_images(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;

    for (int t = 2; t <= 3; t++)
        for (int batch = 1; batch <= 2; batch++) {
            opcase c = conv_case(2, 20, 19, 3, 5, 5);
            c.conv.stride[0] = c.conv.stride[1] = 2;
            c.conv.pad[0] = c.conv.pad[1] = c.conv.pad[2] = c.conv.pad[3] = 2;
            c.threads = t, c.batch = batch;
            cnn_conv_tuning.chunk_n  = 64;          /* 10x10 planes not batched */
            cnn_conv_tuning.col_tile = 50 * 10 * 2; /* Kc x OW x 2 rows */
            check_case(&c);
            cnn_conv_tuning = keep;
        }
    opcase c = conv_case(1, 9, 8, 2, 3, 3);
    c.conv.stride[0] = 2;
    c.conv.pad[0] = c.conv.pad[2] = 1;
    c.threads = 2, c.batch = 1;
    cnn_conv_tuning.chunk_n  = 16;
    cnn_conv_tuning.col_tile = 9 * 6; /* one output row a tile: (kh-1) < (1+1)*2 */
    check_case(&c);
    c.conv.stride[0] = 1;
    c.conv.dilation[0] = 2; /* (kh-1)*2 = 4 >= 2: tiles overlap two apart, by images */
    check_case(&c);
    cnn_conv_tuning = keep;
}

/* The same tiles at 1, 2 and 3 threads: dx is the same bits (each dx row
 * gets its tiles' sums in the same order, whichever thread makes them),
 * dW and db agree to rounding. over_dx on (x feeds only the conv) and off
 * (x also feeds a second conv). */
static void run_tiled(int threads, bool two, float *dx, float *grads, int64_t *np)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr c5 = cnn_conv2d_defaults(6, 5, 5);
    int             x, h, logits, labels[1] = {1};
    float           v[3 * 24 * 24], loss;

    cnn_conv_tuning.chunk_n  = 64;
    cnn_conv_tuning.col_tile = 75 * 12 * 2;
    c5.stride[0] = c5.stride[1] = 2;
    c5.pad[0] = c5.pad[1] = c5.pad[2] = c5.pad[3] = 2;
    x = cnn_input(g, 3, 24, 24, "x");
    h = cnn_conv2d(g, x, &c5, "c5");
    if (two)
        h = cnn_add(g, h, cnn_conv2d(g, x, &c5, "c5b"), NULL);
    h = cnn_relu(g, h, NULL);
    logits = cnn_linear(g, h, 3, true, "fc");
    T_OK(logits);
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 13));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, 1));
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++)
        v[i] = (float)cos(i * 0.31);
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, NULL));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    memcpy(dx, cnn_graph_grad(g, x), sizeof v);
    *np = cnn_graph_param_count(g);
    memcpy(grads, cnn_graph_param_grads(g), (size_t)*np * sizeof *grads);
    cnn_graph_free(g);
    cnn_conv_tuning = keep;
}

static void threads_agree_tiled(void)
{
    static float d1[1728], dn[1728], g1[8192], gn[8192];
    int64_t      n1, nn;

    for (int two = 0; two < 2; two++) {
        run_tiled(1, two, d1, g1, &n1);
        T_TRUE(n1 <= 8192);
        for (int t = 2; t <= 3; t++) {
            run_tiled(t, two, dn, gn, &nn);
            T_EQ(nn, n1);
            T_ARRAY_EQ(dn, d1, 1728);
            for (int64_t i = 0; i < n1; i++)
                T_NEAR(gn[i], g1[i], 1e-5 * (1 + fabs(g1[i])));
        }
    }
}

/* A deep kernel (Kc = 40 x 3x3 = 360 > CNN_GEMM_KC) made in slices of
 * CNN_GEMM_KC col rows, in row tiles or in chunks of images, gives the
 * very bits of the same blocks unsliced: y, dx, dW and db. */
static void run_sliced(int64_t chunk_n, int64_t col_tile, int k_slice, float *out, int64_t *nout)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(8, 3, 3);
    int             x, c;
    float           v[3 * 40 * 10 * 10];
    int64_t         ny, np, k = 0;

    cnn_conv_tuning.chunk_n  = chunk_n;
    cnn_conv_tuning.col_tile = col_tile;
    cnn_conv_tuning.k_slice  = k_slice;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    x = cnn_input(g, 40, 10, 10, "x");
    c = cnn_conv2d(g, x, &a, "c");
    T_OK(c);
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 5));
    T_OK(cnn_graph_set_threads(g, 1));
    T_OK(cnn_graph_plan(g, 3));
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++)
        v[i] = (float)sin(i * 0.13);
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    ny = 3 * 8 * 10 * 10;
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    for (int64_t i = 0; i < ny; i++)
        cnn_graph_grad(g, c)[i] = (float)cos(i * 0.07);
    T_OK(cnn_graph_backward(g));
    np = cnn_graph_param_count(g);
    memcpy(out + k, cnn_graph_data(g, c), (size_t)ny * sizeof *out), k += ny;
    memcpy(out + k, cnn_graph_grad(g, x), sizeof v), k += (int64_t)(sizeof v / sizeof *v);
    memcpy(out + k, cnn_graph_param_grads(g), (size_t)np * sizeof *out), k += np;
    *nout = k;
    cnn_graph_free(g);
    cnn_conv_tuning = keep;
}

static void conv_slices_same_bits(void)
{
    static float whole[20000], part[20000];
    int64_t      nw, np;

    T_EQ(cnn_conv_tuning.k_slice, CNN_GEMM_KC);
    /* Row tiles of one row (2560 floats hold 256 col rows of one row, and
     * not 360), then all 3 images in one chunk; unsliced, then sliced
     * 256 + 104. */
    for (int mode = 0; mode < 2; mode++) {
        const int64_t chunk = mode == 0 ? 1 : 4096;
        run_sliced(chunk, 2560, 1 << 20, whole, &nw);
        T_TRUE(nw <= 20000);
        run_sliced(chunk, 2560, CNN_GEMM_KC, part, &np);
        T_EQ(np, nw);
        T_ARRAY_EQ(part, whole, nw);
    }
}

/* cnn_direct's layout where it can: 0 pixels in the lanes, 1 output
 * channels in the lanes in panels of two vectors, 2 in panels of one
 * where those fill more lanes (else as 1: 2 panels of 16 channels hold
 * 32 as well as one of 32). */
static void ocl_tuning(int ocl)
{
    cnn_conv_tuning.direct_ocl_gain        = ocl ? -2.0f : 2.0f;
    cnn_conv_tuning.direct_ocl_narrow_gain = ocl == 2 ? -2.0f : 2.0f;
}

/* The direct forward (cnn_direct: the microkernel reads the input rows)
 * gives the very bits of im2col + GEMM, for every variant that has one:
 * paddings, dilations, strides, groups, Kc over CNN_GEMM_KC, output
 * channels off the microkernel's rows and over 256, rows by rows or wide,
 * output channels in the lanes (ocl) or pixels, 1 to 3 threads and
 * images. */
static void run_direct(const int *v, bool direct, int threads, int batch, float *out, int64_t *ny,
                       int ocl)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[3], v[4], v[4]);
    int             x, c;
    static float    in[3 * 40 * 30 * 30];

    if ((int64_t)batch * v[0] * v[1] * v[2] > (int64_t)(sizeof in / sizeof *in)) {
        T_FAILED("run_direct: %d x %dx%dx%d inputs do not fit its buffer", batch, v[0], v[1], v[2]);
        cnn_graph_free(g);
        return;
    }
    cnn_conv_tuning.direct = direct;
    cnn_conv_tuning.direct_fill = 0.0f; /* wherever it can, by rows or wide */
    cnn_conv_tuning.direct_pw_ocw = 0;  /* pointwise in place on every variant */
    cnn_conv_tuning.direct_band = threads == 3 ? 1 : (int64_t)1 << 17; /* 3: one-row tiles */
    ocl_tuning(ocl);
    a.pad[0] = a.pad[2] = v[5];
    a.pad[1] = a.pad[3] = v[6];
    a.dilation[0] = a.dilation[1] = v[7];
    a.stride[0] = v[8];
    a.stride[1] = v[10] ? v[10] : 1;
    a.groups = v[9];
    x = cnn_input(g, v[0], v[1], v[2], "x");
    c = cnn_conv2d(g, x, &a, "c");
    T_OK(c);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 3));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, batch));
    float *bias;
    T_OK(cnn_node_param(g, c, 1, &bias, NULL, NULL, NULL));
    for (int o = 0; o < v[3]; o++) /* not the zeros of init: the kernel adds it */
        bias[o] = (float)cos(o * 0.37);
    for (int i = 0; i < batch * v[0] * v[1] * v[2]; i++)
        in[i] = (float)sin(i * 0.61);
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    cnn_shape sh;
    T_OK(cnn_node_info(g, c, NULL, NULL, &sh));
    *ny = (int64_t)batch * sh.dim[0] * sh.dim[1] * sh.dim[2];
    memcpy(out, cnn_graph_data(g, c), (size_t)*ny * sizeof *out);
    cnn_graph_free(g);
    cnn_conv_tuning = keep;
}

/* The direct input gradient (cnn_direct of dY with W flipped) gives the
 * same bits with the input channels in the lanes (ocl, W packed once) as
 * with the pixels: channels on and off the panels, groups, dilation, 1 to
 * 3 threads and images, planes too large for one call. */
/* dx (and, dw not NULL, dW and db) of a conv by the tuning as it stands,
 * with the direct forward and dx wherever they go, in layout ocl
 * (ocl_tuning). */
static void run_direct_dx(const int *v, int threads, int batch, int ocl, float *dx, float *dw,
                          int stride)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[3], v[4], v[4]);
    static float    in[3 * 80 * 34 * 34]; /* the largest shape of conv_direct_dx_ocl */
    int             x, c;

    if ((int64_t)batch * v[0] * v[1] * v[2] > (int64_t)(sizeof in / sizeof *in)) {
        T_FAILED("run_direct_dx: %d x %dx%dx%d inputs do not fit its buffer", batch, v[0], v[1],
                 v[2]);
        cnn_graph_free(g);
        return;
    }
    cnn_conv_tuning.direct_fill = 0.0f;
    ocl_tuning(ocl);
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = v[5];
    a.dilation[0] = a.dilation[1] = v[6];
    a.groups = v[7];
    a.stride[0] = a.stride[1] = stride;
    x = cnn_input(g, v[0], v[1], v[2], "x");
    c = cnn_conv2d(g, x, &a, "c");
    T_OK(c);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 7));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, batch));
    const int64_t nx = (int64_t)batch * v[0] * v[1] * v[2];
    for (int64_t i = 0; i < nx; i++)
        in[i] = (float)sin(i * 0.43);
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    cnn_shape sh;
    T_OK(cnn_node_info(g, c, NULL, NULL, &sh));
    for (int64_t i = 0; i < (int64_t)batch * cnn_shape_numel(&sh); i++)
        cnn_graph_grad(g, c)[i] = (float)cos(i * 0.29);
    T_OK(cnn_graph_backward(g));
    memcpy(dx, cnn_graph_grad(g, x), (size_t)nx * sizeof *dx);
    if (dw)
        memcpy(dw, cnn_graph_param_grads(g), (size_t)cnn_graph_param_count(g) * sizeof *dw);
    cnn_graph_free(g);
    cnn_conv_tuning = keep;
}

/* check(shape, threads, batch) for each of n shapes (rows of `width`
 * ints), 1 and 3 threads, 1 and 3 images, on every variant from AVX2 up
 * that the CPU runs. */
static void each_variant_case(const int *shapes, size_t n, size_t width,
                              void (*check)(const int *v, int threads, int batch))
{
    const cnn_isa isa0 = cnn_gemm_isa();

    for (int isa = CNN_ISA_AVX2; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            continue;
        for (size_t s = 0; s < n; s++)
            for (int threads = 1; threads <= 3; threads += 2)
                for (int batch = 1; batch <= 3; batch += 2)
                    check(shapes + s * width, threads, batch);
    }
    T_TRUE(cnn_gemm_set_isa(isa0));
}

static void dx_ocl_case(const int *v, int threads, int batch)
{
    static float want[3 * 80 * 34 * 34], got[3 * 80 * 34 * 34];

    run_direct_dx(v, threads, batch, 0, want, NULL, 1);
    for (int ocl = 1; ocl <= 2; ocl++) {
        run_direct_dx(v, threads, batch, ocl, got, NULL, 1);
        T_ARRAY_EQ(got, want, batch * v[0] * v[1] * v[2]);
    }
}

static void conv_direct_dx_ocl(void)
{
    static const int shapes[][8] = {
        /* c, h, w, oc, k, pad, dilation, groups */
        {64, 7, 7, 64, 3, 1, 1, 1}, {20, 9, 6, 5, 3, 1, 1, 1}, {40, 5, 11, 16, 5, 2, 1, 2},
        {37, 8, 8, 3, 3, 2, 2, 1},  {3, 14, 14, 8, 3, 1, 1, 1},
        /* planes of more than CNN_DIRECT_OCL_PIXELS: tiles of rows */
        {4, 50, 47, 8, 3, 1, 1, 1}, {3, 46, 60, 5, 3, 2, 2, 1},
        /* more channels than T holds over the call's pixels: groups */
        {80, 34, 34, 8, 3, 1, 1, 1},
    };

    each_variant_case(shapes[0], sizeof shapes / sizeof *shapes, 8, dx_ocl_case);
}

/* The weight gradient by cnn_direct_dw with the output channels in the
 * lanes, on shapes too large for finite differences, against im2col +
 * GEMM and against the positions in the lanes: channels off the panels
 * (40 and 66: two panels of AVX-512, three of AVX2; groups), positions
 * past a slice of CNN_GEMM_KC and images in more than one call (40x40),
 * deep taps (64 channels x 3x3 on 7x7 planes), dilation, 1 and 3 threads,
 * 1 and 3 images. The sums run in another order: equal within a float's
 * rounding over the sum's length. */
static void dw_ocl_case(const int *v, int threads, int batch)
{
    static float dx[3 * 64 * 14 * 14], want[64 * 64 * 9 + 64], got[64 * 64 * 9 + 64];
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    const int    n = v[3] * v[0] / v[7] * v[4] * v[4] + v[3];

    cnn_conv_tuning.direct_dw_fill = 2.0f; /* im2col + GEMM */
    run_direct_dx(v, threads, batch, 0, dx, want, v[8]);
    cnn_conv_tuning.direct_dw_fill = 0.0f;
    cnn_conv_tuning.direct_dw_min  = 0;
    for (int ocl = v[8] > 1; ocl < 2; ocl++) { /* strided: ocl only */
        cnn_conv_tuning.direct_dw_ocl_gain = ocl ? -2.0f : 2.0f;
        run_direct_dx(v, threads, batch, 0, dx, got, v[8]);
        double big = 0.0;
        for (int i = 0; i < n; i++)
            big = fmax(big, fabs(want[i]));
        for (int i = 0; i < n; i++)
            T_NEAR(got[i], want[i], 1e-5 * big);
    }
    cnn_conv_tuning = keep;
}

static void conv_direct_dw_ocl(void)
{
    static const int shapes[][9] = {
        /* c, h, w, oc, k, pad, dilation, groups, stride */
        {3, 7, 7, 40, 3, 1, 1, 1, 1}, {4, 6, 5, 66, 3, 1, 1, 2, 1}, {2, 40, 40, 3, 3, 1, 1, 1, 1},
        {64, 7, 7, 64, 3, 1, 1, 1, 1}, {5, 9, 8, 35, 3, 2, 2, 1, 1}, {16, 14, 14, 32, 3, 1, 1, 1, 1},
        {16, 14, 14, 32, 3, 1, 1, 1, 2}, {6, 13, 12, 40, 5, 2, 1, 2, 3},
        /* three groups of 40x40 planes: two images a chunk (1 thread:
         * each thread its images), or a round of items a group (3) */
        {6, 40, 40, 60, 3, 1, 1, 3, 1},
    };

    each_variant_case(shapes[0], sizeof shapes / sizeof *shapes, 9, dw_ocl_case);
}

/* A conv net (a batch norm, a ReLU: fused in the inference plan) of
 * `oc` channels at batch `batch`, planned for inference or training. */
static cnn_graph *keep_net(int oc, int batch, bool infer, int *x, int *out)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(oc, 3, 3);

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    *x   = cnn_input(g, 16, 7, 7, "x");
    *out = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, *x, &a, "c"), 1e-5f, 0.1f, "bn"), "r");
    T_OK(*out);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 3));
    T_OK(cnn_graph_set_threads(g, 2));
    T_OK(infer ? cnn_graph_plan_infer(g, batch) : cnn_graph_plan(g, batch));
    static float in[3 * 16 * 7 * 7]; /* batch 3 at most */
    for (int i = 0; i < batch * 16 * 7 * 7; i++)
        in[i] = (float)sin(i * 0.37);
    T_OK(cnn_graph_set_input(g, *x, in));
    return g;
}

/* An inference plan keeps its convs' weights packed between forwards:
 * its output stays that of a training plan's forward (which packs them
 * anew) after the parameters change through cnn_graph_params, through
 * cnn_node_param, by cnn_graph_init, and after the kernel variant and
 * the layout (ocl: 40 channels go in panels of one vector, then of two,
 * then pixels; then im2col + GEMM, the weights kept as its A, changed
 * again, then the variant back) change; at batch 1 (each part packed by
 * its item otherwise) and 3 (packed once, shared). The batch norm's
 * statistics differ from channel to channel (and step to step), so the
 * fused batch norm of each output row is checked against its own. */
static void conv_infer_keeps_weights(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    const cnn_isa isa0 = cnn_gemm_isa();

    /* batch, channels (130 at batch 1: the GEMM's two parts of them;
     * 200 at batch 3: a chunk of 2 images and one of 1, each in three
     * items of rows that share the chunk's columns packed once) */
    static const int cases[][2] = {{1, 64}, {1, 40}, {3, 64}, {3, 40}, {1, 130}, {3, 200}};

    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int  batch = cases[c][0], oc = cases[c][1];
        int        x, y, rx, ry;
        cnn_graph *g = keep_net(oc, batch, true, &x, &y), *r = keep_net(oc, batch, false, &rx, &ry);
        const int64_t n = (int64_t)batch * oc * 7 * 7, np = cnn_graph_param_count(g);
        const float  *pg = cnn_graph_params(g); /* read only: fetching marks them changed */
        for (int step = 0; step < 10; step++) {
            float *w, *data;
            if (step == 1) {
                w = cnn_graph_params(g);
                for (int64_t i = 0; i < np; i++)
                    w[i] = w[i] * 0.5f + 0.01f;
            }
            if (step == 2) {
                T_OK(cnn_node_param(g, 1, 0, &data, NULL, NULL, NULL));
                data[5] = 3.0f;
            }
            if (step == 3)
                T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 9));
            if (step == 4 && !cnn_gemm_set_isa(CNN_ISA_AVX2))
                continue;
            if (step == 5)
                ocl_tuning(1); /* panels of two vectors */
            if (step == 6)
                ocl_tuning(0); /* pixels in the lanes */
            if (step == 7)
                cnn_conv_tuning.direct = false; /* im2col + GEMM, kept as its A */
            if (step == 8) {
                T_OK(cnn_node_param(g, 1, 0, &data, NULL, NULL, NULL));
                data[7] = -2.0f;
            }
            if (step == 9 && !cnn_gemm_set_isa(isa0))
                continue;
            float *bg = cnn_graph_buffers(g), *br = cnn_graph_buffers(r);
            for (int64_t j = 0; j < cnn_graph_buffer_count(g); j++) /* each channel's own */
                bg[j] = br[j] = 0.5f + (float)((j * 37 + step) % 11) / 20.0f;
            memcpy(cnn_graph_params(r), pg, (size_t)np * sizeof(float));
            T_OK(cnn_graph_forward(g, CNN_EVAL));
            T_OK(cnn_graph_forward(r, CNN_EVAL));
            T_ARRAY_EQ(cnn_graph_data(g, y), cnn_graph_data(r, ry), n);
            T_OK(cnn_graph_forward(g, CNN_EVAL)); /* kept, the same */
            T_ARRAY_EQ(cnn_graph_data(g, y), cnn_graph_data(r, ry), n);
        }
        cnn_graph_free(g);
        cnn_graph_free(r);
        cnn_conv_tuning = keep;
        T_TRUE(cnn_gemm_set_isa(isa0));
    }
}

/* A residual block on c channels of hw x hw, planned for inference at
 * `batch`: x -> conv k x k -> batch norm -> ReLU -> conv k x k (-> batch
 * norm) = a; then, by `shape`: 0: relu(a + x); 1: relu(x + a); 2: no batch
 * norm after the second conv, relu(a + x); 3: a 1x1 conv of x (and its
 * batch norm) made after a: relu(a + d), the add fused into that conv;
 * 4: a read twice, relu(a + x) + a (nothing fused into a conv's
 * epilogue). With `sink`, a ReLU of a (3: of d) at the end: its second
 * reader, which keeps the add out of the conv (the reference). *add: the
 * add. */
static cnn_graph *residual_net(int shape, int c, int hw, int k, int batch, bool sink, int *out,
                               int *add)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(c, k, k), p = cnn_conv2d_defaults(c, 1, 1);

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = k / 2;
    const int x = cnn_input(g, c, hw, hw, "x");
    int       y = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, x, &a, "c1"), 1e-5f, 0.1f, "b1"), "r1");
    y = cnn_conv2d(g, y, &a, "c2");
    if (shape != 2)
        y = cnn_batchnorm2d(g, y, 1e-5f, 0.1f, "b2");
    const int sc = shape == 3 ? cnn_batchnorm2d(g, cnn_conv2d(g, x, &p, "d"), 1e-5f, 0.1f, "bd") : x;
    *add = shape == 1 ? cnn_add(g, sc, y, "add") : cnn_add(g, y, sc, "add");
    *out = cnn_relu(g, *add, "r2");
    if (shape == 4)
        *out = cnn_add(g, *out, y, "add2");
    if (sink)
        T_OK(cnn_relu(g, shape == 3 ? sc : y, "sink"));
    T_OK(*out);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 5));
    float *bufs = cnn_graph_buffers(g); /* each channel's statistics its own */
    for (int64_t j = 0; j < cnn_graph_buffer_count(g); j++)
        bufs[j] = 0.5f + (float)((j * 37) % 11) / 20.0f;
    T_OK(cnn_graph_set_threads(g, 2));
    T_OK(cnn_graph_plan_infer(g, batch));
    float *in = cnn_graph_data(g, x);
    for (int64_t i = 0; i < (int64_t)batch * c * hw * hw; i++)
        in[i] = (float)sin(i * 0.37);
    return g;
}

/* An inference plan computes a residual add (and the ReLU after it) in the
 * epilogue of the conv that makes its last operand, reading the other
 * operand (the shortcut) there: the bits of the add on its own (the same
 * net with a second reader of the conv's output, which keeps the add
 * out), in every conv path: by cnn_direct, by the GEMM one image (its
 * rows in place) or a chunk of images (spread from the stage), a
 * pointwise conv's chunk of columns, Winograd; either order of the
 * operands; and not where the conv's output is read again. The shortcut
 * stays until the conv has read it. */
static void conv_infer_fuses_add(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    /* channels, size, kernel: 7x7 planes, 3x3 (direct, or the GEMM);
     * 1x1 (a pointwise conv's chunks of columns at batch 4); 32 channels
     * on 8x8, 3x3 (Winograd: 64 tiles at batch 4) */
    static const int geo[][3] = {{16, 7, 3}, {24, 7, 1}, {32, 8, 3}};

    for (int t = 0; t < 3; t++) {
        cnn_conv_tuning        = keep;
        cnn_conv_tuning.direct = t == 0;
        cnn_conv_tuning.wino   = t < 2;
        for (size_t s = 0; s < sizeof geo / sizeof *geo; s++)
            for (int shape = 0; shape < 5; shape++)
                for (int batch = 1; batch <= 4; batch += 3) {
                    int        y, add, ry, radd;
                    cnn_graph *g = residual_net(shape, geo[s][0], geo[s][1], geo[s][2], batch,
                                                false, &y, &add);
                    cnn_graph *r = residual_net(shape, geo[s][0], geo[s][1], geo[s][2], batch, true,
                                                &ry, &radd);
                    const int  into = g->nodes[add].fused_into;
                    if (shape == 4 ? into >= 0 : into != (shape == 3 ? 6 : 4)) /* conv d, c2 */
                        T_FAILED("shape %d: add fused into node %d", shape, into);
                    T_TRUE(r->nodes[radd].fused_into < 0);
                    T_OK(cnn_graph_forward(g, CNN_EVAL));
                    T_OK(cnn_graph_forward(r, CNN_EVAL));
                    T_ARRAY_EQ(cnn_graph_data(g, y), cnn_graph_data(r, ry),
                               (int64_t)batch * cnn_node_numel(&g->nodes[y]));
                    cnn_graph_free(g);
                    cnn_graph_free(r);
                }
    }
    cnn_conv_tuning = keep;
}

/* A pointwise conv (v: c, h, w, oc, groups, batch, threads, then a
 * batch norm and ReLU (fused into it by an inference plan) when v[7])
 * with a bias that is not 0, planned for inference or training, its
 * input set. */
static cnn_graph *pw_net(const int *v, bool infer, int *out)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[3], 1, 1);
    const int64_t   n = (int64_t)v[5] * v[0] * v[1] * v[2];
    float          *in, *bias;
    int             x;

    a.groups = v[4];
    x        = cnn_input(g, v[0], v[1], v[2], "x");
    *out     = cnn_conv2d(g, x, &a, "c");
    if (v[7])
        *out = cnn_relu(g, cnn_batchnorm2d(g, *out, 1e-5f, 0.1f, "bn"), "r");
    T_OK(*out);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 7));
    float *bufs = cnn_graph_buffers(g); /* each channel's statistics its own */
    for (int64_t j = 0; j < cnn_graph_buffer_count(g); j++)
        bufs[j] = 0.5f + (float)((j * 37) % 11) / 20.0f;
    T_OK(cnn_node_param(g, 1, 1, &bias, NULL, NULL, NULL));
    for (int i = 0; i < v[3]; i++)
        bias[i] = (float)sin(i * 0.9);
    T_OK(cnn_graph_set_threads(g, v[6]));
    T_OK(infer ? cnn_graph_plan_infer(g, v[5]) : cnn_graph_plan(g, v[5]));
    T_TRUE((in = malloc((size_t)n * sizeof *in)) != NULL);
    for (int64_t i = 0; i < n; i++)
        in[i] = (float)cos(i * 0.61);
    T_OK(cnn_graph_set_input(g, x, in));
    free(in);
    return g;
}

/* An inference plan's pointwise conv by the GEMM (one group) packs
 * chunks of the batch's columns, which start and end inside images,
 * straight from x as the GEMM's B (cnn_gemm_pack_b_cols), once for all
 * the pieces of its rows, and spreads them to the images with the bias
 * and the fused batch norm and ReLU: the bits of the training plan's
 * forward, for every variant that has it; planes narrower than a vector
 * and wider than a panel, more rows than a piece (200), groups (chunks of
 * whole images, packed from their columns), 1 to 3 threads. */
static void conv_pointwise_infer_packed(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    const cnn_isa isa0 = cnn_gemm_isa();
    static const int cases[][8] = {
        /* c, h, w, oc, groups, batch, threads, batch norm */
        {16, 7, 7, 200, 1, 5, 2, 0}, {16, 7, 7, 200, 1, 5, 2, 1}, {8, 3, 5, 40, 2, 4, 1, 1},
        {6, 2, 2, 130, 1, 7, 3, 0},  {6, 2, 2, 130, 1, 7, 3, 1},  {3, 9, 9, 20, 1, 2, 2, 0},
        {12, 5, 6, 36, 3, 3, 2, 0},  {5, 4, 4, 70, 1, 9, 2, 1},
    };

    cnn_conv_tuning.direct = false; /* AVX-512 takes small planes directly */
    for (int isa = 1; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            break;
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            const int    *v = cases[c];
            int           y, ry;
            cnn_graph    *g = pw_net(v, true, &y), *r = pw_net(v, false, &ry);
            const int64_t n = (int64_t)v[5] * v[3] * v[1] * v[2];
            T_OK(cnn_graph_forward(g, CNN_EVAL));
            T_OK(cnn_graph_forward(r, CNN_EVAL));
            T_ARRAY_EQ(cnn_graph_data(g, y), cnn_graph_data(r, ry), n);
            cnn_graph_free(g);
            cnn_graph_free(r);
        }
    }
    cnn_conv_tuning = keep;
    T_TRUE(cnn_gemm_set_isa(isa0));
}

/* One conv (v: c, h, w, oc, k, pad, groups) at batch 3, `threads`, trained:
 * forward, a fixed dY, backward (`passes` times, each with its own dY and
 * the gradients zeroed before, and with `poison` the threads' scratch
 * all NaN: what is read there must have been written by that backward);
 * the last one's dx and parameter gradients. */
static void bwd_run(const int *v, int threads, int passes, bool poison, float *dx, float *grads,
                    int64_t *np)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[3], v[4], v[4]);
    const int64_t   nx = 3LL * v[0] * v[1] * v[2];
    float          *in, *dy;
    int             x, y;

    for (int i = 0; i < 4; i++)
        a.pad[i] = v[5];
    a.groups = v[6];
    x        = cnn_input(g, v[0], v[1], v[2], "x");
    y        = cnn_conv2d(g, x, &a, "c");
    T_OK(y);
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 13));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, 3));
    T_TRUE((in = malloc((size_t)nx * sizeof *in)) != NULL);
    for (int64_t i = 0; i < nx; i++)
        in[i] = (float)sin(i * 0.43);
    T_OK(cnn_graph_set_input(g, x, in));
    free(in);
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    for (int pass = 0; pass < passes; pass++) {
        T_OK(cnn_graph_clear_grads(g));
        cnn_shape s;
        cnn_node_info(g, y, NULL, NULL, &s);
        dy = cnn_graph_grad(g, y);
        for (int64_t i = 0; i < 3 * cnn_shape_numel(&s); i++)
            dy[i] = (float)cos(i * 0.37 + pass);
        T_OK(cnn_graph_zero_param_grads(g));
        for (int64_t i = 0; poison && i < g->plan_threads * g->scratch_per_thread; i++)
            g->scratch[i] = NAN;
        T_OK(cnn_graph_backward(g));
    }
    memcpy(dx, cnn_graph_grad(g, x), (size_t)nx * sizeof *dx);
    *np = cnn_graph_param_count(g);
    memcpy(grads, cnn_graph_param_grads(g), (size_t)*np * sizeof *grads);
    cnn_graph_free(g);
}

/* The backward of each shape (c, h, w, oc, k, pad, groups) by im2col +
 * GEMM, with the tuning switch *knob off and on: the same dx, dW and db
 * bits, for the variants from isa_lo on and threads t_lo to t_hi
 * (bwd_run's passes and poison). */
static void bwd_knob_agrees(const int (*shapes)[7], int n, int isa_lo, int t_lo, int t_hi,
                            int passes, bool poison, bool *knob)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    const cnn_isa isa0 = cnn_gemm_isa();
    enum { NX = 3 * 64 * 40 * 40, NP = 290 * 40 * 9 + 290 }; /* the largest of the shapes */
    static float dx[2][NX], gr[2][NP];

    cnn_conv_tuning.direct         = false; /* the GEMM's dx */
    cnn_conv_tuning.direct_dw_fill = 2.0f;  /* and dW */
    for (int isa = isa_lo; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            break;
        for (int c = 0; c < n; c++)
            for (int threads = t_lo; threads <= t_hi; threads++) {
                const int *v = shapes[c];
                int64_t    np[2];
                T_TRUE(3LL * v[0] * v[1] * v[2] <= NX &&
                       (int64_t)v[3] * (v[0] / v[6] * v[4] * v[4] + 1) <= NP);
                for (int on = 0; on < 2; on++) {
                    *knob = on;
                    bwd_run(v, threads, passes, poison, dx[on], gr[on], &np[on]);
                }
                T_EQ(np[0], np[1]);
                T_ARRAY_EQ(dx[1], dx[0], 3LL * v[0] * v[1] * v[2]);
                T_ARRAY_EQ(gr[1], gr[0], np[0]);
            }
    }
    cnn_conv_tuning = keep;
    T_TRUE(cnn_gemm_set_isa(isa0));
}

/* The backward's GEMMs of more rows than one GEMM block (dW of 280-300
 * output channels, dcol of 300 or 360 rows) pack their B once, and dcol's
 * A (W^T) is packed once for every block by the threads together
 * (bwd_pack_once; 32 rows of it: panels of 6 rows make 36): the bits of
 * packing them for every block, for dW, db and dx, at 1 and 2 threads,
 * for every variant. */
static void conv_bwd_packs_b_once(void)
{
    static const int shapes[][7] = {
        /* c, h, w, oc, k, pad, groups */
        {300, 5, 5, 20, 1, 0, 1}, {8, 4, 4, 300, 3, 1, 1},    {40, 6, 6, 290, 3, 1, 1},
        {300, 3, 3, 280, 1, 0, 1}, {600, 3, 3, 40, 1, 0, 2},  {32, 4, 4, 300, 1, 0, 1},
    };

    bwd_knob_agrees(shapes, (int)(sizeof shapes / sizeof *shapes), 1, 1, 2, 1, false,
                    &cnn_conv_tuning.bwd_pack_once);
}

/* With several threads, a thread's partial dW is written by its first
 * block's GEMMs (bwd_fresh_dw), not zeroed and added to: the bits of
 * zeroing it, with the scratch all NaN before each backward (so a part
 * the first block does not write shows), for every variant; chunks of
 * images, tiles of one (40x40, 3x3), K in slices (kc 576), groups, more
 * rows than one GEMM block (300), and 4 threads for 3 images (one thread
 * without an image). */
static void conv_bwd_fresh_dw(void)
{
    static const int shapes[][7] = {
        /* c, h, w, oc, k, pad, groups */
        {64, 7, 7, 300, 1, 0, 1}, {64, 40, 40, 16, 3, 1, 1}, {300, 5, 5, 20, 1, 0, 1},
        {40, 6, 6, 24, 3, 1, 2},  {600, 3, 3, 40, 1, 0, 2},
    };

    bwd_knob_agrees(shapes, (int)(sizeof shapes / sizeof *shapes), 0, 2, 4, 2, true,
                    &cnn_conv_tuning.bwd_fresh_dw);
}

/* ==== @@WINOGRAD ==== */

/* A conv (v: c, h, w, oc, pads top, left, bottom, right, bias), then a
 * batch norm and a ReLU when `bn` (fused into it by an inference plan),
 * at `threads`, planned for inference or training, its input set. */
static cnn_graph *wino_net(const int *v, bool bn, int batch, int threads, bool infer, int *out)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[3], 3, 3);
    float          *in;
    int             x;

    for (int i = 0; i < 4; i++)
        a.pad[i] = v[4 + i];
    a.bias = v[8] != 0;
    x    = cnn_input(g, v[0], v[1], v[2], "x");
    *out = cnn_conv2d(g, x, &a, "c");
    if (bn)
        *out = cnn_relu(g, cnn_batchnorm2d(g, *out, 1e-5f, 0.1f, "bn"), "r");
    T_OK(*out);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 5));
    if (bn) { /* statistics away from 0 and 1 */
        float *bufs = cnn_graph_buffers(g);
        for (int64_t j = 0; j < cnn_graph_buffer_count(g); j++)
            bufs[j] = 0.5f + (float)((j * 37) % 11) / 20.0f;
    }
    if (v[8]) { /* a bias that is not 0 */
        float *bias;
        T_OK(cnn_node_param(g, 1, 1, &bias, NULL, NULL, NULL));
        for (int i = 0; i < v[3]; i++)
            bias[i] = (float)cos(i * 0.7);
    }
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(infer ? cnn_graph_plan_infer(g, batch) : cnn_graph_plan(g, batch));
    const int64_t n = (int64_t)batch * v[0] * v[1] * v[2];
    T_TRUE((in = malloc((size_t)n * sizeof *in)) != NULL);
    for (int64_t i = 0; i < n; i++)
        in[i] = (float)sin(i * 0.37 + 0.1);
    T_OK(cnn_graph_set_input(g, x, in));
    free(in);
    return g;
}

/* Largest |got - want| over the scale of each element's sum (sum of |w x|
 * and |bias|), the conv's reference in double (conv only). */
static double wino_error(const int *v, int batch, cnn_graph *g, const float *got)
{
    float        *W, *bias = NULL;
    const int     c = v[0], h = v[1], w = v[2], oc = v[3], pt = v[4], pl = v[5];
    const int     oh = h + pt + v[6] - 2, ow = w + pl + v[7] - 2;
    const float  *x = cnn_graph_data(g, 0);
    double        worst = 0.0;

    T_OK(cnn_node_param(g, 1, 0, &W, NULL, NULL, NULL));
    if (v[8])
        T_OK(cnn_node_param(g, 1, 1, &bias, NULL, NULL, NULL));
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < oc; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = bias ? bias[o] : 0.0, m = bias ? fabs(bias[o]) : 0.0;
                    for (int ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                const int iy = oy - pt + ky, ix = ox - pl + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                const double t = (double)x[((b * c + ci) * h + iy) * w + ix] *
                                                 W[((o * c + ci) * 3 + ky) * 3 + kx];
                                s += t;
                                m += fabs(t);
                            }
                    const double d = fabs(got[((b * oc + o) * oh + oy) * ow + ox] - s);
                    if (d > worst * (m + 1e-30))
                        worst = d / (m + 1e-30);
                }
    return worst;
}

/* Inference plans run 3x3 stride-1 convs by Winograd F(2x2, 3x3) (the
 * thresholds lowered to reach small shapes): within 2e-6 of each
 * element's scale of the double reference (odd planes, every pad, 1x1
 * outputs, input channels past a GEMM slice of 256, outputs past 256,
 * tile rows split between items and items across images, batch 1 and
 * more); the same bits at 1, 2 and 3 threads; a batch norm and a ReLU
 * fused after it the bits of the training plan's batch norm and ReLU on
 * it; after the parameters change, the new filters' (kept, transformed
 * anew); and CNN_WINOGRAD=0 gives the training plan's bits. On every
 * GEMM variant with packed A this CPU runs. */
static void wino_cases(void)
{
    /* c, h, w, oc, pads t l b r, bias, batch */
    static const int shapes[][10] = {
        {32, 14, 14, 32, 1, 1, 1, 1, 1, 2}, {3, 7, 9, 5, 1, 1, 1, 1, 1, 3},
        {5, 8, 6, 7, 0, 0, 0, 0, 0, 2},     {4, 9, 11, 6, 2, 0, 1, 2, 1, 1},
        {300, 5, 5, 20, 1, 1, 1, 1, 1, 2},  {8, 1, 1, 3, 1, 1, 1, 1, 1, 2},
        {16, 30, 30, 270, 1, 1, 1, 1, 1, 1}, {6, 3, 40, 9, 1, 1, 1, 1, 0, 3},
        {64, 10, 10, 40, 1, 1, 1, 1, 1, 5},
    };
    int differ = 0;

    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const int    *v = shapes[si], batch = v[9];
        const int64_t n = (int64_t)batch * v[3] * (v[1] + v[4] + v[6] - 2) * (v[2] + v[5] + v[7] - 2);
        float        *first = malloc((size_t)n * sizeof *first);
        int           y, ry;
        T_TRUE(first != NULL);
        for (int threads = 1; threads <= 3; threads++) {
            cnn_graph *g = wino_net(v, false, batch, threads, true, &y);
            T_OK(cnn_graph_forward(g, CNN_EVAL));
            const double err = wino_error(v, batch, g, cnn_graph_data(g, y));
            if (err > 2e-6)
                T_FAILED("shape %zu, %d threads: error %.3g of the scale", si, threads, err);
            if (threads == 1)
                memcpy(first, cnn_graph_data(g, y), (size_t)n * sizeof *first);
            else
                T_ARRAY_EQ(cnn_graph_data(g, y), first, n);
            if (threads == 2) { /* new weights: the kept filters transformed again */
                float  *w = cnn_graph_params(g);
                int64_t np = cnn_graph_param_count(g);
                for (int64_t i = 0; i < np; i++)
                    w[i] = w[i] * -0.5f + 0.01f;
                T_OK(cnn_graph_forward(g, CNN_EVAL));
                if (wino_error(v, batch, g, cnn_graph_data(g, y)) > 2e-6)
                    T_FAILED("shape %zu: new weights not transformed again", si);
            }
            cnn_graph_free(g);
        }
        /* fused batch norm and ReLU: on the conv's output as the
         * training plan's batch norm and ReLU do it */
        cnn_graph *g = wino_net(v, true, batch, 2, true, &y);
        cnn_graph *r = wino_net(v, true, batch, 2, false, &ry);
        T_OK(cnn_graph_forward(g, CNN_EVAL));
        T_OK(cnn_graph_forward(r, CNN_EVAL));
        const float *gy = cnn_graph_data(g, y), *rc = cnn_graph_data(r, 1);
        const float *rr = cnn_graph_data(r, ry);
        for (int64_t i = 0; i < n; i++)
            if (fabsf(gy[i] - rr[i]) > 1e-4f * (1.0f + fabsf(rr[i]))) {
                T_FAILED("shape %zu: fused output %g, node by node %g", si, gy[i], rr[i]);
                break;
            }
        differ += memcmp(first, rc, (size_t)n * sizeof *first) != 0;
        cnn_graph_free(g);
        cnn_graph_free(r);
        /* turned off: the direct sums' bits */
        setenv("CNN_WINOGRAD", "0", 1);
        g = wino_net(v, false, batch, 2, true, &y);
        unsetenv("CNN_WINOGRAD");
        r = wino_net(v, false, batch, 2, false, &ry);
        T_OK(cnn_graph_forward(g, CNN_EVAL));
        T_OK(cnn_graph_forward(r, CNN_EVAL));
        T_ARRAY_EQ(cnn_graph_data(g, y), cnn_graph_data(r, ry), n);
        cnn_graph_free(g);
        cnn_graph_free(r);
        free(first);
    }
    T_TRUE(differ > 0); /* Winograd did run */
}

static void conv_winograd(void)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    const cnn_isa                isa0 = cnn_gemm_isa();

    cnn_conv_tuning.wino_min_c     = 1;
    cnn_conv_tuning.wino_min_tiles = 1;
    for (cnn_isa isa = CNN_ISA_AVX2; isa < CNN_ISA_COUNT_; isa++)
        if (cnn_gemm_set_isa(isa))
            wino_cases();
    T_TRUE(cnn_gemm_set_isa(isa0));
    cnn_conv_tuning = keep;
}

/* A training plan's conv whose only reader is a batch norm sums its output
 * planes for it while they are in cache: the batch norm's output and
 * running statistics are the bits of the batch norm summing them itself
 * (the conv given a second reader), by the direct kernel and by im2col +
 * GEMM, chunked, at 1 and 2 threads. */
static void run_conv_bn(bool direct, bool second, int threads, float *out, float *stats)
{
    const struct cnn_conv_tuning keep = cnn_conv_tuning;
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(5, 3, 3);
    static float    in[4 * 3 * 9 * 9];
    int             x, c, bn;

    cnn_conv_tuning.direct = direct;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    x  = cnn_input(g, 3, 9, 9, "x");
    c  = cnn_conv2d(g, x, &a, "c");
    bn = cnn_batchnorm2d(g, c, 1e-5f, 0.1f, "bn");
    T_OK(bn);
    if (second)
        T_OK(cnn_relu(g, c, "second"));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 5));
    for (int64_t i = 0; i < cnn_graph_buffer_count(g); i++)
        cnn_graph_buffers(g)[i] = 0.5f;
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_plan(g, 4));
    for (int i = 0; i < 4 * 3 * 9 * 9; i++)
        in[i] = (float)sin(i * 0.37) + 0.3f;
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    memcpy(out, cnn_graph_data(g, bn), 4 * 5 * 9 * 9 * sizeof *out);
    memcpy(stats, cnn_graph_buffers(g), 10 * sizeof *stats);
    cnn_graph_free(g);
    cnn_conv_tuning = keep;
}

static void conv_bn_plane_sums(void)
{
    static float y0[4 * 5 * 81], y1[4 * 5 * 81];
    float        s0[10], s1[10];

    for (int direct = 0; direct < 2; direct++)
        for (int threads = 1; threads <= 2; threads++) {
            run_conv_bn(direct, true, threads, y0, s0);
            run_conv_bn(direct, false, threads, y1, s1);
            T_ARRAY_EQ(y1, y0, 4 * 5 * 81);
            T_ARRAY_EQ(s1, s0, 10);
        }
}

static void conv_direct_same_bits(void)
{
    static const int shapes[][11] = {
        /* c, h, w, oc, k, pad h, pad w, dilation, stride h, groups, stride w (0: 1) */
        {3, 14, 14, 16, 3, 1, 1, 1, 1, 1}, {1, 28, 28, 6, 5, 2, 2, 1, 1, 1},
        {6, 18, 18, 16, 5, 0, 0, 1, 1, 1}, {40, 16, 16, 13, 3, 1, 1, 1, 1, 1},
        {4, 16, 20, 10, 3, 2, 0, 2, 2, 2}, {2, 7, 12, 5, 3, 1, 2, 1, 1, 1},
        {8, 14, 14, 37, 3, 1, 1, 1, 1, 1}, {24, 12, 16, 64, 3, 1, 1, 1, 1, 2},
        {16, 7, 7, 24, 3, 1, 1, 1, 1, 1}, {6, 14, 14, 16, 5, 0, 0, 1, 1, 1},
        {5, 9, 6, 7, 3, 1, 1, 1, 1, 1},   {3, 5, 9, 20, 3, 2, 1, 2, 1, 1},
        /* strides across rows (a band of phases): 3x3/2, 7x7/2 (ResNet's
         * stem), 5x5/3 with dilation 2, 1x1/2 */
        {4, 15, 33, 12, 3, 1, 1, 1, 2, 1, 2}, {3, 30, 30, 9, 7, 3, 3, 1, 2, 1, 2},
        {2, 13, 40, 5, 5, 2, 1, 2, 1, 1, 3},  {6, 9, 34, 17, 1, 0, 0, 1, 2, 1, 2},
        /* more output channels than the kernel takes at once (parts) */
        {4, 7, 7, 300, 3, 1, 1, 1, 1, 1, 0},
        /* planes of 1024 pixels or more and three row panels or more:
         * the next tile's output lines fetched ahead (by rows, wide) */
        {3, 66, 66, 20, 7, 3, 3, 1, 2, 1, 2}, {4, 34, 34, 16, 3, 1, 1, 1, 1, 1, 0},
        /* pointwise, read in place several images a call (ocl only) */
        {64, 7, 7, 40, 1, 0, 0, 1, 1, 1, 0}, {20, 5, 9, 300, 1, 0, 0, 1, 1, 1, 0},
        {300, 3, 3, 33, 1, 0, 0, 1, 1, 1, 0},
        /* ocl with more channels than T holds over all the pixels at
         * once: groups of panels (the last with a part panel) */
        {8, 34, 34, 100, 3, 1, 1, 1, 1, 1, 0},
    };
    static float want[400000], got[400000];
    const cnn_isa isa0 = cnn_gemm_isa();

    for (int isa = CNN_ISA_AVX2; isa < CNN_ISA_COUNT_; isa++) {
        if (!cnn_gemm_set_isa((cnn_isa)isa))
            continue;
        T_TRUE(cnn_direct_kernel(NULL, NULL, NULL) != NULL);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int threads = 1; threads <= 3; threads += 2)
                for (int batch = 1; batch <= 3; batch += 2)
                    /* pixels in the lanes, then output channels (ocl),
                     * in panels of two vectors, then of one */
                    for (int ocl = 0; ocl <= 2; ocl++) {
                        int64_t nw, ng;
                        run_direct(shapes[s], false, threads, batch, want, &nw, 0);
                        run_direct(shapes[s], true, threads, batch, got, &ng, ocl);
                        T_EQ(ng, nw);
                        T_ARRAY_EQ(got, want, nw);
                    }
    }
    T_TRUE(cnn_gemm_set_isa(isa0));
}

int main(void)
{
    T_RUN(conv_basic);
    T_RUN(conv_stride_asymmetric_pads);
    T_RUN(conv_dilation);
    T_RUN(conv_groups);
    T_RUN(conv_depthwise);
    T_RUN(conv_depthwise_multiplier);
    T_RUN(conv_no_bias);
    T_RUN(conv_pointwise);
    T_RUN(conv_slices_same_bits);
    T_RUN(conv_direct_same_bits);
    T_RUN(conv_direct_dx_ocl);
    T_RUN(conv_bn_plane_sums);
    T_RUN(conv_infer_keeps_weights);
    T_RUN(conv_infer_fuses_add);
    T_RUN(conv_winograd);
    T_RUN(conv_direct_dw);
    T_RUN(conv_direct_dw_ocl);
    T_RUN(conv_pointwise_strided);
    T_RUN(conv_stride_larger_than_kernel);
    T_RUN(conv_tiles_few_images);
    T_RUN(conv_pad_same);
    T_RUN(conv_kernel_larger_than_input);
    T_RUN(conv_batch_one);
    T_RUN(conv_batched_images);
    T_RUN(conv_pointwise_batched);
    T_RUN(conv_pointwise_infer_packed);
    T_RUN(conv_bwd_packs_b_once);
    T_RUN(conv_bwd_fresh_dw);
    T_RUN(conv_large_planes);
    T_RUN(conv_tiles_and_splits);
    T_RUN(activations);
    T_RUN(sigmoid_saturates);
    T_RUN(maxpool_all);
    T_RUN(maxpool_ties_nan);
    T_RUN(avgpool_include_pad);
    T_RUN(avgpool_exclude_pad);
    T_RUN(avgpool_ceil_divisor_matches_pytorch);
    T_RUN(global_avgpool);
    T_RUN(adaptive_avgpool);
    T_RUN(batchnorm_modes);
    T_RUN(batchnorm_running_stats);
    T_RUN(linear_variants);
    T_RUN(flatten);
    T_RUN(add);
    T_RUN(concat);
    T_RUN(softmax);
    T_RUN(softmax_large_logits);
    T_RUN(dropout);
    T_RUN(threads_agree);
    T_RUN(threads_agree_chunked);
    T_RUN(threads_agree_tiled);
    return t_done("ops");
}
