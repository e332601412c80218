/* graph_impl.h - the inside of a cnn_graph: nodes, flat parameter arrays,
 * the execution plan. Shared by src/graph, src/ops and src/train. */
#ifndef CNN_GRAPH_IMPL_H
#define CNN_GRAPH_IMPL_H

#include "../core/core.h"

#define CNN_MAX_PARAMS  2 /* weight, bias / gamma, beta        */
#define CNN_MAX_BUFFERS 2 /* running_mean, running_var        */

typedef struct cnn_node {
    cnn_op    op;
    char     *name;
    int       n_in;
    int      *in;    /* [n_in] ids of earlier nodes                     */
    cnn_shape shape; /* per-sample output shape                         */

    union {          /* attributes, by op                               */
        cnn_conv2d_attr conv;
        cnn_pool2d_attr pool;
        struct { float slope; } leaky;
        struct { float p; } dropout;
        struct { float eps, momentum; } bn;
        struct { int out; bool bias; } linear;
        struct { int out[2]; } adaptive;
        struct { int axis; } softmax;     /* softmax, log_softmax   */
        struct { float lo, hi; } clip;
        struct { int begin[4], end[4]; float value; } pad;
        struct { int size; float alpha, beta, k; } lrn;
    } a;

    int       n_param;
    int64_t   param_off[CNN_MAX_PARAMS]; /* into graph params/grads     */
    cnn_shape param_shape[CNN_MAX_PARAMS];
    int       n_buf;
    int64_t   buf_off[CNN_MAX_BUFFERS];  /* into graph buffers          */
    cnn_shape buf_shape[CNN_MAX_BUFFERS];
    bool      trainable;

    /* set by the plan */
    bool     req;   /* the output depends on something that wants a grad */
    bool     want_grad; /* input nodes: the user asked for d loss / d x  */
    int      last;  /* the last node reading this one (n_nodes: none, or an
                     * input); set by the plan                           */
    float   *y;     /* [batch x numel] output                           */
    float   *dy;    /* [batch x numel] d loss / d output                */
    float   *aux;   /* op's saved data for backward (argmax, mask, ...) */
    int64_t  aux_floats;
    /* Inference plans (cnn_graph_plan_infer) run a conv's batch norm,
     * residual add and ReLU, and an add's ReLU, in the producer's
     * epilogue: the producer's fuse_bn (the batch norm node, or -1),
     * fuse_add (the add's other operand, or -1) and fuse_relu; the fused
     * nodes' fused_into (the producer, or -1), whose output memory they
     * share and whose forward computes theirs. */
    int      fuse_bn, fuse_add, fused_into;
    bool     fuse_relu;
    /* Training plans sharing gradient memory: a batch norm or an add whose
     * fused ReLU's backward it also does (relu_bwd: its dy is the ReLU's,
     * the gradient through the ReLU taken from its own output y, which
     * holds the ReLU's), and that ReLU (bwd_fused: no backward of its own). */
    bool     relu_bwd, bwd_fused;
    /* Set for each backward: input 0's gradient is this node's alone and
     * not zeroed: the op writes it (cnn_op_def.writes_dx). readers: how
     * many inputs of other nodes are this node (set by the plan). */
    bool     over_dx;
    int      readers;
    /* Training plans: a conv whose only reader is a batch norm sums each
     * output plane for it (stats_bn: that node, or -1) while the plane is
     * in cache; stats_ready: the batch norm's plane sums are this
     * forward's (set by the conv, cleared by the batch norm). */
    int      stats_bn;
    bool     stats_ready;
    /* Inference plans: the node's keep_floats (after aux_floats at aux)
     * hold what it computed from the parameters of generation kept_gen
     * (0: nothing yet); cnn_kept gives where. */
    int64_t  keep_floats;
    uint64_t kept_gen;
    int      kept_key; /* the op's: what else the kept data depend on */
} cnn_node;

struct cnn_graph {
    cnn_node *nodes;
    int       n_nodes, cap_nodes;

    float  *params, *grads; /* [n_params] each; NULL until needed       */
    int64_t n_params, cap_params, cap_grads;
    float  *buffers;        /* [n_buffers]                              */
    int64_t n_buffers, cap_buffers;
    /* Bumped by whatever may write the parameters (cnn_graph_ensure_params,
     * which every accessor and loader calls, and an optimizer's step). */
    uint64_t param_gen;

    cnn_rng rng;            /* dropout masks                            */
    int     nthreads;

    /* plan */
    int      batch;         /* 0: not planned                          */
    int      plan_threads;
    float   *arena;         /* every y, dy, aux of the plan             */
    float   *scratch;       /* [plan_threads x scratch_per_thread]      */
    int64_t  scratch_per_thread;
    cnn_mode last_mode;
    bool     forward_done;
    bool     infer_plan;    /* no dy; activations share memory          */
    int      n_fused;       /* nodes fused into a producer (infer plan) */
    bool     share_grads;   /* cnn_graph_share_grads: for the next plan  */
    bool     shared_dy;     /* this plan's dy (but inputs' and outputs')
                             * share memory, zeroed lazily by backward   */

    /* data parallelism: cnn_graph_set_backward_hook, _set_stat_reduce */
    cnn_backward_hook bwd_hook;
    void             *bwd_user;
    cnn_reduce_fn     reduce;
    void             *reduce_user;
    int               hook_rc; /* the first failure of `reduce` in a pass */

    /* cnn_graph_set_profile: seconds per node, forward then backward */
    bool    profile;
    double *prof;
    int     prof_n;         /* nodes prof has room for (2 x this doubles) */
};

/* What an op's forward and backward see. */
typedef struct cnn_exec {
    cnn_graph *g;
    int        batch;
    cnn_mode   mode;
    int        nthreads;
    float     *scratch;            /* nthreads slices ...               */
    int64_t    scratch_per_thread; /* ... of this many floats           */
} cnn_exec;

static inline cnn_node *cnn_in_node(const cnn_exec *e, const cnn_node *n, int k)
{
    return &e->g->nodes[n->in[k]];
}
static inline float *cnn_param(const cnn_exec *e, const cnn_node *n, int k)
{
    return e->g->params + n->param_off[k];
}
static inline float *cnn_pgrad(const cnn_exec *e, const cnn_node *n, int k)
{
    return e->g->grads + n->param_off[k];
}
static inline float *cnn_buffer(const cnn_exec *e, const cnn_node *n, int k)
{
    return e->g->buffers + n->buf_off[k];
}
static inline int64_t cnn_node_numel(const cnn_node *n) { return cnn_shape_numel(&n->shape); }
/* The node's keep_floats (inference plans), after its aux, 64-byte aligned. */
static inline float *cnn_kept(const cnn_node *n) { return n->aux + (n->aux_floats + 15) / 16 * 16; }

/* An inference epilogue (cnn_node fuse_bn, fuse_add, fuse_relu) on `len`
 * outputs of channel c of producer n at y (in n->y), in place: the bits
 * of the batch norm's, the add's and the ReLU's own forward. */
void cnn_fused_epilogue(const cnn_exec *e, const cnn_node *n, int c, float *y, int64_t len);
/* Whether producer n has an inference epilogue. */
static inline bool cnn_fused(const cnn_node *n)
{
    return n->fuse_bn >= 0 || n->fuse_add >= 0 || n->fuse_relu;
}
/* The fused add's other operand at the place of y (in n->y), or NULL:
 * the same shape as n, so the same offset. */
static inline const float *cnn_fused_residual(const cnn_exec *e, const cnn_node *n, const float *y)
{
    return n->fuse_add >= 0 ? e->g->nodes[n->fuse_add].y + (y - n->y) : NULL;
}
/* Eval batch norm's y = x * scale + shift for channel c (batchnorm.c). */
void cnn_bn_eval_coef(const cnn_exec *e, const cnn_node *bn, int c, float *scale, float *shift);
/* Where a conv (cnn_node stats_bn) puts the statistics of its output
 * planes for this forward of batch norm bn: [batch][C][2], cnn_plane_stats
 * of each plane; NULL when bn will not use them (eval, frozen,
 * synchronized statistics). */
float *cnn_bn_plane_stats(const cnn_exec *e, cnn_node *bn);

/* One receptive-field step: the op's window per axis (h, w). An op that
 * mixes its whole input (global pooling, linear) sets `whole`. */
typedef struct cnn_rf_step {
    int  k[2], s[2], d[2];
    bool whole;
} cnn_rf_step;

/* Describes an op: one entry per cnn_op, defined in that op's file. */
typedef struct cnn_op_def {
    const char *name;
    const char *param_names[CNN_MAX_PARAMS];
    const char *buf_names[CNN_MAX_BUFFERS];
    /* Checks the inputs' shapes against n's attributes and sets n->shape,
     * n->n_param and n->param_shape (and buffers). Records the reason. */
    int (*infer)(cnn_graph *g, cnn_node *n);
    /* Saved floats per plan (NULL: none). */
    int64_t (*aux_floats)(const cnn_graph *g, const cnn_node *n, int batch);
    /* Floats an inference plan keeps for the node from one forward to the
     * next, after its aux (conv: its weights packed; NULL: none). */
    int64_t (*keep_floats)(const cnn_graph *g, const cnn_node *n, int batch);
    /* Scratch floats per thread (NULL: none); train: the plan runs the
     * backward too. */
    int64_t (*scratch_floats)(const cnn_graph *g, const cnn_node *n, int batch, bool train);
    /* Checks what can only be checked at run time (NULL: nothing). */
    int (*check)(const cnn_exec *e, const cnn_node *n);
    void (*forward)(const cnn_exec *e, cnn_node *n);
    /* Adds into the gradients of inputs whose `req` is set, and into the
     * parameter gradients when the node is trainable; with the node's
     * over_dx set (only for ops with writes_dx), writes input 0's gradient
     * instead, every element of it, without reading it. */
    void (*backward)(const cnn_exec *e, cnn_node *n);
    bool writes_dx;
    /* Multiply-accumulates per sample (NULL: none counted). */
    int64_t (*macs)(const cnn_graph *g, const cnn_node *n);
    /* Receptive-field step (NULL: 1x1 window, stride 1). */
    void (*rf)(const cnn_graph *g, const cnn_node *n, cnn_rf_step *st);
} cnn_op_def;

extern const cnn_op_def *const cnn_op_defs[CNN_OP_COUNT_];

/* Adds a node: checks the inputs, copies the name (or makes one), calls the
 * op's infer, grows the parameter arrays and initializes the new
 * parameters. On failure the graph is unchanged. */
int cnn_graph_add(cnn_graph *g, cnn_node *proto, const int *in, int n_in, const char *name);

/* Node id as a printable name: "conv2d 'conv1'". */
const char *cnn_node_label(const cnn_node *n, char *buf, size_t size);

/* Allocate the parameter and buffer arrays (initialized with PyTorch's
 * defaults when `init_defaults`), or the gradient array (zeroed), if not
 * there yet. Graphs allocate them only when something needs them. */
int cnn_graph_ensure_params(cnn_graph *g, bool init_defaults);
int cnn_graph_ensure_grads(cnn_graph *g);

/* Initializes node n's parameters and buffers with `scheme`. */
void cnn_node_init_params(cnn_graph *g, int id, cnn_init scheme, uint64_t seed);

/* Blocking of the conv op (src/ops/conv2d.c): output planes under chunk_n
 * columns are batched, several images per GEMM; larger ones are cut into
 * row tiles of at most col_tile column floats; a block whose columns still
 * exceed col_tile is made k_slice col rows at a time (a multiple of
 * CNN_GEMM_KC keeps the bits of one product over all rows). Tests shrink
 * them to reach every path on small shapes; change them only before
 * planning. */
extern struct cnn_conv_tuning {
    int64_t chunk_n, col_tile;
    int     k_slice;
    bool    direct; /* forward by cnn_direct where it applies (the same bits) */
    float   direct_fill; /* ... and fills at least this part of its lanes */
    int64_t direct_band; /* floats of input band a tile of rows may take */
    /* cnn_direct with output channels in the lanes (ocl; forward and dx)
     * where that fills more than this part of the lanes above the pixels
     * in the lanes would: below -1 wherever it can, above 1 never. */
    float   direct_ocl_gain;
    /* ... in panels of one vector of channels (cnn_direct's ocl 2) where
     * they fill more lanes than panels of two and more by this than the
     * pixels would: below -1 wherever it can, above 1 never. */
    float   direct_ocl_narrow_gain;
    /* A 1x1 stride-1 conv on planes of at most this many pixels goes by
     * cnn_direct with ocl, reading its input in place, several images a
     * call (instead of staging them for the GEMM); 0: never. Only where
     * cnn_direct's wide panels hold at least direct_pw_ocw channels. */
    int64_t direct_pw;
    int     direct_pw_ocw;
    /* dW by cnn_direct_dw (stride 1) when at least this part of the
     * vector lanes hold output pixels; above 1: never. */
    float   direct_dw_fill;
    /* ... and when a call sums over at least this many positions (images
     * x padded plane), so the sums across lanes stay a small part. */
    int64_t direct_dw_min;
    /* dW by cnn_direct_dw with output channels in the lanes (ocl) where
     * that fills more than this part of the lanes above the positions in
     * the lanes would: below -1 wherever it can, above 1 never. */
    float   direct_dw_ocl_gain;
    /* Inference plans (kept weights) run a 3x3 stride-1 conv of one group
     * by Winograd F(2x2, 3x3) (not the bits of the direct sums) where it
     * has at least wino_min_c input and output channels and its batch at
     * least wino_min_tiles output tiles of 2x2; the environment variable
     * CNN_WINOGRAD=0 turns it off when a plan is made. */
    bool    wino;
    int     wino_min_c;
    int64_t wino_min_tiles;
    /* The backward's GEMMs of more than CNN_GEMM_ONE_BLOCK rows pack their
     * B once, not once a block of rows, and dcol's A (W^T) is packed once
     * for all the blocks (the same bits). */
    bool    bwd_pack_once;
    /* With several threads, a thread's partial dW is written by its first
     * block's GEMMs (beta 0), not zeroed first and added to (the same
     * bits, but for the sign of a zero sum, which the reduction into the
     * zeroed gradient then drops). */
    bool    bwd_fresh_dw;
} cnn_conv_tuning;

#endif
