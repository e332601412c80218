/* bcast.h - NumPy broadcasting of a node's second input b to the shape of
 * its first a, per sample (add, mul): b's dims, aligned to the right, each
 * equal a's or are 1. */
#ifndef CNN_BCAST_H
#define CNN_BCAST_H

#include "../graph/graph_impl.h"

typedef struct cnn_bcast {
    int64_t a[4];  /* a's per-sample dims, padded on the left with 1s     */
    int64_t bs[4]; /* b's stride along each of them; 0 where b repeats     */
    bool    same;  /* b has a's shape: element i pairs with element i      */
} cnn_bcast;

/* Checks that b broadcasts to a and sets n's shape to a's. */
static inline int cnn_bcast_infer(cnn_node *n, const cnn_node *a, const cnn_node *b)
{
    const int off = a->shape.ndim - b->shape.ndim;
    char      as[64], bs[64];
    bool      ok  = off >= 0;

    for (int d = 0; ok && d < b->shape.ndim; d++)
        ok = b->shape.dim[d] == a->shape.dim[off + d] || b->shape.dim[d] == 1;
    if (!ok)
        return cnn_fail(CNN_ESHAPE,
                        "%s '%s': '%s' has shape %s, which does not broadcast to the shape %s of "
                        "'%s' (each dim, aligned to the right, must be equal or 1)",
                        cnn_op_defs[n->op]->name, n->name, b->name,
                        cnn_shape_str(&b->shape, bs, sizeof bs),
                        cnn_shape_str(&a->shape, as, sizeof as), a->name);
    n->shape = a->shape;
    return CNN_OK;
}

static inline cnn_bcast cnn_bcast_of(const cnn_node *a, const cnn_node *b)
{
    cnn_bcast r   = {.a = {1, 1, 1, 1}, .bs = {0, 0, 0, 0}};
    const int off = 4 - a->shape.ndim, boff = 4 - b->shape.ndim;
    int64_t   stride = 1;

    for (int d = 0; d < a->shape.ndim; d++)
        r.a[off + d] = a->shape.dim[d];
    for (int d = 3; d >= boff; d--) {
        int64_t bd = b->shape.dim[d - boff];
        r.bs[d]    = bd == 1 ? 0 : stride;
        stride *= bd;
    }
    r.same = cnn_node_numel(a) == cnn_node_numel(b);
    return r;
}

/* Runs `body` for every element i of one sample of a (in order) with j the
 * element of b it pairs with. */
#define CNN_BCAST_FOR(bc, i, j, body)                                                            \
    do {                                                                                         \
        int64_t i = 0;                                                                           \
        for (int64_t i0_ = 0; i0_ < (bc).a[0]; i0_++)                                            \
            for (int64_t i1_ = 0; i1_ < (bc).a[1]; i1_++)                                        \
                for (int64_t i2_ = 0; i2_ < (bc).a[2]; i2_++) {                                  \
                    const int64_t jb_ = i0_ * (bc).bs[0] + i1_ * (bc).bs[1] + i2_ * (bc).bs[2];  \
                    for (int64_t i3_ = 0; i3_ < (bc).a[3]; i3_++, i++) {                         \
                        const int64_t j = jb_ + i3_ * (bc).bs[3];                                \
                        body;                                                                    \
                    }                                                                            \
                }                                                                                \
    } while (0)

#endif
