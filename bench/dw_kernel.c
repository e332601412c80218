/* dw_kernel.c - times the direct weight-gradient kernel (cnn_direct_dw) of
 * the variant the CPU runs, alone, on one thread, both ways: the positions
 * in the lanes and the output channels in the lanes (ocl). For a 3x3 pad-1
 * conv of C input channels on HxH planes, M output channels, N images:
 *
 *   make && cc -O2 -Isrc/kernels -Iinclude bench/dw_kernel.c build/libcnn.a \
 *       -lm -fopenmp -o build/dw_kernel && build/dw_kernel 256 14 256 4
 *
 * prints the best of 7 calls each way in ms and GFLOP/s (2 x MACs). The
 * inputs are arbitrary numbers: only the time matters here (the tests
 * check the values). */
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: dw_kernel C H M N (3x3 pad 1 on HxH planes)\n");
        return 2;
    }
    const int C = atoi(argv[1]), H = atoi(argv[2]), M = atoi(argv[3]), nimg = atoi(argv[4]);
    if (C < 1 || H < 1 || M < 1 || nimg < 1 || C > 4096 || H > 512 || M > 4096 || nimg > 256) {
        fprintf(stderr, "dw_kernel: C, H, M, N must be positive (and not huge)\n");
        return 2;
    }
    cnn_direct_dw_fn *fn = cnn_direct_dw_kernel(NULL);
    if (!fn) {
        fprintf(stderr, "dw_kernel: this CPU runs the portable variant, which has no direct kernel\n");
        return 1;
    }
    const int     wp = H + 2, K = C * 9, ohw = H * H;
    const int64_t nd = ((int64_t)H * wp + 15) / 16 * 16;
    const int64_t bandd = ((int64_t)C * wp * wp + wp + 16 + 15) / 16 * 16;
    const int64_t mup = (M + 31) / 32 * 32;
    float   *xb = calloc((size_t)(nimg * bandd + 64), sizeof *xb);
    float   *dy = calloc((size_t)(nimg * mup * nd + 64), sizeof *dy);
    float   *dw = calloc((size_t)M * K, sizeof *dw);
    float   *ws = calloc((size_t)CNN_DIRECT_DW_WS(K), sizeof *ws);
    int32_t *koff = malloc((size_t)K * sizeof *koff), *pos = malloc((size_t)nimg * ohw * sizeof *pos);
    if (!xb || !dy || !dw || !ws || !koff || !pos) {
        fprintf(stderr, "dw_kernel: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < nimg * bandd; i++)
        xb[i] = (float)(i % 7) * 0.1f;
    for (int c = 0, k = 0; c < C; c++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                koff[k++] = (int32_t)((c * wp + ky) * wp + kx);
    for (int i = 0, j = 0; i < nimg; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < H; x++)
                pos[j++] = (int32_t)(i * bandd + y * wp + x);
    const double flop = 2.0 * M * K * ohw * nimg;
    for (int ocl = 0; ocl < 2; ocl++) {
        const cnn_direct_dw d = {
            .M = M, .K = K, .nimg = nimg, .n = ocl ? (int64_t)nimg * ohw : nd, .dys = M * nd,
            .xbs = bandd, .ldw = K, .dy = dy, .xb = xb, .koff = koff, .dw = dw, .ocl = ocl,
            .pos = pos, .ws = ws,
        };
        double best = 1e30;
        for (int r = 0; r < 7; r++) {
            const double t0 = now();
            fn(&d);
            const double t = now() - t0;
            if (t < best)
                best = t;
        }
        printf("C%d H%d M%d N%d %s: %.3f ms, %.1f GFLOP/s\n", C, H, M, nimg,
               ocl ? "channels in the lanes" : "positions in the lanes", best * 1e3,
               flop / best * 1e-9);
    }
    free(xb), free(dy), free(dw), free(ws), free(koff), free(pos);
    return 0;
}
