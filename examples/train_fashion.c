/* train_fashion.c - train LeNet-5 on Fashion-MNIST with libcnn.
 *
 * The first program to read: it uses only the public API (cnn.h) and shows
 * the whole cycle - load the data, build a graph, initialize it, plan it for
 * a batch size, then per batch: forward, loss, backward and an optimizer
 * step; after each epoch, an evaluation pass in eval mode. `cnn train` does
 * the same with checkpoints, metrics and progress bars.
 *
 *   train_fashion [--data DIR] [--epochs N] [--threads T] [--seed S] [--limit N]
 *
 * DIR holds the four MNIST-format IDX files (default: Debian's
 * dataset-fashion-mnist). The last line printed is "test accuracy: 0.XXXX".
 */
#include "cnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 64

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* LeNet-5 as it is written today: two conv + max-pool stages, three fully
 * connected layers, ReLU after each hidden layer (61,706 parameters). */
static int build_lenet5(cnn_graph *g)
{
    cnn_conv2d_attr c1 = cnn_conv2d_defaults(6, 5, 5), c2 = cnn_conv2d_defaults(16, 5, 5);
    cnn_pool2d_attr p  = cnn_pool2d_defaults(2, 2);
    int             x;

    c1.pad[0] = c1.pad[1] = c1.pad[2] = c1.pad[3] = 2;              /* 1x28x28 -> 6x28x28 */
    x = cnn_input(g, 1, 28, 28, "image");
    x = cnn_maxpool2d(g, cnn_relu(g, cnn_conv2d(g, x, &c1, "conv1"), NULL), &p, "pool1");
    x = cnn_maxpool2d(g, cnn_relu(g, cnn_conv2d(g, x, &c2, "conv2"), NULL), &p, "pool2");
    x = cnn_relu(g, cnn_linear(g, cnn_flatten(g, x, NULL), 120, true, "fc1"), NULL);
    x = cnn_relu(g, cnn_linear(g, x, 84, true, "fc2"), NULL);
    return cnn_linear(g, x, 10, true, "fc3"); /* a failure anywhere propagates here */
}

/* Accuracy over a whole split, in eval mode (batch norm and dropout, if the
 * net had them, would use their inference behaviour). */
static double evaluate(cnn_graph *g, int logits, const cnn_dataset *d, const cnn_loader_cfg *norm)
{
    cnn_loader_cfg cfg = *norm;
    cnn_loader    *l;
    int            y[BATCH], n;
    int64_t        hits = 0;

    cfg.shuffle = cfg.drop_last = false;
    if (!(l = cnn_loader_new(d, &cfg)))
        return -1;
    while ((n = cnn_loader_next(l, cnn_graph_data(g, 0), y)) > 0) {
        if (cnn_graph_forward(g, CNN_EVAL) < 0)
            break;
        for (int b = 0; b < n; b++) {
            const float *z   = cnn_graph_data(g, logits) + b * 10;
            int          arg = 0;
            for (int k = 1; k < 10; k++)
                arg = z[k] > z[arg] ? k : arg;
            hits += arg == y[b];
        }
    }
    cnn_loader_free(l);
    return n < 0 ? -1 : (double)hits / (double)d->n;
}

static int fail(const char *what)
{
    fprintf(stderr, "train_fashion: %s: %s\n", what, cnn_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char  *data = "fashion-mnist";
    int          epochs = 3, threads = 2, seed = 1, limit = 0, logits, y[BATCH], rc = 1;
    cnn_dataset *train = NULL, *test = NULL;
    cnn_graph   *g = NULL;
    cnn_optim   *opt = NULL;
    cnn_loader  *loader = NULL;

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--data") == 0 && v)
            data = argv[++i];
        else if (strcmp(argv[i], "--epochs") == 0 && v && (epochs = atoi(argv[++i])) > 0)
            continue;
        else if (strcmp(argv[i], "--threads") == 0 && v && (threads = atoi(argv[++i])) > 0)
            continue;
        else if (strcmp(argv[i], "--seed") == 0 && v)
            seed = atoi(argv[++i]);
        else if (strcmp(argv[i], "--limit") == 0 && v && (limit = atoi(argv[++i])) >= BATCH)
            continue;
        else {
            fprintf(stderr, "usage: train_fashion [--data DIR] [--epochs N>0] [--threads T>0] "
                            "[--seed S] [--limit N>=%d]\n", BATCH);
            return 2;
        }
    }

    /* 1. Data: 8-bit images, normalized per batch with the training set's
     * mean and standard deviation. */
    if (cnn_mnist_load(data, &train, &test) < 0)
        return fail("data");
    if (limit > 0 && limit < train->n) {
        cnn_dataset *sub = cnn_dataset_subset(train, 0, 9, limit);
        cnn_dataset_free(train);
        if (!(train = sub))
            goto out;
    }
    cnn_loader_cfg cfg = cnn_loader_defaults(BATCH);
    cfg.drop_last = true; /* every step sees a whole batch */
    cfg.seed      = (uint64_t)seed;
    cfg.prefetch  = true; /* the next batch is prepared while this one trains */
    if (cnn_dataset_stats(train, cfg.mean, cfg.std) < 0 || !(loader = cnn_loader_new(train, &cfg))) {
        fail("loader");
        goto out;
    }

    /* 2. The network, its initialization, the optimizer and the plan. */
    g = cnn_graph_new();
    if ((logits = build_lenet5(g)) < 0 || cnn_graph_init(g, CNN_INIT_HE_NORMAL, (uint64_t)seed) < 0 ||
        cnn_graph_set_threads(g, threads) < 0 || cnn_graph_plan(g, BATCH) < 0) {
        fail("LeNet-5");
        goto out;
    }
    cnn_optim_cfg oc = cnn_optim_defaults(CNN_SGD);
    oc.lr           = 0.02f;
    oc.momentum     = 0.9f;
    oc.weight_decay = 1e-3f;
    cnn_sched sched = {.kind = CNN_SCHED_COSINE, .lr = oc.lr,
                       .total_steps = (int64_t)epochs * cnn_loader_batches(loader)};
    if (!(opt = cnn_optim_new(g, &oc))) {
        fail("optimizer");
        goto out;
    }
    printf("LeNet-5: %lld parameters; %lld training and %lld test images\n",
           (long long)cnn_graph_param_count(g), (long long)train->n, (long long)test->n);

    /* 3. Training: forward, loss, backward, step. */
    double acc = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double  t0 = now(), sum = 0;
        int64_t hits = 0, seen = 0, steps = 0;
        int     n;
        cnn_loader_start(loader, epoch, 0);
        while ((n = cnn_loader_next(loader, cnn_graph_data(g, 0), y)) > 0) {
            float loss;
            int   correct;
            if (cnn_graph_forward(g, CNN_TRAIN) < 0 ||
                cnn_graph_softmax_xent(g, logits, y, 0.1f, &loss, &correct) < 0 ||
                cnn_graph_zero_param_grads(g) < 0 || cnn_graph_backward(g) < 0 ||
                cnn_optim_step(opt, cnn_sched_lr(&sched, cnn_optim_steps(opt))) < 0) {
                fail("training step");
                goto out;
            }
            if (!isfinite(loss)) {
                fprintf(stderr, "train_fashion: the loss became %g at epoch %d, step %lld\n",
                        (double)loss, epoch + 1, (long long)steps + 1);
                goto out;
            }
            sum += loss, hits += correct, seen += n, steps++;
        }
        double secs = now() - t0;
        if ((acc = evaluate(g, logits, test, &cfg)) < 0) {
            fail("evaluation");
            goto out;
        }
        printf("epoch %2d  loss %.4f  train acc %.4f  test acc %.4f  %5.1f s  %6.0f img/s\n",
               epoch + 1, sum / (double)steps, (double)hits / (double)seen, acc, secs,
               (double)seen / secs);
    }
    printf("test accuracy: %.4f\n", acc);
    rc = 0;
out:
    cnn_loader_free(loader);
    cnn_optim_free(opt);
    cnn_graph_free(g);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    return rc;
}
