/* fit.h - the training loop shared by `cnn train` and `cnn finetune`. */
#ifndef CNN_FIT_H
#define CNN_FIT_H

#include "cnn.h"

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
} fit_cfg;

/* Trains g from state *st (epoch, step, RNG) to c->epochs epochs, testing
 * after each, writing DIR/metrics.csv and the DIR/last and DIR/best
 * checkpoints; the input is node 0 and the logits the last node. Prints
 * progress and a closing "test accuracy: 0.XXXX". Returns the exit status. */
int cli_fit(const fit_cfg *c, cnn_graph *g, cnn_optim *opt, cnn_train_state *st,
            const cnn_dataset *train, const cnn_dataset *test);

#endif
