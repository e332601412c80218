/* summary.c - `cnn summary`: shapes, parameters, MACs and receptive fields
 * of a zoo model or a network-description file. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn summary MODEL [--input CxHxW] [--classes N] [--batch B]\n"
            "       cnn summary --emit MODEL [--input CxHxW] [--classes N]\n"
            "       cnn summary --compare MODEL...\n"
            "       cnn summary --list\n"
            "\n"
            "MODEL is a zoo name (--list) or a network-description file (docs/netdesc.md).\n"
            "One row per node: name, op, output shape, parameters, multiply-accumulates\n"
            "(MACs, conv and linear only), receptive field and jump (effective stride) at\n"
            "the node's output; then totals and the memory a training batch of B takes.\n"
            "\n"
            "  --input CxHxW  input size of a zoo model (default: the model's own)\n"
            "  --classes N    number of classes of a zoo model\n"
            "  --batch B      batch size for the memory estimate (default 1)\n"
            "  --emit         print the model as a network-description file\n"
            "  --compare      one row per model: depth, parameters, MACs, input size\n"
            "  --list         the zoo's model names\n");
}

static const char *pair(int64_t h, int64_t w, char *buf, size_t size)
{
    snprintf(buf, size, "%lldx%lld", (long long)h, (long long)w);
    return buf;
}

static const char *gmacs(int64_t macs, char *buf, size_t size)
{
    if (macs >= 1000000000)
        snprintf(buf, size, "%.2f GMACs", macs / 1e9);
    else
        snprintf(buf, size, "%.2f MMACs", macs / 1e6);
    return buf;
}

static int print_summary(const char *model, cnn_graph *g, int batch)
{
    int             n = cnn_graph_size(g);
    cnn_node_stats *st = calloc((size_t)n, sizeof *st);
    cnn_graph_stats t;
    cnn_shape       in;
    char            a[64], b[64], c[64], d[64], e[64];
    int64_t         bytes;

    if (!st || cnn_graph_stats_get(g, st, &t) < 0) {
        free(st);
        return cli_error("summary", "%s", st ? cnn_last_error() : "out of memory");
    }
    cnn_node_info(g, 0, NULL, NULL, &in);
    printf("Model: %s (input %s)\n\n", model, cnn_shape_str(&in, a, sizeof a));
    printf("%-4s %-28s %-16s %-14s %14s %16s %10s %8s\n", "#", "name", "op", "output", "params",
           "MACs", "RF", "jump");
    for (int i = 0; i < n; i++) {
        cnn_op      op;
        const char *name;
        cnn_shape   s;
        cnn_node_info(g, i, &op, &name, &s);
        printf("%-4d %-28s %-16s %-14s %14s %16s %10s %8s\n", i, name, cnn_op_name(op),
               cnn_shape_str(&s, a, sizeof a), cli_commas(st[i].params, b, sizeof b),
               cli_commas(st[i].macs, c, sizeof c), pair(st[i].rf[0], st[i].rf[1], d, sizeof d),
               pair(st[i].jump[0], st[i].jump[1], e, sizeof e));
    }
    printf("\nTotal params: %s\n", cli_commas(t.params, a, sizeof a));
    printf("Trainable params: %s\n", cli_commas(t.trainable, a, sizeof a));
    printf("Non-trainable params: %s\n", cli_commas(t.non_trainable, a, sizeof a));
    printf("Buffers (batch-norm running statistics, not parameters): %s\n",
           cli_commas(t.buffers, a, sizeof a));
    printf("Total MACs per image: %s (%s; conv and linear only)\n", cli_commas(t.macs, a, sizeof a),
           gmacs(t.macs, b, sizeof b));
    printf("Depth (conv + linear layers on the longest path): %d\n", t.depth);
    cnn_graph_share_grads(g, true); /* as cnn train plans it */
    if ((bytes = cnn_graph_plan_bytes(g, batch)) < 0) {
        free(st);
        return cli_error("summary", "%s", cnn_last_error());
    }
    printf("Training memory at batch %d (activations, live gradients, saved data, scratch): "
           "%.1f MiB\n", batch, bytes / 1048576.0);
    if ((bytes = cnn_graph_plan_infer_bytes(g, batch)) < 0) {
        free(st);
        return cli_error("summary", "%s", cnn_last_error());
    }
    printf("Inference memory at batch %d (activations shared once read, saved data, packed weights, scratch): "
           "%.1f MiB\n", batch, bytes / 1048576.0);
    printf("Parameter memory (weights + gradients): %.1f MiB\n", t.params * 8.0 / 1048576.0);
    free(st);
    return 0;
}

static int compare(int argc, char **argv)
{
    char a[64], b[64], c[64];

    printf("%-12s %6s %16s %18s %-12s\n", "model", "depth", "params", "MACs", "input");
    for (int i = 0; i < argc; i++) {
        cnn_graph      *g = cli_load_model("summary", argv[i], 0, 0, 0, 0, false);
        cnn_graph_stats t;
        cnn_shape       in;
        if (!g)
            return 1;
        cnn_graph_stats_get(g, NULL, &t);
        cnn_node_info(g, 0, NULL, NULL, &in);
        printf("%-12s %6d %16s %18s %-12s\n", argv[i], t.depth, cli_commas(t.params, a, sizeof a),
               cli_commas(t.macs, b, sizeof b), cnn_shape_str(&in, c, sizeof c));
        cnn_graph_free(g);
    }
    return 0;
}

int cmd_summary(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'}, {"classes", required_argument, NULL, 'k'},
        {"batch", required_argument, NULL, 'b'}, {"emit", no_argument, NULL, 'e'},
        {"compare", no_argument, NULL, 'c'},     {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int  c = 0, h = 0, w = 0, classes = 0, batch = 1, opt, rc;
    bool emit = false, cmp = false, list = false, sized = false;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (cli_parse_chw(optarg, &c, &h, &w))
                return cli_error("summary", "--input %s: expected CxHxW, e.g. 3x224x224", optarg);
            sized = true;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1 << 24, &classes))
                return cli_error("summary", "--classes %s: expected a positive integer", optarg);
            sized = true;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 20, &batch))
                return cli_error("summary", "--batch %s: expected a positive integer", optarg);
            break;
        case 'e': emit = true; break;
        case 'c': cmp = true; break;
        case 'l': list = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (list) {
        for (int i = 0; cnn_model_name(i); i++)
            printf("%s\n", cnn_model_name(i));
        return 0;
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (cmp)
        return compare(argc - optind, argv + optind);
    if (argc - optind > 1)
        return cli_error("summary", "one MODEL expected (use --compare for several), got %d",
                         argc - optind);

    cnn_graph *g = cli_load_model("summary", argv[optind], classes, c, h, w, sized);
    if (!g)
        return 1;
    if (emit) {
        char *text = cnn_netdesc_emit(g);
        rc = text ? (fputs(text, stdout), 0) : cli_error("summary", "%s", cnn_last_error());
        free(text);
    } else {
        rc = print_summary(argv[optind], g, batch);
    }
    cnn_graph_free(g);
    return rc;
}
