/* peak.c - this machine's FP32 peak as the kernels could reach it: T
 * threads each running independent FMA chains in registers (no memory),
 * with the widest vectors the CPU has (AVX-512F, else AVX2 + FMA, picked
 * at run time), so bench/compare.sh can give "% of peak" from the same
 * run as its convolutions (the shared machines' speed moves by 20-40%
 * from one minute to the next).
 *
 *   cc -O2 -fopenmp bench/peak.c -o peak && ./peak [THREADS=2]
 *
 * Prints "median ms" (one pass of every thread) and "GFLOP/s" (the median
 * of 7 passes), the lines compare.sh reads from every tool. */
#include <immintrin.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12, PASSES = 7 };
static const long ITERS = 20000000; /* FMAs a chain a pass */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ITERS rounds of CHAINS independent FMAs (latency 4, two a cycle: 8 or
 * more chains in flight keep both units busy); returns a lane so the
 * work is not optimized away. */
/* Twelve accumulators by name, so they stay in registers at any -O. */
#define CHAINS_DO(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) static float run512(void)
{
    const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
#define INIT(i) __m512 a##i = _mm512_set1_ps((float)(i) * 1e-3f);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s += _mm512_reduce_add_ps(a##i);
    CHAINS_DO(INIT)
    for (long it = 0; it < ITERS; it++) {
        CHAINS_DO(STEP)
    }
    float s = 0.0f;
    CHAINS_DO(SUM)
    return s;
#undef INIT
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float run256(void)
{
    const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
    float        l[8];
#define INIT(i) __m256 a##i = _mm256_set1_ps((float)(i) * 1e-3f);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define SUM(i) _mm256_storeu_ps(l, a##i); for (int j = 0; j < 8; j++) s += l[j];
    CHAINS_DO(INIT)
    for (long it = 0; it < ITERS; it++) {
        CHAINS_DO(STEP)
    }
    float s = 0.0f;
    CHAINS_DO(SUM)
    return s;
#undef INIT
#undef STEP
#undef SUM
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const int  nt  = argc > 1 ? atoi(argv[1]) : 2;
    const bool w16 = __builtin_cpu_supports("avx512f");
    double     ms[PASSES], gf[PASSES];
    float      sink = 0.0f;

    if (nt < 1 || (!w16 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))) {
        fprintf(stderr, "peak: needs THREADS >= 1 and a CPU with AVX2 + FMA or AVX-512F\n");
        return 1;
    }
    for (int p = 0; p < PASSES; p++) {
        const double t0 = now();
#pragma omp parallel num_threads(nt) reduction(+ : sink)
        sink += w16 ? run512() : run256();
        ms[p] = (now() - t0) * 1e3;
        gf[p] = (double)nt * ITERS * CHAINS * (w16 ? 16 : 8) * 2 / (ms[p] * 1e6);
    }
    qsort(ms, PASSES, sizeof *ms, cmp);
    qsort(gf, PASSES, sizeof *gf, cmp);
    printf("isa: %s\nthreads: %d\nsink: %g\nmedian ms: %.3f\nGFLOP/s: %.1f\n",
           w16 ? "avx512f" : "avx2", nt, (double)sink, ms[PASSES / 2], gf[PASSES / 2]);
    return 0;
}
