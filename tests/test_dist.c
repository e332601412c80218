/* test_dist.c - the library's data-parallel hooks without MPI: two
 * replicas of a graph in two threads, each on half the batch, their
 * reductions summed through a barrier, against one graph on the whole
 * batch (synchronized batch norm, gradient averaging); the backward hook's
 * order and errors.
 *
 * `test_dist --compare A B TOL` instead compares the parameters of two
 * checkpoints and fails when they differ by more than TOL: the check of
 * tests/test_mpi.sh that an MPI job matches one process. */
#include "t.h"

#include <pthread.h>
#include <stdlib.h>

enum { C_IN = 3, HW = 5, BATCH = 8, CLASSES = 4 };

/* conv -> batch norm -> relu -> linear: small, with a batch norm whose
 * input needs a gradient (the conv's). */
static cnn_graph *small_net(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(6, 3, 3);
    int             x;

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    if (!g || (x = cnn_input(g, C_IN, HW, HW, "x")) < 0 || (x = cnn_conv2d(g, x, &a, "conv")) < 0 ||
        (x = cnn_batchnorm2d(g, x, 1e-5f, 0.1f, "bn")) < 0 || (x = cnn_relu(g, x, "relu")) < 0 ||
        (x = cnn_linear(g, x, CLASSES, true, "fc")) < 0 ||
        cnn_graph_init(g, CNN_INIT_PYTORCH, 7) < 0) {
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

static void fill_batch(float *x, int *y)
{
    uint64_t s = 12345;
    for (int i = 0; i < BATCH * C_IN * HW * HW; i++) {
        s    = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 40) % 2001) / 1000.0f - 1.0f + (float)(i % 7) * 0.1f;
    }
    for (int b = 0; b < BATCH; b++)
        y[b] = (b * 3) % CLASSES;
}

/* ==== @@REPLICAS ==== */

/* Two replicas meeting at a barrier: each posts its vector, both sum the
 * two in the same order, and neither writes before both have read. */
typedef struct meeting {
    pthread_barrier_t bar;
    double           *slot[2];
    int               calls;
} meeting;

typedef struct replica {
    meeting   *m;
    int        idx;
    cnn_graph *g;
    float     *x;       /* [BATCH/2 samples] */
    int       *y;
    float      loss;
    int        rc;
    double     tmp[64];
} replica;

static int sum_two(double *v, int n, void *user)
{
    replica *r = user;
    meeting *m = r->m;
    if (n > 64)
        return cnn_fail(CNN_EINVAL, "test reduce: %d values, room for 64", n);
    m->slot[r->idx] = v;
    pthread_barrier_wait(&m->bar);
    for (int i = 0; i < n; i++)
        r->tmp[i] = m->slot[0][i] + m->slot[1][i];
    pthread_barrier_wait(&m->bar);
    for (int i = 0; i < n; i++)
        v[i] = r->tmp[i];
    if (r->idx == 0)
        m->calls++;
    return 0;
}

static void *replica_step(void *arg)
{
    replica *r = arg;
    int      correct;
    r->rc = cnn_graph_set_input(r->g, 0, r->x);
    if (r->rc >= 0)
        r->rc = cnn_graph_forward(r->g, CNN_TRAIN);
    if (r->rc >= 0)
        r->rc = cnn_graph_softmax_xent(r->g, cnn_graph_size(r->g) - 1, r->y, 0.0f, &r->loss,
                                       &correct);
    if (r->rc >= 0)
        r->rc = cnn_graph_zero_param_grads(r->g);
    if (r->rc >= 0)
        r->rc = cnn_graph_backward(r->g);
    return NULL;
}

/* Synchronized batch norm on two half batches equals one whole batch:
 * outputs, running statistics, and the mean of the two replicas' parameter
 * gradients (each replica's loss is the mean over its half). Not to the
 * bit: the sums are associated differently. */
static void sync_bn_matches_whole_batch(void)
{
    float     x[BATCH * C_IN * HW * HW];
    int       y[BATCH];
    cnn_graph *whole = small_net();
    meeting    m = {.calls = 0};
    replica    r[2];
    pthread_t  th[2];
    float      loss;
    int        correct, last, per = C_IN * HW * HW;

    T_TRUE(whole != NULL);
    fill_batch(x, y);
    last = cnn_graph_size(whole) - 1;
    T_OK(cnn_graph_plan(whole, BATCH));
    T_OK(cnn_graph_set_input(whole, 0, x));
    T_OK(cnn_graph_forward(whole, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(whole, last, y, 0.0f, &loss, &correct));
    T_OK(cnn_graph_zero_param_grads(whole));
    T_OK(cnn_graph_backward(whole));

    T_TRUE(pthread_barrier_init(&m.bar, NULL, 2) == 0);
    for (int k = 0; k < 2; k++) {
        r[k] = (replica){.m = &m, .idx = k, .g = small_net(), .x = x + k * (BATCH / 2) * per,
                         .y = y + k * (BATCH / 2)};
        T_TRUE(r[k].g != NULL);
        T_OK(cnn_graph_set_stat_reduce(r[k].g, sum_two, &r[k]));
        T_OK(cnn_graph_plan(r[k].g, BATCH / 2));
    }
    for (int k = 0; k < 2; k++)
        T_TRUE(pthread_create(&th[k], NULL, replica_step, &r[k]) == 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&m.bar);
    for (int k = 0; k < 2; k++)
        T_OK(r[k].rc);
    T_EQ(m.calls, 3); /* forward: sums, squared deviations; backward: the two sums */

    /* Outputs: each replica's half of the whole batch's logits. */
    for (int k = 0; k < 2; k++) {
        const float *got = cnn_graph_data(r[k].g, last), *want = cnn_graph_data(whole, last);
        for (int i = 0; i < (BATCH / 2) * CLASSES; i++)
            T_NEAR(got[i], want[k * (BATCH / 2) * CLASSES + i], 1e-5);
    }
    T_NEAR((r[0].loss + r[1].loss) / 2, loss, 1e-5);
    /* Running statistics: the same on both replicas, and the whole batch's. */
    for (int i = 0; i < cnn_graph_buffer_count(whole); i++) {
        T_FEQ(cnn_graph_buffers(r[0].g)[i], cnn_graph_buffers(r[1].g)[i]);
        T_NEAR(cnn_graph_buffers(r[0].g)[i], cnn_graph_buffers(whole)[i], 1e-6);
    }
    /* Gradients: averaged over the replicas, the whole batch's. */
    for (int64_t i = 0; i < cnn_graph_param_count(whole); i++) {
        float avg = (cnn_graph_param_grads(r[0].g)[i] + cnn_graph_param_grads(r[1].g)[i]) / 2;
        T_NEAR(avg, cnn_graph_param_grads(whole)[i], 1e-5);
    }
    for (int k = 0; k < 2; k++)
        cnn_graph_free(r[k].g);
    cnn_graph_free(whole);
}

/* Without the reduction each replica normalizes by its own half: the
 * outputs differ from the whole batch's (what makes the test above mean
 * something). */
static void per_replica_stats_differ(void)
{
    float      x[BATCH * C_IN * HW * HW];
    int        y[BATCH];
    cnn_graph *whole = small_net(), *half = small_net();
    int        last;
    double     most = 0;

    T_TRUE(whole && half);
    fill_batch(x, y);
    last = cnn_graph_size(whole) - 1;
    T_OK(cnn_graph_plan(whole, BATCH));
    T_OK(cnn_graph_plan(half, BATCH / 2));
    T_OK(cnn_graph_set_input(whole, 0, x));
    T_OK(cnn_graph_set_input(half, 0, x));
    T_OK(cnn_graph_forward(whole, CNN_TRAIN));
    T_OK(cnn_graph_forward(half, CNN_TRAIN));
    for (int i = 0; i < (BATCH / 2) * CLASSES; i++)
        most = fmax(most, fabs(cnn_graph_data(half, last)[i] - cnn_graph_data(whole, last)[i]));
    T_TRUE(most > 1e-3);
    cnn_graph_free(whole);
    cnn_graph_free(half);
}

static int sum_one(double *v, int n, void *user)
{
    (void)v, (void)n, (void)user;
    return 0;
}

static int failing_reduce(double *v, int n, void *user)
{
    (void)v, (void)n, (void)user;
    return cnn_fail(CNN_EIO, "test: the other replicas are gone");
}

/* The reduction's buffer is part of the plan: asking after planning is
 * refused until the graph is planned again; a failing reduction fails the
 * forward; eval never reduces. */
static void stat_reduce_errors(void)
{
    float      x[BATCH * C_IN * HW * HW];
    int        y[BATCH];
    cnn_graph *g = small_net();

    T_TRUE(g != NULL);
    fill_batch(x, y);
    T_OK(cnn_graph_plan(g, BATCH));
    T_OK(cnn_graph_set_input(g, 0, x));
    T_OK(cnn_graph_set_stat_reduce(g, sum_one, NULL));
    T_ERR(cnn_graph_forward(g, CNN_TRAIN), CNN_ESTATE);
    T_TRUE(strstr(cnn_last_error(), "plan it again") != NULL);
    T_OK(cnn_graph_plan(g, BATCH));
    T_OK(cnn_graph_set_input(g, 0, x));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_set_stat_reduce(g, failing_reduce, NULL));
    T_ERR(cnn_graph_forward(g, CNN_TRAIN), CNN_EIO);
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_ERR(cnn_graph_set_stat_reduce(NULL, sum_one, NULL), CNN_EINVAL);
    cnn_graph_free(g);
}

/* ==== @@HOOK ==== */

typedef struct trace {
    int ids[16], n, stop_at;
    cnn_graph *g;
    float      fc_grad; /* the fc weight gradient [0] when its hook ran */
} trace;

static int record(cnn_graph *g, int id, void *user)
{
    trace *t = user;
    float *grad;
    if (t->n < 16)
        t->ids[t->n++] = id;
    if (id == cnn_graph_find(g, "fc") && cnn_node_param(g, id, 0, NULL, &grad, NULL, NULL) == 0)
        t->fc_grad = grad[0];
    return id == t->stop_at ? cnn_fail(CNN_EIO, "test: stop at node %d", id) : 0;
}

/* Called once per node, last to first, when that node's parameter
 * gradients are final; a failure stops backward with its code. */
static void backward_hook_order(void)
{
    float      x[BATCH * C_IN * HW * HW];
    int        y[BATCH], correct;
    float      loss, *grad;
    cnn_graph *g = small_net();
    trace      t = {.n = 0, .stop_at = -1};
    int        nodes;

    T_TRUE(g != NULL);
    nodes = cnn_graph_size(g);
    fill_batch(x, y);
    T_OK(cnn_graph_plan(g, BATCH));
    T_OK(cnn_graph_set_input(g, 0, x));
    T_OK(cnn_graph_set_backward_hook(g, record, &t));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, nodes - 1, y, 0.0f, &loss, &correct));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    T_EQ(t.n, nodes);
    for (int i = 0; i < nodes; i++)
        T_EQ(t.ids[i], nodes - 1 - i);
    T_OK(cnn_node_param(g, cnn_graph_find(g, "fc"), 0, NULL, &grad, NULL, NULL));
    T_FEQ(t.fc_grad, grad[0]);
    T_TRUE(grad[0] != 0.0f);

    t.n       = 0;
    t.stop_at = cnn_graph_find(g, "bn");
    T_ERR(cnn_graph_backward(g), CNN_EIO);
    T_EQ(t.n, nodes - t.stop_at);
    T_OK(cnn_graph_set_backward_hook(g, NULL, NULL));
    t.n = 0;
    T_OK(cnn_graph_backward(g));
    T_EQ(t.n, 0);
    cnn_graph_free(g);
}

/* ==== @@COMPARE ==== */

/* The largest |a - b| over the two checkpoints' parameters, naming the
 * node; exit 0 when it is at most tol. */
static int compare(const char *pa, const char *pb, double tol)
{
    cnn_graph *a = cnn_checkpoint_load(pa, NULL, NULL, NULL);
    cnn_graph *b = a ? cnn_checkpoint_load(pb, NULL, NULL, NULL) : NULL;
    double     most = 0;
    const char *where = "";
    int        rc = 1;

    if (!a || !b) {
        fprintf(stderr, "test_dist: %s\n", cnn_last_error());
        goto out;
    }
    if (cnn_graph_size(a) != cnn_graph_size(b) ||
        cnn_graph_param_count(a) != cnn_graph_param_count(b)) {
        fprintf(stderr, "test_dist: %s and %s hold different graphs\n", pa, pb);
        goto out;
    }
    for (int id = 0; id < cnn_graph_size(a); id++)
        for (int k = 0; k < cnn_node_param_count(a, id); k++) {
            float    *va, *vb;
            cnn_shape s;
            cnn_node_param(a, id, k, &va, NULL, &s, NULL);
            cnn_node_param(b, id, k, &vb, NULL, NULL, NULL);
            for (int64_t i = 0; i < cnn_shape_numel(&s); i++) {
                double d = fabs((double)va[i] - (double)vb[i]);
                if (!(d <= most)) { /* NaN counts as the largest */
                    most = isnan(d) ? INFINITY : d;
                    cnn_node_info(a, id, NULL, &where, NULL);
                }
            }
        }
    printf("max |a - b| = %.3g over %lld parameters (at '%s'); tolerance %g\n", most,
           (long long)cnn_graph_param_count(a), where, tol);
    rc = most <= tol ? 0 : 1;
out:
    cnn_graph_free(a);
    cnn_graph_free(b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]));
    T_RUN(sync_bn_matches_whole_batch);
    T_RUN(per_replica_stats_differ);
    T_RUN(stat_reduce_errors);
    T_RUN(backward_hook_order);
    return t_done("dist");
}
