/* finetune.c - `cnn finetune`: transfer learning. A trained network (a
 * checkpoint or an ONNX model) loses its classifier head, gets a new one for
 * the new classes, is frozen as asked, and trains with the loop of `cnn
 * train` (progress, metrics, `last` / `best` checkpoints, resume). */
#include "cli.h"
#include "fit.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn finetune --from MODEL.onnx|CKPT --out DIR [options]\n"
            "       cnn finetune --out DIR --resume [--epochs N] [--threads T]\n"
            "\n"
            "Transfer learning: loads a trained network (a checkpoint of cnn train or an\n"
            "ONNX model), replaces its classifier (the last linear layer, or --head) by a\n"
            "new He-initialized one for the data's classes, freezes what --freeze says, and\n"
            "trains as cnn train does: progress, DIR/metrics.csv, DIR/last, DIR/best.\n"
            "\n"
            "  --from PATH        the trained network: a checkpoint, or a .onnx file\n"
            "  --data SPEC        as cnn train (default: the checkpoint's own data)\n"
            "  --data-classes LO-HI  keep only labels LO..HI (train and test), as 0..HI-LO\n"
            "  --train-sample N   train on N training images drawn at random (from --seed)\n"
            "  --classes N        the new head's classes: must be the data's (checked)\n"
            "  --drop-head        a new head even when the old one has as many outputs\n"
            "                     (it is replaced anyway when the counts differ)\n"
            "  --head NAME        the linear layer to replace, with all after it (default:\n"
            "                     the last one); implies --drop-head\n"
            "  --freeze WHAT      none, backbone (all but the head) or LAYER (every node up\n"
            "                     to and including LAYER); frozen layers keep their weights\n"
            "                     and batch norms their running statistics (default none)\n"
            "  --lr X             learning rate of the rest of the network (sgd 0.01,\n"
            "                     adam/adamw 0.001)\n"
            "  --head-lr X        learning rate of the new head (default: --lr)\n"
            "  --epochs N         (default 10)\n"
            "  --batch B          (default 64)\n"
            "  --optimizer, --momentum, --nesterov, --weight-decay (default 5e-4),\n"
            "  --schedule, --step-size, --gamma, --warmup, --label-smoothing (default 0),\n"
            "  --augment, --seed, --threads, --limit, --test-limit, --stop-after,\n"
            "  --sync-bn          as cnn train\n"
            "  --out DIR          where checkpoints and metrics go (created)\n"
            "  --resume           continue the run in DIR from DIR/last with its own settings\n"
            "                     (only --epochs, --threads and --stop-after may be given)\n");
}

/* What finetune adds to a run; saved in the metadata too. */
typedef struct tune {
    char  from[1024], head[256], freeze[256];
    bool  drop_head;
    int   classes;  /* --classes, 0: not given                          */
    float head_lr;  /* 0: the same as --lr                              */
} tune;

static void tune_to_meta(const tune *t, meta *m)
{
    meta_set(m, "finetune_from", "%s", t->from);
    meta_set(m, "finetune_head", "%s", t->head);
    meta_set(m, "finetune_freeze", "%s", t->freeze);
    meta_set(m, "finetune_head_lr", "%.9g", (double)t->head_lr);
}

static int tune_from_meta(const char *text, tune *t)
{
    char b[64];
    if (!meta_get(text, "finetune_from", t->from, sizeof t->from) ||
        !meta_get(text, "finetune_head", t->head, sizeof t->head) ||
        !meta_get(text, "finetune_freeze", t->freeze, sizeof t->freeze) ||
        !meta_get(text, "finetune_head_lr", b, sizeof b))
        return -1;
    t->head_lr = strtof(b, NULL);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* The trained network and, for a checkpoint, its metadata. The image input
 * must be node 0 (the training loop feeds node 0). */
static cnn_graph *load_source(const char *path, char **srcmeta)
{
    cnn_graph *g;
    cnn_shape  in;

    *srcmeta = NULL;
    if (ends_with(path, ".onnx")) {
        cnn_onnx_opts o = {0};
        int           data = 0;
        if (!(g = cnn_onnx_load(path, &o))) {
            cli_error("finetune", "--from %s: %s", path, cnn_last_error());
            return NULL;
        }
        for (int k = 0; k < o.n_inputs; k++)
            data += o.inputs[k].node >= 0;
        if (data != 1 || o.inputs[0].node != 0) {
            cli_error("finetune", "--from %s: the model has %d data inputs (the first is node %d); "
                      "finetune takes one image input, the graph's first node", path, data,
                      o.inputs[0].node);
            cnn_graph_free(g);
            return NULL;
        }
    } else if (!(g = cnn_checkpoint_load(path, NULL, NULL, srcmeta))) {
        cli_error("finetune", "--from %s", cnn_last_error());
        return NULL;
    }
    cnn_node_info(g, 0, NULL, NULL, &in);
    if (in.ndim != 3) {
        char s[64];
        cli_error("finetune", "--from %s: the input is %s; finetune takes images (CxHxW)", path,
                  cnn_shape_str(&in, s, sizeof s));
        free(*srcmeta);
        *srcmeta = NULL;
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

/* Replaces the head of *g by a new linear layer of `classes` outputs, He-
 * initialized from the seed, when asked or when the old one does not fit;
 * *head gets the head's id. */
static int new_head(const tune *t, int classes, uint64_t seed, cnn_graph **g, int *head)
{
    int         last = cnn_graph_size(*g) - 1, feat, id, old;
    cnn_op      op;
    cnn_shape   out, fs;
    const char *name;
    cnn_graph  *ng;
    char        ss[64];

    cnn_node_info(*g, last, &op, &name, &out);
    if (!t->drop_head && op == CNN_OP_LINEAR && out.dim[0] == classes) {
        printf("keeping the head '%s' (%d outputs, as many as the classes; --drop-head replaces "
               "it)\n", name, classes);
        *head = last;
        return 0;
    }
    if (!(ng = cnn_graph_drop_head(*g, t->head[0] ? t->head : NULL, &feat))) {
        cli_error("finetune", "%s: %s", t->from, cnn_last_error());
        return -1;
    }
    old = cnn_graph_size(ng); /* every node before the head was kept */
    cnn_node_info(*g, old, NULL, &name, &out);
    cnn_node_info(ng, feat, NULL, NULL, &fs);
    if ((id = cnn_linear(ng, feat, classes, true, name)) < 0 ||
        cnn_node_init(ng, id, CNN_INIT_HE_NORMAL, seed) < 0) {
        cli_error("finetune", "%s", cnn_last_error());
        cnn_graph_free(ng);
        return -1;
    }
    printf("new head '%s': %s features -> %d classes, He-initialized (the old one had %lld "
           "outputs", name, cnn_shape_str(&fs, ss, sizeof ss), classes, (long long)out.dim[0]);
    if (last > old)
        printf("; %d node%s after it dropped", last - old, last - old > 1 ? "s" : "");
    printf(")\n");
    cnn_graph_free(*g);
    *g    = ng;
    *head = id;
    return 0;
}

/* Frozen: none, every node but the head, or nodes 0 .. LAYER. */
static int freeze(const char *what, cnn_graph *g, int head)
{
    const char *head_name;
    int         upto;

    cnn_node_info(g, head, NULL, &head_name, NULL);
    if (strcmp(what, "none") == 0)
        upto = -1;
    else if (strcmp(what, "backbone") == 0)
        upto = head - 1;
    else if ((upto = cnn_graph_find(g, what)) < 0)
        return cli_error("finetune", "--freeze %s: no node of that name (expected none, backbone "
                         "or a layer name)", what) ? -1 : -1;
    else if (upto >= head)
        return cli_error("finetune", "--freeze %s: that would freeze the head '%s' too, leaving "
                         "nothing to train", what, head_name) ? -1 : -1;
    for (int i = 0; i < cnn_graph_size(g); i++)
        cnn_node_set_trainable(g, i, i > upto);
    return 0;
}

/* The fine-tuning recipe for what the flags left unset: a smaller step
 * than training from scratch, then `cnn train`'s generic defaults. */
static void tune_defaults(run *r)
{
    if (!r->epochs)
        r->epochs = 10;
    if (!r->batch)
        r->batch = 64;
    if (r->lr <= 0)
        r->lr = strcmp(r->optimizer, "sgd") == 0 ? 0.01f : 0.001f;
    run_defaults(r);
}

/* The dropout RNG's 4 words from the seed (splitmix64, never all zero). */
static void seed_rng(uint64_t seed, uint64_t s[4])
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
        z    = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z    = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        s[i] = z ^ (z >> 31);
    }
}

int cmd_finetune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'F'},      {"data", required_argument, NULL, 'd'},
        {"classes", required_argument, NULL, 'K'},   {"drop-head", no_argument, NULL, 'D'},
        {"head", required_argument, NULL, 'H'},      {"freeze", required_argument, NULL, 'Z'},
        {"lr", required_argument, NULL, 'l'},        {"head-lr", required_argument, NULL, 'Y'},
        {"epochs", required_argument, NULL, 'e'},    {"batch", required_argument, NULL, 'b'},
        {"optimizer", required_argument, NULL, 'o'}, {"momentum", required_argument, NULL, 'M'},
        {"nesterov", no_argument, NULL, 'N'},        {"weight-decay", required_argument, NULL, 'w'},
        {"schedule", required_argument, NULL, 's'},  {"step-size", required_argument, NULL, 'S'},
        {"gamma", required_argument, NULL, 'G'},     {"warmup", required_argument, NULL, 'W'},
        {"label-smoothing", required_argument, NULL, 'L'},
        {"augment", required_argument, NULL, 'a'},   {"seed", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},   {"out", required_argument, NULL, 'O'},
        {"resume", no_argument, NULL, 'R'},          {"limit", required_argument, NULL, 'x'},
        {"test-limit", required_argument, NULL, 'X'}, {"stop-after", required_argument, NULL, 'A'},
        {"data-classes", required_argument, NULL, 'C'},
        {"train-sample", required_argument, NULL, 'T'},
        {"sync-bn", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    run             r = {.optimizer = "sgd", .schedule = "cosine", .init = "he", .momentum = 0.9f,
                         .wd = -1, .smoothing = -1, .gamma = 0.1f, .seed = 1,
                         .threads = cli_cpus(), .class_lo = -1, .class_hi = -1};
    tune            t = {.freeze = "none"};
    const char     *out_dir = NULL;
    bool            resume = false, other = false, data_given = false;
    int             opt, rc = 1, epochs_flag = 0, stop_after = 0, head = -1;
    cnn_graph      *g = NULL;
    cnn_optim      *o = NULL;
    cnn_dataset    *train = NULL, *test = NULL;
    cnn_train_state st = {0};
    char           *saved = NULL, *srcmeta = NULL, path[4096], buf[64], buf2[64];
    float           mean[4] = {0, 0, 0, 0}, std[4] = {1, 1, 1, 1};
    meta            m;
    fit_cfg         fc;

    meta_init(&m);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        other |= !strchr("etORAh", opt);
        switch (opt) {
        case 'F': snprintf(t.from, sizeof t.from, "%s", optarg); break;
        case 'd':
            snprintf(r.data, sizeof r.data, "%s", optarg);
            data_given = true;
            break;
        case 'K':
            if (cli_parse_int(optarg, 1, 1 << 20, &t.classes))
                return cli_error("finetune", "--classes %s: expected a positive integer", optarg);
            break;
        case 'D': t.drop_head = true; break;
        case 'H':
            snprintf(t.head, sizeof t.head, "%s", optarg);
            t.drop_head = true;
            break;
        case 'Z': snprintf(t.freeze, sizeof t.freeze, "%s", optarg); break;
        case 'l':
        case 'Y':
            if (cli_parse_float(optarg, 1e-12f, 100.0f, opt == 'l' ? &r.lr : &t.head_lr))
                return cli_error("finetune", "--%s %s: expected a positive number",
                                 opt == 'l' ? "lr" : "head-lr", optarg);
            break;
        case 'O': out_dir = optarg; break;
        case 'R': resume = true; break;
        case 'h': usage(stdout); return 0;
        default: {
            int k = run_parse_flag("finetune", opt, optarg, &r, &epochs_flag, &stop_after);
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
        return cli_error("finetune", "unexpected argument '%s' (see --help)", argv[optind]);
    if (!out_dir)
        return cli_error("finetune", "--out DIR is required: checkpoints and metrics go there");

    if (resume) {
        int threads = r.threads;
        if (other)
            return cli_error("finetune", "--resume takes the run's settings from %s/last; only "
                             "--epochs, --threads and --stop-after may be given", out_dir);
        snprintf(path, sizeof path, "%s/last", out_dir);
        if (!(g = cnn_checkpoint_load(path, &o, &st, &saved)))
            return cli_error("finetune", "%s", cnn_last_error());
        if (!o || run_from_meta(saved, &r) < 0 || tune_from_meta(saved, &t) < 0) {
            cli_error("finetune", "%s: not a fine-tuning checkpoint (no optimizer state or "
                      "finetune settings)", path);
            goto out;
        }
        r.threads = threads;
        if (epochs_flag)
            r.epochs = epochs_flag;
        meta_norm(saved, mean, std);
        if (run_load_data("finetune", &r, &train, &test))
            goto out;
        printf("resuming %s at epoch %lld of %d (step %lld)\n", path, (long long)st.epoch,
               r.epochs, (long long)st.step);
    } else {
        cnn_shape in;
        if (!t.from[0])
            return cli_error("finetune", "--from PATH is required: the trained network (a "
                             "checkpoint or a .onnx file)");
        if (!(g = load_source(t.from, &srcmeta)))
            goto out;
        if (!data_given && !meta_get(srcmeta, "data", r.data, sizeof r.data)) {
            cli_error("finetune", "--data SPEC is required: %s names no data", t.from);
            goto out;
        }
        cnn_node_info(g, 0, NULL, NULL, &in);
        r.c = (int)in.dim[0], r.h = (int)in.dim[1], r.w = (int)in.dim[2];
        snprintf(r.model, sizeof r.model, "%s", t.from);
        r.epochs = epochs_flag;
        tune_defaults(&r);
        if (run_load_data("finetune", &r, &train, &test))
            goto out;
        if (train->c != r.c || train->h != r.h || train->w != r.w) {
            cli_error("finetune", "%s takes %dx%dx%d images, %s has %dx%dx%d", t.from, r.c, r.h,
                      r.w, r.data, train->c, train->h, train->w);
            goto out;
        }
        if (t.classes && t.classes != train->classes) {
            cli_error("finetune", "--classes %d: the data has %d classes%s", t.classes,
                      train->classes, r.class_lo >= 0 ? " (in --data-classes)" : "");
            goto out;
        }
        if (new_head(&t, train->classes, (uint64_t)r.seed, &g, &head) < 0 ||
            freeze(t.freeze, g, head) < 0)
            goto out;
        {
            const char *name;
            cnn_node_info(g, head, NULL, &name, NULL);
            snprintf(t.head, sizeof t.head, "%s", name);
        }
        if (!(o = make_optim(&r, g)) ||
            (t.head_lr > 0 && cnn_optim_set_lr_scale(o, head, t.head_lr / r.lr) < 0)) {
            cli_error("finetune", "%s", cnn_last_error());
            goto out;
        }
        /* The backbone learned on inputs normalized its way: keep it. An
         * ONNX model does not say, so the new data's statistics serve. */
        if (meta_get(srcmeta, "mean", buf, sizeof buf))
            meta_norm(srcmeta, mean, std);
        else if (cnn_dataset_stats(train, mean, std) < 0) {
            cli_error("finetune", "%s", cnn_last_error());
            goto out;
        }
        seed_rng((uint64_t)r.seed, st.rng);
        if (cli_mkdirs(out_dir) != 0) {
            cli_error("finetune", "%s: %s", out_dir, strerror(errno));
            goto out;
        }
    }
    if (st.epoch >= r.epochs) {
        cli_error("finetune", "%s/last has already trained %lld epochs of %d; give a larger "
                  "--epochs to continue", out_dir, (long long)st.epoch, r.epochs);
        goto out;
    }
    run_to_meta(&r, &m);
    data_to_meta(train, mean, std, &m);
    tune_to_meta(&t, &m);
    if (!m.text) {
        cli_error("finetune", "out of memory");
        goto out;
    }
    fill_fit(&r, train, mean, std, &fc);
    fc.cmd        = "finetune";
    fc.out_dir    = out_dir;
    fc.meta_text  = m.text;
    fc.stop_after = stop_after;
    if (!resume) {
        cnn_graph_stats gs;
        char            p1[32], p2[32];
        cnn_graph_stats_get(g, NULL, &gs);
        printf("fine-tuning %s (%s parameters, %s trainable) on %s: %lld train / %lld test "
               "images of %dx%dx%d, %d classes\n", t.from, cli_commas(gs.params, p1, sizeof p1),
               cli_commas(gs.trainable, p2, sizeof p2), r.data, (long long)train->n,
               (long long)test->n, r.c, r.h, r.w, train->classes);
        snprintf(buf2, sizeof buf2, "%g", (double)(t.head_lr > 0 ? t.head_lr : r.lr));
        printf("%s lr %g (head '%s' %s) momentum %g weight decay %g, %s schedule, batch %d, "
               "%d epochs, frozen: %s, %d threads, seed %lld\n", r.optimizer, (double)r.lr,
               t.head, buf2, (double)r.momentum, (double)r.wd, r.schedule, r.batch, r.epochs,
               t.freeze, r.threads, r.seed);
        fflush(stdout);
    }
    rc = cli_fit(&fc, g, o, &st, train, test);
out:
    meta_free(&m);
    free(saved);
    free(srcmeta);
    cnn_optim_free(o);
    cnn_graph_free(g);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    return rc;
}
