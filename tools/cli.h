/* cli.h - shared helpers of the `cnn` subcommands. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Subcommands: each returns the process exit status. */
int cmd_summary(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_viz(int argc, char **argv);
int cmd_onnx_test(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_finetune(int argc, char **argv);

/* Prints "cnn CMD: message" on stderr ("cnn CMD: rank R of N: message" in an
 * MPI job); returns 1. */
int cli_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Parses "CxHxW" (three positive numbers). Returns 0 or -1. */
int cli_parse_chw(const char *s, int *c, int *h, int *w);

/* Parses a whole int in [lo, hi]; returns 0 or -1. */
int cli_parse_int(const char *s, int lo, int hi, int *out);

/* Parses a finite float in [lo, hi]; returns 0 or -1. */
int cli_parse_float(const char *s, float lo, float hi, float *out);

/* A zoo model name, or a network-description file. Prints the reason and
 * returns NULL on failure. */
cnn_graph *cli_load_model(const char *cmd, const char *model, int classes, int c, int h, int w,
                          bool sized);

/* 25557032 -> "25,557,032" in buf. */
const char *cli_commas(long long v, char *buf, size_t size);

/* Number of CPUs online, divided among the MPI ranks on this machine (the
 * default thread count). */
int cli_cpus(void);

/* mkdir -p: 0, or -1 with errno set. */
int cli_mkdirs(const char *path);

/* ==== metadata lines (meta.c) ==== */

typedef struct meta {
    char  *text;
    size_t len, cap;
} meta;

void        meta_init(meta *m);
void        meta_free(meta *m);
int         meta_set(meta *m, const char *key, const char *fmt, ...) CLI_PRINTF(3, 4);
const char *meta_get(const char *text, const char *key, char *out, size_t size);

/* The normalization saved by cnn train ("mean=", "std=" lines) into
 * mean[4] and std[4]; entries not saved keep their values. */
void meta_norm(const char *text, float *mean, float *std);

/* ==== datasets (data.c) ==== */

/* Loads the train and test splits named by `spec`: "fashion-mnist", a
 * directory of MNIST-format IDX files, a CIFAR-10 binary directory, or an
 * image folder with train/ and test/ (or val/) sub-folders of class
 * folders (resized to c x h x w). Prints the reason and returns -1 on
 * failure. */
int cli_load_data(const char *cmd, const char *spec, int c, int h, int w, cnn_dataset **train,
                  cnn_dataset **test);

/* "LO-HI" (or one label "K") into 0 <= lo <= hi < 65536; 0 or -1. */
int cli_parse_classes(const char *s, int *lo, int *hi);

/* Keeps the labels lo..hi of both splits, relabelled from 0 (lo < 0: all
 * classes), then `sample` training images drawn at random from `seed`
 * (0: all). Either split may be NULL. Prints the reason and returns -1 on
 * failure; the caller frees both splits either way. */
int cli_select_data(const char *cmd, int lo, int hi, int sample, uint64_t seed,
                    cnn_dataset **train, cnn_dataset **test);

/* The same for a checkpoint's own classes: its "data_classes" metadata
 * line, if any (eval, predict, viz). */
int cli_meta_classes(const char *cmd, const char *metatext, cnn_dataset **train,
                     cnn_dataset **test);

/* Per-channel floats as "a,b,c" and back (returns the count or -1). */
void cli_floats_str(const float *v, int n, char *buf, size_t size);
int  cli_str_floats(const char *s, float *v, int max);

/* ==== evaluation (eval.c) ==== */

/* Runs `g` (planned) in eval mode over the whole dataset with the given
 * normalization; fills the mean loss, the accuracy and, if not NULL, the
 * confusion counts [classes * classes]. Returns 0, or prints the reason and
 * returns -1. */
int cli_evaluate(const char *cmd, cnn_graph *g, const cnn_dataset *d, const float *mean,
                 const float *std, double *loss, double *acc, int64_t *confusion);

#endif
