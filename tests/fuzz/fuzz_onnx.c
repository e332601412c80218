/* fuzz_onnx.c - libFuzzer target: ONNX import from memory (make fuzz,
 * docs/onnx.md). Any input must give a graph or an error with a message,
 * never a crash, a leak or undefined behaviour. A graph imported is also
 * exported, which must give a file the importer reads (or a refusal saying
 * why), and, when light enough to run in a moment, planned and run once,
 * so that an import building a graph the executor cannot run shows too. */
#include "cnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORK  1e7         /* per forward pass at batch 1 */
#define MAX_BYTES (16 << 20)  /* of its plan                 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A bound on the arithmetic of one forward pass at batch 1: the MACs of
 * conv and linear, every window of pooling and LRN, and a few passes over
 * every output and input. Infinite when the stats cannot be had. */
static double work(const cnn_graph *g)
{
    const int       n  = cnn_graph_size(g);
    cnn_node_stats *st = calloc((size_t)n, sizeof *st);
    double          w  = 0.0;

    if (!st || cnn_graph_stats_get(g, st, NULL) < 0) {
        free(st);
        return 1e300;
    }
    for (int id = 0; id < n; id++) {
        cnn_op        op;
        cnn_shape     s, xs = {0, {0}};
        cnn_node_attr a;
        int           in[1];
        cnn_node_info(g, id, &op, NULL, &s);
        cnn_node_attrs(g, id, &a);
        if (cnn_node_inputs(g, id, in, 1) > 0)
            cnn_node_info(g, in[0], NULL, NULL, &xs);
        const double out = (double)cnn_shape_numel(&s);
        w += (double)st[id].macs + 4.0 * out + (double)cnn_shape_numel(&xs);
        if (op == CNN_OP_MAXPOOL2D || op == CNN_OP_AVGPOOL2D)
            w += out * a.pool.kernel[0] * a.pool.kernel[1];
        else if (op == CNN_OP_LRN)
            w += out * a.lrn.size;
        else if (op == CNN_OP_ADAPTIVE_AVGPOOL)
            w += out * ((double)xs.dim[1] / a.out[0] + 2) * ((double)xs.dim[2] / a.out[1] + 2);
    }
    free(st);
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnn_onnx_opts o = {0};
    cnn_graph    *g;
    int64_t       bytes;
    void         *buf;
    size_t        len;
    int           rc;

    cnn_fail(CNN_OK, "%s", ""); /* forget the message of the last input */
    g = cnn_onnx_load_mem(data, size, "fuzz.onnx", &o);

    if (!g) {
        if (o.error >= 0 || !cnn_last_error()[0])
            abort(); /* a failure must say why */
        return 0;
    }
    if ((rc = cnn_onnx_save_mem(g, 0, &buf, &len)) == 0) {
        cnn_graph *h = cnn_onnx_load_mem(buf, len, "exported.onnx", NULL);
        if (!h) {
            fprintf(stderr, "an export the importer refuses: %s\n", cnn_last_error());
            abort();
        }
        cnn_graph_free(h);
        free(buf);
    } else if (rc != CNN_EUNSUPPORTED && rc != CNN_ENOMEM) {
        fprintf(stderr, "export failed: %s\n", cnn_last_error());
        abort();
    }
    if (work(g) <= MAX_WORK && (bytes = cnn_graph_plan_infer_bytes(g, 1)) >= 0 &&
        bytes <= MAX_BYTES && cnn_graph_plan_infer(g, 1) == 0) {
        for (int k = 0; k < o.n_inputs; k++) {
            cnn_shape s;
            float    *x;
            if (o.inputs[k].node < 0 || !(x = cnn_graph_data(g, o.inputs[k].node)))
                continue;
            cnn_node_info(g, o.inputs[k].node, NULL, NULL, &s);
            for (int64_t i = 0; i < cnn_shape_numel(&s); i++)
                x[i] = (float)(i % 7) - 3.0f;
        }
        if (cnn_graph_forward(g, CNN_EVAL) < 0 && !cnn_last_error()[0])
            abort();
    }
    cnn_graph_free(g);
    return 0;
}
