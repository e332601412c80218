/* cli.h - shared helpers of the `cnn` subcommands. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

/* Subcommands: each returns the process exit status. */
int cmd_summary(int argc, char **argv);

/* Prints "cnn CMD: message" on stderr; returns 1 (or 2 for usage errors). */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses "CxHxW" (three positive numbers). Returns 0 or -1. */
int cli_parse_chw(const char *s, int *c, int *h, int *w);

/* Parses a whole positive int; returns 0 or -1. */
int cli_parse_int(const char *s, int lo, int hi, int *out);

/* A zoo model name, or a network-description file. Prints the reason and
 * returns NULL on failure. */
cnn_graph *cli_load_model(const char *cmd, const char *model, int classes, int c, int h, int w,
                          bool sized);

/* 25557032 -> "25,557,032" in buf. */
const char *cli_commas(long long v, char *buf, size_t size);

#endif
