/* onnx_export.c - ONNX export (docs/onnx.md): every node of a graph as
 * nodes of ONNX opset 13, its parameters and batch-norm buffers as
 * initializers, built as protobuf-c's generated structs and packed by
 * onnx__model_proto__pack. A consumer of graphs through the public API
 * only. Without protobuf-c the public functions only say that the build has
 * no ONNX support.
 *
 * The batch: a node's per-sample shape S is the ONNX shape [N, S...] with N
 * symbolic (or fixed), so every value but a constant carries the batch
 * first. A constant (the same for every sample) is an initializer of shape
 * S, which NumPy broadcasting in Add and Mul aligns to the right of the
 * data, as the graph does per sample. The model is written so that
 * cnn_onnx_load reads it back into a graph computing the same bits. */
#include "../core/core.h"

#include <stdlib.h>
#include <string.h>

#ifndef CNN_HAVE_ONNX

static int no_onnx(const char *what)
{
    return cnn_fail(CNN_EUNSUPPORTED, "%s: built without ONNX support (install protobuf-c and "
                    "onnx.proto: sh scripts/setup.sh, then rebuild)", what);
}

int cnn_onnx_save(cnn_graph *g, const char *path, int batch)
{
    (void)g;
    (void)batch;
    return no_onnx(path ? path : "onnx save");
}

int cnn_onnx_save_mem(cnn_graph *g, int batch, void **buf, size_t *size)
{
    (void)g;
    (void)batch;
    if (buf)
        *buf = NULL;
    if (size)
        *size = 0;
    return no_onnx("onnx save");
}

#else /* CNN_HAVE_ONNX */

#include "onnx_impl.h"

#include <errno.h>
#include <stdio.h>

#define OPSET      13
#define IR_VERSION 7 /* the IR of ONNX 1.8, which brought opset 13 */
#define MAX_ATTRS  8 /* per node; Conv and AveragePool set 5 */
#define BATCH_DIM  "N" /* the symbolic batch */

/* The model being built. Every string and message it points at is in
 * `owned` (freed together after packing), except the raw data of float
 * initializers, which points into the graph's parameters on little-endian
 * hosts. An allocation failure sets `oom`; the helpers then do nothing and
 * each op's export reports it. */
typedef struct ex {
    cnn_graph  *g;
    int         n;                  /* graph nodes                         */
    const char *what;               /* the file, for messages              */
    int         batch;              /* dim 0 of inputs and outputs; 0: "N" */
    const char **vname;             /* [n] each node's ONNX value name     */
    int        *readers;            /* [n] how many nodes read each node   */
    char      **names;              /* hash set of the names taken         */
    size_t      n_slot;             /* a power of 2                        */
    void      **owned;
    int         n_owned, cap_owned;
    Onnx__NodeProto      **nodes;   /* the arrays of the GraphProto        */
    Onnx__TensorProto    **inits;
    Onnx__ValueInfoProto **inputs, **outputs;
    int         n_nodes, n_inits, n_inputs, n_outputs;
    int         cap_nodes, cap_inits, cap_inputs, cap_outputs;
    bool        oom;
} ex;

/* ==== @@MEMORY ==== */

static void *own(ex *e, void *p)
{
    if (!p) {
        e->oom = true;
        return NULL;
    }
    if (e->n_owned == e->cap_owned) {
        int    cap = e->cap_owned ? 2 * e->cap_owned : 256;
        void **q   = realloc(e->owned, (size_t)cap * sizeof *q);
        if (!q) {
            free(p);
            e->oom = true;
            return NULL;
        }
        e->owned     = q;
        e->cap_owned = cap;
    }
    return e->owned[e->n_owned++] = p;
}

static void *zalloc(ex *e, size_t size)
{
    return e->oom ? NULL : own(e, calloc(1, size ? size : 1));
}

static char *dup_str(ex *e, const char *s)
{
    char *d = zalloc(e, strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

static bool host_is_le(void)
{
    const uint32_t one = 1;
    uint8_t        b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ==== @@NAMES ==== */

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (size_t)h;
}

static char **slot_of(ex *e, const char *name)
{
    size_t i = hash(name) & (e->n_slot - 1);

    while (e->names[i] && strcmp(e->names[i], name) != 0)
        i = (i + 1) & (e->n_slot - 1);
    return &e->names[i];
}

/* A name no other value of the model has: base + suffix with every byte
 * but letters, digits and _ . / : - made '_' (ONNX names are identifiers
 * in spirit; these are what exporters use), then "_2", "_3" ... until it is
 * free. NULL (oom set) when memory runs out. */
static const char *unique_name(ex *e, const char *base, const char *suffix)
{
    char   buf[300];
    size_t len;

    /* at most 255 bytes, so that "_K" always fits after it */
    snprintf(buf, 256, "%s%s", base[0] ? base : "node", suffix);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_./:-", *p)))
            *p = '_';
    len = strlen(buf);
    for (int k = 2; *slot_of(e, buf); k++)
        snprintf(buf + len, sizeof buf - len, "_%d", k);
    if (e->oom)
        return NULL;
    char **s = slot_of(e, buf);
    return *s = dup_str(e, buf);
}

/* ==== @@PROTO ==== */

/* Appends p to one of the model's arrays, growing it. */
static void *push(ex *e, void ***arr, int *n, int *cap, void *p)
{
    if (!p)
        return NULL;
    if (*n == *cap) {
        int    c = *cap ? 2 * *cap : 64;
        void **q = realloc(*arr, (size_t)c * sizeof *q);
        if (!q) {
            e->oom = true;
            return NULL;
        }
        *arr = q;
        *cap = c;
    }
    return (*arr)[(*n)++] = p;
}

/* A node of type `op` computing `out` from in[0 .. n_in-1]. */
static Onnx__NodeProto *add_node(ex *e, const char *op, const char *out, int n_in,
                                 const char *const *in)
{
    Onnx__NodeProto *nd = zalloc(e, sizeof *nd);
    char           **ins = zalloc(e, (size_t)(n_in ? n_in : 1) * sizeof *ins);
    char           **outs = zalloc(e, sizeof *outs);
    Onnx__AttributeProto **attrs = zalloc(e, MAX_ATTRS * sizeof *attrs);

    if (e->oom || !out)
        return NULL;
    onnx__node_proto__init(nd);
    for (int k = 0; k < n_in; k++)
        if (!(ins[k] = dup_str(e, in[k] ? in[k] : "")))
            return NULL;
    outs[0]       = (char *)out;
    nd->n_input   = (size_t)n_in;
    nd->input     = ins;
    nd->n_output  = 1;
    nd->output    = outs;
    nd->name      = (char *)out;
    nd->op_type   = (char *)op;
    nd->attribute = attrs;
    return push(e, (void ***)&e->nodes, &e->n_nodes, &e->cap_nodes, nd);
}

static Onnx__AttributeProto *add_attr(ex *e, Onnx__NodeProto *nd, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a;

    if (!nd || nd->n_attribute == MAX_ATTRS || !(a = zalloc(e, sizeof *a)))
        return NULL;
    onnx__attribute_proto__init(a);
    a->name     = (char *)name;
    a->has_type = 1;
    a->type     = type;
    return nd->attribute[nd->n_attribute++] = a;
}

static void attr_int(ex *e, Onnx__NodeProto *nd, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = add_attr(e, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = v;
}

static void attr_float(ex *e, Onnx__NodeProto *nd, const char *name, float v)
{
    Onnx__AttributeProto *a = add_attr(e, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = v;
}

static void attr_ints(ex *e, Onnx__NodeProto *nd, const char *name, const int *v, int n)
{
    Onnx__AttributeProto *a = add_attr(e, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t              *p = zalloc(e, (size_t)n * sizeof *p);

    if (!a || !p)
        return;
    for (int k = 0; k < n; k++)
        p[k] = v[k];
    a->n_ints = (size_t)n;
    a->ints   = p;
}

static void attr_str(ex *e, Onnx__NodeProto *nd, const char *name, const char *s)
{
    Onnx__AttributeProto *a = add_attr(e, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (a) {
        a->has_s  = 1;
        a->s.len  = strlen(s);
        a->s.data = (uint8_t *)s;
    }
}

/* An initializer called `name` (unique already), of type dt (FLOAT or
 * INT64) and shape dims[ndim], holding numel values at data (host order) as
 * raw little-endian bytes. Float data is borrowed where the host is
 * little-endian: the graph outlives the packing. Returns the name. */
static const char *add_init(ex *e, const char *name, int32_t dt, int ndim, const int64_t *dims,
                            const void *data, int64_t numel)
{
    const size_t       size = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4 : 8;
    Onnx__TensorProto *t    = zalloc(e, sizeof *t);
    int64_t           *d    = zalloc(e, (size_t)(ndim ? ndim : 1) * sizeof *d);
    uint8_t           *raw  = NULL;

    if (e->oom || !name)
        return NULL;
    onnx__tensor_proto__init(t);
    for (int k = 0; k < ndim; k++)
        d[k] = dims[k];
    if (host_is_le() && size == 4) {
        raw = (uint8_t *)data;
    } else if ((raw = zalloc(e, (size_t)numel * size))) {
        const uint8_t *src = data;
        for (int64_t i = 0; i < numel; i++) /* to little-endian, byte by byte */
            for (size_t b = 0; b < size; b++)
                raw[i * size + b] = src[i * size + (host_is_le() ? b : size - 1 - b)];
    }
    t->name          = (char *)name;
    t->n_dims        = (size_t)ndim;
    t->dims          = d;
    t->has_data_type = 1;
    t->data_type     = dt;
    t->has_raw_data  = 1;
    t->raw_data.len  = (size_t)numel * size;
    t->raw_data.data = raw;
    push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t);
    return e->oom ? NULL : name;
}

static const char *init_float(ex *e, const char *base, const char *suffix, float v)
{
    float *p = zalloc(e, sizeof *p); /* owned: raw data may borrow it */
    if (!p)
        return NULL;
    *p = v;
    return add_init(e, unique_name(e, base, suffix), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL,
                    p, 1);
}

static const char *init_ints(ex *e, const char *base, const char *suffix, const int64_t *v, int n)
{
    return add_init(e, unique_name(e, base, suffix), ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1,
                    (const int64_t[]){n}, v, n);
}

/* A graph input or output: FLOAT of shape [N, s...]. */
static Onnx__ValueInfoProto *value_info(ex *e, const char *name, const cnn_shape *s)
{
    Onnx__ValueInfoProto               *vi = zalloc(e, sizeof *vi);
    Onnx__TypeProto                    *tp = zalloc(e, sizeof *tp);
    Onnx__TypeProto__Tensor            *tt = zalloc(e, sizeof *tt);
    Onnx__TensorShapeProto             *sh = zalloc(e, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = zalloc(e, (size_t)(s->ndim + 1) * sizeof *dd);

    if (e->oom)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int d = 0; d <= s->ndim; d++) {
        if (!(dd[d] = zalloc(e, sizeof *dd[d])))
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dd[d]);
        if (d == 0 && e->batch <= 0) {
            dd[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dd[d]->dim_param  = BATCH_DIM;
        } else {
            dd[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dd[d]->dim_value  = d == 0 ? e->batch : s->dim[d - 1];
        }
    }
    sh->n_dim         = (size_t)s->ndim + 1;
    sh->dim           = dd;
    tt->has_elem_type = 1;
    tt->elem_type     = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape         = sh;
    tp->value_case    = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type   = tt;
    vi->name          = (char *)name;
    vi->type          = tp;
    return vi;
}

/* ==== @@OPS ==== */

static int node_fail(ex *e, int id, int code, const char *fmt, ...) CNN_PRINTF(4, 5);
static int node_fail(ex *e, int id, int code, const char *fmt, ...)
{
    char        msg[400];
    const char *name;
    cnn_op      op;
    va_list     ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cnn_node_info(e->g, id, &op, &name, NULL);
    return cnn_fail(code, "%s: %s '%s': %s", e->what, cnn_op_name(op), name, msg);
}

static int done(ex *e)
{
    return e->oom ? cnn_fail(CNN_ENOMEM, "%s: out of memory", e->what) : CNN_OK;
}

static bool is_constant(const ex *e, int id)
{
    cnn_op op;
    cnn_node_info(e->g, id, &op, NULL, NULL);
    return op == CNN_OP_CONSTANT;
}

/* Parameter (or buffer) k of node id as an initializer "NAME.weight" (a
 * constant's value: "NAME" itself, the value the node computes). */
static const char *param_init(ex *e, int id, int k, bool buffer)
{
    float      *data;
    cnn_shape   s;
    const char *pname;
    int64_t     dims[4];
    int         rc = buffer ? cnn_node_buffer(e->g, id, k, &data, &s, &pname)
                            : cnn_node_param(e->g, id, k, &data, NULL, &s, &pname);
    char        suffix[40];

    if (rc < 0) {
        e->oom = true; /* allocation of the parameters: the reason is recorded */
        return NULL;
    }
    for (int d = 0; d < s.ndim; d++)
        dims[d] = s.dim[d];
    snprintf(suffix, sizeof suffix, ".%s", pname);
    return add_init(e, is_constant(e, id) ? e->vname[id] : unique_name(e, e->vname[id], suffix),
                    ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, s.ndim, dims, data,
                    cnn_shape_numel(&s));
}

/* x's value seen as ONNX rank `rank` (>= its own): a Reshape to
 * [N, 1 ..., S...], so that NumPy's broadcasting, aligned to the right,
 * pairs per-sample dims with per-sample dims. */
static const char *ranked(ex *e, int x, int rank, const char *base)
{
    cnn_shape   s;
    int64_t     shape[5] = {0}; /* 0 copies the batch dim */
    const char *sh, *out;
    int         pad;

    cnn_node_info(e->g, x, NULL, NULL, &s);
    if (is_constant(e, x) || s.ndim + 1 == rank)
        return e->vname[x];
    pad = rank - 1 - s.ndim;
    for (int d = 0; d < pad; d++)
        shape[1 + d] = 1;
    for (int d = 0; d < s.ndim; d++)
        shape[1 + pad + d] = s.dim[d];
    sh  = init_ints(e, base, "/shape", shape, rank);
    out = unique_name(e, base, "/reshaped");
    if (!sh || !out)
        return NULL;
    add_node(e, "Reshape", out, 2, (const char *[]){e->vname[x], sh});
    return out;
}

/* Pooling. The graph's ceil mode is PyTorch's: a last window that would
 * start in the end padding is dropped, where ONNX (before opset 19) keeps
 * it. Where floor rounding gives the graph's output size it is written as
 * floor mode; else as ceil mode where ONNX's rule agrees, except for an
 * average counting the pads whose last window reaches past them (its
 * divisor differs between runtimes, and the importer refuses it). */
static int export_pool(ex *e, int id, cnn_op op, const cnn_pool2d_attr *a, const cnn_shape *in,
                       const cnn_shape *out, const char *x)
{
    const bool       avg = op == CNN_OP_AVGPOOL2D;
    bool             floor_ok = true, ceil_ok = true, past = false;
    Onnx__NodeProto *nd;

    for (int d = 0; d < 2; d++) {
        int64_t span = in->dim[1 + d] + a->pad[d] + a->pad[d + 2] - a->kernel[d];
        int64_t fl   = span / a->stride[d] + 1;
        int64_t ce   = (span + a->stride[d] - 1) / a->stride[d] + 1;
        floor_ok     = floor_ok && fl == out->dim[1 + d];
        ceil_ok      = ceil_ok && ce == out->dim[1 + d];
        past = past || (ce - 1) * a->stride[d] - a->pad[d] + a->kernel[d] >
                           in->dim[1 + d] + a->pad[d + 2];
    }
    if (!floor_ok && !ceil_ok)
        return node_fail(e, id, CNN_EUNSUPPORTED, "ceil_mode gives %lldx%lld, dropping a last "
                         "window that would start in the end padding on one axis only "
                         "(PyTorch's rule), where ONNX rounds both axes alike",
                         (long long)out->dim[1], (long long)out->dim[2]);
    if (!floor_ok && avg && a->count_include_pad && past)
        return node_fail(e, id, CNN_EUNSUPPORTED, "ceil_mode with count_include_pad and a last "
                         "window past the padding: runtimes disagree on its divisor");
    nd = add_node(e, avg ? "AveragePool" : "MaxPool", e->vname[id], 1, &x);
    attr_ints(e, nd, "kernel_shape", a->kernel, 2);
    attr_ints(e, nd, "strides", a->stride, 2);
    attr_ints(e, nd, "pads", a->pad, 4);
    if (!floor_ok)
        attr_int(e, nd, "ceil_mode", 1);
    if (avg)
        attr_int(e, nd, "count_include_pad", a->count_include_pad);
    return done(e);
}

/* Adaptive average pooling: windows of one size, stride and no pads when
 * the output divides the input (a 1x1 output too, as a window over the
 * whole map, which sums in the same order as the graph's op where
 * GlobalAveragePool's would not). */
static int export_adaptive(ex *e, int id, const int *o, const cnn_shape *in, const char *x)
{
    int              k[2], zero[4] = {0, 0, 0, 0};
    Onnx__NodeProto *nd;

    if (in->dim[1] % o[0] != 0 || in->dim[2] % o[1] != 0)
        return node_fail(e, id, CNN_EUNSUPPORTED, "output %dx%d from an input of %lldx%lld: ONNX "
                         "export needs an output that divides the input (an AveragePool); give "
                         "the model an input size that makes it so", o[0], o[1],
                         (long long)in->dim[1], (long long)in->dim[2]);
    k[0] = (int)(in->dim[1] / o[0]);
    k[1] = (int)(in->dim[2] / o[1]);
    nd   = add_node(e, "AveragePool", e->vname[id], 1, &x);
    attr_ints(e, nd, "kernel_shape", k, 2);
    attr_ints(e, nd, "strides", k, 2);
    attr_ints(e, nd, "pads", zero, 4);
    return done(e);
}

/* Add, Mul: the graph broadcasts b into a per sample; so does NumPy once b
 * has a's rank (a constant, without the batch dim, has it by alignment). */
static int export_binary(ex *e, int id, cnn_op op, const int *in, const cnn_shape *s)
{
    const char *a, *b;

    if (is_constant(e, in[0]) && is_constant(e, in[1]))
        return node_fail(e, id, CNN_EUNSUPPORTED, "both operands are constants, so the result "
                         "does not depend on the input (fold them into one constant)");
    a = ranked(e, in[0], s->ndim + 1, e->vname[id]);
    b = ranked(e, in[1], s->ndim + 1, e->vname[id]);
    if (a && b)
        add_node(e, op == CNN_OP_ADD ? "Add" : "Mul", e->vname[id], 2, (const char *[]){a, b});
    return done(e);
}

static int export_node(ex *e, int id)
{
    cnn_op          op;
    cnn_shape       s, xs = {0, {0}};
    cnn_node_attr   a;
    int             in[2], n_in;
    const char     *v = e->vname[id], *x = NULL;
    Onnx__NodeProto *nd;

    cnn_node_info(e->g, id, &op, NULL, &s);
    cnn_node_attrs(e->g, id, &a);
    n_in = cnn_node_inputs(e->g, id, in, 2);
    if (n_in >= 1) {
        x = e->vname[in[0]];
        cnn_node_info(e->g, in[0], NULL, NULL, &xs);
    }
    /* A constant is an operand of Add or Mul only: read by anything else it
     * would need its batch dim, which ONNX could give it only through ops
     * the importer does not map (Concat checks its own inputs). */
    for (int k = 0; k < n_in && k < 2 && op != CNN_OP_ADD && op != CNN_OP_MUL &&
                    op != CNN_OP_CONCAT; k++)
        if (is_constant(e, in[k]))
            return node_fail(e, id, CNN_EUNSUPPORTED, "reads the constant '%s'; ONNX export "
                             "takes a constant only as an operand of add or mul",
                             e->vname[in[k]]);

    switch (op) {
    case CNN_OP_INPUT:
        push(e, (void ***)&e->inputs, &e->n_inputs, &e->cap_inputs, value_info(e, v, &s));
        return done(e);
    case CNN_OP_CONSTANT:
        return param_init(e, id, 0, false) ? CNN_OK : done(e);
    case CNN_OP_CONV2D: {
        const char *w = param_init(e, id, 0, false);
        const char *b = a.conv.bias ? param_init(e, id, 1, false) : NULL;
        nd = add_node(e, "Conv", v, a.conv.bias ? 3 : 2, (const char *[]){x, w, b});
        attr_ints(e, nd, "kernel_shape", a.conv.kernel, 2);
        attr_ints(e, nd, "strides", a.conv.stride, 2);
        attr_ints(e, nd, "pads", a.conv.pad, 4); /* t, l, b, r: ONNX's order */
        attr_ints(e, nd, "dilations", a.conv.dilation, 2);
        attr_int(e, nd, "group", a.conv.groups);
        return done(e);
    }
    case CNN_OP_RELU:    add_node(e, "Relu", v, 1, &x); return done(e);
    case CNN_OP_SIGMOID: add_node(e, "Sigmoid", v, 1, &x); return done(e);
    case CNN_OP_TANH:    add_node(e, "Tanh", v, 1, &x); return done(e);
    case CNN_OP_LEAKY_RELU:
        attr_float(e, add_node(e, "LeakyRelu", v, 1, &x), "alpha", a.slope);
        return done(e);
    case CNN_OP_MAXPOOL2D:
    case CNN_OP_AVGPOOL2D:
        return export_pool(e, id, op, &a.pool, &xs, &s, x);
    case CNN_OP_GLOBAL_AVGPOOL:
        add_node(e, "GlobalAveragePool", v, 1, &x);
        return done(e);
    case CNN_OP_ADAPTIVE_AVGPOOL:
        return export_adaptive(e, id, a.out, &xs, x);
    case CNN_OP_BATCHNORM2D: {
        /* Inference with the running statistics. ONNX's momentum m weighs
         * the running value: PyTorch's (the graph's) is 1 - m. */
        const char *p[4];
        for (int k = 0; k < 4; k++)
            p[k] = param_init(e, id, k % 2, k >= 2);
        nd = add_node(e, "BatchNormalization", v, 5, (const char *[]){x, p[0], p[1], p[2], p[3]});
        attr_float(e, nd, "epsilon", a.eps);
        attr_float(e, nd, "momentum", 1.0f - a.momentum);
        return done(e);
    }
    case CNN_OP_LINEAR: {
        /* y = x W^T + b: Gemm with transB, on x flattened to [N, F]. */
        const char *w = param_init(e, id, 0, false);
        const char *b = a.bias ? param_init(e, id, 1, false) : NULL;
        if (xs.ndim > 1) {
            const char *f = unique_name(e, v, "/flatten");
            attr_int(e, add_node(e, "Flatten", f, 1, &x), "axis", 1);
            x = f;
        }
        attr_int(e, add_node(e, "Gemm", v, a.bias ? 3 : 2, (const char *[]){x, w, b}), "transB",
                 1);
        return done(e);
    }
    case CNN_OP_FLATTEN:
        attr_int(e, add_node(e, "Flatten", v, 1, &x), "axis", 1);
        return done(e);
    case CNN_OP_RESHAPE: {
        int64_t shape[5] = {0}; /* 0 copies the batch dim */
        for (int d = 0; d < s.ndim; d++)
            shape[1 + d] = s.dim[d];
        const char *sh = init_ints(e, v, "/shape", shape, s.ndim + 1);
        add_node(e, "Reshape", v, 2, (const char *[]){x, sh});
        return done(e);
    }
    case CNN_OP_DROPOUT: {
        /* The identity in inference; kept as Dropout so that a re-imported
         * model trains with it. */
        const char *r = init_float(e, v, "/ratio", a.p);
        add_node(e, "Dropout", v, 2, (const char *[]){x, r});
        return done(e);
    }
    case CNN_OP_ADD:
    case CNN_OP_MUL:
        return export_binary(e, id, op, in, &s);
    case CNN_OP_CONCAT: {
        const int    n    = cnn_node_inputs(e->g, id, NULL, 0);
        int         *ids  = zalloc(e, (size_t)n * sizeof *ids);
        const char **ins  = zalloc(e, (size_t)n * sizeof *ins);
        if (e->oom)
            return done(e);
        cnn_node_inputs(e->g, id, ids, n);
        for (int k = 0; k < n; k++) {
            if (is_constant(e, ids[k]))
                return node_fail(e, id, CNN_EUNSUPPORTED, "reads the constant '%s'; ONNX's "
                                 "Concat does not broadcast it along the batch", e->vname[ids[k]]);
            ins[k] = e->vname[ids[k]];
        }
        attr_int(e, add_node(e, "Concat", v, n, ins), "axis", 1);
        return done(e);
    }
    case CNN_OP_SOFTMAX:
    case CNN_OP_LOG_SOFTMAX:
        /* Opset 13: over the one axis; per-sample axis k is ONNX axis k+1. */
        attr_int(e, add_node(e, op == CNN_OP_SOFTMAX ? "Softmax" : "LogSoftmax", v, 1, &x), "axis",
                 a.axis + 1);
        return done(e);
    case CNN_OP_CLIP: {
        /* Both bounds, infinite ones too: an absent bound is FLT_MAX. */
        const char *lo = init_float(e, v, "/min", a.clip.lo);
        const char *hi = init_float(e, v, "/max", a.clip.hi);
        add_node(e, "Clip", v, 3, (const char *[]){x, lo, hi});
        return done(e);
    }
    case CNN_OP_PAD: {
        /* [batch begin, begins..., batch end, ends...], the batch unpadded. */
        int64_t pads[10] = {0};
        for (int d = 0; d < xs.ndim; d++) {
            pads[1 + d]           = a.pad.begin[d];
            pads[xs.ndim + 2 + d] = a.pad.end[d];
        }
        const char *p   = init_ints(e, v, "/pads", pads, 2 * (xs.ndim + 1));
        const char *val = init_float(e, v, "/value", a.pad.value);
        attr_str(e, add_node(e, "Pad", v, 3, (const char *[]){x, p, val}), "mode", "constant");
        return done(e);
    }
    case CNN_OP_LRN:
        nd = add_node(e, "LRN", v, 1, &x);
        attr_int(e, nd, "size", a.lrn.size);
        attr_float(e, nd, "alpha", a.lrn.alpha);
        attr_float(e, nd, "beta", a.lrn.beta);
        attr_float(e, nd, "bias", a.lrn.k);
        return done(e);
    default:
        return node_fail(e, id, CNN_EUNSUPPORTED, "no ONNX mapping for this op");
    }
}

/* ==== @@MODEL ==== */

/* Names, readers, every node, then the outputs: the nodes no other node
 * reads (a graph input among them through an Identity, since ONNX names
 * each value once). */
static int build(ex *e)
{
    int rc;

    e->n = cnn_graph_size(e->g);
    if (e->n < 1)
        return cnn_fail(CNN_EINVAL, "%s: the graph is empty", e->what);
    for (e->n_slot = 64; e->n_slot < (size_t)16 * e->n; e->n_slot *= 2)
        ;
    e->vname   = zalloc(e, (size_t)e->n * sizeof *e->vname);
    e->readers = zalloc(e, (size_t)e->n * sizeof *e->readers);
    e->names   = zalloc(e, e->n_slot * sizeof *e->names);
    if (e->oom)
        return done(e);
    /* Node names first, so that they keep their spelling where they can. */
    for (int id = 0; id < e->n; id++) {
        const char *name;
        cnn_node_info(e->g, id, NULL, &name, NULL);
        if (!(e->vname[id] = unique_name(e, name, "")))
            return done(e);
    }
    for (int id = 0; id < e->n; id++) {
        const int n_in = cnn_node_inputs(e->g, id, NULL, 0);
        int      *in   = malloc((size_t)(n_in ? n_in : 1) * sizeof *in);
        if (!in) {
            e->oom = true;
            return done(e);
        }
        cnn_node_inputs(e->g, id, in, n_in);
        for (int k = 0; k < n_in; k++)
            e->readers[in[k]]++;
        free(in);
    }
    for (int id = 0; id < e->n; id++)
        if ((rc = export_node(e, id)) < 0)
            return rc;
    for (int id = 0; id < e->n; id++) {
        cnn_op      op;
        cnn_shape   s;
        const char *name = e->vname[id];
        if (e->readers[id] > 0)
            continue;
        cnn_node_info(e->g, id, &op, NULL, &s);
        if (op == CNN_OP_CONSTANT)
            return node_fail(e, id, CNN_EUNSUPPORTED, "is read by no node, so it is an output, "
                             "and a constant carries no batch dim; ONNX export takes a constant "
                             "only as an operand of add or mul");
        if (op == CNN_OP_INPUT) {
            if (!(name = unique_name(e, e->vname[id], "/output")))
                return done(e);
            add_node(e, "Identity", name, 1, &e->vname[id]);
        }
        push(e, (void ***)&e->outputs, &e->n_outputs, &e->cap_outputs, value_info(e, name, &s));
        if (e->oom)
            return done(e);
    }
    return CNN_OK;
}

static void ex_free(ex *e)
{
    for (int i = 0; i < e->n_owned; i++)
        free(e->owned[i]);
    free(e->owned);
    free(e->nodes);
    free(e->inits);
    free(e->inputs);
    free(e->outputs);
}

/* The ModelProto around the graph build() made; `size` is its packed
 * size, which protobuf caps at 2 GiB. */
typedef struct model {
    Onnx__ModelProto          mp;
    Onnx__GraphProto          gp;
    Onnx__OperatorSetIdProto  os, *osp;
    size_t                    size;
} model;

static int wrap(ex *e, model *m)
{
    *m = (model){.mp = ONNX__MODEL_PROTO__INIT, .gp = ONNX__GRAPH_PROTO__INIT,
                 .os = ONNX__OPERATOR_SET_ID_PROTO__INIT};
    m->osp                 = &m->os;
    m->os.domain           = "";
    m->os.has_version      = 1;
    m->os.version          = OPSET;
    m->mp.has_ir_version   = 1;
    m->mp.ir_version       = IR_VERSION;
    m->mp.n_opset_import   = 1;
    m->mp.opset_import     = &m->osp;
    m->mp.producer_name    = "cnn";
    m->mp.producer_version = CNN_VERSION_STRING;
    m->mp.graph            = &m->gp;
    m->gp.name             = "cnn";
    m->gp.n_node           = (size_t)e->n_nodes;
    m->gp.node             = e->nodes;
    m->gp.n_initializer    = (size_t)e->n_inits;
    m->gp.initializer      = e->inits;
    m->gp.n_input          = (size_t)e->n_inputs;
    m->gp.input            = e->inputs;
    m->gp.n_output         = (size_t)e->n_outputs;
    m->gp.output           = e->outputs;
    m->size = onnx__model_proto__get_packed_size(&m->mp);
    if (m->size > ONNX_MAX_FILE)
        return cnn_fail(CNN_EOVERFLOW, "%s: the model takes %zu bytes, more than protobuf's "
                        "2 GiB", e->what, m->size);
    return CNN_OK;
}

int cnn_onnx_save_mem(cnn_graph *g, int batch, void **buf, size_t *size)
{
    ex    e = {.g = g, .what = "onnx save", .batch = batch};
    model m;
    int   rc;

    if (buf)
        *buf = NULL;
    if (size)
        *size = 0;
    if (!g || !buf || !size)
        return cnn_fail(CNN_EINVAL, "onnx save: NULL argument");
    if ((rc = build(&e)) == CNN_OK && (rc = wrap(&e, &m)) == CNN_OK) {
        if ((*buf = malloc(m.size ? m.size : 1))) {
            onnx__model_proto__pack(&m.mp, *buf);
            *size = m.size;
        } else {
            rc = cnn_fail(CNN_ENOMEM, "onnx save: out of memory for %zu bytes", m.size);
        }
    }
    ex_free(&e);
    return rc;
}

/* protobuf-c's output sink writing to a file as it packs, so a model
 * never needs a second copy of its weights in memory. */
typedef struct file_sink {
    ProtobufCBuffer base;
    FILE           *f;
    bool            failed;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_sink *s = (file_sink *)b;
    if (!s->failed && fwrite(data, 1, len, s->f) != len)
        s->failed = true;
}

int cnn_onnx_save(cnn_graph *g, const char *path, int batch)
{
    ex        e    = {.g = g, .what = path, .batch = batch};
    file_sink sink = {.base = {sink_append}};
    model      m;
    cnn_atomic out = {0};
    int        rc;

    if (!g || !path)
        return cnn_fail(CNN_EINVAL, "onnx save: NULL argument");
    if ((rc = build(&e)) < 0 || (rc = wrap(&e, &m)) < 0)
        goto out;
    /* Written beside `path` and renamed over it, as checkpoints are: a
     * crash leaves the previous file whole. */
    if ((rc = cnn_atomic_begin(&out, path)) == CNN_OK) {
        sink.f = out.f;
        onnx__model_proto__pack_to_buffer(&m.mp, &sink.base);
        if (sink.failed)
            rc = cnn_fail(CNN_EIO, "%s: write failed: %s", out.tmp, strerror(errno));
        int end = cnn_atomic_end(&out, rc == CNN_OK);
        rc      = rc < 0 ? rc : end;
    }
out:
    ex_free(&e);
    return rc;
}

#endif /* CNN_HAVE_ONNX */
