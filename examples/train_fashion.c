/* train_fashion.c - train LeNet-5 on Fashion-MNIST with libcnn.
 *
 * The first program to read: it uses only the public API (cnn.h) and shows
 * the whole cycle - build a graph, initialize it, plan it for a batch size,
 * then forward, loss, backward and an optimizer step per batch, with a
 * re-plan for evaluation at a larger batch.
 *
 *   train_fashion [--data DIR] [--epochs N] [--threads T] [--seed S] [--limit N]
 *
 * DIR holds the four gzipped IDX files of Fashion-MNIST (the Debian package
 * dataset-fashion-mnist installs them in the default directory). The last
 * line printed is "test accuracy: 0.XXXX".
 */
#include "cnn.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define ROWS       28
#define COLS       28
#define PIXELS     (ROWS * COLS)
#define CLASSES    10
#define BATCH      64
#define EVAL_BATCH 1000
/* A corrupt header must not make us ask for terabytes; the real sets have
 * 60,000 and 10,000 items. */
#define MAX_ITEMS 10000000u

/* The hyper-parameters of the usual PyTorch recipe for this network. */
#define LR           0.02f
#define MOMENTUM     0.9f
#define WEIGHT_DECAY 5e-4f
#define PARAMS       61706 /* LeNet-5 on 1x28x28 with padding 2 in conv1 */

/* One split of the data set: n images of PIXELS bytes and n labels. */
typedef struct dataset {
    int      n;
    uint8_t *pixels; /* [n, 28, 28], 0 = background, 255 = ink */
    int     *labels; /* [n], 0..9                               */
} dataset;

/* ==== @@DATA ==== */

/* Reads exactly `size` bytes or says why not, naming the file. */
static int read_exact(gzFile f, const char *path, void *buf, size_t size, const char *what)
{
    size_t got = 0;

    while (got < size) {
        /* gzread takes an unsigned count; read in chunks well below its limit. */
        unsigned chunk = size - got > (1u << 30) ? 1u << 30 : (unsigned)(size - got);
        int      r     = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int zerr;
            /* zlib's message already names the file: "path: reason". */
            fprintf(stderr, "%s (reading %s)\n", gzerror(f, &zerr), what);
            return -1;
        }
        if (r == 0) {
            fprintf(stderr, "%s: truncated: expected %zu bytes of %s, found %zu\n", path, size,
                    what, got);
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* IDX stores its header as big-endian 32-bit words. */
static int read_header(gzFile f, const char *path, uint32_t *words, int count)
{
    uint8_t b[16];

    if (read_exact(f, path, b, (size_t)count * 4, "header") < 0)
        return -1;
    for (int i = 0; i < count; i++)
        words[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
                   (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
    return 0;
}

/* After the announced items the file must end: extra bytes mean the header
 * does not describe the file. */
static int expect_end(gzFile f, const char *path)
{
    char extra;

    if (gzread(f, &extra, 1) != 0) {
        fprintf(stderr, "%s: more data than the header announces\n", path);
        return -1;
    }
    return 0;
}

/* Images: magic 0x00000803 (unsigned bytes, 3 dims), count, rows, cols. */
static int load_images(const char *path, dataset *d)
{
    uint32_t h[4];
    int      rc = -1;
    gzFile   f;

    errno = 0; /* gzopen sets it only when the open itself fails */
    f     = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    if (read_header(f, path, h, 4) < 0)
        goto out;
    if (h[0] != 0x00000803) {
        fprintf(stderr, "%s: magic 0x%08" PRIx32 ", expected 0x00000803 (IDX images)\n", path,
                h[0]);
        goto out;
    }
    if (h[1] == 0 || h[1] > MAX_ITEMS) {
        fprintf(stderr, "%s: %" PRIu32 " images, expected 1 to %u\n", path, h[1], MAX_ITEMS);
        goto out;
    }
    if (h[2] != ROWS || h[3] != COLS) {
        fprintf(stderr, "%s: images of %" PRIu32 "x%" PRIu32 ", expected %dx%d\n", path, h[2],
                h[3], ROWS, COLS);
        goto out;
    }
    d->n = (int)h[1];
    if (!(d->pixels = malloc((size_t)d->n * PIXELS))) {
        fprintf(stderr, "%s: out of memory for %d images\n", path, d->n);
        goto out;
    }
    if (read_exact(f, path, d->pixels, (size_t)d->n * PIXELS, "pixels") < 0 ||
        expect_end(f, path) < 0)
        goto out;
    rc = 0;
out:
    gzclose(f);
    return rc;
}

/* Labels: magic 0x00000801 (unsigned bytes, 1 dim), count; each 0..9. The
 * count must match the images already loaded into d. */
static int load_labels(const char *path, dataset *d)
{
    uint32_t h[2];
    uint8_t *raw = NULL;
    int      rc  = -1;
    gzFile   f;

    errno = 0; /* gzopen sets it only when the open itself fails */
    f     = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    if (read_header(f, path, h, 2) < 0)
        goto out;
    if (h[0] != 0x00000801) {
        fprintf(stderr, "%s: magic 0x%08" PRIx32 ", expected 0x00000801 (IDX labels)\n", path,
                h[0]);
        goto out;
    }
    if (h[1] != (uint32_t)d->n) {
        fprintf(stderr, "%s: %" PRIu32 " labels, expected %d (one per image)\n", path, h[1],
                d->n);
        goto out;
    }
    raw       = malloc((size_t)d->n);
    d->labels = malloc((size_t)d->n * sizeof *d->labels);
    if (!raw || !d->labels) {
        fprintf(stderr, "%s: out of memory for %d labels\n", path, d->n);
        goto out;
    }
    if (read_exact(f, path, raw, (size_t)d->n, "labels") < 0 || expect_end(f, path) < 0)
        goto out;
    for (int i = 0; i < d->n; i++) {
        if (raw[i] >= CLASSES) {
            fprintf(stderr, "%s: label %d of item %d, expected 0 to %d\n", path, raw[i], i,
                    CLASSES - 1);
            goto out;
        }
        d->labels[i] = raw[i];
    }
    rc = 0;
out:
    free(raw);
    gzclose(f);
    return rc;
}

static void dataset_free(dataset *d)
{
    free(d->pixels);
    free(d->labels);
    d->pixels = NULL;
    d->labels = NULL;
}

/* Loads one split, "train" or "t10k", from dir. */
static int load_split(const char *dir, const char *split, dataset *d)
{
    char        path[4096];
    const char *sep = dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "";

    snprintf(path, sizeof path, "%s%s%s-images-idx3-ubyte.gz", dir, sep, split);
    if (load_images(path, d) < 0)
        return -1;
    snprintf(path, sizeof path, "%s%s%s-labels-idx1-ubyte.gz", dir, sep, split);
    return load_labels(path, d);
}

/* ==== @@MODEL ==== */

/* LeNet-5 as PyTorch code usually writes it for 28x28 inputs: conv1 pads
 * by 2 so the 32x32 geometry of the original paper is kept.
 *
 *   1x28x28 -conv5x5,pad2-> 6x28x28 -pool-> 6x14x14 -conv5x5-> 16x10x10
 *   -pool-> 16x5x5 -flatten-> 400 -> 120 -> 84 -> 10 logits
 *
 * Sets *input and *logits to their node ids; returns 0 or a CNN_E* code. */
static int build_lenet5(cnn_graph *g, int *input, int *logits)
{
    cnn_conv2d_attr c1 = cnn_conv2d_defaults(6, 5, 5);
    cnn_conv2d_attr c2 = cnn_conv2d_defaults(16, 5, 5);
    cnn_pool2d_attr p  = cnn_pool2d_defaults(2, 2);
    int             x;

    c1.pad[0] = c1.pad[1] = c1.pad[2] = c1.pad[3] = 2;
    /* Each call returns the new node id or a negative code; || stops at the
     * first failure, so cnn_last_error() still tells its reason. */
    if ((x = *input = cnn_input(g, 1, ROWS, COLS, "image")) < 0 ||
        (x = cnn_conv2d(g, x, &c1, "conv1")) < 0 || (x = cnn_relu(g, x, "relu1")) < 0 ||
        (x = cnn_maxpool2d(g, x, &p, "pool1")) < 0 ||
        (x = cnn_conv2d(g, x, &c2, "conv2")) < 0 || (x = cnn_relu(g, x, "relu2")) < 0 ||
        (x = cnn_maxpool2d(g, x, &p, "pool2")) < 0 || (x = cnn_flatten(g, x, "flatten")) < 0 ||
        (x = cnn_linear(g, x, 120, true, "fc1")) < 0 || (x = cnn_relu(g, x, "relu3")) < 0 ||
        (x = cnn_linear(g, x, 84, true, "fc2")) < 0 || (x = cnn_relu(g, x, "relu4")) < 0 ||
        (x = *logits = cnn_linear(g, x, CLASSES, true, "fc3")) < 0)
        return x;
    return 0;
}

/* One line per node: name, op and per-sample output shape. */
static void print_summary(const cnn_graph *g)
{
    for (int id = 0; id < cnn_graph_size(g); id++) {
        cnn_op      op;
        const char *name;
        cnn_shape   shape;
        char        buf[64];

        cnn_node_info(g, id, &op, &name, &shape);
        printf("  %-8s %-10s %s\n", name, cnn_op_name(op), cnn_shape_str(&shape, buf, sizeof buf));
    }
    printf("parameters: %" PRId64 "\n", cnn_graph_param_count(g));
}

/* ==== @@TRAINING ==== */

/* The shuffle's own generator (splitmix64), so the order of batches depends
 * only on --seed, not on the C library or on the graph's RNG. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z          = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z          = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Fisher-Yates; the modulo bias is below 1e-14 for n of 60,000. */
static void shuffle(int *order, int n, uint64_t *state)
{
    for (int i = n - 1; i > 0; i--) {
        int j    = (int)(next_random(state) % (uint64_t)(i + 1));
        int t    = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Copies the images d[idx[0..count)] into x as normalized floats, through
 * a table: a pixel has only 256 values. */
static void gather(const dataset *d, const int *idx, int count, const float lut[256], float *x,
                   int *labels)
{
    for (int b = 0; b < count; b++) {
        const uint8_t *src = d->pixels + (size_t)idx[b] * PIXELS;
        for (int k = 0; k < PIXELS; k++)
            x[(size_t)b * PIXELS + k] = lut[src[k]];
        labels[b] = d->labels[idx[b]];
    }
}

/* Test accuracy at EVAL_BATCH samples per forward; the last batch is padded
 * with copies of sample 0, whose answers are not counted. */
static int evaluate(cnn_graph *g, int input, int logits, const dataset *d, const float lut[256],
                    float *x, int *labels, double *accuracy)
{
    int idx[EVAL_BATCH], correct = 0, rc;

    if ((rc = cnn_graph_plan(g, EVAL_BATCH)) < 0)
        return rc;
    for (int start = 0; start < d->n; start += EVAL_BATCH) {
        int count = d->n - start < EVAL_BATCH ? d->n - start : EVAL_BATCH;
        for (int b = 0; b < EVAL_BATCH; b++)
            idx[b] = b < count ? start + b : 0;
        gather(d, idx, EVAL_BATCH, lut, x, labels);
        if ((rc = cnn_graph_set_input(g, input, x)) < 0 ||
            (rc = cnn_graph_forward(g, CNN_EVAL)) < 0)
            return rc;
        const float *y = cnn_graph_data(g, logits); /* [EVAL_BATCH, 10] */
        for (int b = 0; b < count; b++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (y[b * CLASSES + k] > y[b * CLASSES + best])
                    best = k;
            correct += best == labels[b];
        }
    }
    *accuracy = (double)correct / d->n;
    /* Back to the training batch size. */
    return cnn_graph_plan(g, BATCH);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ==== @@MAIN ==== */

static void usage(FILE *f)
{
    fprintf(f, "usage: train_fashion [--data DIR] [--epochs N] [--threads T] [--seed S] "
               "[--limit N]\n"
               "  --data DIR   Fashion-MNIST IDX files (default "
               "/usr/share/datasets/fashion-mnist/)\n"
               "  --epochs N   passes over the training set (default 3)\n"
               "  --threads T  threads inside forward and backward (default 2)\n"
               "  --seed S     seed of the initial weights and of the shuffle (default 1)\n"
               "  --limit N    train on the first N training images only (default all)\n");
}

/* Parses a whole-string integer in [lo, hi]. */
static int parse_int(const char *flag, const char *s, long long lo, long long hi, long long *out)
{
    char     *end;
    long long v;

    errno = 0;
    v     = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "train_fashion: %s '%s': expected an integer from %lld to %lld\n", flag,
                s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Prints the failed step and the library's reason for it. */
static void report(const char *what, int rc)
{
    fprintf(stderr, "train_fashion: %s: %s: %s\n", what, cnn_strerror(rc), cnn_last_error());
}

int main(int argc, char **argv)
{
    const char *dir    = "/usr/share/datasets/fashion-mnist/";
    long long   epochs = 3, threads = 2, seed = 1, limit = 0; /* limit 0: all */
    dataset     train  = {0}, test = {0};
    cnn_graph  *g      = NULL;
    cnn_optim  *opt    = NULL;
    int        *order  = NULL; /* [train.n] shuffled sample indices        */
    int        *labels = NULL; /* [EVAL_BATCH] labels of the current batch  */
    float      *x      = NULL; /* [EVAL_BATCH, 1, 28, 28] normalized batch */
    int         status = 1, input = 0, logits = 0, rc;

    /* Every option but --help takes a value: "--epochs 15". */
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        long long  *dst  = NULL, lo = 1, hi = 1000000;

        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(flag, "--data") == 0) {
            /* dst stays NULL: the value is a path, not a number */
        } else if (strcmp(flag, "--epochs") == 0) {
            dst = &epochs;
        } else if (strcmp(flag, "--threads") == 0) {
            dst = &threads;
            hi  = 1024;
        } else if (strcmp(flag, "--seed") == 0) {
            dst = &seed;
            lo  = 0;
            hi  = INT64_MAX;
        } else if (strcmp(flag, "--limit") == 0) {
            dst = &limit;
            lo  = BATCH;
            hi  = MAX_ITEMS;
        } else {
            fprintf(stderr, "train_fashion: unknown option '%s' (see --help)\n", flag);
            return 2;
        }
        if (++i == argc) {
            fprintf(stderr, "train_fashion: '%s' needs a value (see --help)\n", flag);
            return 2;
        }
        if (!dst)
            dir = argv[i];
        else if (parse_int(flag, argv[i], lo, hi, dst) < 0)
            return 2;
    }

    /* ---- data ---- */
    if (load_split(dir, "train", &train) < 0 || load_split(dir, "t10k", &test) < 0)
        goto out;
    if (limit > 0 && limit < train.n)
        train.n = (int)limit;
    if (train.n < BATCH) {
        fprintf(stderr, "train_fashion: %d training images, need at least one batch of %d\n",
                train.n, BATCH);
        goto out;
    }

    /* Pixels go to [0, 1], then to zero mean and unit variance with the
     * statistics of the training images (about 0.286 and 0.353). */
    double sum = 0.0, sum2 = 0.0, count = (double)train.n * PIXELS;
    for (size_t k = 0; k < (size_t)train.n * PIXELS; k++) {
        double v = train.pixels[k] / 255.0;
        sum += v;
        sum2 += v * v;
    }
    double mean = sum / count, std = sqrt(sum2 / count - mean * mean);
    float  lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)((v / 255.0 - mean) / std);
    printf("train %d images, test %d images, mean %.4f, std %.4f\n", train.n, test.n, mean, std);

    /* ---- model ---- */
    if (!(g = cnn_graph_new())) {
        fprintf(stderr, "train_fashion: out of memory\n");
        goto out;
    }
    if ((rc = build_lenet5(g, &input, &logits)) < 0) {
        report("building LeNet-5", rc);
        goto out;
    }
    print_summary(g);
    if (cnn_graph_param_count(g) != PARAMS) {
        fprintf(stderr, "train_fashion: %" PRId64 " parameters, expected %d\n",
                cnn_graph_param_count(g), PARAMS);
        goto out;
    }
    /* He-normal suits the ReLUs: it learns faster in the first epochs than
     * PyTorch's default (kaiming_uniform with a = sqrt(5), a smaller start);
     * after 15 epochs the two are within seed-to-seed noise. */
    if ((rc = cnn_graph_init(g, CNN_INIT_HE_NORMAL, (uint64_t)seed)) < 0) {
        report("init", rc);
        goto out;
    }
    if ((rc = cnn_graph_set_threads(g, (int)threads)) < 0 || (rc = cnn_graph_plan(g, BATCH)) < 0) {
        report("plan", rc);
        goto out;
    }

    cnn_optim_cfg cfg = cnn_optim_defaults(CNN_SGD);
    cfg.lr            = LR;
    cfg.momentum      = MOMENTUM;
    cfg.weight_decay  = WEIGHT_DECAY;
    if (!(opt = cnn_optim_new(g, &cfg))) {
        fprintf(stderr, "train_fashion: optimizer: %s\n", cnn_last_error());
        goto out;
    }

    /* The last partial batch of each epoch is dropped, so every step sees
     * BATCH samples and the cosine runs over exactly the steps taken. */
    const int64_t steps_per_epoch = train.n / BATCH;
    cnn_sched     sched           = {
        .kind = CNN_SCHED_COSINE, .lr = LR, .total_steps = epochs * steps_per_epoch,
    };

    order  = malloc((size_t)train.n * sizeof *order);
    labels = malloc(EVAL_BATCH * sizeof *labels);
    x      = malloc((size_t)EVAL_BATCH * PIXELS * sizeof *x);
    if (!order || !labels || !x) {
        fprintf(stderr, "train_fashion: out of memory\n");
        goto out;
    }
    for (int i = 0; i < train.n; i++)
        order[i] = i;

    /* ---- training ---- */
    uint64_t rng      = (uint64_t)seed;
    int64_t  step     = 0;
    double   test_acc = 0.0;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        double loss_sum = 0.0, t0 = now_seconds();
        int    correct  = 0;

        shuffle(order, train.n, &rng);
        for (int64_t s = 0; s < steps_per_epoch; s++, step++) {
            float loss;
            int   hits;

            gather(&train, order + s * BATCH, BATCH, lut, x, labels);
            if ((rc = cnn_graph_set_input(g, input, x)) < 0 ||
                (rc = cnn_graph_forward(g, CNN_TRAIN)) < 0 ||
                (rc = cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, &hits)) < 0) {
                report("forward", rc);
                goto out;
            }
            if (!isfinite(loss)) {
                fprintf(stderr, "train_fashion: loss is %f at epoch %d, step %" PRId64 "\n",
                        (double)loss, epoch, s);
                goto out;
            }
            if ((rc = cnn_graph_zero_param_grads(g)) < 0 || (rc = cnn_graph_backward(g)) < 0 ||
                (rc = cnn_optim_step(opt, cnn_sched_lr(&sched, step))) < 0) {
                report("backward", rc);
                goto out;
            }
            loss_sum += loss;
            correct += hits;
        }
        /* Time and speed cover the training pass only, not the evaluation. */
        double seconds = now_seconds() - t0;
        if ((rc = evaluate(g, input, logits, &test, lut, x, labels, &test_acc)) < 0) {
            report("evaluate", rc);
            goto out;
        }
        printf("epoch %2d  loss %.4f  train acc %.4f  test acc %.4f  %6.1f s  %6.0f img/s\n",
               epoch, loss_sum / steps_per_epoch,
               (double)correct / (double)(steps_per_epoch * BATCH), test_acc, seconds,
               (double)(steps_per_epoch * BATCH) / seconds);
        fflush(stdout);
    }
    printf("test accuracy: %.4f\n", test_acc);
    status = 0;
out:
    cnn_optim_free(opt);
    cnn_graph_free(g);
    free(order);
    free(labels);
    free(x);
    dataset_free(&train);
    dataset_free(&test);
    return status;
}
