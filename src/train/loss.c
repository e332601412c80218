/* loss.c - softmax cross-entropy on logits, computed with log-sum-exp. */
#include "../graph/graph_impl.h"

#include <math.h>

int cnn_graph_softmax_xent(cnn_graph *g, int logits, const int *labels, float smoothing,
                           float *loss, int *correct)
{
    cnn_node *n;
    int64_t   K;
    double    total = 0.0;
    int       hits  = 0, rc;

    if (!g || !labels || !loss)
        return cnn_fail(CNN_EINVAL, "softmax_xent: NULL argument");
    if (logits < 0 || logits >= g->n_nodes)
        return cnn_fail(CNN_EINVAL, "softmax_xent: node id %d out of range", logits);
    if (g->batch == 0 || !g->forward_done)
        return cnn_fail(CNN_ESTATE, "softmax_xent: run a forward pass first");
    if (!(smoothing >= 0.0f && smoothing < 1.0f))
        return cnn_fail(CNN_EINVAL, "softmax_xent: label smoothing %g, expected [0, 1)",
                        (double)smoothing);
    n = &g->nodes[logits];
    K = cnn_node_numel(n);
    if (n->shape.dim[0] != K)
        return cnn_fail(CNN_ESHAPE, "softmax_xent: '%s' must give one vector of class scores per "
                        "sample, has %lld channels of %lld values",
                        n->name, (long long)n->shape.dim[0], (long long)(K / n->shape.dim[0]));
    for (int b = 0; b < g->batch; b++)
        if (labels[b] < 0 || labels[b] >= K)
            return cnn_fail(CNN_EINVAL, "softmax_xent: label %d of sample %d is outside [0, %lld)",
                            labels[b], b, (long long)K);
    if (g->shared_dy && n->last != g->n_nodes)
        return cnn_fail(CNN_ESTATE, "softmax_xent: '%s' is read by other nodes and the graph "
                        "shares gradient memory: take the loss on an output node", n->name);
    if ((rc = cnn_graph_clear_grads(g)) < 0)
        return rc;

    const double off = (double)smoothing / (double)K, on = 1.0 - smoothing + off;
    for (int b = 0; b < g->batch; b++) {
        const float *x  = n->y + b * K;
        float       *dx = n->dy + b * K;
        double       mx = x[0], s = 0.0, sum_logp = 0.0;
        int64_t      arg = 0;
        for (int64_t k = 1; k < K; k++)
            if (x[k] > mx) {
                mx  = x[k];
                arg = k;
            }
        for (int64_t k = 0; k < K; k++)
            s += exp((double)x[k] - mx);
        const double lse = mx + log(s);
        for (int64_t k = 0; k < K; k++) {
            double logp = (double)x[k] - lse;
            double q    = k == labels[b] ? on : off;
            sum_logp += q * logp;
            dx[k] = (float)((exp(logp) - q) / g->batch);
        }
        total -= sum_logp;
        hits += arg == labels[b];
    }
    *loss = (float)(total / g->batch);
    if (correct)
        *correct = hits;
    return CNN_OK;
}
