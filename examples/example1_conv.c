/* example1_conv.c - the textbook's Example 1, computed by the library and
 * shown position by position: a 3x3 filter slides over a 5x5 image with
 * stride 1 and no padding, giving a 3x3 feature map.
 *
 *   build/examples/example1_conv
 */
#include "cnn.h"

#include <stdio.h>
#include <string.h>

static const float image[5][5] = {
    {1, 0, 2, 1, 0}, {0, 1, 0, 1, 1}, {1, 0, 1, 0, 0}, {0, 0, 1, 1, 0}, {1, 1, 0, 0, 1},
};
static const float filter[3][3] = {{1, 0, 1}, {0, 1, 0}, {1, 0, 1}};

int main(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(1, 3, 3); /* 1 filter, 3x3, stride 1, no pad */
    cnn_shape       out;
    float          *w, *y;
    int             x, conv;

    a.bias = false;
    x    = cnn_input(g, 1, 5, 5, "image");
    conv = cnn_conv2d(g, x, &a, "filter");
    if (conv < 0 || cnn_node_param(g, conv, 0, &w, NULL, NULL, NULL) < 0) {
        fprintf(stderr, "example1: %s\n", cnn_last_error());
        cnn_graph_free(g);
        return 1;
    }
    memcpy(w, filter, sizeof filter); /* weight [1, 1, 3, 3] */
    cnn_node_info(g, conv, NULL, NULL, &out);
    printf("Output size: (5 - 3 + 2*0) / 1 + 1 = %lld, so the output is %lldx%lld.\n\n",
           (long long)out.dim[1], (long long)out.dim[1], (long long)out.dim[2]);

    if (cnn_graph_plan(g, 1) < 0 || cnn_graph_set_input(g, x, &image[0][0]) < 0 ||
        cnn_graph_forward(g, CNN_EVAL) < 0) {
        fprintf(stderr, "example1: %s\n", cnn_last_error());
        cnn_graph_free(g);
        return 1;
    }
    y = cnn_graph_data(g, conv);

    /* The same sums by hand, to show where each number comes from. */
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            float sum = 0;
            printf("Position (%d,%d): patch rows %d-%d, cols %d-%d:\n", oy, ox, oy, oy + 2, ox,
                   ox + 2);
            for (int ky = 0; ky < 3; ky++) {
                printf("   ");
                for (int kx = 0; kx < 3; kx++) {
                    float p = image[oy + ky][ox + kx] * filter[ky][kx];
                    sum += p;
                    printf(" %g*%g", image[oy + ky][ox + kx], filter[ky][kx]);
                }
                printf("\n");
            }
            printf("    sum = %g   (library: %g)\n", sum, y[oy * 3 + ox]);
        }

    printf("\nOutput (3x3):\n");
    for (int oy = 0; oy < 3; oy++)
        printf("  %g %g %g\n", y[oy * 3], y[oy * 3 + 1], y[oy * 3 + 2]);
    cnn_graph_free(g);
    return 0;
}
