/* t.h - the test harness: one program per module, each test a function.
 *
 *   static void conv_example_1(void) { T_OK(...); T_NEAR(a, b, 1e-6); }
 *   int main(void) { T_RUN(conv_example_1); return t_done("conv"); }
 *
 * A test fails on its first failed check (the rest of it is skipped); every
 * failure prints file:line and what differed. t_done prints
 * "NAME: N passed, N failed" and returns the exit status. */
#ifndef CNN_T_H
#define CNN_T_H

#include "cnn.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int     t_pass, t_fail;
static jmp_buf t_jmp;
static const char *t_name;

#define T_FAILED(...)                                                                            \
    do {                                                                                         \
        printf("FAIL %s (%s:%d): ", t_name, __FILE__, __LINE__);                                 \
        printf(__VA_ARGS__);                                                                     \
        printf("\n");                                                                            \
        longjmp(t_jmp, 1);                                                                       \
    } while (0)

/* The expression is true. */
#define T_TRUE(x)                                                                                \
    do {                                                                                         \
        if (!(x))                                                                                \
            T_FAILED("expected %s", #x);                                                         \
    } while (0)

/* A library call returns >= 0 (ok or a node id). */
#define T_OK(x)                                                                                  \
    do {                                                                                         \
        long long t_rc_ = (long long)(x);                                                        \
        if (t_rc_ < 0)                                                                           \
            T_FAILED("%s returned %lld (%s): %s", #x, t_rc_, cnn_strerror((int)t_rc_),           \
                     cnn_last_error());                                                          \
    } while (0)

/* A library call fails with `code` and leaves a message. */
#define T_ERR(x, code)                                                                           \
    do {                                                                                         \
        long long t_rc_ = (long long)(x);                                                        \
        if (t_rc_ != (code))                                                                     \
            T_FAILED("%s returned %lld, expected %s", #x, t_rc_, #code);                         \
        if (cnn_last_error()[0] == '\0')                                                         \
            T_FAILED("%s failed without a message", #x);                                         \
    } while (0)

#define T_EQ(a, b)                                                                               \
    do {                                                                                         \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                  \
        if (t_a_ != t_b_)                                                                        \
            T_FAILED("%s = %lld, expected %s = %lld", #a, t_a_, #b, t_b_);                       \
    } while (0)

/* Floating-point values equal exactly (T_EQ is for integers). */
#define T_FEQ(a, b) T_NEAR(a, b, 0.0)

/* |a - b| <= tol */
#define T_NEAR(a, b, tol)                                                                        \
    do {                                                                                         \
        double t_a_ = (double)(a), t_b_ = (double)(b);                                           \
        if (!(fabs(t_a_ - t_b_) <= (tol)))                                                       \
            T_FAILED("%s = %.9g, expected %s = %.9g within %g", #a, t_a_, #b, t_b_,              \
                     (double)(tol));                                                             \
    } while (0)

/* Float arrays equal to the bit (exact values). */
#define T_ARRAY_EQ(got, want, n)                                                                 \
    do {                                                                                         \
        for (long t_i_ = 0; t_i_ < (long)(n); t_i_++)                                            \
            if ((got)[t_i_] != (want)[t_i_])                                                     \
                T_FAILED("%s[%ld] = %.9g, expected %.9g", #got, t_i_, (double)(got)[t_i_],       \
                         (double)(want)[t_i_]);                                                  \
    } while (0)

/* Runs the test, unless the environment's T_ONLY names others (the tests
 * whose names contain it run: T_ONLY=conv_direct build/tests/test_ops). */
#define T_RUN(fn)                                                                                \
    do {                                                                                         \
        t_name = #fn;                                                                            \
        if (getenv("T_ONLY") && !strstr(t_name, getenv("T_ONLY")))                               \
            break;                                                                               \
        if (setjmp(t_jmp) == 0) {                                                                \
            fn();                                                                                \
            t_pass++;                                                                            \
        } else {                                                                                 \
            t_fail++;                                                                            \
        }                                                                                        \
    } while (0)

static inline int t_done(const char *module)
{
    printf("%s: %d passed, %d failed\n", module, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

#endif
