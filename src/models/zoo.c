/* zoo.c - the classic architectures, written only against the public API.
 * Definitions and node names follow torchvision (features.0, layer1.0.conv1,
 * classifier.6, ...) so weights can move between the two; parameter counts
 * equal torchvision's to the unit. */
#include "cnn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A builder remembers the first failure; every later call is skipped and
 * returns it, so a model reads as a straight list of layers. */
typedef struct builder {
    cnn_graph *g;
    int        err;
    char       name[128];
} builder;

static const char *nm(builder *b, const char *fmt, va_list ap)
{
    vsnprintf(b->name, sizeof b->name, fmt, ap);
    return b->name;
}

#define BUILD_STEP(b, call)                                                                      \
    do {                                                                                         \
        if ((b)->err < 0)                                                                        \
            return (b)->err;                                                                     \
        int id_ = (call);                                                                        \
        if (id_ < 0)                                                                             \
            (b)->err = id_;                                                                      \
        return id_;                                                                              \
    } while (0)

static int conv(builder *b, int x, int out, int k, int s, int p, bool bias, const char *fmt, ...)
{
    cnn_conv2d_attr a = cnn_conv2d_defaults(out, k, k);
    va_list         ap;

    a.stride[0] = a.stride[1] = s;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = p;
    a.bias = bias;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_conv2d(b->g, x, &a, b->name));
}

/* Node kinds with one input and no attributes beyond the name. */
enum { RELU, FLATTEN, GAP };

static int unary(builder *b, int kind, int x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, kind == RELU      ? cnn_relu(b->g, x, b->name)
                  : kind == FLATTEN ? cnn_flatten(b->g, x, b->name)
                                    : cnn_global_avgpool(b->g, x, b->name));
}

static int bn(builder *b, int x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_batchnorm2d(b->g, x, 1e-5f, 0.1f, b->name));
}

static int maxpool(builder *b, int x, int k, int s, int p, const char *fmt, ...)
{
    cnn_pool2d_attr a = cnn_pool2d_defaults(k, k);
    va_list         ap;

    a.stride[0] = a.stride[1] = s;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = p;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_maxpool2d(b->g, x, &a, b->name));
}

static int linear(builder *b, int x, int out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_linear(b->g, x, out, true, b->name));
}

static int dropout(builder *b, int x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_dropout(b->g, x, 0.5f, b->name));
}

static int adaptive(builder *b, int x, int size, const char *name)
{
    BUILD_STEP(b, cnn_adaptive_avgpool2d(b->g, x, size, size, name));
}

static int add(builder *b, int x, int y, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nm(b, fmt, ap);
    va_end(ap);
    BUILD_STEP(b, cnn_add(b->g, x, y, b->name));
}

/* ==== @@LENET ==== */

/* LeNet-5 as it is written today: conv 6 5x5 pad 2, max pool 2, conv 16 5x5,
 * max pool 2, fc 120, fc 84, fc classes, ReLU after each hidden layer. */
static int lenet5(builder *b, int x, int classes)
{
    x = conv(b, x, 6, 5, 1, 2, true, "conv1");
    x = unary(b, RELU, x, "relu1");
    x = maxpool(b, x, 2, 2, 0, "pool1");
    x = conv(b, x, 16, 5, 1, 0, true, "conv2");
    x = unary(b, RELU, x, "relu2");
    x = maxpool(b, x, 2, 2, 0, "pool2");
    x = unary(b, FLATTEN, x, "flatten");
    x = linear(b, x, 120, "fc1");
    x = unary(b, RELU, x, "relu3");
    x = linear(b, x, 84, "fc2");
    x = unary(b, RELU, x, "relu4");
    return linear(b, x, classes, "fc3");
}

/* ==== @@ALEXNET ==== */

static int alexnet(builder *b, int x, int classes)
{
    x = conv(b, x, 64, 11, 4, 2, true, "features.0");
    x = unary(b, RELU, x, "features.1");
    x = maxpool(b, x, 3, 2, 0, "features.2");
    x = conv(b, x, 192, 5, 1, 2, true, "features.3");
    x = unary(b, RELU, x, "features.4");
    x = maxpool(b, x, 3, 2, 0, "features.5");
    x = conv(b, x, 384, 3, 1, 1, true, "features.6");
    x = unary(b, RELU, x, "features.7");
    x = conv(b, x, 256, 3, 1, 1, true, "features.8");
    x = unary(b, RELU, x, "features.9");
    x = conv(b, x, 256, 3, 1, 1, true, "features.10");
    x = unary(b, RELU, x, "features.11");
    x = maxpool(b, x, 3, 2, 0, "features.12");
    x = adaptive(b, x, 6, "avgpool");
    x = unary(b, FLATTEN, x, "flatten");
    x = dropout(b, x, "classifier.0");
    x = linear(b, x, 4096, "classifier.1");
    x = unary(b, RELU, x, "classifier.2");
    x = dropout(b, x, "classifier.3");
    x = linear(b, x, 4096, "classifier.4");
    x = unary(b, RELU, x, "classifier.5");
    return linear(b, x, classes, "classifier.6");
}

/* ==== @@VGG ==== */

/* torchvision's configurations A, B, D, E: channels, 0 = max pool. */
static const int vgg_cfg[4][22] = {
    {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0, -1},
};

static int vgg(builder *b, int x, int classes, int cfg, bool with_bn)
{
    int idx = 0; /* index in torchvision's `features` Sequential */

    for (const int *c = vgg_cfg[cfg]; *c >= 0; c++) {
        if (*c == 0) {
            x = maxpool(b, x, 2, 2, 0, "features.%d", idx++);
            continue;
        }
        x = conv(b, x, *c, 3, 1, 1, true, "features.%d", idx++);
        if (with_bn)
            x = bn(b, x, "features.%d", idx++);
        x = unary(b, RELU, x, "features.%d", idx++);
    }
    x = adaptive(b, x, 7, "avgpool");
    x = unary(b, FLATTEN, x, "flatten");
    x = linear(b, x, 4096, "classifier.0");
    x = unary(b, RELU, x, "classifier.1");
    x = dropout(b, x, "classifier.2");
    x = linear(b, x, 4096, "classifier.3");
    x = unary(b, RELU, x, "classifier.4");
    x = dropout(b, x, "classifier.5");
    return linear(b, x, classes, "classifier.6");
}

/* ==== @@RESNET ==== */

/* torchvision's BasicBlock: 3x3 (stride) - BN - ReLU - 3x3 - BN, plus the
 * shortcut (1x1 conv + BN projection when the shape changes), then ReLU. */
static int basic_block(builder *b, int x, int in_ch, int ch, int stride, const char *p)
{
    int y = conv(b, x, ch, 3, stride, 1, false, "%s.conv1", p);
    y = bn(b, y, "%s.bn1", p);
    y = unary(b, RELU, y, "%s.relu1", p);
    y = conv(b, y, ch, 3, 1, 1, false, "%s.conv2", p);
    y = bn(b, y, "%s.bn2", p);
    if (stride != 1 || in_ch != ch) {
        x = conv(b, x, ch, 1, stride, 0, false, "%s.downsample.0", p);
        x = bn(b, x, "%s.downsample.1", p);
    }
    y = add(b, y, x, "%s.add", p);
    return unary(b, RELU, y, "%s.relu2", p);
}

/* torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3):
 * 1x1 - BN - ReLU - 3x3 (stride) - BN - ReLU - 1x1 (4x) - BN, shortcut,
 * ReLU. */
static int bottleneck(builder *b, int x, int in_ch, int ch, int stride, const char *p)
{
    int y = conv(b, x, ch, 1, 1, 0, false, "%s.conv1", p);
    y = bn(b, y, "%s.bn1", p);
    y = unary(b, RELU, y, "%s.relu1", p);
    y = conv(b, y, ch, 3, stride, 1, false, "%s.conv2", p);
    y = bn(b, y, "%s.bn2", p);
    y = unary(b, RELU, y, "%s.relu2", p);
    y = conv(b, y, 4 * ch, 1, 1, 0, false, "%s.conv3", p);
    y = bn(b, y, "%s.bn3", p);
    if (stride != 1 || in_ch != 4 * ch) {
        x = conv(b, x, 4 * ch, 1, stride, 0, false, "%s.downsample.0", p);
        x = bn(b, x, "%s.downsample.1", p);
    }
    y = add(b, y, x, "%s.add", p);
    return unary(b, RELU, y, "%s.relu3", p);
}

/* Stages of blocks; the first block of every stage but the first
 * downsamples by 2. `width` is the first stage's channels. */
static int res_stages(builder *b, int x, int n_stages, const int *blocks, int width,
                      bool use_bottleneck, int *out_ch)
{
    int  in_ch = width;
    char p[32];

    for (int s = 0; s < n_stages; s++) {
        int ch = width << s;
        for (int k = 0; k < blocks[s]; k++) {
            int stride = (s > 0 && k == 0) ? 2 : 1;
            snprintf(p, sizeof p, "layer%d.%d", s + 1, k);
            if (use_bottleneck) {
                x     = bottleneck(b, x, in_ch, ch, stride, p);
                in_ch = 4 * ch;
            } else {
                x     = basic_block(b, x, in_ch, ch, stride, p);
                in_ch = ch;
            }
        }
    }
    *out_ch = in_ch;
    return x;
}

static int resnet(builder *b, int x, int classes, const int blocks[4], bool use_bottleneck)
{
    int ch;
    x = conv(b, x, 64, 7, 2, 3, false, "conv1");
    x = bn(b, x, "bn1");
    x = unary(b, RELU, x, "relu");
    x = maxpool(b, x, 3, 2, 1, "maxpool");
    x = res_stages(b, x, 4, blocks, 64, use_bottleneck, &ch);
    x = unary(b, GAP, x, "avgpool");
    x = unary(b, FLATTEN, x, "flatten");
    return linear(b, x, classes, "fc");
}

/* He et al. 2015, section 4.2: 3x3 conv 16, then 3 stages of n basic
 * blocks with 16/32/64 channels, global average pooling, fc. Shortcuts
 * where the shape changes are 1x1 projections + BN (the paper's option B),
 * the same blocks as the ImageNet models. */
static int resnet_cifar(builder *b, int x, int classes, int n)
{
    int blocks[3] = {n, n, n}, ch;
    x = conv(b, x, 16, 3, 1, 1, false, "conv1");
    x = bn(b, x, "bn1");
    x = unary(b, RELU, x, "relu");
    x = res_stages(b, x, 3, blocks, 16, false, &ch);
    x = unary(b, GAP, x, "avgpool");
    x = unary(b, FLATTEN, x, "flatten");
    return linear(b, x, classes, "fc");
}

/* ==== @@TABLE ==== */

enum { LENET, ALEX, VGG, RES, RES_CIFAR };

static const struct zoo_entry {
    const char *name;
    int         family, arg;  /* VGG: config; RES: depth; RES_CIFAR: n    */
    bool        bn;
    int         classes, c, h, w;
} zoo[] = {
    {"lenet5", LENET, 0, false, 10, 1, 28, 28},
    {"alexnet", ALEX, 0, false, 1000, 3, 224, 224},
    {"vgg11", VGG, 0, false, 1000, 3, 224, 224},
    {"vgg13", VGG, 1, false, 1000, 3, 224, 224},
    {"vgg16", VGG, 2, false, 1000, 3, 224, 224},
    {"vgg19", VGG, 3, false, 1000, 3, 224, 224},
    {"vgg11_bn", VGG, 0, true, 1000, 3, 224, 224},
    {"vgg13_bn", VGG, 1, true, 1000, 3, 224, 224},
    {"vgg16_bn", VGG, 2, true, 1000, 3, 224, 224},
    {"vgg19_bn", VGG, 3, true, 1000, 3, 224, 224},
    {"resnet18", RES, 18, false, 1000, 3, 224, 224},
    {"resnet34", RES, 34, false, 1000, 3, 224, 224},
    {"resnet50", RES, 50, false, 1000, 3, 224, 224},
    {"resnet101", RES, 101, false, 1000, 3, 224, 224},
    {"resnet152", RES, 152, false, 1000, 3, 224, 224},
    {"resnet20", RES_CIFAR, 3, false, 10, 3, 32, 32},
    {"resnet32", RES_CIFAR, 5, false, 10, 3, 32, 32},
    {"resnet56", RES_CIFAR, 9, false, 10, 3, 32, 32},
};

const char *cnn_model_name(int i)
{
    return i >= 0 && i < (int)(sizeof zoo / sizeof *zoo) ? zoo[i].name : NULL;
}

static int build(builder *b, const struct zoo_entry *z, int x, int classes)
{
    static const int blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
    static const int blocks101[4] = {3, 4, 23, 3}, blocks152[4] = {3, 8, 36, 3};

    switch (z->family) {
    case LENET: return lenet5(b, x, classes);
    case ALEX:  return alexnet(b, x, classes);
    case VGG:   return vgg(b, x, classes, z->arg, z->bn);
    case RES:
        switch (z->arg) {
        case 18:  return resnet(b, x, classes, blocks18, false);
        case 34:  return resnet(b, x, classes, blocks34, false);
        case 50:  return resnet(b, x, classes, blocks34, true);
        case 101: return resnet(b, x, classes, blocks101, true);
        default:  return resnet(b, x, classes, blocks152, true);
        }
    default:
        return resnet_cifar(b, x, classes, z->arg);
    }
}

cnn_graph *cnn_model_new(const char *name, int classes, int c, int h, int w)
{
    const struct zoo_entry *z = NULL;
    builder                 b = {0};
    int                     x;
    char                    known[512] = "";

    if (!name) {
        cnn_fail(CNN_EINVAL, "model: NULL name");
        return NULL;
    }
    for (size_t i = 0; i < sizeof zoo / sizeof *zoo; i++) {
        if (strcmp(zoo[i].name, name) == 0)
            z = &zoo[i];
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, zoo[i].name, sizeof known - strlen(known) - 1);
    }
    if (!z) {
        cnn_fail(CNN_EINVAL, "unknown model '%s' (known: %s)", name, known);
        return NULL;
    }
    if (!(b.g = cnn_graph_new()))
        return NULL;
    x = cnn_input(b.g, c > 0 ? c : z->c, h > 0 ? h : z->h, w > 0 ? w : z->w, "input");
    if (x < 0)
        b.err = x;
    build(&b, z, x, classes > 0 ? classes : z->classes);
    if (b.err < 0) {
        cnn_graph_free(b.g);
        return NULL;
    }
    return b.g;
}
