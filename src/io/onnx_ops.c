/* onnx_ops.c - one mapping per ONNX op onto the graph's ops (docs/onnx.md):
 * the table, the helpers, and the ops that compute (convolution, pooling,
 * normalization, elementwise, Gemm / MatMul, Concat); those that reshape
 * are in onnx_shape_ops.c.
 *
 * The batch is dim 0 of every data value, and a value's graph node has the
 * remaining dims as its per-sample shape ([1] for a rank-1 value), so ops
 * that keep dim 0 apart map per sample; anything that would mix samples, or
 * that the graph cannot compute exactly, is CNN_EUNSUPPORTED naming the
 * node and the reason. Conv, pooling and batch norm see rank-3 data
 * [N, C, L] as C x 1 x L through a reshape. */
#ifdef CNN_HAVE_ONNX

#include "onnx_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_N(a) (int)(sizeof(a) / sizeof *(a))

/* ==== @@HELPERS ==== */

const char *onnx_op_type(const imp *m) { return onnx_str(m->node->op_type); }
bool        onnx_is_op(const imp *m, const char *op) { return strcmp(onnx_op_type(m), op) == 0; }

/* Input counts; outputs past `outs` are defined as not computed. */
int onnx_arity(imp *m, int min_in, int max_in, int outs)
{
    const int n = (int)m->node->n_input;
    int       rc;

    if (n < min_in || n > max_in)
        return onnx_node_fail(m, CNN_EFORMAT, "%d inputs, expected %d to %d", n, min_in, max_in);
    for (int k = outs; k < (int)m->node->n_output; k++)
        if ((rc = onnx_def_none(m, k)) < 0)
            return rc;
    return CNN_OK;
}

/* Input k, which must be there, as data. */
int onnx_data_in(imp *m, int k, oval **v)
{
    int rc = onnx_in(m, k, v);

    if (rc < 0)
        return rc;
    if (!*v)
        return onnx_node_fail(m, CNN_EFORMAT, "input %d is missing", k);
    return onnx_as_data(m, *v);
}

/* Input k as a float constant of `count` values (count < 0: any), or
 * *v = NULL when the input is absent and not `required`. */
int onnx_const_in(imp *m, int k, const char *what, bool required, int64_t count, oval **v)
{
    int rc = onnx_in(m, k, v);

    if (rc < 0)
        return rc;
    if (!*v)
        return required ? onnx_node_fail(m, CNN_EFORMAT, "%s (input %d) is missing", what, k)
                        : CNN_OK;
    if ((rc = onnx_as_const(m, *v, what)) < 0)
        return rc;
    if (!(*v)->f)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "%s '%s' holds integers, expected FLOAT", what,
                              (*v)->name);
    if (count >= 0 && (*v)->numel != count)
        return onnx_node_fail(m, CNN_EFORMAT, "%s '%s' has %lld values, expected %lld", what,
                              (*v)->name, (long long)(*v)->numel, (long long)count);
    return CNN_OK;
}

/* Input k as integer constants (shapes, pads, axes). */
int onnx_ints_in(imp *m, int k, const char *what, oval **v)
{
    int rc = onnx_in(m, k, v);

    if (rc < 0)
        return rc;
    if (!*v)
        return CNN_OK;
    if ((rc = onnx_as_const(m, *v, what)) < 0)
        return rc;
    if (!(*v)->i)
        return onnx_node_fail(m, CNN_EFORMAT, "%s '%s' holds floats, expected integers", what,
                              (*v)->name);
    return CNN_OK;
}

/* A scalar float constant input (Clip's bounds, Pad's value), or def. */
int onnx_scalar_in(imp *m, int k, const char *what, float def, float *out)
{
    oval *v;
    int   rc = onnx_const_in(m, k, what, false, 1, &v);

    *out = rc == CNN_OK && v ? v->f[0] : def;
    return rc;
}

int64_t onnx_prod(const int64_t *dim, int from, int to)
{
    int64_t p = 1;
    for (int d = from; d < to; d++)
        p *= dim[d];
    return p;
}

/* The per-sample shape of ONNX shape (ndim, dim) with dims [a, b) merged
 * into one. */
cnn_shape onnx_merged(int ndim, const int64_t *dim, int a, int b)
{
    cnn_shape s = {0, {0}};
    for (int d = 1; d < ndim; d++) {
        if (d > a && d < b)
            continue;
        s.dim[s.ndim++] = d == a ? onnx_prod(dim, a, b) : dim[d];
    }
    if (s.ndim == 0)
        s = (cnn_shape){1, {1}};
    return s;
}

/* Data x seen as C x 1 x L (rank 3) or C x H x W (rank 4) for conv and
 * pooling; *view gets the node. */
static int spatial_view(imp *m, const oval *x, int *view)
{
    cnn_shape s;

    if (x->ndim == 4)
        s = (cnn_shape){3, {x->dim[1], x->dim[2], x->dim[3]}};
    else if (x->ndim == 3)
        s = (cnn_shape){3, {x->dim[1], 1, x->dim[2]}};
    else
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d; 1-D and 2-D (rank 3 and 4) "
                              "are supported", x->ndim);
    if ((*view = onnx_view(m, x->node, &s, NULL)) < 0)
        return onnx_graph_fail(m, *view);
    return CNN_OK;
}

/* Defines output 0 as node `id` (C x H x W) reshaped back to ONNX rank
 * `ndim` (rank 3: C x 1 x L -> C x L). */
static int def_spatial(imp *m, int id, int ndim)
{
    cnn_shape s;
    int64_t   dim[4] = {m->batch, 0, 0, 0};

    cnn_node_info(m->g, id, NULL, NULL, &s);
    if (ndim == 3) {
        cnn_shape v = {2, {s.dim[0], s.dim[2]}};
        if ((id = onnx_view(m, id, &v, onnx_out_name(m, 0))) < 0)
            return onnx_graph_fail(m, id);
        dim[1] = s.dim[0], dim[2] = s.dim[2];
    } else {
        dim[1] = s.dim[0], dim[2] = s.dim[1], dim[3] = s.dim[2];
    }
    return onnx_def_data(m, 0, id, ndim, dim);
}

/* Parameter k (or buffer k) of node id, which must hold n floats. */
static int param_of(imp *m, int id, int k, bool buffer, int64_t n, float **dst)
{
    cnn_shape s;
    int       rc = buffer ? cnn_node_buffer(m->g, id, k, dst, &s, NULL)
                          : cnn_node_param(m->g, id, k, dst, NULL, &s, NULL);

    if (rc < 0)
        return onnx_graph_fail(m, rc);
    if (cnn_shape_numel(&s) != n)
        return onnx_node_fail(m, CNN_EFORMAT, "%lld values for a parameter of %lld", (long long)n,
                              (long long)cnn_shape_numel(&s));
    return CNN_OK;
}

/* Copies n floats into parameter k (or buffer k) of node id. */
static int set_param(imp *m, int id, int k, bool buffer, const float *src, int64_t n)
{
    float *dst;
    int    rc = param_of(m, id, k, buffer, n, &dst);

    if (rc == CNN_OK)
        memcpy(dst, src, (size_t)n * sizeof *dst);
    return rc;
}

/* Strides, dilations and pads of a conv or pool over `sp` spatial axes
 * (the last sp of the two slots; a 1-D op leaves slot 0 at 1), with
 * auto_pad resolved against the input size. ONNX pads are [x1_begin,
 * x2_begin, x1_end, x2_end]. The caller sets the kernel first. */
typedef struct window {
    int64_t kernel[2], stride[2], dil[2], pb[2], pe[2];
} window;

static int window_attrs(imp *m, const oval *x, int sp, bool dilations, window *w)
{
    int64_t v[4];
    int     n, rc;
    char    ap[32];

    for (int d = 0; d < 2; d++)
        w->stride[d] = w->dil[d] = 1, w->pb[d] = w->pe[d] = 0;
    if ((rc = onnx_attr_ints(m, "strides", 2, 1, 1 << 16, v, &n)) < 0)
        return rc;
    if (n >= 0 && n != sp)
        return onnx_node_fail(m, CNN_EFORMAT, "strides has %d values for %d spatial axes", n, sp);
    for (int d = 0; d < n; d++)
        w->stride[2 - sp + d] = v[d];
    if ((rc = onnx_attr_ints(m, "dilations", 2, 1, 1 << 16, v, &n)) < 0)
        return rc;
    if (n >= 0 && n != sp)
        return onnx_node_fail(m, CNN_EFORMAT, "dilations has %d values for %d spatial axes", n, sp);
    for (int d = 0; d < n; d++) {
        if (!dilations && v[d] != 1)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "dilations other than 1 are supported for "
                                  "Conv only");
        w->dil[2 - sp + d] = v[d];
    }
    if ((rc = onnx_attr_ints(m, "pads", 4, 0, 1 << 20, v, &n)) < 0)
        return rc;
    if (n >= 0 && n != 2 * sp)
        return onnx_node_fail(m, CNN_EFORMAT, "pads has %d values for %d spatial axes", n, sp);
    for (int d = 0; d < sp && n > 0; d++) {
        w->pb[2 - sp + d] = v[d];
        w->pe[2 - sp + d] = v[sp + d];
    }
    if ((rc = onnx_attr_str(m, "auto_pad", "NOTSET", ap, sizeof ap)) < 0)
        return rc;
    if (strcmp(ap, "NOTSET") == 0)
        return CNN_OK;
    if (n >= 0)
        return onnx_node_fail(m, CNN_EFORMAT, "auto_pad %s with explicit pads", ap);
    if (strcmp(ap, "VALID") == 0)
        return CNN_OK;
    if (strcmp(ap, "SAME_UPPER") != 0 && strcmp(ap, "SAME_LOWER") != 0)
        return onnx_node_fail(m, CNN_EFORMAT, "auto_pad '%s', expected NOTSET, SAME_UPPER, "
                              "SAME_LOWER or VALID", ap);
    /* SAME: output = ceil(input / stride); the odd pad goes to the end
     * (UPPER) or the beginning (LOWER). */
    for (int d = 2 - sp; d < 2; d++) {
        int64_t in    = x->dim[x->ndim - 2 + d];
        int64_t out   = (in + w->stride[d] - 1) / w->stride[d];
        int64_t total = (out - 1) * w->stride[d] + (w->kernel[d] - 1) * w->dil[d] + 1 - in;
        if (total < 0)
            total = 0;
        if (total > (1 << 20))
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "auto_pad %s needs a total pad of %lld",
                                  ap, (long long)total);
        w->pb[d] = ap[5] == 'U' ? total / 2 : total - total / 2;
        w->pe[d] = total - w->pb[d];
    }
    return CNN_OK;
}

/* ==== @@CONV ==== */

static int map_conv(imp *m)
{
    static const char *const known[] = {"kernel_shape", "strides", "pads", "dilations", "group",
                                        "auto_pad", NULL};
    oval           *x, *W, *B;
    window          w;
    cnn_conv2d_attr a;
    int64_t         ks[2], group, c;
    int             n, sp, xv, id, rc;

    if ((rc = onnx_arity(m, 2, 3, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_const_in(m, 1, "the weight", true, -1, &W)) < 0 ||
        (rc = onnx_const_in(m, 2, "the bias", false, -1, &B)) < 0)
        return rc;
    sp = x->ndim - 2;
    if (sp < 1 || sp > 2)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d; 1-D and 2-D convolutions "
                              "(rank 3 and 4) are supported", x->ndim);
    if (W->ndim != x->ndim)
        return onnx_node_fail(m, CNN_EFORMAT, "weight '%s' has rank %d, the input %d", W->name,
                              W->ndim, x->ndim);
    if ((rc = onnx_attr_int(m, "group", 1, 1, 1 << 24, &group)) < 0 ||
        (rc = onnx_attr_ints(m, "kernel_shape", 2, 1, 1 << 16, ks, &n)) < 0)
        return rc;
    c = x->dim[1];
    for (int d = 0; n >= 0 && d < sp; d++)
        if (n != sp || ks[d] != W->dim[2 + d])
            return onnx_node_fail(m, CNN_EFORMAT, "kernel_shape does not match weight '%s'",
                                  W->name);
    if (W->dim[0] < 1 || W->dim[0] > (1 << 24) || W->dim[0] % group != 0 || c % group != 0 ||
        W->dim[1] != c / group)
        return onnx_node_fail(m, CNN_EFORMAT, "weight '%s' is [%lld, %lld, ...] for %lld input "
                              "channels in %lld groups; expected [M, %lld, ...] with M a multiple "
                              "of the groups", W->name, (long long)W->dim[0], (long long)W->dim[1],
                              (long long)c, (long long)group, (long long)(c / group));
    for (int d = 0; d < 2; d++)
        w.kernel[d] = d < 2 - sp ? 1 : W->dim[2 - (2 - sp) + d];
    for (int d = 2 - sp; d < 2; d++)
        if (w.kernel[d] < 1 || w.kernel[d] > (1 << 16))
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "a kernel of %lld", (long long)w.kernel[d]);
    if ((rc = window_attrs(m, x, sp, true, &w)) < 0)
        return rc;
    if (B && B->numel != W->dim[0])
        return onnx_node_fail(m, CNN_EFORMAT, "bias '%s' has %lld values for %lld output channels",
                              B->name, (long long)B->numel, (long long)W->dim[0]);
    a = cnn_conv2d_defaults((int)W->dim[0], (int)w.kernel[0], (int)w.kernel[1]);
    for (int d = 0; d < 2; d++) {
        a.stride[d]   = (int)w.stride[d];
        a.dilation[d] = (int)w.dil[d];
        a.pad[d]      = (int)w.pb[d];
        a.pad[d + 2]  = (int)w.pe[d];
    }
    a.groups = (int)group;
    a.bias   = B != NULL;
    if ((rc = spatial_view(m, x, &xv)) < 0)
        return rc;
    if ((id = cnn_conv2d(m->g, xv, &a, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    if ((rc = set_param(m, id, 0, false, W->f, W->numel)) < 0 ||
        (B && (rc = set_param(m, id, 1, false, B->f, B->numel)) < 0))
        return rc;
    return def_spatial(m, id, x->ndim);
}

/* ==== @@POOL ==== */

static int map_pool(imp *m)
{
    static const char *const known[] = {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode",
                                        "count_include_pad", "dilations", "storage_order", NULL};
    const bool      is_max = onnx_is_op(m, "MaxPool");
    oval           *x;
    window          w;
    cnn_pool2d_attr a;
    cnn_shape       out;
    int64_t         ks[2], ceil_mode, cip, order;
    int             n, sp, xv, id, rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0)
        return rc;
    if ((!is_max && onnx_attr(m->node, "storage_order")) ||
        (!is_max && onnx_attr(m->node, "dilations")) ||
        (is_max && onnx_attr(m->node, "count_include_pad")))
        return onnx_node_fail(m, CNN_EFORMAT, "an attribute of the other pooling op");
    sp = x->ndim - 2;
    if (sp < 1 || sp > 2)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d; 1-D and 2-D pooling (rank "
                              "3 and 4) are supported", x->ndim);
    if ((rc = onnx_attr_ints(m, "kernel_shape", 2, 1, 1 << 16, ks, &n)) < 0 ||
        (rc = onnx_attr_int(m, "ceil_mode", 0, 0, 1, &ceil_mode)) < 0 ||
        (rc = onnx_attr_int(m, "count_include_pad", 0, 0, 1, &cip)) < 0 ||
        (rc = onnx_attr_int(m, "storage_order", 0, 0, 1, &order)) < 0)
        return rc;
    if (n != sp)
        return onnx_node_fail(m, CNN_EFORMAT, "kernel_shape has %d values for %d spatial axes", n,
                              sp);
    for (int d = 0; d < 2; d++)
        w.kernel[d] = d < 2 - sp ? 1 : ks[d - (2 - sp)];
    if ((rc = window_attrs(m, x, sp, false, &w)) < 0)
        return rc;
    a = cnn_pool2d_defaults((int)w.kernel[0], (int)w.kernel[1]);
    a.ceil_mode         = ceil_mode != 0;
    a.count_include_pad = cip != 0;
    for (int d = 0; d < 2; d++) {
        a.stride[d] = (int)w.stride[d];
        a.pad[d]    = (int)w.pb[d];
        a.pad[d + 2] = (int)w.pe[d];
        if (w.pb[d] >= w.kernel[d] || w.pe[d] >= w.kernel[d])
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "pads %lld and %lld with a window of %lld: "
                                  "pads of a window or more are not supported", (long long)w.pb[d],
                                  (long long)w.pe[d], (long long)w.kernel[d]);
    }
    if ((rc = spatial_view(m, x, &xv)) < 0)
        return rc;
    id = is_max ? cnn_maxpool2d(m->g, xv, &a, onnx_out_name(m, 0))
                : cnn_avgpool2d(m->g, xv, &a, onnx_out_name(m, 0));
    if (id < 0)
        return onnx_graph_fail(m, id);
    /* ONNX's ceil mode keeps a last window that starts in the end padding,
     * PyTorch's (the graph's) drops it: refuse where they part. */
    cnn_node_info(m->g, id, NULL, NULL, &out);
    for (int d = 2 - sp; d < 2; d++) {
        int64_t in   = x->dim[x->ndim - 2 + d];
        int64_t span = in + w.pb[d] + w.pe[d] - w.kernel[d];
        int64_t want = (ceil_mode ? (span + w.stride[d] - 1) : span) / w.stride[d] + 1;
        if (want != out.dim[1 + d])
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "ceil_mode with a last window that starts "
                                  "in the padding (ONNX gives %lld outputs, the PyTorch rule used "
                                  "here %lld)", (long long)want, (long long)out.dim[1 + d]);
        /* A last window reaching past the end pad: counting the pads, its
         * divisor is the window clipped there for PyTorch (and ONNX from
         * opset 19) but the whole window for ONNX Runtime before: no answer
         * would be right for every producer. */
        if (!is_max && cip && ceil_mode &&
            (want - 1) * w.stride[d] - w.pb[d] + w.kernel[d] > in + w.pe[d])
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "ceil_mode with count_include_pad and a "
                                  "last window past the padding: runtimes disagree on its divisor");
    }
    return def_spatial(m, id, x->ndim);
}

static int map_global_avgpool(imp *m)
{
    static const char *const known[] = {NULL};
    oval     *x;
    cnn_shape s;
    int64_t   dim[CNN_ONNX_MAX_DIMS];
    int       id, rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0)
        return rc;
    if (x->ndim < 3)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d, expected N x C x ...",
                              x->ndim);
    /* Any spatial rank: C x 1 x (all positions). */
    s = x->ndim == 4 ? (cnn_shape){3, {x->dim[1], x->dim[2], x->dim[3]}}
                     : (cnn_shape){3, {x->dim[1], 1, onnx_prod(x->dim, 2, x->ndim)}};
    if ((id = onnx_view(m, x->node, &s, NULL)) < 0 ||
        (id = cnn_global_avgpool(m->g, id, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    for (int d = 0; d < x->ndim; d++)
        dim[d] = d < 2 ? x->dim[d] : 1;
    if ((rc = onnx_sample_shape(m, x->ndim, dim, &s)) < 0)
        return rc;
    if ((id = onnx_view(m, id, &s, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, dim);
}

/* ==== @@NORMALIZATION ==== */

static int map_batchnorm(imp *m)
{
    static const char *const known[] = {"epsilon", "momentum", "spatial", "is_test",
                                        "training_mode", NULL};
    oval     *x, *p[4];
    static const char *const what[4] = {"the scale", "the bias", "the mean", "the variance"};
    float     eps, mom;
    int64_t   spatial, training;
    cnn_shape s;
    int       id, rc;

    if ((rc = onnx_arity(m, 5, 5, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_attr_float(m, "epsilon", 1e-5f, &eps)) < 0 ||
        (rc = onnx_attr_float(m, "momentum", 0.9f, &mom)) < 0 ||
        (rc = onnx_attr_int(m, "spatial", 1, 1, 1, &spatial)) < 0 ||
        (rc = onnx_attr_int(m, "training_mode", 0, 0, 0, &training)) < 0)
        return rc;
    if (x->ndim < 2)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d, expected N x C x ...",
                              x->ndim);
    for (int k = 0; k < 4; k++)
        if ((rc = onnx_const_in(m, 1 + k, what[k], true, x->dim[1], &p[k])) < 0)
            return rc;
    if (!(eps > 0.0f) || !(mom >= 0.0f && mom <= 1.0f))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "epsilon %g and momentum %g: expected "
                              "epsilon > 0 and momentum in [0, 1]", (double)eps, (double)mom);
    /* C, or C x H x W, or C x 1 x (positions) for other ranks. */
    s = x->ndim == 2   ? (cnn_shape){1, {x->dim[1]}}
        : x->ndim == 4 ? (cnn_shape){3, {x->dim[1], x->dim[2], x->dim[3]}}
                       : (cnn_shape){3, {x->dim[1], 1, onnx_prod(x->dim, 2, x->ndim)}};
    /* ONNX's running = momentum * running + (1 - momentum) * batch is
     * PyTorch's with momentum 1 - m (only training reads it). */
    if ((id = onnx_view(m, x->node, &s, NULL)) < 0 ||
        (id = cnn_batchnorm2d(m->g, id, eps, 1.0f - mom, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    for (int k = 0; k < 4; k++)
        if ((rc = set_param(m, id, k % 2, k >= 2, p[k]->f, p[k]->numel)) < 0)
            return rc;
    if ((rc = onnx_sample_shape(m, x->ndim, x->dim, &s)) < 0)
        return rc;
    if ((id = onnx_view(m, id, &s, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

static int map_lrn(imp *m)
{
    static const char *const known[] = {"alpha", "beta", "bias", "size", NULL};
    oval   *x;
    float   alpha, beta, bias;
    int64_t size;
    int     id, rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_attr_float(m, "alpha", 1e-4f, &alpha)) < 0 ||
        (rc = onnx_attr_float(m, "beta", 0.75f, &beta)) < 0 ||
        (rc = onnx_attr_float(m, "bias", 1.0f, &bias)) < 0 ||
        (rc = onnx_attr_int(m, "size", 0, 1, 1 << 16, &size)) < 0)
        return rc;
    if (!onnx_attr(m->node, "size"))
        return onnx_node_fail(m, CNN_EFORMAT, "attribute size is missing");
    if (x->ndim < 2)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "input of rank %d, expected N x C x ...",
                              x->ndim);
    /* The per-sample shape is C x ...: the channels come first already. */
    if ((id = cnn_lrn(m->g, x->node, (int)size, alpha, beta, bias, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id == CNN_EINVAL ? CNN_EUNSUPPORTED : id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

/* ==== @@ELEMENTWISE ==== */

static int map_unary(imp *m)
{
    static const char *const none[] = {NULL}, *const leaky[] = {"alpha", NULL};
    const bool is_leaky = onnx_is_op(m, "LeakyRelu");
    oval      *x;
    float      alpha;
    int        id, rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 ||
        (rc = onnx_attrs_known(m, is_leaky ? leaky : none)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 || (rc = onnx_attr_float(m, "alpha", 0.01f, &alpha)) < 0)
        return rc;
    const char *name = onnx_out_name(m, 0);
    id = is_leaky              ? cnn_leaky_relu(m->g, x->node, alpha, name)
         : onnx_is_op(m, "Relu")    ? cnn_relu(m->g, x->node, name)
         : onnx_is_op(m, "Sigmoid") ? cnn_sigmoid(m->g, x->node, name)
                               : cnn_tanh(m->g, x->node, name);
    if (id < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

static int map_clip(imp *m)
{
    static const char *const old[] = {"min", "max", NULL}, *const none[] = {NULL};
    oval *x;
    float lo, hi;
    int   id, rc;

    /* Opset 11 moved the bounds from attributes to inputs; missing ones are
     * the float range, as ONNX defines them. */
    if ((rc = onnx_arity(m, 1, m->opset < 11 ? 1 : 3, 1)) < 0 ||
        (rc = onnx_attrs_known(m, m->opset < 11 ? old : none)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 || (rc = onnx_attr_float(m, "min", -FLT_MAX, &lo)) < 0 ||
        (rc = onnx_attr_float(m, "max", FLT_MAX, &hi)) < 0 ||
        (m->opset >= 11 && ((rc = onnx_scalar_in(m, 1, "min", -FLT_MAX, &lo)) < 0 ||
                            (rc = onnx_scalar_in(m, 2, "max", FLT_MAX, &hi)) < 0)))
        return rc;
    if ((id = cnn_clip(m->g, x->node, lo, hi, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id == CNN_EINVAL ? CNN_EUNSUPPORTED : id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

/* A constant operand made a graph node of per-sample shape *s: learned
 * (trainable) when it came from an initializer, frozen otherwise. */
static int constant_node(imp *m, const oval *c, const cnn_shape *s, int *id)
{
    int rc;

    if (!c->f)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "constant '%s' holds integers, expected FLOAT",
                              c->name);
    if ((*id = cnn_constant(m->g, s, NULL)) < 0)
        return onnx_graph_fail(m, *id);
    if ((rc = set_param(m, *id, 0, false, c->f, c->numel)) < 0)
        return rc;
    if (!c->learned)
        cnn_node_set_trainable(m->g, *id, false);
    return CNN_OK;
}

/* Whether an operand takes part as data. A fed graph input is a constant
 * when it cannot carry the batch: another rank than the data operand, or a
 * dim 0 other than the batch. */
static bool operand_is_data(const imp *m, const oval *v, int data_ndim)
{
    if (v->kind == V_DATA)
        return true;
    if (v->kind != V_INPUT)
        return false;
    if (!v->f && !v->i)
        return true;
    return v->is_float && v->ndim == data_ndim && v->ndim >= 1 && v->dim[0] == m->batch &&
           m->batch >= 0;
}

/* Which of the n operands sets the rank of the data: one computed by the
 * graph, else a graph input without a value (it must be data), else a fed
 * input that can carry the batch. -1 when all are constants. */
static int pick_data(const imp *m, oval *const *v, int n)
{
    for (int k = 0; k < n; k++)
        if (v[k]->kind == V_DATA)
            return k;
    for (int k = 0; k < n; k++)
        if (v[k]->kind == V_INPUT && !v[k]->f && !v[k]->i)
            return k;
    for (int k = 0; k < n; k++)
        if (operand_is_data(m, v[k], v[k]->ndim))
            return k;
    return -1;
}

/* A constant's per-sample shape beside data of rank `ndim`: its own dims
 * when of lower rank (broadcast, aligned to the right), else its dims past
 * a dim 0 of 1. */
static int constant_shape(imp *m, const oval *c, int ndim, cnn_shape *s)
{
    int from = c->ndim < ndim ? 0 : 1;

    if (c->ndim > ndim || (c->ndim == ndim && c->dim[0] != 1))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "constant '%s' varies along the batch dim (or "
                              "has a higher rank than the data)", c->name);
    if (c->ndim - from > 4)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "constant '%s' has more than 4 dims per sample",
                              c->name);
    s->ndim = 0;
    for (int d = from; d < c->ndim; d++)
        s->dim[s->ndim++] = c->dim[d];
    if (s->ndim == 0)
        *s = (cnn_shape){1, {1}};
    for (int d = 0; d < s->ndim; d++)
        if (s->dim[d] < 1)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "constant '%s' is empty", c->name);
    return CNN_OK;
}

/* Whether per-sample shape b broadcasts to a (as cnn_add / cnn_mul need). */
static bool broadcasts(const cnn_shape *b, const cnn_shape *a)
{
    const int off = a->ndim - b->ndim;
    bool      ok  = off >= 0;
    for (int d = 0; ok && d < b->ndim; d++)
        ok = b->dim[d] == a->dim[off + d] || b->dim[d] == 1;
    return ok;
}

/* Add, Mul: NumPy broadcasting, per sample. Both operands data of the same
 * rank, or one data and one constant that does not vary along the batch. */
static int map_binary(imp *m)
{
    static const char *const known[] = {"broadcast", NULL};
    oval     *v[2];
    int       id[2], out, rc, ndim, data_k = -1;
    cnn_shape s[2];
    int64_t   dim[CNN_ONNX_MAX_DIMS];

    /* Opset 6's `axis` (legacy broadcasting) is refused with the other
     * unknown attributes; `broadcast` alone means NumPy's rules. */
    if ((rc = onnx_arity(m, 2, 2, 1)) < 0 ||
        (rc = onnx_attrs_known(m, m->opset < 7 ? known : known + 1)) < 0 ||
        (rc = onnx_in(m, 0, &v[0])) < 0 || (rc = onnx_in(m, 1, &v[1])) < 0)
        return rc;
    if (!v[0] || !v[1])
        return onnx_node_fail(m, CNN_EFORMAT, "an input is missing");
    if ((data_k = pick_data(m, v, 2)) < 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "both operands are constants; constant folding "
                              "is not supported");
    ndim = v[data_k]->ndim;
    for (int k = 0; k < 2; k++) {
        if (k == data_k || operand_is_data(m, v[k], ndim)) {
            if ((id[k] = onnx_as_data(m, v[k])) < 0)
                return id[k];
            if (v[k]->ndim != ndim)
                return onnx_node_fail(m, CNN_EUNSUPPORTED, "data operands of rank %d and %d: "
                                      "broadcasting would align the batch with another dim",
                                      ndim, v[k]->ndim);
            cnn_node_info(m->g, id[k], NULL, NULL, &s[k]);
        } else {
            if ((rc = onnx_as_const(m, v[k], "the operand")) < 0 ||
                (rc = constant_shape(m, v[k], ndim, &s[k])) < 0 ||
                (rc = constant_node(m, v[k], &s[k], &id[k])) < 0)
                return rc;
        }
    }
    /* The graph broadcasts its second input into the first: swap if need be
     * (both ops commute). */
    int a = 0, b = 1;
    if (!broadcasts(&s[1], &s[0])) {
        a = 1, b = 0;
        if (!broadcasts(&s[0], &s[1]))
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "operands that broadcast both ways (or not "
                                  "at all)");
    }
    out = onnx_is_op(m, "Add") ? cnn_add(m->g, id[a], id[b], onnx_out_name(m, 0))
                          : cnn_mul(m->g, id[a], id[b], onnx_out_name(m, 0));
    if (out < 0)
        return onnx_graph_fail(m, out);
    dim[0] = m->batch;
    for (int d = 1; d < ndim; d++)
        dim[d] = s[a].dim[d - 1 - (ndim - 1 - s[a].ndim)];
    return onnx_def_data(m, 0, out, ndim, dim);
}

/* ==== @@LINEAR ==== */

/* Gemm: Y = alpha A op(B) + beta C, with A the data [N, K] and B, C
 * constants: a linear layer of weight alpha op(B)^T and bias beta C. */
static int map_gemm(imp *m)
{
    /* `broadcast` is opset 6's; later C always broadcasts. */
    static const char *const known6[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};
    static const char *const known[]  = {"alpha", "beta", "transA", "transB", NULL};
    oval   *a, *B, *C = NULL;
    float   alpha, beta, *w, *bias;
    int64_t ta, tb, bc, K, M;
    int     id, rc;

    if ((rc = onnx_arity(m, 2, 3, 1)) < 0 ||
        (rc = onnx_attrs_known(m, m->opset < 7 ? known6 : known)) < 0 ||
        (rc = onnx_attr_float(m, "alpha", 1.0f, &alpha)) < 0 ||
        (rc = onnx_attr_float(m, "beta", 1.0f, &beta)) < 0 ||
        (rc = onnx_attr_int(m, "transA", 0, 0, 1, &ta)) < 0 ||
        (rc = onnx_attr_int(m, "transB", 0, 0, 1, &tb)) < 0 ||
        (rc = onnx_attr_int(m, "broadcast", 1, 0, 1, &bc)) < 0 ||
        (rc = onnx_data_in(m, 0, &a)) < 0 || (rc = onnx_const_in(m, 1, "B", true, -1, &B)) < 0 ||
        (rc = onnx_const_in(m, 2, "C", false, -1, &C)) < 0)
        return rc;
    if (ta)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "transA = 1 would mix the samples of the batch");
    if (a->ndim != 2 || B->ndim != 2)
        return onnx_node_fail(m, CNN_EFORMAT, "A of rank %d and B of rank %d, expected 2 and 2",
                              a->ndim, B->ndim);
    K = a->dim[1];
    M = tb ? B->dim[0] : B->dim[1];
    if ((tb ? B->dim[1] : B->dim[0]) != K || M < 1 || M > (1 << 24))
        return onnx_node_fail(m, CNN_EFORMAT, "B '%s' is [%lld, %lld] for A [N, %lld] (transB "
                              "%lld)", B->name, (long long)B->dim[0], (long long)B->dim[1],
                              (long long)K, (long long)tb);
    /* C broadcasts to [N, M]; it must not vary along N. */
    if (C && !(C->numel == 1 || C->numel == M))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "C '%s' has %lld values: only C the same for "
                              "every sample (1 or M = %lld values) is supported", C->name,
                              (long long)C->numel, (long long)M);
    if (C && C->ndim == 2 && C->dim[1] != M && !(C->dim[1] == 1 && C->numel == 1))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "C '%s' of shape [%lld, %lld]", C->name,
                              (long long)C->dim[0], (long long)C->dim[1]);
    if ((id = cnn_linear(m->g, a->node, (int)M, C != NULL, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    if ((rc = param_of(m, id, 0, false, M * K, &w)) < 0)
        return rc;
    for (int64_t o = 0; o < M; o++)
        for (int64_t k = 0; k < K; k++)
            w[o * K + k] = alpha * (tb ? B->f[o * K + k] : B->f[k * M + o]);
    if (C) {
        if ((rc = param_of(m, id, 1, false, M, &bias)) < 0)
            return rc;
        for (int64_t o = 0; o < M; o++)
            bias[o] = beta * C->f[C->numel == 1 ? 0 : o];
    }
    return onnx_def_data(m, 0, id, 2, (int64_t[]){m->batch, M});
}

/* MatMul of data A [N, K] by a constant B [K, M]: linear without bias. */
static int map_matmul(imp *m)
{
    static const char *const known[] = {NULL};
    oval   *a, *B;
    float  *w;
    int64_t K, M;
    int     id, rc;

    if ((rc = onnx_arity(m, 2, 2, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &a)) < 0 || (rc = onnx_const_in(m, 1, "B", true, -1, &B)) < 0)
        return rc;
    if (a->ndim != 2 || B->ndim != 2)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "A of rank %d by B of rank %d: only data [N, K] "
                              "by a constant [K, M] is supported", a->ndim, B->ndim);
    K = a->dim[1];
    M = B->dim[1];
    if (B->dim[0] != K || M < 1 || M > (1 << 24))
        return onnx_node_fail(m, CNN_EFORMAT, "B '%s' is [%lld, %lld] for A [N, %lld]", B->name,
                              (long long)B->dim[0], (long long)M, (long long)K);
    if ((id = cnn_linear(m->g, a->node, (int)M, false, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    if ((rc = param_of(m, id, 0, false, M * K, &w)) < 0)
        return rc;
    for (int64_t o = 0; o < M; o++)
        for (int64_t k = 0; k < K; k++)
            w[o * K + k] = B->f[k * M + o];
    return onnx_def_data(m, 0, id, 2, (int64_t[]){m->batch, M});
}

/* ==== @@CONCAT ==== */

static int map_concat(imp *m)
{
    static const char *const known[] = {"axis", NULL};
    const int n = (int)m->node->n_input;
    int       ids[64], data_k = -1, id, rc;
    oval     *v[64];
    int64_t   axis, total = 0, dim[CNN_ONNX_MAX_DIMS];
    cnn_shape s;

    if ((rc = onnx_arity(m, 1, 64, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0)
        return rc;
    for (int k = 0; k < n; k++) {
        if ((rc = onnx_in(m, k, &v[k])) < 0)
            return rc;
        if (!v[k])
            return onnx_node_fail(m, CNN_EFORMAT, "input %d is missing", k);
    }
    if ((data_k = pick_data(m, v, n)) < 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "all inputs are constants; constant folding is "
                              "not supported");
    const int r = v[data_k]->ndim;
    if (!onnx_attr(m->node, "axis"))
        return onnx_node_fail(m, CNN_EFORMAT, "attribute axis is missing");
    if ((rc = onnx_attr_int(m, "axis", 0, -r, r - 1, &axis)) < 0)
        return rc;
    if (axis < 0)
        axis += r;
    if (axis == 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "axis 0 is the batch");
    /* The graph concatenates along the first per-sample dim: dims before the
     * axis must all be 1, and each input is seen as [d(axis), rest]. */
    memcpy(dim, v[data_k]->dim, sizeof dim);
    if (onnx_prod(dim, 1, (int)axis) != 1)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "axis %lld with dims before it other than 1",
                              (long long)axis);
    for (int k = 0; k < n; k++) {
        if (v[k]->ndim != r)
            return onnx_node_fail(m, CNN_EFORMAT, "inputs of rank %d and %d", r, v[k]->ndim);
        for (int d = 1; d < r; d++)
            if (d != axis && v[k]->dim[d] != dim[d])
                return onnx_node_fail(m, CNN_EFORMAT, "input '%s' differs in dim %d", v[k]->name,
                                      d);
        if (operand_is_data(m, v[k], r)) {
            if ((id = onnx_as_data(m, v[k])) < 0)
                return id;
        } else {
            cnn_shape cs;
            if ((rc = onnx_as_const(m, v[k], "the input")) < 0 ||
                (rc = constant_shape(m, v[k], r, &cs)) < 0 ||
                (rc = constant_node(m, v[k], &cs, &id)) < 0)
                return rc;
        }
        /* [1 ... 1, d(axis), rest...] -> [d(axis), rest...] */
        cnn_shape t = {0, {0}};
        for (int d = (int)axis; d < r && t.ndim < 4; d++)
            t.dim[t.ndim++] = v[k]->dim[d];
        if (r - axis > 4)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "more than 4 dims per sample");
        if ((ids[k] = onnx_view(m, id, &t, NULL)) < 0)
            return onnx_graph_fail(m, ids[k]);
        total += v[k]->dim[axis];
    }
    if ((id = cnn_concat(m->g, ids, n, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    dim[axis] = total;
    dim[0]    = m->batch;
    if ((rc = onnx_sample_shape(m, r, dim, &s)) < 0)
        return rc;
    if ((id = onnx_view(m, id, &s, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, r, dim);
}

/* ==== @@TABLE ==== */

static const struct {
    const char *op;
    int (*map)(imp *m);
} ops[] = {
    {"Conv", map_conv},
    {"MaxPool", map_pool},
    {"AveragePool", map_pool},
    {"GlobalAveragePool", map_global_avgpool},
    {"BatchNormalization", map_batchnorm},
    {"LRN", map_lrn},
    {"Relu", map_unary},
    {"LeakyRelu", map_unary},
    {"Sigmoid", map_unary},
    {"Tanh", map_unary},
    {"Clip", map_clip},
    {"Add", map_binary},
    {"Mul", map_binary},
    {"Gemm", map_gemm},
    {"MatMul", map_matmul},
    {"Flatten", onnx_map_flatten},
    {"Reshape", onnx_map_reshape},
    {"Squeeze", onnx_map_squeeze},
    {"Unsqueeze", onnx_map_squeeze},
    {"Concat", map_concat},
    {"Pad", onnx_map_pad},
    {"Softmax", onnx_map_softmax},
    {"LogSoftmax", onnx_map_softmax},
    {"Identity", onnx_map_identity},
    {"Dropout", onnx_map_dropout},
    {"Constant", onnx_map_constant},
};

int onnx_map_node(imp *m)
{
    const char *dom = onnx_str(m->node->domain);

    if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0)
        for (int i = 0; i < ARRAY_N(ops); i++)
            if (strcmp(ops[i].op, onnx_op_type(m)) == 0)
                return ops[i].map(m);
    return onnx_unsupported_op(m);
}

#endif /* CNN_HAVE_ONNX */
