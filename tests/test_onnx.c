/* test_onnx.c - ONNX import through the public API: a small model against
 * its NumPy reference (tests/fixtures/onnx, made by tests/gen/onnx_fixtures.py),
 * what the import reports, feeds, and hostile input: every truncation of a
 * model, random byte changes, and files that are each wrong in one way,
 * all refused with a message naming the file and never a crash or a leak
 * (run under `make san`). Without ONNX support, the functions must say so. */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>

#define FIX "tests/fixtures/onnx/"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE    *f = fopen(path, "rb");
    uint8_t *buf;
    long     n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#ifdef CNN_HAVE_ONNX

/* The tiny model run on its test data at batch `batch` (the data's two
 * samples first, then copies): every output within 1e-5 of NumPy's. */
static void run_tiny(int batch)
{
    cnn_onnx_opts   o = {0};
    cnn_onnx_tensor x, y;
    cnn_graph      *g;
    float          *in;

    T_OK(cnn_onnx_tensor_load(FIX "tiny/test_data_set_0/input_0.pb", &x));
    T_OK(cnn_onnx_tensor_load(FIX "tiny/test_data_set_0/output_0.pb", &y));
    T_TRUE((g = cnn_onnx_load(FIX "tiny/model.onnx", &o)) != NULL);
    T_EQ(o.error, 0);
    T_EQ(o.opset, 13);
    T_EQ(o.n_inputs, 1);
    T_EQ(o.n_outputs, 1);
    T_EQ(o.inputs[0].node, 0);
    T_EQ(o.inputs[0].ndim, 4);
    T_EQ(o.inputs[0].dim[3], 6);
    T_EQ(o.outputs[0].ndim, 2);
    T_EQ(o.outputs[0].dim[1], 3);
    T_EQ(o.outputs[0].node, cnn_graph_find(g, "y"));
    T_TRUE(strcmp(x.name, "x") == 0);
    T_EQ(x.numel, 72);
    T_OK(cnn_graph_plan(g, batch));
    in = calloc((size_t)batch * 36, sizeof *in);
    for (int b = 0; b < batch; b++)
        memcpy(in + b * 36, x.data + (b % 2) * 36, 36 * sizeof *in);
    T_OK(cnn_graph_set_input(g, o.inputs[0].node, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < 3; k++)
            T_NEAR(cnn_graph_data(g, o.outputs[0].node)[b * 3 + k], y.data[(b % 2) * 3 + k], 1e-5);
    free(in);
    cnn_graph_free(g);
    cnn_onnx_tensor_free(&x);
    cnn_onnx_tensor_free(&y);
    T_TRUE(x.data == NULL && x.name == NULL);
}

static void tiny_model(void) { run_tiny(2); }

/* The batch is chosen by the plan, not by the file's dim 0. */
static void tiny_model_other_batch(void) { run_tiny(5); }

/* An imported graph written as text and read back computes the same. */
static void netdesc_of_import(void)
{
    cnn_graph *g = cnn_onnx_load(FIX "tiny/model.onnx", NULL), *h;
    char      *text;
    float      in[36];

    T_TRUE(g != NULL);
    T_TRUE((text = cnn_netdesc_emit(g)) != NULL);
    h = cnn_netdesc_parse(text, "tiny");
    free(text);
    T_TRUE(h != NULL);
    T_EQ(cnn_graph_param_count(h), cnn_graph_param_count(g));
    memcpy(cnn_graph_params(h), cnn_graph_params(g),
           (size_t)cnn_graph_param_count(g) * sizeof(float));
    for (int i = 0; i < 36; i++)
        in[i] = (float)(i % 7) - 3.0f;
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_plan(h, 1));
    T_OK(cnn_graph_set_input(g, 0, in));
    T_OK(cnn_graph_set_input(h, 0, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_forward(h, CNN_EVAL));
    for (int k = 0; k < 3; k++)
        T_FEQ(cnn_graph_data(h, cnn_graph_size(h) - 1)[k],
              cnn_graph_data(g, cnn_graph_size(g) - 1)[k]);
    cnn_graph_free(g);
    cnn_graph_free(h);
}

/* Each hostile file: NULL, the code, a message naming the file and what
 * was wrong. */
static void hostile_files(void)
{
    static const struct {
        const char *file;
        int         code;
        const char *says;
    } cases[] = {
        {"short_raw.onnx", CNN_EFORMAT, "raw_data of 40 bytes, but shape [2, 1, 3, 3]"},
        {"huge_dims.onnx", CNN_EFORMAT, "shape [1099511627776, 1, 3, 3]"},
        {"negative_dim.onnx", CNN_EFORMAT, "dims [-2, 1, 3, 3], expected non-negative"},
        {"external.onnx", CNN_EUNSUPPORTED, "external file"},
        {"cycle.onnx", CNN_EFORMAT, "not in topological order (a cycle?)"},
        {"missing.onnx", CNN_EFORMAT, "reads 'ghost', which no input"},
        {"twice.onnx", CNN_EFORMAT, "'a' is defined twice"},
        {"unsupported.onnx", CNN_EUNSUPPORTED, "unsupported ONNX op 'Erf' (node 'y')"},
        {"deep.onnx", CNN_EFORMAT, "nested more than 64 deep"},
        {"bad_tensor.pb", CNN_EFORMAT, "not a valid ONNX model"},
        {"no-such-file.onnx", CNN_EIO, "No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char          path[256];
        cnn_onnx_opts o = {0};
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        T_TRUE(cnn_onnx_load(path, &o) == NULL);
        if (o.error != cases[i].code || !strstr(cnn_last_error(), path) ||
            !strstr(cnn_last_error(), cases[i].says))
            T_FAILED("%s: code %s, message \"%s\"", cases[i].file, cnn_strerror(o.error),
                     cnn_last_error());
        T_EQ(o.n_inputs, 0);
    }
}

static void tensor_files(void)
{
    cnn_onnx_tensor t;

    T_ERR(cnn_onnx_tensor_load(FIX "bad_tensor.pb", &t), CNN_EFORMAT);
    T_TRUE(strstr(cnn_last_error(), "holds 3 values, but its shape [1, 1099511627776]") != NULL);
    T_TRUE(t.data == NULL && t.name == NULL && t.numel == 0);
    T_ERR(cnn_onnx_tensor_load(FIX "missing-tensor.pb", &t), CNN_EIO);
    T_ERR(cnn_onnx_tensor_load(NULL, &t), CNN_EINVAL);
    cnn_onnx_tensor_free(NULL);
}

/* Every prefix of a valid model (a truncated download) and random byte
 * changes: an error or a graph, never a crash, a hang or a leak. */
static void truncations_and_corruption(void)
{
    size_t   len;
    uint8_t *buf = slurp(FIX "tiny/model.onnx", &len), *copy;
    uint64_t s   = 0x9e3779b97f4a7c15ull;
    int      refused = 0;

    T_TRUE(buf != NULL && len > 100);
    for (size_t n = 0; n < len; n++) {
        cnn_onnx_opts o = {0};
        cnn_graph    *g = cnn_onnx_load_mem(buf, n, "cut.onnx", &o);
        if (!g) {
            refused++;
            T_TRUE(o.error < 0 && strncmp(cnn_last_error(), "cut.onnx: ", 10) == 0);
        }
        cnn_graph_free(g);
    }
    T_TRUE(refused > (int)len * 9 / 10);
    T_TRUE((copy = malloc(len)) != NULL);
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, buf, len);
        for (int k = 0; k < 1 + trial % 4; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            copy[(s >> 8) % len] = (uint8_t)(s >> 40);
        }
        cnn_graph *g = cnn_onnx_load_mem(copy, len, "flipped.onnx", NULL);
        cnn_graph_free(g);
    }
    free(copy);
    free(buf);
}

/* Feeds fix the inputs' shapes and must agree with the model. */
static void feeds(void)
{
    cnn_onnx_tensor x = {0};
    cnn_onnx_opts   o = {0};
    float           v[36 * 3] = {0};
    char            bad_name[] = "z";

    x.ndim = 4, x.dim[0] = 3, x.dim[1] = 1, x.dim[2] = 6, x.dim[3] = 6;
    x.numel = 3 * 36, x.data = v;
    o.feeds = &x, o.n_feeds = 1;
    /* The file says dim 0 is 2; a feed of 3 disagrees. */
    T_TRUE(cnn_onnx_load(FIX "tiny/model.onnx", &o) == NULL);
    T_EQ(o.error, CNN_EINVAL);
    T_TRUE(strstr(cnn_last_error(), "was fed FLOAT [3, 1, 6, 6]") != NULL);
    x.dim[0] = 2, x.numel = 72, x.name = bad_name;
    T_TRUE(cnn_onnx_load(FIX "tiny/model.onnx", &o) == NULL);
    T_TRUE(strstr(cnn_last_error(), "feed 0 is named 'z'") != NULL);
    x.name = NULL, x.numel = 5;
    T_TRUE(cnn_onnx_load(FIX "tiny/model.onnx", &o) == NULL);
    T_TRUE(strstr(cnn_last_error(), "feed 0 has 5 values") != NULL);
    x.numel = 72;
    cnn_graph *g = cnn_onnx_load(FIX "tiny/model.onnx", &o);
    T_TRUE(g != NULL);
    cnn_graph_free(g);
    o.n_feeds = -1;
    T_TRUE(cnn_onnx_load(FIX "tiny/model.onnx", &o) == NULL);
    T_EQ(o.error, CNN_EINVAL);
    T_TRUE(cnn_onnx_load(NULL, &o) == NULL);
    T_TRUE(cnn_onnx_load_mem(NULL, 0, "x", NULL) == NULL);
}

/* A file with symbolic sizes imports once a feed gives them (no data). */
static void symbolic_sizes(void)
{
    cnn_onnx_tensor x = {.ndim = 4, .dim = {3, 1, 6, 6}};
    cnn_onnx_opts   o = {0};
    cnn_graph      *g;
    cnn_shape       s;

    T_TRUE(cnn_onnx_load(FIX "symbolic.onnx", &o) == NULL);
    T_EQ(o.error, CNN_EUNSUPPORTED);
    T_TRUE(strstr(cnn_last_error(), "shape [-1, 1, -1, -1] (-1: symbolic)") != NULL);
    o.feeds = &x, o.n_feeds = 1;
    T_TRUE((g = cnn_onnx_load(FIX "symbolic.onnx", &o)) != NULL);
    T_EQ(o.inputs[0].dim[0], 3);
    T_EQ(o.outputs[0].dim[0], 3);
    T_OK(cnn_node_info(g, o.inputs[0].node, NULL, NULL, &s));
    T_EQ(s.ndim, 3);
    T_EQ(s.dim[2], 6);
    cnn_graph_free(g);
}

int main(void)
{
    T_TRUE(cnn_onnx_available());
    T_RUN(symbolic_sizes);
    T_RUN(tiny_model);
    T_RUN(tiny_model_other_batch);
    T_RUN(netdesc_of_import);
    T_RUN(hostile_files);
    T_RUN(tensor_files);
    T_RUN(truncations_and_corruption);
    T_RUN(feeds);
    return t_done("onnx");
}

#else /* without protobuf-c: every entry point says so */

static void says_unsupported(void)
{
    cnn_onnx_opts   o = {0};
    cnn_onnx_tensor t;
    size_t          len = 0;
    uint8_t        *buf = slurp(FIX "tiny/model.onnx", &len);

    T_TRUE(!cnn_onnx_available());
    T_TRUE(cnn_onnx_load(FIX "tiny/model.onnx", &o) == NULL);
    T_EQ(o.error, CNN_EUNSUPPORTED);
    T_TRUE(strstr(cnn_last_error(), "built without ONNX support") != NULL);
    T_TRUE(cnn_onnx_load_mem(buf ? buf : (uint8_t *)"", len, "m", NULL) == NULL);
    T_ERR(cnn_onnx_tensor_load(FIX "bad_tensor.pb", &t), CNN_EUNSUPPORTED);
    free(buf);
}

int main(void)
{
    T_RUN(says_unsupported);
    return t_done("onnx");
}

#endif
