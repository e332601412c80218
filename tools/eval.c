/* eval.c - `cnn eval CKPT --data ...`: accuracy overall and per class, and
 * the confusion matrix. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_evaluate(const char *cmd, cnn_graph *g, const cnn_dataset *d, const float *mean,
                 const float *std, double *loss, double *acc, int64_t *confusion)
{
    int            batch = cnn_graph_batch(g), last = cnn_graph_size(g) - 1, n, *y = NULL;
    cnn_loader_cfg lc    = cnn_loader_defaults(batch);
    cnn_loader    *l     = NULL;
    cnn_shape      out;
    double         total = 0.0;
    int64_t        hits = 0, seen = 0;
    int            rc = -1;

    cnn_node_info(g, last, NULL, NULL, &out);
    lc.shuffle   = false;
    lc.drop_last = false;
    lc.prefetch  = true;
    for (int ch = 0; ch < d->c && ch < 4; ch++) {
        lc.mean[ch] = mean[ch];
        lc.std[ch]  = std[ch];
    }
    if (!(l = cnn_loader_new(d, &lc)) || cnn_loader_start(l, 0, 0) < 0 ||
        !(y = calloc((size_t)batch, sizeof *y))) {
        cli_error(cmd, "%s", y ? cnn_last_error() : "out of memory");
        goto out;
    }
    if (confusion)
        memset(confusion, 0, (size_t)d->classes * (size_t)d->classes * sizeof *confusion);
    /* A last partial batch leaves stale samples in the rest of the batch:
     * eval mode treats samples independently, so only the first n count. */
    while ((n = cnn_loader_next(l, cnn_graph_data(g, 0), y)) > 0) {
        if (cnn_graph_forward(g, CNN_EVAL) < 0) {
            cli_error(cmd, "%s", cnn_last_error());
            goto out;
        }
        const float *z = cnn_graph_data(g, last);
        int64_t      K = out.dim[0];
        for (int b = 0; b < n; b++) {
            const float *zb = z + b * K;
            int          arg = 0;
            double       mx = zb[0], s = 0.0;
            for (int k = 1; k < K; k++)
                if (zb[k] > mx)
                    mx = zb[k], arg = k;
            for (int k = 0; k < K; k++)
                s += exp(zb[k] - mx);
            if (y[b] < K)
                total += mx + log(s) - zb[y[b]];
            hits += arg == y[b];
            if (confusion && y[b] < d->classes && arg < d->classes)
                confusion[(int64_t)y[b] * d->classes + arg]++;
        }
        seen += n;
    }
    if (n < 0) {
        cli_error(cmd, "%s", cnn_last_error());
        goto out;
    }
    *loss = seen ? total / (double)seen : 0.0;
    *acc  = seen ? (double)hits / (double)seen : 0.0;
    rc    = 0;
out:
    cnn_loader_free(l);
    free(y);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cnn eval CKPT [--data SPEC] [--batch B] [--threads T]\n"
               "\n"
               "Accuracy of a checkpoint on a test set, overall and per class, and the\n"
               "confusion matrix. SPEC defaults to the data the checkpoint was trained on.\n"
               "The last line is 'accuracy: 0.XXXX'.\n");
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char  *data = NULL;
    int          batch = 500, threads = cli_cpus(), opt, rc = 1;
    char        *metatext = NULL, spec[1024];
    cnn_graph   *g = NULL;
    cnn_dataset *train = NULL, *test = NULL;
    int64_t     *conf = NULL;
    float        mean[4] = {0, 0, 0, 0}, std[4] = {1, 1, 1, 1};
    double       loss, acc;
    cnn_shape    in;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': data = optarg; break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 16, &batch))
                return cli_error("eval", "--batch %s: expected a positive integer", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 256, &threads))
                return cli_error("eval", "--threads %s: expected 1 to 256", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    if (!(g = cnn_checkpoint_load(argv[optind], NULL, NULL, &metatext)))
        return cli_error("eval", "%s", cnn_last_error());
    if (!data && !(data = meta_get(metatext, "data", spec, sizeof spec))) {
        cli_error("eval", "%s: no --data given and the checkpoint does not name its data",
                  argv[optind]);
        goto out;
    }
    meta_norm(metatext, mean, std);
    cnn_node_info(g, 0, NULL, NULL, &in);
    if (cli_load_data("eval", data, (int)in.dim[0], (int)in.dim[1], (int)in.dim[2], &train, &test) ||
        cli_meta_classes("eval", metatext, &train, &test))
        goto out;
    if (test->c != in.dim[0] || test->h != in.dim[1] || test->w != in.dim[2]) {
        char s[64];
        cli_error("eval", "%s: images are %dx%dx%d, the model takes %s", data, test->c, test->h,
                  test->w, cnn_shape_str(&in, s, sizeof s));
        goto out;
    }
    if (cnn_graph_set_threads(g, threads) < 0 || cnn_graph_plan_infer(g, batch) < 0 ||
        !(conf = calloc((size_t)test->classes * (size_t)test->classes, sizeof *conf))) {
        cli_error("eval", "%s", cnn_last_error());
        goto out;
    }
    if (cli_evaluate("eval", g, test, mean, std, &loss, &acc, conf))
        goto out;

    printf("%lld test images of %s, loss %.4f\n\n", (long long)test->n, data, loss);
    printf("%-14s %8s %8s\n", "class", "images", "accuracy");
    for (int k = 0; k < test->classes; k++) {
        int64_t row = 0;
        for (int j = 0; j < test->classes; j++)
            row += conf[(int64_t)k * test->classes + j];
        printf("%-14s %8lld %8.4f\n", test->class_names ? test->class_names[k] : "",
               (long long)row, row ? (double)conf[(int64_t)k * test->classes + k] / row : 0.0);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n%6s", "");
    for (int j = 0; j < test->classes; j++)
        printf(" %5d", j);
    printf("\n");
    for (int k = 0; k < test->classes; k++) {
        printf("%5d ", k);
        for (int j = 0; j < test->classes; j++)
            printf(" %5lld", (long long)conf[(int64_t)k * test->classes + j]);
        printf("\n");
    }
    printf("\naccuracy: %.4f\n", acc);
    rc = 0;
out:
    free(conf);
    free(metatext);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    cnn_graph_free(g);
    return rc;
}
