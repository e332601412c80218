/* viz.c - `cnn viz CKPT --out DIR`: pictures of a trained network: its
 * first layer's filters, the feature maps of one image, the training
 * curves and the confusion matrix. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: cnn viz CKPT --out DIR [--image FILE | --index N] [--data SPEC]\n"
               "                [--metrics CSV] [--maps N]\n"
               "\n"
               "Writes into DIR:\n"
               "  filters.png       the first conv layer's filters as a grid\n"
               "  feature_maps.png  one image and the first N (default 8) feature maps of the\n"
               "                    first conv layer after its ReLU (test image N, default 0,\n"
               "                    or --image FILE)\n"
               "  curves.png        loss and accuracy per epoch, train and test (from CSV,\n"
               "                    default metrics.csv beside CKPT)\n"
               "  confusion.png     the test set's confusion matrix as a heat map\n");
}

/* The first conv node, and the first ReLU reading it (or the conv). */
static int first_conv(cnn_graph *g, int *act)
{
    for (int i = 0; i < cnn_graph_size(g); i++) {
        cnn_op op;
        cnn_node_info(g, i, &op, NULL, NULL);
        if (op != CNN_OP_CONV2D)
            continue;
        *act = i;
        /* Follow single-input ops (batch norm) to the first activation. */
        for (int j = i + 1; j < cnn_graph_size(g); j++) {
            int    in[4], n = cnn_node_inputs(g, j, in, 4);
            cnn_op o2;
            cnn_node_info(g, j, &o2, NULL, NULL);
            if (n != 1 || in[0] != *act)
                continue;
            *act = j;
            if (o2 == CNN_OP_RELU || o2 == CNN_OP_LEAKY_RELU)
                break;
            if (o2 != CNN_OP_BATCHNORM2D)
                break;
        }
        return i;
    }
    return -1;
}

int cmd_viz(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},     {"image", required_argument, NULL, 'i'},
        {"index", required_argument, NULL, 'n'},   {"data", required_argument, NULL, 'd'},
        {"metrics", required_argument, NULL, 'm'}, {"maps", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char  *out = NULL, *image = NULL, *data = NULL, *metrics = NULL;
    int          index = 0, maps = 8, opt, rc = 1, conv, act;
    char        *metatext = NULL, spec[1024], path[4096], csv[4096];
    cnn_graph   *g = NULL;
    cnn_dataset *train = NULL, *test = NULL;
    int64_t     *conf = NULL;
    float        mean[4] = {0, 0, 0, 0}, std[4] = {1, 1, 1, 1};
    cnn_shape    in;
    struct stat  sb;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'i': image = optarg; break;
        case 'n':
            if (cli_parse_int(optarg, 0, 2147483647, &index))
                return cli_error("viz", "--index %s: expected an image number >= 0", optarg);
            break;
        case 'd': data = optarg; break;
        case 'm': metrics = optarg; break;
        case 'k':
            if (cli_parse_int(optarg, 1, 256, &maps))
                return cli_error("viz", "--maps %s: expected 1 to 256", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1 || !out) {
        usage(stderr);
        return 2;
    }
    if (!(g = cnn_checkpoint_load(argv[optind], NULL, NULL, &metatext)))
        return cli_error("viz", "%s", cnn_last_error());
    if (cli_mkdirs(out) != 0) {
        cli_error("viz", "%s: %s", out, strerror(errno));
        goto done;
    }
    meta_norm(metatext, mean, std);
    cnn_node_info(g, 0, NULL, NULL, &in);
    if ((conv = first_conv(g, &act)) < 0) {
        cli_error("viz", "%s: the network has no conv layer to show", argv[optind]);
        goto done;
    }
    if (!data)
        data = meta_get(metatext, "data", spec, sizeof spec);
    if (data && (cli_load_data("viz", data, (int)in.dim[0], (int)in.dim[1], (int)in.dim[2], &train,
                               &test) ||
                 cli_meta_classes("viz", metatext, &train, &test)))
        goto done;
    if (!image && !test) {
        cli_error("viz", "%s names no data; give --data or --image", argv[optind]);
        goto done;
    }

    /* Filters. */
    /* Tiles of about 100 pixels whatever the kernel size. */
    cnn_shape ws;
    int       scale;
    cnn_node_param(g, conv, 0, NULL, NULL, &ws, NULL);
    scale = (int)(100 / (ws.dim[2] > ws.dim[3] ? ws.dim[2] : ws.dim[3]));
    scale = scale < 4 ? 4 : scale;
    snprintf(path, sizeof path, "%s/filters.png", out);
    if (cnn_viz_filters(g, conv, scale, path) < 0) {
        cli_error("viz", "%s", cnn_last_error());
        goto done;
    }
    printf("%s\n", path);

    /* Feature maps of one image. */
    if (cnn_graph_plan(g, 1) < 0) {
        cli_error("viz", "%s", cnn_last_error());
        goto done;
    }
    float        *x  = cnn_graph_data(g, 0);
    const int64_t hw = in.dim[1] * in.dim[2];
    if (image) {
        if (cnn_image_load(image, (int)in.dim[0], (int)in.dim[1], (int)in.dim[2], x) < 0) {
            cli_error("viz", "%s", cnn_last_error());
            goto done;
        }
    } else {
        if (index >= test->n) {
            cli_error("viz", "--index %d: the test set has %lld images", index, (long long)test->n);
            goto done;
        }
        for (int64_t i = 0; i < in.dim[0] * hw; i++)
            x[i] = test->pixels[(int64_t)index * in.dim[0] * hw + i] / 255.0f;
    }
    for (int ch = 0; ch < in.dim[0]; ch++)
        for (int64_t i = 0; i < hw; i++)
            x[ch * hw + i] = (x[ch * hw + i] - mean[ch]) / std[ch];
    snprintf(path, sizeof path, "%s/feature_maps.png", out);
    if (cnn_graph_forward(g, CNN_EVAL) < 0 || cnn_viz_feature_maps(g, 0, act, maps, path) < 0) {
        cli_error("viz", "%s", cnn_last_error());
        goto done;
    }
    printf("%s\n", path);

    /* Training curves. */
    if (!metrics) {
        const char *slash = strrchr(argv[optind], '/');
        int         dirlen = slash ? (int)(slash - argv[optind]) : 1;
        snprintf(csv, sizeof csv, "%.*s/metrics.csv", dirlen, slash ? argv[optind] : ".");
        metrics = stat(csv, &sb) == 0 ? csv : NULL;
    }
    if (metrics) {
        snprintf(path, sizeof path, "%s/curves.png", out);
        if (cnn_viz_curves(metrics, path) < 0) {
            cli_error("viz", "%s", cnn_last_error());
            goto done;
        }
        printf("%s\n", path);
    }

    /* Confusion matrix of the test set. */
    if (test) {
        double loss, acc;
        snprintf(path, sizeof path, "%s/confusion.png", out);
        if (!(conf = calloc((size_t)test->classes * (size_t)test->classes, sizeof *conf)) ||
            cnn_graph_plan_infer(g, 250) < 0) {
            cli_error("viz", "%s", conf ? cnn_last_error() : "out of memory");
            goto done;
        }
        if (cli_evaluate("viz", g, test, mean, std, &loss, &acc, conf))
            goto done;
        if (cnn_viz_confusion(conf, test->classes, (const char *const *)test->class_names,
                              path) < 0) {
            cli_error("viz", "%s", cnn_last_error());
            goto done;
        }
        printf("%s (test accuracy %.4f)\n", path, acc);
    }
    rc = 0;
done:
    free(conf);
    free(metatext);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    cnn_graph_free(g);
    return rc;
}
