/* test_zoo.c - the model zoo, graph statistics and the network-description
 * format: exact parameter counts (torchvision's), the seed's receptive
 * fields, zoo -> text -> graph round trips, a forward pass of every model,
 * and malformed descriptions. */
#include "t.h"

#include <stdio.h>
#include <stdlib.h>

/* torchvision's parameter counts at the default size and class count. */
static const struct {
    const char *name;
    long long   params;
    int         last_in; /* in-features of the final linear layer */
} counts[] = {
    {"lenet5", 61706, 84},           {"alexnet", 61100840, 4096},
    {"vgg11", 132863336, 4096},      {"vgg13", 133047848, 4096},
    {"vgg16", 138357544, 4096},      {"vgg19", 143667240, 4096},
    {"vgg11_bn", 132868840, 4096},   {"vgg13_bn", 133053736, 4096},
    {"vgg16_bn", 138365992, 4096},   {"vgg19_bn", 143678248, 4096},
    {"resnet18", 11689512, 512},     {"resnet34", 21797672, 512},
    {"resnet50", 25557032, 2048},    {"resnet101", 44549160, 2048},
    {"resnet152", 60192808, 2048},   {"resnet20", 272474, 64},
    {"resnet32", 466906, 64},        {"resnet56", 855770, 64},
};
#define N_MODELS (int)(sizeof counts / sizeof *counts)

static void every_model_is_listed(void)
{
    int n = 0;
    while (cnn_model_name(n))
        n++;
    T_EQ(n, N_MODELS);
    for (int i = 0; i < N_MODELS; i++)
        T_TRUE(strcmp(cnn_model_name(i), counts[i].name) == 0);
}

static long long params_of(const char *name, int classes, int c, int h, int w)
{
    cnn_graph *g = cnn_model_new(name, classes, c, h, w);
    long long  n;
    if (!g)
        T_FAILED("%s: %s", name, cnn_last_error());
    n = cnn_graph_param_count(g);
    cnn_graph_free(g);
    return n;
}

static void parameter_counts(void)
{
    for (int i = 0; i < N_MODELS; i++) {
        long long got = params_of(counts[i].name, 0, 0, 0, 0);
        if (got != counts[i].params)
            T_FAILED("%s: %lld parameters, torchvision has %lld", counts[i].name, got,
                     counts[i].params);
    }
}

/* Another input size and 10 (or 5) classes: only the head changes, since
 * VGG and AlexNet pool adaptively to a fixed size as torchvision does. */
static void parameter_counts_second_size(void)
{
    for (int i = 0; i < N_MODELS; i++) {
        const char *nm = counts[i].name;
        bool        lenet = strcmp(nm, "lenet5") == 0;
        bool        small = !strcmp(nm, "resnet20") || !strcmp(nm, "resnet32") || !strcmp(nm, "resnet56");
        int         k = lenet ? 5 : 10, c = lenet ? 1 : 3, hw = lenet ? 28 : small ? 28 : 64;
        long long   f = counts[i].last_in, def_k = (lenet || small) ? 10 : 1000;
        long long   want = counts[i].params - (f * def_k + def_k) + (f * k + k);
        long long   got  = params_of(nm, k, c, hw, hw);
        if (got != want)
            T_FAILED("%s at %dx%dx%d, %d classes: %lld parameters, expected %lld", nm, c, hw, hw,
                     k, got, want);
    }
    /* LeNet-5 at 32x32: fc1 sees 16x6x6 = 576 features. */
    T_EQ(params_of("lenet5", 10, 1, 32, 32), 61706 - 48120 + (576 * 120 + 120));
}

static void unknown_model(void)
{
    T_TRUE(cnn_model_new("resnet51", 0, 0, 0, 0) == NULL);
    T_TRUE(strstr(cnn_last_error(), "resnet51") != NULL);
    T_TRUE(cnn_model_new(NULL, 0, 0, 0, 0) == NULL);
    T_TRUE(cnn_model_new("vgg16", 0, 3, 16, 16) == NULL); /* too small for 5 poolings */
    T_TRUE(cnn_last_error()[0] != '\0');
}

static void depth_and_macs(void)
{
    static const struct { const char *name; int depth; long long macs; } want[] = {
        {"lenet5", 5, 416520},        {"alexnet", 8, 714188480},
        {"vgg16", 16, 15470264320LL}, {"resnet18", 18, 1814073344},
        {"resnet50", 50, 4089184256LL}, {"resnet20", 20, 40813184},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        cnn_graph      *g = cnn_model_new(want[i].name, 0, 0, 0, 0);
        cnn_graph_stats t;
        T_TRUE(g != NULL);
        T_OK(cnn_graph_stats_get(g, NULL, &t));
        T_EQ(t.depth, want[i].depth);
        T_EQ(t.macs, want[i].macs);
        T_EQ(t.trainable, t.params);
        T_EQ(t.non_trainable, 0);
        cnn_graph_free(g);
    }
}

/* MACs of one conv: output elements x C_in/groups x kh x kw. */
static void macs_of_grouped_conv(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(8, 3, 3);
    cnn_node_stats  st[2];
    int             x = cnn_input(g, 4, 10, 10, "x"), c;

    a.groups = 2;
    T_OK(c = cnn_conv2d(g, x, &a, "c"));
    T_OK(cnn_graph_stats_get(g, st, NULL));
    T_EQ(st[c].macs, 8LL * 8 * 8 * (4 / 2) * 9);
    T_EQ(st[c].params, 8 * 2 * 9 + 8);
    cnn_graph_free(g);
}

/* The seed's receptive fields: one, two and three stacked 3x3 convs see
 * 3x3, 5x5, 7x7; a 2x2/2 max pool after them gives 8x8 (not 14x14: the
 * pool adds (2-1) * jump 1 = 1 pixel; it doubles the jump, not the field). */
static void receptive_fields(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    cnn_node_stats  st[8];
    int             x, c1, c2, c3, mp, c4;

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    T_OK(x = cnn_input(g, 1, 32, 32, "x"));
    T_OK(c1 = cnn_conv2d(g, x, &a, "c1"));
    T_OK(c2 = cnn_conv2d(g, c1, &a, "c2"));
    T_OK(c3 = cnn_conv2d(g, c2, &a, "c3"));
    T_OK(mp = cnn_maxpool2d(g, c3, &p, "pool"));
    T_OK(c4 = cnn_conv2d(g, mp, &a, "c4"));
    T_OK(cnn_graph_stats_get(g, st, NULL));
    T_EQ(st[x].rf[0], 1);
    T_EQ(st[c1].rf[0], 3);
    T_EQ(st[c2].rf[0], 5);
    T_EQ(st[c3].rf[0], 7);
    T_EQ(st[c3].rf[1], 7);
    T_EQ(st[mp].rf[0], 8);
    T_EQ(st[mp].jump[0], 2);
    T_EQ(st[c4].rf[0], 12); /* 8 + (3-1) * 2 */
    T_EQ(st[c4].depth, 4);
    cnn_graph_free(g);
}

/* Dilation and branches: a dilated conv spans d*(k-1)+1; an add takes the
 * larger field of its two inputs. */
static void receptive_field_dilation_and_branches(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(2, 3, 3), d = a;
    cnn_node_stats  st[6];
    int             x, c1, c2, s;

    d.dilation[0] = d.dilation[1] = 2;
    d.pad[0] = d.pad[1] = d.pad[2] = d.pad[3] = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    T_OK(x = cnn_input(g, 2, 16, 16, "x"));
    T_OK(c1 = cnn_conv2d(g, x, &d, "dil"));
    T_OK(c2 = cnn_conv2d(g, x, &a, "plain"));
    T_OK(s = cnn_add(g, c2, c1, "sum"));
    T_OK(cnn_graph_stats_get(g, st, NULL));
    T_EQ(st[c1].rf[0], 5);
    T_EQ(st[c2].rf[0], 3);
    T_EQ(st[s].rf[0], 5);
    cnn_graph_free(g);
}

/* Zoo -> text -> graph gives the same graph: same text again, same node
 * names, ops, shapes, and parameter tensors in the same order. */
static void round_trip(const char *name, int classes, int c, int h, int w)
{
    cnn_graph *g = cnn_model_new(name, classes, c, h, w), *r;
    char      *t1, *t2;

    if (!g)
        T_FAILED("%s: %s", name, cnn_last_error());
    T_TRUE((t1 = cnn_netdesc_emit(g)) != NULL);
    if (!(r = cnn_netdesc_parse(t1, name)))
        T_FAILED("%s: %s", name, cnn_last_error());
    T_TRUE((t2 = cnn_netdesc_emit(r)) != NULL);
    T_TRUE(strcmp(t1, t2) == 0);
    T_EQ(cnn_graph_size(r), cnn_graph_size(g));
    T_EQ(cnn_graph_param_count(r), cnn_graph_param_count(g));
    for (int i = 0; i < cnn_graph_size(g); i++) {
        cnn_op      o1, o2;
        const char *n1, *n2;
        cnn_shape   s1, s2;
        T_OK(cnn_node_info(g, i, &o1, &n1, &s1));
        T_OK(cnn_node_info(r, i, &o2, &n2, &s2));
        T_TRUE(o1 == o2 && strcmp(n1, n2) == 0 && memcmp(&s1, &s2, sizeof s1) == 0);
        T_EQ(cnn_node_param_count(r, i), cnn_node_param_count(g, i));
        for (int k = 0; k < cnn_node_param_count(g, i); k++) {
            float *p1, *p2;
            T_OK(cnn_node_param(g, i, k, &p1, NULL, &s1, NULL));
            T_OK(cnn_node_param(r, i, k, &p2, NULL, &s2, NULL));
            T_TRUE(memcmp(&s1, &s2, sizeof s1) == 0);
            T_EQ(p1 - cnn_graph_params(g), p2 - cnn_graph_params(r)); /* same offsets */
        }
    }
    free(t1);
    free(t2);
    cnn_graph_free(g);
    cnn_graph_free(r);
}

static void zoo_text_round_trip(void)
{
    for (int i = 0; i < N_MODELS; i++)
        round_trip(counts[i].name, 0, 0, 0, 0);
    round_trip("resnet18", 7, 1, 40, 48);
}

/* Every model runs forward (and LeNet-5 and ResNet-20 backward) at a small
 * input, with a training plan and an inference plan: under the sanitizers
 * this checks every op's memory use. The deeper
 * VGGs are built by the same code as vgg11 / vgg11_bn with a longer list,
 * and carry 120M+ parameters each, so they are left to the counts above. */
static void forward_every_model(void)
{
    for (int i = 0; i < N_MODELS; i++) {
        const char *nm    = counts[i].name;
        if (strncmp(nm, "vgg1", 4) == 0 && nm[4] != '1')
            continue;
        bool        lenet = strcmp(nm, "lenet5") == 0;
        int         hw    = lenet ? 28 : strstr(nm, "alex") ? 64 : 32;
        cnn_graph  *g     = cnn_model_new(nm, 10, lenet ? 1 : 3, hw, hw);
        float      *x;
        int         labels[2] = {1, 3}, correct;
        float       loss;

        if (!g)
            T_FAILED("%s: %s", nm, cnn_last_error());
        const int     out = cnn_graph_size(g) - 1;
        const int64_t nx = 2 * (lenet ? 1 : 3) * hw * hw;
        float         logits[2 * 1000], *bufs = cnn_graph_buffers(g);
        /* Batch norm statistics away from 0 and 1, so its fused epilogue
         * has work to do. */
        for (int64_t j = 0; j < cnn_graph_buffer_count(g); j++)
            bufs[j] = 0.5f + (float)((j * 37) % 11) / 20.0f;
        /* The same logits bits from an inference plan (shared activation
         * memory, no gradients, batch norms and ReLUs fused into the
         * convs and adds before them) with Winograd off, in less memory;
         * with it on (its 3x3 convs by F(2x2, 3x3)), the logits within
         * float rounding; it refuses backward and training mode. */
        for (int infer = 0; infer < 3; infer++) {
            if (infer == 1)
                setenv("CNN_WINOGRAD", "0", 1);
            T_OK(infer ? cnn_graph_plan_infer(g, 2) : cnn_graph_plan(g, 2));
            unsetenv("CNN_WINOGRAD");
            x = cnn_graph_data(g, 0);
            for (int64_t j = 0; j < nx; j++)
                x[j] = (float)((j * 7919) % 255) / 255.0f;
            T_OK(cnn_graph_forward(g, CNN_EVAL));
            const float *got = cnn_graph_data(g, out);
            if (!infer)
                memcpy(logits, got, 2 * 10 * sizeof *logits);
            else if (infer == 1 && memcmp(logits, got, 2 * 10 * sizeof *logits) != 0)
                T_FAILED("%s: inference plan gives other logits", nm);
            for (int j = 0; infer == 2 && j < 2 * 10; j++)
                if (fabsf(got[j] - logits[j]) > 1e-4f * (1.0f + fabsf(logits[j]))) {
                    T_FAILED("%s: logit %d %g by Winograd, %g without", nm, j, got[j], logits[j]);
                    break;
                }
        }
        T_EQ(cnn_graph_forward(g, CNN_TRAIN), CNN_ESTATE);
        /* (the training plan's gradients besides, which an inference
         * plan has none of; it keeps its convs' weights packed) */
        if (cnn_graph_plan_infer_bytes(g, 2) >= cnn_graph_plan_bytes(g, 2) + 4 * cnn_graph_param_count(g))
            T_FAILED("%s: inference plan %lld bytes, training plan %lld + gradients %lld", nm,
                     (long long)cnn_graph_plan_infer_bytes(g, 2), (long long)cnn_graph_plan_bytes(g, 2),
                     (long long)(4 * cnn_graph_param_count(g)));
        T_EQ(cnn_graph_backward(g), CNN_ESTATE);
        T_TRUE(cnn_graph_grad(g, out) == NULL);
        T_EQ(cnn_graph_softmax_xent(g, out, labels, 0.0f, &loss, &correct), CNN_ESTATE);
        T_OK(cnn_graph_plan(g, 2));
        x = cnn_graph_data(g, 0);
        for (int64_t j = 0; j < nx; j++)
            x[j] = (float)((j * 7919) % 255) / 255.0f;
        T_OK(cnn_graph_forward(g, CNN_TRAIN));
        T_OK(cnn_graph_softmax_xent(g, out, labels, 0.0f, &loss, &correct));
        T_TRUE(isfinite(loss));
        if (lenet || strcmp(nm, "resnet20") == 0) {
            T_OK(cnn_graph_zero_param_grads(g));
            T_OK(cnn_graph_backward(g));
        }
        cnn_graph_free(g);
    }
}

/* ==== @@MALFORMED ==== */

static void expect_error(const char *text, const char *where, const char *what)
{
    cnn_graph *g = cnn_netdesc_parse(text, "net.txt");
    if (g) {
        cnn_graph_free(g);
        T_FAILED("parsed without error: %s", text);
    }
    if (!strstr(cnn_last_error(), where) || !strstr(cnn_last_error(), what))
        T_FAILED("message '%s' lacks '%s' or '%s'", cnn_last_error(), where, what);
}

static void malformed_descriptions(void)
{
    expect_error("input shape=1x8x8\nconvolve out=4 kernel=3\n", "net.txt:2:", "unknown op 'convolve'");
    expect_error("input shape=1x8x8\n\n# c\nconv2d out=4\n", "net.txt:4:", "missing attribute 'kernel'");
    expect_error("input shape=1x8x8\nconv2d kernel=3\n", "net.txt:2:", "missing attribute 'out'");
    expect_error("input name=x shape=1x8x8\nrelu in=y\n", "net.txt:2:", "no layer has that name");
    expect_error("input name=x shape=1x8x8\nrelu name=a in=b\nrelu name=b in=a\n", "net.txt:2:",
                 "defined at line 3");
    expect_error("input name=x shape=1x8x8\nrelu name=a in=a\n", "net.txt:2:", "cycle");
    expect_error("input name=x shape=1x8x8\nconv2d name=c out=4 kernel=3\nadd in=x,c\n",
                 "net.txt:3:", "shape");
    expect_error("input name=x shape=1x8x8\nconv2d out=4 kernel=9\n", "net.txt:2:", "below 1x1");
    expect_error("input shape=1x8x8\nconv2d out=four kernel=3\n", "net.txt:2:", "out=four");
    expect_error("input shape=1x8x8\nconv2d out=4 kernel=3 colour=red\n", "net.txt:2:",
                 "unknown attribute 'colour'");
    expect_error("input shape=1x8x8\nconv2d out=4 kernel=3 kernel=5\n", "net.txt:2:", "twice");
    expect_error("relu\n", "net.txt:1:", "first layer must be an input");
    expect_error("input shape=1x8x8\nrelu oops\n", "net.txt:2:", "key=value");
    expect_error("input shape=1x8x8\nmaxpool2d kernel=2 ceil=maybe\n", "net.txt:2:", "true or false");
    expect_error("# nothing\n", "net.txt", "no layers");
    expect_error("input shape=0x8x8\n", "net.txt:1:", "shape=0x8x8");
    expect_error("input shape=1x99999999999x8\n", "net.txt:1:", "shape");
}

static void description_features(void)
{
    static const char *text =
        "# a small residual net\n"
        "input name=x shape=3x16x16\n"
        "conv2d name=stem out=8 kernel=3 pad=same bias=false\n"
        "batchnorm2d name=bn eps=1e-3 momentum=0.05\n"
        "relu name=r\n"
        "conv2d name=a out=8 kernel=3x1 pad=1,0,1,0 dilation=1 groups=8\n"
        "add name=sum in=a,r\n"
        "maxpool2d kernel=3 stride=2 pad=1 ceil=true\n"
        "avgpool2d name=avg kernel=2 count_include_pad=false\n"
        "conv2d name=b out=4 kernel=1 in=avg\n"
        "concat name=cat in=avg,b\n"
        "adaptive_avgpool size=2\n"
        "leaky_relu slope=0.2\n"
        "flatten\n"
        "dropout p=0.25\n"
        "linear name=fc out=3\n"
        "softmax\n";
    cnn_graph *g = cnn_netdesc_parse(text, "small.txt");
    cnn_shape  s;
    int        id;

    if (!g)
        T_FAILED("%s", cnn_last_error());
    T_OK(id = cnn_graph_find(g, "stem"));
    T_OK(cnn_node_info(g, id, NULL, NULL, &s));
    T_EQ(s.dim[1], 16);
    T_OK(id = cnn_graph_find(g, "cat"));
    T_OK(cnn_node_info(g, id, NULL, NULL, &s));
    T_EQ(s.dim[0], 12);
    T_EQ(s.dim[1], 4); /* 16 -> ceil pool 8 -> avg 4 */
    T_OK(id = cnn_graph_find(g, "fc"));
    T_OK(cnn_node_info(g, id, NULL, NULL, &s));
    T_EQ(s.dim[0], 3);
    cnn_graph_free(g);
}

static void load_file(void)
{
    char  path[] = "/tmp/cnn_test_netXXXXXX";
    int   fd     = mkstemp(path);
    FILE *f      = fdopen(fd, "w");
    cnn_graph *g;

    T_TRUE(f != NULL);
    fputs("input shape=1x4x4\nflatten\nlinear out=2\n", f);
    fclose(f);
    T_TRUE((g = cnn_netdesc_load(path)) != NULL);
    T_EQ(cnn_graph_size(g), 3);
    cnn_graph_free(g);
    remove(path);
    T_TRUE(cnn_netdesc_load("/nonexistent/net.txt") == NULL);
    T_TRUE(strstr(cnn_last_error(), "/nonexistent/net.txt") != NULL);
}

int main(void)
{
    T_RUN(every_model_is_listed);
    T_RUN(parameter_counts);
    T_RUN(parameter_counts_second_size);
    T_RUN(unknown_model);
    T_RUN(depth_and_macs);
    T_RUN(macs_of_grouped_conv);
    T_RUN(receptive_fields);
    T_RUN(receptive_field_dilation_and_branches);
    T_RUN(zoo_text_round_trip);
    T_RUN(forward_every_model);
    T_RUN(malformed_descriptions);
    T_RUN(description_features);
    T_RUN(load_file);
    return t_done("zoo");
}
