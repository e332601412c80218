/* onnx.c - ONNX import: the model file (parsed by onnx_tensor.c through
 * protobuf-c's generated code), the table of values, attributes, graph
 * inputs and outputs, and the walk over the nodes, each mapped by
 * onnx_ops.c or onnx_shape_ops.c. Without protobuf-c the public functions
 * only say that the build has no ONNX support. */
#include "../core/core.h"

#include <stdlib.h>
#include <string.h>

#ifndef CNN_HAVE_ONNX

bool cnn_onnx_available(void) { return false; }

static int no_onnx(const char *path)
{
    return cnn_fail(CNN_EUNSUPPORTED, "%s%sbuilt without ONNX support (install protobuf-c and "
                    "onnx.proto: sh scripts/setup.sh, then rebuild)", path ? path : "",
                    path ? ": " : "");
}

int cnn_onnx_tensor_load(const char *path, cnn_onnx_tensor *t)
{
    if (t)
        memset(t, 0, sizeof *t);
    return no_onnx(path);
}

void cnn_onnx_tensor_free(cnn_onnx_tensor *t)
{
    if (t)
        memset(t, 0, sizeof *t);
}

cnn_graph *cnn_onnx_load(const char *path, cnn_onnx_opts *opts)
{
    int rc = no_onnx(path);

    if (opts)
        opts->error = rc;
    return NULL;
}

cnn_graph *cnn_onnx_load_mem(const void *buf, size_t size, const char *name, cnn_onnx_opts *opts)
{
    (void)buf;
    (void)size;
    return cnn_onnx_load(name, opts);
}

#else /* CNN_HAVE_ONNX */

#include "onnx_impl.h"

#include <stdio.h>

#define MAX_NODES 10000 /* the graph checks names linearly */

bool cnn_onnx_available(void) { return true; }

/* ==== @@MESSAGES ==== */

const char *onnx_node_label(const Onnx__NodeProto *n)
{
    if (n->name && n->name[0])
        return n->name;
    if (n->n_output > 0 && n->output[0][0])
        return n->output[0];
    return "?";
}

int onnx_node_fail(imp *m, int code, const char *fmt, ...)
{
    char    msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail(code, "%s: node '%s' (%s): %s", m->file, onnx_node_label(m->node),
                    onnx_str(m->node->op_type), msg);
}

int onnx_graph_fail(imp *m, int code)
{
    char why[512];

    snprintf(why, sizeof why, "%s", cnn_last_error()); /* cnn_fail rewrites that buffer */
    return onnx_node_fail(m, code, "%s", why);
}

int onnx_unsupported_op(imp *m)
{
    const Onnx__NodeProto *n = m->node;
    const char            *dom = onnx_str(n->domain);

    return cnn_fail(CNN_EUNSUPPORTED, "%s: unsupported ONNX op '%s%s%s' (node '%s')", m->file, dom,
                    dom[0] ? "." : "", onnx_str(n->op_type), onnx_node_label(n));
}

/* ==== @@VALUES ==== */

void *onnx_own(imp *m, void *p)
{
    if (!p)
        return NULL;
    if (m->n_owned == m->cap_owned) {
        int    cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **q   = realloc(m->owned, (size_t)cap * sizeof *q);
        if (!q) {
            free(p);
            return NULL;
        }
        m->owned     = q;
        m->cap_owned = cap;
    }
    return m->owned[m->n_owned++] = p;
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot of `name`: holding its value's index, or -1 where it would go. */
static int *slot_of(imp *m, const char *name)
{
    size_t i = hash(name) & (m->n_slot - 1);

    while (m->slot[i] >= 0 && strcmp(m->vals[m->slot[i]].name, name) != 0)
        i = (i + 1) & (m->n_slot - 1);
    return &m->slot[i];
}

/* A new value named `name`; each name is defined once (ONNX is SSA). */
static int add_val(imp *m, const char *name, const char *what, oval **out)
{
    int *s;

    if (!name || !name[0])
        return cnn_fail(CNN_EFORMAT, "%s: %s has an empty name", m->file, what);
    if (*(s = slot_of(m, name)) >= 0)
        return cnn_fail(CNN_EFORMAT, "%s: %s '%s' is defined twice (each value has one definition)",
                        m->file, what, name);
    if (m->n_vals == m->cap_vals) /* sized in advance; a guard */
        return cnn_fail(CNN_EFORMAT, "%s: more values than the model declares", m->file);
    *s   = m->n_vals;
    *out = &m->vals[m->n_vals++];
    memset(*out, 0, sizeof **out);
    (*out)->name  = name;
    (*out)->node  = -1;
    (*out)->input = -1;
    return CNN_OK;
}

oval *onnx_lookup(imp *m, const char *name)
{
    int i = *slot_of(m, name);

    if (i >= 0)
        return &m->vals[i];
    /* Not defined yet: by a later node (out of order, or a cycle), or at all. */
    for (size_t k = 0; k < m->gp->n_node; k++)
        for (size_t o = 0; o < m->gp->node[k]->n_output; o++)
            if (strcmp(m->gp->node[k]->output[o], name) == 0) {
                onnx_node_fail(m, CNN_EFORMAT, "reads '%s', which node '%s' computes later: the "
                               "nodes are not in topological order (a cycle?)", name,
                               onnx_node_label(m->gp->node[k]));
                return NULL;
            }
    onnx_node_fail(m, CNN_EFORMAT, "reads '%s', which no input, initializer or earlier node "
                   "defines", name);
    return NULL;
}

int onnx_in(imp *m, int k, oval **v)
{
    *v = NULL;
    if (k >= (int)m->node->n_input || !m->node->input[k][0])
        return CNN_OK;
    if (!(*v = onnx_lookup(m, m->node->input[k])))
        return CNN_EFORMAT;
    if ((*v)->kind == V_NONE)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "reads '%s', an output its node has but this "
                              "importer does not compute", (*v)->name);
    return CNN_OK;
}

int onnx_sample_shape(imp *m, int ndim, const int64_t *dim, cnn_shape *s)
{
    char ds[160];

    if (ndim < 1)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "a scalar cannot carry the batch dim");
    if (ndim > 5)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "shape %s: at most 4 dims per sample (rank 5) "
                              "are supported", (onnx_dims_str(ndim, dim, ds, sizeof ds), ds));
    s->ndim = ndim == 1 ? 1 : ndim - 1;
    s->dim[0] = 1;
    for (int d = 1; d < ndim; d++)
        s->dim[d - 1] = dim[d];
    return CNN_OK;
}

int onnx_view(imp *m, int x, const cnn_shape *s, const char *name)
{
    cnn_shape xs;
    bool      same;

    cnn_node_info(m->g, x, NULL, NULL, &xs);
    same = xs.ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++)
        same = xs.dim[d] == s->dim[d];
    if (same)
        return x;
    return s->ndim == 1 ? cnn_flatten(m->g, x, name) : cnn_reshape(m->g, x, s, name);
}

/* A graph input becomes data: an input node (C x H x W or flat) seen in
 * its per-sample shape. */
static int make_input(imp *m, oval *v)
{
    cnn_shape s;
    char      ds[160];
    int       id, rc;
    int64_t   numel = 1;

    onnx_dims_str(v->ndim, v->dim, ds, sizeof ds);
    if (!v->is_float)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' holds integers; only float32 data "
                        "flows through the graph", m->file, v->name);
    if (v->ndim < 1)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' is a scalar; a data input needs "
                        "a batch dim first", m->file, v->name);
    for (int d = 1; d < v->ndim; d++)
        if (v->dim[d] < 1 || v->dim[d] > (1 << 24) || cnn_size_mul(numel, v->dim[d], &numel) < 0 ||
            numel > INT32_MAX)
            return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' has shape %s (-1: symbolic); "
                            "every dim but the batch must be fixed, 1 to 2^24, at most 2^31-1 "
                            "elements per sample (give the shape with a feed)", m->file, v->name,
                            ds);
    if (m->batch >= 0 && v->dim[0] >= 0 && v->dim[0] != m->batch)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' has shape %s, but the batch (dim 0 "
                        "of the first input) is %lld", m->file, v->name, ds, (long long)m->batch);
    if (v->ndim > 5)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' has shape %s: at most 4 dims per "
                        "sample are supported", m->file, v->name, ds);
    s.ndim = v->ndim == 1 ? 1 : v->ndim - 1;
    s.dim[0] = 1;
    for (int d = 1; d < v->ndim; d++)
        s.dim[d - 1] = v->dim[d];
    id = s.ndim == 3 ? cnn_input(m->g, (int)s.dim[0], (int)s.dim[1], (int)s.dim[2], v->name)
                     : cnn_input_flat(m->g, (int)numel, v->name);
    if (id < 0 || (rc = onnx_view(m, id, &s, NULL)) < 0) {
        char why[400];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(id < 0 ? id : rc, "%s: graph input '%s': %s", m->file, v->name, why);
    }
    m->opts->inputs[v->input].node = id;
    v->kind   = V_DATA;
    v->node   = rc;
    v->dim[0] = m->batch;
    return rc;
}

int onnx_as_data(imp *m, oval *v)
{
    switch (v->kind) {
    case V_DATA:  return v->node;
    case V_INPUT: return make_input(m, v);
    case V_NONE:  return onnx_node_fail(m, CNN_EUNSUPPORTED, "reads '%s', which this importer does "
                                        "not compute", v->name);
    default:
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "computes on the constant '%s' alone; constant "
                              "folding is not supported (only a weight, a bias or an operand of "
                              "Add, Mul or Concat may be constant)", v->name);
    }
}

int onnx_as_const(imp *m, oval *v, const char *what)
{
    char w[200];

    if (v->kind == V_CONST && v->lazy) {
        cnn_onnx_tensor t;
        int             rc;
        snprintf(w, sizeof w, "initializer '%s'", v->name);
        if ((rc = onnx_tensor_read(m->file, w, v->lazy, true, &t)) < 0)
            return rc;
        v->f    = t.data ? onnx_own(m, t.data) : NULL;
        v->i    = t.ints ? onnx_own(m, t.ints) : NULL;
        v->lazy = NULL;
        if (!v->f && !v->i)
            return cnn_fail(CNN_ENOMEM, "%s: out of memory", m->file);
    }
    if ((v->kind == V_CONST || v->input >= 0) && (v->f || v->i))
        return CNN_OK; /* a fed input may serve as data and as a constant */
    if (v->kind == V_INPUT)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "%s '%s' is a graph input; it must be a "
                              "constant (an initializer, or fed when importing)", what, v->name);
    return onnx_node_fail(m, CNN_EUNSUPPORTED, "%s '%s' is computed by the graph; only a constant "
                          "(an initializer or a Constant) is supported", what, v->name);
}

static int def_out(imp *m, int k, oval **v)
{
    *v = NULL;
    if (k >= (int)m->node->n_output || !m->node->output[k][0])
        return CNN_OK; /* an optional output left out */
    return add_val(m, m->node->output[k], "value", v);
}

int onnx_def_data(imp *m, int k, int node, int ndim, const int64_t *dim)
{
    oval *v;
    int   rc;

    /* Every mapping keeps data at 1 to 4 dims per sample, which the shape
     * helpers rely on: a guard. */
    if (ndim < 1 || ndim > 5)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "an output of rank %d", ndim);
    if ((rc = def_out(m, k, &v)) < 0 || !v)
        return rc;
    v->kind = V_DATA;
    v->node = node;
    v->ndim = ndim;
    memcpy(v->dim, dim, (size_t)ndim * sizeof *dim);
    v->dim[0]   = m->batch;
    v->is_float = true;
    return CNN_OK;
}

int onnx_def_alias(imp *m, int k, oval *src)
{
    oval *v;
    int   rc;

    /* An unused graph input settles here: with values it is a constant,
     * without it is data. */
    if (src->kind == V_INPUT && !src->f && !src->i && (rc = onnx_as_data(m, src)) < 0)
        return rc;
    if ((rc = def_out(m, k, &v)) < 0 || !v)
        return rc;
    const char *name = v->name;
    *v       = *src;
    v->name  = name;
    v->input = -1;
    if (v->kind == V_INPUT)
        v->kind = V_CONST;
    return CNN_OK;
}

int onnx_def_const(imp *m, int k, cnn_onnx_tensor *t)
{
    oval *v;
    int   rc = def_out(m, k, &v);

    if (rc < 0 || !v) {
        cnn_onnx_tensor_free(t);
        return rc;
    }
    v->kind     = V_CONST;
    v->ndim     = t->ndim;
    v->numel    = t->numel;
    v->is_float = t->data != NULL;
    memcpy(v->dim, t->dim, sizeof v->dim);
    v->f = t->data ? onnx_own(m, t->data) : NULL;
    v->i = t->ints ? onnx_own(m, t->ints) : NULL;
    t->data = NULL;
    t->ints = NULL;
    cnn_onnx_tensor_free(t);
    if (!v->f && !v->i)
        return cnn_fail(CNN_ENOMEM, "%s: out of memory", m->file);
    return CNN_OK;
}

int onnx_def_none(imp *m, int k)
{
    oval *v;
    int   rc = def_out(m, k, &v);

    if (rc >= 0 && v)
        v->kind = V_NONE;
    return rc;
}

const char *onnx_out_name(imp *m, int k)
{
    const char *name;
    size_t      len;

    if (k >= (int)m->node->n_output)
        return NULL;
    name = m->node->output[k];
    len  = strlen(name);
    if (len < 1 || len > 128)
        return NULL;
    for (int i = 0; i < cnn_graph_size(m->g); i++) {
        const char *nm;
        cnn_node_info(m->g, i, NULL, &nm, NULL);
        if (strcmp(nm, name) == 0)
            return NULL;
    }
    return name;
}

/* ==== @@ATTRIBUTES ==== */

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(onnx_str(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

/* The type, also for old files that leave `type` out. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type)
        return a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static const char *attr_type_name(int t)
{
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:  return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:    return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:   return "INTS";
    default:                                            return "another type";
    }
}

static int need_type(imp *m, const Onnx__AttributeProto *a, int want)
{
    int t = attr_type(a);
    if (t == want && !(a->ref_attr_name && a->ref_attr_name[0]))
        return CNN_OK;
    return onnx_node_fail(m, CNN_EFORMAT, "attribute '%s' is %s, expected %s", onnx_str(a->name),
                          a->ref_attr_name && a->ref_attr_name[0] ? "a reference"
                                                                  : attr_type_name(t),
                          attr_type_name(want));
}

int onnx_attrs_known(imp *m, const char *const *known)
{
    for (size_t i = 0; i < m->node->n_attribute; i++) {
        const char *name = onnx_str(m->node->attribute[i]->name);
        bool        ok   = false;
        for (int k = 0; known[k] && !ok; k++)
            ok = strcmp(known[k], name) == 0;
        if (!ok)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute '%s' is not supported", name);
    }
    return CNN_OK;
}

int onnx_attr_int(imp *m, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
    const Onnx__AttributeProto *a = onnx_attr(m->node, name);
    int                         rc;

    *out = def;
    if (!a)
        return CNN_OK;
    if ((rc = need_type(m, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)) < 0)
        return rc;
    if (a->i < lo || a->i > hi)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute %s = %lld, supported: %lld to %lld",
                              name, (long long)a->i, (long long)lo, (long long)hi);
    *out = a->i;
    return CNN_OK;
}

int onnx_attr_float(imp *m, const char *name, float def, float *out)
{
    const Onnx__AttributeProto *a = onnx_attr(m->node, name);
    int                         rc;

    *out = def;
    if (!a)
        return CNN_OK;
    if ((rc = need_type(m, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)) < 0)
        return rc;
    *out = a->f;
    return CNN_OK;
}

int onnx_attr_ints(imp *m, const char *name, int max, int64_t lo, int64_t hi, int64_t *out,
                   int *count)
{
    const Onnx__AttributeProto *a = onnx_attr(m->node, name);
    int                         rc;

    *count = -1;
    if (!a)
        return CNN_OK;
    if ((rc = need_type(m, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)) < 0)
        return rc;
    if (a->n_ints > (size_t)max)
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute %s has %zu values, at most %d "
                              "supported", name, a->n_ints, max);
    for (size_t i = 0; i < a->n_ints; i++) {
        if (a->ints[i] < lo || a->ints[i] > hi)
            return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute %s[%zu] = %lld, supported: %lld "
                                  "to %lld", name, i, (long long)a->ints[i], (long long)lo,
                                  (long long)hi);
        out[i] = a->ints[i];
    }
    *count = (int)a->n_ints;
    return CNN_OK;
}

int onnx_attr_str(imp *m, const char *name, const char *def, char *buf, size_t size)
{
    const Onnx__AttributeProto *a = onnx_attr(m->node, name);
    int                         rc;

    snprintf(buf, size, "%s", def);
    if (!a)
        return CNN_OK;
    if ((rc = need_type(m, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)) < 0)
        return rc;
    if (a->s.len >= size || memchr(a->s.data, 0, a->s.len))
        return onnx_node_fail(m, CNN_EUNSUPPORTED, "attribute %s: an unknown value", name);
    memcpy(buf, a->s.data, a->s.len);
    buf[a->s.len] = '\0';
    return CNN_OK;
}

/* ==== @@GRAPH ==== */

static int opset_of(const char *file, const Onnx__ModelProto *mp, int *opset)
{
    *opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = onnx_str(mp->opset_import[i]->domain);
        if (d[0] == '\0' || strcmp(d, "ai.onnx") == 0)
            *opset = mp->opset_import[i]->has_version ? (int)mp->opset_import[i]->version : -1;
    }
    if (*opset < 0 && mp->n_opset_import == 0)
        *opset = 1; /* IR version 2 and before: opset 1 */
    if (*opset < 0)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: the model imports no opset of the default domain "
                        "(only other domains' ops)", file);
    if (*opset < OPSET_MIN || *opset > OPSET_MAX)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: opset %d of the default domain; this importer "
                        "maps opsets %d to %d", file, *opset, OPSET_MIN, OPSET_MAX);
    return CNN_OK;
}

/* Declared type and shape of a graph input or output (-1 for a symbolic or
 * unknown dim; ndim -1 when no shape is given). */
static int declared(imp *m, const Onnx__ValueInfoProto *vi, const char *what, int32_t *elem,
                    int *ndim, int64_t *dim)
{
    const Onnx__TypeProto *tp = vi->type;

    *ndim = -1;
    *elem = 0;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %s '%s' is not a tensor (a sequence, map or "
                        "optional?)", m->file, what, onnx_str(vi->name));
    *elem = tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0;
    if (!tp->tensor_type->shape)
        return CNN_OK;
    if (tp->tensor_type->shape->n_dim > CNN_ONNX_MAX_DIMS)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %s '%s' has %zu dims, at most %d supported",
                        m->file, what, onnx_str(vi->name), tp->tensor_type->shape->n_dim,
                        CNN_ONNX_MAX_DIMS);
    *ndim = (int)tp->tensor_type->shape->n_dim;
    for (int d = 0; d < *ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dd = tp->tensor_type->shape->dim[d];
        dim[d] = dd->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                         dd->dim_value >= 0 ? dd->dim_value : -1;
    }
    return CNN_OK;
}

/* Initializers are checked now and decoded when a node needs them. */
static int add_initializers(imp *m)
{
    for (size_t i = 0; i < m->gp->n_initializer; i++) {
        const Onnx__TensorProto *t = m->gp->initializer[i];
        cnn_onnx_tensor          info;
        oval                    *v;
        char                     w[200];
        int                      rc;

        snprintf(w, sizeof w, "initializer '%s'", onnx_str(t->name));
        if ((rc = add_val(m, t->name, "initializer", &v)) < 0 ||
            (rc = onnx_tensor_read(m->file, w, t, false, &info)) < 0)
            return rc;
        v->kind     = V_CONST;
        v->ndim     = info.ndim;
        v->numel    = info.numel;
        v->lazy     = t;
        v->is_float = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        v->learned  = true;
        memcpy(v->dim, info.dim, sizeof v->dim);
    }
    return CNN_OK;
}

static int add_inputs(imp *m)
{
    const cnn_onnx_opts *o = m->opts;
    int                  k = 0, rc;

    for (size_t i = 0; i < m->gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = m->gp->input[i];
        const cnn_onnx_tensor      *feed;
        oval                       *v;
        int32_t                     elem;
        char                        ds[160], fs[160];

        /* Files of IR version < 4 list the initializers among the inputs
         * (the initializers are in the table already). */
        int at = vi->name && vi->name[0] ? *slot_of(m, vi->name) : -1;
        if (at >= 0 && m->vals[at].kind == V_CONST)
            continue;
        if (k == CNN_ONNX_MAX_IO)
            return cnn_fail(CNN_EUNSUPPORTED, "%s: more than %d graph inputs", m->file,
                            CNN_ONNX_MAX_IO);
        if ((rc = add_val(m, vi->name, "graph input", &v)) < 0 ||
            (rc = declared(m, vi, "graph input", &elem, &v->ndim, v->dim)) < 0)
            return rc;
        v->kind     = V_INPUT;
        v->input    = k;
        v->is_float = elem == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        if (!v->is_float && !onnx_dtype_size(elem))
            return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' holds %s; this importer reads "
                            "FLOAT and integer types", m->file, v->name, onnx_dtype_name(elem));
        feed = k < o->n_feeds && o->feeds ? &o->feeds[k] : NULL;
        if (feed) {
            bool ok = feed->ndim >= 0 && feed->ndim <= CNN_ONNX_MAX_DIMS &&
                      (v->ndim < 0 || v->ndim == feed->ndim) &&
                      !(feed->data && !v->is_float) && !(feed->ints && v->is_float);
            for (int d = 0; ok && d < feed->ndim; d++)
                ok = feed->dim[d] >= 0 &&
                     (v->ndim < 0 || v->dim[d] < 0 || v->dim[d] == feed->dim[d]);
            if (feed->name && feed->name[0] && strcmp(feed->name, v->name) != 0)
                return cnn_fail(CNN_EINVAL, "%s: feed %d is named '%s', but graph input %d is '%s'",
                                m->file, k, feed->name, k, v->name);
            if (!ok) {
                onnx_dims_str(v->ndim < 0 ? 0 : v->ndim, v->dim, ds, sizeof ds);
                onnx_dims_str(feed->ndim < 0 || feed->ndim > CNN_ONNX_MAX_DIMS ? 0 : feed->ndim,
                         feed->dim, fs, sizeof fs);
                return cnn_fail(CNN_EINVAL, "%s: graph input '%s' is %s %s (-1: any), but was fed "
                                "%s %s", m->file, v->name, onnx_dtype_name(elem), ds,
                                feed->data ? "FLOAT" : feed->ints ? "integers" : "the shape", fs);
            }
            v->ndim  = feed->ndim;
            v->numel = feed->numel;
            memcpy(v->dim, feed->dim, sizeof v->dim);
            v->f = feed->data;
            v->i = feed->ints;
            if (v->f || v->i) {
                int64_t n = 1;
                for (int d = 0; d < feed->ndim && n >= 0; d++)
                    if (cnn_size_mul(n, feed->dim[d], &n) < 0)
                        n = -1;
                if (n != feed->numel)
                    return cnn_fail(CNN_EINVAL, "%s: feed %d has %lld values for shape %s", m->file,
                                    k, (long long)feed->numel,
                                    (onnx_dims_str(feed->ndim, feed->dim, fs, sizeof fs), fs));
            }
        }
        if (v->ndim < 0)
            return cnn_fail(CNN_EUNSUPPORTED, "%s: graph input '%s' declares no shape; give it "
                            "with a feed", m->file, v->name);
        m->opts->inputs[k].node = -1;
        m->opts->inputs[k].ndim = v->ndim;
        memcpy(m->opts->inputs[k].dim, v->dim, sizeof v->dim);
        if (k == 0) { /* the first input is data and sets the batch */
            m->batch = v->ndim > 0 ? v->dim[0] : -1;
            if ((rc = make_input(m, v)) < 0)
                return rc;
        }
        k++;
    }
    m->opts->n_inputs = k;
    if (k == 0)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: the model has no graph input (a graph of constants "
                        "only)", m->file);
    return CNN_OK;
}

static int set_outputs(imp *m)
{
    cnn_onnx_opts *o = m->opts;

    if (m->gp->n_output > CNN_ONNX_MAX_IO)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: more than %d graph outputs", m->file,
                        CNN_ONNX_MAX_IO);
    for (size_t k = 0; k < m->gp->n_output; k++) {
        const char *name = onnx_str(m->gp->output[k]->name);
        int         i    = name[0] ? *slot_of(m, name) : -1;
        oval       *v    = i >= 0 ? &m->vals[i] : NULL;

        if (!v)
            return cnn_fail(CNN_EFORMAT, "%s: graph output '%s' is not computed by any node",
                            m->file, name);
        if (v->kind != V_DATA)
            return cnn_fail(CNN_EUNSUPPORTED, "%s: graph output '%s' is %s, not computed from an "
                            "input", m->file, name, v->kind == V_NONE ? "an output this importer "
                            "does not compute" : "a constant or a graph input itself");
        o->outputs[k].node = v->node;
        o->outputs[k].ndim = v->ndim;
        memcpy(o->outputs[k].dim, v->dim, sizeof v->dim);
    }
    o->n_outputs = (int)m->gp->n_output;
    return CNN_OK;
}

static int import(imp *m, Onnx__ModelProto *mp)
{
    size_t total;
    int    rc;

    if (!(m->gp = mp->graph))
        return cnn_fail(CNN_EFORMAT, "%s: the model has no graph", m->file);
    if ((rc = opset_of(m->file, mp, &m->opset)) < 0)
        return rc;
    m->opts->opset = m->opset;
    if (m->gp->n_node > MAX_NODES)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %zu nodes, more than the %d this importer takes",
                        m->file, m->gp->n_node, MAX_NODES);
    /* Every value the graph can define, so the table never moves. */
    total = m->gp->n_input + m->gp->n_initializer;
    for (size_t i = 0; i < m->gp->n_node; i++) {
        if (m->gp->node[i]->n_output > 64)
            return cnn_fail(CNN_EUNSUPPORTED, "%s: node '%s' has %zu outputs", m->file,
                            onnx_node_label(m->gp->node[i]), m->gp->node[i]->n_output);
        total += m->gp->node[i]->n_output;
    }
    for (m->n_slot = 16; m->n_slot < 2 * total + 2; m->n_slot *= 2)
        ;
    if (total > INT32_MAX / 4)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %zu values, too many", m->file, total);
    m->cap_vals = (int)total;
    m->vals     = calloc(total + 1, sizeof *m->vals);
    m->slot     = malloc(m->n_slot * sizeof *m->slot);
    if (!m->vals || !m->slot)
        return cnn_fail(CNN_ENOMEM, "%s: out of memory for %zu values", m->file, total);
    memset(m->slot, 0xff, m->n_slot * sizeof *m->slot); /* all -1 */

    if ((rc = add_initializers(m)) < 0 || (rc = add_inputs(m)) < 0)
        return rc;
    for (size_t i = 0; i < m->gp->n_node; i++) {
        m->node = m->gp->node[i];
        if ((rc = onnx_map_node(m)) < 0)
            return rc;
    }
    return set_outputs(m);
}

/* Checks the arguments; *opts points at `local` when the caller gave
 * none. */
static int start(const char *file, cnn_onnx_opts **opts, cnn_onnx_opts *local)
{
    if (!*opts) {
        memset(local, 0, sizeof *local);
        *opts = local;
    }
    (*opts)->n_inputs = (*opts)->n_outputs = 0;
    (*opts)->opset = 0;
    (*opts)->error = CNN_EINVAL;
    if ((*opts)->n_feeds < 0 || ((*opts)->n_feeds > 0 && !(*opts)->feeds))
        return cnn_fail(CNN_EINVAL, "%s: %d feeds at %p", file, (*opts)->n_feeds,
                        (const void *)(*opts)->feeds);
    return CNN_OK;
}

/* Imports a parsed model, then frees it. */
static cnn_graph *finish(const char *file, Onnx__ModelProto *mp, cnn_onnx_opts *opts)
{
    imp m = {.file = file, .batch = -1, .opts = opts};
    int rc;

    if (!(m.g = cnn_graph_new()))
        rc = CNN_ENOMEM;
    else
        rc = import(&m, mp);
    for (int i = 0; i < m.n_owned; i++)
        free(m.owned[i]);
    free(m.owned);
    free(m.vals);
    free(m.slot);
    protobuf_c_message_free_unpacked(&mp->base, NULL);
    opts->error = rc < 0 ? rc : 0;
    if (rc < 0) {
        cnn_graph_free(m.g);
        opts->n_inputs = opts->n_outputs = 0;
        return NULL;
    }
    return m.g;
}

cnn_graph *cnn_onnx_load_mem(const void *buf, size_t size, const char *name, cnn_onnx_opts *opts)
{
    cnn_onnx_opts     local;
    Onnx__ModelProto *mp;
    const char       *file = name ? name : "<onnx>";

    if (start(file, &opts, &local) < 0)
        return NULL;
    if (!buf) {
        cnn_fail(CNN_EINVAL, "%s: NULL buffer", file);
        return NULL;
    }
    opts->error = CNN_EFORMAT;
    if (!(mp = (Onnx__ModelProto *)onnx_unpack(file, "ONNX model", &onnx__model_proto__descriptor,
                                               buf, size)))
        return NULL;
    return finish(file, mp, opts);
}

cnn_graph *cnn_onnx_load(const char *path, cnn_onnx_opts *opts)
{
    cnn_onnx_opts     local;
    Onnx__ModelProto *mp;
    uint64_t          len;
    uint8_t          *buf;

    if (start(path ? path : "<onnx>", &opts, &local) < 0)
        return NULL;
    if (!path) {
        cnn_fail(CNN_EINVAL, "onnx load: NULL path");
        return NULL;
    }
    if (!(buf = cnn_read_file(path, ONNX_MAX_FILE, &len))) {
        opts->error = CNN_EIO;
        return NULL;
    }
    /* protobuf-c copies what it keeps: the file's bytes can go before the
     * import copies the weights once more. */
    opts->error = CNN_EFORMAT;
    mp = (Onnx__ModelProto *)onnx_unpack(path, "ONNX model", &onnx__model_proto__descriptor, buf,
                                         (size_t)len);
    free(buf);
    return mp ? finish(path, mp, opts) : NULL;
}

#endif /* CNN_HAVE_ONNX */
