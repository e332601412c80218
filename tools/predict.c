/* predict.c - `cnn predict CKPT IMAGE...`: the top classes of images (PNG,
 * JPEG) or of a test-set image, with their probabilities. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: cnn predict CKPT IMAGE... [--top K]\n"
               "       cnn predict CKPT --index N [--data SPEC] [--top K]\n"
               "\n"
               "Top-K classes (default 5) with probabilities for PNG/JPEG files, converted\n"
               "to the model's channels and size (shorter side resized, centre crop), or for\n"
               "test-set image N of the checkpoint's data (or SPEC).\n");
}

/* Softmax of the logits and the top k, printed with class names. */
static void print_top(const char *what, const float *z, int K, int k, const char *metatext,
                      int label)
{
    double *p = malloc((size_t)K * sizeof *p), mx = z[0], s = 0;
    int    *idx = malloc((size_t)K * sizeof *idx);

    if (!p || !idx) {
        free(p);
        free(idx);
        return;
    }
    for (int i = 1; i < K; i++)
        mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < K; i++)
        s += (p[i] = exp(z[i] - mx));
    for (int i = 0; i < K; i++) {
        p[i] /= s;
        idx[i] = i;
    }
    for (int i = 0; i < k && i < K; i++) /* partial selection sort: K is small */
        for (int j = i + 1; j < K; j++)
            if (p[idx[j]] > p[idx[i]]) {
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
    printf("%s", what);
    if (label >= 0)
        printf(" (true class %d)", label);
    printf("\n");
    for (int i = 0; i < k && i < K; i++) {
        char key[32], name[256];
        snprintf(key, sizeof key, "class.%d", idx[i]);
        if (!meta_get(metatext, key, name, sizeof name))
            snprintf(name, sizeof name, "class %d", idx[i]);
        printf("  %d. %-20s %.4f\n", i + 1, name, p[idx[i]]);
    }
    free(p);
    free(idx);
}

int cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'}, {"data", required_argument, NULL, 'd'},
        {"top", required_argument, NULL, 'k'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int          index = -1, top = 5, opt, rc = 1;
    const char  *data = NULL;
    char        *metatext = NULL, spec[1024], buf[512];
    cnn_graph   *g = NULL;
    cnn_dataset *train = NULL, *test = NULL;
    float        mean[4] = {0, 0, 0, 0}, std[4] = {1, 1, 1, 1}, *x;
    cnn_shape    in, out;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (cli_parse_int(optarg, 0, 2147483647, &index))
                return cli_error("predict", "--index %s: expected an image number >= 0", optarg);
            break;
        case 'd': data = optarg; break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1000, &top))
                return cli_error("predict", "--top %s: expected 1 to 1000", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || (index < 0 && argc - optind < 2) || (index >= 0 && argc - optind > 1)) {
        usage(stderr);
        return 2;
    }
    if (!(g = cnn_checkpoint_load(argv[optind], NULL, NULL, &metatext)))
        return cli_error("predict", "%s", cnn_last_error());
    meta_norm(metatext, mean, std);
    cnn_node_info(g, 0, NULL, NULL, &in);
    cnn_node_info(g, cnn_graph_size(g) - 1, NULL, NULL, &out);
    if (in.ndim != 3 || cnn_graph_plan_infer(g, 1) < 0) {
        cli_error("predict", "%s: %s", argv[optind],
                  in.ndim != 3 ? "the model does not take images" : cnn_last_error());
        goto out;
    }
    x = cnn_graph_data(g, 0);
    const int64_t hw = in.dim[1] * in.dim[2];

    if (index >= 0) {
        if (!data && !(data = meta_get(metatext, "data", spec, sizeof spec))) {
            cli_error("predict", "%s names no data; give --data", argv[optind]);
            goto out;
        }
        if (cli_load_data("predict", data, (int)in.dim[0], (int)in.dim[1], (int)in.dim[2], &train,
                          &test) ||
            cli_meta_classes("predict", metatext, &train, &test))
            goto out;
        if (index >= test->n) {
            cli_error("predict", "--index %d: the test set of %s has %lld images", index, data,
                      (long long)test->n);
            goto out;
        }
        if (test->c != in.dim[0] || test->h != in.dim[1] || test->w != in.dim[2]) {
            cli_error("predict", "%s: images are %dx%dx%d, the model takes %lldx%lldx%lld", data,
                      test->c, test->h, test->w, (long long)in.dim[0], (long long)in.dim[1],
                      (long long)in.dim[2]);
            goto out;
        }
        const uint8_t *px = test->pixels + (int64_t)index * test->c * hw;
        for (int ch = 0; ch < test->c; ch++)
            for (int64_t i = 0; i < hw; i++)
                x[ch * hw + i] = (px[ch * hw + i] / 255.0f - mean[ch]) / std[ch];
        if (cnn_graph_forward(g, CNN_EVAL) < 0) {
            cli_error("predict", "%s", cnn_last_error());
            goto out;
        }
        snprintf(buf, sizeof buf, "test image %d of %s", index, data);
        print_top(buf, cnn_graph_data(g, cnn_graph_size(g) - 1), (int)out.dim[0], top, metatext,
                  test->labels[index]);
        rc = 0;
        goto out;
    }
    for (int f = optind + 1; f < argc; f++) {
        if (cnn_image_load(argv[f], (int)in.dim[0], (int)in.dim[1], (int)in.dim[2], x) < 0) {
            cli_error("predict", "%s", cnn_last_error());
            goto out;
        }
        for (int ch = 0; ch < in.dim[0]; ch++)
            for (int64_t i = 0; i < hw; i++)
                x[ch * hw + i] = (x[ch * hw + i] - mean[ch]) / std[ch];
        if (cnn_graph_forward(g, CNN_EVAL) < 0) {
            cli_error("predict", "%s", cnn_last_error());
            goto out;
        }
        print_top(argv[f], cnn_graph_data(g, cnn_graph_size(g) - 1), (int)out.dim[0], top,
                  metatext, -1);
    }
    rc = 0;
out:
    free(metatext);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    cnn_graph_free(g);
    return rc;
}
