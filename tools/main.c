/* main.c - the `cnn` command line: one binary, one subcommand per file. */
#include "cli.h"
#include "dist.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"summary", cmd_summary, "shapes, parameters, MACs and receptive fields of a model"},
    {"train", cmd_train, "train a model on a dataset, with checkpoints and metrics"},
    {"finetune", cmd_finetune, "transfer learning: a trained model with a new head, part frozen"},
    {"eval", cmd_eval, "accuracy of a checkpoint, per class, and its confusion matrix"},
    {"predict", cmd_predict, "top classes of images with their probabilities"},
    {"viz", cmd_viz, "pictures: filters, feature maps, training curves, confusion matrix"},
    {"onnx-test", cmd_onnx_test, "run ONNX backend tests (model.onnx + test_data_set_N)"},
    {"export", cmd_export, "write a checkpoint or model as an ONNX file (opset 13)"},
    {"bench", cmd_bench, "time a model or one conv layer (median ms, images/s, GFLOP/s)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cnn [--help] [--version] COMMAND [ARGS]\n\n"
               "Convolutional neural networks in C: build, train, inspect and run them.\n\n"
               "Commands (each has --help):\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cnn %s\n", cnn_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* Under mpirun, every rank runs the command (docs/distributed.md). */
            if (dist_init(&argc, &argv))
                return 1;
            return dist_finish(commands[i].run(argc - 1, argv + 1));
        }
    fprintf(stderr, "cnn: unknown command '%s' (see cnn --help)\n", argv[1]);
    return 2;
}
