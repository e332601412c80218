/* cnn.h - the public API of libcnn: convolutional neural networks in C11.
 *
 * One value describes every network: a cnn_graph, a list of nodes in
 * topological order. Nodes are integer ids (>= 0). Each node is an op reading
 * earlier nodes; shapes are inferred and checked when a node is added.
 *
 * Tensors at the API are float32, NCHW, contiguous. Node shapes are stored per
 * sample (without the batch dimension); the batch size is chosen when the
 * graph is planned for execution (cnn_graph_plan).
 *
 * Errors: functions returning int give 0 (or a node id >= 0) on success and a
 * negative CNN_E* code on failure; functions returning pointers give NULL on
 * failure. cnn_last_error() then says what, where and why. The library never
 * aborts, exits or prints.
 *
 * Threads: a graph is used by one thread at a time; distinct graphs may be
 * used from distinct threads. Inside a call, work may be split over the
 * graph's own thread count (cnn_graph_set_threads).
 */
#ifndef CNN_H
#define CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CNN_API __declspec(dllexport)
#else
#define CNN_API __attribute__((visibility("default")))
#endif

#define CNN_VERSION_MAJOR 0
#define CNN_VERSION_MINOR 1
#define CNN_VERSION_PATCH 0
#define CNN_VERSION_STRING "0.1.0"

/* ==== @@ERRORS ==== */

enum {
    CNN_OK        = 0,
    CNN_EINVAL    = -1, /* a bad argument: NULL, out of range, unknown id  */
    CNN_ESHAPE    = -2, /* shapes do not fit together                     */
    CNN_ENOMEM    = -3, /* an allocation failed                           */
    CNN_EIO       = -4, /* a file could not be read or written            */
    CNN_EFORMAT   = -5, /* a file is malformed                            */
    CNN_EOVERFLOW = -6, /* a size does not fit in the types used          */
    CNN_ESTATE    = -7, /* the call does not fit the object's state       */
    CNN_EUNSUPPORTED = -8, /* valid input this build or library cannot do
                            * (an ONNX op it does not map, ONNX support
                            * not built in)                              */
};

/* The reason for the last failure on this thread ("" if none yet). The
 * string lives until the next failing call on the same thread. */
CNN_API const char *cnn_last_error(void);

/* Records `fmt` as this thread's last error and returns `code`, so error
 * paths read `return cnn_fail(CNN_EINVAL, "...", ...);`. For code built on
 * the library (model builders, readers) that reports errors the same way. */
CNN_API int cnn_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A short name for an error code ("CNN_ESHAPE"). */
CNN_API const char *cnn_strerror(int code);

/* Log sink for progress and diagnostics. The library is silent until one is
 * set. `fn` may be NULL to silence it again. Process-wide. */
typedef void (*cnn_log_fn)(const char *msg, void *user);
CNN_API void cnn_set_log(cnn_log_fn fn, void *user);

/* Library version, "MAJOR.MINOR.PATCH". */
CNN_API const char *cnn_version(void);

/* ==== @@SHAPES ==== */

/* Shape of one tensor, outermost first. Node shapes are per sample: a conv
 * output is {3, {C, H, W}}, a linear output {1, {F}}. */
typedef struct cnn_shape {
    int     ndim;   /* 1..4 */
    int64_t dim[4];
} cnn_shape;

/* Number of elements (product of dims); 0 for ndim 0. */
CNN_API int64_t cnn_shape_numel(const cnn_shape *s);

/* Formats "64x112x112" into buf (always NUL-terminated); returns buf. */
CNN_API char *cnn_shape_str(const cnn_shape *s, char *buf, size_t size);

/* ==== @@GRAPH ==== */

typedef struct cnn_graph cnn_graph;

/* A new, empty graph. NULL on allocation failure. */
CNN_API cnn_graph *cnn_graph_new(void);

/* Frees the graph and everything it owns. NULL is a no-op. */
CNN_API void cnn_graph_free(cnn_graph *g);

/* Number of nodes. */
CNN_API int cnn_graph_size(const cnn_graph *g);

/* Op kinds. The names are those printed by summaries ("conv2d"). */
typedef enum cnn_op {
    CNN_OP_INPUT,
    CNN_OP_CONV2D,
    CNN_OP_RELU,
    CNN_OP_LEAKY_RELU,
    CNN_OP_SIGMOID,
    CNN_OP_TANH,
    CNN_OP_MAXPOOL2D,
    CNN_OP_AVGPOOL2D,
    CNN_OP_GLOBAL_AVGPOOL,
    CNN_OP_BATCHNORM2D,
    CNN_OP_LINEAR,
    CNN_OP_FLATTEN,
    CNN_OP_DROPOUT,
    CNN_OP_ADD,
    CNN_OP_CONCAT,
    CNN_OP_SOFTMAX,
    CNN_OP_ADAPTIVE_AVGPOOL,
    CNN_OP_CONSTANT,
    CNN_OP_RESHAPE,
    CNN_OP_MUL,
    CNN_OP_CLIP,
    CNN_OP_LOG_SOFTMAX,
    CNN_OP_PAD,
    CNN_OP_LRN,
    CNN_OP_COUNT_
} cnn_op;

/* The op's printed name, or "?" for an unknown value. */
CNN_API const char *cnn_op_name(cnn_op op);

/* Information about node `id`; returns CNN_EINVAL for a bad id. Any out
 * pointer may be NULL. *name stays valid until the graph is freed. */
CNN_API int cnn_node_info(const cnn_graph *g, int id, cnn_op *op, const char **name,
                          cnn_shape *shape);

/* The ids of the nodes node `id` reads: writes up to `max` of them into
 * `ids` and returns how many it has (or a negative code). */
CNN_API int cnn_node_inputs(const cnn_graph *g, int id, int *ids, int max);

/* The attributes a node was built with; only the fields of its op are
 * meaningful, the rest are 0. */
/* Find a node by name; its id, or CNN_EINVAL if there is none. */
CNN_API int cnn_graph_find(const cnn_graph *g, const char *name);

/* Every node-adding function below takes an optional `name` (NULL gives an
 * automatic one such as "conv2d_3"; names are unique within a graph) and
 * returns the new node id, or a negative CNN_E* code with the reason
 * (naming the node and both shapes for a shape mismatch). On failure the
 * graph is left exactly as it was. */

/* An input of per-sample shape C x H x W (h = w = 1 and c = features is a
 * flat vector input, but use cnn_input_flat for that). */
CNN_API int cnn_input(cnn_graph *g, int c, int h, int w, const char *name);

/* A flat input of `features` values per sample. */
CNN_API int cnn_input_flat(cnn_graph *g, int features, const char *name);

/* 2-D convolution. Attributes travel in a struct with a defaults
 * constructor, so fields added later break no caller. */
typedef struct cnn_conv2d_attr {
    int  out_channels;
    int  kernel[2];   /* kh, kw                                         */
    int  stride[2];   /* sh, sw; default 1, 1                           */
    int  pad[4];      /* top, left, bottom, right; default 0            */
    int  dilation[2]; /* dh, dw; default 1, 1                           */
    int  groups;      /* default 1; == in channels: depthwise           */
    bool bias;        /* default true                                   */
} cnn_conv2d_attr;

/* Defaults: stride 1, no padding ("valid"), dilation 1, groups 1, bias. */
CNN_API cnn_conv2d_attr cnn_conv2d_defaults(int out_channels, int kh, int kw);

/* Sets pads for "same" output size at stride 1 (TensorFlow/ONNX SAME_UPPER:
 * an odd total pad puts the extra row/column at the bottom/right); for
 * stride s, output = ceil(input / s). Needs the input size, so it takes the
 * per-sample input height and width. Returns 0 or CNN_EINVAL. */
CNN_API int cnn_conv2d_pad_same(cnn_conv2d_attr *a, int in_h, int in_w);

/* Sets all pads to 0. */
CNN_API void cnn_conv2d_pad_valid(cnn_conv2d_attr *a);

/* Adds a convolution reading node x (C x H x W). Creates weight
 * [out_channels, C/groups, kh, kw] and bias [out_channels]. Output size per
 * spatial axis: floor((W + P_begin + P_end - D*(F-1) - 1) / S) + 1, which
 * must be >= 1. */
CNN_API int cnn_conv2d(cnn_graph *g, int x, const cnn_conv2d_attr *a, const char *name);

CNN_API int cnn_relu(cnn_graph *g, int x, const char *name);
/* y = x > 0 ? x : slope * x */
CNN_API int cnn_leaky_relu(cnn_graph *g, int x, float slope, const char *name);
CNN_API int cnn_sigmoid(cnn_graph *g, int x, const char *name);
CNN_API int cnn_tanh(cnn_graph *g, int x, const char *name);

/* Max and average pooling attributes. */
typedef struct cnn_pool2d_attr {
    int  kernel[2];         /* kh, kw                                       */
    int  stride[2];         /* default = kernel                             */
    int  pad[4];            /* top, left, bottom, right; each < its kernel  */
    bool ceil_mode;         /* default false; PyTorch's rule: the last
                             * window must start inside the input or the
                             * leading pad                                  */
    bool count_include_pad; /* average pool only; default true (PyTorch)   */
} cnn_pool2d_attr;

/* Defaults: stride = kernel, no padding, floor mode, count_include_pad. */
CNN_API cnn_pool2d_attr cnn_pool2d_defaults(int kh, int kw);

/* Max pooling; padded positions never win. The gradient goes to the max
 * element only, ties to the first in scan order (row-major in the window). */
CNN_API int cnn_maxpool2d(cnn_graph *g, int x, const cnn_pool2d_attr *a, const char *name);
/* Average pooling, divisor as PyTorch's AvgPool2d (divisor_override unset). */
CNN_API int cnn_avgpool2d(cnn_graph *g, int x, const cnn_pool2d_attr *a, const char *name);
/* C x H x W -> C x 1 x 1, the mean over each channel's map. */
CNN_API int cnn_global_avgpool(cnn_graph *g, int x, const char *name);

/* Adaptive average pooling to an oh x ow output, PyTorch's
 * AdaptiveAvgPool2d: output cell i averages input rows
 * [floor(i*H/oh), ceil((i+1)*H/oh)) (and the same for columns), so any input
 * size maps to the same output size (VGG and AlexNet use it to keep their
 * classifier's size fixed). */
CNN_API int cnn_adaptive_avgpool2d(cnn_graph *g, int x, int oh, int ow, const char *name);

/* Batch normalization over the channels of C x H x W (or of a flat F
 * vector, as BatchNorm1d). PyTorch's definition: training normalizes with
 * the batch mean and biased variance and updates
 *   running = (1 - momentum) * running + momentum * batch_stat
 * with the unbiased variance; eval normalizes with the running statistics.
 * Parameters gamma (1) and beta (0); buffers running_mean (0) and
 * running_var (1). PyTorch's defaults: eps 1e-5, momentum 0.1. */
CNN_API int cnn_batchnorm2d(cnn_graph *g, int x, float eps, float momentum, const char *name);

/* Fully connected: y = x W^T + b, x flattened per sample to F values;
 * weight [out_features, F] (PyTorch layout), bias [out_features]. */
CNN_API int cnn_linear(cnn_graph *g, int x, int out_features, bool bias, const char *name);

/* Any per-sample shape -> one flat vector. */
CNN_API int cnn_flatten(cnn_graph *g, int x, const char *name);

/* Inverted dropout: in training, each element is zeroed with probability p
 * and the survivors scaled by 1/(1-p); in eval, the identity. 0 <= p < 1. */
CNN_API int cnn_dropout(cnn_graph *g, int x, float p, const char *name);

/* Elementwise a + b (residual connections). b is broadcast to a's shape as
 * in NumPy: its per-sample dims, aligned to the right, each equal a's or
 * are 1 (a bias [C, 1, 1] for a C x H x W input); the output has a's
 * shape. */
CNN_API int cnn_add(cnn_graph *g, int a, int b, const char *name);

/* Elementwise a * b, b broadcast to a's shape as in cnn_add (a gate
 * [C, 1, 1] scaling the channels of C x H x W). */
CNN_API int cnn_mul(cnn_graph *g, int a, int b, const char *name);

/* A node without inputs whose output is its one parameter, "value", of
 * per-sample shape *s, the same for every sample of the batch: a learned
 * bias or scale for cnn_add / cnn_mul, or a constant of an imported model
 * (freeze it with cnn_node_set_trainable). Initialized to zeros. */
CNN_API int cnn_constant(cnn_graph *g, const cnn_shape *s, const char *name);

/* The same elements under another per-sample shape *s (the element counts
 * must agree; the order is row-major, so nothing moves). */
CNN_API int cnn_reshape(cnn_graph *g, int x, const cnn_shape *s, const char *name);

/* y = min(max(x, lo), hi), elementwise (ReLU6: lo 0, hi 6). Either bound may
 * be infinite; lo > hi gives hi everywhere (ONNX Runtime's order). NaN
 * passes through. The gradient flows where lo <= x <= hi. */
CNN_API int cnn_clip(cnn_graph *g, int x, float lo, float hi, const char *name);

/* Concatenation along channels (the first per-sample dim) of n >= 1 nodes
 * whose other dims agree. */
CNN_API int cnn_concat(cnn_graph *g, const int *xs, int n, const char *name);

/* Softmax over the channels (the first per-sample dim), independently at
 * each spatial position. */
CNN_API int cnn_softmax(cnn_graph *g, int x, const char *name);

/* Softmax over per-sample dim `axis` (0 .. ndim-1; 0 is cnn_softmax),
 * independently for every index of the other dims. */
CNN_API int cnn_softmax_axis(cnn_graph *g, int x, int axis, const char *name);

/* log(softmax(x)) over per-sample dim `axis`, computed as
 * x - max - log(sum(exp(x - max))) so it neither overflows nor takes the
 * log of 0. */
CNN_API int cnn_log_softmax(cnn_graph *g, int x, int axis, const char *name);

/* Constant padding: per-sample dim d gets begin[d] elements of `value`
 * before and end[d] after (d < ndim of x; the arrays hold that many). A
 * negative count removes elements instead (a crop), as ONNX's Pad. */
CNN_API int cnn_pad(cnn_graph *g, int x, const int *begin, const int *end, float value,
                    const char *name);

/* Local response normalization across channels (AlexNet), ONNX's LRN: over
 * a C x ... input,
 *   y[c] = x[c] / (k + alpha / size * sum_{c' in window(c)} x[c']^2)^beta
 * with window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to
 * the channels (for odd sizes the same as PyTorch's LocalResponseNorm). */
CNN_API int cnn_lrn(cnn_graph *g, int x, int size, float alpha, float beta, float k,
                    const char *name);

/* The attributes node `id` was built with; only the fields of its op are
 * meaningful, the others are zero. */
typedef struct cnn_node_attr {
    cnn_conv2d_attr conv;     /* conv2d                                   */
    cnn_pool2d_attr pool;     /* maxpool2d, avgpool2d                     */
    int             out[2];   /* linear: out features in out[0];
                               * adaptive_avgpool: oh, ow                 */
    bool            bias;     /* linear                                   */
    float           slope;    /* leaky_relu                               */
    float           p;        /* dropout                                  */
    float           eps, momentum; /* batchnorm2d                         */
    int             axis;     /* softmax, log_softmax                     */
    struct { float lo, hi; } clip;
    struct { int begin[4], end[4]; float value; } pad;
    struct { int size; float alpha, beta, k; } lrn;
} cnn_node_attr;
/* (constant, reshape: the shape is the node's own, from cnn_node_info.) */

CNN_API int cnn_node_attrs(const cnn_graph *g, int id, cnn_node_attr *a);

/* ==== @@PARAMETERS ==== */

/* All trainable parameters live in one flat array and their gradients in
 * another of the same length; buffers (batch-norm running statistics) in a
 * third. Pointers stay valid until the next node is added or the graph is
 * freed. An inference plan keeps its convs' weights packed from one
 * forward to the next: each call of cnn_graph_params or cnn_node_param
 * (with data), and the library's own writers (an optimizer's step,
 * cnn_graph_init, loading a checkpoint), marks the parameters changed, so
 * write them through a pointer fetched after the last forward; a write
 * through a pointer kept from before it may go unseen by such a plan. */
CNN_API int64_t cnn_graph_param_count(const cnn_graph *g);
CNN_API float  *cnn_graph_params(cnn_graph *g);
CNN_API float  *cnn_graph_param_grads(cnn_graph *g);
CNN_API int64_t cnn_graph_buffer_count(const cnn_graph *g);
CNN_API float  *cnn_graph_buffers(cnn_graph *g);

/* Number of parameter tensors node `id` owns (weight, bias: 2). */
CNN_API int cnn_node_param_count(const cnn_graph *g, int id);

/* Parameter tensor k of node `id` ("weight", "bias", "gamma", "beta", in
 * PyTorch's order): its data, gradient, shape and name. Out pointers may be
 * NULL. Returns 0 or CNN_EINVAL. */
CNN_API int cnn_node_param(cnn_graph *g, int id, int k, float **data, float **grad,
                           cnn_shape *shape, const char **pname);

/* Buffer tensor k of node `id` ("running_mean", "running_var"). */
CNN_API int cnn_node_buffer_count(const cnn_graph *g, int id);
CNN_API int cnn_node_buffer(cnn_graph *g, int id, int k, float **data, cnn_shape *shape,
                            const char **bname);

/* Frozen nodes keep their parameters: the optimizers skip them, and a frozen
 * batch-norm uses its running statistics even in training mode. */
CNN_API int cnn_node_set_trainable(cnn_graph *g, int id, bool trainable);
CNN_API bool cnn_node_trainable(const cnn_graph *g, int id);

/* ==== @@INIT ==== */

typedef enum cnn_init {
    CNN_INIT_HE_NORMAL,      /* N(0, 2/fan_in), Kaiming for ReLU          */
    CNN_INIT_HE_UNIFORM,     /* U(-b, b), b = sqrt(6/fan_in)              */
    CNN_INIT_XAVIER_NORMAL,  /* N(0, 2/(fan_in+fan_out)), Glorot          */
    CNN_INIT_XAVIER_UNIFORM, /* U(-b, b), b = sqrt(6/(fan_in+fan_out))    */
    CNN_INIT_PYTORCH,        /* PyTorch's default: kaiming_uniform(a=sqrt5)
                              * weights, U(+-1/sqrt(fan_in)) biases       */
} cnn_init;

/* (Re)initializes every parameter and buffer: conv/linear weights by
 * `scheme` (fan_in = in_channels/groups * kh * kw), biases 0 (except for
 * CNN_INIT_PYTORCH), batch-norm gamma 1, beta 0, running mean 0, var 1.
 * The same seed gives the same bits. Also seeds the graph's RNG (dropout). */
CNN_API int cnn_graph_init(cnn_graph *g, cnn_init scheme, uint64_t seed);

/* Initializes only node `id` (conv2d or linear), from its own stream. */
CNN_API int cnn_node_init(cnn_graph *g, int id, cnn_init scheme, uint64_t seed);

/* ==== @@TRANSFER ==== */

/* Transfer learning: a new graph holding every node of g before its
 * classifier head, with their names, parameters, batch-norm buffers and
 * frozen flags, g's thread count and RNG state; g is not changed. The head
 * is the linear node named `head`, or (NULL) the last linear node, which
 * may then be followed only by softmax, log_softmax, dropout, flatten or
 * reshape nodes reading it. The head and every node after it are left out
 * (so the head's id in g is the size of the result). Node ids, parameter
 * and buffer offsets of the nodes kept are unchanged.
 * *features gets the id of the node the head read: attach a new head there
 * with cnn_linear and initialize it with cnn_node_init (He for a ReLU
 * network). NULL on failure, with the reason in cnn_last_error(): no
 * linear layer to replace, no linear node named `head`, a last linear
 * layer followed by other ops (name the head then), or no memory. */
CNN_API cnn_graph *cnn_graph_drop_head(const cnn_graph *g, const char *head, int *features);

/* ==== @@EXECUTION ==== */

typedef enum cnn_mode { CNN_EVAL = 0, CNN_TRAIN = 1 } cnn_mode;

/* Threads used inside forward/backward (default 1). Results are bit-identical
 * for a given thread count; see docs/determinism.md for what changes with
 * it. Takes effect at the next cnn_graph_plan. */
CNN_API int cnn_graph_set_threads(cnn_graph *g, int nthreads);

/* Allocates activations, gradients and scratch space for batches of `batch`
 * samples. Forward and backward then allocate nothing. Adding a node
 * invalidates the plan. A ReLU that is the only reader of a conv, a batch
 * norm or an add is done by that node's forward, in its output (as
 * PyTorch's inplace ReLU): after a forward, cnn_graph_data of that node
 * and of the ReLU both show the ReLU's output. */
CNN_API int cnn_graph_plan(cnn_graph *g, int batch);

/* Whether the next training plan (cnn_graph_plan) lets the gradients of
 * nodes other than inputs and outputs (nodes no node reads) share memory,
 * as the activations of an inference plan do: a node's gradient lives
 * only from its first consumer's backward to its own. Training then needs
 * about half the activation memory; the gradients of those nodes are not
 * kept (cnn_graph_grad refuses them, and a loss must be taken on an
 * output). A batch norm or an add that does its ReLU's forward
 * (cnn_graph_plan) then does that ReLU's backward too: it takes the
 * gradient through the ReLU from its own output, the same bits without
 * the ReLU's pass over memory. Default false; cnn train, cnn finetune and
 * cnn bench set it. */
CNN_API int cnn_graph_share_grads(cnn_graph *g, bool share);

/* A plan for inference only, in far less memory: no gradients, and each
 * activation's memory is reused as soon as the last node that reads it
 * has run. After a forward, only inputs and outputs (nodes no other node
 * reads) hold their values; reading another node's data gives whatever a
 * later node wrote there (plan with cnn_graph_plan to look inside).
 * A batch norm right after a conv that nothing else reads, an add of such
 * a conv's output (or its batch norm's) and a same-shape operand made
 * before that conv (a residual block's shortcut), and a ReLU right after
 * such a conv, batch norm or add, or after any add, run in the conv's or
 * add's epilogue, on each block of output while it is in cache: the same
 * bits as node by node, without their passes over memory. Such a
 * plan runs CNN_EVAL forwards only (CNN_TRAIN gives CNN_ESTATE). Its
 * convs keep their weights packed for their kernels between forwards
 * (see @@PARAMETERS for writing parameters to such a plan).
 * Backward, the loss functions and cnn_graph_grad refuse such a plan. */
CNN_API int cnn_graph_plan_infer(cnn_graph *g, int batch);

/* The planned batch size, or 0 when there is no plan. */
CNN_API int cnn_graph_batch(const cnn_graph *g);

/* Node `id`'s activation [batch x per-sample shape] and its gradient, valid
 * until the next plan or free. NULL if not planned or a bad id. Fill inputs
 * by writing into cnn_graph_data(g, input_id). */
CNN_API float *cnn_graph_data(cnn_graph *g, int id);
CNN_API float *cnn_graph_grad(cnn_graph *g, int id);

/* Copies `batch * numel` floats into input node `id`. */
CNN_API int cnn_graph_set_input(cnn_graph *g, int id, const float *x);

/* Runs every node in order. CNN_TRAIN uses batch statistics, updates
 * running statistics and applies dropout. */
CNN_API int cnn_graph_forward(cnn_graph *g, cnn_mode mode);

/* Whether backward also computes the gradient for input node `id` (off by
 * default: nothing upstream of an input needs it). */
CNN_API int cnn_graph_want_input_grad(cnn_graph *g, int id, bool want);

/* Clears every activation gradient, so new output gradients can be seeded
 * (by a loss function, or by writing into cnn_graph_grad). Called by the
 * loss functions; call it yourself when seeding by hand. */
CNN_API int cnn_graph_clear_grads(cnn_graph *g);

/* Sets all parameter gradients to 0. Backward accumulates into them, so
 * call this before each step (the optimizers do). */
CNN_API int cnn_graph_zero_param_grads(cnn_graph *g);

/* Backpropagates the seeded output gradients through the last forward in
 * `mode` (which must be the mode of that forward), accumulating into every
 * parameter gradient and into the gradients of wanted inputs. */
CNN_API int cnn_graph_backward(cnn_graph *g);

/* Per-node timing: with `on`, every forward and backward adds each node's
 * wall time (its op, all threads) to the node's totals, which start at
 * zero (calling it again with `on` zeroes them); off stops adding.
 * cnn_graph_profile reads node `id`'s totals in seconds (either pointer may
 * be NULL); nodes fused into a producer (cnn_graph_plan_infer) count as
 * zero, their work in the producer's time. CNN_EINVAL for a NULL graph or
 * a bad id, CNN_ENOMEM. */
CNN_API int cnn_graph_set_profile(cnn_graph *g, bool on);
CNN_API int cnn_graph_profile(const cnn_graph *g, int id, double *fwd_s, double *bwd_s);

/* ==== @@DATA-PARALLEL ==== */

/* Data-parallel training (docs/distributed.md) runs one copy of the graph
 * per process, a replica, each on its share of the batch. These two hooks
 * let the code that connects the replicas (the CLI's MPI layer) in; the
 * library itself knows nothing of processes. */

/* Called by cnn_graph_backward after node `id`'s backward, for every node
 * from the last to the first (those with nothing to do too). Node `id`'s
 * parameter gradients are final then, so a trainer can start reducing them
 * while backward goes on. A negative return stops backward, which returns
 * it. */
typedef int (*cnn_backward_hook)(cnn_graph *g, int id, void *user);

/* Sets the hook (NULL removes it); CNN_EINVAL for a NULL graph. */
CNN_API int cnn_graph_set_backward_hook(cnn_graph *g, cnn_backward_hook fn, void *user);

/* Sums v[0 .. n-1] in place over every replica (an allreduce); returns 0 or
 * a negative code with the reason recorded. */
typedef int (*cnn_reduce_fn)(double *v, int n, void *user);

/* Synchronized batch normalization. With `fn` set, training-mode batch
 * norm takes its batch statistics over the samples of every replica: its
 * forward sums the per-channel sums of x and the count, then the sums of
 * squared deviations from that global mean, through `fn`; its backward the
 * two sums its input gradient needs (sum dy, sum dy * xhat). Parameter
 * gradients stay this replica's own share, to be averaged with the others.
 * Every replica must run the same training passes over the same graph, so
 * that the calls of `fn` meet (batch sizes may differ). Set it
 * before cnn_graph_plan: the plan holds the reduction's buffers (a training
 * forward of a graph planned before is CNN_ESTATE until it is planned
 * again). A failure of `fn` makes the forward or backward return it. NULL
 * (the default): each replica normalizes by its own batch. */
CNN_API int cnn_graph_set_stat_reduce(cnn_graph *g, cnn_reduce_fn fn, void *user);

/* ==== @@LOSS ==== */

/* Softmax cross-entropy on the logits of node `logits` (flat K classes per
 * sample) for the planned batch, mean over the batch, computed stably
 * (log-sum-exp). Label smoothing eps in [0, 1): the target is
 * (1-eps) * one_hot + eps / K, as PyTorch's CrossEntropyLoss. Labels must be
 * in [0, K). Clears activation gradients and seeds d loss / d logits, ready
 * for cnn_graph_backward. Writes the loss to *loss and, if `correct` is not
 * NULL, the number of samples whose arg-max equals the label. */
CNN_API int cnn_graph_softmax_xent(cnn_graph *g, int logits, const int *labels,
                                   float smoothing, float *loss, int *correct);

/* ==== @@OPTIMIZERS ==== */

typedef enum cnn_optim_kind { CNN_SGD, CNN_ADAM, CNN_ADAMW } cnn_optim_kind;

typedef struct cnn_optim_cfg {
    cnn_optim_kind kind;
    float lr;           /* base learning rate (schedules scale it)        */
    float momentum;     /* SGD: 0 = plain SGD                             */
    float dampening;    /* SGD: PyTorch's dampening, default 0            */
    bool  nesterov;     /* SGD: needs momentum > 0                        */
    float weight_decay; /* SGD, Adam: L2 added to the gradient; AdamW:
                         * decoupled, p -= lr * wd * p                    */
    float beta1, beta2; /* Adam/AdamW, default 0.9, 0.999                 */
    float eps;          /* Adam/AdamW, default 1e-8                       */
} cnn_optim_cfg;

/* Defaults as PyTorch's for the kind; lr 0.01 for SGD, 0.001 otherwise. */
CNN_API cnn_optim_cfg cnn_optim_defaults(cnn_optim_kind kind);

typedef struct cnn_optim cnn_optim;

/* An optimizer over every parameter of g (its state sized to them). The
 * graph must outlive it and gain no parameters after this. */
CNN_API cnn_optim *cnn_optim_new(cnn_graph *g, const cnn_optim_cfg *cfg);
CNN_API void cnn_optim_free(cnn_optim *o);

/* One update of every trainable parameter from the gradients, with
 * learning rate `lr` (pass cfg.lr or a schedule's value), exactly as
 * PyTorch's SGD / Adam / AdamW step. Does not zero the gradients. */
CNN_API int cnn_optim_step(cnn_optim *o, float lr);

/* Parameter groups, as PyTorch's: the parameters of node `node` are
 * updated with lr * scale (default 1), weight decay and Adam's step size
 * included, so a new head can learn faster than a pretrained backbone
 * while one schedule drives both. scale >= 0 (0 leaves the node's
 * parameters in place while its momentum still accumulates; freeze a node
 * with cnn_node_set_trainable to skip it). Saved in checkpoints. Returns 0
 * or CNN_EINVAL (bad node id or scale). */
CNN_API int cnn_optim_set_lr_scale(cnn_optim *o, int node, float scale);

/* The scale of node `node` into *scale; 0 or CNN_EINVAL. */
CNN_API int cnn_optim_lr_scale(const cnn_optim *o, int node, float *scale);

/* Optimizer state for checkpoints: the step count and the state floats
 * (momentum buffers, or Adam's m then v). */
CNN_API int64_t cnn_optim_steps(const cnn_optim *o);
CNN_API int64_t cnn_optim_state_size(const cnn_optim *o);
CNN_API float  *cnn_optim_state(cnn_optim *o);
CNN_API int cnn_optim_set_steps(cnn_optim *o, int64_t steps);

/* ==== @@SCHEDULES ==== */

typedef enum cnn_sched_kind {
    CNN_SCHED_CONST,
    CNN_SCHED_STEP,   /* lr * gamma^floor(step / step_size)               */
    CNN_SCHED_COSINE, /* min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2   */
} cnn_sched_kind;

typedef struct cnn_sched {
    cnn_sched_kind kind;
    float   lr;           /* base rate                                    */
    float   min_lr;       /* cosine floor, default 0                      */
    float   gamma;        /* step: factor, default 0.1                    */
    int64_t step_size;    /* step: steps between decays                   */
    int64_t total_steps;  /* cosine: length of the decay, warm-up incl.   */
    int64_t warmup_steps; /* linear warm-up from lr/warmup to lr; then the
                           * schedule runs over the remaining steps       */
} cnn_sched;

/* The learning rate for step `step` (0-based). */
CNN_API float cnn_sched_lr(const cnn_sched *s, int64_t step);

/* ==== @@SUMMARY ==== */

/* What a summary shows for one node. */
typedef struct cnn_node_stats {
    int64_t params;  /* parameters the node owns (buffers not counted)     */
    int64_t macs;    /* multiply-accumulates per sample: conv and linear only,
                      * C_in/groups * kh * kw per conv output element and
                      * in * out per linear sample; nothing else counted   */
    int64_t rf[2];   /* receptive field (h, w) at the output, in input pixels */
    int64_t jump[2]; /* effective stride (h, w) at the output                */
    int     depth;   /* conv and linear layers on the longest path from an
                      * input to this node, this one included              */
} cnn_node_stats;

/* Totals over a graph. */
typedef struct cnn_graph_stats {
    int64_t params;        /* all parameters, as torchvision counts them     */
    int64_t trainable;     /* of trainable nodes                              */
    int64_t non_trainable; /* of frozen nodes                                 */
    int64_t buffers;       /* batch-norm running statistics                   */
    int64_t macs;          /* per sample                                      */
    int     depth;         /* the deepest node's depth                        */
} cnn_graph_stats;

/* Receptive field by the standard recurrence, per axis:
 *   r_out = r_in + (k - 1) * d * j_in,   j_out = j_in * s
 * (k kernel, d dilation, s stride; pooling windows count as kernels). Where
 * inputs meet (add, concat) the largest r and j are taken. Ops that mix
 * their whole input (global pooling, linear) cover r_in + (size_in - 1) *
 * j_in. Fills nodes[0 .. size-1] (may be NULL) and *total (may be NULL). */
CNN_API int cnn_graph_stats_get(const cnn_graph *g, cnn_node_stats *nodes, cnn_graph_stats *total);

/* Bytes that cnn_graph_plan(g, batch) allocates: every activation, its
 * gradient, the saved data of backward and the scratch space; a negative
 * code on overflow. */
CNN_API int64_t cnn_graph_plan_bytes(const cnn_graph *g, int batch);
/* The same for cnn_graph_plan_infer(g, batch). */
CNN_API int64_t cnn_graph_plan_infer_bytes(const cnn_graph *g, int batch);

/* ==== @@MODELS ==== */

/* Builds a zoo model: "lenet5", "alexnet", "vgg11", "vgg13", "vgg16",
 * "vgg19" and "vgg11_bn" ... "vgg19_bn", "resnet18", "resnet34",
 * "resnet50", "resnet101", "resnet152", and the small-image "resnet20",
 * "resnet32", "resnet56". Definitions and node names follow torchvision
 * (parameter counts equal to the unit). classes, c, h, w <= 0 take the
 * model's defaults (ImageNet models: 1000 classes, 3x224x224; lenet5: 10,
 * 1x28x28; resnet20/32/56: 10, 3x32x32). The input is node 0, the logits the
 * last node. Parameters get PyTorch's default initialization (call
 * cnn_graph_init for another). NULL on an unknown name or a bad size. */
CNN_API cnn_graph *cnn_model_new(const char *name, int classes, int c, int h, int w);

/* The i-th zoo model name (0-based), NULL past the end. */
CNN_API const char *cnn_model_name(int i);

/* ==== @@NETDESC ==== */

/* The network-description text format (docs/netdesc.md). Parses `text`
 * into a new graph; `filename` is used in messages, which read
 * "FILE:LINE: what is wrong". NULL on error. */
CNN_API cnn_graph *cnn_netdesc_parse(const char *text, const char *filename);

/* Reads and parses a file. */
CNN_API cnn_graph *cnn_netdesc_load(const char *path);

/* Writes g in the text format, every node with its name and all its
 * attributes, so that parsing it back gives the same graph. Returns a
 * malloc'd string the caller frees with free(), or NULL. */
CNN_API char *cnn_netdesc_emit(const cnn_graph *g);

/* ==== @@ONNX ==== */

/* ONNX import (docs/onnx.md): a model's nodes mapped onto this library's
 * ops, its initializers copied into the parameters. An optional part of the
 * build (protobuf-c and onnx.proto, make HAVE_ONNX=1); without it every
 * function here fails with CNN_EUNSUPPORTED, "built without ONNX support".
 *
 * Files are untrusted: every count, size and dimension is checked against
 * the bytes present before use. Errors name the file and, for a node, its
 * name (or its first output's) and what was expected; a node this library
 * cannot compute exactly is CNN_EUNSUPPORTED, "unsupported ONNX op 'X'
 * (node 'Y')" or a narrower reason, never a graph that computes something
 * else. */

/* Whether this build reads ONNX files. */
CNN_API bool cnn_onnx_available(void);

#define CNN_ONNX_MAX_DIMS 8
#define CNN_ONNX_MAX_IO   64

/* A tensor of an ONNX TensorProto (a backend test's input_K.pb): float32
 * data in `data`; integer and boolean types widened to int64 in `ints`. */
typedef struct cnn_onnx_tensor {
    char    *name;                   /* "" when the file gives none       */
    int      ndim;                   /* 0 (a scalar) .. CNN_ONNX_MAX_DIMS */
    int64_t  dim[CNN_ONNX_MAX_DIMS];
    int64_t  numel;
    float   *data;                   /* [numel] float32 tensors, or NULL  */
    int64_t *ints;                   /* [numel] integer tensors, or NULL  */
} cnn_onnx_tensor;

/* Reads a serialized TensorProto file into *t (whose old contents are not
 * freed). Other element types (double, float16, strings) are
 * CNN_EUNSUPPORTED. On failure *t is empty. */
CNN_API int cnn_onnx_tensor_load(const char *path, cnn_onnx_tensor *t);

/* Frees what *t holds and empties it. NULL is a no-op. */
CNN_API void cnn_onnx_tensor_free(cnn_onnx_tensor *t);

/* A graph input or output of an imported model. */
typedef struct cnn_onnx_value {
    int     node;                    /* its node id; -1 for an input that
                                      * only gave constants, or is unused  */
    int     ndim;                    /* ONNX rank, the batch included      */
    int64_t dim[CNN_ONNX_MAX_DIMS];  /* dim[0] is the batch; -1 when the
                                      * file leaves it open                */
} cnn_onnx_value;

/* Options and results of an import; zero-initialize, then set the inputs. */
typedef struct cnn_onnx_opts {
    /* In: the values of the model's graph inputs (those without an
     * initializer), by position; a non-empty name must match the input's.
     * A feed fixes the input's shape (one without data or ints gives only
     * that: for files with symbolic sizes); where an op needs a constant
     * (a Conv weight, a Reshape shape) and reads a fed input, its data is
     * that constant, as the ONNX backend tests feed weights. The first
     * input is always a data input. May be NULL. */
    const cnn_onnx_tensor *feeds;
    int                    n_feeds;
    /* Out: the graph inputs and outputs, in the file's order, and the
     * opset of the default domain. */
    int            n_inputs, n_outputs;
    cnn_onnx_value inputs[CNN_ONNX_MAX_IO], outputs[CNN_ONNX_MAX_IO];
    int            opset;
    int            error; /* the CNN_E* code of a failed import, else 0
                           * (CNN_EUNSUPPORTED: valid ONNX this library
                           * does not map)                             */
} cnn_onnx_opts;

/* Imports an ONNX model (opsets 6 to 17 of the default domain). The batch
 * is dim 0 of every data tensor: an input [N, C, H, W] becomes
 * cnn_input(C, H, W) and N is chosen by cnn_graph_plan; an op that mixes
 * samples (Flatten at axis 0, a Reshape of the batch dim, Softmax over it)
 * is CNN_EUNSUPPORTED. Nodes are named after the ONNX values they compute
 * (where a value needs a reshape after its op, as a 1-D convolution run as
 * C x 1 x L, the op's node has the name; reshapes and constants added on the
 * way get automatic names): opts->outputs gives the exact nodes. Parameters
 * are the model's; batch-norm buffers its running statistics. `opts` may be
 * NULL. NULL on failure, with the reason in cnn_last_error(). */
CNN_API cnn_graph *cnn_onnx_load(const char *path, cnn_onnx_opts *opts);

/* The same from a serialized ModelProto in memory; `name` is used in
 * messages. */
CNN_API cnn_graph *cnn_onnx_load_mem(const void *buf, size_t size, const char *name,
                                     cnn_onnx_opts *opts);

/* Writes g as an ONNX model of opset 13 (docs/onnx.md, "Export"): every
 * node as ONNX nodes, parameters and batch-norm buffers as float
 * initializers, inputs of shape [N, C, H, W] (or [N, F]) and as outputs the
 * nodes no other node reads. The batch dim N is `batch` where it is > 0
 * (for runtimes that need fixed shapes), else symbolic, "N". Value names
 * are the node names (bytes other than letters, digits and _ . / : - made
 * '_', then made unique). Batch norm is written for inference (its running
 * statistics), dropout as Dropout. cnn_onnx_load reads the file back into a
 * graph that computes the same bits. The file is written beside `path`
 * under a temporary name and renamed over it. A graph that ONNX (or the
 * importer) cannot express exactly is CNN_EUNSUPPORTED naming the node:
 * adaptive pooling whose output does not divide its input, a constant read
 * by another op than add or mul, a pooling ceil mode that ONNX rounds
 * otherwise. Not const: parameters not yet allocated are allocated (to
 * their default initialization, as cnn_graph_params does). */
CNN_API int cnn_onnx_save(cnn_graph *g, const char *path, int batch);

/* The same into memory: *buf gets a malloc'd serialized ModelProto of
 * *size bytes (free() it); NULL and 0 on failure. */
CNN_API int cnn_onnx_save_mem(cnn_graph *g, int batch, void **buf, size_t *size);

/* ==== @@CHECKPOINTS ==== */

/* Where a training run stands, saved with its weights so that a resumed run
 * continues exactly as an uninterrupted one would. */
typedef struct cnn_train_state {
    int64_t  epoch;       /* epochs completed                             */
    int64_t  step;        /* optimizer steps done                         */
    uint64_t rng[4];      /* the graph's RNG (dropout), cnn_graph_rng_get  */
    double   best_metric; /* best test accuracy so far                    */
} cnn_train_state;

/* Writes a checkpoint (format in docs/checkpoint.md): a versioned header,
 * the graph (as network-description text, with frozen nodes), every
 * parameter and buffer, the optimizer's configuration and state (if `opt`
 * is not NULL), the training state (if `st` is not NULL), free-form
 * "key=value" metadata lines (if `meta` is not NULL: class names,
 * normalization, the command line), and a CRC-32 of all of it. The file is
 * written beside `path` under a temporary name, flushed to disk and renamed
 * over `path`, so a crash at any instant leaves the previous checkpoint
 * whole. */
CNN_API int cnn_checkpoint_save(const char *path, cnn_graph *g, const cnn_optim *opt,
                                const cnn_train_state *st, const char *meta);

/* Reads a checkpoint written by cnn_checkpoint_save. Returns the graph with
 * its parameters, buffers and frozen flags; if `opt` is not NULL, *opt gets
 * a new optimizer with the saved configuration and state (NULL when none
 * was saved); if `st` is not NULL it gets the training state (zeros when
 * none was saved); if `meta` is not NULL, *meta gets a malloc'd copy of the
 * metadata text (free() it). Every length, count and the checksum are
 * checked before use; a truncated or corrupt file is CNN_EFORMAT naming the
 * file and what was expected. NULL on failure. */
CNN_API cnn_graph *cnn_checkpoint_load(const char *path, cnn_optim **opt, cnn_train_state *st,
                                       char **meta);

/* The configuration an optimizer was made with. */
CNN_API int cnn_optim_config(const cnn_optim *o, cnn_optim_cfg *cfg);

/* ==== @@DATA ==== */

/* A labelled image dataset in memory, 8-bit pixels as the files hold them
 * (converted to floats one batch at a time by a loader). */
typedef struct cnn_dataset {
    int64_t  n;            /* images                                      */
    int      c, h, w;      /* per image                                   */
    int      classes;      /* labels are in [0, classes)                  */
    uint8_t *pixels;       /* [n, c, h, w], NCHW                          */
    int32_t *labels;       /* [n]                                         */
    char   **class_names;  /* [classes] strings, or NULL                  */
} cnn_dataset;

/* Frees the dataset and everything it holds. NULL is a no-op. */
CNN_API void cnn_dataset_free(cnn_dataset *d);

/* An IDX image file (magic 0x00000803, n x rows x cols, 8-bit) with its
 * IDX label file (0x00000801); each may be plain or gzip-compressed (found
 * by gzip's magic bytes, read through zlib when the library is built with
 * it). c = 1; `classes` = 1 + the largest label (labels are bytes, so 255
 * gives 256); no class names. Every header field is checked against the
 * file's real size (a short or a long file is refused) and memory grows
 * with the data read, not with the header's claims; errors name the file
 * and what was expected. */
CNN_API cnn_dataset *cnn_idx_load(const char *images_path, const char *labels_path);

/* The four MNIST-format files in `dir` (train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
 * each with or without .gz). "fashion-mnist" stands for Debian's
 * /usr/share/datasets/fashion-mnist. Both splits get classes = 10, or 1 +
 * the largest label of either if that is more; class names are
 * Fashion-MNIST's ("T-shirt/top" ... "Ankle boot") when the directory is
 * named fashion-mnist (any case) and there are 10 classes, else the label
 * numbers "0", "1", ... Either out pointer may be NULL to skip that split;
 * on failure both are set to NULL. */
CNN_API int cnn_mnist_load(const char *dir, cnn_dataset **train, cnn_dataset **test);

/* CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin): records of
 * 1 label byte (0..9) + 3072 pixel bytes (3x32x32); each file's size must
 * be a positive multiple of 3073. Several files are concatenated. classes
 * = 10, with the standard names (airplane ... truck). */
CNN_API cnn_dataset *cnn_cifar10_load(const char *const *paths, int n_paths);

/* The standard split of a CIFAR-10 binary directory: data_batch_1..5.bin
 * and test_batch.bin, with the ten class names (batches.meta.txt if
 * present, else the standard names). */
CNN_API int cnn_cifar10_load_dir(const char *dir, cnn_dataset **train, cnn_dataset **test);

/* An image folder: one sub-folder per class (sorted by name; the names are
 * the class names), holding PNG or JPEG files. Each image is converted to c
 * channels (1: luminance, 3: RGB), its shorter side resized to max(h, w)
 * and the centre h x w cropped (offsets rounded down). Files named *.png,
 * *.jpg or *.jpeg (any case) are read, class by class, in byte order of
 * their names; other files and names starting with '.' are skipped. A file
 * that does not decode, a class folder without images or a folder without
 * class folders is an error naming it. Needs the image library (stb):
 * without it, this and cnn_image_load fail with CNN_EIO saying so. */
CNN_API cnn_dataset *cnn_imagefolder_load(const char *dir, int c, int h, int w);

/* One image file (PNG or JPEG) converted and resized as above, as floats in
 * [0, 1]: writes c*h*w values into out. */
CNN_API int cnn_image_load(const char *path, int c, int h, int w, float *out);

/* A new dataset holding the images whose label is in [lo, hi], relabelled
 * to [0, hi - lo], keeping at most `max` of them (<= 0: all), in file
 * order, with the class names of [lo, hi]. For transfer-learning
 * experiments on a subset of the classes. No such image is an error. */
CNN_API cnn_dataset *cnn_dataset_subset(const cnn_dataset *d, int lo, int hi, int64_t max);

/* A new dataset of n images of d drawn at random without replacement, each
 * subset of n equally likely, kept in file order, with d's classes and
 * class names: a small labelled set for few-shot experiments. The same seed
 * gives the same images. 1 <= n <= d->n. */
CNN_API cnn_dataset *cnn_dataset_sample(const cnn_dataset *d, int64_t n, uint64_t seed);

/* Per-channel mean and standard deviation of the pixels scaled to [0, 1]
 * (population std), into mean[c] and std[c]. */
CNN_API int cnn_dataset_stats(const cnn_dataset *d, float *mean, float *std);

/* How a loader turns a dataset into batches. */
typedef struct cnn_loader_cfg {
    int      batch;        /* samples per batch                          */
    bool     shuffle;      /* a new order each epoch, from seed + epoch  */
    bool     drop_last;    /* skip a last partial batch                  */
    int      crop_pad;     /* augmentation: zero-pad by this many pixels
                            * (pixel value 0, normalized like the rest),
                            * then crop a random h x w window; 0: off     */
    bool     hflip;        /* augmentation: mirror with probability 1/2  */
    float    mean[4], std[4]; /* per channel: x = (p / 255 - mean) / std  */
    uint64_t seed;
    int      shard, shards; /* take every shards-th sample of the epoch's
                            * order starting at shard (data parallelism);
                            * 0 and 1 for all; 0 <= shard < shards       */
    bool     prefetch;     /* prepare the next batch on a second thread  */
} cnn_loader_cfg;

/* Defaults: `batch` (64 if <= 0), shuffle, no drop_last, no augmentation,
 * mean 0, std 1, seed 0, shard 0 of 1, no prefetch. */
CNN_API cnn_loader_cfg cnn_loader_defaults(int batch);

typedef struct cnn_loader cnn_loader;

/* A loader over d (which must outlive it). The epoch's order and every
 * random crop and flip are functions of (seed, epoch, position), so a run
 * resumed at any batch sees exactly the same data, and prefetch changes no
 * bit. d->c must be at most 4 and std[ch] > 0 for its channels. Until the
 * first cnn_loader_start it stands at epoch 0, batch 0. */
CNN_API cnn_loader *cnn_loader_new(const cnn_dataset *d, const cnn_loader_cfg *cfg);
CNN_API void cnn_loader_free(cnn_loader *l);

/* Batches per epoch (of this shard). */
CNN_API int64_t cnn_loader_batches(const cnn_loader *l);

/* Starts epoch `epoch` (0-based) at batch `first` (0 for its start;
 * cnn_loader_batches(l) is allowed and leaves nothing to read). */
CNN_API int cnn_loader_start(cnn_loader *l, int64_t epoch, int64_t first);

/* Writes the next batch: x [count, c, h, w] floats and labels y [count]
 * (room for a whole batch; the rest is left as it was); returns count (the
 * batch size, fewer for a last partial batch), 0 at the end of the epoch,
 * or a negative code. */
CNN_API int cnn_loader_next(cnn_loader *l, float *x, int *y);

/* ==== @@PICTURES ==== */

/* PNG pictures (written with the image library the project is built with;
 * each returns 0 or a negative code naming the file). */

/* The filters of conv node `conv` as a grid of small tiles, each filter
 * scaled to its own min..max (1 or 3 input channels shown as grey or RGB;
 * other counts show the mean over input channels), enlarged to `scale`
 * pixels per weight, 1-pixel gaps. */
CNN_API int cnn_viz_filters(cnn_graph *g, int conv, int scale, const char *png_path);

/* One input image and up to `max_maps` feature maps of node `node` (the
 * first ones), side by side in rows of at most max(8, sqrt(panels)), each
 * labelled: the graph must be planned and the forward pass done; sample 0
 * of the batch is shown. Each map is scaled to its own range, enlarged to
 * at least 112 pixels. */
CNN_API int cnn_viz_feature_maps(cnn_graph *g, int input, int node, int max_maps,
                                 const char *png_path);

/* Training curves from a metrics CSV written by the trainer (header
 * "epoch,train_loss,train_acc,test_loss,test_acc,..."): two panels, loss and
 * accuracy per epoch, train and test, with axes, ticks and a legend. */
CNN_API int cnn_viz_curves(const char *csv_path, const char *png_path);

/* A confusion matrix (counts[true * classes + predicted]) as a heat map with
 * the counts written in each cell and the class names (may be NULL) along
 * the axes. */
CNN_API int cnn_viz_confusion(const int64_t *counts, int classes, const char *const *names,
                              const char *png_path);

/* ==== @@RNG ==== */

/* The graph's random state (dropout masks), for checkpoints: 4 words. */
CNN_API void cnn_graph_rng_get(const cnn_graph *g, uint64_t state[4]);
CNN_API void cnn_graph_rng_set(cnn_graph *g, const uint64_t state[4]);

#ifdef __cplusplus
}
#endif
#endif /* CNN_H */
