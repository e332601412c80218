/* test_finetune.c - transfer learning: dropping a classifier head (shapes,
 * parameter counts, copied weights, errors), frozen layers and frozen
 * batch norms under training steps, per-node learning rates against a hand
 * computation, their checkpoint round trip, and random dataset samples. */
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Gradients and inputs from a generator of our own (splitmix64), so the
 * data never depends on the library's RNG. */
static uint64_t data_rng = 1;

static double data_uniform(void)
{
    uint64_t z = (data_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static void fill_uniform(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2.0 * data_uniform() - 1.0);
}

/* ==== @@DROP_HEAD ==== */

/* Drops the head of zoo model `name`, checks what is left against the
 * original node by node, adds a head of `classes` outputs; returns the new
 * graph and its head id. */
static cnn_graph *swap_head(const char *name, int classes, int64_t want_features, int *head)
{
    cnn_graph *g = cnn_model_new(name, 10, 0, 0, 0), *ng;
    cnn_shape  fs, a, b;
    const char *na, *nb;
    int        feat, n;

    T_TRUE(g != NULL);
    T_TRUE(cnn_graph_params(g) != NULL); /* materialized: copied below */
    T_TRUE((ng = cnn_graph_drop_head(g, NULL, &feat)) != NULL);
    n = cnn_graph_size(ng);
    T_EQ(n, cnn_graph_size(g) - 1); /* both models end in their head */
    for (int i = 0; i < n; i++) {
        T_OK(cnn_node_info(g, i, NULL, &na, &a));
        T_OK(cnn_node_info(ng, i, NULL, &nb, &b));
        T_TRUE(strcmp(na, nb) == 0);
        T_EQ(cnn_shape_numel(&a), cnn_shape_numel(&b));
    }
    T_OK(cnn_node_info(ng, feat, NULL, NULL, &fs));
    T_EQ(cnn_shape_numel(&fs), want_features);
    T_EQ(cnn_graph_param_count(ng), cnn_graph_param_count(g) - (want_features * 10 + 10));
    T_EQ(cnn_graph_buffer_count(ng), cnn_graph_buffer_count(g));
    T_TRUE(memcmp(cnn_graph_params(ng), cnn_graph_params(g),
                  (size_t)cnn_graph_param_count(ng) * sizeof(float)) == 0);
    T_TRUE(memcmp(cnn_graph_buffers(ng), cnn_graph_buffers(g),
                  (size_t)cnn_graph_buffer_count(ng) * sizeof(float)) == 0);
    T_OK(*head = cnn_linear(ng, feat, classes, true, "fc_new"));
    T_OK(cnn_node_init(ng, *head, CNN_INIT_HE_NORMAL, 7));
    cnn_graph_free(g);
    return ng;
}

static void drop_head_lenet5(void)
{
    int        head;
    cnn_graph *g = swap_head("lenet5", 5, 84, &head);
    cnn_shape  out;
    float     *w;

    /* 61,706 - (84 * 10 + 10) + (84 * 5 + 5) */
    T_EQ(cnn_graph_param_count(g), 61281);
    T_OK(cnn_node_info(g, head, NULL, NULL, &out));
    T_EQ(out.ndim, 1);
    T_EQ(out.dim[0], 5);
    /* He normal: std sqrt(2/84) = 0.154 over 420 weights, bias 0 */
    T_OK(cnn_node_param(g, head, 0, &w, NULL, NULL, NULL));
    double s2 = 0;
    for (int i = 0; i < 420; i++)
        s2 += (double)w[i] * w[i];
    T_NEAR(sqrt(s2 / 420), sqrt(2.0 / 84), 0.02);
    T_OK(cnn_node_param(g, head, 1, &w, NULL, NULL, NULL));
    for (int i = 0; i < 5; i++)
        T_FEQ(w[i], 0.0f);
    /* the result runs */
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    cnn_graph_free(g);
}

static void drop_head_resnet20(void)
{
    int        head;
    cnn_graph *g = swap_head("resnet20", 3, 64, &head);
    cnn_graph_stats st;

    /* 272,474 - (64 * 10 + 10) + (64 * 3 + 3) */
    T_EQ(cnn_graph_param_count(g), 272019);
    T_OK(cnn_graph_stats_get(g, NULL, &st));
    T_EQ(st.params, 272019);
    T_EQ(st.buffers, 1568);
    T_EQ(st.depth, 20);
    cnn_graph_free(g);
}

/* A named head takes everything after it too; a frozen flag survives. */
static void drop_head_named(void)
{
    cnn_graph *g = cnn_model_new("lenet5", 10, 0, 0, 0), *ng;
    int        feat, conv2;
    const char *name;

    T_TRUE(g != NULL);
    T_OK(conv2 = cnn_graph_find(g, "conv2"));
    T_OK(cnn_node_set_trainable(g, conv2, false));
    T_TRUE((ng = cnn_graph_drop_head(g, "fc1", &feat)) != NULL);
    T_EQ(cnn_graph_size(ng), cnn_graph_find(g, "fc1"));
    T_OK(cnn_node_info(ng, feat, NULL, &name, NULL));
    T_TRUE(strcmp(name, "flatten") == 0);
    T_TRUE(!cnn_node_trainable(ng, conv2));
    T_TRUE(cnn_node_trainable(ng, cnn_graph_find(ng, "conv1")));
    T_EQ(cnn_graph_param_count(ng), 6 * 25 + 6 + 16 * 150 + 16);
    cnn_graph_free(ng);
    cnn_graph_free(g);
}

/* A softmax (or dropout) after the last linear layer goes with it. */
static void drop_head_tail(void)
{
    cnn_graph *g = cnn_graph_new(), *ng;
    int        x, h, fc, feat;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input_flat(g, 6, "x"));
    T_OK(h = cnn_relu(g, cnn_linear(g, x, 5, true, "hidden"), "act"));
    T_OK(fc = cnn_linear(g, h, 3, true, "out"));
    T_OK(cnn_softmax(g, cnn_dropout(g, fc, 0.5f, "drop"), "prob"));
    T_TRUE((ng = cnn_graph_drop_head(g, NULL, &feat)) != NULL);
    T_EQ(cnn_graph_size(ng), fc);
    T_EQ(feat, h);
    cnn_graph_free(ng);
    cnn_graph_free(g);
}

static void drop_head_errors(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr c = cnn_conv2d_defaults(2, 3, 3);
    int             x, fc, feat = -7;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 1, 6, 6, "x"));
    T_OK(cnn_conv2d(g, x, &c, "conv"));
    T_TRUE(cnn_graph_drop_head(g, NULL, &feat) == NULL);
    T_TRUE(strstr(cnn_last_error(), "no linear layer to replace") != NULL);
    T_OK(fc = cnn_linear(g, 1, 4, true, "fc"));
    T_OK(cnn_relu(g, fc, "after"));
    T_TRUE(cnn_graph_drop_head(g, NULL, &feat) == NULL);
    T_TRUE(strstr(cnn_last_error(), "'fc' is followed by relu 'after'") != NULL);
    T_TRUE(cnn_graph_drop_head(g, "conv", &feat) == NULL);
    T_TRUE(strstr(cnn_last_error(), "conv2d 'conv' is not a linear layer") != NULL);
    T_TRUE(cnn_graph_drop_head(g, "nope", &feat) == NULL);
    T_TRUE(strstr(cnn_last_error(), "no node named 'nope'") != NULL);
    T_TRUE(cnn_graph_drop_head(NULL, NULL, &feat) == NULL);
    T_TRUE(cnn_graph_drop_head(g, NULL, NULL) == NULL);
    T_EQ(feat, -7);
    /* naming it works where the default refuses */
    cnn_graph *ng = cnn_graph_drop_head(g, "fc", &feat);
    T_TRUE(ng != NULL);
    T_EQ(cnn_graph_size(ng), 2);
    cnn_graph_free(ng);
    cnn_graph_free(g);
}

/* ==== @@FREEZE ==== */

/* input 1x6x6 -> conv 3 3x3 (3x4x4) -> batch norm -> relu -> flatten (48) -> linear 4 */
static cnn_graph *small_net(int *bn, int *head)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr c = cnn_conv2d_defaults(3, 3, 3);
    int             x, h;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 1, 6, 6, "x"));
    T_OK(h = cnn_conv2d(g, x, &c, "conv"));
    T_OK(*bn = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn"));
    T_OK(h = cnn_flatten(g, cnn_relu(g, *bn, "relu"), "flat"));
    T_OK(*head = cnn_linear(g, h, 4, true, "head"));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 3));
    return g;
}

/* A few SGD steps with momentum and weight decay: the frozen backbone and
 * the frozen batch norm's running statistics keep every bit; the head
 * moves. */
static void frozen_backbone_steps(void)
{
    int        bn, head, labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    cnn_graph *g = small_net(&bn, &head);
    cnn_optim *o;
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    int64_t    np, nb, nh;
    float     *before, *bufs_before, *head_before, *w, loss;

    for (int i = 0; i < head; i++)
        T_OK(cnn_node_set_trainable(g, i, false));
    np = cnn_graph_param_count(g);
    nb = cnn_graph_buffer_count(g);
    nh = 4 * 48 + 4;
    /* running statistics that are not the defaults, as a trained net has */
    fill_uniform(cnn_graph_buffers(g), 3);
    for (int i = 3; i < 6; i++)
        cnn_graph_buffers(g)[i] = 0.5f + (float)i;
    before      = malloc((size_t)np * sizeof *before);
    bufs_before = malloc((size_t)nb * sizeof *bufs_before);
    head_before = malloc((size_t)nh * sizeof *head_before);
    T_TRUE(before && bufs_before && head_before);
    memcpy(before, cnn_graph_params(g), (size_t)np * sizeof *before);
    memcpy(bufs_before, cnn_graph_buffers(g), (size_t)nb * sizeof *bufs_before);
    T_OK(cnn_node_param(g, head, 0, &w, NULL, NULL, NULL));
    memcpy(head_before, w, (size_t)nh * sizeof *head_before);

    c.lr = 0.1f, c.momentum = 0.9f, c.weight_decay = 0.01f;
    T_TRUE((o = cnn_optim_new(g, &c)) != NULL);
    T_OK(cnn_graph_plan(g, 8));
    for (int step = 0; step < 3; step++) {
        fill_uniform(cnn_graph_data(g, 0), 8 * 36);
        T_OK(cnn_graph_forward(g, CNN_TRAIN));
        T_OK(cnn_graph_softmax_xent(g, head, labels, 0.0f, &loss, NULL));
        T_OK(cnn_graph_zero_param_grads(g));
        T_OK(cnn_graph_backward(g));
        T_OK(cnn_optim_step(o, c.lr));
    }
    T_TRUE(memcmp(before, cnn_graph_params(g), (size_t)(np - nh) * sizeof *before) == 0);
    T_TRUE(memcmp(bufs_before, cnn_graph_buffers(g), (size_t)nb * sizeof *bufs_before) == 0);
    for (int64_t i = 0; i < nh; i++)
        T_TRUE(w[i] != head_before[i]);
    /* frozen batch norm in training mode normalizes with its running
     * statistics: the same output as eval mode */
    {
        int64_t n  = 8 * 48;
        float  *yt = malloc((size_t)n * sizeof *yt);
        T_TRUE(yt != NULL);
        T_OK(cnn_graph_forward(g, CNN_TRAIN));
        memcpy(yt, cnn_graph_data(g, bn), (size_t)n * sizeof *yt);
        T_OK(cnn_graph_forward(g, CNN_EVAL));
        T_TRUE(memcmp(yt, cnn_graph_data(g, bn), (size_t)n * sizeof *yt) == 0);
        free(yt);
    }
    free(before);
    free(bufs_before);
    free(head_before);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* ==== @@LR_SCALE ==== */

/* x (3) -> linear 4 "body" -> linear 2 "head": one SGD step with weight
 * decay and momentum, head at lr * 10, against the formulas in float. */
static void lr_scale_sgd_by_hand(void)
{
    cnn_graph    *g = cnn_graph_new();
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    cnn_optim    *o;
    int           x, body, head;
    float        *p, *gr, p0[26], scale;
    const float   lr = 0.05f, wd = 0.01f, mom = 0.9f;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input_flat(g, 3, "x"));
    T_OK(body = cnn_linear(g, x, 4, true, "body"));
    T_OK(head = cnn_linear(g, body, 2, true, "head"));
    T_EQ(cnn_graph_param_count(g), 26);
    c.lr = lr, c.weight_decay = wd, c.momentum = mom;
    T_TRUE((o = cnn_optim_new(g, &c)) != NULL);
    T_OK(cnn_optim_lr_scale(o, head, &scale));
    T_FEQ(scale, 1.0f);
    T_OK(cnn_optim_set_lr_scale(o, head, 10.0f));
    T_OK(cnn_optim_lr_scale(o, head, &scale));
    T_FEQ(scale, 10.0f);
    T_OK(cnn_optim_lr_scale(o, body, &scale));
    T_FEQ(scale, 1.0f);
    p  = cnn_graph_params(g);
    gr = cnn_graph_param_grads(g);
    memcpy(p0, p, sizeof p0);
    /* two steps with the same gradient: the second uses the momentum */
    fill_uniform(gr, 26);
    T_OK(cnn_optim_step(o, lr));
    T_OK(cnn_optim_step(o, lr));
    for (int i = 0; i < 26; i++) {
        float step_lr = i < 16 ? lr : lr * 10.0f; /* body: 4x3 + 4, head: 2x4 + 2 */
        float w = p0[i], d, buf;
        d   = gr[i] + wd * w;             /* step 1: buf = d */
        buf = d;
        w  -= step_lr * buf;
        d   = gr[i] + wd * w;             /* step 2 */
        buf = mom * buf + d;
        w  -= step_lr * buf;
        T_FEQ(p[i], w);
    }
    T_ERR(cnn_optim_set_lr_scale(o, 3, 1.0f), CNN_EINVAL);
    T_ERR(cnn_optim_set_lr_scale(o, head, -1.0f), CNN_EINVAL);
    T_ERR(cnn_optim_set_lr_scale(o, head, NAN), CNN_EINVAL);
    T_ERR(cnn_optim_lr_scale(o, -1, &scale), CNN_EINVAL);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* Adam: the scaled node takes exactly the step of an optimizer whose lr is
 * the scaled one (PyTorch's param group with its own lr). */
static void lr_scale_adam_matches_group(void)
{
    cnn_graph    *a = cnn_graph_new(), *b = cnn_graph_new();
    cnn_optim_cfg c = cnn_optim_defaults(CNN_ADAMW);
    cnn_optim    *oa, *ob;
    int           x, h;

    T_TRUE(a && b);
    T_OK(x = cnn_input_flat(a, 5, "x"));
    T_OK(h = cnn_linear(a, x, 3, true, "head"));
    T_OK(x = cnn_input_flat(b, 5, "x"));
    T_OK(cnn_linear(b, x, 3, true, "head"));
    T_OK(cnn_graph_init(a, CNN_INIT_HE_NORMAL, 4));
    T_OK(cnn_graph_init(b, CNN_INIT_HE_NORMAL, 4));
    c.lr = 0.001f;
    T_TRUE((oa = cnn_optim_new(a, &c)) != NULL);
    c.lr = 0.001f * 4.0f;
    T_TRUE((ob = cnn_optim_new(b, &c)) != NULL);
    T_OK(cnn_optim_set_lr_scale(oa, h, 4.0f));
    for (int t = 0; t < 3; t++) {
        fill_uniform(cnn_graph_param_grads(a), 18);
        memcpy(cnn_graph_param_grads(b), cnn_graph_param_grads(a), 18 * sizeof(float));
        T_OK(cnn_optim_step(oa, 0.001f));
        T_OK(cnn_optim_step(ob, 0.001f * 4.0f));
    }
    T_ARRAY_EQ(cnn_graph_params(a), cnn_graph_params(b), 18);
    cnn_optim_free(oa);
    cnn_optim_free(ob);
    cnn_graph_free(a);
    cnn_graph_free(b);
}

/* The scales travel in checkpoints; files without them read as all 1. */
static void lr_scale_checkpoint(void)
{
    int           bn, head;
    cnn_graph    *g = small_net(&bn, &head), *back;
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    cnn_optim    *o, *ob = NULL;
    char          path[64];
    float         s;

    snprintf(path, sizeof path, "/tmp/cnn_test_ft_%ld.ckpt", (long)getpid());
    c.momentum = 0.9f;
    T_TRUE((o = cnn_optim_new(g, &c)) != NULL);
    T_OK(cnn_checkpoint_save(path, g, o, NULL, NULL));
    T_TRUE((back = cnn_checkpoint_load(path, &ob, NULL, NULL)) != NULL);
    T_TRUE(ob != NULL);
    for (int i = 0; i < cnn_graph_size(back); i++) {
        T_OK(cnn_optim_lr_scale(ob, i, &s));
        T_FEQ(s, 1.0f);
    }
    cnn_optim_free(ob);
    cnn_graph_free(back);

    T_OK(cnn_optim_set_lr_scale(o, head, 7.5f));
    T_OK(cnn_optim_set_lr_scale(o, bn, 0.0f));
    T_OK(cnn_node_set_trainable(g, 1, false));
    T_OK(cnn_checkpoint_save(path, g, o, NULL, NULL));
    T_TRUE((back = cnn_checkpoint_load(path, &ob, NULL, NULL)) != NULL);
    T_TRUE(ob != NULL);
    T_OK(cnn_optim_lr_scale(ob, head, &s));
    T_FEQ(s, 7.5f);
    T_OK(cnn_optim_lr_scale(ob, bn, &s));
    T_FEQ(s, 0.0f);
    T_OK(cnn_optim_lr_scale(ob, 1, &s));
    T_FEQ(s, 1.0f);
    T_TRUE(!cnn_node_trainable(back, 1));
    T_TRUE(cnn_node_trainable(back, head));
    /* without asking for the optimizer, the section is skipped */
    cnn_graph_free(cnn_checkpoint_load(path, NULL, NULL, NULL));
    remove(path);
    cnn_optim_free(ob);
    cnn_graph_free(back);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* ==== @@SAMPLE ==== */

/* Image i holds the value i % 251 in its first pixel and i / 251 in its
 * second, so samples can be traced back. */
static cnn_dataset *numbered(int64_t n, int classes)
{
    cnn_dataset *d = calloc(1, sizeof *d);

    T_TRUE(d != NULL);
    d->n = n, d->c = 1, d->h = 1, d->w = 2, d->classes = classes;
    d->pixels = malloc((size_t)n * 2);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    T_TRUE(d->pixels && d->labels);
    for (int64_t i = 0; i < n; i++) {
        d->pixels[2 * i]     = (uint8_t)(i % 251);
        d->pixels[2 * i + 1] = (uint8_t)(i / 251);
        d->labels[i]         = (int32_t)(i % classes);
    }
    return d;
}

static int64_t origin(const cnn_dataset *s, int64_t j)
{
    return (int64_t)s->pixels[2 * j + 1] * 251 + s->pixels[2 * j];
}

static void dataset_sample(void)
{
    cnn_dataset *d = numbered(3000, 10), *s1, *s2, *s3, *all;
    int64_t      same = 0, counts[10] = {0};

    T_TRUE((s1 = cnn_dataset_sample(d, 1000, 42)) != NULL);
    T_TRUE((s2 = cnn_dataset_sample(d, 1000, 42)) != NULL);
    T_TRUE((s3 = cnn_dataset_sample(d, 1000, 43)) != NULL);
    T_EQ(s1->n, 1000);
    T_EQ(s1->classes, 10);
    T_TRUE(memcmp(s1->pixels, s2->pixels, 2000) == 0);
    T_TRUE(memcmp(s1->labels, s2->labels, 1000 * sizeof *s1->labels) == 0);
    for (int64_t j = 0; j < 1000; j++) {
        int64_t i = origin(s1, j);
        T_TRUE(j == 0 || i > origin(s1, j - 1)); /* file order, no repeats */
        T_EQ(s1->labels[j], i % 10);
        counts[s1->labels[j]]++;
        same += origin(s3, j) == i;
    }
    T_TRUE(same < 500); /* another seed, another sample */
    for (int k = 0; k < 10; k++) /* about 100 each: binomial sd about 9 */
        T_TRUE(counts[k] > 50 && counts[k] < 150);
    T_TRUE((all = cnn_dataset_sample(d, 3000, 1)) != NULL);
    T_TRUE(memcmp(all->pixels, d->pixels, 6000) == 0);
    T_TRUE(cnn_dataset_sample(d, 0, 1) == NULL);
    T_TRUE(strstr(cnn_last_error(), "expected 1 to 3000") != NULL);
    T_TRUE(cnn_dataset_sample(d, 3001, 1) == NULL);
    T_TRUE(cnn_dataset_sample(NULL, 1, 1) == NULL);
    cnn_dataset_free(all);
    cnn_dataset_free(s1);
    cnn_dataset_free(s2);
    cnn_dataset_free(s3);
    cnn_dataset_free(d);
}

int main(void)
{
    T_RUN(drop_head_lenet5);
    T_RUN(drop_head_resnet20);
    T_RUN(drop_head_named);
    T_RUN(drop_head_tail);
    T_RUN(drop_head_errors);
    T_RUN(frozen_backbone_steps);
    T_RUN(lr_scale_sgd_by_hand);
    T_RUN(lr_scale_adam_matches_group);
    T_RUN(lr_scale_checkpoint);
    T_RUN(dataset_sample);
    return t_done("finetune");
}
