/* core.h - private helpers shared by every part of the library: error
 * recording, checked sizes, logging, the random number generator. */
#ifndef CNN_CORE_H
#define CNN_CORE_H

#include "cnn.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNN_PRINTF(a, b)
#endif

/* Sends a message to the log sink set by cnn_set_log, if any. */
void cnn_log(const char *fmt, ...) CNN_PRINTF(1, 2);

/* *out = a * b, or CNN_EOVERFLOW (reason recorded) if it does not fit in
 * int64_t or either factor is negative. */
int cnn_size_mul(int64_t a, int64_t b, int64_t *out);

/* *out = a + b with the same checks. */
int cnn_size_add(int64_t a, int64_t b, int64_t *out);

/* The whole of a regular file of at most `max` bytes, NUL-terminated (one
 * byte more than *len), malloc'd; NULL with the reason (naming the file) on
 * failure. */
uint8_t *cnn_read_file(const char *path, uint64_t max, uint64_t *len);

/* Writing a file so that a crash leaves either the old file or the new one
 * whole (checkpoints, ONNX export): the bytes go to PATH.tmp.PID beside it,
 * which cnn_atomic_end flushes to the disk and renames over PATH. */
typedef struct cnn_atomic {
    FILE       *f; /* write here between begin and end */
    char       *tmp;
    const char *path;
} cnn_atomic;

/* Opens the temporary file: CNN_OK, or an error naming it. */
int cnn_atomic_begin(cnn_atomic *a, const char *path);

/* With `ok`, flushes, fsyncs, closes and renames the temporary file over
 * the path (CNN_OK, or an error naming it); otherwise, or on failure,
 * closes and removes it. Frees what begin took either way. */
int cnn_atomic_end(cnn_atomic *a, bool ok);

/* Internal invariants; compiled out unless CNN_DEBUG is defined. */
#ifdef CNN_DEBUG
#include <assert.h>
#define CNN_ASSERT(x) assert(x)
#else
#define CNN_ASSERT(x) ((void)0)
#endif

/* ==== @@THREADS ==== */

/* OpenMP is optional: without it every parallel region runs on one thread.
 * Usage: CNN_OMP(omp parallel for num_threads(nt) schedule(static)). */
/* CNN_TEAM() is the number of threads actually running the current
 * parallel region: OpenMP may give fewer than asked, and a build without it
 * runs one, so static slices are cut by it, not by the count asked for. */
#ifdef _OPENMP
#include <omp.h>
#define CNN_OMP(x) _Pragma(#x)
#define CNN_TID()  omp_get_thread_num()
#define CNN_TEAM() omp_get_num_threads()
#else
#define CNN_OMP(x)
#define CNN_TID()  0
#define CNN_TEAM() 1
#endif

/* ==== @@RNG ==== */

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
typedef struct cnn_rng {
    uint64_t s[4];
} cnn_rng;

void     cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_next(cnn_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double cnn_rng_uniform(cnn_rng *r);
/* Standard normal (Box-Muller, both values drawn fresh each call). */
double cnn_rng_normal(cnn_rng *r);

/* The split of n items into nth equal static slices: slice ith is
 * [*lo, *hi). */
static inline void cnn_slice(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi)
{
    int64_t per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

/* Work handed out as it is asked for: each call gives the caller the
 * next item of a counter that a team of threads shares (cnn_counter c = {0}
 * before the parallel region). Only for work whose results do not depend
 * on which thread does which item: the two vCPUs of a shared machine
 * often run at different speeds, and a static split waits for the slower
 * one. */
typedef struct cnn_counter {
    _Alignas(64) _Atomic int64_t next;
    char pad[64 - sizeof(int64_t)]; /* a cache line of its own */
} cnn_counter;

static inline int64_t cnn_next(cnn_counter *c)
{
    return atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
}

#endif
