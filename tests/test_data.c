/* test_data.c - datasets and loaders: IDX (plain and gzip), CIFAR-10
 * binary and image folders read exactly, refused with a reason naming the
 * file when truncated, corrupt or hostile (and without leaking: the suite
 * also runs under ASan/LSan/UBSan); subsets and statistics; the loader's
 * order, sharding, resumption, augmentation and prefetching. Every fixture
 * is written at run time into a fresh temporary directory. */
#include "t.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef CNN_HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef CNN_HAVE_STB
#include <stb/stb_image_write.h>
#endif

static char dir[] = "/tmp/cnn_data_XXXXXX";

/* ==== @@HELPERS ==== */

/* dir/name, in one of 8 rotating buffers. */
static const char *at(const char *name)
{
    static char path[8][512];
    static int  k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void sub_dir(const char *name)
{
    if (mkdir(at(name), 0755) != 0)
        T_FAILED("mkdir %s: %s", at(name), strerror(errno));
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    T_TRUE(f != NULL);
    T_TRUE(fwrite(p, 1, n, f) == n);
    T_TRUE(fclose(f) == 0);
}

#if defined(CNN_HAVE_ZLIB) || defined(CNN_HAVE_STB)
/* The file's bytes (malloc'ed) and their count. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE          *f = fopen(path, "rb");
    unsigned char *p;
    long           len;

    T_TRUE(f != NULL);
    T_TRUE(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0);
    rewind(f);
    T_TRUE((p = malloc((size_t)len + 1)) != NULL);
    T_TRUE(fread(p, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}
#endif

static void write_gz(const char *path, const void *p, size_t n)
{
#ifdef CNN_HAVE_ZLIB
    gzFile g = gzopen(path, "wb");
    T_TRUE(g != NULL);
    T_TRUE(gzwrite(g, p, (unsigned)n) == (int)n);
    T_TRUE(gzclose(g) == Z_OK);
#else
    (void)path, (void)p, (void)n;
    T_FAILED("write_gz needs zlib");
#endif
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file: magic, the dims, then `len` bytes of data (which may
 * disagree with the dims); gzip-compressed when gz. */
static void write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                      const unsigned char *data, size_t len, bool gz)
{
    unsigned char *buf = malloc(4 + 4 * (size_t)ndim + len + 1);
    size_t         n   = 4 + 4 * (size_t)ndim;

    T_TRUE(buf != NULL);
    put32(buf, magic);
    for (int i = 0; i < ndim; i++)
        put32(buf + 4 + 4 * i, dims[i]);
    if (len)
        memcpy(buf + n, data, len);
    n += len;
    if (gz)
        write_gz(path, buf, n);
    else
        write_bytes(path, buf, n);
    free(buf);
}

/* The standard fixture: 5 images of 3x4 and their labels. */
#define FN 5
#define FH 3
#define FW 4
static unsigned char fx_pix[FN * FH * FW];
static const unsigned char fx_lab[FN] = {0, 3, 1, 2, 3};

static void fixture_init(void)
{
    for (int k = 0; k < FN * FH * FW; k++)
        fx_pix[k] = (unsigned char)((k * 37 + 11) & 255);
}

static void write_images(const char *path, bool gz)
{
    uint32_t dims[3] = {FN, FH, FW};
    write_idx(path, 0x803, 3, dims, fx_pix, sizeof fx_pix, gz);
}

static void write_labels(const char *path, bool gz)
{
    uint32_t dims[1] = {FN};
    write_idx(path, 0x801, 1, dims, fx_lab, sizeof fx_lab, gz);
}

static void expect_fixture(const cnn_dataset *d, int classes)
{
    T_TRUE(d != NULL);
    T_EQ(d->n, FN);
    T_EQ(d->c, 1);
    T_EQ(d->h, FH);
    T_EQ(d->w, FW);
    T_EQ(d->classes, classes);
    T_TRUE(memcmp(d->pixels, fx_pix, sizeof fx_pix) == 0);
    for (int i = 0; i < FN; i++)
        T_EQ(d->labels[i], fx_lab[i]);
}

/* The last error names `s`. */
#define T_SAYS(s)                                                                                \
    do {                                                                                         \
        if (!strstr(cnn_last_error(), (s)))                                                      \
            T_FAILED("the reason \"%s\" does not mention \"%s\"", cnn_last_error(), (s));        \
    } while (0)

/* A dataset-returning call fails with a reason naming `path`. */
#define T_NO_DATA(x, path)                                                                       \
    do {                                                                                         \
        cnn_fail(CNN_OK, "t-sentinel");                                                          \
        cnn_dataset *t_d_ = (x);                                                                 \
        if (t_d_) {                                                                              \
            cnn_dataset_free(t_d_);                                                              \
            T_FAILED("%s returned a dataset, expected NULL", #x);                                \
        }                                                                                        \
        T_SAYS(path);                                                                            \
    } while (0)

/* ==== @@IDX ==== */

static void idx_plain_and_gzip(void)
{
    cnn_dataset *d;

    write_images(at("img"), false);
    write_labels(at("lab"), false);
    T_TRUE((d = cnn_idx_load(at("img"), at("lab"))) != NULL);
    expect_fixture(d, 4);
    T_TRUE(d->class_names == NULL);
    cnn_dataset_free(d);
#ifdef CNN_HAVE_ZLIB
    /* gzip is found by its magic bytes, not by the name. */
    write_images(at("img-gz"), true);
    write_labels(at("lab.gz"), true);
    write_labels(at("plain.gz"), false);
    T_TRUE((d = cnn_idx_load(at("img-gz"), at("lab.gz"))) != NULL);
    expect_fixture(d, 4);
    cnn_dataset_free(d);
    T_TRUE((d = cnn_idx_load(at("img-gz"), at("plain.gz"))) != NULL);
    expect_fixture(d, 4);
    cnn_dataset_free(d);
#else
    write_images(at("img-gz"), false);
    {
        static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        write_bytes(at("fake.gz"), gz, sizeof gz);
        T_NO_DATA(cnn_idx_load(at("fake.gz"), at("lab")), at("fake.gz"));
        T_SAYS("zlib");
    }
#endif
}

static void idx_truncated(void)
{
    uint32_t dims[3] = {FN, FH, FW};

    write_labels(at("lab"), false);
    write_idx(at("short-img"), 0x803, 3, dims, fx_pix, sizeof fx_pix - 1, false);
    T_NO_DATA(cnn_idx_load(at("short-img"), at("lab")), at("short-img"));
    T_SAYS("truncated: header says 5 images of 3x4, file holds only 59 bytes of pixels");
    write_images(at("img"), false);
    write_idx(at("short-lab"), 0x801, 1, dims, fx_lab, FN - 2, false);
    T_NO_DATA(cnn_idx_load(at("img"), at("short-lab")), at("short-lab"));
    T_SAYS("truncated");
    /* Cut inside the header, and an empty file. */
    write_bytes(at("head"), "\0\0\x08\x03\0\0\0\x05\0\0", 10);
    T_NO_DATA(cnn_idx_load(at("head"), at("lab")), at("head"));
    T_SAYS("truncated IDX header");
    write_bytes(at("empty"), "", 0);
    T_NO_DATA(cnn_idx_load(at("empty"), at("lab")), at("empty"));
    T_NO_DATA(cnn_idx_load(at("img"), at("empty")), at("empty"));
#ifdef CNN_HAVE_ZLIB
    write_idx(at("short-img.gz"), 0x803, 3, dims, fx_pix, sizeof fx_pix - 7, true);
    T_NO_DATA(cnn_idx_load(at("short-img.gz"), at("lab")), at("short-img.gz"));
    T_SAYS("holds only 53 bytes");
#endif
}

static void idx_bad_headers(void)
{
    uint32_t dims[3] = {FN, FH, FW}, zero[3] = {FN, 0, FW}, none[3] = {0, FH, FW};

    write_images(at("img"), false);
    write_labels(at("lab"), false);
    /* Wrong magic: another element type, another file kind, garbage. */
    write_idx(at("m1"), 0x0d03, 3, dims, fx_pix, sizeof fx_pix, false);
    T_NO_DATA(cnn_idx_load(at("m1"), at("lab")), at("m1"));
    T_SAYS("element type 0x0d");
    T_NO_DATA(cnn_idx_load(at("lab"), at("lab")), at("lab"));
    T_SAYS("1 dimension");
    T_NO_DATA(cnn_idx_load(at("img"), at("img")), at("img"));
    T_SAYS("3 dimensions");
    write_bytes(at("m2"), "GIF89a, not an IDX file at all", 30);
    T_NO_DATA(cnn_idx_load(at("m2"), at("lab")), at("m2"));
    T_SAYS("not an IDX file");
    /* Two dimensions for images; a zero dimension; zero images. */
    write_idx(at("d2"), 0x802, 2, dims, fx_pix, sizeof fx_pix, false);
    T_NO_DATA(cnn_idx_load(at("d2"), at("lab")), at("d2"));
    T_SAYS("2 dimensions");
    write_idx(at("z1"), 0x803, 3, zero, NULL, 0, false);
    T_NO_DATA(cnn_idx_load(at("z1"), at("lab")), at("z1"));
    T_SAYS("is 0");
    write_idx(at("z0"), 0x803, 3, none, NULL, 0, false);
    T_NO_DATA(cnn_idx_load(at("z0"), at("lab")), at("z0"));
    write_idx(at("z2"), 0x801, 1, none, NULL, 0, false);
    T_NO_DATA(cnn_idx_load(at("img"), at("z2")), at("z2"));
    /* A missing file; a directory. */
    T_NO_DATA(cnn_idx_load(at("missing"), at("lab")), at("missing"));
    T_NO_DATA(cnn_idx_load(dir, at("lab")), dir);
    T_TRUE(cnn_idx_load(NULL, at("lab")) == NULL);
}

static void idx_counts_and_trailing(void)
{
    uint32_t      dims[3] = {FN, FH, FW}, four[1] = {FN - 1};
    unsigned char more[FN * FH * FW + 3];

    write_images(at("img"), false);
    write_labels(at("lab"), false);
    write_idx(at("lab4"), 0x801, 1, four, fx_lab, FN - 1, false);
    T_NO_DATA(cnn_idx_load(at("img"), at("lab4")), at("img"));
    T_SAYS(at("lab4"));
    T_SAYS("5 images");
    T_SAYS("4 labels");
    memcpy(more, fx_pix, sizeof fx_pix);
    memset(more + sizeof fx_pix, 0, 3);
    write_idx(at("long-img"), 0x803, 3, dims, more, sizeof more, false);
    T_NO_DATA(cnn_idx_load(at("long-img"), at("lab")), at("long-img"));
    T_SAYS("more bytes follow");
    write_idx(at("long-lab"), 0x801, 1, dims, more, FN + 1, false);
    T_NO_DATA(cnn_idx_load(at("img"), at("long-lab")), at("long-lab"));
    T_SAYS("more bytes follow");
#ifdef CNN_HAVE_ZLIB
    write_idx(at("long-img.gz"), 0x803, 3, dims, more, sizeof more, true);
    T_NO_DATA(cnn_idx_load(at("long-img.gz"), at("lab")), at("long-img.gz"));
    T_SAYS("more bytes follow");
#endif
}

/* A header claiming 0xFFFFFFFF images of 28x28 (3.4 TB) over a few bytes:
 * refused as truncated, having allocated only what the file holds. */
static void idx_hostile_sizes(void)
{
    uint32_t huge[3] = {0xFFFFFFFFu, 28, 28}, wide[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};

    write_labels(at("lab"), false);
    write_idx(at("huge"), 0x803, 3, huge, fx_pix, sizeof fx_pix, false);
    T_NO_DATA(cnn_idx_load(at("huge"), at("lab")), at("huge"));
    T_EQ(cnn_idx_load(at("huge"), at("lab")) == NULL, 1);
    T_SAYS("truncated: header says 4294967295 images of 28x28, file holds only 60 bytes");
    write_idx(at("wide"), 0x803, 3, wide, fx_pix, sizeof fx_pix, false);
    T_NO_DATA(cnn_idx_load(at("wide"), at("lab")), at("wide"));
    T_SAYS("too large");
    write_idx(at("huge-lab"), 0x801, 1, huge, fx_lab, FN, false);
    write_images(at("img"), false);
    T_NO_DATA(cnn_idx_load(at("img"), at("huge-lab")), at("huge-lab"));
    T_SAYS("truncated");
#ifdef CNN_HAVE_ZLIB
    write_idx(at("huge.gz"), 0x803, 3, huge, fx_pix, sizeof fx_pix, true);
    T_NO_DATA(cnn_idx_load(at("huge.gz"), at("lab")), at("huge.gz"));
    T_SAYS("truncated");
#endif
}

/* Labels are bytes: 255 is a label like any other and makes 256 classes. */
static void idx_label_255(void)
{
    uint32_t      dims[1] = {FN};
    unsigned char lab[FN] = {0, 255, 1, 2, 3};
    cnn_dataset  *d;

    write_images(at("img"), false);
    write_idx(at("lab255"), 0x801, 1, dims, lab, FN, false);
    T_TRUE((d = cnn_idx_load(at("img"), at("lab255"))) != NULL);
    T_EQ(d->classes, 256);
    T_EQ(d->labels[1], 255);
    cnn_dataset_free(d);
}

static void idx_corrupt_gzip(void)
{
#ifdef CNN_HAVE_ZLIB
    unsigned char *gz;
    size_t         n;

    write_labels(at("lab"), false);
    write_images(at("ok.gz"), true);
    gz = read_bytes(at("ok.gz"), &n);
    T_TRUE(n > 30);
    /* Cut in the middle of the deflate stream. */
    write_bytes(at("cut.gz"), gz, n / 2);
    T_NO_DATA(cnn_idx_load(at("cut.gz"), at("lab")), at("cut.gz"));
    T_SAYS("gzip");
    /* Damaged deflate data, and a damaged checksum. */
    for (size_t i = 12; i < n - 8; i++)
        gz[i] ^= 0x5a;
    write_bytes(at("bad.gz"), gz, n);
    T_NO_DATA(cnn_idx_load(at("bad.gz"), at("lab")), at("bad.gz"));
    for (size_t i = 12; i < n - 8; i++)
        gz[i] ^= 0x5a;
    gz[n - 6] ^= 0xff;
    write_bytes(at("crc.gz"), gz, n);
    T_NO_DATA(cnn_idx_load(at("crc.gz"), at("lab")), at("crc.gz"));
    T_SAYS("gzip");
    /* Only the gzip magic. */
    write_bytes(at("magic.gz"), gz, 2);
    T_NO_DATA(cnn_idx_load(at("magic.gz"), at("lab")), at("magic.gz"));
    free(gz);
#endif
}

/* ==== @@MNIST ==== */

/* The four MNIST files in folder `name`; train labels from `lab`. */
static void write_mnist(const char *name, const unsigned char *lab, bool gz)
{
    char     p[256];
    uint32_t dims[3] = {FN, FH, FW};

    sub_dir(name);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte%s", name, gz ? ".gz" : "");
    write_idx(at(p), 0x803, 3, dims, fx_pix, sizeof fx_pix, gz);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", name);
    write_idx(at(p), 0x801, 1, dims, lab, FN, false);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", name);
    write_idx(at(p), 0x803, 3, dims, fx_pix, sizeof fx_pix, false);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte%s", name, gz ? ".gz" : "");
    write_idx(at(p), 0x801, 1, dims, fx_lab, FN, gz);
}

static void mnist_dirs(void)
{
    static const unsigned char lab12[FN] = {0, 12, 1, 2, 3};
    cnn_dataset *tr, *te;
    char         p[256];
    bool         gz = false;

#ifdef CNN_HAVE_ZLIB
    gz = true;
#endif
    /* A folder named fashion-mnist (any case): Fashion-MNIST's names. */
    write_mnist("Fashion-MNIST", fx_lab, gz);
    snprintf(p, sizeof p, "%s/", at("Fashion-MNIST"));
    T_OK(cnn_mnist_load(p, &tr, &te));
    expect_fixture(tr, 10);
    T_EQ(te->n, FN);
    T_EQ(tr->classes, 10);
    T_EQ(te->classes, 10);
    T_TRUE(strcmp(tr->class_names[0], "T-shirt/top") == 0);
    T_TRUE(strcmp(te->class_names[9], "Ankle boot") == 0);
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
    /* Any other name: the digits; ten classes though the labels stop at 3. */
    write_mnist("digits", fx_lab, false);
    T_OK(cnn_mnist_load(at("digits"), NULL, &te));
    T_EQ(te->classes, 10);
    T_TRUE(strcmp(te->class_names[7], "7") == 0);
    cnn_dataset_free(te);
    /* A label past 9 raises the class count of both splits. */
    write_mnist("more", lab12, gz);
    T_OK(cnn_mnist_load(at("more"), &tr, &te));
    T_EQ(tr->classes, 13);
    T_EQ(te->classes, 13);
    T_TRUE(strcmp(te->class_names[12], "12") == 0);
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
    /* Missing or broken files: the error names them, nothing is returned. */
    sub_dir("half");
    write_images(at("half/train-images-idx3-ubyte"), false);
    write_labels(at("half/train-labels-idx1-ubyte"), false);
    tr = te = (cnn_dataset *)1;
    T_ERR(cnn_mnist_load(at("half"), &tr, &te), CNN_EIO);
    T_SAYS("t10k-images-idx3-ubyte");
    T_SAYS(at("half"));
    T_TRUE(tr == NULL && te == NULL);
    write_bytes(at("half/t10k-images-idx3-ubyte"), "\0\0\x08\x03", 4);
    write_labels(at("half/t10k-labels-idx1-ubyte"), false);
    T_ERR(cnn_mnist_load(at("half"), &tr, &te), CNN_EFORMAT);
    T_SAYS(at("half/t10k-images-idx3-ubyte"));
    T_TRUE(tr == NULL && te == NULL);
    T_ERR(cnn_mnist_load(NULL, &tr, &te), CNN_EINVAL);
}

/* Debian's dataset-fashion-mnist, when installed. */
static void fashion_mnist(void)
{
    cnn_dataset *tr, *te;
    struct stat  st;

    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0) {
        printf("note: /usr/share/datasets/fashion-mnist absent, fashion_mnist skipped\n");
        return;
    }
#ifndef CNN_HAVE_ZLIB
    if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte", &st) != 0) {
        T_ERR(cnn_mnist_load("fashion-mnist", &tr, &te), CNN_EIO);
        T_SAYS("no zlib");
        printf("note: built without zlib, fashion_mnist checks the refusal of .gz only\n");
        return;
    }
#endif
    T_OK(cnn_mnist_load("fashion-mnist", &tr, &te));
    T_EQ(tr->n, 60000);
    T_EQ(te->n, 10000);
    T_TRUE(tr->c == 1 && tr->h == 28 && tr->w == 28);
    T_TRUE(te->c == 1 && te->h == 28 && te->w == 28);
    T_EQ(tr->classes, 10);
    T_EQ(te->classes, 10);
    T_TRUE(strcmp(tr->class_names[9], "Ankle boot") == 0);
    /* Balanced: 6000 and 1000 of each class. */
    int64_t count[10] = {0};
    for (int64_t i = 0; i < tr->n; i++)
        count[tr->labels[i]]++;
    for (int k = 0; k < 10; k++)
        T_EQ(count[k], 6000);
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
}

/* ==== @@CIFAR ==== */

/* n records with labels lab[i] and pixel bytes (i * 3 + k) & 255. */
static void write_cifar(const char *path, int n, const unsigned char *lab, size_t extra)
{
    size_t         len = (size_t)n * 3073 + extra;
    unsigned char *p   = calloc(len + 1, 1);

    T_TRUE(p != NULL);
    for (int i = 0; i < n; i++) {
        p[(size_t)i * 3073] = lab[i];
        for (int k = 0; k < 3072; k++)
            p[(size_t)i * 3073 + 1 + k] = (unsigned char)((i * 3 + k) & 255);
    }
    write_bytes(path, p, len);
    free(p);
}

static void cifar_files(void)
{
    static const unsigned char lab[4] = {3, 9, 0, 10};
    const char                *paths[2];
    char                       a[512], b[512];
    cnn_dataset               *d;

    snprintf(a, sizeof a, "%s", at("c1.bin"));
    snprintf(b, sizeof b, "%s", at("c2.bin"));
    write_cifar(a, 3, lab, 0);
    write_cifar(b, 2, lab + 1, 0);
    paths[0] = a;
    paths[1] = b;
    T_TRUE((d = cnn_cifar10_load(paths, 2)) != NULL);
    T_EQ(d->n, 5);
    T_TRUE(d->c == 3 && d->h == 32 && d->w == 32);
    T_EQ(d->classes, 10);
    T_TRUE(strcmp(d->class_names[1], "automobile") == 0);
    T_EQ(d->labels[0], 3);
    T_EQ(d->labels[2], 0);
    T_EQ(d->labels[3], 9);
    T_EQ(d->labels[4], 0);
    T_EQ(d->pixels[3 * 3072 + 5], 5); /* c2.bin's first record */
    T_EQ(d->pixels[4 * 3072 + 3071], (1 * 3 + 3071) & 255);
    cnn_dataset_free(d);

    /* Label 10; a short file; a size that is no multiple of a record. */
    write_cifar(a, 4, lab, 0);
    T_NO_DATA(cnn_cifar10_load(paths, 1), a);
    T_SAYS("record 3 has label 10");
    write_cifar(a, 0, lab, 3072);
    T_NO_DATA(cnn_cifar10_load(paths, 1), a);
    T_SAYS("multiple of 3073");
    write_cifar(a, 2, lab, 5);
    T_NO_DATA(cnn_cifar10_load(paths, 2), a);
    write_cifar(a, 0, lab, 0);
    T_NO_DATA(cnn_cifar10_load(paths, 2), a);
    write_cifar(a, 1, lab, 0);
    paths[1] = at("nothing.bin");
    T_NO_DATA(cnn_cifar10_load(paths, 2), at("nothing.bin"));
    T_TRUE(cnn_cifar10_load(paths, 0) == NULL);
    T_TRUE(cnn_cifar10_load(NULL, 1) == NULL);
}

static void cifar_dir(void)
{
    static const unsigned char lab[2] = {1, 2};
    cnn_dataset               *tr, *te;
    char                       p[256];

    sub_dir("cifar");
    for (int i = 1; i <= 5; i++) {
        snprintf(p, sizeof p, "cifar/data_batch_%d.bin", i);
        write_cifar(at(p), 2, lab, 0);
    }
    T_ERR(cnn_cifar10_load_dir(at("cifar"), &tr, &te), CNN_EIO);
    T_SAYS(at("cifar/test_batch.bin"));
    write_cifar(at("cifar/test_batch.bin"), 1, lab, 0);
    T_OK(cnn_cifar10_load_dir(at("cifar"), &tr, &te));
    T_EQ(tr->n, 10);
    T_EQ(te->n, 1);
    T_TRUE(strcmp(te->class_names[9], "truck") == 0);
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
    /* Names from batches.meta.txt, blank lines and \r ignored. */
    write_bytes(at("cifar/batches.meta.txt"), "a\nb\r\nc\nd\ne\nf\ng\nh\ni\nj j\n\n\n", 25);
    T_OK(cnn_cifar10_load_dir(at("cifar"), NULL, &te));
    T_TRUE(strcmp(te->class_names[1], "b") == 0);
    T_TRUE(strcmp(te->class_names[9], "j j") == 0);
    cnn_dataset_free(te);
    write_bytes(at("cifar/batches.meta.txt"), "a\nb\n", 4);
    T_ERR(cnn_cifar10_load_dir(at("cifar"), &tr, &te), CNN_EFORMAT);
    T_SAYS(at("cifar/batches.meta.txt"));
    T_TRUE(tr == NULL && te == NULL);
}

/* ==== @@IMAGES ==== */

#ifdef CNN_HAVE_STB
/* An RGB image of w x h with pixel (x, y) = (x * 40 + b, y * 50, 200 - x - y). */
static void write_png(const char *path, int w, int h, int b)
{
    unsigned char px[16 * 16 * 3];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            px[(y * w + x) * 3 + 0] = (unsigned char)(x * 40 + b);
            px[(y * w + x) * 3 + 1] = (unsigned char)(y * 50);
            px[(y * w + x) * 3 + 2] = (unsigned char)(200 - x - y);
        }
    T_TRUE(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
}
#endif

static void image_folder(void)
{
#ifdef CNN_HAVE_STB
    unsigned char flat[8 * 8 * 3];
    cnn_dataset  *d;
    float         x[3 * 4 * 4];

    sub_dir("folder");
    sub_dir("folder/cat");
    sub_dir("folder/dog");
    sub_dir("folder/.hidden");
    write_png(at("folder/cat/b.PNG"), 4, 4, 1);
    write_png(at("folder/cat/a.png"), 6, 4, 2); /* cropped: columns 1..4 */
    memset(flat, 90, sizeof flat);
    T_TRUE(stbi_write_jpg(at("folder/dog/c.jpeg"), 8, 8, 3, flat, 90) != 0);
    write_bytes(at("folder/dog/notes.txt"), "not an image", 12);
    write_bytes(at("folder/README"), "x", 1);

    T_TRUE((d = cnn_imagefolder_load(at("folder"), 3, 4, 4)) != NULL);
    T_EQ(d->n, 3);
    T_EQ(d->classes, 2);
    T_TRUE(strcmp(d->class_names[0], "cat") == 0 && strcmp(d->class_names[1], "dog") == 0);
    T_TRUE(d->labels[0] == 0 && d->labels[1] == 0 && d->labels[2] == 1);
    /* a.png first (byte order: 'a' < 'b'), its centre 4 columns, planar. */
    for (int y = 0; y < 4; y++)
        for (int xx = 0; xx < 4; xx++) {
            T_EQ(d->pixels[0 * 16 + y * 4 + xx], (xx + 1) * 40 + 2);
            T_EQ(d->pixels[1 * 16 + y * 4 + xx], y * 50);
            T_EQ(d->pixels[2 * 16 + y * 4 + xx], 200 - (xx + 1) - y);
            T_EQ(d->pixels[48 + y * 4 + xx], xx * 40 + 1);
        }
    /* The JPEG, downscaled 8 -> 4: a flat colour stays flat (lossy: +-3). */
    for (int k = 0; k < 48; k++)
        T_NEAR(d->pixels[96 + k], 90, 3);
    cnn_dataset_free(d);

    /* One grey channel; as floats in [0, 1]. */
    T_TRUE((d = cnn_imagefolder_load(at("folder"), 1, 2, 2)) != NULL);
    T_TRUE(d->n == 3 && d->c == 1 && d->h == 2 && d->w == 2);
    cnn_dataset_free(d);
    T_OK(cnn_image_load(at("folder/cat/b.PNG"), 3, 4, 4, x));
    T_FEQ(x[5], (float)(1 * 40 + 1) / 255.0f);
    T_FEQ(x[16 + 3 * 4], (float)150 / 255.0f);

    /* A file that does not decode is an error naming it. */
    write_bytes(at("folder/dog/broken.png"), "\x89PNG garbage garbage garbage", 27);
    T_NO_DATA(cnn_imagefolder_load(at("folder"), 3, 4, 4), at("folder/dog/broken.png"));
    T_ERR(cnn_image_load(at("folder/dog/broken.png"), 3, 4, 4, x), CNN_EFORMAT);
    T_SAYS(at("folder/dog/broken.png"));
    {
        size_t         len;
        unsigned char *png = read_bytes(at("folder/cat/b.PNG"), &len);
        write_bytes(at("cut.png"), png, len / 2);
        free(png);
        T_ERR(cnn_image_load(at("cut.png"), 3, 4, 4, x), CNN_EFORMAT);
        T_SAYS(at("cut.png"));
    }
    T_ERR(cnn_image_load(at("folder/dog/none.png"), 3, 4, 4, x), CNN_EIO);
    T_SAYS(at("folder/dog/none.png"));
    T_ERR(cnn_image_load(at("folder/cat/a.png"), 2, 4, 4, x), CNN_EINVAL);

    /* An empty tree; a class folder without images; no folder. */
    sub_dir("tree");
    T_NO_DATA(cnn_imagefolder_load(at("tree"), 3, 4, 4), at("tree"));
    sub_dir("tree/cls");
    write_bytes(at("tree/cls/x.txt"), "x", 1);
    T_NO_DATA(cnn_imagefolder_load(at("tree"), 3, 4, 4), at("tree/cls"));
    T_NO_DATA(cnn_imagefolder_load(at("absent"), 3, 4, 4), at("absent"));
    T_NO_DATA(cnn_imagefolder_load(at("folder"), 4, 4, 4), at("folder"));
#else
    float x[1];
    T_NO_DATA(cnn_imagefolder_load(at("folder"), 3, 4, 4), at("folder"));
    T_SAYS("no image library");
    T_ERR(cnn_image_load(at("a.png"), 3, 4, 4, x), CNN_EIO);
    T_SAYS("no image library");
#endif
}

/* ==== @@SUBSET AND STATS ==== */

/* n images of c x h x w, pixel k of image i = (i * 29 + k * 7) & 255,
 * label i % classes; class names "c0", "c1", ... */
static cnn_dataset *make_dataset(int64_t n, int c, int h, int w, int classes)
{
    cnn_dataset *d = calloc(1, sizeof *d);
    int64_t      s = (int64_t)c * h * w;

    T_TRUE(d != NULL);
    d->n       = n;
    d->c       = c;
    d->h       = h;
    d->w       = w;
    d->classes = classes;
    T_TRUE((d->pixels = malloc((size_t)(n * s))) != NULL);
    T_TRUE((d->labels = malloc((size_t)n * sizeof *d->labels)) != NULL);
    T_TRUE((d->class_names = calloc((size_t)classes, sizeof *d->class_names)) != NULL);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < s; k++)
            d->pixels[i * s + k] = (uint8_t)((i * 29 + k * 7) & 255);
        d->labels[i] = (int32_t)(i % classes);
    }
    for (int k = 0; k < classes; k++) {
        T_TRUE((d->class_names[k] = malloc(16)) != NULL);
        snprintf(d->class_names[k], 16, "c%d", k);
    }
    return d;
}

static void subset_and_stats(void)
{
    cnn_dataset *d = make_dataset(10, 2, 3, 3, 4), *s;
    float        mean[2], std[2];

    /* Labels 1..2 of 0,1,2,3,0,1,2,3,0,1: images 1,2,5,6,9. */
    T_TRUE((s = cnn_dataset_subset(d, 1, 2, 0)) != NULL);
    T_EQ(s->n, 5);
    T_EQ(s->classes, 2);
    T_TRUE(strcmp(s->class_names[1], "c2") == 0);
    T_TRUE(s->labels[0] == 0 && s->labels[1] == 1 && s->labels[2] == 0 && s->labels[4] == 0);
    T_TRUE(memcmp(s->pixels + 2 * 18, d->pixels + 5 * 18, 18) == 0);
    T_TRUE(memcmp(s->pixels + 4 * 18, d->pixels + 9 * 18, 18) == 0);
    cnn_dataset_free(s);
    T_TRUE((s = cnn_dataset_subset(d, 1, 2, 3)) != NULL);
    T_EQ(s->n, 3);
    T_TRUE(memcmp(s->pixels + 2 * 18, d->pixels + 5 * 18, 18) == 0);
    cnn_dataset_free(s);
    T_TRUE(cnn_dataset_subset(d, 2, 1, 0) == NULL);
    T_TRUE(cnn_dataset_subset(d, 0, 4, 0) == NULL);
    T_TRUE(cnn_dataset_subset(d, -1, 2, 0) == NULL);
    T_TRUE(cnn_dataset_subset(NULL, 0, 1, 0) == NULL);

    /* Statistics against a direct two-pass computation. */
    T_OK(cnn_dataset_stats(d, mean, std));
    for (int ch = 0; ch < 2; ch++) {
        double m = 0, v = 0;
        for (int i = 0; i < 10; i++)
            for (int k = 0; k < 9; k++)
                m += d->pixels[i * 18 + ch * 9 + k] / 255.0;
        m /= 90;
        for (int i = 0; i < 10; i++)
            for (int k = 0; k < 9; k++) {
                double e = d->pixels[i * 18 + ch * 9 + k] / 255.0 - m;
                v += e * e;
            }
        T_NEAR(mean[ch], m, 1e-6);
        T_NEAR(std[ch], sqrt(v / 90), 1e-6);
    }
    T_ERR(cnn_dataset_stats(d, NULL, std), CNN_EINVAL);
    cnn_dataset_free(d);
}

/* ==== @@LOADER ==== */

#define LN 23 /* images in the loader tests; label = index */

static cnn_dataset *loader_dataset(void)
{
    cnn_dataset *d = make_dataset(LN, 2, 4, 5, LN);
    return d;
}

/* One epoch's labels (the image indices), batch by batch. */
static int epoch_labels(cnn_loader *l, int64_t epoch, int batch, int *out, float *x)
{
    int y[64], n, total = 0;

    T_OK(cnn_loader_start(l, epoch, 0));
    while ((n = cnn_loader_next(l, x, y)) > 0) {
        T_TRUE(n <= batch);
        memcpy(out + total, y, (size_t)n * sizeof *y);
        total += n;
    }
    T_EQ(n, 0);
    return total;
}

static void loader_order(void)
{
    cnn_dataset   *d   = loader_dataset();
    cnn_loader_cfg cfg = cnn_loader_defaults(5);
    cnn_loader    *l, *l2;
    int            a[LN], b[LN], c[LN], seen[LN];
    float          x[5 * 40];

    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_batches(l), 5);
    /* A permutation, the same for the same (seed, epoch). */
    T_EQ(epoch_labels(l, 0, 5, a, x), LN);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < LN; i++)
        seen[a[i]]++;
    for (int i = 0; i < LN; i++)
        T_EQ(seen[i], 1);
    T_EQ(epoch_labels(l, 1, 5, b, x), LN);
    T_TRUE(memcmp(a, b, sizeof a) != 0);
    T_TRUE((l2 = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(epoch_labels(l2, 1, 5, c, x), LN);
    T_TRUE(memcmp(b, c, sizeof b) == 0);
    T_EQ(epoch_labels(l2, 0, 5, c, x), LN);
    T_TRUE(memcmp(a, c, sizeof a) == 0);
    cnn_loader_free(l2);
    /* Another seed, another order. */
    cfg.seed = 7;
    T_TRUE((l2 = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(epoch_labels(l2, 0, 5, c, x), LN);
    T_TRUE(memcmp(a, c, sizeof a) != 0);
    cnn_loader_free(l2);
    cnn_loader_free(l);
    /* No shuffle: file order. */
    cfg.shuffle = false;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(epoch_labels(l, 3, 5, c, x), LN);
    for (int i = 0; i < LN; i++)
        T_EQ(c[i], i);
    cnn_loader_free(l);
    cnn_dataset_free(d);
}

static void loader_drop_last_and_shards(void)
{
    cnn_dataset   *d   = loader_dataset();
    cnn_loader_cfg cfg = cnn_loader_defaults(5);
    cnn_loader    *l;
    int            all[LN], s0[LN], s1[LN], y[5], n0, n1;
    float          x[5 * 40];

    cfg.seed = 3;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(epoch_labels(l, 2, 5, all, x), LN);
    cnn_loader_free(l);
    /* drop_last: 4 whole batches, then the end. */
    cfg.drop_last = true;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_batches(l), 4);
    T_EQ(epoch_labels(l, 2, 5, s0, x), 20);
    T_TRUE(memcmp(s0, all, 20 * sizeof *s0) == 0);
    T_EQ(cnn_loader_next(l, x, y), 0);
    cnn_loader_free(l);
    /* Shards 0/2 and 1/2: the even and odd positions of the epoch's order. */
    cfg.drop_last = false;
    cfg.shards    = 2;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_batches(l), 3);
    n0 = epoch_labels(l, 2, 5, s0, x);
    cnn_loader_free(l);
    cfg.shard = 1;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_batches(l), 3);
    n1 = epoch_labels(l, 2, 5, s1, x);
    cnn_loader_free(l);
    T_EQ(n0, 12);
    T_EQ(n1, 11);
    for (int i = 0; i < n0; i++)
        T_EQ(s0[i], all[2 * i]);
    for (int i = 0; i < n1; i++)
        T_EQ(s1[i], all[2 * i + 1]);
    /* A shard past the end of a tiny dataset is empty. */
    cfg.shards = 40;
    cfg.shard  = 30;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_batches(l), 0);
    T_EQ(cnn_loader_next(l, x, y), 0);
    cnn_loader_free(l);
    cnn_dataset_free(d);
}

/* Every sample is its image, zero-padded by `pad`, shifted by some
 * (dy, dx) in [0, 2 pad] and possibly mirrored, then normalized. */
static void loader_augment(void)
{
    cnn_dataset   *d   = loader_dataset();
    cnn_loader_cfg cfg = cnn_loader_defaults(8);
    cnn_loader    *l;
    float          x[8 * 40], lut[2][256];
    int            y[8], n, flips = 0, shifts = 0, pad = 2;

    cfg.crop_pad = pad;
    cfg.hflip    = true;
    cfg.mean[0]  = 0.5f;
    cfg.std[0]   = 0.25f;
    cfg.mean[1]  = 0.125f;
    cfg.std[1]   = 2.0f;
    for (int ch = 0; ch < 2; ch++)
        for (int p = 0; p < 256; p++)
            lut[ch][p] = ((float)p / 255.0f - cfg.mean[ch]) / cfg.std[ch];
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    for (int epoch = 0; epoch < 3; epoch++) {
        T_OK(cnn_loader_start(l, epoch, 0));
        while ((n = cnn_loader_next(l, x, y)) > 0)
            for (int b = 0; b < n; b++) {
                const uint8_t *img = d->pixels + (int64_t)y[b] * 40;
                const float   *got = x + b * 40;
                bool           found = false;
                for (int dy = 0; dy <= 2 * pad && !found; dy++)
                    for (int dx = 0; dx <= 2 * pad && !found; dx++)
                        for (int flip = 0; flip < 2 && !found; flip++) {
                            bool same = true;
                            for (int ch = 0; ch < 2 && same; ch++)
                                for (int i = 0; i < 4 && same; i++)
                                    for (int j = 0; j < 5 && same; j++) {
                                        int   sy = i + dy - pad;
                                        int   sx = (flip ? 4 - j : j) + dx - pad;
                                        float v  = sy >= 0 && sy < 4 && sx >= 0 && sx < 5
                                                       ? lut[ch][img[ch * 20 + sy * 5 + sx]]
                                                       : lut[ch][0];
                                        same     = got[ch * 20 + i * 5 + j] == v;
                                    }
                            if (same) {
                                found = true;
                                flips += flip;
                                shifts += dy != pad || dx != pad;
                            }
                        }
                if (!found)
                    T_FAILED("epoch %d: sample of image %d is no crop or mirror of it", epoch,
                             y[b]);
            }
        T_EQ(n, 0);
    }
    /* 69 samples: some flipped, some shifted, not all. */
    T_TRUE(flips > 5 && flips < 64);
    T_TRUE(shifts > 5);
    cnn_loader_free(l);

    /* One image exactly: no augmentation, no shuffle, image 0 first. */
    cfg          = cnn_loader_defaults(8);
    cfg.shuffle  = false;
    cfg.mean[0]  = 0.5f;
    cfg.std[0]   = 0.25f;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_EQ(cnn_loader_next(l, x, y), 8); /* epoch 0 without start() */
    for (int k = 0; k < 20; k++)
        T_FEQ(x[k], ((float)d->pixels[k] / 255.0f - 0.5f) / 0.25f);
    for (int k = 20; k < 40; k++)
        T_FEQ(x[k], (float)d->pixels[k] / 255.0f);
    cnn_loader_free(l);
    cnn_dataset_free(d);
}

/* Starting at batch k gives the batches an uninterrupted epoch gives from
 * k; a prefetching loader gives the same bytes. */
static void loader_resume_and_prefetch(void)
{
    cnn_dataset   *d   = loader_dataset();
    cnn_loader_cfg cfg = cnn_loader_defaults(4);
    cnn_loader    *l, *r;
    float          full[LN * 40], x[4 * 40];
    int            fy[LN], y[4], n, at0;

    cfg.crop_pad = 1;
    cfg.hflip    = true;
    cfg.seed     = 11;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    T_OK(cnn_loader_start(l, 4, 0));
    at0 = 0;
    while ((n = cnn_loader_next(l, full + at0 * 40, fy + at0)) > 0)
        at0 += n;
    T_EQ(at0, LN);
    for (int pf = 0; pf < 2; pf++) {
        cfg.prefetch = pf;
        T_TRUE((r = cnn_loader_new(d, &cfg)) != NULL);
        for (int k = 0; k < 6; k++) {
            int pos = k * 4;
            T_OK(cnn_loader_start(r, 4, k));
            while ((n = cnn_loader_next(r, x, y)) > 0) {
                T_TRUE(memcmp(x, full + pos * 40, (size_t)n * 40 * sizeof *x) == 0);
                T_TRUE(memcmp(y, fy + pos, (size_t)n * sizeof *y) == 0);
                pos += n;
            }
            T_EQ(pos, LN);
        }
        T_OK(cnn_loader_start(r, 4, 6));
        T_EQ(cnn_loader_next(r, x, y), 0);
        /* Restarted in the middle of an epoch, with a batch prefetched. */
        T_OK(cnn_loader_start(r, 1, 0));
        T_EQ(cnn_loader_next(r, x, y), 4);
        T_OK(cnn_loader_start(r, 4, 2));
        T_EQ(cnn_loader_next(r, x, y), 4);
        T_TRUE(memcmp(x, full + 8 * 40, 4 * 40 * sizeof *x) == 0);
        T_ERR(cnn_loader_start(r, 4, 8), CNN_EINVAL);
        T_ERR(cnn_loader_start(r, -1, 0), CNN_EINVAL);
        cnn_loader_free(r);
    }
    cnn_loader_free(l);

    /* Several epochs, prefetch on and off, bit for bit. */
    cfg.prefetch = false;
    T_TRUE((l = cnn_loader_new(d, &cfg)) != NULL);
    cfg.prefetch = true;
    T_TRUE((r = cnn_loader_new(d, &cfg)) != NULL);
    for (int epoch = 0; epoch < 5; epoch++) {
        float xr[4 * 40];
        int   yr[4], m;
        T_OK(cnn_loader_start(l, epoch, 0));
        T_OK(cnn_loader_start(r, epoch, 0));
        do {
            n = cnn_loader_next(l, x, y);
            m = cnn_loader_next(r, xr, yr);
            T_EQ(n, m);
            T_TRUE(memcmp(x, xr, (size_t)n * 40 * sizeof *x) == 0);
            T_TRUE(memcmp(y, yr, (size_t)n * sizeof *y) == 0);
        } while (n > 0);
    }
    cnn_loader_free(l);
    cnn_loader_free(r);
    /* Freed with a batch in preparation, and never started. */
    T_TRUE((r = cnn_loader_new(d, &cfg)) != NULL);
    T_OK(cnn_loader_start(r, 0, 0));
    cnn_loader_free(r);
    T_TRUE((r = cnn_loader_new(d, &cfg)) != NULL);
    cnn_loader_free(r);
    cnn_dataset_free(d);
}

static void loader_errors(void)
{
    cnn_dataset   *d   = loader_dataset();
    cnn_dataset   *d5  = make_dataset(3, 5, 2, 2, 3);
    cnn_loader_cfg cfg = cnn_loader_defaults(4);
    float          x[1];
    int            y[1];

    T_TRUE(cnn_loader_new(d5, &cfg) == NULL);
    T_SAYS("5 channels");
    cfg.batch = 0;
    T_TRUE(cnn_loader_new(d, &cfg) == NULL);
    cfg        = cnn_loader_defaults(4);
    cfg.shards = 2;
    cfg.shard  = 2;
    T_TRUE(cnn_loader_new(d, &cfg) == NULL);
    cfg        = cnn_loader_defaults(4);
    cfg.std[1] = 0.0f;
    T_TRUE(cnn_loader_new(d, &cfg) == NULL);
    T_SAYS("std");
    cfg          = cnn_loader_defaults(4);
    cfg.crop_pad = -1;
    T_TRUE(cnn_loader_new(d, &cfg) == NULL);
    T_TRUE(cnn_loader_new(NULL, &cfg) == NULL);
    T_TRUE(cnn_loader_new(d, NULL) == NULL);
    T_ERR(cnn_loader_next(NULL, x, y), CNN_EINVAL);
    T_ERR(cnn_loader_start(NULL, 0, 0), CNN_EINVAL);
    T_EQ(cnn_loader_defaults(0).batch, 64);
    cnn_loader_free(NULL);
    cnn_dataset_free(NULL);
    cnn_dataset_free(d5);
    cnn_dataset_free(d);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fixture_init();
    T_RUN(idx_plain_and_gzip);
    T_RUN(idx_truncated);
    T_RUN(idx_bad_headers);
    T_RUN(idx_counts_and_trailing);
    T_RUN(idx_hostile_sizes);
    T_RUN(idx_label_255);
    T_RUN(idx_corrupt_gzip);
    T_RUN(mnist_dirs);
    T_RUN(fashion_mnist);
    T_RUN(cifar_files);
    T_RUN(cifar_dir);
    T_RUN(image_folder);
    T_RUN(subset_and_stats);
    T_RUN(loader_order);
    T_RUN(loader_drop_last_and_shards);
    T_RUN(loader_augment);
    T_RUN(loader_resume_and_prefetch);
    T_RUN(loader_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    return t_done("data");
}
