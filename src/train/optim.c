/* optim.c - SGD (momentum, Nesterov, weight decay), Adam and AdamW, each
 * step written as PyTorch 1.13's single-tensor implementation so the
 * numbers can be compared one for one. */
#include "../graph/graph_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cnn_optim {
    cnn_graph    *g;
    cnn_optim_cfg cfg;
    int64_t       n;     /* parameters covered                          */
    int64_t       steps; /* updates done                                */
    float        *state; /* SGD: [n] momentum; Adam(W): [n] m, [n] v     */
    int64_t       state_n;
    float        *lr_scale; /* [n_scale] per node, NULL while all are 1 */
    int           n_scale;
};

cnn_optim_cfg cnn_optim_defaults(cnn_optim_kind kind)
{
    cnn_optim_cfg c = {
        .kind = kind, .lr = kind == CNN_SGD ? 0.01f : 0.001f, .beta1 = 0.9f, .beta2 = 0.999f,
        .eps = 1e-8f, .weight_decay = kind == CNN_ADAMW ? 0.01f : 0.0f,
    };
    return c;
}

static int check_cfg(const cnn_optim_cfg *c)
{
    if ((int)c->kind < CNN_SGD || c->kind > CNN_ADAMW)
        return cnn_fail(CNN_EINVAL, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->lr >= 0.0f) || !isfinite(c->lr))
        return cnn_fail(CNN_EINVAL, "optimizer: learning rate %g, expected >= 0", (double)c->lr);
    if (!(c->momentum >= 0.0f && c->momentum < 1.0f) || !(c->dampening >= 0.0f && c->dampening <= 1.0f))
        return cnn_fail(CNN_EINVAL, "optimizer: momentum %g must be in [0, 1), dampening %g in [0, 1]",
                        (double)c->momentum, (double)c->dampening);
    if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
        return cnn_fail(CNN_EINVAL, "optimizer: Nesterov momentum needs momentum > 0 and dampening 0");
    if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
        return cnn_fail(CNN_EINVAL, "optimizer: weight decay %g, expected >= 0", (double)c->weight_decay);
    if (c->kind != CNN_SGD && (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) ||
                               !(c->beta2 >= 0.0f && c->beta2 < 1.0f) || !(c->eps > 0.0f)))
        return cnn_fail(CNN_EINVAL, "optimizer: betas (%g, %g) must be in [0, 1) and eps %g > 0",
                        (double)c->beta1, (double)c->beta2, (double)c->eps);
    return CNN_OK;
}

cnn_optim *cnn_optim_new(cnn_graph *g, const cnn_optim_cfg *cfg)
{
    cnn_optim *o;

    if (!g || !cfg) {
        cnn_fail(CNN_EINVAL, "optimizer: NULL argument");
        return NULL;
    }
    if (check_cfg(cfg) < 0 || cnn_graph_ensure_params(g, true) < 0 || cnn_graph_ensure_grads(g) < 0)
        return NULL;
    if (!(o = calloc(1, sizeof *o))) {
        cnn_fail(CNN_ENOMEM, "optimizer: out of memory");
        return NULL;
    }
    o->g   = g;
    o->cfg = *cfg;
    o->n   = g->n_params;
    o->state_n = cfg->kind == CNN_SGD ? (cfg->momentum > 0.0f ? o->n : 0) : 2 * o->n;
    if (o->state_n > 0 && !(o->state = calloc((size_t)o->state_n, sizeof(float)))) {
        cnn_fail(CNN_ENOMEM, "optimizer: out of memory for %lld state values", (long long)o->state_n);
        free(o);
        return NULL;
    }
    return o;
}

void cnn_optim_free(cnn_optim *o)
{
    if (!o)
        return;
    free(o->state);
    free(o->lr_scale);
    free(o);
}

/* One tensor's update over [off, off + len). */
static void sgd_range(cnn_optim *o, float lr, int64_t off, int64_t len)
{
    const cnn_optim_cfg *c = &o->cfg;
    float *p = o->g->params + off, *gr = o->g->grads + off;
    float *buf = o->state ? o->state + off : NULL;

    for (int64_t i = 0; i < len; i++) {
        float d = gr[i];
        if (c->weight_decay != 0.0f)
            d += c->weight_decay * p[i];
        if (buf) {
            buf[i] = o->steps == 0 ? d : c->momentum * buf[i] + (1.0f - c->dampening) * d;
            d      = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

static void adam_range(cnn_optim *o, float lr, int64_t off, int64_t len)
{
    const cnn_optim_cfg *c = &o->cfg;
    float *p = o->g->params + off, *gr = o->g->grads + off;
    float *m = o->state + off, *v = o->state + o->n + off;
    const double t = (double)(o->steps + 1);
    /* PyTorch computes these scalars in double, then works in float. */
    const float  step_size = (float)((double)lr / (1.0 - pow(c->beta1, t)));
    const float  bc2_sqrt  = (float)sqrt(1.0 - pow(c->beta2, t));
    const bool   decoupled = c->kind == CNN_ADAMW;

    for (int64_t i = 0; i < len; i++) {
        float d = gr[i];
        if (decoupled)
            p[i] *= 1.0f - lr * c->weight_decay;
        else if (c->weight_decay != 0.0f)
            d += c->weight_decay * p[i];
        m[i] = m[i] * c->beta1 + (1.0f - c->beta1) * d;
        v[i] = v[i] * c->beta2 + (1.0f - c->beta2) * d * d;
        p[i] -= step_size * (m[i] / (sqrtf(v[i]) / bc2_sqrt + c->eps));
    }
}

int cnn_optim_step(cnn_optim *o, float lr)
{
    cnn_graph *g;

    if (!o)
        return cnn_fail(CNN_EINVAL, "optimizer step: NULL optimizer");
    g = o->g;
    if (g->n_params != o->n)
        return cnn_fail(CNN_ESTATE, "optimizer step: the graph has %lld parameters, the optimizer "
                        "was made for %lld", (long long)g->n_params, (long long)o->n);
    if (!(lr >= 0.0f) || !isfinite(lr))
        return cnn_fail(CNN_EINVAL, "optimizer step: learning rate %g, expected >= 0", (double)lr);
    for (int i = 0; i < g->n_nodes; i++) {
        const cnn_node *n = &g->nodes[i];
        if (!n->trainable)
            continue;
        const float node_lr = i < o->n_scale ? lr * o->lr_scale[i] : lr;
        for (int k = 0; k < n->n_param; k++) {
            int64_t len = cnn_shape_numel(&n->param_shape[k]);
            if (o->cfg.kind == CNN_SGD)
                sgd_range(o, node_lr, n->param_off[k], len);
            else
                adam_range(o, node_lr, n->param_off[k], len);
        }
    }
    o->steps++;
    g->param_gen++;
    return CNN_OK;
}

int cnn_optim_set_lr_scale(cnn_optim *o, int node, float scale)
{
    if (!o)
        return cnn_fail(CNN_EINVAL, "optimizer lr scale: NULL optimizer");
    if (node < 0 || node >= o->g->n_nodes)
        return cnn_fail(CNN_EINVAL, "optimizer lr scale: node id %d out of range (graph has %d "
                        "nodes)", node, o->g->n_nodes);
    if (!(scale >= 0.0f) || !isfinite(scale))
        return cnn_fail(CNN_EINVAL, "optimizer lr scale: %g for node '%s', expected >= 0",
                        (double)scale, o->g->nodes[node].name);
    if (node >= o->n_scale) {
        int    n = o->g->n_nodes;
        float *p = realloc(o->lr_scale, (size_t)n * sizeof *p);
        if (!p)
            return cnn_fail(CNN_ENOMEM, "optimizer: out of memory");
        for (int i = o->n_scale; i < n; i++)
            p[i] = 1.0f;
        o->lr_scale = p;
        o->n_scale  = n;
    }
    o->lr_scale[node] = scale;
    return CNN_OK;
}

int cnn_optim_lr_scale(const cnn_optim *o, int node, float *scale)
{
    if (!o || !scale || node < 0 || node >= o->g->n_nodes)
        return cnn_fail(CNN_EINVAL, "optimizer lr scale: NULL argument or node id %d out of range",
                        node);
    *scale = node < o->n_scale ? o->lr_scale[node] : 1.0f;
    return CNN_OK;
}

int cnn_optim_config(const cnn_optim *o, cnn_optim_cfg *cfg)
{
    if (!o || !cfg)
        return cnn_fail(CNN_EINVAL, "optimizer config: NULL argument");
    *cfg = o->cfg;
    return CNN_OK;
}

int64_t cnn_optim_steps(const cnn_optim *o) { return o ? o->steps : 0; }
int64_t cnn_optim_state_size(const cnn_optim *o) { return o ? o->state_n : 0; }
float  *cnn_optim_state(cnn_optim *o) { return o ? o->state : NULL; }

int cnn_optim_set_steps(cnn_optim *o, int64_t steps)
{
    if (!o || steps < 0)
        return cnn_fail(CNN_EINVAL, "optimizer: NULL optimizer or negative step count");
    o->steps = steps;
    return CNN_OK;
}

/* ==== @@SCHEDULES ==== */

float cnn_sched_lr(const cnn_sched *s, int64_t step)
{
    int64_t t, T;

    if (!s)
        return 0.0f;
    if (step < 0)
        step = 0;
    if (step < s->warmup_steps)
        return (float)((double)s->lr * (double)(step + 1) / (double)s->warmup_steps);
    t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case CNN_SCHED_STEP:
        if (s->step_size <= 0)
            return s->lr;
        return (float)((double)s->lr * pow((double)s->gamma, (double)(t / s->step_size)));
    case CNN_SCHED_COSINE:
        T = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (T <= 0)
            return s->min_lr;
        if (t > T)
            t = T;
        return (float)(s->min_lr + ((double)s->lr - s->min_lr) *
                                       (1.0 + cos(3.14159265358979323846 * (double)t / (double)T)) / 2.0);
    case CNN_SCHED_CONST:
    default:
        return s->lr;
    }
}
