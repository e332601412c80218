/* dist.h - data-parallel training over the processes of an MPI job
 * (docs/distributed.md).
 *
 * Built with MPI (found automatically; make HAVE_MPI=0 leaves it out),
 * `mpirun -np N cnn train ...` runs N ranks: each takes a disjoint share of
 * every step's batch, and their gradients are summed in buckets, started
 * while backward still runs, and divided by N before each update, so every
 * rank holds the same weights. Rank 0 speaks for the job: it prints, writes
 * the metrics and the checkpoints. Without MPI, or when started without
 * mpirun, one process is the whole job and nothing here does any work.
 *
 * Only dist.c includes mpi.h; the library knows nothing of MPI. */
#ifndef CNN_DIST_H
#define CNN_DIST_H

#include "cnn.h"

#include <stddef.h>

/* Starts MPI when mpirun started this process (main calls it first).
 * Ranks other than 0 send stdout to /dev/null. Returns 0, or prints why
 * not and returns 1 (several ranks, but this cnn was built without MPI). */
int dist_init(int *argc, char ***argv);

/* Ends the job with exit status `status`: MPI_Finalize after success,
 * MPI_Abort otherwise, so that one rank's failure ends every rank at once
 * instead of leaving them waiting in a collective. Returns status. */
int dist_finish(int status);

int dist_rank(void); /* this process's rank: 0 without MPI             */
int dist_size(void); /* ranks in the job: 1 without MPI                */

/* Ranks on this machine, from the launcher's environment (1 without
 * mpirun): the default thread count divides the CPUs among them. */
int dist_local_size(void);

/* ==== training (cli_fit) ==== */

typedef struct dist dist;

/* Joins a training run to the other ranks: rank 0's parameters, buffers,
 * optimizer state and training state *st are sent to every rank; g gets
 * the backward hook that reduces gradient buckets and, with `sync_bn`,
 * batch statistics summed over the ranks (cnn_graph_set_stat_reduce).
 * Call it before planning g. With one rank it sets nothing. NULL on
 * failure, with the reason in cnn_last_error(). */
dist *dist_new(cnn_graph *g, cnn_optim *opt, cnn_train_state *st, bool sync_bn);

/* Removes the hooks from the graph and frees d. NULL is a no-op. */
void dist_free(dist *d);

/* Sets *v to the smallest *v of any rank (steps per epoch: shards differ
 * by an image at most). */
int dist_min(dist *d, int64_t *v);

/* An epoch starts: gradient buckets over the parameters now trainable, and
 * this rank's dropout stream (rank 0's state mixed with the rank, so that
 * it depends only on where the run stands). */
int dist_epoch_begin(dist *d);

/* One step, around backward. dist_step_begin (after the loss, before
 * backward) starts summing the loss and the correct count; dist_step_end
 * (after backward, before the update) waits for every gradient bucket,
 * divides the sums by the rank count, and sets *loss and *correct to the
 * job's mean loss and correct count. */
int dist_step_begin(dist *d, float loss, int correct);
int dist_step_end(dist *d, float *loss, int *correct);

/* The test set, shared out: rank r evaluates the r-th of N contiguous
 * slices and the sums are reduced. Rank 0's batch-norm buffers go to every
 * rank first, so all evaluate the model that rank 0 saves. Prints the
 * reason and returns -1 on failure. */
int dist_evaluate(dist *d, const char *cmd, const cnn_dataset *test, const float *mean,
                  const float *std, double *loss, double *acc);

/* An epoch ends: checks that every rank holds the same weights, and writes
 * what the reductions cost into `report` (one line, "" with one rank);
 * `train_s` is the epoch's training time. */
int dist_epoch_end(dist *d, double train_s, char *report, size_t size);

#endif
