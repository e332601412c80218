/* bench.c - `cnn bench`: times a whole model (training step or inference)
 * or one convolution layer on random data, after a warm-up, and prints the
 * median. bench/compare.sh runs the same workloads through PyTorch and ONNX
 * Runtime and sets the numbers side by side. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn bench --model MODEL [--input CxHxW] [--classes N] [--batch B]\n"
            "                 [--mode train|infer] [--threads T] [--iters N] [--warmup W]\n"
            "                 [--profile]\n"
            "       cnn bench --conv N,C,H,W,K,R,S,STRIDE,PAD [--mode fwd|fwdbwd]\n"
            "                 [--threads T] [--iters N] [--warmup W]\n"
            "\n"
            "Times N iterations after W warm-up ones on random data and prints the median\n"
            "milliseconds per iteration, the peak resident memory of the process and, last,\n"
            "images/s (--model) or GFLOP/s (--conv: 2 x MACs forward; fwdbwd counts the\n"
            "forward, the data gradient and the weight gradient, 3 x that).\n"
            "\n"
            "  --model MODEL  zoo name or network-description file\n"
            "  --mode         train: forward, softmax cross-entropy, backward and an SGD\n"
            "                 momentum step; infer: forward in eval mode (default)\n"
            "                 conv: fwd (default) or fwdbwd (forward and backward)\n"
            "  --conv ...     one conv layer with bias: batch N, C x H x W input, K filters\n"
            "                 of R x S, stride and pad on both axes\n"
            "  --batch B      default 1 (--model)\n"
            "  --threads T    default: the number of CPUs\n"
            "  --iters N      timed iterations (default 20)\n"
            "  --warmup W     untimed iterations first (default 3)\n"
            "  --profile      then N more iterations with each node timed: a table of\n"
            "                 the nodes by time (ms per iteration, forward and backward,\n"
            "                 share, GFLOP/s of conv and linear), before the summary\n");
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double peak_mib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : 0.0; /* KiB on Linux */
}

/* Uniform [-1, 1) from a fixed seed, so every run times the same numbers. */
static void fill_random(float *x, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((seed >> 40) * (1.0 / (1 << 23))) - 1.0f;
    }
}

/* The work of one iteration. */
typedef struct job {
    cnn_graph *g;
    cnn_optim *opt;
    int        out, batch;
    int       *labels;
    bool       train, backward;
} job;

static int step(job *j)
{
    float loss;

    if (cnn_graph_forward(j->g, j->train ? CNN_TRAIN : CNN_EVAL) < 0)
        return -1;
    if (j->opt) { /* a training step */
        if (cnn_graph_softmax_xent(j->g, j->out, j->labels, 0.0f, &loss, NULL) < 0 ||
            cnn_graph_zero_param_grads(j->g) < 0 || cnn_graph_backward(j->g) < 0)
            return -1;
        return cnn_optim_step(j->opt, 0.01f);
    }
    if (j->backward) /* one layer: dY stays as seeded once */
        return cnn_graph_zero_param_grads(j->g) < 0 ? -1 : cnn_graph_backward(j->g);
    return 0;
}

/* Runs warmup + iters steps; the median milliseconds per step. */
static int time_job(job *j, int warmup, int iters, double *ms)
{
    double *t = malloc((size_t)iters * sizeof *t);

    if (!t)
        return cli_error("bench", "out of memory");
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = now_ms();
        if (step(j) < 0) {
            free(t);
            return cli_error("bench", "%s", cnn_last_error());
        }
        if (i >= warmup)
            t[i - warmup] = now_ms() - t0;
    }
    *ms = median(t, iters);
    free(t);
    return 0;
}

static int parse_conv(const char *s, int v[9])
{
    char *end;

    for (int i = 0; i < 9; i++) {
        long x = strtol(s, &end, 10);
        if (end == s || x < (i == 8 ? 0 : 1) || x > (1 << 20) || (i < 8 && *end != ',') ||
            (i == 8 && *end != '\0'))
            return -1;
        v[i] = (int)x;
        s    = end + 1;
    }
    return 0;
}

/* Plans the batch and fills input node 0 with random numbers. */
static int prepare(job *j, int threads)
{
    cnn_shape s;
    int64_t   n = j->batch;

    bool infer = !j->train && !j->backward; /* no gradients, shared activations */

    /* Training keeps only the gradients it needs, as cnn train does. */
    if (cnn_graph_set_threads(j->g, threads) < 0 || cnn_graph_share_grads(j->g, true) < 0 ||
        (infer ? cnn_graph_plan_infer(j->g, j->batch) : cnn_graph_plan(j->g, j->batch)) < 0)
        return cli_error("bench", "%s", cnn_last_error());
    cnn_node_info(j->g, 0, NULL, NULL, &s);
    for (int d = 0; d < s.ndim; d++)
        n *= s.dim[d];
    fill_random(cnn_graph_data(j->g, 0), n, 1);
    return 0;
}

typedef struct prof_row {
    int    id;
    double f, b; /* ms per iteration */
} prof_row;

static int cmp_prof(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    double          d = (y->f + y->b) - (x->f + x->b);
    return d > 0 ? 1 : d < 0 ? -1 : x->id - y->id;
}

/* Runs `iters` more steps with the nodes timed; prints them, slowest first
 * (those under 0.5% of the time folded into one line). */
static int profile_job(job *j, int iters)
{
    const int       n    = cnn_graph_size(j->g);
    prof_row       *rows = malloc((size_t)n * sizeof *rows);
    cnn_node_stats *st   = malloc((size_t)n * sizeof *st);
    double          total = 0.0, rest = 0.0;
    int             nrest = 0;

    if (!rows || !st) {
        free(rows);
        free(st);
        return cli_error("bench", "out of memory");
    }
    if (cnn_graph_set_profile(j->g, true) < 0 || cnn_graph_stats_get(j->g, st, NULL) < 0)
        goto fail;
    for (int i = 0; i < iters; i++)
        if (step(j) < 0)
            goto fail;
    cnn_graph_set_profile(j->g, false);
    for (int i = 0; i < n; i++) {
        cnn_graph_profile(j->g, i, &rows[i].f, &rows[i].b);
        rows[i].id = i;
        rows[i].f *= 1000.0 / iters;
        rows[i].b *= 1000.0 / iters;
        total += rows[i].f + rows[i].b;
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_prof);
    printf("%-24s %-10s %-14s %9s %9s %6s %8s\n", "node", "op", "output", "fwd ms", "bwd ms",
           "share", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        const prof_row *r = &rows[i];
        const char     *name;
        cnn_op          op;
        cnn_shape       sh;
        char            shp[64], gf[16] = "";
        if (total <= 0.0 || (r->f + r->b) < 0.005 * total) {
            rest += r->f + r->b;
            nrest++;
            continue;
        }
        cnn_node_info(j->g, r->id, &op, &name, &sh);
        if (st[r->id].macs > 0) /* forward and, in training, the two gradients */
            snprintf(gf, sizeof gf, "%.1f",
                     2.0 * (double)st[r->id].macs * j->batch * (r->b > 0 ? 3 : 1) /
                         ((r->f + r->b) * 1e6));
        printf("%-24.24s %-10.10s %-14.14s %9.3f %9.3f %5.1f%% %8s\n", name, cnn_op_name(op),
               cnn_shape_str(&sh, shp, sizeof shp), r->f, r->b, 100.0 * (r->f + r->b) / total, gf);
    }
    if (nrest > 0)
        printf("%-24s %-10s %-14s %9s %9.3f %5.1f%%\n", "(the other nodes)", "", "", "", rest,
               100.0 * rest / total);
    printf("nodes total ms: %.3f\n", total);
    free(rows);
    free(st);
    return 0;
fail:
    free(rows);
    free(st);
    return cli_error("bench", "%s", cnn_last_error());
}

static int bench_model(const char *model, int c, int h, int w, int classes, bool sized, int batch,
                       bool train, int threads, int warmup, int iters, bool profile)
{
    job            j = {.batch = batch, .train = train};
    cnn_optim_cfg  oc = cnn_optim_defaults(CNN_SGD);
    cnn_shape      in, out;
    double         ms;
    char           shp[64];
    int            rc = 1;

    if (!(j.g = cli_load_model("bench", model, classes, c, h, w, sized)))
        return 1;
    j.out = cnn_graph_size(j.g) - 1;
    cnn_node_info(j.g, 0, NULL, NULL, &in);
    cnn_node_info(j.g, j.out, NULL, NULL, &out);
    if (prepare(&j, threads) != 0)
        goto done;
    if (train) {
        int64_t k = 1;
        for (int d = 0; d < out.ndim; d++)
            k *= out.dim[d];
        oc.momentum = 0.9f;
        if (!(j.labels = malloc((size_t)batch * sizeof *j.labels)) ||
            !(j.opt = cnn_optim_new(j.g, &oc))) {
            cli_error("bench", "%s", j.labels ? cnn_last_error() : "out of memory");
            goto done;
        }
        for (int i = 0; i < batch; i++)
            j.labels[i] = (int)((i * 7 + 3) % k);
    }
    if (time_job(&j, warmup, iters, &ms) != 0 || (profile && profile_job(&j, iters) != 0))
        goto done;
    printf("model: %s\ninput: %s\nbatch: %d\nmode: %s\nthreads: %d\niters: %d\n", model,
           cnn_shape_str(&in, shp, sizeof shp), batch, train ? "train" : "infer", threads, iters);
    printf("median ms: %.3f\npeak MiB: %.1f\nimages/s: %.1f\n", ms, peak_mib(),
           batch * 1000.0 / ms);
    rc = 0;
done:
    cnn_optim_free(j.opt);
    free(j.labels);
    cnn_graph_free(j.g);
    return rc;
}

static int bench_conv(const int v[9], bool backward, int threads, int warmup, int iters)
{
    job             j = {.batch = v[0], .backward = backward};
    cnn_conv2d_attr a = cnn_conv2d_defaults(v[4], v[5], v[6]);
    cnn_shape       out;
    double          ms, macs;
    int64_t         ny = 1;
    int             x, rc = 1;

    a.stride[0] = a.stride[1] = v[7];
    for (int i = 0; i < 4; i++)
        a.pad[i] = v[8];
    if (!(j.g = cnn_graph_new()) || (x = cnn_input(j.g, v[1], v[2], v[3], "x")) < 0 ||
        (j.out = cnn_conv2d(j.g, x, &a, "conv")) < 0) {
        cli_error("bench", "%s", j.g ? cnn_last_error() : "out of memory");
        goto done;
    }
    if ((backward && cnn_graph_want_input_grad(j.g, x, true) < 0) || prepare(&j, threads) != 0)
        goto done;
    cnn_node_info(j.g, j.out, NULL, NULL, &out);
    for (int d = 0; d < out.ndim; d++)
        ny *= out.dim[d];
    if (backward) {
        /* Forward once in train mode so backward has its inputs, then seed dY. */
        if (cnn_graph_forward(j.g, CNN_TRAIN) < 0 || cnn_graph_clear_grads(j.g) < 0) {
            cli_error("bench", "%s", cnn_last_error());
            goto done;
        }
        fill_random(cnn_graph_grad(j.g, j.out), ny * j.batch, 2);
        j.train = true;
    }
    if (time_job(&j, warmup, iters, &ms) != 0)
        goto done;
    macs = (double)j.batch * ny * ((double)v[1] * v[5] * v[6]);
    printf("conv: N%d C%d %dx%d K%d %dx%d stride %d pad %d\nmode: %s\nthreads: %d\niters: %d\n",
           v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], backward ? "fwdbwd" : "fwd",
           threads, iters);
    printf("median ms: %.3f\npeak MiB: %.1f\nGFLOP/s: %.1f\n", ms, peak_mib(),
           (backward ? 3 : 1) * 2.0 * macs / (ms * 1e6));
    rc = 0;
done:
    cnn_graph_free(j.g);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"conv", required_argument, NULL, 'v'},
        {"input", required_argument, NULL, 'i'},   {"classes", required_argument, NULL, 'k'},
        {"batch", required_argument, NULL, 'b'},   {"mode", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'}, {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},  {"help", no_argument, NULL, 'h'},
        {"profile", no_argument, NULL, 'p'},       {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *conv = NULL, *mode = NULL;
    int         c = 0, h = 0, w = 0, classes = 0, batch = 1, threads = cli_cpus(), iters = 20;
    int         warmup = 3, opt, cv[9];
    bool        sized = false, profile = false;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'm': model = optarg; break;
        case 'v': conv = optarg; break;
        case 'o': mode = optarg; break;
        case 'i':
            if (cli_parse_chw(optarg, &c, &h, &w) != 0)
                return cli_error("bench", "--input '%s': expected CxHxW, e.g. 1x28x28", optarg);
            sized = true;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1 << 20, &classes) != 0)
                return cli_error("bench", "--classes '%s': expected 1 to 2^20", optarg);
            sized = true;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 16, &batch) != 0)
                return cli_error("bench", "--batch '%s': expected 1 to 65536", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads) != 0)
                return cli_error("bench", "--threads '%s': expected 1 to 1024", optarg);
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, 1 << 20, &iters) != 0)
                return cli_error("bench", "--iters '%s': expected 1 to 2^20", optarg);
            break;
        case 'w':
            if (cli_parse_int(optarg, 0, 1 << 20, &warmup) != 0)
                return cli_error("bench", "--warmup '%s': expected 0 to 2^20", optarg);
            break;
        case 'p': profile = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        return cli_error("bench", "unexpected argument '%s' (see cnn bench --help)", argv[optind]);
    if (!model == !conv)
        return cli_error("bench", "give one of --model MODEL or --conv N,C,H,W,K,R,S,STRIDE,PAD");
    if (conv) {
        if (profile)
            return cli_error("bench", "--profile goes with --model (one conv layer is one node)");
        if (parse_conv(conv, cv) != 0)
            return cli_error("bench", "--conv '%s': expected nine numbers N,C,H,W,K,R,S,STRIDE,PAD "
                             "(pad >= 0, the rest >= 1)", conv);
        if (mode && strcmp(mode, "fwd") != 0 && strcmp(mode, "fwdbwd") != 0)
            return cli_error("bench", "--mode '%s': expected fwd or fwdbwd with --conv", mode);
        return bench_conv(cv, mode && strcmp(mode, "fwdbwd") == 0, threads, warmup, iters);
    }
    if (mode && strcmp(mode, "train") != 0 && strcmp(mode, "infer") != 0)
        return cli_error("bench", "--mode '%s': expected train or infer with --model", mode);
    return bench_model(model, c, h, w, classes, sized, batch, mode && strcmp(mode, "train") == 0,
                       threads, warmup, iters, profile);
}
