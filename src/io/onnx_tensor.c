/* onnx_tensor.c - the protobuf side of ONNX import: a walk over the wire
 * format that bounds message nesting before protobuf-c parses, and the
 * checked decoding of TensorProto (initializers, Constant values, the
 * backend tests' input and output files). */
#ifdef CNN_HAVE_ONNX

#include "onnx_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64 /* nesting of messages (see wire_check) */

/* ==== @@WIRE ==== */

/* protobuf-c unpacks nested messages by recursion without a depth limit,
 * so a file of nested subgraphs (an attribute's GraphProto) runs the stack
 * out: 1.2 MB of them crash protobuf-c 1.4. This walk over the wire
 * format, guided by the generated descriptors, refuses nesting deeper than
 * MAX_DEPTH first; it decodes nothing (protobuf-c does that next).
 * wire_check returns 0, 1 for too deep, or -1 for bytes that are not
 * protobuf at all. */
static size_t varint(const uint8_t *p, size_t len, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

static int wire_check(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > MAX_DEPTH)
        return 1;
    while (len > 0) {
        uint64_t key, v;
        size_t   n = varint(p, len, &key);
        if (!n)
            return -1;
        p += n, len -= n;
        switch (key & 7) {
        case 0:
            if (!(n = varint(p, len, &v)))
                return -1;
            break;
        case 1: n = 8; break;
        case 5: n = 4; break;
        case 2: {
            const ProtobufCFieldDescriptor *f;
            if (!(n = varint(p, len, &v)) || v > len - n)
                return -1;
            p += n, len -= n;
            n = (size_t)v;
            f = key >> 3 > UINT32_MAX
                    ? NULL
                    : protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int rc = wire_check(p, n, f->descriptor, depth + 1);
                if (rc)
                    return rc;
            }
            break;
        }
        default: return -1; /* groups: not in ONNX, not in protobuf-c */
        }
        if (n > len)
            return -1;
        p += n, len -= n;
    }
    return 0;
}

/* ==== @@TENSORS ==== */

const char *onnx_dtype_name(int32_t t)
{
    static const char *const names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
        "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    };
    return t >= 0 && t < (int32_t)(sizeof names / sizeof *names) ? names[t] : "an unknown type";
}

/* Bytes per element in raw_data of the types read here; 0 for the rest. */
int onnx_dtype_size(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:  return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:   return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:  return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return 8;
    default:                                    return 0;
    }
}

/* The typed field that holds this type's values when raw_data does not. */
static size_t typed_count(const Onnx__TensorProto *t)
{
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:  return t->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:  return t->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return t->n_uint64_data;
    default:                                    return t->n_int32_data;
    }
}

/* Element k of raw little-endian data of type t, widened. */
static int64_t raw_int(const uint8_t *p, int32_t t, int64_t k)
{
    const int sz = onnx_dtype_size(t);
    uint64_t  u  = 0;

    for (int b = 0; b < sz; b++)
        u |= (uint64_t)p[k * sz + b] << (8 * b);
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:  return (int8_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (int16_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (int32_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:  return u != 0;
    default:                                   return (int64_t)u;
    }
}

static int typed_int(const Onnx__TensorProto *t, int64_t k, int64_t *out)
{
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:  *out = t->int64_data[k]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: *out = (int64_t)t->uint64_data[k]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:   *out = t->int32_data[k] != 0; break;
    default:                                    *out = t->int32_data[k]; break;
    }
    return CNN_OK;
}

void onnx_dims_str(int ndim, const int64_t *dim, char *buf, size_t size)
{
    size_t at = 0;

    at += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? ", " : "", (long long)dim[d]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
}

int onnx_tensor_read(const char *file, const char *what, const Onnx__TensorProto *t, bool decode,
                     cnn_onnx_tensor *out)
{
    const int32_t dt = t->has_data_type ? t->data_type : 0;
    const int     sz = onnx_dtype_size(dt);
    int64_t       numel = 1;
    size_t        typed;
    char          ds[160];

    memset(out, 0, sizeof *out);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %s keeps its data in an external file "
                        "(data_location EXTERNAL), which this importer does not read; save the "
                        "model with its data inside", file, what);
    if (t->segment)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %s is a segment of a larger tensor, which this "
                        "importer does not read", file, what);
    if (!sz)
        return cnn_fail(dt == 0 || dt > 16 ? CNN_EFORMAT : CNN_EUNSUPPORTED,
                        "%s: %s holds %s data; this importer reads FLOAT and integer types",
                        file, what, onnx_dtype_name(dt));
    if (t->n_dims > CNN_ONNX_MAX_DIMS)
        return cnn_fail(CNN_EUNSUPPORTED, "%s: %s has %zu dims, at most %d supported", file, what,
                        t->n_dims, CNN_ONNX_MAX_DIMS);
    out->ndim = (int)t->n_dims;
    for (int d = 0; d < out->ndim; d++) {
        out->dim[d] = t->dims[d];
        if (t->dims[d] < 0 || cnn_size_mul(numel, t->dims[d], &numel) < 0)
            return cnn_fail(CNN_EFORMAT, "%s: %s has dims %s, expected non-negative sizes whose "
                            "product fits in 64 bits", file, what,
                            (onnx_dims_str(out->ndim, t->dims, ds, sizeof ds), ds));
    }
    onnx_dims_str(out->ndim, out->dim, ds, sizeof ds);
    typed = typed_count(t);
    if (t->has_raw_data && t->raw_data.len > 0 && typed > 0)
        return cnn_fail(CNN_EFORMAT, "%s: %s holds both raw_data and typed values, expected one",
                        file, what);
    if (t->has_raw_data && t->raw_data.len > 0) {
        if ((uint64_t)numel > t->raw_data.len / (size_t)sz || t->raw_data.len != (size_t)numel * sz)
            return cnn_fail(CNN_EFORMAT, "%s: %s has raw_data of %zu bytes, but shape %s of %s "
                            "needs %lld x %d bytes", file, what, t->raw_data.len, ds,
                            onnx_dtype_name(dt), (long long)numel, sz);
    } else if ((uint64_t)typed != (uint64_t)numel) {
        return cnn_fail(CNN_EFORMAT, "%s: %s holds %zu values, but its shape %s needs %lld", file,
                        what, typed, ds, (long long)numel);
    }
    out->numel = numel;
    if (!decode)
        return CNN_OK;

    const size_t cnt = numel > 0 ? (size_t)numel : 1;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        if (!(out->data = malloc(cnt * sizeof *out->data)))
            goto oom;
        if (typed)
            memcpy(out->data, t->float_data, (size_t)numel * sizeof *out->data);
        for (int64_t k = 0; !typed && k < numel; k++) {
            uint32_t u = (uint32_t)raw_int(t->raw_data.data,
                                           ONNX__TENSOR_PROTO__DATA_TYPE__UINT32, k);
            memcpy(&out->data[k], &u, sizeof u);
        }
    } else {
        if (!(out->ints = malloc(cnt * sizeof *out->ints)))
            goto oom;
        for (int64_t k = 0; k < numel; k++) {
            if (typed)
                typed_int(t, k, &out->ints[k]);
            else
                out->ints[k] = raw_int(t->raw_data.data, dt, k);
        }
    }
    return CNN_OK;
oom:
    return cnn_fail(CNN_ENOMEM, "%s: out of memory for %s (%lld values)", file, what,
                    (long long)numel);
}

void cnn_onnx_tensor_free(cnn_onnx_tensor *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->data);
    free(t->ints);
    memset(t, 0, sizeof *t);
}

/* Parses `buf` as message d after the depth check; NULL with the reason. */
ProtobufCMessage *onnx_unpack(const char *file, const char *what,
                              const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
    ProtobufCMessage *msg;
    int               rc = wire_check(buf, len, d, 0);

    if (rc > 0) {
        cnn_fail(CNN_EFORMAT, "%s: %s with messages nested more than %d deep, more than this "
                 "importer takes", file, what, MAX_DEPTH);
        return NULL;
    }
    if (rc < 0 || !(msg = protobuf_c_message_unpack(d, NULL, len, buf))) {
        cnn_fail(CNN_EFORMAT, "%s: not a valid %s: the protobuf encoding is broken (truncated "
                 "or corrupt?)", file, what);
        return NULL;
    }
    return msg;
}

int cnn_onnx_tensor_load(const char *path, cnn_onnx_tensor *t)
{
    uint64_t           len;
    uint8_t           *buf;
    Onnx__TensorProto *tp;
    int                rc;

    if (t)
        memset(t, 0, sizeof *t);
    if (!path || !t)
        return cnn_fail(CNN_EINVAL, "onnx tensor load: NULL argument");
    if (!(buf = cnn_read_file(path, ONNX_MAX_FILE, &len)))
        return CNN_EIO; /* the reason is recorded */
    tp = (Onnx__TensorProto *)onnx_unpack(path, "TensorProto", &onnx__tensor_proto__descriptor,
                                          buf, len);
    free(buf);
    if (!tp)
        return CNN_EFORMAT;
    if ((rc = onnx_tensor_read(path, "the tensor", tp, true, t)) == CNN_OK &&
        !(t->name = malloc(strlen(onnx_str(tp->name)) + 1)))
        rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
    if (rc == CNN_OK)
        strcpy(t->name, onnx_str(tp->name));
    else
        cnn_onnx_tensor_free(t);
    protobuf_c_message_free_unpacked(&tp->base, NULL);
    return rc;
}

#endif /* CNN_HAVE_ONNX */
