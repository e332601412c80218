/* test_train.c - the training pieces: SGD, Adam and AdamW against PyTorch
 * 1.13's update formulas run in double, optimizer state round trips, the
 * learning-rate schedules, initialization statistics, softmax
 * cross-entropy, and whole training runs (overfitting a small CNN,
 * determinism, a residual block's gradients). */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>

/* ==== @@HELPERS ==== */

/* Test data comes from a generator of our own (splitmix64), so the data
 * never depends on the library's RNG. */
static uint64_t data_rng = 1;

static void data_seed(uint64_t s) { data_rng = s; }

static double data_uniform(void)
{
    uint64_t z = (data_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static double data_normal(void)
{
    double u1 = 1.0 - data_uniform(), u2 = data_uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void fill_normal(float *p, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(data_normal() * scale);
}

/* Every parameter within `rel` of the reference, relative to max(|want|, 1):
 * the parameters are O(1), so near zero the float rounding of the O(1)
 * values that were summed into them is what is left. */
static void expect_params(const float *got, const double *want, int64_t n, double rel)
{
    for (int64_t i = 0; i < n; i++) {
        double tol = rel * fmax(1.0, fabs(want[i]));
        if (!(fabs((double)got[i] - want[i]) <= tol))
            T_FAILED("parameter %lld = %.9g, expected %.9g within %g", (long long)i,
                     (double)got[i], want[i], tol);
    }
}

/* x (3 features) -> linear 4: 16 parameters for the optimizers to move.
 * The optimizers only read the gradient arrays, so no plan is needed. */
static cnn_graph *tiny_graph(void)
{
    cnn_graph *g = cnn_graph_new();
    int        x;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input_flat(g, 3, "x"));
    T_OK(cnn_linear(g, x, 4, true, "fc"));
    T_EQ(cnn_graph_param_count(g), 16);
    return g;
}

/* ==== @@REFERENCE OPTIMIZERS ==== */

/* torch.optim.SGD (1.13, single tensor), step t (0-based), in double. The
 * hyper-parameters are the float values of the config, widened. */
static void ref_sgd(const cnn_optim_cfg *c, double lr, int t, double *p, const float *g,
                    double *buf, int64_t n)
{
    const double mom = c->momentum, damp = c->dampening, wd = c->weight_decay;

    for (int64_t i = 0; i < n; i++) {
        double d = g[i];
        if (wd != 0.0)
            d += wd * p[i];
        if (mom != 0.0) {
            buf[i] = t == 0 ? d : mom * buf[i] + (1.0 - damp) * d;
            d      = c->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* torch.optim.Adam / AdamW (1.13, single tensor), step t (0-based). */
static void ref_adam(const cnn_optim_cfg *c, double lr, int t, double *p, const float *g,
                     double *m, double *v, int64_t n)
{
    const double b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
    const double step_size = lr / (1.0 - pow(b1, t + 1));
    const double bc2_sqrt  = sqrt(1.0 - pow(b2, t + 1));

    for (int64_t i = 0; i < n; i++) {
        double d = g[i];
        if (c->kind == CNN_ADAMW)
            p[i] *= 1.0 - lr * wd;
        else
            d += wd * p[i];
        m[i] = b1 * m[i] + (1.0 - b1) * d;
        v[i] = b2 * v[i] + (1.0 - b2) * d * d;
        p[i] -= step_size * m[i] / (sqrt(v[i]) / bc2_sqrt + eps);
    }
}

/* Four steps of `cfg` on the tiny graph with hand-written gradients (some
 * small, some zero, signs mixed) and a learning rate that changes between
 * steps, every parameter compared with the reference after each step. */
static void run_optim_case(const cnn_optim_cfg *cfg)
{
    cnn_graph *g = tiny_graph();
    cnn_optim *o;
    float     *p = cnn_graph_params(g), *gr = cnn_graph_param_grads(g);
    double     ref[16], s1[16] = {0}, s2[16] = {0};
    const float lrs[4] = {cfg->lr, cfg->lr, 0.5f * cfg->lr, 0.25f * cfg->lr};

    data_seed(11);
    for (int i = 0; i < 16; i++) {
        p[i]   = (float)(2.0 * data_uniform() - 1.0);
        ref[i] = p[i];
    }
    T_TRUE((o = cnn_optim_new(g, cfg)) != NULL);
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < 16; i++) {
            double scale = i % 5 == 0 ? 1e-3 : i % 7 == 3 ? 0.0 : 1.0;
            gr[i] = (float)(data_normal() * scale);
        }
        T_OK(cnn_optim_step(o, lrs[t]));
        if (cfg->kind == CNN_SGD)
            ref_sgd(cfg, lrs[t], t, ref, gr, s1, 16);
        else
            ref_adam(cfg, lrs[t], t, ref, gr, s1, s2, 16);
        expect_params(p, ref, 16, 1e-6);
    }
    T_EQ(cnn_optim_steps(o), 4);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* ==== @@SGD ==== */

static void sgd_plain(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    c.lr = 0.1f;
    run_optim_case(&c);
}

static void sgd_momentum(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    c.lr       = 0.1f;
    c.momentum = 0.9f;
    run_optim_case(&c);
}

static void sgd_momentum_dampening(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    c.lr        = 0.1f;
    c.momentum  = 0.9f;
    c.dampening = 0.3f;
    run_optim_case(&c);
}

static void sgd_nesterov(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    c.lr       = 0.1f;
    c.momentum = 0.8f;
    c.nesterov = true;
    run_optim_case(&c);
}

static void sgd_weight_decay(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);
    c.lr           = 0.1f;
    c.weight_decay = 0.05f;
    run_optim_case(&c);
    /* Decay enters the gradient before the momentum buffer. */
    c.momentum = 0.9f;
    c.nesterov = true;
    run_optim_case(&c);
}

/* ==== @@ADAM ==== */

static void adam_formulas(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_ADAM);
    c.lr = 0.01f;
    run_optim_case(&c);
    c.weight_decay = 0.1f; /* L2: added to the gradient */
    run_optim_case(&c);
    c.beta1 = 0.5f;
    c.beta2 = 0.9f;
    c.eps   = 1e-3f;
    run_optim_case(&c);
}

static void adamw_formulas(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_ADAMW);
    c.lr = 0.01f;
    run_optim_case(&c); /* the default decay, 0.01 */
    c.weight_decay = 0.5f;
    run_optim_case(&c);
    c.weight_decay = 0.0f;
    run_optim_case(&c);
}

static void optim_defaults(void)
{
    cnn_optim_cfg s = cnn_optim_defaults(CNN_SGD), a = cnn_optim_defaults(CNN_ADAM);
    cnn_optim_cfg w = cnn_optim_defaults(CNN_ADAMW);

    T_NEAR(s.lr, 0.01f, 0);
    T_NEAR(s.momentum, 0, 0);
    T_NEAR(s.dampening, 0, 0);
    T_TRUE(!s.nesterov);
    T_NEAR(s.weight_decay, 0, 0);
    T_NEAR(a.lr, 0.001f, 0);
    T_NEAR(a.beta1, 0.9f, 0);
    T_NEAR(a.beta2, 0.999f, 0);
    T_NEAR(a.eps, 1e-8f, 0);
    T_NEAR(a.weight_decay, 0, 0);
    T_NEAR(w.weight_decay, 0.01f, 0);
}

/* A frozen node keeps its parameters bit for bit, even under weight decay
 * (which would move them with a zero gradient); the rest still trains. */
static void optim_frozen_node(void)
{
    const cnn_optim_kind kinds[3] = {CNN_SGD, CNN_ADAM, CNN_ADAMW};

    for (int k = 0; k < 3; k++) {
        cnn_graph    *g = cnn_graph_new();
        cnn_optim_cfg c = cnn_optim_defaults(kinds[k]);
        cnn_optim    *o;
        float        *w1, *w2, before1[12], before2[8];
        int           x, fc1, fc2;

        T_TRUE(g != NULL);
        T_OK(x = cnn_input_flat(g, 3, "x"));
        T_OK(fc1 = cnn_linear(g, x, 4, false, "fc1"));
        T_OK(fc2 = cnn_linear(g, fc1, 2, false, "fc2"));
        T_OK(cnn_node_set_trainable(g, fc1, false));
        T_TRUE(!cnn_node_trainable(g, fc1));
        T_TRUE(cnn_node_trainable(g, fc2));
        T_OK(cnn_node_param(g, fc1, 0, &w1, NULL, NULL, NULL));
        T_OK(cnn_node_param(g, fc2, 0, &w2, NULL, NULL, NULL));
        memcpy(before1, w1, sizeof before1);
        memcpy(before2, w2, sizeof before2);
        c.lr           = 0.1f;
        c.momentum     = kinds[k] == CNN_SGD ? 0.9f : 0.0f;
        c.weight_decay = 0.1f;
        T_TRUE((o = cnn_optim_new(g, &c)) != NULL);
        data_seed(5);
        for (int t = 0; t < 3; t++) {
            fill_normal(cnn_graph_param_grads(g), cnn_graph_param_count(g), 1.0);
            T_OK(cnn_optim_step(o, c.lr));
        }
        T_TRUE(memcmp(w1, before1, sizeof before1) == 0);
        for (int i = 0; i < 8; i++)
            T_TRUE(w2[i] != before2[i]);
        cnn_optim_free(o);
        cnn_graph_free(g);
    }
}

/* Gradient of step t, parameter i: the same in both runs. */
static float grad_at(int t, int64_t i) { return (float)sin(1.3 * t + 0.7 * (double)i + 0.1); }

/* Six steps uninterrupted against three steps, a checkpoint of the state,
 * a fresh optimizer restored from it and three more steps: the same bits. */
static void resume_case(const cnn_optim_cfg *c, int64_t want_state)
{
    cnn_graph *g1 = tiny_graph(), *g2 = tiny_graph();
    cnn_optim *o1, *o2;
    float      saved[64];
    int64_t    n = cnn_graph_param_count(g1), ns, steps;
    const float lr[6] = {0.05f, 0.04f, 0.03f, 0.02f, 0.02f, 0.01f};

    memcpy(cnn_graph_params(g2), cnn_graph_params(g1), (size_t)n * sizeof(float));
    T_TRUE((o1 = cnn_optim_new(g1, c)) != NULL);
    T_TRUE((o2 = cnn_optim_new(g2, c)) != NULL);
    T_EQ(cnn_optim_state_size(o1), want_state);
    for (int t = 0; t < 6; t++) {
        for (int64_t i = 0; i < n; i++)
            cnn_graph_param_grads(g1)[i] = grad_at(t, i);
        T_OK(cnn_optim_step(o1, lr[t]));
    }
    for (int t = 0; t < 3; t++) {
        for (int64_t i = 0; i < n; i++)
            cnn_graph_param_grads(g2)[i] = grad_at(t, i);
        T_OK(cnn_optim_step(o2, lr[t]));
    }
    /* The checkpoint: step count and state floats; then a new optimizer. */
    steps = cnn_optim_steps(o2);
    ns    = cnn_optim_state_size(o2);
    T_EQ(steps, 3);
    T_TRUE(ns <= 64);
    if (ns > 0)
        memcpy(saved, cnn_optim_state(o2), (size_t)ns * sizeof(float));
    cnn_optim_free(o2);
    T_TRUE((o2 = cnn_optim_new(g2, c)) != NULL);
    T_EQ(cnn_optim_steps(o2), 0);
    T_EQ(cnn_optim_state_size(o2), ns);
    if (ns > 0)
        memcpy(cnn_optim_state(o2), saved, (size_t)ns * sizeof(float));
    T_OK(cnn_optim_set_steps(o2, steps));
    T_EQ(cnn_optim_steps(o2), 3);
    for (int t = 3; t < 6; t++) {
        for (int64_t i = 0; i < n; i++)
            cnn_graph_param_grads(g2)[i] = grad_at(t, i);
        T_OK(cnn_optim_step(o2, lr[t]));
    }
    T_TRUE(memcmp(cnn_graph_params(g1), cnn_graph_params(g2), (size_t)n * sizeof(float)) == 0);
    if (ns > 0)
        T_TRUE(memcmp(cnn_optim_state(o1), cnn_optim_state(o2), (size_t)ns * sizeof(float)) == 0);
    T_EQ(cnn_optim_steps(o2), 6);
    cnn_optim_free(o1);
    cnn_optim_free(o2);
    cnn_graph_free(g1);
    cnn_graph_free(g2);
}

static void optim_state_resume(void)
{
    cnn_optim_cfg c = cnn_optim_defaults(CNN_SGD);

    resume_case(&c, 0); /* plain SGD has no state */
    c.momentum     = 0.9f;
    c.dampening    = 0.1f;
    c.weight_decay = 0.01f;
    resume_case(&c, 16); /* the momentum buffers */
    c = cnn_optim_defaults(CNN_ADAM);
    c.weight_decay = 0.01f;
    resume_case(&c, 32); /* m then v */
    c = cnn_optim_defaults(CNN_ADAMW);
    resume_case(&c, 32);
}

/* ==== @@SCHEDULES ==== */

/* Exact where the value is exact in binary; elsewhere the formula in
 * double rounded to float, within one float ulp of the base rate. */
static void sched_const(void)
{
    cnn_sched s = {.kind = CNN_SCHED_CONST, .lr = 0.125f};

    T_NEAR(cnn_sched_lr(&s, 0), 0.125f, 0);
    T_NEAR(cnn_sched_lr(&s, 1), 0.125f, 0);
    T_NEAR(cnn_sched_lr(&s, 1000000), 0.125f, 0);
}

static void sched_step(void)
{
    cnn_sched s = {.kind = CNN_SCHED_STEP, .lr = 0.1f, .gamma = 0.5f, .step_size = 3};

    for (int64_t t = 0; t < 3; t++)
        T_NEAR(cnn_sched_lr(&s, t), 0.1f, 0);
    for (int64_t t = 3; t < 6; t++)
        T_NEAR(cnn_sched_lr(&s, t), 0.05f, 0);
    T_NEAR(cnn_sched_lr(&s, 6), 0.025f, 0);
    T_NEAR(cnn_sched_lr(&s, 29), 0.1f / 512, 0); /* floor(29/3) = 9 */
    s.gamma = 0.1f;
    s.lr    = 1.0f;
    for (int64_t t = 0; t < 12; t++) {
        double want = pow((double)0.1f, (double)(t / 3));
        T_NEAR(cnn_sched_lr(&s, t), want, 1e-7 * want);
    }
}

static void sched_cosine(void)
{
    cnn_sched s = {.kind = CNN_SCHED_COSINE, .lr = 1.0f, .min_lr = 0.0f, .total_steps = 10};
    const double pi = 3.14159265358979323846;

    T_NEAR(cnn_sched_lr(&s, 0), 1.0f, 0);
    T_NEAR(cnn_sched_lr(&s, 5), 0.5f, 0);
    T_NEAR(cnn_sched_lr(&s, 10), 0.0f, 0);
    s.lr     = 0.1f;
    s.min_lr = 0.001f;
    for (int64_t t = 0; t <= 10; t++) {
        double want = (double)s.min_lr +
                      ((double)s.lr - s.min_lr) * (1.0 + cos(pi * (double)t / 10.0)) / 2.0;
        T_NEAR(cnn_sched_lr(&s, t), want, 1e-8);
    }
    T_NEAR(cnn_sched_lr(&s, 10), 0.001f, 0);
}

static void sched_warmup(void)
{
    cnn_sched s = {.kind = CNN_SCHED_COSINE, .lr = 1.0f, .total_steps = 14, .warmup_steps = 4};
    const double pi = 3.14159265358979323846;

    /* lr * (step + 1) / warmup for the first `warmup` steps... */
    T_NEAR(cnn_sched_lr(&s, 0), 0.25f, 0);
    T_NEAR(cnn_sched_lr(&s, 1), 0.5f, 0);
    T_NEAR(cnn_sched_lr(&s, 2), 0.75f, 0);
    T_NEAR(cnn_sched_lr(&s, 3), 1.0f, 0);
    /* ...then the cosine over T = total - warmup = 10 steps, t = step - 4. */
    T_NEAR(cnn_sched_lr(&s, 4), 1.0f, 0);
    T_NEAR(cnn_sched_lr(&s, 9), 0.5f, 0);
    T_NEAR(cnn_sched_lr(&s, 14), 0.0f, 0);
    for (int64_t t = 4; t <= 14; t++)
        T_NEAR(cnn_sched_lr(&s, t), (1.0 + cos(pi * (double)(t - 4) / 10.0)) / 2.0, 1e-7);

    cnn_sched st = {.kind = CNN_SCHED_STEP, .lr = 0.2f, .gamma = 0.5f, .step_size = 3,
                    .warmup_steps = 2};
    T_NEAR(cnn_sched_lr(&st, 0), 0.1f, 0);
    T_NEAR(cnn_sched_lr(&st, 1), 0.2f, 0);
    T_NEAR(cnn_sched_lr(&st, 2), 0.2f, 0);  /* t = 0 */
    T_NEAR(cnn_sched_lr(&st, 4), 0.2f, 0);  /* t = 2 */
    T_NEAR(cnn_sched_lr(&st, 5), 0.1f, 0);  /* t = 3 */
    T_NEAR(cnn_sched_lr(&st, 8), 0.05f, 0); /* t = 6 */

    cnn_sched c = {.kind = CNN_SCHED_CONST, .lr = 0.3f, .warmup_steps = 3};
    T_NEAR(cnn_sched_lr(&c, 0), (float)(0.3f / 3.0), 1e-8);
    T_NEAR(cnn_sched_lr(&c, 1), (float)(0.3f * 2.0 / 3.0), 1e-8);
    T_NEAR(cnn_sched_lr(&c, 2), 0.3f, 0);
    T_NEAR(cnn_sched_lr(&c, 3), 0.3f, 0);
}

/* ==== @@INIT ==== */

typedef struct wstats {
    double mean, sd, absmax, within1; /* within1: share with |w - mean| < sd */
} wstats;

static wstats stats_of(const float *w, int64_t n)
{
    wstats s = {0};
    double ss = 0.0;
    int64_t in = 0;

    for (int64_t i = 0; i < n; i++)
        s.mean += w[i];
    s.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        ss += (w[i] - s.mean) * (w[i] - s.mean);
        s.absmax = fmax(s.absmax, fabs(w[i]));
    }
    s.sd = sqrt(ss / (double)n);
    for (int64_t i = 0; i < n; i++)
        in += fabs(w[i] - s.mean) < s.sd;
    s.within1 = (double)in / (double)n;
    return s;
}

/* Weights of one scheme: the sample standard deviation within 3% of the
 * formula's (its standard error is 1/sqrt(2n), 0.5% for 18k weights), the
 * mean within 5 standard errors of 0, and the shape of the distribution:
 * 68.3% within one sd for a normal, 57.7% and a hard bound for a uniform. */
static void check_weights(const float *w, int64_t n, cnn_init scheme, double fi, double fo)
{
    wstats s = stats_of(w, n);
    double sd = 0.0, bound = 0.0;
    bool   uniform = false;

    switch (scheme) {
    case CNN_INIT_HE_NORMAL:      sd = sqrt(2.0 / fi); break;
    case CNN_INIT_XAVIER_NORMAL:  sd = sqrt(2.0 / (fi + fo)); break;
    case CNN_INIT_HE_UNIFORM:     bound = sqrt(6.0 / fi); break;
    case CNN_INIT_XAVIER_UNIFORM: bound = sqrt(6.0 / (fi + fo)); break;
    case CNN_INIT_PYTORCH:        bound = 1.0 / sqrt(fi); break;
    default:                      T_FAILED("unknown scheme %d", (int)scheme);
    }
    if (bound > 0.0) {
        uniform = true;
        sd      = bound / sqrt(3.0);
    }
    if (!(fabs(s.sd / sd - 1.0) < 0.03))
        T_FAILED("scheme %d: sd %.6g, expected %.6g", (int)scheme, s.sd, sd);
    if (!(fabs(s.mean) < 5.0 * sd / sqrt((double)n)))
        T_FAILED("scheme %d: mean %.6g, expected about 0 (sd %.6g)", (int)scheme, s.mean, sd);
    if (uniform) {
        T_TRUE(s.absmax <= bound * (1.0 + 1e-6));
        T_TRUE(s.absmax >= 0.99 * bound);
        T_NEAR(s.within1, 1.0 / sqrt(3.0), 0.02);
    } else {
        T_TRUE(s.absmax > 3.0 * sd);
        T_NEAR(s.within1, 0.6827, 0.02);
    }
}

static void check_bias(const float *b, int64_t n, cnn_init scheme, double fi)
{
    if (scheme != CNN_INIT_PYTORCH) {
        for (int64_t i = 0; i < n; i++)
            T_NEAR(b[i], 0.0f, 0);
        return;
    }
    wstats s = stats_of(b, n);
    double bound = 1.0 / sqrt(fi);
    T_TRUE(s.absmax <= bound * (1.0 + 1e-6));
    T_TRUE(s.absmax >= 0.5 * bound);
    T_TRUE(s.sd > 0.3 * bound);
}

static void init_scheme(cnn_init scheme)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(64, 3, 3);
    int             x, conv, bn, xf, fc;
    float          *cw, *cb, *fw, *fb, *gamma, *beta, *rmean, *rvar, *copy;
    int64_t         np;

    T_TRUE(g != NULL);
    T_OK(x = cnn_input(g, 32, 6, 6, "x"));
    T_OK(conv = cnn_conv2d(g, x, &a, "conv"));
    T_OK(bn = cnn_batchnorm2d(g, conv, 1e-5f, 0.1f, "bn"));
    T_OK(xf = cnn_input_flat(g, 256, "xf"));
    T_OK(fc = cnn_linear(g, xf, 128, true, "fc"));
    np = cnn_graph_param_count(g);
    T_EQ(np, 64 * 32 * 9 + 64 + 2 * 64 + 128 * 256 + 128);

    /* Everything dirty first, so the init has to write every value. */
    for (int64_t i = 0; i < np; i++)
        cnn_graph_params(g)[i] = 7.0f;
    for (int64_t i = 0; i < cnn_graph_buffer_count(g); i++)
        cnn_graph_buffers(g)[i] = 7.0f;
    T_OK(cnn_graph_init(g, scheme, 1234));

    T_OK(cnn_node_param(g, conv, 0, &cw, NULL, NULL, NULL));
    T_OK(cnn_node_param(g, conv, 1, &cb, NULL, NULL, NULL));
    T_OK(cnn_node_param(g, fc, 0, &fw, NULL, NULL, NULL));
    T_OK(cnn_node_param(g, fc, 1, &fb, NULL, NULL, NULL));
    T_OK(cnn_node_param(g, bn, 0, &gamma, NULL, NULL, NULL));
    T_OK(cnn_node_param(g, bn, 1, &beta, NULL, NULL, NULL));
    T_OK(cnn_node_buffer(g, bn, 0, &rmean, NULL, NULL));
    T_OK(cnn_node_buffer(g, bn, 1, &rvar, NULL, NULL));
    /* conv: fan_in = 32 * 3 * 3, fan_out = 64 * 3 * 3; linear: 256, 128 */
    check_weights(cw, 64 * 32 * 9, scheme, 288.0, 576.0);
    check_bias(cb, 64, scheme, 288.0);
    check_weights(fw, 128 * 256, scheme, 256.0, 128.0);
    check_bias(fb, 128, scheme, 256.0);
    for (int c = 0; c < 64; c++) {
        T_NEAR(gamma[c], 1.0f, 0);
        T_NEAR(beta[c], 0.0f, 0);
        T_NEAR(rmean[c], 0.0f, 0);
        T_NEAR(rvar[c], 1.0f, 0);
    }

    /* The same seed gives the same bits; another seed other values. */
    T_TRUE((copy = malloc((size_t)np * sizeof *copy)) != NULL);
    memcpy(copy, cnn_graph_params(g), (size_t)np * sizeof *copy);
    for (int64_t i = 0; i < np; i++)
        cnn_graph_params(g)[i] = -1.0f;
    T_OK(cnn_graph_init(g, scheme, 1234));
    T_TRUE(memcmp(copy, cnn_graph_params(g), (size_t)np * sizeof *copy) == 0);
    T_OK(cnn_graph_init(g, scheme, 1235));
    T_TRUE(memcmp(copy, cw, 64 * 32 * 9 * sizeof *copy) != 0);
    T_TRUE(memcmp(copy + (fw - cnn_graph_params(g)), fw, 128 * 256 * sizeof *copy) != 0);
    free(copy);
    cnn_graph_free(g);
}

static void init_he_normal(void) { init_scheme(CNN_INIT_HE_NORMAL); }
static void init_he_uniform(void) { init_scheme(CNN_INIT_HE_UNIFORM); }
static void init_xavier_normal(void) { init_scheme(CNN_INIT_XAVIER_NORMAL); }
static void init_xavier_uniform(void) { init_scheme(CNN_INIT_XAVIER_UNIFORM); }
static void init_pytorch(void) { init_scheme(CNN_INIT_PYTORCH); }

/* ==== @@SOFTMAX CROSS-ENTROPY ==== */

/* The loss and d loss / d logits of a batch, in double. */
static double ref_xent(const float *x, const int *labels, int B, int K, double eps, double *dx)
{
    double total = 0.0;

    for (int b = 0; b < B; b++) {
        const float *xb = x + b * K;
        double       mx = xb[0], s = 0.0;
        for (int k = 1; k < K; k++)
            mx = fmax(mx, xb[k]);
        for (int k = 0; k < K; k++)
            s += exp(xb[k] - mx);
        for (int k = 0; k < K; k++) {
            double logp = xb[k] - mx - log(s);
            double q    = (k == labels[b] ? 1.0 - eps : 0.0) + eps / K;
            total -= q * logp;
            dx[b * K + k] = (exp(logp) - q) / B;
        }
    }
    return total / B;
}

static void xent_case(double eps)
{
    enum { B = 4, K = 5 };
    cnn_graph *g = cnn_graph_new();
    float      x[B * K], loss, *dx;
    double     want_dx[B * K], want;
    int        in, correct, labels[B] = {0, 3, 4, 1};

    T_TRUE(g != NULL);
    T_OK(in = cnn_input_flat(g, K, "logits"));
    T_OK(cnn_graph_plan(g, B));
    data_seed(3);
    fill_normal(x, B * K, 2.0);
    T_OK(cnn_graph_set_input(g, in, x));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, in, labels, (float)eps, &loss, &correct));
    want = ref_xent(x, labels, B, K, (double)(float)eps, want_dx);
    T_NEAR(loss, want, 1e-6 * fabs(want));
    T_TRUE((dx = cnn_graph_grad(g, in)) != NULL);
    for (int i = 0; i < B * K; i++)
        T_NEAR(dx[i], want_dx[i], 1e-7);
    cnn_graph_free(g);
}

static void xent_values(void) { xent_case(0.0); }
static void xent_label_smoothing(void) { xent_case(0.1); }

/* Logits of +-1e4: exp overflows in any naive form; log-sum-exp is exact. */
static void xent_huge_logits(void)
{
    cnn_graph  *g = cnn_graph_new();
    const float x[6] = {1e4f, -1e4f, 0.0f, 1e4f, -1e4f, 0.0f};
    const int   labels[2] = {1, 0};
    float       loss, *dx;
    int         in, correct;

    T_TRUE(g != NULL);
    T_OK(in = cnn_input_flat(g, 3, NULL));
    T_OK(cnn_graph_plan(g, 2));
    T_OK(cnn_graph_set_input(g, in, x));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_softmax_xent(g, in, labels, 0.0f, &loss, &correct));
    T_TRUE(isfinite(loss));
    T_NEAR(loss, (2e4 + 0.0) / 2, 1e-3); /* -log p: 2e4 for sample 0, 0 for sample 1 */
    T_EQ(correct, 1);
    T_TRUE((dx = cnn_graph_grad(g, in)) != NULL);
    for (int i = 0; i < 6; i++)
        T_TRUE(isfinite(dx[i]));
    T_NEAR(dx[0], 0.5f, 1e-7);  /* (p - q) / B = (1 - 0) / 2 */
    T_NEAR(dx[1], -0.5f, 1e-7); /* (0 - 1) / 2 */
    T_OK(cnn_graph_softmax_xent(g, in, labels, 0.2f, &loss, NULL));
    T_TRUE(isfinite(loss));
    cnn_graph_free(g);
}

static void xent_correct_and_labels(void)
{
    cnn_graph  *g = cnn_graph_new();
    const float x[9] = {3, 1, 2, /* arg-max 0 */ 0, 5, -1, /* 1 */ 1, 2, 9 /* 2 */};
    int         labels[3] = {0, 1, 0}, in, correct = -1;
    float       loss = -1.0f;

    T_TRUE(g != NULL);
    T_OK(in = cnn_input_flat(g, 3, NULL));
    T_OK(cnn_graph_plan(g, 3));
    T_OK(cnn_graph_set_input(g, in, x));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_softmax_xent(g, in, labels, 0.0f, &loss, &correct));
    T_EQ(correct, 2);
    labels[2] = 2;
    T_OK(cnn_graph_softmax_xent(g, in, labels, 0.0f, &loss, &correct));
    T_EQ(correct, 3);
    labels[0] = 3;
    T_ERR(cnn_graph_softmax_xent(g, in, labels, 0.0f, &loss, &correct), CNN_EINVAL);
    labels[0] = -1;
    T_ERR(cnn_graph_softmax_xent(g, in, labels, 0.0f, &loss, &correct), CNN_EINVAL);
    cnn_graph_free(g);
}

/* ==== @@TRAINING ==== */

/* One step of the training-loop protocol. */
static void train_step(cnn_graph *g, cnn_optim *o, int in, int logits, const float *x,
                       const int *labels, float lr, float *loss, int *correct)
{
    T_OK(cnn_graph_set_input(g, in, x));
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, loss, correct));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    T_OK(cnn_optim_step(o, lr));
}

/* 32 samples of 4 classes, each a random 8x8 prototype plus noise: a small
 * CNN must learn all of them, and still have them all in eval mode (with
 * the batch-norm's running statistics). */
static void overfit_small_cnn(void)
{
    enum { N = 32, CLASSES = 4, MAX_STEPS = 300 };
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr ca = cnn_conv2d_defaults(8, 3, 3);
    cnn_pool2d_attr pa = cnn_pool2d_defaults(2, 2);
    cnn_optim_cfg   oc = cnn_optim_defaults(CNN_ADAM);
    cnn_optim      *o;
    float           proto[CLASSES][64], x[N * 64], loss = 0.0f, first_loss = 0.0f;
    int             labels[N], in, h, logits, correct = 0, steps = 0;

    T_TRUE(g != NULL);
    ca.pad[0] = ca.pad[1] = ca.pad[2] = ca.pad[3] = 1;
    T_OK(in = cnn_input(g, 1, 8, 8, "x"));
    T_OK(h = cnn_conv2d(g, in, &ca, "conv"));
    T_OK(h = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn"));
    T_OK(h = cnn_relu(g, h, "relu"));
    T_OK(h = cnn_maxpool2d(g, h, &pa, "pool"));
    T_OK(h = cnn_flatten(g, h, "flat"));
    T_OK(logits = cnn_linear(g, h, CLASSES, true, "fc"));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 1));

    data_seed(2024);
    for (int c = 0; c < CLASSES; c++)
        fill_normal(proto[c], 64, 1.0);
    for (int i = 0; i < N; i++) {
        labels[i] = i % CLASSES;
        for (int k = 0; k < 64; k++)
            x[i * 64 + k] = proto[labels[i]][k] + (float)(0.5 * data_normal());
    }
    oc.lr = 0.01f;
    T_TRUE((o = cnn_optim_new(g, &oc)) != NULL);
    T_OK(cnn_graph_plan(g, N));
    /* Train until every sample is right in training mode, then 20 steps
     * more so the running statistics catch up with the batch's. */
    for (steps = 0; steps < MAX_STEPS; steps++) {
        train_step(g, o, in, logits, x, labels, oc.lr, &loss, &correct);
        if (steps == 0)
            first_loss = loss;
        if (correct == N)
            break;
    }
    T_TRUE(steps < MAX_STEPS);
    for (int t = 0; t < 20; t++)
        train_step(g, o, in, logits, x, labels, oc.lr, &loss, &correct);
    T_TRUE(loss < 0.5f * first_loss);

    T_OK(cnn_graph_set_input(g, in, x));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_softmax_xent(g, logits, labels, 0.0f, &loss, &correct));
    T_EQ(correct, N);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* Trains input 2x6x6 -> conv 4 3x3 -> relu -> flatten -> dropout 0.3 ->
 * linear 3 with SGD + momentum for 15 steps and returns the parameters
 * (malloc'd). rng_tweak != 0 moves the graph's RNG after init, so only the
 * dropout masks differ. */
static float *train_det(int threads, uint64_t seed, uint64_t rng_tweak, int64_t *np)
{
    enum { B = 8 };
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr ca = cnn_conv2d_defaults(4, 3, 3);
    cnn_optim_cfg   oc = cnn_optim_defaults(CNN_SGD);
    cnn_optim      *o;
    float           x[B * 72], loss, *out;
    int             labels[B], in, h, logits, correct;

    T_TRUE(g != NULL);
    T_OK(in = cnn_input(g, 2, 6, 6, "x"));
    T_OK(h = cnn_conv2d(g, in, &ca, "conv"));
    T_OK(h = cnn_relu(g, h, NULL));
    T_OK(h = cnn_flatten(g, h, NULL));
    T_OK(h = cnn_dropout(g, h, 0.3f, NULL));
    T_OK(logits = cnn_linear(g, h, 3, true, "fc"));
    T_OK(cnn_graph_set_threads(g, threads));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_UNIFORM, seed));
    if (rng_tweak) {
        uint64_t st[4];
        cnn_graph_rng_get(g, st);
        st[0] ^= rng_tweak;
        cnn_graph_rng_set(g, st);
    }
    T_OK(cnn_graph_plan(g, B));
    oc.lr       = 0.05f;
    oc.momentum = 0.9f;
    T_TRUE((o = cnn_optim_new(g, &oc)) != NULL);
    data_seed(99);
    fill_normal(x, B * 72, 1.0);
    for (int i = 0; i < B; i++)
        labels[i] = (int)(data_uniform() * 3);
    for (int t = 0; t < 15; t++)
        train_step(g, o, in, logits, x, labels, oc.lr, &loss, &correct);
    T_TRUE(isfinite(loss));
    *np = cnn_graph_param_count(g);
    T_TRUE((out = malloc((size_t)*np * sizeof *out)) != NULL);
    memcpy(out, cnn_graph_params(g), (size_t)*np * sizeof *out);
    cnn_optim_free(o);
    cnn_graph_free(g);
    return out;
}

static void determinism(void)
{
    int64_t n1, n2, n3, n4, n5;
    float  *a = train_det(1, 7, 0, &n1), *b = train_det(1, 7, 0, &n2);
    float  *c = train_det(1, 7, 0x5bd1e995, &n3);
    float  *d = train_det(2, 7, 0, &n4), *e = train_det(2, 7, 0, &n5);

    T_EQ(n1, n2);
    T_EQ(n1, n3);
    T_EQ(n4, n5);
    T_TRUE(memcmp(a, b, (size_t)n1 * sizeof *a) == 0);
    /* Other dropout masks give other weights: the dropout is in the loop. */
    T_TRUE(memcmp(a, c, (size_t)n1 * sizeof *a) != 0);
    T_TRUE(memcmp(d, e, (size_t)n4 * sizeof *d) == 0);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
}

/* ==== @@RESIDUAL BLOCK ==== */

enum { RB = 2, RC = 3, RH = 5, RW = 5, RN = RC * RH * RW };

typedef struct resblock {
    cnn_graph *g;
    int        x, c1, bn1, r1, c2, bn2, add, out;
} resblock;

/* x -> conv -> bn -> relu -> conv -> bn (-> add x -> relu when shortcut).
 * Both versions lay their parameters and buffers out the same way. */
static resblock build_resblock(bool shortcut)
{
    resblock        r = {0};
    cnn_conv2d_attr a = cnn_conv2d_defaults(RC, 3, 3);

    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    T_TRUE((r.g = cnn_graph_new()) != NULL);
    T_OK(r.x = cnn_input(r.g, RC, RH, RW, "x"));
    T_OK(r.c1 = cnn_conv2d(r.g, r.x, &a, "conv1"));
    T_OK(r.bn1 = cnn_batchnorm2d(r.g, r.c1, 1e-5f, 0.1f, "bn1"));
    T_OK(r.r1 = cnn_relu(r.g, r.bn1, "relu1"));
    T_OK(r.c2 = cnn_conv2d(r.g, r.r1, &a, "conv2"));
    T_OK(r.bn2 = cnn_batchnorm2d(r.g, r.c2, 1e-5f, 0.1f, "bn2"));
    r.add = r.out = r.bn2;
    if (shortcut) {
        T_OK(r.add = cnn_add(r.g, r.bn2, r.x, "add"));
        T_OK(r.out = cnn_relu(r.g, r.add, "out"));
    }
    T_OK(cnn_graph_want_input_grad(r.g, r.x, true));
    T_OK(cnn_graph_plan(r.g, RB));
    return r;
}

/* sum(seed * out) in double after a forward in `mode`. */
static double resblock_loss(resblock *r, const float *x, const float *seed, cnn_mode mode)
{
    const float *y;
    double       s = 0.0;

    T_OK(cnn_graph_set_input(r->g, r->x, x));
    T_OK(cnn_graph_forward(r->g, mode));
    T_TRUE((y = cnn_graph_data(r->g, r->out)) != NULL);
    for (int i = 0; i < RB * RN; i++)
        s += (double)seed[i] * y[i];
    return s;
}

/* Seeds d loss / d out = seed and runs backward. */
static void resblock_backward(resblock *r, const float *seed)
{
    T_OK(cnn_graph_clear_grads(r->g));
    T_OK(cnn_graph_zero_param_grads(r->g));
    memcpy(cnn_graph_grad(r->g, r->out), seed, RB * RN * sizeof *seed);
    T_OK(cnn_graph_backward(r->g));
}

static void residual_block(void)
{
    resblock r = build_resblock(true), b = build_resblock(false);
    float    x[RB * RN], seed[RB * RN], xp[RB * RN];
    float   *add_y, *add_dy, *bn2_y, *y, *dx, *dx_branch;
    int64_t  np = cnn_graph_param_count(r.g), nb = cnn_graph_buffer_count(r.g);

    T_EQ(np, cnn_graph_param_count(b.g));
    T_EQ(nb, cnn_graph_buffer_count(b.g));
    /* Random weights, affine batch-norms and running statistics, shared. */
    data_seed(77);
    fill_normal(cnn_graph_params(r.g), np, 0.4);
    for (int64_t i = 0; i < nb; i++)
        cnn_graph_buffers(r.g)[i] = (float)(i % (2 * RC) < RC ? 0.3 * data_normal()
                                                               : 0.5 + data_uniform());
    memcpy(cnn_graph_params(b.g), cnn_graph_params(r.g), (size_t)np * sizeof(float));
    memcpy(cnn_graph_buffers(b.g), cnn_graph_buffers(r.g), (size_t)nb * sizeof(float));
    fill_normal(x, RB * RN, 1.0);
    fill_normal(seed, RB * RN, 1.0);

    /* Eval: out = relu(branch + x), element for element. */
    resblock_loss(&r, x, seed, CNN_EVAL);
    T_TRUE((bn2_y = cnn_graph_data(r.g, r.bn2)) != NULL);
    T_TRUE((add_y = cnn_graph_data(r.g, r.add)) != NULL);
    T_TRUE((y = cnn_graph_data(r.g, r.out)) != NULL);
    /* The ReLU is the add's only reader: in a training plan the add does
     * it, in its own output (PyTorch's inplace ReLU), which both show. */
    T_TRUE(add_y == y);
    for (int i = 0; i < RB * RN; i++) {
        float s = bn2_y[i] + x[i];
        T_NEAR(y[i], s > 0.0f ? s : 0.0f, 0);
    }

    /* Eval, the whole input gradient against central differences. In eval
     * the block is piecewise linear, so the difference is exact but for
     * float rounding in the forward (about 1e-6 / 2h) and kinks crossed
     * within h of x. */
    resblock_backward(&r, seed);
    T_TRUE((dx = cnn_graph_grad(r.g, r.x)) != NULL);
    float dx_eval[RB * RN];
    memcpy(dx_eval, dx, sizeof dx_eval);
    const double h = 1e-3;
    for (int i = 0; i < RB * RN; i++) {
        memcpy(xp, x, sizeof xp);
        xp[i] = (float)(x[i] + h);
        double lp = resblock_loss(&r, xp, seed, CNN_EVAL);
        xp[i] = (float)(x[i] - h);
        double lm = resblock_loss(&r, xp, seed, CNN_EVAL);
        double fd = (lp - lm) / ((double)(float)(x[i] + h) - (double)(float)(x[i] - h));
        if (!(fabs(fd - dx_eval[i]) <= 5e-3 * fmax(1.0, fabs(fd))))
            T_FAILED("d out / d x[%d] = %.6g, finite difference %.6g", i, (double)dx_eval[i], fd);
    }

    /* Training (batch statistics): the input gradient is the shortcut's,
     * the add node's gradient (the seed masked by the final relu), plus
     * the branch's, which the graph without the shortcut gives when seeded
     * with that same gradient. */
    resblock_loss(&r, x, seed, CNN_TRAIN);
    resblock_backward(&r, seed);
    resblock_loss(&b, x, seed, CNN_TRAIN);
    T_TRUE(memcmp(cnn_graph_data(r.g, r.bn2), cnn_graph_data(b.g, b.bn2),
                  RB * RN * sizeof(float)) == 0);
    add_y  = cnn_graph_data(r.g, r.add);
    add_dy = cnn_graph_grad(r.g, r.add);
    for (int i = 0; i < RB * RN; i++)
        T_NEAR(add_dy[i], add_y[i] > 0.0f ? seed[i] : 0.0f, 0);
    resblock_backward(&b, add_dy);
    dx        = cnn_graph_grad(r.g, r.x);
    dx_branch = cnn_graph_grad(b.g, b.x);
    for (int i = 0; i < RB * RN; i++)
        T_NEAR(dx[i], (double)add_dy[i] + dx_branch[i], 1e-6 * fmax(1.0, fabs(dx[i])));
    /* The parameter gradients see only the branch: the same in both. */
    for (int64_t i = 0; i < np; i++)
        T_NEAR(cnn_graph_param_grads(r.g)[i], cnn_graph_param_grads(b.g)[i], 0);
    cnn_graph_free(r.g);
    cnn_graph_free(b.g);
}

/* Shared gradient memory (cnn_graph_share_grads) changes where gradients
 * live, not their values: the loss, every parameter gradient and the
 * input gradient are the same bits as with every gradient kept, for
 * LeNet-5, ResNet-20 (residual adds) and a net whose input feeds two
 * branches joined by concat; the plan is smaller; an intermediate
 * gradient and a loss on a node others read are refused. */
static void shared_gradients_match(void)
{
    static const char *const names[] = {"lenet5", "resnet20", "branches"};

    for (int m = 0; m < 3; m++) {
        float  loss[2], *pg[2] = {NULL, NULL}, *dx[2] = {NULL, NULL};
        int64_t np = 0, nx = 0;
        int     out = 0, mid = 0;
        for (int share = 0; share < 2; share++) {
            cnn_graph *g;
            int        labels[3] = {1, 7, 3}, x = 0;
            if (m < 2) {
                T_TRUE((g = cnn_model_new(names[m], 10, 1, 28, 28)) != NULL);
            } else {
                cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3), b = cnn_conv2d_defaults(3, 1, 1);
                cnn_conv2d_attr c = cnn_conv2d_defaults(3, 3, 3);
                int             br[2], cat;
                T_TRUE((g = cnn_graph_new()) != NULL);
                T_OK(x = cnn_input(g, 2, 8, 8, "x"));
                T_OK(br[0] = cnn_conv2d(g, x, &a, "c1"));
                T_OK(br[1] = cnn_conv2d(g, x, &b, "c2"));
                T_OK(br[1] = cnn_conv2d(g, br[1], &c, "c3"));
                cnn_conv2d_attr d = cnn_conv2d_defaults(5, 3, 3);
                d.stride[0] = d.stride[1] = 2;
                d.pad[0] = d.pad[1] = d.pad[2] = d.pad[3] = 1;
                T_OK(cat = cnn_concat(g, br, 2, "cat"));
                T_OK(cat = cnn_relu(g, cat, "relu"));
                /* the ReLU's only reader, stride 2: its dx by col2im, written whole */
                T_OK(cat = cnn_conv2d(g, cat, &d, "c4"));
                T_OK(cat = cnn_batchnorm2d(g, cat, 1e-5f, 0.1f, "bn"));
                T_OK(cat = cnn_relu(g, cat, "relu2"));
                T_OK(cat = cnn_flatten(g, cat, "flat"));
                T_OK(cnn_linear(g, cat, 10, true, "fc"));
            }
            out = cnn_graph_size(g) - 1;
            mid = out - 1;
            T_OK(cnn_graph_want_input_grad(g, x, true));
            T_OK(cnn_graph_share_grads(g, share));
            T_OK(cnn_graph_plan(g, 3));
            cnn_shape s;
            cnn_node_info(g, 0, NULL, NULL, &s);
            nx = 3 * cnn_shape_numel(&s);
            float *xd = cnn_graph_data(g, x);
            for (int64_t i = 0; i < nx; i++)
                xd[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
            /* Twice: the second backward finds the first one's values in
             * memory, so a gradient not zeroed or not written whole shows. */
            for (int step = 0; step < 2; step++) {
                T_OK(cnn_graph_forward(g, CNN_TRAIN));
                T_OK(cnn_graph_softmax_xent(g, out, labels, 0.1f, &loss[share], NULL));
                T_OK(cnn_graph_zero_param_grads(g));
                T_OK(cnn_graph_backward(g));
            }
            np = cnn_graph_param_count(g);
            pg[share] = malloc((size_t)np * sizeof(float));
            dx[share] = malloc((size_t)nx * sizeof(float));
            memcpy(pg[share], cnn_graph_param_grads(g), (size_t)np * sizeof(float));
            memcpy(dx[share], cnn_graph_grad(g, x), (size_t)nx * sizeof(float));
            if (share) {
                T_TRUE(cnn_graph_grad(g, mid) == NULL);
                T_EQ(cnn_graph_softmax_xent(g, mid, labels, 0.0f, &loss[0], NULL), CNN_ESTATE);
                cnn_graph_share_grads(g, false);
                int64_t whole = cnn_graph_plan_bytes(g, 3);
                cnn_graph_share_grads(g, true);
                T_TRUE(cnn_graph_plan_bytes(g, 3) < whole);
            } else {
                T_TRUE(cnn_graph_grad(g, mid) != NULL);
            }
            cnn_graph_free(g);
        }
        if (memcmp(&loss[0], &loss[1], sizeof loss[0]) != 0 ||
            memcmp(pg[0], pg[1], (size_t)np * sizeof(float)) != 0 ||
            memcmp(dx[0], dx[1], (size_t)nx * sizeof(float)) != 0)
            T_FAILED("%s: shared gradient memory changes the gradients", names[m]);
        for (int k = 0; k < 2; k++) {
            free(pg[k]);
            free(dx[k]);
        }
    }
}

/* A training plan's ReLU done by its producer keeps no output of its own:
 * conv -> relu costs the conv's plan plus the ReLU's gradient only; a
 * ReLU on the input (not fused) has both. */
static void fused_relu_memory(void)
{
    int64_t bytes[3];

    for (int v = 0; v < 3; v++) {
        cnn_graph        *g = cnn_graph_new();
        cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
        int               x = cnn_input(g, 2, 8, 8, "x");
        if (v == 2)
            x = cnn_relu(g, x, "pre");
        x = cnn_conv2d(g, x, &a, "conv");
        if (v >= 1)
            x = cnn_relu(g, x, "relu");
        T_TRUE(x >= 0);
        T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 1));
        bytes[v] = cnn_graph_plan_bytes(g, 3);
        T_TRUE(bytes[v] > 0);
        cnn_graph_free(g);
    }
    const int64_t act = 3 * 4 * 6 * 6 * (int64_t)sizeof(float), in = 3 * 2 * 8 * 8 * (int64_t)sizeof(float);
    T_EQ(bytes[1] - bytes[0], act);      /* relu's dy only */
    T_EQ(bytes[2] - bytes[1], 2 * in);   /* the input's relu: y and dy */
}

/* Per-node timing: zero until a pass runs, then positive for every node
 * that ran (the input's forward is not run), backward only in backward;
 * turning it on again zeroes the totals; bad arguments refused. */
static void node_profile(void)
{
    cnn_graph *g = cnn_model_new("lenet5", 10, 1, 28, 28);
    double     f, b;
    static float x[4 * 28 * 28];
    int        labels[4] = {1, 2, 3, 4};
    float      loss;

    T_TRUE(g != NULL);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 1));
    T_OK(cnn_graph_plan(g, 4));
    fill_normal(x, 4 * 28 * 28, 1.0);
    T_OK(cnn_graph_set_input(g, 0, x));
    T_OK(cnn_graph_set_profile(g, true));
    T_OK(cnn_graph_profile(g, 1, &f, &b));
    T_TRUE(f == 0.0 && b == 0.0);
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, cnn_graph_size(g) - 1, labels, 0.0f, &loss, NULL));
    T_OK(cnn_graph_backward(g));
    T_OK(cnn_graph_profile(g, 0, &f, &b));
    T_TRUE(f == 0.0 && b == 0.0);
    for (int i = 1; i < cnn_graph_size(g); i++) {
        cnn_op op;
        T_OK(cnn_node_info(g, i, &op, NULL, NULL));
        T_OK(cnn_graph_profile(g, i, &f, NULL));
        T_OK(cnn_graph_profile(g, i, NULL, &b));
        /* A ReLU after a conv is done by the conv: no forward of its own. */
        if (!((f > 0.0 || op == CNN_OP_RELU) && b > 0.0))
            T_FAILED("node %d: forward %g s, backward %g s, expected both > 0", i, f, b);
    }
    T_OK(cnn_graph_set_profile(g, false)); /* stops adding, keeps the totals */
    T_OK(cnn_graph_profile(g, 1, &f, NULL));
    T_OK(cnn_graph_forward(g, CNN_EVAL));
    T_OK(cnn_graph_profile(g, 1, &b, NULL));
    T_TRUE(b == f && f > 0.0);
    T_OK(cnn_graph_set_profile(g, true));
    T_OK(cnn_graph_profile(g, 1, &f, &b));
    T_TRUE(f == 0.0 && b == 0.0);
    T_EQ(cnn_graph_profile(g, cnn_graph_size(g), &f, &b), CNN_EINVAL);
    T_EQ(cnn_graph_profile(g, -1, &f, &b), CNN_EINVAL);
    T_EQ(cnn_graph_profile(NULL, 0, &f, &b), CNN_EINVAL);
    T_EQ(cnn_graph_set_profile(NULL, true), CNN_EINVAL);
    cnn_graph_free(g);
}

int main(void)
{
    T_RUN(sgd_plain);
    T_RUN(sgd_momentum);
    T_RUN(sgd_momentum_dampening);
    T_RUN(sgd_nesterov);
    T_RUN(sgd_weight_decay);
    T_RUN(adam_formulas);
    T_RUN(adamw_formulas);
    T_RUN(optim_defaults);
    T_RUN(optim_frozen_node);
    T_RUN(optim_state_resume);
    T_RUN(sched_const);
    T_RUN(sched_step);
    T_RUN(sched_cosine);
    T_RUN(sched_warmup);
    T_RUN(init_he_normal);
    T_RUN(init_he_uniform);
    T_RUN(init_xavier_normal);
    T_RUN(init_xavier_uniform);
    T_RUN(init_pytorch);
    T_RUN(xent_values);
    T_RUN(xent_label_smoothing);
    T_RUN(xent_huge_logits);
    T_RUN(xent_correct_and_labels);
    T_RUN(overfit_small_cnn);
    T_RUN(determinism);
    T_RUN(residual_block);
    T_RUN(shared_gradients_match);
    T_RUN(fused_relu_memory);
    T_RUN(node_profile);
    return t_done("train");
}
