/* onnx_impl.h - the inside of the ONNX importer, shared by onnx.c (files,
 * tensors, values, the walk over the graph) and onnx_ops.c (one mapping
 * per ONNX op). Built only with CNN_HAVE_ONNX. */
#ifndef CNN_ONNX_IMPL_H
#define CNN_ONNX_IMPL_H

#include "../core/core.h"

#include "onnx.pb-c.h"

#define OPSET_MIN 6
#define OPSET_MAX 17

/* What an ONNX value is while the graph is being built. */
typedef enum vkind {
    V_DATA,  /* computed per sample: a graph node                        */
    V_CONST, /* known now: an initializer, a Constant or a fed input      */
    V_INPUT, /* a graph input not yet needed: becomes data or a constant  */
    V_NONE,  /* an output this importer does not compute (Dropout's mask) */
} vkind;

typedef struct oval {
    const char *name;                    /* the ONNX name, in the model   */
    vkind       kind;
    int         node;                    /* V_DATA: its graph node        */
    int         ndim;                    /* ONNX rank; for data dim[0] is
                                          * the batch (-1: left open)     */
    int64_t     dim[CNN_ONNX_MAX_DIMS];
    int64_t     numel;                   /* V_CONST, fed V_INPUT          */
    const float   *f;                    /* float data, or NULL           */
    const int64_t *i;                    /* integer data, or NULL         */
    const Onnx__TensorProto *lazy;       /* an initializer not decoded yet */
    int         input;                   /* graph input index, or -1      */
    bool        is_float;                /* element type float32          */
    bool        learned;                 /* an initializer: made a trainable
                                          * constant node when read as data */
} oval;

typedef struct imp {
    const char       *file;              /* for messages                  */
    cnn_graph        *g;
    Onnx__GraphProto *gp;
    int               opset;
    int64_t           batch;             /* the first input's dim 0, or -1 */
    cnn_onnx_opts    *opts;              /* never NULL inside             */
    oval             *vals;
    int               n_vals, cap_vals;
    int              *slot;              /* hash of names -> vals index    */
    size_t            n_slot;            /* a power of 2                   */
    void            **owned;             /* decoded tensors, freed at end  */
    int               n_owned, cap_owned;
    const Onnx__NodeProto *node;         /* the node being mapped          */
} imp;

/* ==== @@MESSAGES ==== */

/* "FILE: node 'LABEL' (OpType): ..." with the node being mapped; the label
 * is the node's name, or its first output's when it has none. */
int onnx_node_fail(imp *m, int code, const char *fmt, ...) CNN_PRINTF(3, 4);
/* The same around the reason a graph call just recorded. */
int onnx_graph_fail(imp *m, int code);
/* "FILE: unsupported ONNX op 'X' (node 'Y')". */
int onnx_unsupported_op(imp *m);
/* The node's label, as in messages. */
const char *onnx_node_label(const Onnx__NodeProto *n);
static inline const char *onnx_str(const char *s) { return s ? s : ""; }

/* ==== @@VALUES ==== */

/* The value named `name`; NULL (with the reason) if nothing defines it. */
oval *onnx_lookup(imp *m, const char *name);
/* Input k of the node being mapped: *v is NULL when it is absent (past the
 * end, or an empty name: an optional input left out). Fails when the name
 * is not defined before. */
int onnx_in(imp *m, int k, oval **v);
/* v as data: a graph input is made on the first use of a graph input; a
 * constant is refused (no constant folding). Returns its node id. */
int onnx_as_data(imp *m, oval *v);
/* v as a constant, decoded (v->f or v->i set); data is refused, naming
 * `what` ("the weight"). */
int onnx_as_const(imp *m, oval *v, const char *what);
/* Defines output k of the node being mapped as data: graph node `node`
 * whose ONNX shape is ndim, dim (dim[0] the batch). */
int onnx_def_data(imp *m, int k, int node, int ndim, const int64_t *dim);
/* Defines output k as another name for value v (Identity, Dropout). */
int onnx_def_alias(imp *m, int k, oval *v);
/* Defines output k as a constant (Constant); t's arrays pass to m. */
int onnx_def_const(imp *m, int k, cnn_onnx_tensor *t);
/* Defines output k as not computed: reading it is CNN_EUNSUPPORTED. */
int onnx_def_none(imp *m, int k);
/* A name for the graph node computing output k: the ONNX name when the
 * graph can take it, else NULL (an automatic one). */
const char *onnx_out_name(imp *m, int k);
/* Marks p to be freed with the importer. Returns p, or NULL (p freed). */
void *onnx_own(imp *m, void *p);

/* ==== @@SHAPES ==== */

/* The graph's per-sample shape of a data value of ONNX rank ndim: dims 1..
 * ([1] for a rank-1 value). CNN_EUNSUPPORTED past 4 dims. */
int onnx_sample_shape(imp *m, int ndim, const int64_t *dim, cnn_shape *s);
/* Node `x` seen as per-sample shape *s: x itself when its shape is *s,
 * else a new flatten or reshape node called `name` (NULL: automatic). */
int onnx_view(imp *m, int x, const cnn_shape *s, const char *name);

/* ==== @@ATTRIBUTES ==== */

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
/* Refuses (CNN_EUNSUPPORTED) any attribute not in the NULL-terminated list. */
int onnx_attrs_known(imp *m, const char *const *known);
int onnx_attr_int(imp *m, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out);
int onnx_attr_float(imp *m, const char *name, float def, float *out);
/* Up to max ints into out, each in [lo, hi]; *count = -1 when absent. */
int onnx_attr_ints(imp *m, const char *name, int max, int64_t lo, int64_t hi, int64_t *out,
                   int *count);
/* A string attribute into buf (def when absent). */
int onnx_attr_str(imp *m, const char *name, const char *def, char *buf, size_t size);

/* ==== @@TENSORS ==== */

#define ONNX_MAX_FILE ((uint64_t)2 << 30) /* protobuf's own limit: 2 GiB */

/* Parses buf as message d (`what` names it in messages: "ONNX model") after
 * bounding its nesting; NULL with the reason. Free with
 * protobuf_c_message_free_unpacked. */
ProtobufCMessage *onnx_unpack(const char *file, const char *what,
                              const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len);
/* "FLOAT", "INT64", ... for TensorProto.DataType t. */
const char *onnx_dtype_name(int32_t t);
/* Bytes per element of the types read here (FLOAT, integers, BOOL); 0 for
 * the rest. */
int onnx_dtype_size(int32_t t);
/* "[2, 3, 4]" into buf. */
void onnx_dims_str(int ndim, const int64_t *dim, char *buf, size_t size);

/* Checks a TensorProto's dims, type and data size against each other,
 * filling out's ndim, dim, numel; with `decode`, also its data: float32
 * into out->data, integer types into out->ints (malloc'd; free with
 * cnn_onnx_tensor_free). `what` names it in messages ("initializer 'W'"). */
int onnx_tensor_read(const char *file, const char *what, const Onnx__TensorProto *t, bool decode,
                     cnn_onnx_tensor *out);

/* ==== @@OPS ==== */

/* Maps the node m->node onto the graph (onnx_ops.c). */
int onnx_map_node(imp *m);

/* Helpers of the mappings (onnx_ops.c). */
const char *onnx_op_type(const imp *m);
bool        onnx_is_op(const imp *m, const char *op);
/* Checks the input count; outputs past `outs` are defined as not
 * computed. */
int onnx_arity(imp *m, int min_in, int max_in, int outs);
/* Input k, which must be there, as data. */
int onnx_data_in(imp *m, int k, oval **v);
/* Input k as a float constant of `count` values (count < 0: any), or
 * *v = NULL when it is absent and not `required`. */
int onnx_const_in(imp *m, int k, const char *what, bool required, int64_t count, oval **v);
/* Input k as integer constants (shapes, pads, axes), or *v = NULL. */
int onnx_ints_in(imp *m, int k, const char *what, oval **v);
/* A scalar float constant input, or def when absent. */
int onnx_scalar_in(imp *m, int k, const char *what, float def, float *out);
/* The product of dim[from .. to-1]. */
int64_t onnx_prod(const int64_t *dim, int from, int to);
/* The per-sample shape of ONNX shape (ndim, dim) with dims [a, b) merged
 * into one. */
cnn_shape onnx_merged(int ndim, const int64_t *dim, int a, int b);

/* The mappings of onnx_shape_ops.c. */
int onnx_map_flatten(imp *m);
int onnx_map_reshape(imp *m);
int onnx_map_squeeze(imp *m);   /* and Unsqueeze */
int onnx_map_pad(imp *m);
int onnx_map_softmax(imp *m);   /* and LogSoftmax */
int onnx_map_identity(imp *m);
int onnx_map_dropout(imp *m);
int onnx_map_constant(imp *m);

#endif
