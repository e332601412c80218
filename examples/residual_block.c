/* residual_block.c - a residual block's forward pass: the branch F(x)
 * (conv - BN - ReLU - conv - BN), the identity shortcut x, and the block's
 * output ReLU(F(x) + x), printed side by side for one small input.
 *
 *   build/examples/residual_block
 */
#include "cnn.h"

#include <math.h>
#include <stdio.h>

static int fail(cnn_graph *g)
{
    fprintf(stderr, "residual_block: %s\n", cnn_last_error());
    cnn_graph_free(g);
    return 1;
}

int main(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(2, 3, 3);
    float           in[2 * 4 * 4];
    int             x, h, fx, sum, out;

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1; /* keep 4x4 so x and F(x) add */
    a.bias = false;
    x   = cnn_input(g, 2, 4, 4, "x");
    h   = cnn_conv2d(g, x, &a, "conv1");
    h   = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn1");
    h   = cnn_relu(g, h, "relu1");
    h   = cnn_conv2d(g, h, &a, "conv2");
    fx  = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn2");
    sum = cnn_add(g, fx, x, "F(x)+x");
    out = cnn_relu(g, sum, "relu2");
    if (out < 0 || cnn_graph_init(g, CNN_INIT_HE_NORMAL, 42) < 0 || cnn_graph_plan(g, 1) < 0)
        return fail(g);
    for (int i = 0; i < 32; i++)
        in[i] = (float)sin(0.7 * i);
    if (cnn_graph_set_input(g, x, in) < 0 || cnn_graph_forward(g, CNN_EVAL) < 0)
        return fail(g);

    const float *F = cnn_graph_data(g, fx), *S = cnn_graph_data(g, sum);
    const float *Y = cnn_graph_data(g, out);
    printf("channel 0, row 0..1 (eval mode: batch norm uses its running statistics)\n");
    printf("%8s %8s %10s %14s\n", "x", "F(x)", "F(x)+x", "ReLU(F(x)+x)");
    for (int i = 0; i < 8; i++)
        printf("%8.4f %8.4f %10.4f %14.4f\n", in[i], F[i], S[i], Y[i]);
    printf("\nThe shortcut carries x unchanged: even where F(x) is small the output keeps\n"
           "the input's magnitude, and in backpropagation the gradient reaching x is the\n"
           "shortcut's (the output gradient itself) plus the branch's.\n");
    cnn_graph_free(g);
    return 0;
}
