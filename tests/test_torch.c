/* test_torch.c - the library against PyTorch 1.13 itself: forward outputs
 * and gradients of conv (strides, asymmetric pads, dilation, groups,
 * depthwise), batch norm in training (and its running statistics), pooling
 * in ceil mode with both divisors, adaptive pooling, linear, and the
 * label-smoothed cross-entropy, from tests/fixtures/torch_ops.txt (made by
 * tests/gen/torch_ops.py; PyTorch is not needed to run this).
 *
 * Tolerance: |ours - torch| <= 2e-5 * (1 + |torch|). Both compute in float32
 * but sum in different orders, so the last bits differ; the bound is a few
 * ulps of the sums involved (at most ~60 terms of size ~1). */
#include "t.h"

#include <stdlib.h>

#define FIXTURE "tests/fixtures/torch_ops.txt"
#define MAXREC  128

static struct rec {
    char   name[64];
    long   n;
    float *v;
} recs[MAXREC];
static int n_recs;

static int load_fixture(void)
{
    FILE *f = fopen(FIXTURE, "r");
    char  name[64];
    long  n;

    if (!f)
        return -1;
    while (n_recs < MAXREC && fscanf(f, "%63s %ld", name, &n) == 2) {
        struct rec *r = &recs[n_recs++];
        snprintf(r->name, sizeof r->name, "%s", name);
        r->n = n;
        r->v = malloc((size_t)n * sizeof *r->v);
        for (long i = 0; i < n; i++)
            if (fscanf(f, "%f", &r->v[i]) != 1) {
                fclose(f);
                return -1;
            }
    }
    fclose(f);
    return 0;
}

static const struct rec *get(const char *prefix, const char *what)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    for (int i = 0; i < n_recs; i++)
        if (strcmp(recs[i].name, name) == 0)
            return &recs[i];
    T_FAILED("fixture has no %s", name);
    return NULL;
}

static void close_all(const char *what, const float *got, const struct rec *want)
{
    double worst = 0;
    for (long i = 0; i < want->n; i++) {
        double d = fabs((double)got[i] - want->v[i]);
        if (d > 2e-5 * (1 + fabs(want->v[i])))
            T_FAILED("%s[%ld] = %.9g, PyTorch %.9g", what, i, got[i], want->v[i]);
        worst = d > worst ? d : worst;
    }
    (void)worst;
}

/* Runs one case: input x (want its gradient), node `id` with parameters
 * p0, p1 from the fixture, L = sum(y * r). */
static void run_case(cnn_graph *g, int x, int id, const char *prefix, int batch)
{
    const struct rec *rx = get(prefix, "x"), *rr = get(prefix, "r");
    char              pn[16];

    for (int k = 0; k < cnn_node_param_count(g, id); k++) {
        float    *p;
        cnn_shape s;
        snprintf(pn, sizeof pn, "p%d", k);
        T_OK(cnn_node_param(g, id, k, &p, NULL, &s, NULL));
        T_EQ(cnn_shape_numel(&s), get(prefix, pn)->n);
        memcpy(p, get(prefix, pn)->v, (size_t)get(prefix, pn)->n * sizeof *p);
    }
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, batch));
    T_OK(cnn_graph_set_input(g, x, rx->v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    close_all("y", cnn_graph_data(g, id), get(prefix, "y"));
    T_OK(cnn_graph_clear_grads(g));
    T_OK(cnn_graph_zero_param_grads(g));
    memcpy(cnn_graph_grad(g, id), rr->v, (size_t)rr->n * sizeof(float));
    T_OK(cnn_graph_backward(g));
    close_all("dx", cnn_graph_grad(g, x), get(prefix, "dx"));
    for (int k = 0; k < cnn_node_param_count(g, id); k++) {
        float *d;
        snprintf(pn, sizeof pn, "dp%d", k);
        T_OK(cnn_node_param(g, id, k, NULL, &d, NULL, NULL));
        close_all(pn, d, get(prefix, pn));
    }
}

static void conv_strided_asymmetric_dilated(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 2);
    int             x = cnn_input(g, 3, 7, 8, "x"), c;

    a.stride[0] = 2;
    a.dilation[1] = 2;
    a.pad[0] = 1, a.pad[1] = 0, a.pad[2] = 2, a.pad[3] = 1;
    T_OK(c = cnn_conv2d(g, x, &a, "conv"));
    run_case(g, x, c, "conv", 2);
    cnn_graph_free(g);
}

static void conv_grouped_and_depthwise(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(6, 3, 3);
    int             x = cnn_input(g, 4, 5, 5, "x"), c;

    a.groups = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    T_OK(c = cnn_conv2d(g, x, &a, "gconv"));
    run_case(g, x, c, "gconv", 2);
    cnn_graph_free(g);

    g = cnn_graph_new();
    a = cnn_conv2d_defaults(3, 3, 3);
    a.groups = 3, a.bias = false;
    a.stride[0] = a.stride[1] = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    x = cnn_input(g, 3, 6, 5, "x");
    T_OK(c = cnn_conv2d(g, x, &a, "dw"));
    run_case(g, x, c, "dwconv", 2);
    cnn_graph_free(g);
}

static void batchnorm_training(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input(g, 3, 5, 5, "x"), b;
    float     *rm, *rv;

    T_OK(b = cnn_batchnorm2d(g, x, 1e-5f, 0.1f, "bn"));
    T_OK(cnn_node_buffer(g, b, 0, &rm, NULL, NULL));
    T_OK(cnn_node_buffer(g, b, 1, &rv, NULL, NULL));
    memcpy(rm, get("bn", "rm0")->v, 3 * sizeof *rm);
    memcpy(rv, get("bn", "rv0")->v, 3 * sizeof *rv);
    run_case(g, x, b, "bn", 4);
    close_all("running_mean", rm, get("bn", "rm1"));
    close_all("running_var", rv, get("bn", "rv1"));
    cnn_graph_free(g);
}

static void pool_case(const char *prefix, int max, bool include_pad)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_pool2d_attr a = cnn_pool2d_defaults(3, 3);
    int             hw = max ? 7 : 6, x = cnn_input(g, 2, hw, hw, "x"), p;

    a.stride[0] = a.stride[1] = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    a.ceil_mode = true;
    a.count_include_pad = include_pad;
    T_OK(p = max ? cnn_maxpool2d(g, x, &a, "p") : cnn_avgpool2d(g, x, &a, "p"));
    run_case(g, x, p, prefix, 2);
    cnn_graph_free(g);
}

static void pooling_ceil_mode(void)
{
    pool_case("maxceil", 1, false);
    pool_case("avgceil_in", 0, true);
    pool_case("avgceil_ex", 0, false);
}

static void adaptive_pooling(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input(g, 3, 7, 5, "x"), p;
    T_OK(p = cnn_adaptive_avgpool2d(g, x, 3, 2, "p"));
    run_case(g, x, p, "adaptive", 2);
    cnn_graph_free(g);
}

static void linear_layer(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x = cnn_input_flat(g, 7, "x"), l;
    T_OK(l = cnn_linear(g, x, 4, true, "fc"));
    run_case(g, x, l, "linear", 5);
    cnn_graph_free(g);
}

static void cross_entropy_label_smoothing(void)
{
    cnn_graph        *g = cnn_graph_new();
    int               x = cnn_input_flat(g, 5, "logits"), labels[6];
    const struct rec *lr = get("xent", "labels");
    float             loss;

    for (int i = 0; i < 6; i++)
        labels[i] = (int)lr->v[i];
    T_OK(cnn_graph_plan(g, 6));
    T_OK(cnn_graph_set_input(g, x, get("xent", "logits")->v));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, x, labels, 0.1f, &loss, NULL));
    close_all("loss", &loss, get("xent", "loss"));
    close_all("dlogits", cnn_graph_grad(g, x), get("xent", "dlogits"));
    cnn_graph_free(g);
}

int main(void)
{
    if (load_fixture() < 0) {
        printf("FAIL cannot read %s (run from the repository root)\n", FIXTURE);
        printf("torch: 0 passed, 1 failed\n");
        return 1;
    }
    T_RUN(conv_strided_asymmetric_dilated);
    T_RUN(conv_grouped_and_depthwise);
    T_RUN(batchnorm_training);
    T_RUN(pooling_ceil_mode);
    T_RUN(adaptive_pooling);
    T_RUN(linear_layer);
    T_RUN(cross_entropy_label_smoothing);
    for (int i = 0; i < n_recs; i++)
        free(recs[i].v);
    return t_done("torch");
}
