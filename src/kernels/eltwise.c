/* eltwise.c - elementwise activations and max pooling over plain arrays,
 * written without branches on the data so the compiler vectorizes them
 * (a data-dependent branch mispredicts on half of random signs). */
#include "kernels.h"

CNN_CLONES void cnn_relu_fwd(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

CNN_CLONES void cnn_relu_bwd_add(const float *restrict x, const float *restrict dy, float *restrict dx,
                      int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float d = dy[i]; /* loaded either way, so the select vectorizes */
        dx[i] += x[i] > 0.0f ? d : 0.0f;
    }
}

CNN_CLONES void cnn_add_to(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

CNN_CLONES void cnn_add_bias(float *y, int64_t n, float b)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += b;
}

CNN_CLONES void cnn_vadd(const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) /* y may be a or b: no restrict */
        y[i] = a[i] + b[i];
}

CNN_CLONES void cnn_leaky_fwd(const float *restrict x, float *restrict y, int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], m = slope * v; /* both arms, then select (-fno-trapping-math) */
        y[i] = v > 0.0f ? v : m;
    }
}

CNN_CLONES void cnn_leaky_bwd_add(const float *restrict x, const float *restrict dy, float *restrict dx,
                       int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++) {
        float d = dy[i], m = slope * d;
        dx[i] += x[i] > 0.0f ? d : m;
    }
}

/* One candidate v at index i against the running (best, at): strictly
 * greater wins, so the first of equal values stays; a NaN always wins, so
 * the last NaN is kept, as PyTorch does. */
#define MAX_STEP(v, i)                                                                           \
    do {                                                                                         \
        float v_ = (v);                                                                          \
        bool  t_ = v_ > best || v_ != v_;                                                        \
        best     = t_ ? v_ : best;                                                               \
        at       = t_ ? (i) : at;                                                                \
    } while (0)

/* Stride 2, a K x K window (K a constant after inlining), no clipping. */
static inline __attribute__((always_inline)) void
max_s2(const float *restrict x, const cnn_win2d *g, int oy0, int oy1, int ox0, int ox1,
       float *restrict y, int32_t *restrict arg, const int K)
{
    const int w = g->w, ow = g->ow;

    for (int oy = oy0; oy < oy1; oy++) {
        const int iy = 2 * oy - g->pt;
        for (int ox = ox0; ox < ox1; ox++) {
            const int32_t i0 = iy * w + 2 * ox - g->pl;
            int32_t       at = i0;
            float         best = x[i0];
#pragma GCC unroll 3
            for (int ky = 0; ky < K; ky++)
#pragma GCC unroll 3
                for (int kx = ky == 0; kx < K; kx++)
                    MAX_STEP(x[i0 + ky * w + kx], i0 + ky * w + kx);
            y[oy * ow + ox]   = best;
            arg[oy * ow + ox] = at;
        }
    }
}

CNN_CLONES void cnn_maxpool_fwd_rect(const float *restrict x, const cnn_win2d *g, int oy0, int oy1,
                          int ox0, int ox1, float *restrict y, int32_t *restrict arg)
{
    const int w = g->w, ow = g->ow;

    /* LeNet's and VGG's 2x2/2 and ResNet's 3x3/2: the window a constant */
    if (g->sh == 2 && g->sw == 2 && g->kh == g->kw && (g->kh == 2 || g->kh == 3)) {
        if (g->kh == 2)
            max_s2(x, g, oy0, oy1, ox0, ox1, y, arg, 2);
        else
            max_s2(x, g, oy0, oy1, ox0, ox1, y, arg, 3);
        return;
    }
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = ox0; ox < ox1; ox++) {
            int32_t i0 = (oy * g->sh - g->pt) * w + ox * g->sw - g->pl, at = i0;
            float   best = x[i0];
            for (int ky = 0; ky < g->kh; ky++)
                for (int kx = 0; kx < g->kw; kx++)
                    MAX_STEP(x[i0 + ky * w + kx], i0 + ky * w + kx);
            y[oy * ow + ox]   = best;
            arg[oy * ow + ox] = at;
        }
}

void cnn_maxpool_fwd(const float *restrict x, const cnn_win2d *g, float *restrict y,
                     int32_t *restrict arg)
{
    cnn_maxpool_fwd_rect(x, g, 0, g->oh, 0, g->ow, y, arg);
}

/* Eight fixed lanes (element i into lane i % 8) combined in a fixed tree:
 * the compiler vectorizes it without reassociating, so the bits do not
 * depend on the compiler, and there is no chain of dependent adds. */
CNN_CLONES float cnn_sum(const float *x, int64_t n)
{
    float   acc[8] = {0};
    int64_t i      = 0;

    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[i + l];
    for (int l = 0; i < n; i++, l++)
        acc[l] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Sum of (x[i] - m)^2, in the same eight lanes and tree as cnn_sum. */
CNN_CLONES float cnn_sum_sqdev(const float *x, int64_t n, float m)
{
    float   acc[8] = {0};
    int64_t i      = 0;

    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            float d = x[i + l] - m;
            acc[l] += d * d;
        }
    for (int l = 0; i < n; i++, l++) {
        float d = x[i] - m;
        acc[l] += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void cnn_plane_stats(const float *x, int64_t n, float st[2])
{
    st[0] = cnn_sum(x, n);
    st[1] = cnn_sum_sqdev(x, n, st[0] / (float)n);
}

/* Sum of a[i] * (x[i] - m), in the same lanes. */
/* The gradient through a ReLU whose output is r: what the ReLU's own
 * backward leaves in a zeroed buffer, 0 + (r > 0 ? d : 0), so -0 gives +0. */
static inline float relu_grad(float r, float d)
{
    return r > 0.0f ? d + 0.0f : 0.0f;
}

CNN_CLONES void cnn_relu_bwd_acc(const float *restrict r, const float *restrict dy,
                                 float *restrict dx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += relu_grad(r[i], dy[i]);
}

CNN_CLONES void cnn_relu_bwd_acc2(const float *restrict r, const float *restrict dy,
                                  float *restrict dx, float *restrict dx2, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float g = relu_grad(r[i], dy[i]);
        dx[i] += g;
        dx2[i] += g;
    }
}

/* cnn_sum and cnn_dot_dev of the gradient through a ReLU whose output
 * is r (separate loops: each vectorizes, a fused one did not). */
CNN_CLONES static float sum_relu(const float *dy, const float *r, int64_t n)
{
    float   acc[8] = {0};
    int64_t i      = 0;

    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += relu_grad(r[i + l], dy[i + l]);
    for (int l = 0; i < n; i++, l++)
        acc[l] += relu_grad(r[i], dy[i]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

CNN_CLONES static float dot_dev_relu(const float *dy, const float *r, const float *x, int64_t n,
                                     float m)
{
    float   acc[8] = {0};
    int64_t i      = 0;

    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += relu_grad(r[i + l], dy[i + l]) * (x[i + l] - m);
    for (int l = 0; i < n; i++, l++)
        acc[l] += relu_grad(r[i], dy[i]) * (x[i] - m);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void cnn_bn_sums(const float *dy, const float *r, const float *x, int64_t n, float m, float *sdy,
                 float *sdyx)
{
    *sdy  = r ? sum_relu(dy, r, n) : cnn_sum(dy, n);
    *sdyx = r ? dot_dev_relu(dy, r, x, n, m) : cnn_dot_dev(dy, x, n, m);
}

CNN_CLONES float cnn_dot_dev(const float *a, const float *x, int64_t n, float m)
{
    float   acc[8] = {0};
    int64_t i      = 0;

    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[i + l] * (x[i + l] - m);
    for (int l = 0; i < n; i++, l++)
        acc[l] += a[i] * (x[i] - m);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

CNN_CLONES void cnn_affine(const float *restrict x, float *restrict y, int64_t n, float s, float t)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * s + t;
}

CNN_CLONES void cnn_affine_to(const float *restrict x, float *restrict y, int64_t n, float s,
                              float t, bool relu)
{
    if (!relu) {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * s + t;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * s + t;
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

CNN_CLONES void cnn_affine_relu(float *y, int64_t n, float s, float t, bool affine,
                                const float *r, bool relu)
{
    if (r) { /* an inference plan's conv with its residual add fused */
        for (int64_t i = 0; i < n; i++) {
            float v = affine ? y[i] * s + t : y[i];
            v = v + r[i];
            y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
        return;
    }
    if (affine && relu)
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] * s + t;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else if (affine)
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] * s + t;
    else if (relu)
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

CNN_CLONES void cnn_bias_rows(const float *restrict s, int64_t lds, float *restrict d, int64_t ldd,
                              int rows, int64_t n, const float *b, const float *sc,
                              const float *sh, const float *res, bool relu)
{
    for (int r = 0; r < rows; r++) {
        const float *x = s + r * lds;
        float       *y = d + r * ldd;
        const float  t = b ? b[r] : 0.0f;
        if (res) { /* an inference plan's conv with its residual add fused */
            const float *q = res + r * ldd;
            for (int64_t i = 0; i < n; i++) {
                float v = sc ? (x[i] * 1.0f + t) * sc[r] + sh[r] : x[i] * 1.0f + t;
                v = v + q[i];
                y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
        } else if (sc && relu)
            for (int64_t i = 0; i < n; i++) {
                float v = (x[i] * 1.0f + t) * sc[r] + sh[r];
                y[i] = v > 0.0f ? v : 0.0f;
            }
        else if (sc)
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] * 1.0f + t) * sc[r] + sh[r];
        else if (relu)
            for (int64_t i = 0; i < n; i++) {
                float v = x[i] * 1.0f + t;
                y[i] = v > 0.0f ? v : 0.0f;
            }
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = x[i] * 1.0f + t;
    }
}

CNN_CLONES void cnn_bn_dx(const float *restrict x, const float *restrict dy,
                          const float *restrict r, float *restrict dx, int64_t n, float k,
                          float a1, float m, float b, bool add)
{
    if (r && add)
        for (int64_t i = 0; i < n; i++)
            dx[i] += k * (relu_grad(r[i], dy[i]) - a1 - (x[i] - m) * b);
    else if (r)
        for (int64_t i = 0; i < n; i++)
            dx[i] = k * (relu_grad(r[i], dy[i]) - a1 - (x[i] - m) * b);
    else if (add)
        for (int64_t i = 0; i < n; i++)
            dx[i] += k * (dy[i] - a1 - (x[i] - m) * b);
    else
        for (int64_t i = 0; i < n; i++)
            dx[i] = k * (dy[i] - a1 - (x[i] - m) * b);
}
