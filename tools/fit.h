/* fit.h - the training loop shared by `cnn train` and `cnn finetune`. */
#ifndef CNN_FIT_H
#define CNN_FIT_H

#include "cli.h"

/* Settings that describe a run, all recorded in the checkpoint (train.c;
 * `cnn finetune` adds its own keys to the same metadata). */
typedef struct run {
    char  model[1024], data[1024];
    int   c, h, w, epochs, batch, warmup, crop_pad, threads;
    bool  flip, nesterov;
    char  optimizer[16], schedule[16], init[16];
    float lr, momentum, wd, gamma, smoothing;
    int   step_size;
    int   limit, test_limit; /* use only the first N images (0: all)     */
    int   class_lo, class_hi; /* keep these labels, from 0 (lo < 0: all)  */
    int   sample;            /* N training images at random (0: all)     */
    long long seed;
    bool  sync_bn;           /* MPI: batch statistics over every rank    */
} run;

/* The model's recipe for what the flags left unset (0 or negative). */
void run_defaults(run *r);

/* The training flags cnn train and cnn finetune share (see train.c): 1
 * when `opt` is one of them and its value is good, -1 (the reason printed)
 * when its value is not, 0 when it is not one of them. */
int run_parse_flag(const char *cmd, int opt, const char *arg, run *r, int *epochs,
                   int *stop_after);
/* The run's settings as metadata lines, and back (-1: a key is missing). */
void run_to_meta(const run *r, meta *m);
int  run_from_meta(const char *text, run *r);
/* Class names and normalization, for eval, predict and viz. */
void data_to_meta(const cnn_dataset *d, const float *mean, const float *std, meta *m);
/* The run's data: its splits, with the classes, the random sample and the
 * limits applied. Prints the reason and returns -1 on failure. */
int run_load_data(const char *cmd, const run *r, cnn_dataset **train, cnn_dataset **test);
/* The run's optimizer over g (NULL with the reason in cnn_last_error). */
cnn_optim *make_optim(const run *r, cnn_graph *g);

typedef struct fit_cfg {
    const char    *cmd;            /* for messages: "train"                */
    const char    *out_dir;        /* metrics.csv, last, best              */
    int            epochs, batch, threads;
    bool           tty;            /* progress bar (else log lines)        */
    cnn_sched      sched;          /* lr in the schedule's own units ...   */
    int            warmup_epochs;  /* ... with these converted to steps    */
    int            step_epochs;
    float          label_smoothing;
    cnn_loader_cfg loader;         /* normalization, augmentation, seed    */
    const char    *meta_text;      /* saved in every checkpoint            */
    int            stop_after;     /* leave after this epoch (0: never),
                                    * as if interrupted: --resume goes on */
    bool           sync_bn;        /* MPI: batch-norm statistics over all
                                    * ranks (else each rank's own)        */
} fit_cfg;

/* Trains g from state *st (epoch, step, RNG) to c->epochs epochs, testing
 * after each, writing DIR/metrics.csv and the DIR/last and DIR/best
 * checkpoints; the input is node 0 and the logits the last node. Prints
 * progress and a closing "test accuracy: 0.XXXX". Returns the exit status.
 * In an MPI job (dist.h) every rank calls it: c->batch is the global batch,
 * each rank computes c->batch / ranks of it, and only rank 0 prints and
 * writes. */
int cli_fit(const fit_cfg *c, cnn_graph *g, cnn_optim *opt, cnn_train_state *st,
            const cnn_dataset *train, const cnn_dataset *test);

/* The loop's settings from the run's (c->cmd is "train"). */
int fill_fit(const run *r, const cnn_dataset *train, const float *mean, const float *std,
             fit_cfg *c);

#endif
