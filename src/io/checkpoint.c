/* checkpoint.c - saving and resuming training: a versioned, checksummed
 * file of tagged sections (docs/checkpoint.md), written to a temporary
 * file, flushed and renamed so that a crash leaves the old one whole. */
#include "../graph/graph_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC   "CNNCKPT\n"
#define VERSION 1u
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum {
    T_GRAPH  = TAG('G', 'R', 'P', 'H'), /* network-description text          */
    T_PARAMS = TAG('P', 'A', 'R', 'M'), /* float32[n_params]                  */
    T_BUFS   = TAG('B', 'U', 'F', 'F'), /* float32[n_buffers]                 */
    T_OPTIM  = TAG('O', 'P', 'T', 'M'), /* optimizer configuration and state  */
    T_LRSC   = TAG('L', 'R', 'S', 'C'), /* optimizer: per-node lr scales      */
    T_STATE  = TAG('T', 'R', 'S', 'T'), /* epoch, step, RNG, best metric      */
    T_META   = TAG('M', 'E', 'T', 'A'), /* key=value text                     */
};

/* ==== @@CRC ==== */

/* CRC-32 (IEEE 802.3, reflected, as zlib and PNG), table built once. */
static uint32_t crc_table[256];

static void crc_init(void)
{
    if (crc_table[1])
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ==== @@WRITE ==== */

typedef struct writer {
    FILE       *f;
    uint32_t    crc;
    bool        failed;
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    w->crc = crc_update(w->crc, p, n);
    if (fwrite(p, 1, n, w->f) != n)
        w->failed = true;
}

/* Little-endian integers and floats, whatever the host. */
static void w_u32(writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(w, b, 4);
}

static void w_u64(writer *w, uint64_t v)
{
    w_u32(w, (uint32_t)v);
    w_u32(w, (uint32_t)(v >> 32));
}

static void w_f32(writer *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    w_u32(w, u);
}

static void w_f64(writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    w_u64(w, u);
}

static bool host_is_le(void)
{
    const uint32_t one = 1;
    uint8_t        b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void w_floats(writer *w, const float *p, int64_t n)
{
    if (host_is_le()) {
        w_bytes(w, p, (size_t)n * 4);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        w_f32(w, p[i]);
}

static void w_section(writer *w, uint32_t tag, uint64_t len)
{
    w_u32(w, tag);
    w_u64(w, len);
}

/* Whether any node of g has an lr scale other than 1 in opt (the section
 * is written only then, so plain runs' files stay as they were). */
static bool has_lr_scales(const cnn_graph *g, const cnn_optim *opt)
{
    float s;
    for (int i = 0; opt && i < g->n_nodes; i++)
        if (cnn_optim_lr_scale(opt, i, &s) == CNN_OK && s != 1.0f)
            return true;
    return false;
}

static int write_all(writer *w, cnn_graph *g, const cnn_optim *opt, const cnn_train_state *st,
                     const char *meta, const char *text)
{
    bool     scales     = has_lr_scales(g, opt);
    uint32_t n_sections = 3 + (opt != NULL) + scales + (st != NULL) + (meta != NULL);

    w_bytes(w, MAGIC, 8);
    w_u32(w, VERSION);
    w_u32(w, n_sections);

    w_section(w, T_GRAPH, strlen(text));
    w_bytes(w, text, strlen(text));
    w_section(w, T_PARAMS, (uint64_t)g->n_params * 4);
    w_floats(w, g->params, g->n_params);
    w_section(w, T_BUFS, (uint64_t)g->n_buffers * 4);
    w_floats(w, g->buffers, g->n_buffers);
    if (opt) {
        cnn_optim_cfg c;
        int64_t       ns = cnn_optim_state_size(opt);
        cnn_optim_config(opt, &c);
        w_section(w, T_OPTIM, 4 + 4 * 4 + 4 + 4 * 3 + 8 + 8 + (uint64_t)ns * 4);
        w_u32(w, (uint32_t)c.kind);
        w_f32(w, c.lr);
        w_f32(w, c.momentum);
        w_f32(w, c.dampening);
        w_f32(w, c.weight_decay);
        w_u32(w, c.nesterov);
        w_f32(w, c.beta1);
        w_f32(w, c.beta2);
        w_f32(w, c.eps);
        w_u64(w, (uint64_t)cnn_optim_steps(opt));
        w_u64(w, (uint64_t)ns);
        w_floats(w, cnn_optim_state((cnn_optim *)opt), ns);
    }
    if (scales) {
        w_section(w, T_LRSC, 8 + (uint64_t)g->n_nodes * 4);
        w_u64(w, (uint64_t)g->n_nodes);
        for (int i = 0; i < g->n_nodes; i++) {
            float s = 1.0f;
            cnn_optim_lr_scale(opt, i, &s);
            w_f32(w, s);
        }
    }
    if (st) {
        w_section(w, T_STATE, 8 + 8 + 32 + 8);
        w_u64(w, (uint64_t)st->epoch);
        w_u64(w, (uint64_t)st->step);
        for (int i = 0; i < 4; i++)
            w_u64(w, st->rng[i]);
        w_f64(w, st->best_metric);
    }
    if (meta) {
        w_section(w, T_META, strlen(meta));
        w_bytes(w, meta, strlen(meta));
    }
    uint32_t crc = w->crc;
    w_u32(w, crc);
    return w->failed ? CNN_EIO : CNN_OK;
}

int cnn_checkpoint_save(const char *path, cnn_graph *g, const cnn_optim *opt,
                        const cnn_train_state *st, const char *meta)
{
    writer     w    = {0};
    cnn_atomic out  = {0};
    char      *text = NULL;
    int        rc   = CNN_OK;

    if (!path || !g)
        return cnn_fail(CNN_EINVAL, "checkpoint save: NULL argument");
    if ((rc = cnn_graph_ensure_params(g, true)) < 0)
        return rc;
    if (!(text = cnn_netdesc_emit(g)))
        return cnn_fail(CNN_EINVAL, "checkpoint %s: %s", path, cnn_last_error());
    crc_init();
    if ((rc = cnn_atomic_begin(&out, path)) == CNN_OK) {
        w.f = out.f;
        if ((rc = write_all(&w, g, opt, st, meta, text)) < 0)
            rc = cnn_fail(CNN_EIO, "%s: write failed: %s", out.tmp, strerror(errno));
        int end = cnn_atomic_end(&out, rc == CNN_OK);
        rc      = rc < 0 ? rc : end;
    }
    free(text);
    return rc;
}

/* ==== @@READ ==== */

typedef struct reader {
    const uint8_t *p;
    uint64_t       len, at;
} reader;

static bool r_has(const reader *r, uint64_t n) { return n <= r->len - r->at; }

static uint32_t r_u32(reader *r)
{
    const uint8_t *b = r->p + r->at;
    r->at += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t r_u64(reader *r)
{
    uint64_t lo = r_u32(r);
    return lo | (uint64_t)r_u32(r) << 32;
}

static float r_f32(reader *r)
{
    uint32_t u = r_u32(r);
    float    f;
    memcpy(&f, &u, 4);
    return f;
}

static void r_floats(reader *r, float *out, int64_t n)
{
    if (host_is_le()) {
        memcpy(out, r->p + r->at, (size_t)n * 4);
        r->at += (uint64_t)n * 4;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = r_f32(r);
}

/* A text section as a NUL-terminated copy (text must hold no NUL). */
static char *text_of(const char *path, const reader *r, uint64_t len)
{
    char *t;
    if (memchr(r->p + r->at, '\0', len)) {
        cnn_fail(CNN_EFORMAT, "%s: a text section holds a NUL byte", path);
        return NULL;
    }
    if (!(t = malloc(len + 1))) {
        cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(t, r->p + r->at, len);
    t[len] = '\0';
    return t;
}

static int load_optim(const char *path, reader *r, uint64_t len, cnn_graph *g, cnn_optim **out)
{
    cnn_optim_cfg c;
    uint64_t      steps, ns;
    cnn_optim    *o;

    if (len < 52)
        return cnn_fail(CNN_EFORMAT, "%s: optimizer section of %llu bytes, expected at least 52",
                        path, (unsigned long long)len);
    c.kind         = (cnn_optim_kind)r_u32(r);
    c.lr           = r_f32(r);
    c.momentum     = r_f32(r);
    c.dampening    = r_f32(r);
    c.weight_decay = r_f32(r);
    c.nesterov     = r_u32(r) != 0;
    c.beta1        = r_f32(r);
    c.beta2        = r_f32(r);
    c.eps          = r_f32(r);
    steps          = r_u64(r);
    ns             = r_u64(r);
    if (ns > (len - 52) / 4 || len - 52 != ns * 4 || steps > INT64_MAX)
        return cnn_fail(CNN_EFORMAT, "%s: optimizer section claims %llu state values in %llu bytes",
                        path, (unsigned long long)ns, (unsigned long long)(len - 52));
    if (!(o = cnn_optim_new(g, &c)))
        return cnn_fail(CNN_EFORMAT, "%s: optimizer: %s", path, cnn_last_error());
    if ((uint64_t)cnn_optim_state_size(o) != ns) {
        const long long need = (long long)cnn_optim_state_size(o);
        cnn_optim_free(o);
        return cnn_fail(CNN_EFORMAT, "%s: optimizer state holds %llu values, the graph needs %lld",
                        path, (unsigned long long)ns, need);
    }
    r_floats(r, cnn_optim_state(o), (int64_t)ns);
    cnn_optim_set_steps(o, (int64_t)steps);
    *out = o;
    return CNN_OK;
}

cnn_graph *cnn_checkpoint_load(const char *path, cnn_optim **opt, cnn_train_state *st, char **meta)
{
    uint8_t   *buf = NULL;
    uint64_t   len = 0;
    reader     r;
    cnn_graph *g = NULL;
    cnn_optim *o = NULL;
    char      *text = NULL, *m = NULL;
    bool       have_params = false, have_bufs = false;
    int        rc = CNN_OK;
    uint32_t   n_sections;
    uint64_t   lrsc_at = 0; /* where the lr scales start; 0: none saved   */

    if (opt)
        *opt = NULL;
    if (meta)
        *meta = NULL;
    if (st)
        memset(st, 0, sizeof *st);
    if (!path) {
        cnn_fail(CNN_EINVAL, "checkpoint load: NULL path");
        return NULL;
    }
    if (!(buf = cnn_read_file(path, UINT64_MAX, &len)))
        return NULL;
    crc_init();
    r = (reader){buf, len, 0};
    if (len < 20 || memcmp(buf, MAGIC, 8) != 0) {
        rc = cnn_fail(CNN_EFORMAT, "%s: not a cnn checkpoint (no 'CNNCKPT' header)", path);
        goto out;
    }
    if (crc_update(0, buf, len - 4) != (r.at = len - 4, r_u32(&r))) {
        rc = cnn_fail(CNN_EFORMAT, "%s: checksum mismatch: the file is truncated or corrupt", path);
        goto out;
    }
    r.len = len - 4; /* the sections end where the checksum starts */
    r.at  = 8;
    if (r_u32(&r) != VERSION) {
        r.at -= 4;
        rc = cnn_fail(CNN_EFORMAT, "%s: checkpoint format version %u, this build reads %u", path,
                      r_u32(&r), VERSION);
        goto out;
    }
    n_sections = r_u32(&r);
    for (uint32_t s = 0; s < n_sections; s++) {
        uint32_t tag;
        uint64_t slen;
        if (!r_has(&r, 12)) {
            rc = cnn_fail(CNN_EFORMAT, "%s: section %u header runs past the end", path, s);
            goto out;
        }
        tag  = r_u32(&r);
        slen = r_u64(&r);
        if (!r_has(&r, slen)) {
            rc = cnn_fail(CNN_EFORMAT, "%s: section %u claims %llu bytes, %llu remain", path, s,
                          (unsigned long long)slen, (unsigned long long)(r.len - r.at));
            goto out;
        }
        uint64_t end = r.at + slen;
        if (tag == T_GRAPH && !g) {
            if (!(text = text_of(path, &r, slen))) {
                rc = CNN_EFORMAT;
                goto out;
            }
            if (!(g = cnn_netdesc_parse(text, path))) {
                rc = cnn_fail(CNN_EFORMAT, "%s: graph: %s", path, cnn_last_error());
                goto out;
            }
            if ((rc = cnn_graph_ensure_params(g, false)) < 0)
                goto out;
        } else if (!g) {
            rc = cnn_fail(CNN_EFORMAT, "%s: the graph section must come first", path);
            goto out;
        } else if (tag == T_PARAMS || tag == T_BUFS) {
            int64_t n = tag == T_PARAMS ? g->n_params : g->n_buffers;
            if (slen != (uint64_t)n * 4) {
                rc = cnn_fail(CNN_EFORMAT, "%s: %s section holds %llu bytes, the graph needs %lld",
                              path, tag == T_PARAMS ? "parameter" : "buffer",
                              (unsigned long long)slen, (long long)n * 4);
                goto out;
            }
            r_floats(&r, tag == T_PARAMS ? g->params : g->buffers, n);
            if (tag == T_PARAMS)
                have_params = true;
            else
                have_bufs = true;
        } else if (tag == T_OPTIM) {
            if (opt && !o && (rc = load_optim(path, &r, slen, g, &o)) < 0)
                goto out;
        } else if (tag == T_LRSC) {
            /* Applied once the optimizer is read, whatever the order. */
            if (slen < 8 || r_u64(&r) != (uint64_t)g->n_nodes ||
                slen != 8 + (uint64_t)g->n_nodes * 4) {
                rc = cnn_fail(CNN_EFORMAT, "%s: lr-scale section of %llu bytes, expected one "
                              "scale for each of the graph's %d nodes", path,
                              (unsigned long long)slen, g->n_nodes);
                goto out;
            }
            lrsc_at = r.at;
        } else if (tag == T_STATE) {
            if (slen != 56) {
                rc = cnn_fail(CNN_EFORMAT, "%s: training-state section of %llu bytes, expected 56",
                              path, (unsigned long long)slen);
                goto out;
            }
            if (st) {
                uint64_t u;
                st->epoch = (int64_t)r_u64(&r);
                st->step  = (int64_t)r_u64(&r);
                for (int i = 0; i < 4; i++)
                    st->rng[i] = r_u64(&r);
                u = r_u64(&r);
                memcpy(&st->best_metric, &u, 8);
                if (st->epoch < 0 || st->step < 0) {
                    rc = cnn_fail(CNN_EFORMAT, "%s: negative epoch or step", path);
                    goto out;
                }
            }
        } else if (tag == T_META) {
            if (meta && !m && !(m = text_of(path, &r, slen))) {
                rc = CNN_EFORMAT;
                goto out;
            }
        } /* unknown sections are skipped: later versions may add some */
        r.at = end;
    }
    if (r.at != r.len) {
        rc = cnn_fail(CNN_EFORMAT, "%s: %llu stray bytes after the last section", path,
                      (unsigned long long)(r.len - r.at));
        goto out;
    }
    if (!g || !have_params || !have_bufs) {
        rc = cnn_fail(CNN_EFORMAT, "%s: missing the %s section", path,
                      !g ? "graph" : !have_params ? "parameter" : "buffer");
        goto out;
    }
    for (int i = 0; o && lrsc_at && i < g->n_nodes; i++) {
        float s;
        r.at = lrsc_at + (uint64_t)i * 4;
        s    = r_f32(&r);
        if (s != 1.0f && cnn_optim_set_lr_scale(o, i, s) < 0) {
            rc = cnn_fail(CNN_EFORMAT, "%s: lr scale %g of node '%s', expected >= 0", path,
                          (double)s, g->nodes[i].name);
            goto out;
        }
    }
out:
    free(buf);
    free(text);
    if (rc < 0) {
        cnn_optim_free(o);
        free(m);
        cnn_graph_free(g);
        return NULL;
    }
    if (opt)
        *opt = o;
    if (meta)
        *meta = m;
    return g;
}
