/* registry.c - the table of op definitions, indexed by cnn_op. Each entry
 * is defined in its op's own file. */
#include "../graph/graph_impl.h"

extern const cnn_op_def cnn_op_input, cnn_op_conv2d, cnn_op_relu, cnn_op_leaky_relu,
    cnn_op_sigmoid, cnn_op_tanh, cnn_op_maxpool2d, cnn_op_avgpool2d, cnn_op_global_avgpool,
    cnn_op_batchnorm2d, cnn_op_linear, cnn_op_flatten, cnn_op_dropout, cnn_op_add, cnn_op_concat,
    cnn_op_softmax, cnn_op_adaptive_avgpool, cnn_op_constant, cnn_op_reshape, cnn_op_mul,
    cnn_op_clip, cnn_op_log_softmax, cnn_op_pad, cnn_op_lrn;

const cnn_op_def *const cnn_op_defs[CNN_OP_COUNT_] = {
    [CNN_OP_INPUT]          = &cnn_op_input,
    [CNN_OP_CONV2D]         = &cnn_op_conv2d,
    [CNN_OP_RELU]           = &cnn_op_relu,
    [CNN_OP_LEAKY_RELU]     = &cnn_op_leaky_relu,
    [CNN_OP_SIGMOID]        = &cnn_op_sigmoid,
    [CNN_OP_TANH]           = &cnn_op_tanh,
    [CNN_OP_MAXPOOL2D]      = &cnn_op_maxpool2d,
    [CNN_OP_AVGPOOL2D]      = &cnn_op_avgpool2d,
    [CNN_OP_GLOBAL_AVGPOOL] = &cnn_op_global_avgpool,
    [CNN_OP_BATCHNORM2D]    = &cnn_op_batchnorm2d,
    [CNN_OP_LINEAR]         = &cnn_op_linear,
    [CNN_OP_FLATTEN]        = &cnn_op_flatten,
    [CNN_OP_DROPOUT]        = &cnn_op_dropout,
    [CNN_OP_ADD]            = &cnn_op_add,
    [CNN_OP_CONCAT]         = &cnn_op_concat,
    [CNN_OP_SOFTMAX]        = &cnn_op_softmax,
    [CNN_OP_ADAPTIVE_AVGPOOL] = &cnn_op_adaptive_avgpool,
    [CNN_OP_CONSTANT]       = &cnn_op_constant,
    [CNN_OP_RESHAPE]        = &cnn_op_reshape,
    [CNN_OP_MUL]            = &cnn_op_mul,
    [CNN_OP_CLIP]           = &cnn_op_clip,
    [CNN_OP_LOG_SOFTMAX]    = &cnn_op_log_softmax,
    [CNN_OP_PAD]            = &cnn_op_pad,
    [CNN_OP_LRN]            = &cnn_op_lrn,
};

/* Every op must have an entry: a missing one is a NULL the compiler cannot
 * see, so the count is pinned here. */
_Static_assert(CNN_OP_COUNT_ == 24, "add the new op to cnn_op_defs");
