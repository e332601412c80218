/* dist.c - data-parallel training over MPI (dist.h, docs/distributed.md).
 *
 * The one file that includes mpi.h, and only when the build found MPI
 * (CNN_HAVE_MPI). Every collective is non-blocking and waited on with a
 * deadline, so a rank that stops answering ends the job with a message
 * instead of a hang; a rank that dies is mpirun's to notice, and a rank
 * that fails calls MPI_Abort (dist_finish), which ends the others. */
#include "dist.h"
#include "cli.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CNN_HAVE_MPI
#include <mpi.h>
#endif

/* Gradients go out in buckets of at least this many KiB (the last one
 * smaller); CNN_DIST_BUCKET_KB changes it. Small enough that a LeNet-5 or
 * a ResNet's last stage starts reducing long before backward ends, large
 * enough that per-message latency stays small beside the transfer. */
#define BUCKET_KB 1024
/* How long a rank waits for the others in one collective before it ends
 * the job (seconds); CNN_DIST_TIMEOUT changes it. Covers a checkpoint
 * being written by rank 0 while the others wait at the next step. */
#define TIMEOUT_S 300

static int world_rank = 0, world_size = 1, local_size = 1;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A positive integer from the environment, or `def`. */
static int env_int(const char *name, int def)
{
    const char *s = getenv(name);
    int         v;
    return s && cli_parse_int(s, 1, INT_MAX, &v) == 0 ? v : def;
}

/* The launcher's rank count: Open MPI, then PMI (MPICH, Slurm), PMIx. */
static int launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        int v = env_int(vars[i], 0);
        if (v > 0)
            return v;
    }
    return 0;
}

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }
int dist_local_size(void) { return local_size; }

/* How long a wait may take before the job ends: TIMEOUT_S or
 * CNN_DIST_TIMEOUT. A rank that has announced the end of its run (see
 * dist_finish) while another still waits in a collective leaves that one
 * this much longer to see the collective end: past it, they ran different
 * steps. */
static double timeout_s = TIMEOUT_S;
#define GRACE_S 2.0

/* ==== @@MPI ==== */

#ifdef CNN_HAVE_MPI
typedef MPI_Request dreq;
#define DREQ_NULL MPI_REQUEST_NULL

static bool     mpi_on = false; /* MPI_Init done                         */
static MPI_Comm end_comm;       /* end-of-run messages, apart from the
                                 * training's collectives                */
#define TAG_END 17

int dist_init(int *argc, char ***argv)
{
    int provided, rc;
    if (launched_size() == 0)
        return 0;
    /* Funneled: only the main thread calls MPI (the loader's prefetch
     * thread and OpenMP's workers never do). */
    if ((rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
        fprintf(stderr, "cnn: MPI_Init failed (error %d)\n", rc);
        return 1;
    }
    mpi_on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* Errors come back as codes, reported with the rank by the caller. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &local_size);
        MPI_Comm_free(&local);
    }
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &end_comm)) != MPI_SUCCESS) {
        fprintf(stderr, "cnn: rank %d: MPI_Comm_dup failed (error %d)\n", world_rank, rc);
        return 1;
    }
    timeout_s = env_int("CNN_DIST_TIMEOUT", TIMEOUT_S);
    if (world_rank != 0 && !freopen("/dev/null", "w", stdout))
        fclose(stdout);
    return 0;
}

/* After a run that succeeded: an empty message to every other rank, then
 * theirs, within the deadline. A rank still waiting in a training
 * collective sees the message and stops (wait_all), so a rank that ends
 * early, even with status 0, cannot leave the others waiting. */
static int say_end(void)
{
    int          n = world_size - 1, done = 0, e = MPI_SUCCESS;
    MPI_Request *r = calloc(2 * (size_t)n, sizeof *r);
    double       t0 = now();

    if (!r)
        return -1;
    for (int k = 0, j = 0; k < world_size && e == MPI_SUCCESS; k++)
        if (k != world_rank) {
            e = MPI_Isend(NULL, 0, MPI_BYTE, k, TAG_END, end_comm, &r[j++]);
            if (e == MPI_SUCCESS)
                e = MPI_Irecv(NULL, 0, MPI_BYTE, k, TAG_END, end_comm, &r[n - 1 + j]);
        }
    while (e == MPI_SUCCESS && !done && now() - t0 < timeout_s) {
        e = MPI_Testall(2 * n, r, &done, MPI_STATUSES_IGNORE);
        if (!done)
            nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    free(r);
    if (e == MPI_SUCCESS && !done)
        fprintf(stderr, "cnn: rank %d of %d: the other ranks did not finish within %.0f s of "
                "this one (CNN_DIST_TIMEOUT sets the limit); ending the job\n", world_rank,
                world_size, timeout_s);
    return e == MPI_SUCCESS && done ? 0 : -1;
}

int dist_finish(int status)
{
    if (!mpi_on)
        return status;
    fflush(stdout);
    fflush(stderr);
    if (status == 0 && world_size > 1 && say_end() < 0)
        status = 1;
    if (status != 0 && world_size > 1) {
        /* A mistake every rank makes (a bad flag) fails them all at once;
         * letting rank 0 abort first keeps mpirun to one report. */
        if (world_rank != 0)
            nanosleep(&(struct timespec){0, 250000000}, NULL);
        MPI_Abort(MPI_COMM_WORLD, status); /* ends every rank; does not return */
    }
    MPI_Comm_free(&end_comm);
    MPI_Finalize();
    return status;
}

/* The rank that has announced the end of its run, or -1. */
static int ended_rank(void)
{
    MPI_Status st;
    int        flag = 0;
    if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_END, end_comm, &flag, &st) != MPI_SUCCESS || !flag)
        return -1;
    return st.MPI_SOURCE;
}

static int mpi_fail(int err, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int  len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", err);
    return cnn_fail(CNN_EIO, "%s: MPI: %s", what, msg);
}

static int sum_f_start(float *v, int n, dreq *r)
{
    int e = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "gradient allreduce");
}

static int sum_d_start(double *v, int n, dreq *r)
{
    int e = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, r);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "allreduce");
}

static int max_d_start(double *v, int n, dreq *r)
{
    int e = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, r);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "allreduce");
}

static int max_i64_start(int64_t *v, int n, dreq *r)
{
    int e = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD, r);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "allreduce");
}

static int bcast_start(void *v, int bytes, dreq *r)
{
    int e = MPI_Ibcast(v, bytes, MPI_BYTE, 0, MPI_COMM_WORLD, r);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "broadcast from rank 0");
}

/* Whether *r is done (progressing every pending collective meanwhile). */
static int test_req(dreq *r, bool *done)
{
    int flag = 0, e = MPI_Test(r, &flag, MPI_STATUS_IGNORE);
    *done = flag != 0;
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "waiting for the other ranks");
}
#else
typedef int dreq;
#define DREQ_NULL 0

int dist_init(int *argc, char ***argv)
{
    int n = launched_size();
    (void)argc;
    (void)argv;
    if (n > 1) {
        fprintf(stderr, "cnn: started as one of %d ranks, but this cnn was built without MPI "
                "(install libopenmpi-dev and rebuild)\n", n);
        return 1;
    }
    return 0;
}

int dist_finish(int status) { return status; }

/* One rank: a reduction is the identity, and nothing ever waits. */
static int ended_rank(void) { return -1; }
static int sum_f_start(float *v, int n, dreq *r) { (void)v, (void)n, *r = 0; return 0; }
static int sum_d_start(double *v, int n, dreq *r) { (void)v, (void)n, *r = 0; return 0; }
static int max_d_start(double *v, int n, dreq *r) { (void)v, (void)n, *r = 0; return 0; }
static int max_i64_start(int64_t *v, int n, dreq *r) { (void)v, (void)n, *r = 0; return 0; }
static int bcast_start(void *v, int bytes, dreq *r) { (void)v, (void)bytes, *r = 0; return 0; }
static int test_req(dreq *r, bool *done) { (void)r, *done = true; return 0; }
#endif

/* ==== @@STATE ==== */

/* Parameter gradients [n] at g, summed once node `ready`'s backward is
 * done: the lowest node id whose parameters the bucket holds. */
typedef struct bucket {
    float  *g;
    int64_t n;
    int     ready;
} bucket;

struct dist {
    cnn_graph *g;
    int64_t    bucket_floats;
    bucket    *b;        /* [cap] in launch order: last layers first   */
    dreq      *req;      /* [cap + 1]: the buckets', then the metrics'  */
    int        cap, nb;
    int        launched; /* buckets started this step                   */
    int        settled;  /* of those, known to be done                  */
    double     metrics[2]; /* loss, correct: summed over the ranks      */
    double     wait_s;   /* this epoch: waiting on reductions           */
    int64_t    steps;    /* this epoch                                  */
};

/* Waits for r[0 .. n-1] with the deadline; the time counts as waiting. */
static int wait_all(dist *d, dreq *r, int n, const char *what)
{
    double t0 = now(), ended_at = 0;
    for (int i = 0; i < n; i++) {
        bool done = false;
        for (long spin = 0;; spin++) {
            int rc = test_req(&r[i], &done), who;
            if (rc < 0)
                return rc;
            if (done)
                break;
            /* Poll hard at first (a reduction often ends within
             * microseconds), then let the other ranks have the CPU. */
            if (spin > 200)
                nanosleep(&(struct timespec){0, 20000}, NULL);
            if (spin % 16 != 15)
                continue;
            double t = now();
            if ((who = ended_rank()) >= 0 && ended_at == 0)
                ended_at = t;
            if (who >= 0 && t - ended_at > GRACE_S)
                return cnn_fail(CNN_ESTATE, "rank %d has ended its run while this rank waits in "
                                "the %s: the ranks did not run the same steps (different "
                                "arguments?); ending the job", who, what);
            if (t - t0 > timeout_s) {
                char others[32] = "the other ranks";
                if (world_size == 2)
                    snprintf(others, sizeof others, "rank %d", 1 - world_rank);
                return cnn_fail(CNN_EIO, "no answer from %s for %.0f s in the %s (stuck or "
                                "gone; CNN_DIST_TIMEOUT sets the limit); ending the job", others,
                                timeout_s, what);
            }
        }
    }
    d->wait_s += now() - t0;
    return 0;
}

/* Sends `bytes` at p from rank 0 to every rank, in pieces MPI counts hold. */
static int bcast(dist *d, void *p, int64_t bytes, const char *what)
{
    for (int64_t at = 0; at < bytes; at += 1 << 30) {
        int64_t len = bytes - at < (1 << 30) ? bytes - at : (1 << 30);
        dreq    r   = DREQ_NULL;
        int     rc;
        if ((rc = bcast_start((char *)p + at, (int)len, &r)) < 0 ||
            (rc = wait_all(d, &r, 1, what)) < 0)
            return rc;
    }
    return 0;
}

static int sum_doubles(double *v, int n, void *user)
{
    dist *d = user;
    dreq  r = DREQ_NULL;
    int   rc;
    if ((rc = sum_d_start(v, n, &r)) < 0)
        return rc;
    return wait_all(d, &r, 1, "batch-norm statistics allreduce");
}

/* ==== @@BUCKETS ==== */

/* Starts the buckets whose layers are done and lets MPI move the pending
 * ones on: called after every node's backward. */
static int on_backward(cnn_graph *g, int id, void *user)
{
    dist *d = user;
    int   rc;
    (void)g;
    while (d->launched < d->nb && d->b[d->launched].ready >= id) {
        bucket *b = &d->b[d->launched];
        if ((rc = sum_f_start(b->g, (int)b->n, &d->req[d->launched])) < 0)
            return rc;
        d->launched++;
    }
    while (d->settled < d->launched) {
        bool done;
        if ((rc = test_req(&d->req[d->settled], &done)) < 0)
            return rc;
        if (!done)
            break;
        d->settled++;
    }
    return 0;
}

/* Buckets over the trainable parameters, from the last node to the first:
 * each a contiguous run of the flat gradient array (node by node, bias
 * before weight, which is how the graph lays them out backwards) of at
 * least bucket_floats, unless the run breaks first. */
static int make_buckets(dist *d)
{
    bucket *cur = NULL;

    d->nb = 0;
    for (int id = cnn_graph_size(d->g) - 1; id >= 0; id--) {
        if (!cnn_node_trainable(d->g, id))
            continue;
        for (int k = cnn_node_param_count(d->g, id) - 1; k >= 0; k--) {
            float    *grad;
            cnn_shape s;
            int64_t   n;
            if (cnn_node_param(d->g, id, k, NULL, &grad, &s, NULL) < 0)
                return CNN_EINVAL;
            if ((n = cnn_shape_numel(&s)) == 0)
                continue;
            if (cur && grad + n == cur->g && cur->n < d->bucket_floats && cur->n + n <= INT_MAX) {
                cur->g = grad;
                cur->n += n;
                cur->ready = id;
                continue;
            }
            if (n > INT_MAX)
                return cnn_fail(CNN_EOVERFLOW, "node %d: a parameter of %lld values is more than "
                                "one MPI message holds", id, (long long)n);
            if (d->nb == d->cap)
                return cnn_fail(CNN_ESTATE, "the graph gained parameters after training began");
            cur  = &d->b[d->nb++];
            *cur = (bucket){grad, n, id};
        }
    }
    return 0;
}

/* ==== @@TRAINING ==== */

dist *dist_new(cnn_graph *g, cnn_optim *opt, cnn_train_state *st, bool sync_bn)
{
    dist   *d;
    int     tensors = 0;
    int64_t steps[2];

    if (!(d = calloc(1, sizeof *d))) {
        cnn_fail(CNN_ENOMEM, "out of memory");
        return NULL;
    }
    d->g = g;
    if (world_size == 1)
        return d;
    d->bucket_floats = (int64_t)env_int("CNN_DIST_BUCKET_KB", BUCKET_KB) * 1024 / sizeof(float);
    for (int id = 0; id < cnn_graph_size(g); id++)
        tensors += cnn_node_param_count(g, id);
    d->cap = tensors;
    if (!(d->b = calloc((size_t)tensors + 1, sizeof *d->b)) ||
        !(d->req = calloc((size_t)tensors + 1, sizeof *d->req))) {
        cnn_fail(CNN_ENOMEM, "out of memory for %d gradient buckets", tensors);
        goto fail;
    }
    /* Rank 0's state everywhere: the same start whatever each rank read,
     * including after --resume from a checkpoint only rank 0 wrote. */
    steps[0] = cnn_optim_steps(opt);
    steps[1] = cnn_optim_state_size(opt);
    if (bcast(d, cnn_graph_params(g), cnn_graph_param_count(g) * 4, "broadcast") < 0 ||
        bcast(d, cnn_graph_buffers(g), cnn_graph_buffer_count(g) * 4, "broadcast") < 0 ||
        bcast(d, st, sizeof *st, "broadcast") < 0 || bcast(d, steps, sizeof steps, "broadcast") < 0)
        goto fail;
    if (steps[1] != cnn_optim_state_size(opt)) {
        cnn_fail(CNN_ESTATE, "rank 0's optimizer has %lld state values, this rank's %lld",
                 (long long)steps[1], (long long)cnn_optim_state_size(opt));
        goto fail;
    }
    if (cnn_optim_set_steps(opt, steps[0]) < 0 ||
        bcast(d, cnn_optim_state(opt), steps[1] * 4, "broadcast") < 0)
        goto fail;
    if (cnn_graph_set_backward_hook(g, on_backward, d) < 0 ||
        (sync_bn && cnn_graph_set_stat_reduce(g, sum_doubles, d) < 0))
        goto fail;
    return d;
fail:
    dist_free(d);
    return NULL;
}

void dist_free(dist *d)
{
    if (!d)
        return;
    if (d->g && world_size > 1) {
        cnn_graph_set_backward_hook(d->g, NULL, NULL);
        cnn_graph_set_stat_reduce(d->g, NULL, NULL);
    }
    free(d->b);
    free(d->req);
    free(d);
}

int dist_min(dist *d, int64_t *v)
{
    int64_t m = -*v;
    dreq    r = DREQ_NULL;
    int     rc;
    if (world_size == 1)
        return 0;
    if ((rc = max_i64_start(&m, 1, &r)) < 0 || (rc = wait_all(d, &r, 1, "allreduce")) < 0)
        return rc;
    *v = -m;
    return 0;
}

/* splitmix64's finalizer. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int dist_epoch_begin(dist *d)
{
    uint64_t s[4];
    int      rc;

    if (world_size == 1)
        return 0;
    if ((rc = make_buckets(d)) < 0)
        return rc;
    /* Dropout: every rank would draw the same masks from the same state;
     * rank r > 0 mixes its rank into rank 0's. */
    cnn_graph_rng_get(d->g, s);
    if ((rc = bcast(d, s, sizeof s, "broadcast")) < 0)
        return rc;
    for (int k = 0; world_rank > 0 && k < 4; k++)
        s[k] = mix(s[k] ^ mix((uint64_t)world_rank * 4 + (uint64_t)k));
    cnn_graph_rng_set(d->g, s);
    d->wait_s = 0; /* from here: the steps' waiting, for dist_epoch_end */
    d->steps  = 0;
    return 0;
}

int dist_step_begin(dist *d, float loss, int correct)
{
    if (world_size == 1)
        return 0;
    d->launched   = d->settled = 0;
    d->metrics[0] = loss;
    d->metrics[1] = correct;
    return sum_d_start(d->metrics, 2, &d->req[d->cap]);
}

int dist_step_end(dist *d, float *loss, int *correct)
{
    int rc;

    if (world_size == 1)
        return 0;
    while (d->launched < d->nb) { /* none, unless backward skipped the hook */
        bucket *b = &d->b[d->launched];
        if ((rc = sum_f_start(b->g, (int)b->n, &d->req[d->launched])) < 0)
            return rc;
        d->launched++;
    }
    if ((rc = wait_all(d, d->req + d->settled, d->nb - d->settled, "gradient allreduce")) < 0 ||
        (rc = wait_all(d, &d->req[d->cap], 1, "loss allreduce")) < 0)
        return rc;
    /* The mean over ranks, by one division (exact for a power of 2), the
     * same on every rank since every rank holds the same sums. */
    for (int i = 0; i < d->nb; i++) {
        float *v = d->b[i].g;
        for (int64_t j = 0; j < d->b[i].n; j++)
            v[j] /= (float)world_size;
    }
    *loss    = (float)(d->metrics[0] / world_size);
    *correct = (int)d->metrics[1];
    d->steps++;
    return 0;
}

int dist_evaluate(dist *d, const char *cmd, const cnn_dataset *test, const float *mean,
                  const float *std, double *loss, double *acc)
{
    cnn_dataset part = *test;
    double      sums[3] = {0, 0, 0}; /* loss sum, hits, images */
    int64_t     lo = test->n * world_rank / world_size;
    int64_t     hi = test->n * (world_rank + 1) / world_size;
    int64_t     sample = (int64_t)test->c * test->h * test->w;
    dreq        r = DREQ_NULL;
    int         rc;

    double      waited = d->wait_s; /* what the steps waited, reported later */

    if (world_size == 1)
        return cli_evaluate(cmd, d->g, test, mean, std, loss, acc, NULL);
    if ((rc = bcast(d, cnn_graph_buffers(d->g), cnn_graph_buffer_count(d->g) * 4, "broadcast")) < 0)
        return cli_error(cmd, "%s", cnn_last_error()) ? -1 : -1;
    /* A view of images [lo, hi): it shares the dataset's memory. */
    part.n = hi - lo;
    part.pixels += lo * sample;
    part.labels += lo;
    if (part.n > 0) {
        double l, a;
        if (cli_evaluate(cmd, d->g, &part, mean, std, &l, &a, NULL) < 0)
            return -1;
        sums[0] = l * (double)part.n;
        sums[1] = (double)llround(a * (double)part.n); /* acc is hits / n */
        sums[2] = (double)part.n;
    }
    if ((rc = sum_d_start(sums, 3, &r)) < 0 || (rc = wait_all(d, &r, 1, "test allreduce")) < 0)
        return cli_error(cmd, "%s", cnn_last_error()) ? -1 : -1;
    *loss     = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
    *acc      = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
    d->wait_s = waited;
    return 0;
}

/* FNV-1a over the parameters' bytes. */
static uint64_t hash_params(cnn_graph *g)
{
    const unsigned char *p = (const unsigned char *)cnn_graph_params(g);
    uint64_t             h = 0xcbf29ce484222325ull;
    for (int64_t i = 0, n = cnn_graph_param_count(g) * 4; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int dist_epoch_end(dist *d, double train_s, char *report, size_t size)
{
    uint64_t h = hash_params(d->g);
    int64_t  v[2];
    double   w[3], waited = d->wait_s; /* the steps': sum, most, -least */
    dreq     r[3] = {DREQ_NULL, DREQ_NULL, DREQ_NULL};
    int      rc;
    int64_t  bytes = 0;

    if (size)
        report[0] = '\0';
    if (world_size == 1)
        return 0;
    /* The largest of h and of ~h: both are this rank's own only if every
     * rank has the same h. */
    v[0] = (int64_t)h;
    v[1] = (int64_t)~h;
    w[0] = w[1] = waited;
    w[2] = -waited;
    if ((rc = max_i64_start(v, 2, &r[0])) < 0 || (rc = sum_d_start(w, 1, &r[1])) < 0 ||
        (rc = max_d_start(w + 1, 2, &r[2])) < 0 || (rc = wait_all(d, r, 3, "allreduce")) < 0)
        return rc;
    if ((uint64_t)v[0] != h || (uint64_t)v[1] != ~h)
        return cnn_fail(CNN_ESTATE, "the ranks' weights differ after this epoch (the "
                        "allreduce gave ranks different sums)");
    for (int i = 0; i < d->nb; i++)
        bytes += d->b[i].n * 4;
    if (d->steps > 0) {
        double per = 1e3 / (double)d->steps; /* seconds in the epoch -> ms per step */
        snprintf(report, size, "%d ranks, %d gradient bucket%s (%.2f MiB) per step; %.2f ms per "
                 "step waiting on reductions (least %.2f, most %.2f across ranks), of %.2f ms "
                 "per step", world_size, d->nb, d->nb == 1 ? "" : "s",
                 (double)bytes / (1 << 20), w[0] / world_size * per, -w[2] * per, w[1] * per,
                 train_s * per);
    }
    return 0;
}
