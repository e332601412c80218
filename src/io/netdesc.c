/* netdesc.c - the network-description text format (docs/netdesc.md): one
 * layer per line, `op key=value ...`, reading the previous layer unless
 * `in=` names others. A producer and a consumer of graphs through the
 * public API only (plus the core's checked file reader). */
#include "../core/core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 32
#define MAX_LINE   4096

/* ==== @@PARSE ==== */

typedef struct kv {
    char *key, *val;
    bool  used;
} kv;

typedef struct line {
    const char *file;
    int         no;
    char       *op;
    kv          kv[MAX_TOKENS];
    int         n_kv;
} line;

static int line_fail(const line *l, const char *fmt, ...)
{
    char    msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail(CNN_EFORMAT, "%s:%d: %s", l->file, l->no, msg);
}

static const char *get(line *l, const char *key)
{
    for (int i = 0; i < l->n_kv; i++)
        if (strcmp(l->kv[i].key, key) == 0) {
            l->kv[i].used = true;
            return l->kv[i].val;
        }
    return NULL;
}

/* An integer in [lo, hi]. */
static int parse_int(const line *l, const char *key, const char *s, long lo, long hi, int *out)
{
    char *end;
    long  v;

    errno = 0;
    v     = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return line_fail(l, "%s=%s: expected an integer from %ld to %ld", key, s, lo, hi);
    *out = (int)v;
    return CNN_OK;
}

/* "N", "AxB" or "A,B,C,D": n values separated by 'x' or ','. */
static int parse_ints(const line *l, const char *key, const char *s, long lo, long hi, int *out,
                      int max, int *count)
{
    char buf[128], *save = NULL, *tok;
    int  n = 0;

    if (strlen(s) >= sizeof buf)
        return line_fail(l, "%s=%s: value too long", key, s);
    strcpy(buf, s);
    for (tok = strtok_r(buf, "x,", &save); tok; tok = strtok_r(NULL, "x,", &save)) {
        if (n == max)
            return line_fail(l, "%s=%s: at most %d numbers", key, s, max);
        if (parse_int(l, key, tok, lo, hi, &out[n++]) < 0)
            return line_fail(l, "%s=%s: expected integers from %ld to %ld", key, s, lo, hi);
    }
    if (n == 0)
        return line_fail(l, "%s: empty value", key);
    *count = n;
    return CNN_OK;
}

/* A pair (h, w) given as "N" or "HxW". */
static int parse_pair(line *l, const char *key, long lo, long hi, int def, int out[2])
{
    const char *s = get(l, key);
    int         n, rc;

    out[0] = out[1] = def;
    if (!s)
        return CNN_OK;
    if ((rc = parse_ints(l, key, s, lo, hi, out, 2, &n)) < 0)
        return rc;
    if (n == 1)
        out[1] = out[0];
    return CNN_OK;
}

static int parse_bool(line *l, const char *key, bool def, bool *out)
{
    const char *s = get(l, key);

    *out = def;
    if (!s)
        return CNN_OK;
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else
        return line_fail(l, "%s=%s: expected true or false", key, s);
    return CNN_OK;
}

static int parse_float(line *l, const char *key, float def, float *out)
{
    const char *s = get(l, key);
    char       *end;

    *out = def;
    if (!s)
        return CNN_OK;
    errno = 0;
    *out  = strtof(s, &end);
    if (end == s || *end || errno || !isfinite(*out))
        return line_fail(l, "%s=%s: expected a number", key, s);
    return CNN_OK;
}

/* A clip bound: a number, or inf / -inf; def when absent. */
static int parse_bound(line *l, const char *key, float def, float *out)
{
    const char *s = get(l, key);
    char       *end;

    *out = def;
    if (!s)
        return CNN_OK;
    errno = 0;
    *out  = strtof(s, &end);
    if (end == s || *end || isnan(*out) || (errno && !isinf(*out)))
        return line_fail(l, "%s=%s: expected a number, inf or -inf", key, s);
    return CNN_OK;
}

/* shape=AxBxCxD: 1 to 4 dims of 1 to 2^31-1. */
static int parse_shape(line *l, cnn_shape *s)
{
    int dims[4], n, rc;

    if ((rc = parse_ints(l, "shape", get(l, "shape"), 1, INT32_MAX, dims, 4, &n)) < 0)
        return rc;
    s->ndim = n;
    for (int d = 0; d < n; d++)
        s->dim[d] = dims[d];
    return CNN_OK;
}

static int require(line *l, const char *key)
{
    for (int i = 0; i < l->n_kv; i++)
        if (strcmp(l->kv[i].key, key) == 0)
            return CNN_OK;
    return line_fail(l, "%s: missing attribute '%s'", l->op, key);
}

/* pad=P | PHxPW | T,L,B,R | same | valid */
static int parse_pads(line *l, int pad[4], bool *same)
{
    const char *s = get(l, "pad");
    int         v[4], n, rc;

    memset(pad, 0, 4 * sizeof *pad);
    *same = false;
    if (!s || strcmp(s, "valid") == 0)
        return CNN_OK;
    if (strcmp(s, "same") == 0) {
        *same = true;
        return CNN_OK;
    }
    if ((rc = parse_ints(l, "pad", s, 0, 1 << 20, v, 4, &n)) < 0)
        return rc;
    if (n == 3)
        return line_fail(l, "pad=%s: expected P, PHxPW or T,L,B,R", s);
    if (n == 1)
        pad[0] = pad[1] = pad[2] = pad[3] = v[0];
    else if (n == 2)
        pad[0] = pad[2] = v[0], pad[1] = pad[3] = v[1];
    else
        memcpy(pad, v, sizeof v);
    return CNN_OK;
}

/* Splits one line into op and key=value tokens (in place). Returns 0 for
 * a blank or comment line, 1 for a layer, or an error. */
static int tokenize(char *text, line *l)
{
    char *save = NULL, *tok, *hash = strchr(text, '#');

    if (hash)
        *hash = '\0';
    l->op   = NULL;
    l->n_kv = 0;
    for (tok = strtok_r(text, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (!l->op) {
            if (strchr(tok, '='))
                return line_fail(l, "expected an op name first, got '%s'", tok);
            l->op = tok;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return line_fail(l, "'%s': expected key=value", tok);
        if (l->n_kv == MAX_TOKENS)
            return line_fail(l, "more than %d attributes", MAX_TOKENS);
        *eq = '\0';
        for (int i = 0; i < l->n_kv; i++)
            if (strcmp(l->kv[i].key, tok) == 0)
                return line_fail(l, "attribute '%s' given twice", tok);
        l->kv[l->n_kv++] = (kv){tok, eq + 1, false};
    }
    return l->op ? 1 : 0;
}

/* Names defined anywhere in the file, with their lines, to tell a
 * reference to a later layer (a cycle) from one to no layer at all. */
typedef struct names {
    char **name;
    int   *line;
    int    n;
} names;

static int later_line(const names *all, const char *name)
{
    for (int i = 0; i < all->n; i++)
        if (strcmp(all->name[i], name) == 0)
            return all->line[i];
    return 0;
}

/* Resolves `in=` (or the previous layer) to node ids. */
static int inputs(line *l, cnn_graph *g, int prev, const names *all, int *ids, int max, int *n)
{
    const char *s = get(l, "in");
    char        buf[MAX_LINE], *save = NULL, *tok;

    *n = 0;
    if (!s) {
        if (prev < 0)
            return line_fail(l, "%s: no earlier layer to read; the first layer must be an input",
                             l->op);
        ids[(*n)++] = prev;
        return CNN_OK;
    }
    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int id;
        if (*n == max)
            return line_fail(l, "%s: at most %d inputs", l->op, max);
        for (id = 0; id < cnn_graph_size(g); id++) {
            const char *nm;
            cnn_node_info(g, id, NULL, &nm, NULL);
            if (strcmp(nm, tok) == 0)
                break;
        }
        if (id == cnn_graph_size(g)) {
            int at = later_line(all, tok);
            if (at)
                return line_fail(l, "%s: reads '%s', which is defined at line %d, not before: "
                                 "layers read only earlier layers (a cycle?)", l->op, tok, at);
            return line_fail(l, "%s: reads '%s', but no layer has that name", l->op, tok);
        }
        ids[(*n)++] = id;
    }
    return CNN_OK;
}

static int one_input(line *l, int n)
{
    return n == 1 ? CNN_OK : line_fail(l, "%s: reads exactly one layer, got %d", l->op, n);
}

/* Adds the layer of line l; returns the node id or an error. */
static int add_layer(line *l, cnn_graph *g, int prev, const names *all)
{
    const char *name = get(l, "name");
    int         in[64], n = 0, rc, id;
    const char *op = l->op;

    if (strcmp(op, "input") == 0) {
        int dims[3], nd;
        const char *shape = get(l, "shape");
        if ((rc = require(l, "shape")) < 0 ||
            (rc = parse_ints(l, "shape", shape, 1, 1 << 24, dims, 3, &nd)) < 0)
            return rc;
        if (nd == 2)
            return line_fail(l, "shape=%s: expected CxHxW or F", shape);
        id = nd == 3 ? cnn_input(g, dims[0], dims[1], dims[2], name)
                     : cnn_input_flat(g, dims[0], name);
        goto done;
    }
    if (strcmp(op, "constant") == 0) {
        cnn_shape s;
        if ((rc = require(l, "shape")) < 0 || (rc = parse_shape(l, &s)) < 0)
            return rc;
        id = cnn_constant(g, &s, name);
        goto done;
    }
    if ((rc = inputs(l, g, prev, all, in, 64, &n)) < 0)
        return rc;

    if (strcmp(op, "conv2d") == 0) {
        cnn_conv2d_attr a;
        bool            same;
        int             k[2];
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "out")) < 0 ||
            (rc = require(l, "kernel")) < 0)
            return rc;
        if ((rc = parse_int(l, "out", get(l, "out"), 1, 1 << 24, &a.out_channels)) < 0 ||
            (rc = parse_pair(l, "kernel", 1, 1 << 16, 1, k)) < 0)
            return rc;
        a = cnn_conv2d_defaults(a.out_channels, k[0], k[1]);
        if ((rc = parse_pair(l, "stride", 1, 1 << 16, 1, a.stride)) < 0 ||
            (rc = parse_pair(l, "dilation", 1, 1 << 16, 1, a.dilation)) < 0 ||
            (rc = parse_pads(l, a.pad, &same)) < 0 || (rc = parse_bool(l, "bias", true, &a.bias)) < 0)
            return rc;
        if (get(l, "groups") && (rc = parse_int(l, "groups", get(l, "groups"), 1, 1 << 24, &a.groups)) < 0)
            return rc;
        if (same) {
            cnn_shape s;
            cnn_node_info(g, in[0], NULL, NULL, &s);
            if (s.ndim != 3)
                return line_fail(l, "conv2d: pad=same needs a C x H x W input");
            cnn_conv2d_pad_same(&a, (int)s.dim[1], (int)s.dim[2]);
        }
        id = cnn_conv2d(g, in[0], &a, name);
    } else if (strcmp(op, "maxpool2d") == 0 || strcmp(op, "avgpool2d") == 0) {
        cnn_pool2d_attr a;
        bool            same;
        int             k[2];
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "kernel")) < 0 ||
            (rc = parse_pair(l, "kernel", 1, 1 << 16, 1, k)) < 0)
            return rc;
        a = cnn_pool2d_defaults(k[0], k[1]);
        if ((rc = parse_pair(l, "stride", 1, 1 << 16, 0, a.stride)) < 0 ||
            (rc = parse_pads(l, a.pad, &same)) < 0 ||
            (rc = parse_bool(l, "ceil", false, &a.ceil_mode)) < 0)
            return rc;
        if (same)
            return line_fail(l, "%s: pad=same is for conv2d only; give the pads", op);
        if (a.stride[0] == 0)
            a.stride[0] = k[0], a.stride[1] = k[1];
        if (op[0] == 'a') {
            if ((rc = parse_bool(l, "count_include_pad", true, &a.count_include_pad)) < 0)
                return rc;
            id = cnn_avgpool2d(g, in[0], &a, name);
        } else {
            id = cnn_maxpool2d(g, in[0], &a, name);
        }
    } else if (strcmp(op, "adaptive_avgpool") == 0) {
        int sz[2];
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "size")) < 0 ||
            (rc = parse_pair(l, "size", 1, 1 << 16, 1, sz)) < 0)
            return rc;
        id = cnn_adaptive_avgpool2d(g, in[0], sz[0], sz[1], name);
    } else if (strcmp(op, "linear") == 0) {
        int  out;
        bool bias;
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "out")) < 0 ||
            (rc = parse_int(l, "out", get(l, "out"), 1, 1 << 24, &out)) < 0 ||
            (rc = parse_bool(l, "bias", true, &bias)) < 0)
            return rc;
        id = cnn_linear(g, in[0], out, bias, name);
    } else if (strcmp(op, "batchnorm2d") == 0) {
        float eps, mom;
        if ((rc = one_input(l, n)) < 0 || (rc = parse_float(l, "eps", 1e-5f, &eps)) < 0 ||
            (rc = parse_float(l, "momentum", 0.1f, &mom)) < 0)
            return rc;
        id = cnn_batchnorm2d(g, in[0], eps, mom, name);
    } else if (strcmp(op, "leaky_relu") == 0) {
        float slope;
        if ((rc = one_input(l, n)) < 0 || (rc = parse_float(l, "slope", 0.01f, &slope)) < 0)
            return rc;
        id = cnn_leaky_relu(g, in[0], slope, name);
    } else if (strcmp(op, "dropout") == 0) {
        float p;
        if ((rc = one_input(l, n)) < 0 || (rc = parse_float(l, "p", 0.5f, &p)) < 0)
            return rc;
        id = cnn_dropout(g, in[0], p, name);
    } else if (strcmp(op, "add") == 0 || strcmp(op, "mul") == 0) {
        if (n != 2)
            return line_fail(l, "%s: reads exactly two layers (in=a,b), got %d", op, n);
        id = op[0] == 'a' ? cnn_add(g, in[0], in[1], name) : cnn_mul(g, in[0], in[1], name);
    } else if (strcmp(op, "reshape") == 0) {
        cnn_shape s;
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "shape")) < 0 ||
            (rc = parse_shape(l, &s)) < 0)
            return rc;
        id = cnn_reshape(g, in[0], &s, name);
    } else if (strcmp(op, "softmax") == 0 || strcmp(op, "log_softmax") == 0) {
        int axis = 0;
        if ((rc = one_input(l, n)) < 0 ||
            (get(l, "axis") && (rc = parse_int(l, "axis", get(l, "axis"), 0, 3, &axis)) < 0))
            return rc;
        id = op[0] == 's' ? cnn_softmax_axis(g, in[0], axis, name)
                          : cnn_log_softmax(g, in[0], axis, name);
    } else if (strcmp(op, "clip") == 0) {
        float lo, hi;
        if ((rc = one_input(l, n)) < 0 || (rc = parse_bound(l, "min", -INFINITY, &lo)) < 0 ||
            (rc = parse_bound(l, "max", INFINITY, &hi)) < 0)
            return rc;
        id = cnn_clip(g, in[0], lo, hi, name);
    } else if (strcmp(op, "pad") == 0) {
        int       b[4] = {0}, e[4] = {0}, nb = 0, ne = 0;
        float     value;
        cnn_shape s;
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "begin")) < 0 ||
            (rc = require(l, "end")) < 0 ||
            (rc = parse_ints(l, "begin", get(l, "begin"), -(1 << 24), 1 << 24, b, 4, &nb)) < 0 ||
            (rc = parse_ints(l, "end", get(l, "end"), -(1 << 24), 1 << 24, e, 4, &ne)) < 0 ||
            (rc = parse_float(l, "value", 0.0f, &value)) < 0)
            return rc;
        cnn_node_info(g, in[0], NULL, NULL, &s);
        if (nb != s.ndim || ne != s.ndim)
            return line_fail(l, "pad: begin and end need %d values each (the input's dims), got "
                             "%d and %d", s.ndim, nb, ne);
        id = cnn_pad(g, in[0], b, e, value, name);
    } else if (strcmp(op, "lrn") == 0) {
        int   size;
        float alpha, beta, k;
        if ((rc = one_input(l, n)) < 0 || (rc = require(l, "size")) < 0 ||
            (rc = parse_int(l, "size", get(l, "size"), 1, 1 << 16, &size)) < 0 ||
            (rc = parse_float(l, "alpha", 1e-4f, &alpha)) < 0 ||
            (rc = parse_float(l, "beta", 0.75f, &beta)) < 0 ||
            (rc = parse_float(l, "k", 1.0f, &k)) < 0)
            return rc;
        id = cnn_lrn(g, in[0], size, alpha, beta, k, name);
    } else if (strcmp(op, "concat") == 0) {
        id = cnn_concat(g, in, n, name);
    } else if (strcmp(op, "relu") == 0 || strcmp(op, "sigmoid") == 0 || strcmp(op, "tanh") == 0 ||
               strcmp(op, "flatten") == 0 || strcmp(op, "global_avgpool") == 0) {
        if ((rc = one_input(l, n)) < 0)
            return rc;
        id = op[0] == 'r'   ? cnn_relu(g, in[0], name)
             : op[0] == 's' ? cnn_sigmoid(g, in[0], name)
             : op[0] == 't' ? cnn_tanh(g, in[0], name)
             : op[0] == 'f' ? cnn_flatten(g, in[0], name)
                            : cnn_global_avgpool(g, in[0], name);
    } else {
        return line_fail(l, "unknown op '%s' (known: input, conv2d, relu, leaky_relu, sigmoid, "
                         "tanh, maxpool2d, avgpool2d, global_avgpool, adaptive_avgpool, "
                         "batchnorm2d, linear, flatten, dropout, add, mul, concat, softmax, "
                         "log_softmax, constant, reshape, clip, pad, lrn)", op);
    }
done:
    if (id < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cnn_last_error());
        return cnn_fail(id, "%s:%d: %s", l->file, l->no, msg);
    }
    bool frozen;
    if ((rc = parse_bool(l, "frozen", false, &frozen)) < 0)
        return rc;
    if (frozen)
        cnn_node_set_trainable(g, id, false);
    for (int i = 0; i < l->n_kv; i++)
        if (!l->kv[i].used) /* the caller frees the whole graph on any error */
            return line_fail(l, "%s: unknown attribute '%s'", op, l->kv[i].key);
    return id;
}

cnn_graph *cnn_netdesc_parse(const char *text, const char *filename)
{
    cnn_graph *g = NULL;
    char      *copy = NULL, *cur, *next;
    names      all = {0};
    int        prev = -1, no = 0, rc = CNN_OK, lines = 1;
    const char *file = filename ? filename : "<text>";

    if (!text) {
        cnn_fail(CNN_EINVAL, "netdesc: NULL text");
        return NULL;
    }
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    copy = malloc(strlen(text) + 1);
    all.name = calloc((size_t)lines, sizeof *all.name);
    all.line = calloc((size_t)lines, sizeof *all.line);
    g = cnn_graph_new();
    if (!copy || !all.name || !all.line || !g) {
        rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", file);
        goto out;
    }

    /* First pass: every name=, with its line. */
    strcpy(copy, text);
    for (cur = copy, no = 1; cur; cur = next, no++) {
        char *nl = strchr(cur, '\n'), *p;
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if (strlen(cur) > MAX_LINE) {
            line l = {.file = file, .no = no};
            rc     = line_fail(&l, "line longer than %d characters", MAX_LINE);
            goto out;
        }
        char *hash = strchr(cur, '#');
        if (hash)
            *hash = '\0';
        if ((p = strstr(cur, "name=")) && (p == cur || p[-1] == ' ' || p[-1] == '\t')) {
            size_t len = strcspn(p + 5, " \t\r");
            if (len && (all.name[all.n] = malloc(len + 1))) {
                memcpy(all.name[all.n], p + 5, len);
                all.name[all.n][len] = '\0';
                all.line[all.n++]    = no;
            }
        }
    }

    /* Second pass: build. */
    strcpy(copy, text);
    for (cur = copy, no = 1; cur; cur = next, no++) {
        char *nl = strchr(cur, '\n');
        line  l  = {.file = file, .no = no};
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if ((rc = tokenize(cur, &l)) < 0)
            goto out;
        if (rc == 0)
            continue;
        if ((rc = add_layer(&l, g, prev, &all)) < 0)
            goto out;
        prev = rc;
        rc   = CNN_OK;
    }
    if (cnn_graph_size(g) == 0) {
        rc = cnn_fail(CNN_EFORMAT, "%s: no layers", file);
        goto out;
    }
out:
    for (int i = 0; i < all.n; i++)
        free(all.name[i]);
    free(all.name);
    free(all.line);
    free(copy);
    if (rc < 0) {
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

cnn_graph *cnn_netdesc_load(const char *path)
{
    uint64_t   len;
    uint8_t   *text;
    cnn_graph *g;

    if (!path) {
        cnn_fail(CNN_EINVAL, "netdesc: NULL path");
        return NULL;
    }
    if (!(text = cnn_read_file(path, 64u << 20, &len))) /* a description is at most 64 MiB */
        return NULL;
    if (strlen((char *)text) != len) {
        free(text);
        cnn_fail(CNN_EFORMAT, "%s: contains a NUL byte; expected text", path);
        return NULL;
    }
    g = cnn_netdesc_parse((char *)text, path);
    free(text);
    return g;
}

/* ==== @@EMIT ==== */

typedef struct sbuf {
    char  *s;
    size_t len, cap;
    bool   oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (b->oom)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (!b->s || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 4096);
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s   = s;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static const char *tf(bool v) { return v ? "true" : "false"; }

char *cnn_netdesc_emit(const cnn_graph *g)
{
    sbuf b = {0};

    if (!g) {
        cnn_fail(CNN_EINVAL, "netdesc emit: NULL graph");
        return NULL;
    }
    put(&b, "# cnn network description (docs/netdesc.md)\n");
    for (int id = 0; id < cnn_graph_size(g); id++) {
        cnn_op        op;
        const char   *name;
        cnn_shape     s;
        cnn_node_attr a;
        int           in[64], n;

        cnn_node_info(g, id, &op, &name, &s);
        cnn_node_attrs(g, id, &a);
        if (strpbrk(name, " \t\r\n,#=")) {
            cnn_fail(CNN_EINVAL, "netdesc emit: node name '%s' holds a space, ',', '#' or '=', "
                     "which the text format cannot carry", name);
            free(b.s);
            return NULL;
        }
        n = cnn_node_inputs(g, id, in, 64);
        put(&b, "%s name=%s", cnn_op_name(op), name);
        if (n > 64) {
            cnn_fail(CNN_EINVAL, "netdesc emit: node '%s' has %d inputs, at most 64 supported", name, n);
            free(b.s);
            return NULL;
        }
        if (n > 1 || (n == 1 && in[0] != id - 1)) {
            for (int k = 0; k < n; k++) {
                const char *iname;
                cnn_node_info(g, in[k], NULL, &iname, NULL);
                put(&b, "%s%s", k ? "," : " in=", iname);
            }
        }
        switch (op) {
        case CNN_OP_INPUT:
            if (s.ndim == 3)
                put(&b, " shape=%lldx%lldx%lld", (long long)s.dim[0], (long long)s.dim[1],
                    (long long)s.dim[2]);
            else
                put(&b, " shape=%lld", (long long)s.dim[0]);
            break;
        case CNN_OP_CONV2D:
            put(&b, " out=%d kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d dilation=%dx%d groups=%d bias=%s",
                a.conv.out_channels, a.conv.kernel[0], a.conv.kernel[1], a.conv.stride[0],
                a.conv.stride[1], a.conv.pad[0], a.conv.pad[1], a.conv.pad[2], a.conv.pad[3],
                a.conv.dilation[0], a.conv.dilation[1], a.conv.groups, tf(a.conv.bias));
            break;
        case CNN_OP_MAXPOOL2D:
        case CNN_OP_AVGPOOL2D:
            put(&b, " kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d ceil=%s", a.pool.kernel[0],
                a.pool.kernel[1], a.pool.stride[0], a.pool.stride[1], a.pool.pad[0], a.pool.pad[1],
                a.pool.pad[2], a.pool.pad[3], tf(a.pool.ceil_mode));
            if (op == CNN_OP_AVGPOOL2D)
                put(&b, " count_include_pad=%s", tf(a.pool.count_include_pad));
            break;
        case CNN_OP_ADAPTIVE_AVGPOOL: put(&b, " size=%dx%d", a.out[0], a.out[1]); break;
        case CNN_OP_LINEAR:      put(&b, " out=%d bias=%s", a.out[0], tf(a.bias)); break;
        case CNN_OP_BATCHNORM2D: put(&b, " eps=%.9g momentum=%.9g", (double)a.eps, (double)a.momentum); break;
        case CNN_OP_LEAKY_RELU:  put(&b, " slope=%.9g", (double)a.slope); break;
        case CNN_OP_DROPOUT:     put(&b, " p=%.9g", (double)a.p); break;
        case CNN_OP_CONSTANT:
        case CNN_OP_RESHAPE:
            for (int d = 0; d < s.ndim; d++)
                put(&b, "%s%lld", d ? "x" : " shape=", (long long)s.dim[d]);
            break;
        case CNN_OP_SOFTMAX:
            if (a.axis != 0) /* the channels, as before axes existed */
                put(&b, " axis=%d", a.axis);
            break;
        case CNN_OP_LOG_SOFTMAX: put(&b, " axis=%d", a.axis); break;
        case CNN_OP_CLIP:
            put(&b, " min=%.9g max=%.9g", (double)a.clip.lo, (double)a.clip.hi);
            break;
        case CNN_OP_PAD:
            for (int d = 0; d < s.ndim; d++)
                put(&b, "%s%d", d ? "," : " begin=", a.pad.begin[d]);
            for (int d = 0; d < s.ndim; d++)
                put(&b, "%s%d", d ? "," : " end=", a.pad.end[d]);
            put(&b, " value=%.9g", (double)a.pad.value);
            break;
        case CNN_OP_LRN:
            put(&b, " size=%d alpha=%.9g beta=%.9g k=%.9g", a.lrn.size, (double)a.lrn.alpha,
                (double)a.lrn.beta, (double)a.lrn.k);
            break;
        default: break;
        }
        if (cnn_node_param_count(g, id) > 0 && !cnn_node_trainable(g, id))
            put(&b, " frozen=true");
        put(&b, "\n");
    }
    if (b.oom) {
        free(b.s);
        cnn_fail(CNN_ENOMEM, "netdesc emit: out of memory");
        return NULL;
    }
    return b.s;
}
