/* onnx_shape_ops.c - the ONNX ops that move or rename data rather than
 * compute (Flatten, Reshape, Squeeze, Unsqueeze, Pad, Identity, Dropout,
 * Constant) and Softmax / LogSoftmax, whose axes are all about shapes.
 * The rules are onnx_ops.c's: dim 0 is the batch and stays apart. */
#ifdef CNN_HAVE_ONNX

#include "onnx_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== @@SHAPES ==== */

/* Output 0 as x's elements in ONNX shape (ndim, dim), dim[0] the batch. */
static int def_reshaped(imp *m, const oval *x, int ndim, const int64_t *dim)
{
    cnn_shape s;
    int       id, rc;

    for (int d = 1; d < ndim; d++)
        if (dim[d] < 1)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "an empty output (dim %d is %lld)", d,
                                  (long long)dim[d]);
    if ((rc = onnx_sample_shape(m, ndim, dim, &s)) < 0)
        return rc;
    if ((id = onnx_view(m, x->node, &s, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, ndim, dim);
}

int onnx_map_flatten(imp *m)
{
    static const char *const known[] = {"axis", NULL};
    oval   *x;
    int64_t axis;
    int     rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_attr_int(m, "axis", 1, -x->ndim, x->ndim, &axis)) < 0)
        return rc;
    if (axis < 0)
        axis += x->ndim;
    /* [d0 ... d(axis-1), d(axis) ...] -> [N * (d1 ... d(axis-1)), rest]:
     * the samples stay apart only when the middle product is 1. */
    if (axis == 0 || onnx_prod(x->dim, 1, (int)axis) != 1)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "axis %lld would mix the samples of the batch "
                              "(only axis 1, or dims of 1 before the axis, keep them apart)",
                              (long long)axis);
    return def_reshaped(m, x, 2, (int64_t[]){m->batch, onnx_prod(x->dim, (int)axis, x->ndim)});
}

int onnx_map_reshape(imp *m)
{
    static const char *const known[] = {"allowzero", NULL};
    oval   *x, *sh;
    int64_t allowzero, out[CNN_ONNX_MAX_DIMS], known_prod = 1, per = 1;
    int     q, infer = -1, rc;

    if ((rc = onnx_arity(m, 2, 2, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_attr_int(m, "allowzero", 0, 0, 1, &allowzero)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 || (rc = onnx_ints_in(m, 1, "the shape", &sh)) < 0)
        return rc;
    if (!sh)
        return onnx_node_fail(m, CNN_EFORMAT, "the shape (input 1) is missing");
    if (sh->ndim != 1 || sh->numel < 1 || sh->numel > CNN_ONNX_MAX_DIMS)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "shape '%s' has %lld values, supported 1 to %d",
                              sh->name, (long long)sh->numel, CNN_ONNX_MAX_DIMS);
    q   = (int)sh->numel;
    per = onnx_prod(x->dim, 1, x->ndim);
    for (int d = 0; d < q; d++) {
        int64_t v = sh->i[d];
        if (v == 0 && allowzero)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "an empty output (allowzero with a 0)");
        if (v == 0 && d >= x->ndim)
            return onnx_node_fail(m, CNN_EFORMAT, "shape[%d] = 0 copies a dim the input lacks", d);
        if (v < -1 || (v == -1 && infer >= 0))
            return onnx_node_fail(m, CNN_EFORMAT, "shape '%s' holds %lld at %d (expected sizes, "
                                  "one -1 at most, or 0)", sh->name, (long long)v, d);
        if (v == -1)
            infer = d;
        out[d] = v == 0 ? x->dim[d] : v;
        if (d > 0 && v != -1 && (out[d] < 1 || cnn_size_mul(known_prod, out[d], &known_prod) < 0))
            return onnx_node_fail(m, CNN_EFORMAT, "shape '%s' holds %lld at %d", sh->name,
                                  (long long)out[d], d);
    }
    /* Dim 0 must stay the batch: copied (0), inferred from the rest (-1),
     * or the batch size itself. */
    if (infer == 0) {
        if (known_prod != per)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "shape with -1 first and %lld elements per "
                                  "sample (the input has %lld) would mix the samples",
                                  (long long)known_prod, (long long)per);
    } else {
        if (sh->i[0] != 0 && !(m->batch >= 0 && sh->i[0] == m->batch))
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "a leading dim of %lld: only 0, -1 or the "
                                  "batch size keep the samples apart", (long long)sh->i[0]);
        if (infer > 0) {
            if (known_prod == 0 || per % known_prod != 0)
                return onnx_node_fail(m, CNN_EFORMAT, "cannot reshape %lld elements per sample "
                                      "into shape '%s'", (long long)per, sh->name);
            out[infer] = per / known_prod;
        } else if (known_prod != per) {
            return onnx_node_fail(m, CNN_EFORMAT, "cannot reshape %lld elements per sample into "
                                  "%lld (shape '%s')", (long long)per, (long long)known_prod,
                                  sh->name);
        }
    }
    out[0] = m->batch;
    return def_reshaped(m, x, q, out);
}

/* Axes from the attribute (before opset 13) or input 1, made non-negative
 * against `rank`. */
static int axes_of(imp *m, int rank, int64_t *axes, int *n)
{
    oval *v = NULL;
    int   rc;

    if (m->opset < 13) {
        if ((rc = onnx_attr_ints(m, "axes", CNN_ONNX_MAX_DIMS, -rank, rank - 1, axes, n)) < 0)
            return rc;
    } else {
        if ((rc = onnx_ints_in(m, 1, "the axes", &v)) < 0)
            return rc;
        *n = -1;
        if (v) {
            if (v->numel > CNN_ONNX_MAX_DIMS)
                return onnx_node_fail(m, CNN_EUNSUPPORTED, "%lld axes", (long long)v->numel);
            *n = (int)v->numel;
            for (int k = 0; k < *n; k++) {
                if (v->i[k] < -rank || v->i[k] >= rank)
                    return onnx_node_fail(m, CNN_EFORMAT, "axis %lld for rank %d",
                                          (long long)v->i[k], rank);
                axes[k] = v->i[k];
            }
        }
    }
    for (int k = 0; k < *n; k++) {
        if (axes[k] < 0)
            axes[k] += rank;
        for (int j = 0; j < k; j++)
            if (axes[j] == axes[k])
                return onnx_node_fail(m, CNN_EFORMAT, "axis %lld given twice", (long long)axes[k]);
    }
    return CNN_OK;
}

int onnx_map_squeeze(imp *m)
{
    static const char *const attrs[] = {"axes", NULL}, *const none[] = {NULL};
    const bool is_un = onnx_is_op(m, "Unsqueeze");
    oval      *x;
    int64_t    axes[CNN_ONNX_MAX_DIMS], dim[CNN_ONNX_MAX_DIMS];
    int        n, rank, rc;
    bool       listed[CNN_ONNX_MAX_DIMS] = {false};

    if ((rc = onnx_arity(m, 1, m->opset < 13 ? 1 : 2, 1)) < 0 ||
        (rc = onnx_attrs_known(m, m->opset < 13 ? attrs : none)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0)
        return rc;
    rank = x->ndim;
    if (is_un) { /* Unsqueeze's axes count in the output */
        const Onnx__AttributeProto *a = onnx_attr(m->node, "axes");
        oval                       *v = NULL;
        int64_t                     na = m->opset < 13 && a ? (int64_t)a->n_ints : 0;
        if (m->opset >= 13 && (rc = onnx_ints_in(m, 1, "the axes", &v)) < 0)
            return rc;
        if (v)
            na = v->numel;
        if (x->ndim + na > CNN_ONNX_MAX_DIMS)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "an output of rank %lld",
                                  (long long)(x->ndim + na));
        rank = x->ndim + (int)na;
    }
    if ((rc = axes_of(m, rank, axes, &n)) < 0)
        return rc;
    if (is_un && n < 1)
        return onnx_node_fail(m, CNN_EFORMAT, "no axes");
    for (int k = 0; k < n; k++) {
        listed[axes[k]] = true;
        if (axes[k] == 0)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "axis 0 is the batch");
    }
    if (is_un) {
        for (int d = 0, s = 0; d < rank; d++)
            dim[d] = listed[d] ? 1 : x->dim[s++];
        return def_reshaped(m, x, rank, dim);
    }
    /* Squeeze without axes drops every dim of 1, the batch's too when it is
     * (or may be) 1. */
    if (n < 0 && (m->batch == 1 || m->batch < 0))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "without axes it would drop a batch dim of 1");
    int q = 0;
    for (int d = 0; d < x->ndim; d++) {
        bool drop = n < 0 ? (d > 0 && x->dim[d] == 1) : listed[d];
        if (drop && x->dim[d] != 1)
            return onnx_node_fail(m, CNN_EFORMAT, "axis %d has size %lld, not 1", d,
                                  (long long)x->dim[d]);
        if (!drop)
            dim[q++] = x->dim[d];
    }
    return def_reshaped(m, x, q, dim);
}

int onnx_map_pad(imp *m)
{
    static const char *const old[] = {"mode", "pads", "value", NULL}, *const now[] = {"mode", NULL};
    oval   *x, *pv = NULL;
    int64_t pads[2 * CNN_ONNX_MAX_DIMS], dim[CNN_ONNX_MAX_DIMS];
    int     begin[4], end[4], n, id, rc;
    float   value;
    char    mode[32];

    if ((rc = onnx_arity(m, 1, m->opset < 11 ? 1 : 3, 1)) < 0 ||
        (rc = onnx_attrs_known(m, m->opset < 11 ? old : now)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_attr_str(m, "mode", "constant", mode, sizeof mode)) < 0)
        return rc;
    if (strcmp(mode, "constant") != 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "mode '%s': only constant padding is supported",
                              mode);
    if (m->opset < 11) {
        if ((rc = onnx_attr_ints(m, "pads", 2 * CNN_ONNX_MAX_DIMS, -(1 << 24), 1 << 24, pads,
                                 &n)) < 0 ||
            (rc = onnx_attr_float(m, "value", 0.0f, &value)) < 0)
            return rc;
    } else {
        if ((rc = onnx_ints_in(m, 1, "the pads", &pv)) < 0 ||
            (rc = onnx_scalar_in(m, 2, "the value", 0.0f, &value)) < 0)
            return rc;
        if (pv && pv->numel > 2 * CNN_ONNX_MAX_DIMS)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "%lld pads", (long long)pv->numel);
        n = pv ? (int)pv->numel : -1;
        for (int k = 0; k < n; k++) {
            if (pv->i[k] < -(1 << 24) || pv->i[k] > (1 << 24))
                return onnx_node_fail(m, CNN_EUNSUPPORTED, "a pad of %lld", (long long)pv->i[k]);
            pads[k] = pv->i[k];
        }
    }
    if (n != 2 * x->ndim)
        return onnx_node_fail(m, CNN_EFORMAT, "%d pads for an input of rank %d", n, x->ndim);
    if (pads[0] != 0 || pads[x->ndim] != 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "padding the batch dim");
    if (!isfinite(value))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "a pad value of %g", (double)value);
    if (x->ndim < 2) /* nothing but the batch: nothing to pad */
        return onnx_def_alias(m, 0, x);
    dim[0] = m->batch;
    for (int d = 1; d < x->ndim; d++) {
        begin[d - 1] = (int)pads[d];
        end[d - 1]   = (int)pads[x->ndim + d];
        dim[d]       = x->dim[d] + pads[d] + pads[x->ndim + d];
        if (dim[d] < 1)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "pads that leave nothing of dim %d", d);
    }
    if ((id = cnn_pad(m->g, x->node, begin, end, value, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, dim);
}

/* ==== @@SOFTMAX ==== */

/* Softmax, LogSoftmax. Before opset 13 the input is coerced to 2-D at the
 * axis (default 1): the softmax runs over all dims from the axis on; from
 * opset 13 over the one axis (default -1). */
int onnx_map_softmax(imp *m)
{
    static const char *const known[] = {"axis", NULL};
    const bool log = onnx_is_op(m, "LogSoftmax");
    oval      *x;
    int64_t    axis;
    cnn_shape  s, back;
    int        id, rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 ||
        (rc = onnx_attr_int(m, "axis", m->opset < 13 ? 1 : -1, -x->ndim, x->ndim - 1, &axis)) < 0)
        return rc;
    if (axis < 0)
        axis += x->ndim;
    if (axis == 0)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "axis 0 is the batch");
    /* Per sample [d1 .. d(axis-1), (the softmax dims), ...]. */
    s = onnx_merged(x->ndim, x->dim, (int)axis, m->opset < 13 ? x->ndim : (int)axis + 1);
    if ((rc = onnx_sample_shape(m, x->ndim, x->dim, &back)) < 0)
        return rc;
    if (s.ndim > 4)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "more than 4 dims per sample");
    if ((id = onnx_view(m, x->node, &s, NULL)) < 0)
        return onnx_graph_fail(m, id);
    id = log ? cnn_log_softmax(m->g, id, (int)axis - 1, onnx_out_name(m, 0))
             : cnn_softmax_axis(m->g, id, (int)axis - 1, onnx_out_name(m, 0));
    if (id < 0 || (id = onnx_view(m, id, &back, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

/* ==== @@PASSING ==== */

int onnx_map_identity(imp *m)
{
    static const char *const known[] = {NULL};
    oval *x;
    int   rc;

    if ((rc = onnx_arity(m, 1, 1, 1)) < 0 || (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_in(m, 0, &x)) < 0)
        return rc;
    if (!x)
        return onnx_node_fail(m, CNN_EFORMAT, "input 0 is missing");
    return onnx_def_alias(m, 0, x);
}

/* Dropout in inference is the identity; it becomes a dropout node (the
 * identity in eval mode, dropout again when the imported model is
 * trained). Its mask output is not computed. */
int onnx_map_dropout(imp *m)
{
    static const char *const known[] = {"ratio", "is_test", "seed", NULL};
    oval   *x, *t;
    float   ratio;
    int64_t is_test;
    int     id, rc;

    if ((rc = onnx_arity(m, 1, m->opset < 12 ? 1 : 3, 1)) < 0 ||
        (rc = onnx_attrs_known(m, known)) < 0 ||
        (rc = onnx_data_in(m, 0, &x)) < 0 || (rc = onnx_attr_float(m, "ratio", 0.5f, &ratio)) < 0 ||
        (rc = onnx_attr_int(m, "is_test", 0, 0, 1, &is_test)) < 0 ||
        (m->opset >= 12 && (rc = onnx_scalar_in(m, 1, "the ratio", ratio, &ratio)) < 0) ||
        (rc = onnx_ints_in(m, 2, "training_mode", &t)) < 0)
        return rc;
    if (t && (t->numel != 1 || t->i[0] != 0))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "training_mode: only inference is supported");
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return onnx_def_alias(m, 0, x);
    if ((id = cnn_dropout(m->g, x->node, ratio, onnx_out_name(m, 0))) < 0)
        return onnx_graph_fail(m, id);
    return onnx_def_data(m, 0, id, x->ndim, x->dim);
}

int onnx_map_constant(imp *m)
{
    const Onnx__AttributeProto *a;
    cnn_onnx_tensor             t = {0};
    char                        w[200];
    int                         rc;

    if ((rc = onnx_arity(m, 0, 0, 1)) < 0)
        return rc;
    if (m->node->n_attribute != 1)
        return onnx_node_fail(m, CNN_EFORMAT, "%zu attributes, expected one value",
                              m->node->n_attribute);
    a = m->node->attribute[0];
    snprintf(w, sizeof w, "the value of Constant '%s'", onnx_node_label(m->node));
    if (strcmp(onnx_str(a->name), "value") == 0) {
        if (!a->t)
            return onnx_node_fail(m, CNN_EFORMAT, "attribute value holds no tensor");
        if ((rc = onnx_tensor_read(m->file, w, a->t, true, &t)) < 0)
            return rc;
    } else if (strcmp(onnx_str(a->name), "value_float") == 0 ||
               strcmp(onnx_str(a->name), "value_floats") == 0) {
        bool one = a->name[11] == '\0';
        t.ndim   = one ? 0 : 1;
        t.numel  = one ? 1 : (int64_t)a->n_floats;
        t.dim[0] = t.numel;
        if (!(t.data = malloc((size_t)(t.numel ? t.numel : 1) * sizeof *t.data)))
            return cnn_fail(CNN_ENOMEM, "%s: out of memory", m->file);
        for (int64_t k = 0; k < t.numel; k++)
            t.data[k] = one ? a->f : a->floats[k];
    } else if (strcmp(onnx_str(a->name), "value_int") == 0 ||
               strcmp(onnx_str(a->name), "value_ints") == 0) {
        bool one = a->name[9] == '\0';
        t.ndim   = one ? 0 : 1;
        t.numel  = one ? 1 : (int64_t)a->n_ints;
        t.dim[0] = t.numel;
        if (!(t.ints = malloc((size_t)(t.numel ? t.numel : 1) * sizeof *t.ints)))
            return cnn_fail(CNN_ENOMEM, "%s: out of memory", m->file);
        for (int64_t k = 0; k < t.numel; k++)
            t.ints[k] = one ? a->i : a->ints[k];
    } else {
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute '%s' is not supported",
                              onnx_str(a->name));
    }
    return onnx_def_const(m, 0, &t);
}

#endif /* CNN_HAVE_ONNX */
