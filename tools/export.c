/* export.c - `cnn export CKPT|MODEL -o FILE.onnx`: a checkpoint, a zoo model
 * or a network description written as an ONNX model (docs/onnx.md), and
 * optionally read back and run against the original. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VERIFY_BATCH 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn export CKPT|MODEL -o FILE.onnx [--batch B] [--input CxHxW] [--classes N]\n"
            "                  [--verify]\n"
            "\n"
            "Writes a model as an ONNX file (opset 13) for ONNX Runtime, OpenCV's DNN module\n"
            "or any other ONNX runtime: a checkpoint written by cnn train or cnn finetune\n"
            "(its trained weights), a zoo model (cnn summary --list; PyTorch's default\n"
            "initialization), a network-description file or an .onnx file. Batch norm is\n"
            "written for inference, with its running statistics. Prints what it wrote; the\n"
            "file is replaced only once it is whole.\n"
            "\n"
            "  -o, --output FILE  the ONNX file to write (required)\n"
            "  --batch B          a fixed batch size (default: symbolic, \"N\"), for runtimes\n"
            "                     that need fixed shapes (OpenCV 4.6 to broadcast a Mul)\n"
            "  --input CxHxW      input size of a zoo model (default: the model's own)\n"
            "  --classes N        number of classes of a zoo model\n"
            "  --verify           read the file back and check that it computes the same\n"
            "                     bits as the model, on a batch of %d random inputs\n",
            VERIFY_BATCH);
}

/* Whether `path` starts with a checkpoint's magic (docs/checkpoint.md). */
static bool is_checkpoint(const char *path)
{
    char  magic[8];
    FILE *f = fopen(path, "rb");
    bool  yes;

    if (!f)
        return false;
    yes = fread(magic, 1, sizeof magic, f) == sizeof magic && memcmp(magic, "CNNCKPT\n", 8) == 0;
    fclose(f);
    return yes;
}

static void shape_line(const char *what, const char *name, const cnn_shape *s, int batch)
{
    if (batch > 0)
        printf("  %-6s %-24s [%d", what, name, batch);
    else
        printf("  %-6s %-24s [N", what, name);
    for (int d = 0; d < s->ndim; d++)
        printf(", %lld", (long long)s->dim[d]);
    printf("]\n");
}

/* The ids of g's inputs (input nodes) or outputs (nodes no other node
 * reads), in id order, the order of the file's: a malloc'd array and its
 * length in *n, or NULL. */
static int *io_nodes(cnn_graph *g, bool outputs, int *n)
{
    const int size = cnn_graph_size(g);
    int      *ids  = calloc((size_t)size, sizeof *ids);
    bool     *seen = calloc((size_t)size, sizeof *seen);

    *n = 0;
    for (int id = 0; ids && seen && id < size; id++) {
        const int k  = cnn_node_inputs(g, id, NULL, 0);
        int      *in = malloc((size_t)(k ? k : 1) * sizeof *in);
        if (!in) {
            free(ids);
            ids = NULL;
            break;
        }
        cnn_node_inputs(g, id, in, k);
        for (int j = 0; j < k; j++)
            seen[in[j]] = true;
        free(in);
    }
    for (int id = 0; ids && seen && id < size; id++) {
        cnn_op op;
        cnn_node_info(g, id, &op, NULL, NULL);
        if (outputs ? !seen[id] : op == CNN_OP_INPUT)
            ids[(*n)++] = id;
    }
    if (!seen) {
        free(ids);
        ids = NULL;
    }
    free(seen);
    return ids;
}

/* Reads `path` back and runs it beside g on the same random batch: every
 * output must agree to the bit. Returns 0, or prints why not and returns 1. */
static int verify(cnn_graph *g, const char *path)
{
    cnn_onnx_opts o;
    cnn_graph    *r = NULL;
    int          *ins = NULL, *outs = NULL, n_in = 0, n_out = 0, rc = 1;
    float        *x = NULL;
    uint64_t      seed = 0x9e3779b97f4a7c15ull;

    memset(&o, 0, sizeof o);
    if (!(r = cnn_onnx_load(path, &o))) {
        cli_error("export", "--verify: reading it back: %s", cnn_last_error());
        goto out;
    }
    ins  = io_nodes(g, false, &n_in);
    outs = io_nodes(g, true, &n_out);
    if (!ins || !outs) {
        cli_error("export", "--verify: out of memory");
        goto out;
    }
    if (n_in != o.n_inputs || n_out != o.n_outputs) {
        cli_error("export", "--verify: the file has %d inputs and %d outputs, the model %d and %d",
                  o.n_inputs, o.n_outputs, n_in, n_out);
        goto out;
    }
    if (cnn_graph_set_threads(g, cli_cpus()) < 0 || cnn_graph_set_threads(r, cli_cpus()) < 0 ||
        cnn_graph_plan_infer(g, VERIFY_BATCH) < 0 || cnn_graph_plan_infer(r, VERIFY_BATCH) < 0) {
        cli_error("export", "--verify: %s", cnn_last_error());
        goto out;
    }
    for (int k = 0; k < n_in; k++) {
        cnn_shape     s;
        const int64_t n = (cnn_node_info(g, ins[k], NULL, NULL, &s), cnn_shape_numel(&s)) *
                          VERIFY_BATCH;
        float *p = realloc(x, (size_t)n * sizeof *x);
        if (!p) {
            cli_error("export", "--verify: out of memory");
            goto out;
        }
        x = p;
        for (int64_t i = 0; i < n; i++) { /* uniform in [-1, 1), xorshift64 */
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            x[i] = (float)((seed >> 40) * (2.0 / 16777216.0) - 1.0);
        }
        if (o.inputs[k].node >= 0 && cnn_graph_set_input(r, o.inputs[k].node, x) < 0) {
            cli_error("export", "--verify: %s", cnn_last_error());
            goto out;
        }
        cnn_graph_set_input(g, ins[k], x);
    }
    if (cnn_graph_forward(g, CNN_EVAL) < 0 || cnn_graph_forward(r, CNN_EVAL) < 0) {
        cli_error("export", "--verify: %s", cnn_last_error());
        goto out;
    }
    for (int k = 0; k < n_out; k++) {
        cnn_shape   s;
        const char *name;
        cnn_node_info(g, outs[k], NULL, &name, &s);
        if (memcmp(cnn_graph_data(g, outs[k]), cnn_graph_data(r, o.outputs[k].node),
                   (size_t)cnn_shape_numel(&s) * VERIFY_BATCH * sizeof(float)) != 0) {
            cli_error("export", "--verify: output '%s' of the file differs from the model's",
                      name);
            goto out;
        }
    }
    printf("verified: read back, it gives bit-identical outputs on %d random inputs\n",
           VERIFY_BATCH);
    rc = 0;
out:
    free(x);
    free(ins);
    free(outs);
    cnn_graph_free(r);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"input", required_argument, NULL, 'i'},
        {"classes", required_argument, NULL, 'k'}, {"verify", no_argument, NULL, 'v'},
        {"batch", required_argument, NULL, 'b'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int         c = 0, h = 0, w = 0, classes = 0, batch = 0, opt, rc = 1, n_in = 0, n_out = 0;
    int        *ins = NULL, *outs = NULL;
    bool        sized = false, check = false;
    const char *out = NULL, *model;
    cnn_graph  *g = NULL;
    struct stat st;
    char        num[64];
    double      size;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'i':
            if (cli_parse_chw(optarg, &c, &h, &w))
                return cli_error("export", "--input %s: expected CxHxW, e.g. 3x224x224", optarg);
            sized = true;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1 << 24, &classes))
                return cli_error("export", "--classes %s: expected a positive integer", optarg);
            sized = true;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 20, &batch))
                return cli_error("export", "--batch %s: expected a positive integer", optarg);
            break;
        case 'v': check = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    model = argv[optind];
    if (!out)
        return cli_error("export", "no output file: give -o FILE.onnx");
    if (!cnn_onnx_available())
        return cli_error("export", "this cnn was built without ONNX support (install "
                         "protobuf-c and onnx.proto: sh scripts/setup.sh, then rebuild)");
    if (is_checkpoint(model)) {
        if (sized)
            return cli_error("export", "--input and --classes apply to zoo models; the "
                             "checkpoint '%s' sets its own", model);
        if (!(g = cnn_checkpoint_load(model, NULL, NULL, NULL)))
            return cli_error("export", "%s", cnn_last_error());
    } else if (!(g = cli_load_model("export", model, classes, c, h, w, sized))) {
        return 1;
    }
    if (cnn_onnx_save(g, out, batch) < 0) {
        cli_error("export", "%s", cnn_last_error());
        goto done;
    }
    ins  = io_nodes(g, false, &n_in);
    outs = io_nodes(g, true, &n_out);
    if (!ins || !outs) {
        cli_error("export", "out of memory");
        goto done;
    }
    size = stat(out, &st) == 0 ? (double)st.st_size : 0.0;
    printf("wrote %s: ONNX opset 13, %.1f %s, %s parameters from %d nodes of %s\n", out,
           size >= 1048576.0 ? size / 1048576.0 : size / 1024.0,
           size >= 1048576.0 ? "MiB" : "KiB", cli_commas(cnn_graph_param_count(g), num, sizeof num),
           cnn_graph_size(g), model);
    for (int k = 0; k < n_in + n_out; k++) {
        const int   id = k < n_in ? ins[k] : outs[k - n_in];
        const char *name;
        cnn_shape   s;
        cnn_node_info(g, id, NULL, &name, &s);
        shape_line(k < n_in ? "input" : "output", name, &s, batch);
    }
    rc = check ? verify(g, out) : 0;
done:
    free(ins);
    free(outs);
    cnn_graph_free(g);
    return rc;
}
