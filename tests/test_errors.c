/* test_errors.c - error paths: every bad argument, shape, size or call
 * order gives its CNN_E* code and a reason of its own, leaves the graph as
 * it was and usable, and leaks nothing (the suite also runs under
 * ASan/LSan/UBSan with `make san`). */
#include "t.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

/* The overflow tests ask for more memory than any machine has; the library
 * must answer CNN_ENOMEM, and under ASan that needs an allocator that may
 * return NULL instead of stopping the program. */
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifdef T_ASAN
/* Default visibility: the build hides symbols, and the ASan runtime looks
 * this one up by name. */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* ==== @@HELPERS ==== */

/* Leaves a reason no call under test writes, so a failure that forgets to
 * record its own reason is seen (the message must have changed). */
#define SENTINEL "t-sentinel-reason"

static void prime_error(void)
{
    cnn_graph *e = cnn_graph_new();
    cnn_graph_find(e, SENTINEL);
    cnn_graph_free(e);
}

static void expect_fresh_reason(const char *what)
{
    const char *m = cnn_last_error();
    if (m[0] == '\0' || strstr(m, SENTINEL) != NULL)
        T_FAILED("%s failed without a reason of its own (last error: \"%s\")", what, m);
}

/* `x` fails with `code` and its own reason, and graph g (may be NULL) keeps
 * its node and parameter counts. */
#define T_FAILS(g, x, code)                                                                      \
    do {                                                                                         \
        int     t_n0_ = cnn_graph_size(g);                                                       \
        int64_t t_p0_ = cnn_graph_param_count(g), t_b0_ = cnn_graph_buffer_count(g);             \
        prime_error();                                                                           \
        T_ERR(x, code);                                                                          \
        expect_fresh_reason(#x);                                                                 \
        T_EQ(cnn_graph_size(g), t_n0_);                                                          \
        T_EQ(cnn_graph_param_count(g), t_p0_);                                                   \
        T_EQ(cnn_graph_buffer_count(g), t_b0_);                                                  \
    } while (0)

/* A pointer-returning call fails: NULL and its own reason. */
#define T_NULL(x)                                                                                \
    do {                                                                                         \
        prime_error();                                                                           \
        if ((x) != NULL)                                                                         \
            T_FAILED("%s returned a pointer, expected NULL", #x);                                \
        expect_fresh_reason(#x);                                                                 \
    } while (0)

/* The last error names `s`. */
#define T_SAYS(s)                                                                                \
    do {                                                                                         \
        if (!strstr(cnn_last_error(), (s)))                                                      \
            T_FAILED("the reason \"%s\" does not mention \"%s\"", cnn_last_error(), (s));        \
    } while (0)

/* The graph still runs: plan for `batch`, forward in both modes, and, if
 * it ends in flat logits, a loss and a backward pass. */
static void expect_usable(cnn_graph *g, int in, int logits, int batch)
{
    cnn_shape s;
    float    *x;
    int       labels[8] = {0};
    float     loss;

    T_OK(cnn_graph_plan(g, batch));
    T_OK(cnn_node_info(g, in, NULL, NULL, &s));
    T_TRUE((x = cnn_graph_data(g, in)) != NULL);
    for (int64_t i = 0; i < cnn_shape_numel(&s) * batch; i++)
        x[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    if (logits >= 0) {
        T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, NULL));
        T_TRUE(isfinite(loss));
        T_OK(cnn_graph_zero_param_grads(g));
        T_OK(cnn_graph_backward(g));
    }
}

/* input 2x8x8 "x" -> conv 4 3x3 "conv" -> batchnorm "bn" -> relu "relu"
 * -> flatten "flat" -> linear 3 "fc". */
typedef struct net {
    cnn_graph *g;
    int        x, conv, bn, relu, flat, fc;
} net;

static net small_net(void)
{
    net             n;
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);

    T_TRUE((n.g = cnn_graph_new()) != NULL);
    T_OK(n.x = cnn_input(n.g, 2, 8, 8, "x"));
    T_OK(n.conv = cnn_conv2d(n.g, n.x, &a, "conv"));
    T_OK(n.bn = cnn_batchnorm2d(n.g, n.conv, 1e-5f, 0.1f, "bn"));
    T_OK(n.relu = cnn_relu(n.g, n.bn, "relu"));
    T_OK(n.flat = cnn_flatten(n.g, n.relu, "flat"));
    T_OK(n.fc = cnn_linear(n.g, n.flat, 3, true, "fc"));
    return n;
}

/* ==== @@NULL POINTERS ==== */

static void null_graph(void)
{
    cnn_conv2d_attr a  = cnn_conv2d_defaults(4, 3, 3);
    cnn_pool2d_attr pa = cnn_pool2d_defaults(2, 2);
    cnn_optim_cfg   oc = cnn_optim_defaults(CNN_SGD);
    int             ids[2] = {0, 0}, labels[1] = {0};
    float           loss;

    T_FAILS(NULL, cnn_input(NULL, 1, 4, 4, "x"), CNN_EINVAL);
    T_FAILS(NULL, cnn_input_flat(NULL, 4, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_conv2d(NULL, 0, &a, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_relu(NULL, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_leaky_relu(NULL, 0, 0.1f, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_sigmoid(NULL, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_tanh(NULL, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_maxpool2d(NULL, 0, &pa, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_avgpool2d(NULL, 0, &pa, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_global_avgpool(NULL, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_batchnorm2d(NULL, 0, 1e-5f, 0.1f, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_linear(NULL, 0, 4, true, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_flatten(NULL, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_dropout(NULL, 0, 0.5f, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_add(NULL, 0, 0, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_concat(NULL, ids, 2, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_softmax(NULL, 0, NULL), CNN_EINVAL);

    T_FAILS(NULL, cnn_graph_find(NULL, "x"), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_info(NULL, 0, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_inputs(NULL, 0, ids, 2), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_param_count(NULL, 0), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_param(NULL, 0, 0, NULL, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_buffer_count(NULL, 0), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_buffer(NULL, 0, 0, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_set_trainable(NULL, 0, false), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_init(NULL, CNN_INIT_HE_NORMAL, 1), CNN_EINVAL);
    T_FAILS(NULL, cnn_node_init(NULL, 0, CNN_INIT_HE_NORMAL, 1), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_set_threads(NULL, 1), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_plan(NULL, 1), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_set_input(NULL, 0, &loss), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_forward(NULL, CNN_EVAL), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_want_input_grad(NULL, 0, true), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_clear_grads(NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_zero_param_grads(NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_backward(NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_graph_softmax_xent(NULL, 0, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    T_FAILS(NULL, cnn_optim_step(NULL, 0.1f), CNN_EINVAL);
    T_FAILS(NULL, cnn_optim_set_steps(NULL, 0), CNN_EINVAL);
    T_FAILS(NULL, cnn_conv2d_pad_same(NULL, 4, 4), CNN_EINVAL);
    T_NULL(cnn_optim_new(NULL, &oc));
    T_NULL(cnn_graph_data(NULL, 0));
    T_NULL(cnn_graph_grad(NULL, 0));

    /* Queries of a NULL graph answer "nothing" and NULL frees are no-ops. */
    T_EQ(cnn_graph_size(NULL), 0);
    T_EQ(cnn_graph_param_count(NULL), 0);
    T_EQ(cnn_graph_buffer_count(NULL), 0);
    T_TRUE(cnn_graph_params(NULL) == NULL);
    T_TRUE(cnn_graph_param_grads(NULL) == NULL);
    T_TRUE(cnn_graph_buffers(NULL) == NULL);
    T_EQ(cnn_graph_batch(NULL), 0);
    T_TRUE(!cnn_node_trainable(NULL, 0));
    T_EQ(cnn_optim_steps(NULL), 0);
    T_EQ(cnn_optim_state_size(NULL), 0);
    T_TRUE(cnn_optim_state(NULL) == NULL);
    cnn_graph_free(NULL);
    cnn_optim_free(NULL);
    cnn_conv2d_pad_valid(NULL);
}

static void null_arguments(void)
{
    net   n = small_net();
    int   labels[2] = {0, 1};
    float loss;
    char  long_name[200];

    T_FAILS(n.g, cnn_conv2d(n.g, n.x, NULL, "c"), CNN_EINVAL);
    T_FAILS(n.g, cnn_maxpool2d(n.g, n.x, NULL, "p"), CNN_EINVAL);
    T_FAILS(n.g, cnn_avgpool2d(n.g, n.x, NULL, "p"), CNN_EINVAL);
    T_NULL(cnn_optim_new(n.g, NULL));
    T_FAILS(n.g, cnn_graph_find(n.g, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_concat(n.g, NULL, 2, "cat"), CNN_EINVAL);
    /* Names: NULL means automatic, but an empty or too long one is wrong. */
    T_FAILS(n.g, cnn_relu(n.g, n.x, ""), CNN_EINVAL);
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    T_FAILS(n.g, cnn_relu(n.g, n.x, long_name), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_find(n.g, "no such node"), CNN_EINVAL);

    T_OK(cnn_graph_plan(n.g, 2));
    T_FAILS(n.g, cnn_graph_set_input(n.g, n.x, NULL), CNN_EINVAL);
    T_OK(cnn_graph_forward(n.g, CNN_TRAIN));
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, n.fc, NULL, 0.0f, &loss, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, n.fc, labels, 0.0f, NULL, NULL), CNN_EINVAL);
    expect_usable(n.g, n.x, n.fc, 2);
    cnn_graph_free(n.g);
}

/* ==== @@SIZES ==== */

static void bad_sizes(void)
{
    net             n = small_net();
    cnn_conv2d_attr a;
    cnn_pool2d_attr p;
    int             ids[1] = {0};

    /* input: every dimension 1 to 2^24 */
    T_FAILS(n.g, cnn_input(n.g, 0, 4, 4, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, 1, 0, 4, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, 1, 4, 0, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, -1, 4, 4, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, 1, -4, 4, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, 1, 4, INT_MIN, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input_flat(n.g, 0, "in"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input_flat(n.g, -3, "in"), CNN_EINVAL);

    /* conv2d: each attribute alone */
    a = cnn_conv2d_defaults(0, 3, 3);
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    a = cnn_conv2d_defaults(-4, 3, 3);
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    a = cnn_conv2d_defaults(4, 0, 3);
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    a = cnn_conv2d_defaults(4, 3, -1);
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    for (int d = 0; d < 2; d++) {
        a = cnn_conv2d_defaults(4, 3, 3);
        a.stride[d] = 0;
        T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
        a.stride[d] = -2;
        T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
        a = cnn_conv2d_defaults(4, 3, 3);
        a.dilation[d] = 0;
        T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    }
    a = cnn_conv2d_defaults(4, 3, 3);
    a.groups = 0;
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    a.groups = -2;
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    for (int i = 0; i < 4; i++) {
        a = cnn_conv2d_defaults(4, 3, 3);
        a.pad[i] = -1;
        T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "c"), CNN_EINVAL);
    }

    /* pooling: kernel, stride >= 1, each pad in [0, kernel) */
    p = cnn_pool2d_defaults(0, 2);
    T_FAILS(n.g, cnn_maxpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
    p = cnn_pool2d_defaults(2, 2);
    p.stride[1] = 0;
    T_FAILS(n.g, cnn_avgpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
    for (int i = 0; i < 4; i++) {
        p = cnn_pool2d_defaults(2, 3);
        p.pad[i] = i % 2 ? 3 : 2; /* == its kernel */
        T_FAILS(n.g, cnn_maxpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
        T_FAILS(n.g, cnn_avgpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
        p.pad[i] = 7;
        T_FAILS(n.g, cnn_maxpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
        p.pad[i] = -1;
        T_FAILS(n.g, cnn_maxpool2d(n.g, n.x, &p, "p"), CNN_EINVAL);
        p.pad[i] = i % 2 ? 2 : 1; /* kernel - 1 is allowed */
        T_OK(cnn_maxpool2d(n.g, n.x, &p, NULL));
    }

    T_FAILS(n.g, cnn_linear(n.g, n.flat, 0, true, "l"), CNN_EINVAL);
    T_FAILS(n.g, cnn_linear(n.g, n.flat, -1, true, "l"), CNN_EINVAL);
    T_FAILS(n.g, cnn_dropout(n.g, n.x, 1.0f, "d"), CNN_EINVAL);
    T_FAILS(n.g, cnn_dropout(n.g, n.x, -0.1f, "d"), CNN_EINVAL);
    T_FAILS(n.g, cnn_dropout(n.g, n.x, NAN, "d"), CNN_EINVAL);
    T_FAILS(n.g, cnn_batchnorm2d(n.g, n.x, 0.0f, 0.1f, "b"), CNN_EINVAL);
    T_FAILS(n.g, cnn_batchnorm2d(n.g, n.x, -1e-5f, 0.1f, "b"), CNN_EINVAL);
    T_FAILS(n.g, cnn_batchnorm2d(n.g, n.x, NAN, 0.1f, "b"), CNN_EINVAL);
    T_FAILS(n.g, cnn_batchnorm2d(n.g, n.x, 1e-5f, -0.1f, "b"), CNN_EINVAL);
    T_FAILS(n.g, cnn_batchnorm2d(n.g, n.x, 1e-5f, 1.5f, "b"), CNN_EINVAL);
    T_FAILS(n.g, cnn_leaky_relu(n.g, n.x, NAN, "lr"), CNN_EINVAL);
    T_FAILS(n.g, cnn_concat(n.g, ids, 0, "cat"), CNN_EINVAL);
    T_FAILS(n.g, cnn_concat(n.g, ids, -1, "cat"), CNN_EINVAL);

    /* plan and threads */
    T_FAILS(n.g, cnn_graph_plan(n.g, 0), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_plan(n.g, -5), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_set_threads(n.g, 0), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_set_threads(n.g, -1), CNN_EINVAL);
    expect_usable(n.g, n.x, n.fc, 2);
    cnn_graph_free(n.g);
}

/* ==== @@IDS ==== */

static void ids_out_of_range(void)
{
    net             n = small_net();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    int             bad[4] = {-1, 99, INT_MAX, INT_MIN}, ids[2], labels[2] = {0, 0};
    float           loss, x[2 * 128] = {0};

    for (int k = 0; k < 4; k++) {
        int b = bad[k];
        T_FAILS(n.g, cnn_relu(n.g, b, NULL), CNN_EINVAL);
        T_FAILS(n.g, cnn_conv2d(n.g, b, &a, "c"), CNN_EINVAL);
        T_FAILS(n.g, cnn_maxpool2d(n.g, b, &p, "p"), CNN_EINVAL);
        T_FAILS(n.g, cnn_batchnorm2d(n.g, b, 1e-5f, 0.1f, "b"), CNN_EINVAL);
        T_FAILS(n.g, cnn_linear(n.g, b, 2, true, "l"), CNN_EINVAL);
        T_FAILS(n.g, cnn_add(n.g, n.x, b, "a"), CNN_EINVAL);
        T_FAILS(n.g, cnn_add(n.g, b, n.x, "a"), CNN_EINVAL);
        ids[0] = n.x;
        ids[1] = b;
        T_FAILS(n.g, cnn_concat(n.g, ids, 2, "cat"), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_info(n.g, b, NULL, NULL, NULL), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_inputs(n.g, b, ids, 2), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_param_count(n.g, b), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_param(n.g, b, 0, NULL, NULL, NULL, NULL), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_buffer_count(n.g, b), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_buffer(n.g, b, 0, NULL, NULL, NULL), CNN_EINVAL);
        T_FAILS(n.g, cnn_node_set_trainable(n.g, b, false), CNN_EINVAL);
        T_TRUE(!cnn_node_trainable(n.g, b));
        T_FAILS(n.g, cnn_node_init(n.g, b, CNN_INIT_HE_NORMAL, 1), CNN_EINVAL);
        T_FAILS(n.g, cnn_graph_want_input_grad(n.g, b, true), CNN_EINVAL);
    }
    /* Tensor indices past a node's own. */
    T_FAILS(n.g, cnn_node_param(n.g, n.relu, 0, NULL, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_param(n.g, n.conv, 2, NULL, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_param(n.g, n.conv, -1, NULL, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_buffer(n.g, n.conv, 0, NULL, NULL, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_buffer(n.g, n.bn, 2, NULL, NULL, NULL), CNN_EINVAL);
    /* Ids of the wrong kind. */
    T_FAILS(n.g, cnn_node_init(n.g, n.relu, CNN_INIT_HE_NORMAL, 1), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_want_input_grad(n.g, n.conv, true), CNN_EINVAL);

    T_OK(cnn_graph_plan(n.g, 2));
    for (int k = 0; k < 4; k++) {
        T_NULL(cnn_graph_data(n.g, bad[k]));
        T_NULL(cnn_graph_grad(n.g, bad[k]));
        T_FAILS(n.g, cnn_graph_set_input(n.g, bad[k], x), CNN_EINVAL);
    }
    T_FAILS(n.g, cnn_graph_set_input(n.g, n.conv, x), CNN_EINVAL);
    T_OK(cnn_graph_set_input(n.g, n.x, x));
    T_OK(cnn_graph_forward(n.g, CNN_TRAIN));
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, 99, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, -1, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    expect_usable(n.g, n.x, n.fc, 2);
    cnn_graph_free(n.g);
}

/* ==== @@SHAPES ==== */

static void conv_output_below_1x1(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 5, 5);
    cnn_pool2d_attr p = cnn_pool2d_defaults(5, 5);
    int             x, xf, c;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 1, 4, 4, "x"));
    T_OK(xf = cnn_input_flat(g, 16, "xf"));
    T_FAILS(g, cnn_conv2d(g, x, &a, "too_big"), CNN_ESHAPE);
    T_SAYS("too_big");
    T_FAILS(g, cnn_conv2d(g, x, &a, NULL), CNN_ESHAPE); /* an automatic name is named too */
    T_SAYS("conv2d_");
    a = cnn_conv2d_defaults(4, 3, 3);
    a.dilation[1] = 2; /* spans 5 columns */
    T_FAILS(g, cnn_conv2d(g, x, &a, "dilated"), CNN_ESHAPE);
    T_SAYS("dilated");
    a.pad[1] = 1; /* 4 + 1 columns: just fits */
    T_OK(c = cnn_conv2d(g, x, &a, "dilated"));
    a = cnn_conv2d_defaults(4, 3, 3);
    T_FAILS(g, cnn_conv2d(g, xf, &a, "on_flat"), CNN_ESHAPE);
    T_SAYS("on_flat");
    T_FAILS(g, cnn_maxpool2d(g, x, &p, "pool_big"), CNN_ESHAPE);
    T_SAYS("pool_big");
    T_FAILS(g, cnn_avgpool2d(g, xf, &p, "pool_flat"), CNN_ESHAPE);
    T_FAILS(g, cnn_global_avgpool(g, xf, "gap_flat"), CNN_ESHAPE);
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    (void)c;
    cnn_graph_free(g);
}

static void groups_must_divide(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(6, 3, 3);
    int             x3, x4;

    T_TRUE(g != NULL);
    T_OK(x3 = cnn_input(g, 3, 6, 6, "x3"));
    T_OK(x4 = cnn_input(g, 4, 6, 6, "x4"));
    a.groups = 2; /* 3 input channels */
    T_FAILS(g, cnn_conv2d(g, x3, &a, "g2"), CNN_ESHAPE);
    T_SAYS("g2");
    a.groups = 4; /* 4 inputs, but 6 outputs */
    T_FAILS(g, cnn_conv2d(g, x4, &a, "g4"), CNN_ESHAPE);
    a.groups = 8; /* more groups than channels */
    T_FAILS(g, cnn_conv2d(g, x4, &a, "g8"), CNN_ESHAPE);
    a = cnn_conv2d_defaults(8, 3, 3);
    a.groups = 4;
    T_OK(cnn_conv2d(g, x4, &a, "g4ok"));
    a = cnn_conv2d_defaults(3, 3, 3);
    a.groups = 3; /* depthwise */
    T_OK(cnn_conv2d(g, x3, &a, "dw"));
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    cnn_graph_free(g);
}

static void add_shape_mismatch(void)
{
    cnn_graph *g = cnn_graph_new();
    int        l, r, f, s;

    T_TRUE(g != NULL);
    T_OK(l = cnn_input(g, 2, 4, 4, "left"));
    T_OK(r = cnn_input(g, 3, 4, 4, "right"));
    T_OK(f = cnn_input_flat(g, 32, "flat"));
    T_FAILS(g, cnn_add(g, l, r, "sum"), CNN_ESHAPE);
    T_SAYS("left");
    T_SAYS("right");
    T_SAYS("2x4x4");
    T_SAYS("3x4x4");
    T_SAYS("sum");
    /* The same number of elements in another shape is still a mismatch. */
    T_FAILS(g, cnn_add(g, l, f, "sum"), CNN_ESHAPE);
    T_SAYS("flat");
    T_SAYS("32");
    T_OK(s = cnn_add(g, l, l, "sum"));
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    (void)s;
    cnn_graph_free(g);
}

static void concat_mismatch(void)
{
    cnn_graph *g = cnn_graph_new();
    int        a, b, c, f, ids[3];
    cnn_shape  s;

    T_TRUE(g != NULL);
    T_OK(a = cnn_input(g, 2, 4, 4, "a"));
    T_OK(b = cnn_input(g, 2, 5, 5, "b"));
    T_OK(c = cnn_input(g, 3, 4, 5, "c"));
    T_OK(f = cnn_input_flat(g, 32, "f"));
    ids[0] = a;
    ids[1] = b;
    T_FAILS(g, cnn_concat(g, ids, 2, "cat"), CNN_ESHAPE);
    T_SAYS("cat");
    ids[1] = c; /* height agrees, width does not */
    T_FAILS(g, cnn_concat(g, ids, 2, "cat"), CNN_ESHAPE);
    ids[1] = f;
    T_FAILS(g, cnn_concat(g, ids, 2, "cat"), CNN_ESHAPE);
    ids[1] = a;
    ids[2] = b;
    T_FAILS(g, cnn_concat(g, ids, 3, "cat"), CNN_ESHAPE);
    T_OK(cnn_input(g, 3, 4, 4, "d"));
    ids[1] = cnn_graph_find(g, "d");
    T_OK(ids[1]);
    T_OK(ids[0] = cnn_concat(g, ids, 2, "cat"));
    T_OK(cnn_node_info(g, ids[0], NULL, NULL, &s));
    T_EQ(s.ndim, 3);
    T_EQ(s.dim[0], 5);
    cnn_graph_free(g);
}

static void duplicate_names(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x, r;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 2, 4, 4, "x"));
    T_FAILS(g, cnn_input(g, 2, 4, 4, "x"), CNN_EINVAL);
    T_SAYS("x");
    T_FAILS(g, cnn_relu(g, x, "x"), CNN_EINVAL);
    T_OK(r = cnn_relu(g, x, NULL)); /* an automatic name is taken too */
    const char *auto_name;
    T_OK(cnn_node_info(g, r, NULL, &auto_name, NULL));
    char copy[64];
    snprintf(copy, sizeof copy, "%s", auto_name);
    T_FAILS(g, cnn_relu(g, x, copy), CNN_EINVAL);
    T_EQ(cnn_graph_find(g, "x"), x);
    T_EQ(cnn_graph_find(g, copy), r);
    /* Automatic names step around given ones: node 3 would be "relu_3". */
    T_OK(cnn_relu(g, x, "relu_3"));
    T_OK(r = cnn_relu(g, x, NULL));
    T_EQ(r, 3);
    T_OK(cnn_node_info(g, r, NULL, &auto_name, NULL));
    T_TRUE(strcmp(auto_name, "relu_3") != 0);
    T_EQ(cnn_graph_find(g, "relu_3"), 2);
    T_EQ(cnn_graph_find(g, auto_name), 3);
    cnn_graph_free(g);
}

/* ==== @@OVERFLOW ==== */

static void huge_sizes(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(2, 1, 1);
    int             x, r, big;

    T_TRUE(g != NULL);
    /* Any dimension past 2^24 is refused as such. */
    T_FAILS(g, cnn_input(g, (1 << 24) + 1, 1, 1, "in"), CNN_EINVAL);
    T_FAILS(g, cnn_input(g, 1, (1 << 24) + 1, 1, "in"), CNN_EINVAL);
    T_FAILS(g, cnn_input(g, 1, 1, INT_MAX, "in"), CNN_EINVAL);
    T_FAILS(g, cnn_input_flat(g, (1 << 24) + 1, "in"), CNN_EINVAL);
    /* Dimensions within bounds whose product is past INT32_MAX per sample. */
    T_FAILS(g, cnn_input(g, 1 << 24, 128, 1, "in"), CNN_EOVERFLOW);
    T_FAILS(g, cnn_input(g, 1 << 24, 1 << 24, 3, "in"), CNN_EOVERFLOW);

    /* 2^24 x 127 = 2,130,706,432 values per sample: legal; a conv to 2
     * channels of it is not. */
    T_OK(big = cnn_input(g, 1, 1 << 24, 127, "big"));
    T_FAILS(g, cnn_conv2d(g, big, &a, "wide"), CNN_EOVERFLOW);
    /* A linear layer with 2^24 outputs on it has 3.6e16 weights: they fit
     * in int64 but in no memory. The graph may refuse the node, or, as it
     * allocates parameters only when they are needed, refuse the memory. */
    prime_error();
    {
        int rc = cnn_linear(g, big, 1 << 24, true, "fc");
        if (rc < 0) {
            if (rc != CNN_ENOMEM && rc != CNN_EOVERFLOW)
                T_FAILED("linear of 3.6e16 weights returned %d (%s), expected CNN_ENOMEM or "
                         "CNN_EOVERFLOW", rc, cnn_strerror(rc));
            expect_fresh_reason("cnn_linear(g, big, 1 << 24, true, \"fc\")");
            T_TRUE(cnn_graph_size(g) == 1 && cnn_graph_param_count(g) == 0);
        } else {
            T_EQ(cnn_graph_param_count(g), (int64_t)(1 << 24) * (1 << 24) * 127 + (1 << 24));
            T_NULL(cnn_graph_params(g));
            T_NULL(cnn_graph_param_grads(g));
            T_NULL(cnn_graph_buffers(g));
        }
    }
    /* A conv whose weight rows (channels x kernel) pass INT32_MAX. */
    cnn_graph_free(g);
    T_TRUE((g = cnn_graph_new()) != NULL);
    T_OK(x = cnn_input(g, 1 << 24, 1, 1, "deep"));
    a = cnn_conv2d_defaults(1, 65536, 65536);
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 65535;
    T_FAILS(g, cnn_conv2d(g, x, &a, "deep_conv"), CNN_EOVERFLOW);
    cnn_graph_free(g);

    /* Plans whose sizes overflow int64 or any memory: an error, no crash. */
    T_TRUE((g = cnn_graph_new()) != NULL);
    T_OK(x = cnn_input(g, 1 << 24, 127, 1, "x"));
    T_OK(r = cnn_relu(g, x, "r"));
    T_FAILS(g, cnn_graph_plan(g, INT32_MAX), CNN_EOVERFLOW);
    T_EQ(cnn_graph_batch(g), 0);
    cnn_graph_free(g);

    T_TRUE((g = cnn_graph_new()) != NULL);
    T_OK(x = cnn_input(g, 3, 224, 224, "x"));
    a = cnn_conv2d_defaults(8, 3, 3);
    T_OK(r = cnn_conv2d(g, x, &a, "conv"));
    T_OK(r = cnn_relu(g, r, "relu"));
    T_OK(r = cnn_global_avgpool(g, r, "gap"));
    T_OK(r = cnn_flatten(g, r, "flat"));
    T_OK(r = cnn_linear(g, r, 3, true, "fc"));
    T_OK(cnn_graph_plan(g, 2));
    {
        int rc = cnn_graph_plan(g, INT32_MAX);
        if (rc != CNN_EOVERFLOW && rc != CNN_ENOMEM)
            T_FAILED("plan(INT32_MAX) returned %d (%s), expected CNN_EOVERFLOW or CNN_ENOMEM",
                     rc, cnn_strerror(rc));
        expect_fresh_reason("cnn_graph_plan(g, INT32_MAX)");
    }
    T_EQ(cnn_graph_size(g), 6);
    /* The graph plans again at a sane size and runs. */
    expect_usable(g, x, r, 2);
    cnn_graph_free(g);
}

/* ==== @@STATE ==== */

static void call_order(void)
{
    cnn_graph    *g = cnn_graph_new();
    cnn_optim_cfg oc = cnn_optim_defaults(CNN_ADAM);
    cnn_optim    *o;
    int           labels[2] = {0, 1};
    float         loss;

    T_TRUE(g != NULL);
    /* An empty graph has nothing to plan. */
    T_FAILS(g, cnn_graph_plan(g, 2), CNN_ESTATE);
    cnn_graph_free(g);

    net n = small_net();
    T_FAILS(n.g, cnn_graph_forward(n.g, CNN_EVAL), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_backward(n.g), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_clear_grads(n.g), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, n.fc, labels, 0.0f, &loss, NULL), CNN_ESTATE);
    T_NULL(cnn_graph_data(n.g, n.x));
    T_NULL(cnn_graph_grad(n.g, n.x));
    /* Nothing to copy into yet: either code is a fair answer. */
    prime_error();
    {
        int rc = cnn_graph_set_input(n.g, n.x, &loss);
        T_TRUE(rc == CNN_EINVAL || rc == CNN_ESTATE);
    }
    expect_fresh_reason("cnn_graph_set_input before plan");

    T_OK(cnn_graph_plan(n.g, 2));
    T_EQ(cnn_graph_batch(n.g), 2);
    /* Planned, but no forward yet. */
    T_FAILS(n.g, cnn_graph_backward(n.g), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_softmax_xent(n.g, n.fc, labels, 0.0f, &loss, NULL), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_forward(n.g, (cnn_mode)2), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_backward(n.g), CNN_ESTATE);

    /* A failed add keeps the plan; a successful one drops it. */
    T_FAILS(n.g, cnn_relu(n.g, 99, "r"), CNN_EINVAL);
    T_EQ(cnn_graph_batch(n.g), 2);
    T_OK(cnn_graph_forward(n.g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(n.g, n.fc, labels, 0.0f, &loss, NULL));
    T_OK(cnn_graph_backward(n.g));
    T_TRUE((o = cnn_optim_new(n.g, &oc)) != NULL);
    T_OK(cnn_optim_step(o, oc.lr));
    T_OK(cnn_softmax(n.g, n.fc, "probs"));
    T_EQ(cnn_graph_batch(n.g), 0);
    T_FAILS(n.g, cnn_graph_forward(n.g, CNN_EVAL), CNN_ESTATE);
    T_FAILS(n.g, cnn_graph_backward(n.g), CNN_ESTATE);
    /* The optimizer was sized before the new node; fine while it adds no
     * parameters, refused once the graph has more than it covers. */
    T_OK(cnn_optim_step(o, oc.lr));
    T_OK(cnn_linear(n.g, n.fc, 2, true, "more"));
    T_FAILS(n.g, cnn_optim_step(o, oc.lr), CNN_ESTATE);
    cnn_optim_free(o);
    expect_usable(n.g, n.x, n.fc, 2);
    cnn_graph_free(n.g);
}

static void batchnorm_needs_two_values(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x, bn, xs, bs;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input_flat(g, 4, "x"));
    T_OK(bn = cnn_batchnorm2d(g, x, 1e-5f, 0.1f, "bn_flat"));
    T_OK(cnn_graph_plan(g, 1));
    T_FAILS(g, cnn_graph_forward(g, CNN_TRAIN), CNN_ESHAPE);
    T_SAYS("bn_flat");
    T_OK(cnn_graph_forward(g, CNN_EVAL)); /* running statistics: fine */
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    cnn_graph_free(g);

    T_TRUE((g = cnn_graph_new()) != NULL);
    T_OK(xs = cnn_input(g, 3, 1, 1, "xs"));
    T_OK(bs = cnn_batchnorm2d(g, xs, 1e-5f, 0.1f, "bn_1x1"));
    T_OK(cnn_graph_plan(g, 1));
    T_FAILS(g, cnn_graph_forward(g, CNN_TRAIN), CNN_ESHAPE);
    T_SAYS("bn_1x1");
    /* A frozen batch-norm uses its running statistics in training too. */
    T_OK(cnn_node_set_trainable(g, bs, false));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_node_set_trainable(g, bs, true));
    T_FAILS(g, cnn_graph_forward(g, CNN_TRAIN), CNN_ESHAPE);
    /* One sample of 2x1 positions is two values: fine, once the 1x1
     * batch-norm beside it is frozen. */
    T_OK(xs = cnn_input(g, 3, 2, 1, "xs2"));
    T_OK(cnn_batchnorm2d(g, xs, 1e-5f, 0.1f, "bn_2x1"));
    T_OK(cnn_graph_plan(g, 1));
    T_FAILS(g, cnn_graph_forward(g, CNN_TRAIN), CNN_ESHAPE);
    T_SAYS("bn_1x1");
    T_OK(cnn_node_set_trainable(g, bs, false));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    (void)bn;
    cnn_graph_free(g);
}

static void xent_errors(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x, fc, labels[2] = {0, 2};
    float      loss;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 3, 2, 2, "maps"));
    T_OK(fc = cnn_linear(g, x, 3, true, "fc"));
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_FAILS(g, cnn_graph_softmax_xent(g, x, labels, 0.0f, &loss, NULL), CNN_ESHAPE);
    T_SAYS("maps");
    labels[1] = 3;
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    labels[1] = -1;
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    labels[1] = INT_MAX;
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, 0.0f, &loss, NULL), CNN_EINVAL);
    labels[1] = 2;
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, 1.0f, &loss, NULL), CNN_EINVAL);
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, -0.1f, &loss, NULL), CNN_EINVAL);
    T_FAILS(g, cnn_graph_softmax_xent(g, fc, labels, NAN, &loss, NULL), CNN_EINVAL);
    T_OK(cnn_graph_softmax_xent(g, fc, labels, 0.1f, &loss, NULL));
    T_TRUE(isfinite(loss));
    T_OK(cnn_graph_backward(g));
    cnn_graph_free(g);
}

static void optim_and_init_errors(void)
{
    net           n = small_net();
    cnn_optim_cfg c;
    cnn_optim    *o;

    c = cnn_optim_defaults(CNN_SGD);
    c.kind = (cnn_optim_kind)7;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_SGD);
    c.lr = -0.1f;
    T_NULL(cnn_optim_new(n.g, &c));
    c.lr = NAN;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_SGD);
    c.momentum = 1.0f;
    T_NULL(cnn_optim_new(n.g, &c));
    c.momentum = -0.5f;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_SGD);
    c.dampening = 1.5f;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_SGD);
    c.nesterov = true; /* without momentum */
    T_NULL(cnn_optim_new(n.g, &c));
    c.momentum  = 0.9f;
    c.dampening = 0.5f; /* PyTorch: Nesterov needs zero dampening */
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_SGD);
    c.weight_decay = -0.01f;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_ADAM);
    c.beta1 = 1.0f;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_ADAMW);
    c.beta2 = -0.1f;
    T_NULL(cnn_optim_new(n.g, &c));
    c = cnn_optim_defaults(CNN_ADAM);
    c.eps = 0.0f;
    T_NULL(cnn_optim_new(n.g, &c));

    c = cnn_optim_defaults(CNN_ADAM);
    T_TRUE((o = cnn_optim_new(n.g, &c)) != NULL);
    T_FAILS(n.g, cnn_optim_step(o, -1.0f), CNN_EINVAL);
    T_FAILS(n.g, cnn_optim_step(o, NAN), CNN_EINVAL);
    T_FAILS(n.g, cnn_optim_step(o, INFINITY), CNN_EINVAL);
    T_EQ(cnn_optim_steps(o), 0);
    T_FAILS(n.g, cnn_optim_set_steps(o, -1), CNN_EINVAL);
    T_OK(cnn_optim_step(o, c.lr));
    T_EQ(cnn_optim_steps(o), 1);
    cnn_optim_free(o);

    T_FAILS(n.g, cnn_graph_init(n.g, (cnn_init)99, 1), CNN_EINVAL);
    T_FAILS(n.g, cnn_graph_init(n.g, (cnn_init)-1, 1), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_init(n.g, n.conv, (cnn_init)99, 1), CNN_EINVAL);
    T_FAILS(n.g, cnn_node_init(n.g, n.bn, CNN_INIT_HE_NORMAL, 1), CNN_EINVAL);
    T_OK(cnn_graph_init(n.g, CNN_INIT_HE_NORMAL, 1));
    expect_usable(n.g, n.x, n.fc, 2);
    cnn_graph_free(n.g);
}

/* Many failures of every kind on one graph, then it trains. */
static void usable_after_failures(void)
{
    net             n = small_net();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 9, 9);
    cnn_optim_cfg   oc = cnn_optim_defaults(CNN_SGD);
    cnn_optim      *o;
    float           x[2 * 128], loss;
    int             labels[2] = {1, 2}, ids[2] = {0, 0}, in2;

    T_OK(cnn_graph_plan(n.g, 2));
    T_FAILS(n.g, cnn_conv2d(n.g, n.x, &a, "big"), CNN_ESHAPE);
    T_FAILS(n.g, cnn_add(n.g, n.x, n.conv, "sum"), CNN_ESHAPE);
    ids[0] = n.x;
    ids[1] = n.fc;
    T_FAILS(n.g, cnn_concat(n.g, ids, 2, "cat"), CNN_ESHAPE);
    T_FAILS(n.g, cnn_relu(n.g, n.x, "conv"), CNN_EINVAL);
    T_FAILS(n.g, cnn_input(n.g, 0, 1, 1, "z"), CNN_EINVAL);
    T_FAILS(n.g, cnn_linear(n.g, n.flat, 0, true, "z"), CNN_EINVAL);
    T_EQ(cnn_graph_size(n.g), 6);
    T_EQ(cnn_graph_batch(n.g), 2);
    /* The names of the failed nodes are free. */
    T_OK(in2 = cnn_input_flat(n.g, 3, "big"));
    T_OK(cnn_linear(n.g, in2, 2, true, "sum"));
    T_OK(cnn_graph_init(n.g, CNN_INIT_HE_UNIFORM, 3));
    T_OK(cnn_graph_plan(n.g, 2));
    for (int i = 0; i < 2 * 128; i++)
        x[i] = (float)((i * 5) % 11) / 11.0f;
    T_OK(cnn_graph_set_input(n.g, n.x, x));
    oc.lr = 0.1f;
    T_TRUE((o = cnn_optim_new(n.g, &oc)) != NULL);
    for (int t = 0; t < 3; t++) {
        T_OK(cnn_graph_forward(n.g, CNN_TRAIN));
        T_OK(cnn_graph_softmax_xent(n.g, n.fc, labels, 0.0f, &loss, NULL));
        T_TRUE(isfinite(loss));
        T_OK(cnn_graph_zero_param_grads(n.g));
        T_OK(cnn_graph_backward(n.g));
        T_OK(cnn_optim_step(o, oc.lr));
    }
    cnn_optim_free(o);
    cnn_graph_free(n.g);
}

/* ==== @@ARITHMETIC OVERFLOW INSIDE THE CHECKS ==== */

/* These two run last: where the library multiplies without a check, UBSan
 * (make san) stops the program at the overflow. */

/* Kernel 65536 with dilation 65536 (both within conv2d's limits) needs a
 * pad of about 2^32; pad_same must refuse it, not overflow an int. */
static void pad_same_overflow(void)
{
    cnn_conv2d_attr a = cnn_conv2d_defaults(1, 65536, 65536);

    a.dilation[0] = a.dilation[1] = 65536;
    T_FAILS(NULL, cnn_conv2d_pad_same(&a, 4, 4), CNN_EINVAL);
    a = cnn_conv2d_defaults(1, 3, 3);
    a.stride[0] = 2;
    T_FAILS(NULL, cnn_conv2d_pad_same(&a, INT_MAX, 4), CNN_EINVAL);
}

/* 252017 x 6444494 x 11357979 = 2^64 + 26: each dimension is within 2^24,
 * and the product must be refused, not wrapped to 26 elements. */
static void input_numel_wraps(void)
{
    cnn_graph *g = cnn_graph_new();

    T_TRUE(g != NULL);
    T_FAILS(g, cnn_input(g, 252017, 6444494, 11357979, "wrap"), CNN_EOVERFLOW);
    T_FAILS(g, cnn_input(g, 1 << 24, 1 << 24, 1 << 24, "wrap"), CNN_EOVERFLOW);
    cnn_graph_free(g);
}

int main(void)
{
    T_RUN(null_graph);
    T_RUN(null_arguments);
    T_RUN(bad_sizes);
    T_RUN(ids_out_of_range);
    T_RUN(conv_output_below_1x1);
    T_RUN(groups_must_divide);
    T_RUN(add_shape_mismatch);
    T_RUN(concat_mismatch);
    T_RUN(duplicate_names);
    T_RUN(huge_sizes);
    T_RUN(call_order);
    T_RUN(batchnorm_needs_two_values);
    T_RUN(xent_errors);
    T_RUN(optim_and_init_errors);
    T_RUN(usable_after_failures);
    T_RUN(pad_same_overflow);
    T_RUN(input_numel_wraps);
    return t_done("errors");
}
