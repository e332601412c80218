/* test_onnx_ops.c - the ops added for ONNX import (mul and add with
 * broadcasting, constant, reshape, clip, softmax over an axis, log-softmax,
 * pad, LRN): forward against a plain double-precision reference, backward
 * against central finite differences of that reference, as test_ops.c does
 * for the others; and their network-description round trip.
 *
 * Tolerances (test_ops.c's): forward |got - ref| <= 1e-4 * (1 + |ref|);
 * gradients |got - fd| <= 2e-3 * (1 + |fd|), fd = (L(p + h) - L(p - h)) / 2h
 * in double with h = 1e-6 and L = sum(r * y) for a fixed random r. Clip's
 * inputs stay 0.05 away from its bounds, where it has no derivative. */
#include "t.h"

#include <stdlib.h>

/* ==== @@HARNESS ==== */

typedef struct opcase opcase;
typedef int  (*build_fn)(cnn_graph *g, const int *in, const opcase *c);
typedef void (*ref_fn)(const opcase *c, double *const *x, const double *p, double *y);

struct opcase {
    int       n_in;
    cnn_shape in[2];   /* per-sample input shapes (any 1 to 4 dims)      */
    int       batch;
    build_fn  build;
    ref_fn    ref;
    int       axis;
    float     lo, hi, value, alpha, beta, k;
    int       size, begin[4], end[4];
    cnn_shape shape;   /* reshape target, constant shape                  */
    cnn_shape out;     /* filled by the harness                           */
    bool      away;    /* inputs kept 0.05 away from lo and hi (clip)     */
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double   urand(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static double value_for(const opcase *c)
{
    double v = 2.0 * urand() - 1.0;
    while (c->away && (fabs(v - c->lo) < 0.05 || fabs(v - c->hi) < 0.05))
        v = 2.0 * urand() - 1.0;
    return v;
}

static double loss_of(const opcase *c, double *const *x, const double *p, double *y,
                      const double *r, int64_t ny)
{
    double s = 0.0;
    c->ref(c, x, p, y);
    for (int64_t i = 0; i < ny; i++)
        s += r[i] * y[i];
    return s;
}

static bool close_to(double got, double want, double tol)
{
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* An input of any per-sample shape: a flat input seen through reshape
 * (whose backward is then checked along the way). Returns the flat id in
 * *flat. */
static int shaped_input(cnn_graph *g, const cnn_shape *s, int *flat)
{
    int id = cnn_input_flat(g, (int)cnn_shape_numel(s), NULL);
    *flat = id;
    if (id < 0 || s->ndim == 1)
        return id;
    return cnn_reshape(g, id, s, NULL);
}

static void check_case(opcase *c)
{
    cnn_graph *g = cnn_graph_new();
    int        in[2], flat[2], id;
    double    *x[2] = {0}, *p = NULL, *y = NULL, *r = NULL;
    int64_t    nx[2], np, ny;

    T_TRUE(g != NULL);
    for (int k = 0; k < c->n_in; k++) {
        T_OK(in[k] = shaped_input(g, &c->in[k], &flat[k]));
        T_OK(cnn_graph_want_input_grad(g, flat[k], true));
    }
    T_OK(id = c->build(g, in, c));
    T_OK(cnn_node_info(g, id, NULL, NULL, &c->out));
    T_OK(cnn_graph_plan(g, c->batch));

    np = cnn_graph_param_count(g);
    ny = cnn_shape_numel(&c->out) * c->batch;
    p  = calloc((size_t)np + 1, sizeof *p);
    y  = calloc((size_t)ny, sizeof *y);
    r  = calloc((size_t)ny, sizeof *r);
    for (int64_t i = 0; i < np; i++) {
        cnn_graph_params(g)[i] = (float)(2.0 * urand() - 1.0);
        p[i]                   = cnn_graph_params(g)[i];
    }
    for (int k = 0; k < c->n_in; k++) {
        float *d = cnn_graph_data(g, flat[k]);
        nx[k]    = cnn_shape_numel(&c->in[k]) * c->batch;
        x[k]     = calloc((size_t)nx[k], sizeof **x);
        for (int64_t i = 0; i < nx[k]; i++)
            d[i] = (float)value_for(c), x[k][i] = d[i];
    }

    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    c->ref(c, x, p, y);
    const float *got = cnn_graph_data(g, id);
    for (int64_t i = 0; i < ny; i++)
        if (!close_to(got[i], y[i], 1e-4))
            T_FAILED("forward y[%lld] = %.9g, reference %.9g", (long long)i, got[i], y[i]);

    for (int64_t i = 0; i < ny; i++)
        r[i] = 2.0 * urand() - 1.0;
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    for (int64_t i = 0; i < ny; i++)
        cnn_graph_grad(g, id)[i] = (float)r[i];
    T_OK(cnn_graph_backward(g));

    const double h = 1e-6;
    for (int k = 0; k < c->n_in; k++) {
        const float *dx = cnn_graph_grad(g, flat[k]);
        for (int64_t i = 0; i < nx[k]; i++) {
            double keep = x[k][i], lp, lm;
            x[k][i] = keep + h;
            lp      = loss_of(c, x, p, y, r, ny);
            x[k][i] = keep - h;
            lm      = loss_of(c, x, p, y, r, ny);
            x[k][i] = keep;
            if (!close_to(dx[i], (lp - lm) / (2 * h), 2e-3))
                T_FAILED("d input%d[%lld] = %.9g, finite difference %.9g", k, (long long)i, dx[i],
                         (lp - lm) / (2 * h));
        }
    }
    for (int64_t i = 0; i < np; i++) {
        double keep = p[i], lp, lm;
        p[i] = keep + h;
        lp   = loss_of(c, x, p, y, r, ny);
        p[i] = keep - h;
        lm   = loss_of(c, x, p, y, r, ny);
        p[i] = keep;
        if (!close_to(cnn_graph_param_grads(g)[i], (lp - lm) / (2 * h), 2e-3))
            T_FAILED("d param[%lld] = %.9g, finite difference %.9g", (long long)i,
                     cnn_graph_param_grads(g)[i], (lp - lm) / (2 * h));
    }
    for (int k = 0; k < c->n_in; k++)
        free(x[k]);
    free(p);
    free(y);
    free(r);
    cnn_graph_free(g);
}

#define S1(a)          ((cnn_shape){1, {a}})
#define S2(a, b)       ((cnn_shape){2, {a, b}})
#define S3(a, b, c)    ((cnn_shape){3, {a, b, c}})
#define S4(a, b, c, d) ((cnn_shape){4, {a, b, c, d}})

/* ==== @@BROADCAST ==== */

/* Element i of a (per sample, shape sa) pairs with this element of b. */
static int64_t bcast_index(const cnn_shape *sa, const cnn_shape *sb, int64_t i)
{
    int64_t j = 0, stride = 1;
    for (int d = sa->ndim - 1, e = sb->ndim - 1; d >= 0; d--, e--) {
        int64_t id = i % sa->dim[d];
        i /= sa->dim[d];
        if (e >= 0) {
            j += (sb->dim[e] == 1 ? 0 : id) * stride;
            stride *= sb->dim[e];
        }
    }
    return j;
}

static void ref_binary(const opcase *c, double *const *x, const double *p, double *y, bool mul,
                       const double *b_const)
{
    const int64_t na = cnn_shape_numel(&c->in[0]);
    const cnn_shape *sb = b_const ? &c->shape : &c->in[1];
    const int64_t nb = cnn_shape_numel(sb);
    (void)p;
    for (int s = 0; s < c->batch; s++)
        for (int64_t i = 0; i < na; i++) {
            double a = x[0][s * na + i];
            double b = b_const ? b_const[bcast_index(&c->in[0], sb, i)]
                               : x[1][s * nb + bcast_index(&c->in[0], sb, i)];
            y[s * na + i] = mul ? a * b : a + b;
        }
}

static int build_add(cnn_graph *g, const int *in, const opcase *c)
{
    (void)c;
    return cnn_add(g, in[0], in[1], "add");
}
static int build_mul(cnn_graph *g, const int *in, const opcase *c)
{
    (void)c;
    return cnn_mul(g, in[0], in[1], "mul");
}
static void ref_add(const opcase *c, double *const *x, const double *p, double *y)
{
    ref_binary(c, x, p, y, false, NULL);
}
static void ref_mul(const opcase *c, double *const *x, const double *p, double *y)
{
    ref_binary(c, x, p, y, true, NULL);
}

static void binary_shapes(build_fn build, ref_fn ref)
{
    static const cnn_shape pairs[][2] = {
        {S3(3, 4, 5), S3(3, 4, 5)}, /* equal: the fast path                */
        {S3(3, 4, 5), S3(3, 1, 1)}, /* a per-channel gate or bias          */
        {S3(3, 4, 5), S1(5)},       /* aligned to the right, fewer dims    */
        {S3(3, 4, 5), S2(4, 1)},
        {S4(2, 3, 2, 3), S4(1, 3, 1, 3)},
        {S2(4, 6), S1(1)},          /* a scalar per sample                 */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        opcase c = {.n_in = 2, .in = {pairs[i][0], pairs[i][1]}, .batch = 2, .build = build,
                    .ref = ref};
        check_case(&c);
    }
}

static void add_broadcast(void) { binary_shapes(build_add, ref_add); }
static void mul_broadcast(void) { binary_shapes(build_mul, ref_mul); }

static void mul_same_node(void)
{
    /* mul(x, x): both gradient terms land in x's gradient. */
    cnn_graph *g = cnn_graph_new();
    int        x, y;
    T_OK(x = cnn_input_flat(g, 3, "x"));
    T_OK(y = cnn_mul(g, x, x, "y"));
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, 1));
    float v[3] = {1.5f, -2.0f, 0.25f};
    T_OK(cnn_graph_set_input(g, x, v));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_clear_grads(g));
    for (int i = 0; i < 3; i++)
        cnn_graph_grad(g, y)[i] = 1.0f;
    T_OK(cnn_graph_backward(g));
    for (int i = 0; i < 3; i++) {
        T_FEQ(cnn_graph_data(g, y)[i], v[i] * v[i]);
        T_FEQ(cnn_graph_grad(g, x)[i], 2.0f * v[i]);
    }
    cnn_graph_free(g);
}

static void broadcast_refused(void)
{
    cnn_graph *g = cnn_graph_new();
    int        a, b, c;
    T_OK(a = cnn_input(g, 3, 4, 5, "a"));
    T_OK(b = cnn_input(g, 3, 2, 1, "b"));
    T_OK(c = cnn_input(g, 1, 1, 1, "c"));
    T_ERR(cnn_add(g, a, b, "ab"), CNN_ESHAPE);
    T_TRUE(strstr(cnn_last_error(), "does not broadcast") != NULL);
    T_ERR(cnn_mul(g, c, a, "ca"), CNN_ESHAPE); /* only b broadcasts */
    T_EQ(cnn_graph_size(g), 3);
    cnn_graph_free(g);
}

/* ==== @@CONSTANT ==== */

/* x + constant: the constant's gradient sums over the batch. */
static int build_add_const(cnn_graph *g, const int *in, const opcase *c)
{
    int k = cnn_constant(g, &c->shape, "bias");
    return k < 0 ? k : cnn_add(g, in[0], k, "add");
}
static int build_mul_const(cnn_graph *g, const int *in, const opcase *c)
{
    int k = cnn_constant(g, &c->shape, "scale");
    return k < 0 ? k : cnn_mul(g, in[0], k, "mul");
}
static void ref_add_const(const opcase *c, double *const *x, const double *p, double *y)
{
    ref_binary(c, x, p, y, false, p);
}
static void ref_mul_const(const opcase *c, double *const *x, const double *p, double *y)
{
    ref_binary(c, x, p, y, true, p);
}

static void constant_bias_and_scale(void)
{
    opcase c = {.n_in = 1, .in = {S3(3, 4, 5)}, .batch = 3, .shape = S3(3, 1, 1),
                .build = build_add_const, .ref = ref_add_const};
    check_case(&c);
    c.build = build_mul_const, c.ref = ref_mul_const, c.shape = S2(4, 5);
    check_case(&c);
    c.in[0] = S1(7), c.shape = S1(7);
    check_case(&c);
}

static void constant_zero_and_frozen(void)
{
    cnn_graph *g = cnn_graph_new();
    int        k, x, y;
    float     *v, *gv;
    T_OK(x = cnn_input_flat(g, 2, "x"));
    T_OK(k = cnn_constant(g, &S1(2), "k"));
    T_OK(y = cnn_add(g, x, k, "y"));
    T_OK(cnn_node_param(g, k, 0, &v, &gv, NULL, NULL));
    T_FEQ(v[0], 0.0f);
    T_FEQ(v[1], 0.0f);
    v[0] = 1.0f, v[1] = -1.0f;
    T_OK(cnn_node_set_trainable(g, k, false));
    T_OK(cnn_graph_plan(g, 2));
    float in[4] = {1, 2, 3, 4};
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_FEQ(cnn_graph_data(g, y)[2], 4.0f);
    T_FEQ(cnn_graph_data(g, y)[3], 3.0f);
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    for (int i = 0; i < 4; i++)
        cnn_graph_grad(g, y)[i] = 1.0f;
    T_OK(cnn_graph_backward(g));
    T_FEQ(gv[0], 0.0f); /* frozen: no gradient */
    T_ERR(cnn_constant(g, &(cnn_shape){5, {1, 1, 1, 1}}, "bad"), CNN_EINVAL);
    T_ERR(cnn_constant(g, &S2(0, 3), "bad"), CNN_EINVAL);
    cnn_graph_free(g);
}

/* ==== @@RESHAPE ==== */

static int build_reshape(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_reshape(g, in[0], &c->shape, "reshape");
}
static void ref_copy(const opcase *c, double *const *x, const double *p, double *y)
{
    (void)p;
    for (int64_t i = 0; i < cnn_shape_numel(&c->in[0]) * c->batch; i++)
        y[i] = x[0][i];
}

static void reshape(void)
{
    opcase c = {.n_in = 1, .in = {S3(2, 3, 4)}, .batch = 2, .shape = S2(6, 4),
                .build = build_reshape, .ref = ref_copy};
    check_case(&c);
    T_EQ(c.out.ndim, 2);
    T_EQ(c.out.dim[0], 6);
    c.shape = S4(1, 2, 12, 1);
    check_case(&c);

    cnn_graph *g = cnn_graph_new();
    int        x;
    T_OK(x = cnn_input(g, 2, 3, 4, "x"));
    T_ERR(cnn_reshape(g, x, &S2(5, 5), "r"), CNN_ESHAPE);
    T_TRUE(strstr(cnn_last_error(), "24 elements") != NULL);
    cnn_graph_free(g);
}

/* ==== @@CLIP ==== */

static int build_clip(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_clip(g, in[0], c->lo, c->hi, "clip");
}
static void ref_clip(const opcase *c, double *const *x, const double *p, double *y)
{
    (void)p;
    for (int64_t i = 0; i < cnn_shape_numel(&c->in[0]) * c->batch; i++)
        y[i] = x[0][i] < c->lo ? c->lo : x[0][i] > c->hi ? c->hi : x[0][i];
}

static void clip(void)
{
    opcase c = {.n_in = 1, .in = {S3(2, 5, 5)}, .batch = 2, .lo = -0.4f, .hi = 0.3f,
                .away = true, .build = build_clip, .ref = ref_clip};
    check_case(&c);
    c.lo = -INFINITY, c.hi = 0.5f; /* one-sided */
    check_case(&c);
}

static void clip_edges(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x, y, z;
    float      in[4] = {NAN, -3.0f, 7.0f, 0.5f};
    T_OK(x = cnn_input_flat(g, 4, "x"));
    T_OK(y = cnn_clip(g, x, 0.0f, 6.0f, "relu6"));
    T_OK(z = cnn_clip(g, x, 2.0f, 1.0f, "crossed")); /* lo > hi: hi everywhere */
    T_ERR(cnn_clip(g, x, NAN, 1.0f, "nan"), CNN_EINVAL);
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_TRUE(isnan(cnn_graph_data(g, y)[0])); /* NaN passes, as in NumPy */
    T_FEQ(cnn_graph_data(g, y)[1], 0.0f);
    T_FEQ(cnn_graph_data(g, y)[2], 6.0f);
    T_FEQ(cnn_graph_data(g, y)[3], 0.5f);
    for (int i = 1; i < 4; i++)
        T_FEQ(cnn_graph_data(g, z)[i], 1.0f);
    cnn_graph_free(g);
}

/* ==== @@SOFTMAX ==== */

static int build_softmax(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_softmax_axis(g, in[0], c->axis, "softmax");
}
static int build_log_softmax(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_log_softmax(g, in[0], c->axis, "log_softmax");
}

static void ref_softmax_any(const opcase *c, double *const *x, double *y, bool log)
{
    int64_t O = 1, C = c->in[0].dim[c->axis], S = 1;
    for (int d = 0; d < c->axis; d++)
        O *= c->in[0].dim[d];
    for (int d = c->axis + 1; d < c->in[0].ndim; d++)
        S *= c->in[0].dim[d];
    for (int64_t o = 0; o < O * c->batch; o++)
        for (int64_t s = 0; s < S; s++) {
            const double *xr = x[0] + o * C * S + s;
            double       *yr = y + o * C * S + s, mx = -INFINITY, sum = 0.0;
            for (int64_t k = 0; k < C; k++)
                mx = fmax(mx, xr[k * S]);
            for (int64_t k = 0; k < C; k++)
                sum += exp(xr[k * S] - mx);
            for (int64_t k = 0; k < C; k++)
                yr[k * S] = log ? xr[k * S] - mx - log1p(sum - 1.0) : exp(xr[k * S] - mx) / sum;
        }
}
static void ref_softmax(const opcase *c, double *const *x, const double *p, double *y)
{
    (void)p;
    ref_softmax_any(c, x, y, false);
}
static void ref_log_softmax(const opcase *c, double *const *x, const double *p, double *y)
{
    (void)p;
    ref_softmax_any(c, x, y, true);
}

static void softmax_axes(void)
{
    for (int axis = 0; axis < 3; axis++) {
        opcase c = {.n_in = 1, .in = {S3(3, 4, 5)}, .batch = 2, .axis = axis,
                    .build = build_softmax, .ref = ref_softmax};
        check_case(&c);
        c.build = build_log_softmax, c.ref = ref_log_softmax;
        check_case(&c);
    }
    opcase c = {.n_in = 1, .in = {S1(10)}, .batch = 3, .build = build_log_softmax,
                .ref = ref_log_softmax};
    check_case(&c);
}

static void log_softmax_large_logits(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x, y;
    float      in[3] = {1000.0f, 0.0f, -1000.0f};
    T_OK(x = cnn_input_flat(g, 3, "x"));
    T_OK(y = cnn_log_softmax(g, x, 0, "y"));
    T_ERR(cnn_log_softmax(g, x, 1, "bad"), CNN_ESHAPE);
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_NEAR(cnn_graph_data(g, y)[0], 0.0, 1e-6);
    T_NEAR(cnn_graph_data(g, y)[1], -1000.0, 1e-3);
    T_NEAR(cnn_graph_data(g, y)[2], -2000.0, 1e-3); /* finite: no log(0) */
    cnn_graph_free(g);
}

/* ==== @@PAD ==== */

static int build_pad(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_pad(g, in[0], c->begin, c->end, c->value, "pad");
}
static void ref_pad(const opcase *c, double *const *x, const double *p, double *y)
{
    const cnn_shape *s  = &c->in[0], *o = &c->out;
    const int64_t    ni = cnn_shape_numel(s), no = cnn_shape_numel(o);
    (void)p;
    for (int b = 0; b < c->batch; b++)
        for (int64_t i = 0; i < no; i++) {
            int64_t rest = i, src = 0, stride = 1;
            bool    in   = true;
            for (int d = o->ndim - 1; d >= 0; d--) {
                int64_t od = rest % o->dim[d], id = od - c->begin[d];
                rest /= o->dim[d];
                in = in && id >= 0 && id < s->dim[d];
                src += id * stride;
                stride *= s->dim[d];
            }
            y[b * no + i] = in ? x[0][b * ni + src] : c->value;
        }
}

static void pad(void)
{
    opcase c = {.n_in = 1, .in = {S3(2, 4, 5)}, .batch = 2, .begin = {0, 1, 2},
                .end = {1, 2, 0}, .value = 0.5f, .build = build_pad, .ref = ref_pad};
    check_case(&c);
    T_EQ(c.out.dim[0], 3);
    T_EQ(c.out.dim[1], 7);
    T_EQ(c.out.dim[2], 7);
    c.begin[1] = -1, c.end[2] = -2; /* negative: a crop */
    check_case(&c);
    T_EQ(c.out.dim[1], 5);
    opcase d = {.n_in = 1, .in = {S2(3, 4)}, .batch = 1, .begin = {1, 0}, .end = {0, 3},
                .build = build_pad, .ref = ref_pad};
    check_case(&d);

    cnn_graph *g = cnn_graph_new();
    int        x, b[3] = {0, -2, 0}, e[3] = {0, -2, 0};
    T_OK(x = cnn_input(g, 1, 4, 4, "x"));
    T_ERR(cnn_pad(g, x, b, e, 0.0f, "nothing"), CNN_ESHAPE);
    T_ERR(cnn_pad(g, x, b, e, INFINITY, "inf"), CNN_EINVAL);
    cnn_graph_free(g);
}

/* ==== @@LRN ==== */

static int build_lrn(cnn_graph *g, const int *in, const opcase *c)
{
    return cnn_lrn(g, in[0], c->size, c->alpha, c->beta, c->k, "lrn");
}
static void ref_lrn(const opcase *c, double *const *x, const double *p, double *y)
{
    const int64_t C = c->in[0].dim[0], P = cnn_shape_numel(&c->in[0]) / C;
    const int     lo = (c->size - 1) / 2, hi = c->size / 2;
    (void)p;
    for (int b = 0; b < c->batch; b++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t q = 0; q < P; q++) {
                double sq = 0.0;
                for (int64_t j = ch - lo; j <= ch + hi; j++)
                    if (j >= 0 && j < C)
                        sq += x[0][(b * C + j) * P + q] * x[0][(b * C + j) * P + q];
                y[(b * C + ch) * P + q] = x[0][(b * C + ch) * P + q] /
                                          pow(c->k + c->alpha / c->size * sq, c->beta);
            }
}

static void lrn(void)
{
    /* Large alpha so the normalization matters at inputs in [-1, 1]. */
    opcase c = {.n_in = 1, .in = {S3(6, 3, 4)}, .batch = 2, .size = 3, .alpha = 0.9f,
                .beta = 0.75f, .k = 1.0f, .build = build_lrn, .ref = ref_lrn};
    check_case(&c);
    c.size = 4, c.k = 2.0f, c.beta = 0.6f; /* even: one more channel above */
    check_case(&c);
    c.size = 9; /* wider than the channels */
    check_case(&c);
    c.in[0] = S1(5), c.size = 2;
    check_case(&c);

    cnn_graph *g = cnn_graph_new();
    int        x;
    T_OK(x = cnn_input(g, 3, 2, 2, "x"));
    T_ERR(cnn_lrn(g, x, 0, 1e-4f, 0.75f, 1.0f, "size0"), CNN_EINVAL);
    T_ERR(cnn_lrn(g, x, 3, 1e-4f, 0.75f, 0.0f, "k0"), CNN_EINVAL);
    cnn_graph_free(g);
}

/* ==== @@NETDESC ==== */

/* Every op here written as text and read back: the same text, the same
 * shapes, the same outputs. */
static void netdesc_round_trip(void)
{
    cnn_graph *g = cnn_graph_new(), *h;
    int        x, k, m, r, b[3] = {0, 1, -1}, e[3] = {0, 2, 1}, last;
    char      *text, *again;

    T_OK(x = cnn_input(g, 3, 4, 4, "x"));
    T_OK(k = cnn_constant(g, &S3(3, 1, 1), "gate"));
    T_OK(m = cnn_mul(g, x, k, "gated"));
    T_OK(cnn_clip(g, m, 0.0f, 6.0f, "relu6"));
    T_OK(cnn_clip(g, m, -INFINITY, 1.0f, "cap"));
    T_OK(cnn_pad(g, m, b, e, 0.25f, "padded"));
    T_OK(cnn_lrn(g, m, 3, 1e-3f, 0.75f, 2.0f, "lrn"));
    T_OK(r = cnn_reshape(g, m, &S2(3, 16), "rows"));
    T_OK(cnn_softmax_axis(g, r, 1, "soft"));
    T_OK(cnn_softmax(g, r, "soft0"));
    T_OK(last = cnn_log_softmax(g, r, 1, "logsoft"));
    T_OK(cnn_node_set_trainable(g, k, false));
    T_TRUE((text = cnn_netdesc_emit(g)) != NULL);
    T_TRUE(strstr(text, "constant name=gate shape=3x1x1 frozen=true") != NULL);
    T_TRUE(strstr(text, "pad name=padded in=gated begin=0,1,-1 end=0,2,1 value=0.25") != NULL);
    T_TRUE(strstr(text, "softmax name=soft axis=1\n") != NULL);
    T_TRUE(strstr(text, "clip name=cap in=gated min=-inf max=1") != NULL);
    h = cnn_netdesc_parse(text, "roundtrip");
    if (!h)
        T_FAILED("parse: %s", cnn_last_error());
    T_TRUE((again = cnn_netdesc_emit(h)) != NULL);
    T_TRUE(strcmp(text, again) == 0);
    T_EQ(cnn_graph_size(h), cnn_graph_size(g));
    T_EQ(cnn_graph_param_count(h), cnn_graph_param_count(g));
    free(text);
    free(again);
    cnn_graph_free(g);
    cnn_graph_free(h);
}

/* ==== @@THREADS ==== */

/* One graph of every op here, run forward and backward with `threads`:
 * the output, input gradient and parameter gradients, concatenated. */
static float *run_all(int threads, int64_t *n)
{
    cnn_graph *g = cnn_graph_new();
    int        x, k, b[3] = {0, 2, -1}, e[3] = {1, 0, 2}, ids[8], m = 0;
    float     *out;
    int64_t    at = 0, np;

    if (!g || (x = cnn_input(g, 4, 5, 6, "x")) < 0 || cnn_graph_want_input_grad(g, x, true) < 0 ||
        (k = cnn_constant(g, &S3(4, 1, 6), "k")) < 0 ||
        (ids[m++] = cnn_mul(g, x, k, "mul")) < 0 || (ids[m++] = cnn_add(g, x, k, "add")) < 0 ||
        (ids[m++] = cnn_clip(g, x, -0.3f, 0.4f, "clip")) < 0 ||
        (ids[m++] = cnn_pad(g, x, b, e, 0.5f, "pad")) < 0 ||
        (ids[m++] = cnn_lrn(g, x, 3, 0.5f, 0.75f, 1.0f, "lrn")) < 0 ||
        (ids[m++] = cnn_softmax_axis(g, x, 1, "softmax")) < 0 ||
        (ids[m++] = cnn_log_softmax(g, x, 2, "log_softmax")) < 0 ||
        (ids[m++] = cnn_reshape(g, ids[0], &S2(20, 6), "reshape")) < 0 ||
        cnn_graph_set_threads(g, threads) < 0 || cnn_graph_plan(g, 7) < 0) {
        cnn_graph_free(g);
        return NULL;
    }
    for (int64_t i = 0; i < cnn_graph_param_count(g); i++)
        cnn_graph_params(g)[i] = (float)(0.1 * (double)(i % 7) - 0.3);
    for (int64_t i = 0; i < 7 * 120; i++)
        cnn_graph_data(g, x)[i] = (float)sin(0.37 * (double)i);
    if (cnn_graph_forward(g, CNN_TRAIN) < 0 || cnn_graph_clear_grads(g) < 0 ||
        cnn_graph_zero_param_grads(g) < 0) {
        cnn_graph_free(g);
        return NULL;
    }
    *n = 0;
    for (int i = 0; i < m; i++) {
        cnn_shape s;
        cnn_node_info(g, ids[i], NULL, NULL, &s);
        for (int64_t j = 0; j < 7 * cnn_shape_numel(&s); j++)
            cnn_graph_grad(g, ids[i])[j] = (float)cos(0.11 * (double)j + i);
        *n += 7 * cnn_shape_numel(&s);
    }
    if (cnn_graph_backward(g) < 0) {
        cnn_graph_free(g);
        return NULL;
    }
    np  = cnn_graph_param_count(g);
    out = malloc((size_t)(*n + 7 * 120 + np) * sizeof *out);
    for (int i = 0; i < m; i++) {
        cnn_shape s;
        cnn_node_info(g, ids[i], NULL, NULL, &s);
        const int64_t cnt = 7 * cnn_shape_numel(&s);
        memcpy(out + at, cnn_graph_data(g, ids[i]), (size_t)cnt * sizeof *out);
        at += cnt;
    }
    memcpy(out + at, cnn_graph_grad(g, x), 7 * 120 * sizeof *out);
    memcpy(out + at + 7 * 120, cnn_graph_param_grads(g), (size_t)np * sizeof *out);
    *n = at + 7 * 120 + np;
    cnn_graph_free(g);
    return out;
}

/* The same bits for any thread count (docs/determinism.md). */
static void threads_agree(void)
{
    int64_t n1, n3;
    float  *a = run_all(1, &n1), *b = run_all(3, &n3);

    T_TRUE(a && b);
    T_EQ(n1, n3);
    T_ARRAY_EQ(b, a, n1);
    free(a);
    free(b);
}

int main(void)
{
    T_RUN(add_broadcast);
    T_RUN(mul_broadcast);
    T_RUN(mul_same_node);
    T_RUN(broadcast_refused);
    T_RUN(constant_bias_and_scale);
    T_RUN(constant_zero_and_frozen);
    T_RUN(reshape);
    T_RUN(clip);
    T_RUN(clip_edges);
    T_RUN(softmax_axes);
    T_RUN(log_softmax_large_logits);
    T_RUN(pad);
    T_RUN(lrn);
    T_RUN(netdesc_round_trip);
    T_RUN(threads_agree);
    return t_done("onnx_ops");
}
