/* idx.c - IDX files, the format of MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/): a big-endian header, magic
 * 0x0000TTDD (TT = 0x08: unsigned bytes, DD = number of dimensions), one
 * 32-bit size per dimension, then the elements. Files may be gzip-compressed
 * (recognized by gzip's magic bytes, not by the name) and are then read
 * through zlib. Every size in a header is checked against the bytes the file
 * really holds, and memory grows with the data read, never with what a
 * header claims. */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef CNN_HAVE_ZLIB
#include <zlib.h>
#endif

#define IDX_UBYTE   0x08
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define FIRST_READ  ((int64_t)1 << 20) /* then doubled while the data lasts */

/* ==== @@SOURCE ==== */

/* A file read front to back, plain or through zlib. */
typedef struct src {
    const char *path;
    FILE       *f;
#ifdef CNN_HAVE_ZLIB
    gzFile gz;
#endif
} src;

static void src_close(src *s)
{
    if (s->f)
        fclose(s->f);
    s->f = NULL;
#ifdef CNN_HAVE_ZLIB
    if (s->gz)
        gzclose(s->gz);
    s->gz = NULL;
#endif
}

static int src_open(src *s, const char *path)
{
    unsigned char m[2];
    size_t        got;
    struct stat   st;

    memset(s, 0, sizeof *s);
    s->path = path;
    if (!(s->f = fopen(path, "rb")))
        return cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(s->f), &st) == 0 && S_ISDIR(st.st_mode)) {
        src_close(s);
        return cnn_fail(CNN_EIO, "%s: a directory, expected an IDX file", path);
    }
    got = fread(m, 1, 2, s->f);
    if (ferror(s->f)) {
        int e = errno;
        src_close(s);
        return cnn_fail(CNN_EIO, "%s: read error: %s", path, strerror(e));
    }
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        src_close(s);
#ifdef CNN_HAVE_ZLIB
        errno = 0;
        if (!(s->gz = gzopen(path, "rb")))
            return cnn_fail(CNN_EIO, "%s: %s", path, errno ? strerror(errno) : "out of memory");
        gzbuffer(s->gz, 1u << 17); /* fewer, larger reads of the compressed file */
        return CNN_OK;
#else
        return cnn_fail(CNN_EIO, "%s: gzip-compressed, but this build of libcnn has no zlib "
                        "(rebuild it with zlib installed, or gunzip the file)", path);
#endif
    }
    rewind(s->f);
    return CNN_OK;
}

/* Reads up to n bytes; *got < n only at the end of the file. */
static int src_read(src *s, void *buf, size_t n, size_t *got)
{
    unsigned char *p = buf;

    *got = 0;
#ifdef CNN_HAVE_ZLIB
    if (s->gz) {
        const char *msg;
        size_t      pl;
        int         zerr;
        while (*got < n) {
            unsigned want = n - *got > (1u << 30) ? 1u << 30 : (unsigned)(n - *got);
            int      k    = gzread(s->gz, p + *got, want);
            if (k <= 0)
                break;
            *got += (size_t)k;
        }
        /* A damaged or cut stream shows as an error here (Z_DATA_ERROR,
         * Z_BUF_ERROR "unexpected end of file"), with or without data. */
        msg = gzerror(s->gz, &zerr);
        pl  = strlen(s->path);
        if (msg && strncmp(msg, s->path, pl) == 0 && msg[pl] == ':' && msg[pl + 1] == ' ')
            msg += pl + 2; /* zlib's "path: why" */
        if (zerr == Z_ERRNO)
            return cnn_fail(CNN_EIO, "%s: read error: %s", s->path, strerror(errno));
        if (zerr != Z_OK)
            return cnn_fail(CNN_EFORMAT, "%s: corrupt or truncated gzip stream (%s)", s->path,
                            msg);
        return CNN_OK;
    }
#endif
    *got = fread(p, 1, n, s->f);
    if (ferror(s->f))
        return cnn_fail(CNN_EIO, "%s: read error: %s", s->path, strerror(errno));
    return CNN_OK;
}

/* Reads the rest of the file, which should be `size` bytes, into a new
 * buffer (*out, owned by the caller). The buffer grows as data arrives, so
 * a header that claims terabytes costs no more than the file holds.
 * *got: the bytes present, up to size; *extra: more bytes follow. */
static int read_body(src *s, int64_t size, uint8_t **out, int64_t *got, bool *extra)
{
    uint8_t *buf = NULL;
    int64_t  cap = 0, have = 0;
    size_t   k;
    int      rc = CNN_OK;

    *out   = NULL;
    *got   = 0;
    *extra = false;
    if ((uint64_t)size > SIZE_MAX)
        return cnn_fail(CNN_EOVERFLOW, "%s: %lld bytes of data do not fit in memory", s->path,
                        (long long)size);
    while (have < size) {
        if (have == cap) {
            int64_t  ncap = cap == 0 ? (size < FIRST_READ ? size : FIRST_READ)
                                     : (cap > size / 2 ? size : 2 * cap);
            uint8_t *nb   = realloc(buf, (size_t)ncap);
            if (!nb) {
                rc = cnn_fail(CNN_ENOMEM, "%s: out of memory for %lld bytes", s->path,
                              (long long)ncap);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        if ((rc = src_read(s, buf + have, (size_t)(cap - have), &k)) < 0)
            goto out;
        have += (int64_t)k;
        if (have < cap)
            break; /* end of file */
    }
    if (have == size) {
        unsigned char one;
        if ((rc = src_read(s, &one, 1, &k)) < 0)
            goto out;
        *extra = k > 0;
    }
    *got = have;
out:
    if (rc < 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ==== @@IDX ==== */

/* The header of an IDX file of unsigned bytes with `ndim` dimensions (1 or
 * 3), into dims[ndim]; each must be > 0. `kind`: "images" or "labels". */
static int read_header(src *s, int ndim, const char *kind, uint32_t *dims)
{
    unsigned char h[16];
    size_t        want = 4 + 4 * (size_t)ndim, got;
    uint32_t      magic;
    int           rc;

    if ((rc = src_read(s, h, want, &got)) < 0)
        return rc;
    if (got < 4)
        return cnn_fail(CNN_EFORMAT, "%s: %zu bytes, too short for an IDX header", s->path, got);
    magic = be32(h);
    if (h[0] != 0 || h[1] != 0)
        return cnn_fail(CNN_EFORMAT, "%s: not an IDX file (magic 0x%08x, expected 0x%08x for %s)",
                        s->path, magic, (unsigned)(IDX_UBYTE << 8 | ndim), kind);
    if (h[2] != IDX_UBYTE)
        return cnn_fail(CNN_EFORMAT, "%s: IDX element type 0x%02x, expected 0x08 (unsigned bytes)",
                        s->path, h[2]);
    if (h[3] != ndim)
        return cnn_fail(CNN_EFORMAT, "%s: IDX file with %d dimension%s (magic 0x%08x), expected "
                        "%d for %s (magic 0x%08x)", s->path, h[3], h[3] == 1 ? "" : "s", magic,
                        ndim, kind, (unsigned)(IDX_UBYTE << 8 | ndim));
    if (got < want)
        return cnn_fail(CNN_EFORMAT, "%s: truncated IDX header: %zu bytes, expected %zu", s->path,
                        got, want);
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(h + 4 + 4 * i);
        if (dims[i] == 0)
            return cnn_fail(CNN_EFORMAT, "%s: IDX dimension %d is 0, expected > 0", s->path, i);
    }
    return CNN_OK;
}

/* An image file: *pixels [n, rows, cols], owned by the caller. */
static int read_images(const char *path, uint8_t **pixels, int64_t *n, int *h, int *w)
{
    src      s;
    uint32_t dims[3];
    int64_t  plane, size, got;
    bool     extra;
    int      rc;

    *pixels = NULL;
    if ((rc = src_open(&s, path)) < 0)
        return rc;
    if ((rc = read_header(&s, 3, "images", dims)) < 0)
        goto out;
    if (dims[1] > INT32_MAX || dims[2] > INT32_MAX || cnn_size_mul(dims[1], dims[2], &plane) < 0 ||
        cnn_size_mul(dims[0], plane, &size) < 0) {
        rc = cnn_fail(CNN_EOVERFLOW, "%s: header says %lu images of %lux%lu, too large", path,
                      (unsigned long)dims[0], (unsigned long)dims[1], (unsigned long)dims[2]);
        goto out;
    }
    if ((rc = read_body(&s, size, pixels, &got, &extra)) < 0)
        goto out;
    if (got < size)
        rc = cnn_fail(CNN_EFORMAT, "%s: truncated: header says %lu images of %lux%lu, file holds "
                      "only %lld bytes of pixels (expected %lld)", path, (unsigned long)dims[0],
                      (unsigned long)dims[1], (unsigned long)dims[2], (long long)got,
                      (long long)size);
    else if (extra)
        rc = cnn_fail(CNN_EFORMAT, "%s: header says %lu images of %lux%lu (%lld bytes of pixels), "
                      "but more bytes follow them", path, (unsigned long)dims[0],
                      (unsigned long)dims[1], (unsigned long)dims[2], (long long)size);
    *n = dims[0];
    *h = (int)dims[1];
    *w = (int)dims[2];
out:
    if (rc < 0) {
        free(*pixels);
        *pixels = NULL;
    }
    src_close(&s);
    return rc;
}

/* A label file: *labels [n], owned by the caller. */
static int read_labels(const char *path, uint8_t **labels, int64_t *n)
{
    src      s;
    uint32_t dim;
    int64_t  got;
    bool     extra;
    int      rc;

    *labels = NULL;
    if ((rc = src_open(&s, path)) < 0)
        return rc;
    if ((rc = read_header(&s, 1, "labels", &dim)) < 0)
        goto out;
    if ((rc = read_body(&s, dim, labels, &got, &extra)) < 0)
        goto out;
    if (got < dim)
        rc = cnn_fail(CNN_EFORMAT, "%s: truncated: header says %lu labels, file holds only %lld",
                      path, (unsigned long)dim, (long long)got);
    else if (extra)
        rc = cnn_fail(CNN_EFORMAT, "%s: header says %lu labels, but more bytes follow them", path,
                      (unsigned long)dim);
    *n = dim;
out:
    if (rc < 0) {
        free(*labels);
        *labels = NULL;
    }
    src_close(&s);
    return rc;
}

/* cnn_idx_load, returning the error code. */
static int idx_load(const char *images_path, const char *labels_path, cnn_dataset **out)
{
    cnn_dataset *d   = NULL;
    uint8_t     *pix = NULL, *lab = NULL;
    int64_t      n = 0, nl = 0;
    int          h = 0, w = 0, top = 0, rc;

    *out = NULL;
    if (!images_path || !labels_path)
        return cnn_fail(CNN_EINVAL, "idx load: NULL path");
    if ((rc = read_images(images_path, &pix, &n, &h, &w)) < 0 ||
        (rc = read_labels(labels_path, &lab, &nl)) < 0)
        goto out;
    if (n != nl) {
        rc = cnn_fail(CNN_EFORMAT, "%s holds %lld images but %s holds %lld labels", images_path,
                      (long long)n, labels_path, (long long)nl);
        goto out;
    }
    if (!(d = calloc(1, sizeof *d)) || !(d->labels = malloc((size_t)n * sizeof *d->labels))) {
        rc = cnn_fail(CNN_ENOMEM, "%s: out of memory for %lld labels", labels_path, (long long)n);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        d->labels[i] = lab[i];
        top          = lab[i] > top ? lab[i] : top;
    }
    d->n       = n;
    d->c       = 1;
    d->h       = h;
    d->w       = w;
    d->classes = top + 1;
    d->pixels  = pix;
    pix        = NULL;
    *out       = d;
    d          = NULL;
out:
    cnn_dataset_free(d);
    free(pix);
    free(lab);
    return rc;
}

cnn_dataset *cnn_idx_load(const char *images_path, const char *labels_path)
{
    cnn_dataset *d;
    idx_load(images_path, labels_path, &d);
    return d;
}

/* ==== @@MNIST ==== */

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

/* dir/name, or dir/name.gz when only that exists; a new string. */
static char *find_file(const char *dir, const char *name)
{
    size_t      len = strlen(dir) + strlen(name) + 5;
    char       *p   = malloc(len);
    struct stat st;

    if (!p) {
        cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
        return NULL;
    }
    snprintf(p, len, "%s/%s", dir, name);
    if (stat(p, &st) == 0)
        return p;
    snprintf(p, len, "%s/%s.gz", dir, name);
    if (stat(p, &st) == 0)
        return p;
    cnn_fail(CNN_EIO, "%s: neither %s nor %s.gz found there", dir, name, name);
    free(p);
    return NULL;
}

static int load_split(const char *dir, const char *prefix, cnn_dataset **out)
{
    char  name[64];
    char *img = NULL, *lab = NULL;
    int   rc  = CNN_EIO;

    *out = NULL;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (!(img = find_file(dir, name)))
        goto out;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (!(lab = find_file(dir, name)))
        goto out;
    rc = idx_load(img, lab, out);
out:
    free(img);
    free(lab);
    return rc;
}

/* The directory's last component is fashion-mnist (any case). */
static bool is_fashion(const char *dir)
{
    size_t      len = strlen(dir);
    const char *base;

    while (len > 1 && dir[len - 1] == '/')
        len--;
    base = dir + len;
    while (base > dir && base[-1] != '/')
        base--;
    return dir + len - base == 13 && strncasecmp(base, "fashion-mnist", 13) == 0;
}

/* Class names: Fashion-MNIST's, or the labels as numbers ("0".."9"). */
static int set_names(cnn_dataset *d, int classes, bool fashion)
{
    char  **numbers = NULL;
    int     rc;

    if (fashion && classes == 10)
        return cnn_data_set_names(d, fashion_names, 10);
    if (!(numbers = calloc((size_t)classes, sizeof *numbers)))
        return cnn_fail(CNN_ENOMEM, "mnist load: out of memory");
    rc = CNN_OK;
    for (int k = 0; k < classes && rc == CNN_OK; k++)
        if (!(numbers[k] = malloc(12)))
            rc = cnn_fail(CNN_ENOMEM, "mnist load: out of memory");
        else
            snprintf(numbers[k], 12, "%d", k);
    if (rc == CNN_OK)
        rc = cnn_data_set_names(d, (const char *const *)numbers, classes);
    for (int k = 0; k < classes; k++)
        free(numbers[k]);
    free(numbers);
    return rc;
}

int cnn_mnist_load(const char *dir, cnn_dataset **train, cnn_dataset **test)
{
    cnn_dataset *tr = NULL, *te = NULL;
    int          classes = 10, rc = CNN_OK;
    bool         fashion;

    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!dir)
        return cnn_fail(CNN_EINVAL, "mnist load: NULL directory");
    if (strcmp(dir, "fashion-mnist") == 0)
        dir = FASHION_DIR;
    fashion = is_fashion(dir);
    if ((train && (rc = load_split(dir, "train", &tr)) < 0) ||
        (test && (rc = load_split(dir, "t10k", &te)) < 0))
        goto out;
    /* Ten classes for MNIST-format data, or more if a label says so; both
     * splits agree. */
    if (tr && tr->classes > classes)
        classes = tr->classes;
    if (te && te->classes > classes)
        classes = te->classes;
    if ((tr && (rc = set_names(tr, classes, fashion)) < 0) ||
        (te && (rc = set_names(te, classes, fashion)) < 0))
        goto out;
    if (train)
        *train = tr;
    if (test)
        *test = te;
    return CNN_OK;
out:
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
    return rc;
}
