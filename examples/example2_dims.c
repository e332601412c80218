/* example2_dims.c - the textbook's Example 2: track shapes and parameters
 * through conv 64 3x3 p1, max pool 2x2/2, conv 128 3x3 p1 on a 3x224x224
 * image, all computed by the library's shape inference.
 *
 *   build/examples/example2_dims
 */
#include "cnn.h"

#include <stdio.h>

int main(void)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr c = cnn_conv2d_defaults(64, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    cnn_node_stats  st[4];
    int             ids[4];
    const char     *what[4] = {"-", "3x3, 64 filters, s1, p1", "2x2 max pool, s2",
                               "3x3, 128 filters, s1, p1"};

    c.pad[0] = c.pad[1] = c.pad[2] = c.pad[3] = 1;
    ids[0] = cnn_input(g, 3, 224, 224, "Input");
    ids[1] = cnn_conv2d(g, ids[0], &c, "Conv1");
    ids[2] = cnn_maxpool2d(g, ids[1], &p, "Pool1");
    c.out_channels = 128;
    ids[3] = cnn_conv2d(g, ids[2], &c, "Conv2");
    if (ids[3] < 0 || cnn_graph_stats_get(g, st, NULL) < 0) {
        fprintf(stderr, "example2: %s\n", cnn_last_error());
        cnn_graph_free(g);
        return 1;
    }

    printf("%-6s | %-26s | %-15s | %s\n", "Layer", "Operation", "Output shape", "Parameters");
    for (int i = 0; i < 4; i++) {
        const char *name;
        cnn_shape   s;
        cnn_node_info(g, ids[i], NULL, &name, &s);
        /* The book writes H x W x C; the library stores C x H x W. */
        printf("%-6s | %-26s | %3lld x %3lld x %-3lld | %lld\n", name, what[i],
               (long long)s.dim[1], (long long)s.dim[2], (long long)s.dim[0],
               (long long)st[i].params);
    }
    printf("\nConv1: 64 x (3*3*3) weights + 64 biases = %lld\n", (long long)st[1].params);
    printf("Conv2: 128 x (64*3*3) weights + 128 biases = %lld\n", (long long)st[3].params);
    cnn_graph_free(g);
    return 0;
}
