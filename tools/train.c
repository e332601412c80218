/* train.c - `cnn train`: the training loop with progress, evaluation after
 * every epoch, a metrics CSV, and `last` / `best` checkpoints to resume
 * from. */
#include "cli.h"
#include "dist.h"
#include "fit.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ==== @@PROGRESS ==== */

static void fmt_time(double s, char *buf, size_t size)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* A bar redrawn in place on a terminal; a plain line every tenth of an
 * epoch otherwise, so logs stay readable. */
static void progress(const fit_cfg *c, int64_t epoch, int64_t step, int64_t steps, double loss,
                     double acc, double rate, double eta)
{
    char t[32];
    fmt_time(eta, t, sizeof t);
    if (c->tty) {
        int  width = 24, done = steps ? (int)(width * step / steps) : width;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < done ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\repoch %lld/%d [%s] %lld/%lld loss %.4f acc %.4f %.0f img/s ETA %s  ",
                (long long)epoch + 1, c->epochs, bar, (long long)step, (long long)steps, loss, acc,
                rate, t);
        fflush(stderr);
    } else if (steps >= 10 && step % (steps / 10) == 0 && step < steps) {
        fprintf(stderr, "epoch %lld/%d step %lld/%lld loss %.4f acc %.4f %.0f img/s ETA %s\n",
                (long long)epoch + 1, c->epochs, (long long)step, (long long)steps, loss, acc, rate,
                t);
    }
}

/* ==== @@METRICS ==== */

static const char *CSV_HEADER = "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_s\n";

/* Keeps the header and the first `epochs` rows of an existing metrics file
 * (a resumed run rewrites what came after its checkpoint). */
static int csv_trim(const char *path, int64_t epochs)
{
    FILE   *f = fopen(path, "r");
    char   *keep = NULL, line[1024];
    size_t  len = 0;
    int64_t rows = -1;

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f) && rows < epochs) {
        size_t n = strlen(line);
        char  *k = realloc(keep, len + n + 1);
        if (!k) {
            free(keep);
            fclose(f);
            return -1;
        }
        keep = k;
        memcpy(keep + len, line, n + 1);
        len += n;
        rows++;
    }
    fclose(f);
    if (!(f = fopen(path, "w"))) {
        free(keep);
        return -1;
    }
    if (len)
        fwrite(keep, 1, len, f);
    free(keep);
    return fclose(f) == 0 ? 0 : -1;
}

/* ==== @@LOOP ==== */

int cli_fit(const fit_cfg *c, cnn_graph *g, cnn_optim *opt, cnn_train_state *st,
            const cnn_dataset *train, const cnn_dataset *test)
{
    int          last = cnn_graph_size(g) - 1, *y = NULL, rc = 1;
    cnn_loader  *l = NULL;
    char         csv[4096], ckpt[4096], best[4096];
    FILE        *f = NULL;
    double       test_loss = 0, test_acc = 0;
    int64_t      steps;
    cnn_sched    sched = c->sched;
    struct stat  sb;
    /* An MPI job (dist.h): each rank takes every ranks-th image of the
     * epoch's order, so a step's batches on all ranks together are the one
     * batch a single process would take; rank 0 alone prints and writes. */
    dist          *d     = NULL;
    cnn_loader_cfg lc    = c->loader;
    const int      ranks = dist_size(), pb = c->batch / ranks;
    const bool     lead  = dist_rank() == 0;
    char           report[256];

    snprintf(csv, sizeof csv, "%s/metrics.csv", c->out_dir);
    snprintf(ckpt, sizeof ckpt, "%s/last", c->out_dir);
    snprintf(best, sizeof best, "%s/best", c->out_dir);
    if (c->batch % ranks != 0) {
        cli_error(c->cmd, "a batch of %d does not split over %d ranks; give a multiple of %d",
                  c->batch, ranks, ranks);
        goto out;
    }
    lc.batch  = pb;
    lc.shard  = dist_rank();
    lc.shards = ranks;
    if (!(d = dist_new(g, opt, st, c->sync_bn)) || !(l = cnn_loader_new(train, &lc)) ||
        !(y = calloc((size_t)pb, sizeof *y)) || cnn_graph_set_threads(g, c->threads) < 0 ||
        cnn_graph_share_grads(g, true) < 0 || cnn_graph_plan(g, pb) < 0) {
        cli_error(c->cmd, "%s", cnn_last_error());
        goto out;
    }
    steps = cnn_loader_batches(l);
    if (dist_min(d, &steps) < 0) {
        cli_error(c->cmd, "%s", cnn_last_error());
        goto out;
    }
    sched.total_steps  = steps * c->epochs;
    sched.warmup_steps = steps * c->warmup_epochs;
    sched.step_size    = steps * c->step_epochs;
    if (steps == 0) {
        cli_error(c->cmd, "the training set has %lld images, fewer than one batch of %d",
                  (long long)train->n, c->batch);
        goto out;
    }
    if (lead && (st->epoch == 0 || stat(csv, &sb) != 0)) {
        if (!(f = fopen(csv, "w")) || fputs(CSV_HEADER, f) < 0 || fclose(f) != 0) {
            f = NULL;
            cli_error(c->cmd, "%s: %s", csv, strerror(errno));
            goto out;
        }
        f = NULL;
    } else if (lead && csv_trim(csv, st->epoch) < 0) {
        cli_error(c->cmd, "%s: %s", csv, strerror(errno));
        goto out;
    }
    cnn_graph_rng_set(g, st->rng);

    for (int64_t epoch = st->epoch; epoch < c->epochs; epoch++) {
        double  t0 = now(), sum_loss = 0;
        int64_t hits = 0, seen = 0, step = 0;
        float   lr = 0;
        int     n = 0; /* no step at all (steps == 0) is not an error */

        if (cnn_loader_start(l, epoch, 0) < 0 || dist_epoch_begin(d) < 0) {
            cli_error(c->cmd, "%s", cnn_last_error());
            goto out;
        }
        while (step < steps && (n = cnn_loader_next(l, cnn_graph_data(g, 0), y)) > 0) {
            float loss;
            int   correct;
            lr = cnn_sched_lr(&sched, st->step);
            if (cnn_graph_forward(g, CNN_TRAIN) < 0 ||
                cnn_graph_softmax_xent(g, last, y, c->label_smoothing, &loss, &correct) < 0) {
                cli_error(c->cmd, "%s", cnn_last_error());
                goto out;
            }
            if (!isfinite(loss)) {
                if (c->tty && lead)
                    fputc('\n', stderr);
                cli_error(c->cmd, "the loss became %g at epoch %lld, step %lld; stopping (the last "
                          "good checkpoint, %s, is kept)", (double)loss, (long long)epoch + 1,
                          (long long)step + 1, ckpt);
                goto out;
            }
            /* With several ranks, gradients are summed while backward
             * runs and averaged before the update; loss and correct
             * become the whole batch's. */
            if (dist_step_begin(d, loss, correct) < 0 || cnn_graph_zero_param_grads(g) < 0 ||
                cnn_graph_backward(g) < 0 || dist_step_end(d, &loss, &correct) < 0 ||
                cnn_optim_step(opt, lr) < 0) {
                cli_error(c->cmd, "%s", cnn_last_error());
                goto out;
            }
            st->step++;
            step++;
            sum_loss += loss;
            hits += correct;
            seen += (int64_t)n * ranks;
            double el = now() - t0;
            if (lead)
                progress(c, epoch, step, steps, sum_loss / step, (double)hits / seen, seen / el,
                         el / step * (steps - step));
        }
        if (n < 0) {
            cli_error(c->cmd, "%s", cnn_last_error());
            goto out;
        }
        double train_s = now() - t0;
        if (c->tty && lead)
            fputc('\n', stderr);
        if (dist_evaluate(d, c->cmd, test, c->loader.mean, c->loader.std, &test_loss,
                          &test_acc))
            goto out;
        if (dist_epoch_end(d, train_s, report, sizeof report) < 0) {
            cli_error(c->cmd, "%s", cnn_last_error());
            goto out;
        }

        st->epoch = epoch + 1;
        cnn_graph_rng_get(g, st->rng);
        bool improved = test_acc > st->best_metric || epoch == 0;
        if (improved)
            st->best_metric = test_acc;
        printf("epoch %lld/%d: train loss %.4f acc %.4f | test loss %.4f acc %.4f | lr %.5f | "
               "%.1f s, %.0f img/s\n", (long long)epoch + 1, c->epochs, sum_loss / step,
               (double)hits / seen, test_loss, test_acc, (double)lr, train_s, seen / train_s);
        if (report[0])
            printf("  allreduce: %s\n", report);
        fflush(stdout);
        if (lead && (!(f = fopen(csv, "a")) ||
                     fprintf(f, "%lld,%.6f,%.6f,%.6f,%.6f,%.8f,%.3f,%.1f\n", (long long)epoch + 1,
                             sum_loss / step, (double)hits / seen, test_loss, test_acc, (double)lr,
                             train_s, seen / train_s) < 0 || fclose(f) != 0)) {
            f = NULL;
            cli_error(c->cmd, "%s: %s", csv, strerror(errno));
            goto out;
        }
        f = NULL;
        if (lead && (cnn_checkpoint_save(ckpt, g, opt, st, c->meta_text) < 0 ||
                     (improved && cnn_checkpoint_save(best, g, opt, st, c->meta_text) < 0))) {
            cli_error(c->cmd, "%s", cnn_last_error());
            goto out;
        }
        if (c->stop_after && epoch + 1 >= c->stop_after && epoch + 1 < c->epochs) {
            printf("stopped after epoch %lld of %d as asked; continue with --resume\n",
                   (long long)epoch + 1, c->epochs);
            break;
        }
    }
    printf("test accuracy: %.4f\n", test_acc);
    rc = 0;
out:
    if (f)
        fclose(f);
    dist_free(d);
    cnn_loader_free(l);
    free(y);
    return rc;
}

/* ==== @@COMMAND ==== */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn train --model MODEL --data SPEC --out DIR [options]\n"
            "       cnn train --out DIR --resume [--epochs N] [--threads T]\n"
            "\n"
            "Trains MODEL (a zoo name or a network-description file) on SPEC\n"
            "(fashion-mnist, or a directory of MNIST-format IDX files, CIFAR-10 binary\n"
            "batches, or train/ and test/ image folders), evaluates on the test split after\n"
            "every epoch, appends to DIR/metrics.csv and writes the checkpoints DIR/last and\n"
            "DIR/best. The last line printed is 'test accuracy: 0.XXXX'.\n"
            "Under `mpirun -np N`, N processes share every batch of B (each takes B/N)\n"
            "and average their gradients; rank 0 prints and writes (docs/distributed.md).\n"
            "\n"
            "  --model M          zoo name or description file (default lenet5)\n"
            "  --data SPEC        dataset (default fashion-mnist)\n"
            "  --input CxHxW      model input for an image folder (default: the data's)\n"
            "  --epochs N         (lenet5: 20, resnets: 30, others: 10)\n"
            "  --batch B          (lenet5: 64, others: 128)\n"
            "  --optimizer O      sgd, adam or adamw (default sgd)\n"
            "  --lr X             base learning rate (sgd: 0.02 for lenet5, 0.1 otherwise;\n"
            "                     adam/adamw: 0.001)\n"
            "  --momentum M       sgd momentum (default 0.9)\n"
            "  --nesterov         Nesterov momentum\n"
            "  --weight-decay W   (lenet5: 1e-3, others 5e-4; adamw: decoupled)\n"
            "  --schedule S       cosine, step or const (default cosine)\n"
            "  --step-size E      step schedule: epochs between decays (default epochs/3)\n"
            "  --gamma G          step schedule: decay factor (default 0.1)\n"
            "  --warmup E         linear warm-up over E epochs (default 0)\n"
            "  --label-smoothing X  (lenet5: 0.1, others 0)\n"
            "  --augment LIST     crop,flip (random crop after 4-pixel padding, mirror)\n"
            "  --init I           pytorch, he or xavier (default pytorch)\n"
            "  --seed S           (default 1)\n"
            "  --threads T        (default: every CPU; under mpirun, the CPUs divided among\n"
            "                     the ranks on each machine)\n"
            "  --sync-bn          under mpirun: batch-norm statistics over the whole batch of\n"
            "                     all ranks (default: each rank's share; docs/distributed.md)\n"
            "  --limit N          train on the first N training images only\n"
            "  --test-limit N     test on the first N test images only\n"
            "  --data-classes LO-HI  keep only labels LO..HI (train and test), as 0..HI-LO\n"
            "  --train-sample N   train on N training images drawn at random (from --seed)\n"
            "  --stop-after E     stop after epoch E as if interrupted (resume later)\n"
            "  --out DIR          where checkpoints and metrics go (created)\n"
            "  --resume           continue the run in DIR from DIR/last with its own settings\n"
            "                     (only --epochs, --threads and --stop-after may be given)\n");
}

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

void run_defaults(run *r)
{
    bool lenet = strcmp(r->model, "lenet5") == 0, res = starts(r->model, "resnet");
    /* LeNet-5's recipe (bench/README.md): 20 epochs, weight decay 1e-3,
     * label smoothing 0.1; the rest as the common SGD recipe. */
    if (!r->epochs)
        r->epochs = lenet ? 20 : res ? 30 : 10;
    if (r->wd < 0)
        r->wd = lenet ? 1e-3f : 5e-4f;
    if (r->smoothing < 0)
        r->smoothing = lenet ? 0.1f : 0.0f;
    if (!r->batch)
        r->batch = lenet ? 64 : 128;
    if (r->lr <= 0)
        r->lr = strcmp(r->optimizer, "sgd") != 0 ? 0.001f : lenet ? 0.02f : 0.1f;
    if (r->step_size <= 0)
        r->step_size = r->epochs / 3 > 0 ? r->epochs / 3 : 1;
}

void run_to_meta(const run *r, meta *m)
{
    meta_set(m, "model", "%s", r->model);
    meta_set(m, "data", "%s", r->data);
    meta_set(m, "input", "%dx%dx%d", r->c, r->h, r->w);
    meta_set(m, "epochs", "%d", r->epochs);
    meta_set(m, "batch", "%d", r->batch);
    meta_set(m, "optimizer", "%s", r->optimizer);
    meta_set(m, "lr", "%.9g", (double)r->lr);
    meta_set(m, "momentum", "%.9g", (double)r->momentum);
    meta_set(m, "nesterov", "%d", r->nesterov);
    meta_set(m, "weight_decay", "%.9g", (double)r->wd);
    meta_set(m, "schedule", "%s", r->schedule);
    meta_set(m, "step_size", "%d", r->step_size);
    meta_set(m, "gamma", "%.9g", (double)r->gamma);
    meta_set(m, "warmup", "%d", r->warmup);
    meta_set(m, "label_smoothing", "%.9g", (double)r->smoothing);
    meta_set(m, "crop_pad", "%d", r->crop_pad);
    meta_set(m, "flip", "%d", r->flip);
    meta_set(m, "init", "%s", r->init);
    meta_set(m, "seed", "%lld", r->seed);
    meta_set(m, "limit", "%d", r->limit);
    meta_set(m, "test_limit", "%d", r->test_limit);
    if (r->class_lo >= 0)
        meta_set(m, "data_classes", "%d-%d", r->class_lo, r->class_hi);
    meta_set(m, "train_sample", "%d", r->sample);
    meta_set(m, "sync_bn", "%d", r->sync_bn);
}

int run_from_meta(const char *t, run *r)
{
    char b[1024];
    int  ok = 1;
#define GET(key) (meta_get(t, key, b, sizeof b) ? b : (ok = 0, "0"))
    snprintf(r->model, sizeof r->model, "%s", GET("model"));
    snprintf(r->data, sizeof r->data, "%s", GET("data"));
    if (cli_parse_chw(GET("input"), &r->c, &r->h, &r->w))
        ok = 0;
    r->epochs    = atoi(GET("epochs"));
    r->batch     = atoi(GET("batch"));
    snprintf(r->optimizer, sizeof r->optimizer, "%.15s", GET("optimizer"));
    r->lr        = strtof(GET("lr"), NULL);
    r->momentum  = strtof(GET("momentum"), NULL);
    r->nesterov  = atoi(GET("nesterov"));
    r->wd        = strtof(GET("weight_decay"), NULL);
    snprintf(r->schedule, sizeof r->schedule, "%.15s", GET("schedule"));
    r->step_size = atoi(GET("step_size"));
    r->gamma     = strtof(GET("gamma"), NULL);
    r->warmup    = atoi(GET("warmup"));
    r->smoothing = strtof(GET("label_smoothing"), NULL);
    r->crop_pad  = atoi(GET("crop_pad"));
    r->flip      = atoi(GET("flip"));
    snprintf(r->init, sizeof r->init, "%.15s", GET("init"));
    r->seed      = atoll(GET("seed"));
    r->limit      = atoi(GET("limit"));
    r->test_limit = atoi(GET("test_limit"));
#undef GET
    /* Keys added later: older checkpoints lack them. */
    r->sample   = meta_get(t, "train_sample", b, sizeof b) ? atoi(b) : 0;
    r->sync_bn  = meta_get(t, "sync_bn", b, sizeof b) && atoi(b);
    r->class_lo = r->class_hi = -1;
    if (meta_get(t, "data_classes", b, sizeof b) &&
        cli_parse_classes(b, &r->class_lo, &r->class_hi))
        ok = 0;
    return ok ? 0 : -1;
}

void data_to_meta(const cnn_dataset *d, const float *mean, const float *std, meta *m)
{
    char buf[256], key[32];
    meta_set(m, "classes", "%d", d->classes);
    for (int k = 0; d->class_names && k < d->classes; k++) {
        snprintf(key, sizeof key, "class.%d", k);
        meta_set(m, key, "%s", d->class_names[k]);
    }
    cli_floats_str(mean, d->c, buf, sizeof buf);
    meta_set(m, "mean", "%s", buf);
    cli_floats_str(std, d->c, buf, sizeof buf);
    meta_set(m, "std", "%s", buf);
}

/* Builds the model for the data: a zoo model at the data's size and class
 * count, or a description file that must fit them. */
static cnn_graph *build_model(const run *r, const cnn_dataset *d)
{
    cnn_graph *g;
    cnn_shape  in, out;
    char       s[64];
    bool       zoo = false;

    for (int i = 0; cnn_model_name(i); i++)
        zoo |= strcmp(cnn_model_name(i), r->model) == 0;
    if (!(g = cli_load_model("train", r->model, d->classes, d->c, d->h, d->w, false)))
        return NULL;
    cnn_node_info(g, 0, NULL, NULL, &in);
    cnn_node_info(g, cnn_graph_size(g) - 1, NULL, NULL, &out);
    if (!zoo && (in.ndim != 3 || in.dim[0] != d->c || in.dim[1] != d->h || in.dim[2] != d->w)) {
        cli_error("train", "%s takes %s input, the data is %dx%dx%d", r->model,
                  cnn_shape_str(&in, s, sizeof s), d->c, d->h, d->w);
        cnn_graph_free(g);
        return NULL;
    }
    if (cnn_shape_numel(&out) != d->classes || out.dim[0] != d->classes) {
        cli_error("train", "%s ends in %s outputs, the data has %d classes", r->model,
                  cnn_shape_str(&out, s, sizeof s), d->classes);
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

cnn_optim *make_optim(const run *r, cnn_graph *g)
{
    cnn_optim_kind k = strcmp(r->optimizer, "adam") == 0    ? CNN_ADAM
                       : strcmp(r->optimizer, "adamw") == 0 ? CNN_ADAMW
                                                            : CNN_SGD;
    cnn_optim_cfg  c = cnn_optim_defaults(k);
    c.lr           = r->lr;
    c.weight_decay = r->wd;
    if (k == CNN_SGD) {
        c.momentum = r->momentum;
        c.nesterov = r->nesterov;
    }
    return cnn_optim_new(g, &c);
}

int fill_fit(const run *r, const cnn_dataset *train, const float *mean, const float *std,
             fit_cfg *c)
{
    c->cmd    = "train";
    c->epochs = r->epochs;
    c->batch  = r->batch;
    c->threads = r->threads;
    c->tty    = isatty(STDERR_FILENO);
    c->sched  = (cnn_sched){
        .kind  = strcmp(r->schedule, "step") == 0     ? CNN_SCHED_STEP
                 : strcmp(r->schedule, "const") == 0 ? CNN_SCHED_CONST
                                                     : CNN_SCHED_COSINE,
        .lr    = r->lr,
        .gamma = r->gamma,
    };
    c->warmup_epochs   = r->warmup;
    c->step_epochs     = r->step_size;
    c->label_smoothing = r->smoothing;
    c->sync_bn         = r->sync_bn;
    c->loader          = cnn_loader_defaults(r->batch);
    c->loader.shuffle   = true;
    c->loader.drop_last = true; /* batch statistics need whole batches */
    c->loader.crop_pad  = r->crop_pad;
    c->loader.hflip     = r->flip;
    c->loader.seed      = (uint64_t)r->seed;
    c->loader.prefetch  = true;
    for (int ch = 0; ch < train->c && ch < 4; ch++) {
        c->loader.mean[ch] = mean[ch];
        c->loader.std[ch]  = std[ch] > 0 ? std[ch] : 1.0f;
    }
    return 0;
}

/* Keeps the first n images of *d (all classes), for quick runs. */
static int limit_data(const char *cmd, cnn_dataset **d, int n)
{
    cnn_dataset *s;
    if (n <= 0 || n >= (*d)->n)
        return 0;
    if (!(s = cnn_dataset_subset(*d, 0, (*d)->classes - 1, n)))
        return cli_error(cmd, "%s", cnn_last_error()) ? -1 : -1;
    s->classes = (*d)->classes; /* a small subset may miss the last classes */
    cnn_dataset_free(*d);
    *d = s;
    return 0;
}

int run_load_data(const char *cmd, const run *r, cnn_dataset **train, cnn_dataset **test)
{
    if (cli_load_data(cmd, r->data, r->c, r->h, r->w, train, test) == 0 &&
        cli_select_data(cmd, r->class_lo, r->class_hi, r->sample, (uint64_t)r->seed, train,
                        test) == 0 &&
        limit_data(cmd, train, r->limit) == 0 && limit_data(cmd, test, r->test_limit) == 0)
        return 0;
    cnn_dataset_free(*train);
    cnn_dataset_free(*test);
    *train = *test = NULL;
    return -1;
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

/* The training flags cnn train and cnn finetune share, by their option
 * letters: e b o M N w s S G W L a r t x X A C T B. 1 when `opt` is one and
 * its value is good, -1 (the reason printed) when its value is not, 0 when
 * it is not one of them. */
int run_parse_flag(const char *cmd, int opt, const char *arg, run *r, int *epochs,
                   int *stop_after)
{
    switch (opt) {
    case 'e':
        if (cli_parse_int(arg, 1, 1000000, epochs))
            return -cli_error(cmd, "--epochs %s: expected a positive integer", arg);
        return 1;
    case 'b':
        if (cli_parse_int(arg, 1, 1 << 16, &r->batch))
            return -cli_error(cmd, "--batch %s: expected 1 to 65536", arg);
        return 1;
    case 'o':
        if (!one_of(arg, "sgd", "adam", "adamw"))
            return -cli_error(cmd, "--optimizer %s: expected sgd, adam or adamw", arg);
        snprintf(r->optimizer, sizeof r->optimizer, "%s", arg);
        return 1;
    case 'M':
        if (cli_parse_float(arg, 0.0f, 0.999999f, &r->momentum))
            return -cli_error(cmd, "--momentum %s: expected 0 <= m < 1", arg);
        return 1;
    case 'N': r->nesterov = true; return 1;
    case 'w':
        if (cli_parse_float(arg, 0.0f, 10.0f, &r->wd))
            return -cli_error(cmd, "--weight-decay %s: expected 0 to 10", arg);
        return 1;
    case 's':
        if (!one_of(arg, "cosine", "step", "const"))
            return -cli_error(cmd, "--schedule %s: expected cosine, step or const", arg);
        snprintf(r->schedule, sizeof r->schedule, "%s", arg);
        return 1;
    case 'S':
        if (cli_parse_int(arg, 1, 1000000, &r->step_size))
            return -cli_error(cmd, "--step-size %s: expected a positive integer", arg);
        return 1;
    case 'G':
        if (cli_parse_float(arg, 0.0f, 1.0f, &r->gamma))
            return -cli_error(cmd, "--gamma %s: expected 0 to 1", arg);
        return 1;
    case 'W':
        if (cli_parse_int(arg, 0, 1000000, &r->warmup))
            return -cli_error(cmd, "--warmup %s: expected a whole number of epochs", arg);
        return 1;
    case 'L':
        if (cli_parse_float(arg, 0.0f, 0.999f, &r->smoothing))
            return -cli_error(cmd, "--label-smoothing %s: expected 0 <= x < 1", arg);
        return 1;
    case 'a': {
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", arg);
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "crop") == 0)
                r->crop_pad = 4;
            else if (strcmp(t, "flip") == 0)
                r->flip = true;
            else if (strcmp(t, "none") != 0)
                return -cli_error(cmd, "--augment %s: expected crop, flip or both", arg);
        }
        return 1;
    }
    case 'r': {
        int s;
        if (cli_parse_int(arg, 0, 2147483647, &s))
            return -cli_error(cmd, "--seed %s: expected 0 to 2^31-1", arg);
        r->seed = s;
        return 1;
    }
    case 't':
        if (cli_parse_int(arg, 1, 256, &r->threads))
            return -cli_error(cmd, "--threads %s: expected 1 to 256", arg);
        return 1;
    case 'x':
    case 'X':
        if (cli_parse_int(arg, 1, 2147483647, opt == 'x' ? &r->limit : &r->test_limit))
            return -cli_error(cmd, "--%s %s: expected a positive number of images",
                              opt == 'x' ? "limit" : "test-limit", arg);
        return 1;
    case 'A':
        if (cli_parse_int(arg, 1, 1000000, stop_after))
            return -cli_error(cmd, "--stop-after %s: expected a positive epoch", arg);
        return 1;
    case 'C':
        if (cli_parse_classes(arg, &r->class_lo, &r->class_hi))
            return -cli_error(cmd, "--data-classes %s: expected LO-HI, such as 5-9", arg);
        return 1;
    case 'T':
        if (cli_parse_int(arg, 1, 2147483647, &r->sample))
            return -cli_error(cmd, "--train-sample %s: expected a positive number of images", arg);
        return 1;
    case 'B': r->sync_bn = true; return 1;
    default: return 0;
    }
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},     {"data", required_argument, NULL, 'd'},
        {"input", required_argument, NULL, 'i'},     {"epochs", required_argument, NULL, 'e'},
        {"batch", required_argument, NULL, 'b'},     {"optimizer", required_argument, NULL, 'o'},
        {"lr", required_argument, NULL, 'l'},        {"momentum", required_argument, NULL, 'M'},
        {"nesterov", no_argument, NULL, 'N'},        {"weight-decay", required_argument, NULL, 'w'},
        {"schedule", required_argument, NULL, 's'},  {"step-size", required_argument, NULL, 'S'},
        {"gamma", required_argument, NULL, 'G'},     {"warmup", required_argument, NULL, 'W'},
        {"label-smoothing", required_argument, NULL, 'L'},
        {"augment", required_argument, NULL, 'a'},   {"init", required_argument, NULL, 'I'},
        {"seed", required_argument, NULL, 'r'},      {"threads", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'O'},       {"resume", no_argument, NULL, 'R'},
        {"limit", required_argument, NULL, 'x'},     {"test-limit", required_argument, NULL, 'X'},
        {"stop-after", required_argument, NULL, 'A'},
        {"data-classes", required_argument, NULL, 'C'},
        {"train-sample", required_argument, NULL, 'T'},
        {"sync-bn", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    run             r = {.model = "lenet5", .data = "fashion-mnist", .optimizer = "sgd",
                         .schedule = "cosine", .init = "pytorch", .momentum = 0.9f, .wd = -1,
                         .smoothing = -1, .class_lo = -1, .class_hi = -1,
                         .gamma = 0.1f, .seed = 1, .threads = cli_cpus()};
    const char     *out_dir = NULL;
    bool            resume = false, other = false;
    int             opt, rc = 1, epochs_flag = 0, stop_after = 0;
    cnn_graph      *g = NULL;
    cnn_optim      *o = NULL;
    cnn_dataset    *train = NULL, *test = NULL;
    cnn_train_state st = {0};
    char           *saved = NULL, path[4096], buf[512];
    float           mean[4] = {0, 0, 0, 0}, std[4] = {1, 1, 1, 1};
    meta            m;
    fit_cfg         fc;

    meta_init(&m);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        other |= !strchr("etORAh", opt);
        switch (opt) {
        case 'm': snprintf(r.model, sizeof r.model, "%s", optarg); break;
        case 'd': snprintf(r.data, sizeof r.data, "%s", optarg); break;
        case 'i':
            if (cli_parse_chw(optarg, &r.c, &r.h, &r.w))
                return cli_error("train", "--input %s: expected CxHxW", optarg);
            break;
        case 'l':
            if (cli_parse_float(optarg, 1e-12f, 100.0f, &r.lr))
                return cli_error("train", "--lr %s: expected a positive number", optarg);
            break;
        case 'I':
            if (!one_of(optarg, "pytorch", "he", "xavier"))
                return cli_error("train", "--init %s: expected pytorch, he or xavier", optarg);
            snprintf(r.init, sizeof r.init, "%s", optarg);
            break;
        case 'O': out_dir = optarg; break;
        case 'R': resume = true; break;
        case 'h': usage(stdout); return 0;
        default: {
            int k = run_parse_flag("train", opt, optarg, &r, &epochs_flag, &stop_after);
            if (k < 0)
                return 1;
            if (k == 0) {
                usage(stderr);
                return 2;
            }
        }
        }
    }
    if (optind < argc)
        return cli_error("train", "unexpected argument '%s' (see --help)", argv[optind]);
    if (!out_dir)
        return cli_error("train", "--out DIR is required: checkpoints and metrics go there");

    if (resume) {
        int threads = r.threads;
        if (other)
            return cli_error("train", "--resume takes the run's settings from %s/last; only "
                             "--epochs, --threads and --stop-after may be given", out_dir);
        snprintf(path, sizeof path, "%s/last", out_dir);
        if (!(g = cnn_checkpoint_load(path, &o, &st, &saved)))
            return cli_error("train", "%s", cnn_last_error());
        if (!o || run_from_meta(saved, &r) < 0) {
            cli_error("train", "%s: not a training checkpoint (no optimizer state or settings)",
                      path);
            goto out;
        }
        r.threads = threads;
        if (epochs_flag)
            r.epochs = epochs_flag;
        meta_norm(saved, mean, std);
        if (run_load_data("train", &r, &train, &test))
            goto out;
        printf("resuming %s at epoch %lld of %d (step %lld)\n", path, (long long)st.epoch,
               r.epochs, (long long)st.step);
    } else {
        r.epochs = epochs_flag;
        run_defaults(&r);
        if (run_load_data("train", &r, &train, &test))
            goto out;
        r.c = train->c, r.h = train->h, r.w = train->w;
        if (!(g = build_model(&r, train)))
            goto out;
        cnn_init scheme = strcmp(r.init, "he") == 0       ? CNN_INIT_HE_NORMAL
                          : strcmp(r.init, "xavier") == 0 ? CNN_INIT_XAVIER_UNIFORM
                                                          : CNN_INIT_PYTORCH;
        if (cnn_graph_init(g, scheme, (uint64_t)r.seed) < 0 || !(o = make_optim(&r, g)) ||
            cnn_dataset_stats(train, mean, std) < 0) {
            cli_error("train", "%s", cnn_last_error());
            goto out;
        }
        cnn_graph_rng_get(g, st.rng);
        if (cli_mkdirs(out_dir) != 0) {
            cli_error("train", "%s: %s", out_dir, strerror(errno));
            goto out;
        }
    }
    if (st.epoch >= r.epochs) {
        cli_error("train", "%s/last has already trained %lld epochs of %d; give a larger --epochs "
                  "to continue", out_dir, (long long)st.epoch, r.epochs);
        goto out;
    }
    run_to_meta(&r, &m);
    data_to_meta(train, mean, std, &m);
    if (!m.text) {
        cli_error("train", "out of memory");
        goto out;
    }
    fill_fit(&r, train, mean, std, &fc);
    fc.out_dir    = out_dir;
    fc.meta_text  = m.text;
    fc.stop_after = stop_after;
    if (!resume) {
        cnn_graph_stats gs;
        cnn_graph_stats_get(g, NULL, &gs);
        printf("training %s (%s parameters) on %s: %lld train / %lld test images of %dx%dx%d, "
               "%d classes\n", r.model, cli_commas(gs.params, buf, sizeof buf), r.data,
               (long long)train->n, (long long)test->n, r.c, r.h, r.w, train->classes);
        printf("%s lr %g momentum %g weight decay %g, %s schedule, batch %d, %d epochs, "
               "%d threads, seed %lld\n", r.optimizer, (double)r.lr, (double)r.momentum,
               (double)r.wd, r.schedule, r.batch, r.epochs, r.threads, r.seed);
        fflush(stdout);
    }
    rc = cli_fit(&fc, g, o, &st, train, test);
out:
    meta_free(&m);
    free(saved);
    cnn_optim_free(o);
    cnn_graph_free(g);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    return rc;
}
