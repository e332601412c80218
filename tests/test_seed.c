/* test_seed.c - the worked examples of the textbook chapter the project
 * started from, with their exact values. */
#include "t.h"

/* Example 1: a 3x3 filter over a 5x5 input, stride 1, no padding. */
static void example_1_convolution(void)
{
    static const float in[25] = {1, 0, 2, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0,
                                 0, 0, 1, 1, 0, 1, 1, 0, 0, 1};
    static const float k[9]    = {1, 0, 1, 0, 1, 0, 1, 0, 1};
    static const float want[9] = {6, 1, 4, 1, 4, 2, 3, 2, 3};
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(1, 3, 3);
    cnn_shape       s;
    float          *w;
    int             x, c;

    a.bias = false;
    T_OK(x = cnn_input(g, 1, 5, 5, "image"));
    T_OK(c = cnn_conv2d(g, x, &a, "filter"));
    T_OK(cnn_node_info(g, c, NULL, NULL, &s));
    T_EQ(s.dim[1], 3); /* (5 - 3) / 1 + 1 */
    T_EQ(s.dim[2], 3);
    T_OK(cnn_node_param(g, c, 0, &w, NULL, NULL, NULL));
    memcpy(w, k, sizeof k);
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_ARRAY_EQ(cnn_graph_data(g, c), want, 9); /* exact: integers in float */
    cnn_graph_free(g);
}

/* 2x2/2 max pooling of a 4x4 map whose regions hold {1,3,2,4}, {0,2,1,3},
 * {5,1,0,2}, {3,1,4,0}: outputs 4, 3, 5, 4, and each output's gradient
 * lands on its region's maximum only. */
static void max_pooling_regions(void)
{
    static const float in[16] = {1, 3, 0, 2,  /* region 1 | region 2 */
                                 2, 4, 1, 3,
                                 5, 1, 3, 1,  /* region 3 | region 4 */
                                 0, 2, 4, 0};
    static const float want[4]  = {4, 3, 5, 4};
    static const float dy[4]    = {1, 2, 3, 4};
    static const float want_dx[16] = {0, 0, 0, 0,
                                      0, 1, 0, 2,
                                      3, 0, 0, 0,
                                      0, 0, 4, 0};
    cnn_graph      *g = cnn_graph_new();
    cnn_pool2d_attr a = cnn_pool2d_defaults(2, 2);
    int             x, p;

    T_OK(x = cnn_input(g, 1, 4, 4, "map"));
    T_OK(p = cnn_maxpool2d(g, x, &a, "pool"));
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_ARRAY_EQ(cnn_graph_data(g, p), want, 4);
    T_OK(cnn_graph_clear_grads(g));
    memcpy(cnn_graph_grad(g, p), dy, sizeof dy);
    T_OK(cnn_graph_backward(g));
    T_ARRAY_EQ(cnn_graph_grad(g, x), want_dx, 16);
    cnn_graph_free(g);
}

/* Ties go to the first element in scan order (row-major in the window). */
static void max_pooling_ties(void)
{
    static const float in[4]   = {7, 7, 7, 7};
    static const float want[4] = {5, 0, 0, 0};
    cnn_graph      *g = cnn_graph_new();
    cnn_pool2d_attr a = cnn_pool2d_defaults(2, 2);
    int             x, p;

    T_OK(x = cnn_input(g, 1, 2, 2, "map"));
    T_OK(p = cnn_maxpool2d(g, x, &a, "pool"));
    T_OK(cnn_graph_want_input_grad(g, x, true));
    T_OK(cnn_graph_plan(g, 1));
    T_OK(cnn_graph_set_input(g, x, in));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_clear_grads(g));
    cnn_graph_grad(g, p)[0] = 5;
    T_OK(cnn_graph_backward(g));
    T_ARRAY_EQ(cnn_graph_grad(g, x), want, 4);
    cnn_graph_free(g);
}

/* Example 2: 3x224x224 -> conv 64 3x3 s1 p1 -> maxpool 2x2/2 -> conv 128. */
static void example_2_dimensions(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(64, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    cnn_shape       s;
    int             x, c1, p1, c2;
    int64_t         before;

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    T_OK(x = cnn_input(g, 3, 224, 224, "input"));
    T_OK(c1 = cnn_conv2d(g, x, &a, "conv1"));
    T_OK(cnn_node_info(g, c1, NULL, NULL, &s));
    T_EQ(s.dim[0], 64);
    T_EQ(s.dim[1], 224);
    T_EQ(s.dim[2], 224);
    T_EQ(cnn_graph_param_count(g), 1792); /* 64 * (3*3*3) + 64 */

    T_OK(p1 = cnn_maxpool2d(g, c1, &p, "pool1"));
    T_OK(cnn_node_info(g, p1, NULL, NULL, &s));
    T_EQ(s.dim[0], 64);
    T_EQ(s.dim[1], 112);
    T_EQ(s.dim[2], 112);
    T_EQ(cnn_graph_param_count(g), 1792);

    before = cnn_graph_param_count(g);
    a.out_channels = 128;
    T_OK(c2 = cnn_conv2d(g, p1, &a, "conv2"));
    T_OK(cnn_node_info(g, c2, NULL, NULL, &s));
    T_EQ(s.dim[0], 128);
    T_EQ(s.dim[1], 112);
    T_EQ(s.dim[2], 112);
    T_EQ(cnn_graph_param_count(g) - before, 73856); /* 128 * (64*3*3) + 128 */
    cnn_graph_free(g);
}

/* The output-size formula floor((W + Pb + Pe - D(F-1) - 1) / S) + 1 on the
 * textbook's "same" and "valid" cases and a size below 1 (an error). */
static void output_size_formula(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(1, 5, 5);
    cnn_shape       s;
    int             x, c;

    T_OK(x = cnn_input(g, 1, 32, 32, "x"));
    T_OK(cnn_conv2d_pad_same(&a, 32, 32));
    T_OK(c = cnn_conv2d(g, x, &a, "same"));
    T_OK(cnn_node_info(g, c, NULL, NULL, &s));
    T_EQ(s.dim[1], 32);
    cnn_conv2d_pad_valid(&a);
    T_OK(c = cnn_conv2d(g, x, &a, "valid"));
    T_OK(cnn_node_info(g, c, NULL, NULL, &s));
    T_EQ(s.dim[1], 28);
    a.dilation[0] = a.dilation[1] = 8; /* span 33 > 32 */
    T_ERR(cnn_conv2d(g, x, &a, "too_big"), CNN_ESHAPE);
    T_TRUE(strstr(cnn_last_error(), "too_big") != NULL);
    cnn_graph_free(g);
}

int main(void)
{
    T_RUN(example_1_convolution);
    T_RUN(max_pooling_regions);
    T_RUN(max_pooling_ties);
    T_RUN(example_2_dimensions);
    T_RUN(output_size_formula);
    return t_done("seed");
}
