/* main.c - the `cnn` command line: one binary, one subcommand per file. */
#include "cnn.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn [--help] [--version] COMMAND [ARGS]\n"
            "\n"
            "Convolutional neural networks in C: build, train, inspect and run them.\n"
            "\n"
            "Commands are added as the library grows; this build has none yet beyond\n"
            "--help and --version. The library (libcnn, include/cnn.h) is complete for\n"
            "building, training and running networks from C: see examples/.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cnn %s\n", cnn_version());
        return 0;
    }
    fprintf(stderr, "cnn: unknown command '%s' (see cnn --help)\n", argv[1]);
    return 2;
}
