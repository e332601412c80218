/* test_export.c - ONNX export through the public API: zoo models, a
 * network of every op (tests/fixtures/export/every_op.txt) and small graphs
 * built here, each with random parameters and batch-norm statistics,
 * written, read back with cnn_onnx_load and run beside the original on the
 * same input: every output must agree to the bit. Then what export
 * refuses, each with a message naming the node. Without ONNX support, the
 * functions must say so. */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define BATCH 3 /* odd, and neither 1 nor the batch written in the files */

#ifdef CNN_HAVE_ONNX

static uint64_t seed = 0x2545f4914f6cdd1dull;

static float uniform(float lo, float hi) /* xorshift64 */
{
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    return lo + (hi - lo) * (float)((seed >> 40) / 16777216.0);
}

/* Every parameter in [-0.5, 0.5); running means likewise, running
 * variances in [0.5, 1.5): statistics away from their defaults, so an
 * export that drops one shows. */
static void randomize(cnn_graph *g)
{
    float  *p = cnn_graph_params(g);
    int64_t n = cnn_graph_param_count(g);

    for (int64_t i = 0; i < n; i++)
        p[i] = uniform(-0.5f, 0.5f);
    for (int id = 0; id < cnn_graph_size(g); id++)
        for (int k = 0; k < cnn_node_buffer_count(g, id); k++) {
            float    *b;
            cnn_shape s;
            cnn_node_buffer(g, id, k, &b, &s, NULL);
            for (int64_t i = 0; i < cnn_shape_numel(&s); i++)
                b[i] = k == 0 ? uniform(-0.5f, 0.5f) : uniform(0.5f, 1.5f);
        }
}

static bool is_read(const cnn_graph *g, int id)
{
    for (int j = id + 1; j < cnn_graph_size(g); j++) {
        int in[64], n = cnn_node_inputs(g, j, in, 64);
        for (int k = 0; k < n && k < 64; k++)
            if (in[k] == id)
                return true;
    }
    return false;
}

/* Exports g (at file batch `fbatch`, 0: symbolic) to memory and to a file,
 * which must hold the same bytes, reads it back and runs both graphs on the
 * same random batch with `threads` threads: every output bit-identical.
 * Returns the number of outputs compared. */
static int roundtrip(cnn_graph *g, int fbatch, int threads)
{
    char          path[] = "/tmp/cnn_export_XXXXXX";
    void         *buf    = NULL;
    size_t        size   = 0;
    cnn_onnx_opts o      = {0};
    cnn_graph    *r;
    FILE         *f;
    int           fd, k_in = 0, k_out = 0;

    T_OK(cnn_onnx_save_mem(g, fbatch, &buf, &size));
    T_TRUE(buf != NULL && size > 0);
    T_TRUE((fd = mkstemp(path)) >= 0);
    close(fd);
    T_OK(cnn_onnx_save(g, path, fbatch));
    T_TRUE((f = fopen(path, "rb")) != NULL);
    {
        uint8_t *file = malloc(size + 1);
        size_t   got  = file ? fread(file, 1, size + 1, f) : 0;
        fclose(f);
        remove(path);
        T_EQ(got, size);
        T_TRUE(memcmp(file, buf, size) == 0);
        free(file);
    }
    r = cnn_onnx_load_mem(buf, size, "export", &o);
    free(buf);
    if (!r)
        T_FAILED("reading the export back: %s", cnn_last_error());
    T_EQ(o.opset, 13);
    T_EQ(o.inputs[0].dim[0], fbatch > 0 ? fbatch : -1);

    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_set_threads(r, threads));
    T_OK(cnn_graph_plan(g, BATCH));
    T_OK(cnn_graph_plan(r, BATCH));
    for (int id = 0; id < cnn_graph_size(g); id++) {
        cnn_op    op;
        cnn_shape s;
        cnn_node_info(g, id, &op, NULL, &s);
        if (op != CNN_OP_INPUT)
            continue;
        T_TRUE(k_in < o.n_inputs);
        float *x = cnn_graph_data(g, id);
        for (int64_t i = 0; i < cnn_shape_numel(&s) * BATCH; i++)
            x[i] = uniform(-2.0f, 2.0f);
        T_OK(cnn_graph_set_input(r, o.inputs[k_in++].node, x));
    }
    T_EQ(k_in, o.n_inputs);
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_forward(r, CNN_EVAL));
    for (int id = 0; id < cnn_graph_size(g); id++) {
        cnn_shape   s, rs;
        const char *name;
        if (is_read(g, id))
            continue;
        T_TRUE(k_out < o.n_outputs);
        cnn_node_info(g, id, NULL, &name, &s);
        cnn_node_info(r, o.outputs[k_out].node, NULL, NULL, &rs);
        T_EQ(cnn_shape_numel(&rs), cnn_shape_numel(&s));
        const float *a = cnn_graph_data(g, id), *b = cnn_graph_data(r, o.outputs[k_out++].node);
        for (int64_t i = 0; i < cnn_shape_numel(&s) * BATCH; i++)
            if (memcmp(&a[i], &b[i], sizeof *a) != 0)
                T_FAILED("output '%s'[%lld]: %.9g, read back %.9g", name, (long long)i,
                         (double)a[i], (double)b[i]);
    }
    T_EQ(k_out, o.n_outputs);
    cnn_graph_free(r);
    return k_out;
}

static cnn_graph *zoo(const char *name, int c, int h, int w)
{
    cnn_graph *g = cnn_model_new(name, 0, c, h, w);
    if (!g)
        T_FAILED("%s: %s", name, cnn_last_error());
    randomize(g);
    return g;
}

static void lenet5(void)
{
    cnn_graph *g = zoo("lenet5", 0, 0, 0);
    T_EQ(roundtrip(g, 0, 1), 1);
    T_EQ(roundtrip(g, 2, 2), 1); /* a fixed batch, read back at another */
    cnn_graph_free(g);
}

static void resnet20(void)
{
    cnn_graph *g = zoo("resnet20", 0, 0, 0);
    T_EQ(roundtrip(g, 0, 2), 1);
    cnn_graph_free(g);
}

static void resnet18_small_input(void)
{
    cnn_graph *g = zoo("resnet18", 3, 64, 48);
    T_EQ(roundtrip(g, 0, 2), 1);
    cnn_graph_free(g);
}

static void alexnet(void) /* adaptive 6x6 pooling of a 6x6 map */
{
    cnn_graph *g = zoo("alexnet", 0, 0, 0);
    T_EQ(roundtrip(g, 0, 2), 1);
    cnn_graph_free(g);
}

static void every_op(void)
{
    cnn_graph *g = cnn_netdesc_load("tests/fixtures/export/every_op.txt");
    if (!g)
        T_FAILED("%s", cnn_last_error());
    randomize(g);
    T_EQ(roundtrip(g, 0, 1), 2);
    cnn_graph_free(g);
}

/* The names a user gave survive the round trip, made valid and unique
 * where they have to be. */
static void names_survive(void)
{
    cnn_graph      *g = cnn_graph_new(), *r;
    cnn_onnx_opts   o = {0};
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
    void           *buf;
    size_t          size;
    int             x, c, id;

    T_OK(x = cnn_input(g, 2, 6, 6, "image"));
    T_OK(c = cnn_conv2d(g, x, &a, "features.0"));
    T_OK(id = cnn_relu(g, c, "features.0.weight")); /* collides with the conv's weight */
    T_OK(id = cnn_flatten(g, id, "a b#c"));          /* bytes ONNX names avoid */
    T_OK(cnn_linear(g, id, 3, true, "head"));
    randomize(g);
    T_OK(cnn_onnx_save_mem(g, 0, &buf, &size));
    T_TRUE((r = cnn_onnx_load_mem(buf, size, "names", &o)) != NULL);
    free(buf);
    T_OK(cnn_graph_find(r, "image"));
    T_OK(cnn_graph_find(r, "features.0"));
    T_OK(cnn_graph_find(r, "features.0.weight"));
    T_OK(cnn_graph_find(r, "a_b_c"));
    T_EQ(o.outputs[0].node, cnn_graph_find(r, "head"));
    cnn_graph_free(r);
    T_EQ(roundtrip(g, 0, 1), 1);
    cnn_graph_free(g);
}

/* Flat inputs, two inputs, a third one read by nothing (an output too),
 * constants on either side of add and mul, a data operand of lower rank,
 * cropping pads, softmax over the channels and another axis. */
static void graphs_of_all_kinds(void)
{
    cnn_graph      *g;
    cnn_shape       cs;
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    int             x, f, y, c, v, id;
    int             begin[3] = {0, -1, 1}, end[3] = {1, 0, -2};

    /* cnn_add's output has its first operand's shape: with a constant
     * first, that is the constant's, and the data broadcasts into it. */
    g = cnn_graph_new();
    T_OK(x = cnn_input(g, 4, 5, 5, "x"));
    T_OK(f = cnn_input_flat(g, 7, "features"));
    T_OK(cnn_input_flat(g, 2, "unused"));
    cs = (cnn_shape){3, {4, 5, 5}};
    T_OK(c = cnn_constant(g, &cs, "bias"));
    T_OK(id = cnn_add(g, c, x, "biased"));      /* constant [4, 5, 5] + data */
    cs = (cnn_shape){3, {4, 1, 1}};
    T_OK(c = cnn_constant(g, &cs, "scale"));
    T_OK(id = cnn_mul(g, id, c, "scaled"));     /* data * constant [4, 1, 1] */
    T_OK(v = cnn_global_avgpool(g, id, "gap"));
    T_OK(v = cnn_flatten(g, v, "gapflat"));      /* [4] */
    T_OK(v = cnn_linear(g, v, 5, false, "row")); /* [5]: lower rank, broadcast */
    T_OK(id = cnn_add(g, id, v, "rows"));
    T_OK(id = cnn_pad(g, id, begin, end, -0.25f, "crop"));
    T_OK(id = cnn_avgpool2d(g, id, &p, "pool"));
    T_OK(id = cnn_softmax(g, id, "channels"));
    T_OK(id = cnn_softmax_axis(g, id, 2, "columns"));
    T_OK(y = cnn_linear(g, f, 6, true, "fc"));
    T_OK(y = cnn_dropout(g, y, 0.0f, "no_drop"));
    T_OK(y = cnn_sigmoid(g, y, "sig"));
    T_OK(y = cnn_clip(g, y, -INFINITY, 0.75f, "clip"));
    T_OK(cnn_log_softmax(g, y, 0, "logp"));
    randomize(g);
    T_EQ(roundtrip(g, 0, 1), 3); /* columns, logp and the unused input */
    cnn_graph_free(g);
}

/* Ceil mode as ONNX keeps it (the last windows start inside the input),
 * and as PyTorch's rule drops a last window that would start in the end
 * padding (written in floor mode, which gives the same windows); pads
 * counted or not; adaptive pooling that divides its input. */
static void pooling_rounding(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_pool2d_attr p = cnn_pool2d_defaults(3, 3);
    int             x, a, b;

    T_OK(x = cnn_input(g, 2, 9, 10, "x"));
    p.stride[0] = p.stride[1] = 2;
    p.pad[0] = p.pad[1] = p.pad[2] = p.pad[3] = 1;
    p.ceil_mode = true;
    T_OK(a = cnn_maxpool2d(g, x, &p, "max_ceil"));              /* 5x6, ceil kept */
    p.count_include_pad = false;
    T_OK(b = cnn_avgpool2d(g, x, &p, "avg_ceil"));
    T_OK(cnn_concat(g, (int[]){a, b}, 2, "cat"));
    p.ceil_mode         = false;
    p.count_include_pad = true;
    p.pad[2] = p.pad[3] = 2;
    T_OK(cnn_avgpool2d(g, x, &p, "avg_pads"));
    T_OK(cnn_adaptive_avgpool2d(g, x, 3, 5, "adaptive"));
    T_OK(cnn_adaptive_avgpool2d(g, x, 1, 1, "adaptive_1x1"));
    T_OK(x = cnn_input(g, 2, 8, 8, "x2"));
    p.pad[0] = p.pad[1] = p.pad[2] = p.pad[3] = 2;
    p.ceil_mode = true;
    T_OK(cnn_maxpool2d(g, x, &p, "max_dropped"));               /* 5x5, as floor */
    T_OK(cnn_avgpool2d(g, x, &p, "avg_dropped"));
    randomize(g);
    T_EQ(roundtrip(g, 0, 1), 6);
    cnn_graph_free(g);
}

/* Refusals: CNN_EUNSUPPORTED, naming the node and why. */
static void refuse(cnn_graph *g, const char *want)
{
    void  *buf = (void *)1;
    size_t size = 1;

    T_ERR(cnn_onnx_save_mem(g, 0, &buf, &size), CNN_EUNSUPPORTED);
    T_TRUE(buf == NULL && size == 0);
    if (!strstr(cnn_last_error(), want))
        T_FAILED("message '%s' lacks '%s'", cnn_last_error(), want);
    cnn_graph_free(g);
}

static void refusals(void)
{
    cnn_graph      *g;
    cnn_shape       cs = {1, {4}};
    cnn_pool2d_attr p  = cnn_pool2d_defaults(3, 3);
    int             x, c, id;

    g = cnn_model_new("vgg11_bn", 10, 3, 32, 32); /* 1x1 features, pooled to 7x7 */
    refuse(g, "adaptive_avgpool 'avgpool': output 7x7 from an input of 1x1");

    g = cnn_graph_new();
    T_OK(cnn_input_flat(g, 4, "x"));
    T_OK(c = cnn_constant(g, &cs, "k"));
    T_OK(cnn_relu(g, c, "r"));
    refuse(g, "relu 'r': reads the constant 'k'");

    g = cnn_graph_new();
    T_OK(x = cnn_input_flat(g, 4, "x"));
    T_OK(c = cnn_constant(g, &cs, "k"));
    T_OK(cnn_concat(g, (int[]){x, c}, 2, "cat"));
    refuse(g, "concat 'cat': reads the constant 'k'");

    g = cnn_graph_new();
    T_OK(x = cnn_input_flat(g, 4, "x"));
    T_OK(c = cnn_constant(g, &cs, "k"));
    T_OK(id = cnn_add(g, c, c, "kk"));
    T_OK(cnn_add(g, x, id, "y"));
    refuse(g, "add 'kk': both operands are constants");

    g = cnn_graph_new();
    T_OK(cnn_input_flat(g, 4, "x"));
    T_OK(cnn_constant(g, &cs, "k"));
    refuse(g, "constant 'k': is read by no node");

    /* An average counting the pads, in ceil mode, whose last window reaches
     * past them: runtimes disagree on its divisor. */
    g = cnn_graph_new();
    T_OK(x = cnn_input(g, 1, 4, 4, "x"));
    p.stride[0] = p.stride[1] = 2;
    p.ceil_mode = true;
    T_OK(cnn_avgpool2d(g, x, &p, "pool"));
    refuse(g, "avgpool2d 'pool': ceil_mode with count_include_pad");

    /* Ceil mode that keeps a last window on one axis and drops one on the
     * other (PyTorch's rule): ONNX rounds both axes alike. */
    g = cnn_graph_new();
    T_OK(x = cnn_input(g, 1, 8, 10, "x"));
    p.pad[0] = p.pad[2] = 2;
    p.pad[1] = p.pad[3] = 1;
    T_OK(cnn_maxpool2d(g, x, &p, "pool"));
    refuse(g, "maxpool2d 'pool': ceil_mode gives 5x6");
}

static void bad_arguments(void)
{
    cnn_graph *g = cnn_graph_new();
    void      *buf;
    size_t     size;

    T_ERR(cnn_onnx_save(NULL, "/tmp/x.onnx", 0), CNN_EINVAL);
    T_ERR(cnn_onnx_save(g, NULL, 0), CNN_EINVAL);
    T_ERR(cnn_onnx_save_mem(g, 0, NULL, &size), CNN_EINVAL);
    T_ERR(cnn_onnx_save_mem(g, 0, &buf, &size), CNN_EINVAL); /* empty */
    T_OK(cnn_input_flat(g, 3, "x"));
    T_ERR(cnn_onnx_save(g, "/nonexistent/dir/x.onnx", 0), CNN_EIO);
    T_TRUE(strstr(cnn_last_error(), "/nonexistent/dir/x.onnx") != NULL);
    T_EQ(roundtrip(g, 0, 1), 1); /* a lone input is its own output */
    cnn_graph_free(g);
}

int main(void)
{
    T_RUN(lenet5);
    T_RUN(resnet20);
    T_RUN(resnet18_small_input);
    T_RUN(alexnet);
    T_RUN(every_op);
    T_RUN(names_survive);
    T_RUN(graphs_of_all_kinds);
    T_RUN(pooling_rounding);
    T_RUN(refusals);
    T_RUN(bad_arguments);
    return t_done("export");
}

#else /* without protobuf-c: every entry point says so */

static void says_unsupported(void)
{
    cnn_graph *g = cnn_model_new("lenet5", 0, 0, 0, 0);
    void      *buf = (void *)1;
    size_t     size = 1;

    T_ERR(cnn_onnx_save(g, "/tmp/cnn_never_written.onnx", 0), CNN_EUNSUPPORTED);
    T_TRUE(strstr(cnn_last_error(), "built without ONNX support") != NULL);
    T_ERR(cnn_onnx_save_mem(g, 0, &buf, &size), CNN_EUNSUPPORTED);
    T_TRUE(buf == NULL && size == 0);
    cnn_graph_free(g);
}

int main(void)
{
    T_RUN(says_unsupported);
    return t_done("export");
}

#endif
