#!/bin/sh
# Training on several processes (bench/README.md, "Several processes";
# docs/distributed.md): LeNet-5 on a Fashion-MNIST subset, global batch 64,
# run as 1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread (MPI) and
# 2 ranks x 1 thread with small gradient buckets. Prints images/s (the mean
# of the epochs after the first, the best of --repeat runs: another process
# on one of the cores can slow a run several times) and what a step waits
# on the allreduce;
# then the cost model of docs/distributed.md for LeNet-5 (and ResNet-50
# with --resnet50, which times a few ResNet-50 training steps: a minute)
# from the one-process step time measured here.
#
#   sh bench/mpi.sh [--resnet50] [--epochs E] [--limit N] [--repeat R]
set -eu
cd "$(dirname "$0")/.."
make -s all

epochs=3 limit=12800 r50=0 repeat=3
while [ $# -gt 0 ]; do
    case $1 in
    --resnet50) r50=1 ;;
    --epochs) epochs=$2; shift ;;
    --limit) limit=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    *) echo "usage: sh bench/mpi.sh [--resnet50] [--epochs E] [--limit N] [--repeat R]" >&2; exit 2 ;;
    esac
    shift
done
command -v mpirun >/dev/null || { echo "bench/mpi.sh: needs Open MPI (sh scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cnn_bench_mpi_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mpi="mpirun --allow-run-as-root --oversubscribe"
args="--model lenet5 --batch 64 --epochs $epochs --limit $limit --test-limit 1000 --seed 1"

# row NAME CMD...: trains --repeat times, then prints the best run's
# images/s, ms per step and wait
row() {
    name=$1; shift
    best=0 wait=-
    for i in $(seq "$repeat"); do
        "$@" --out "$tmp/run" >"$tmp/out" 2>/dev/null
        ips=$(awk -F, 'NR > 2 { s += $8; n++ } END { printf "%.0f", s / n }' "$tmp/run/metrics.csv")
        rm -rf "$tmp/run"
        [ "$ips" -gt "$best" ] || continue
        best=$ips
        wait=$(sed -n 's/.*; \([0-9.]*\) ms per step waiting.*(least \([0-9.]*\),.*/\1 (\2)/p' \
            "$tmp/out" | tail -n 1)
    done
    awk -v n="$name" -v i="$best" -v w="${wait:--}" \
        'BEGIN { printf "| %s | %d | %.2f | %s |\n", n, i, 64000 / i, w }'
    echo "$best" >"$tmp/ips.$(echo "$name" | tr -c 'a-z0-9' _)"
}

echo "## LeNet-5, batch 64, $limit images, epochs 2..$epochs, best of $repeat ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| setup | images/s | ms per step | allreduce wait, ms per step: mean (least rank) |"
echo "|---|---:|---:|---:|"
row "1 rank x 1 thread" build/cnn train $args --threads 1
row "1 rank x 2 threads" build/cnn train $args --threads 2
row "2 ranks x 1 thread" $mpi -np 2 build/cnn train $args --threads 1
row "2 ranks x 1 thread, 16 KiB buckets" $mpi -np 2 -x CNN_DIST_BUCKET_KB=16 build/cnn train $args --threads 1
lenet_ips=$(cat "$tmp/ips.1_rank_x_2_threads_")

# ---- the cost model ---------------------------------------------------------
# Ring allreduce of S bytes over N ranks: 2(N-1) steps of S/N bytes each,
#   T_a(N) = 2(N-1) alpha + 2(N-1)/N * S / BW;
# compute at a fixed global batch: T_c(N) = T_c(1) / N. A model stops scaling
# at the first N where T_a(N) >= T_c(N): from there a step waits on the
# network at least as long as it computes (efficiency <= 50% without overlap;
# with perfect overlap, the network alone sets the pace). N cannot pass the
# global batch (one image per rank).
params() { build/cnn summary "$1" | sed -n 's/^Total params: //p' | tr -d ,; }
model() { # NAME PARAMS STEP_SECONDS BATCH
    for link in "10 25e-6" "100 5e-6"; do
        set -- "$1" "$2" "$3" "$4" $link
        awk -v name="$1" -v p="$2" -v tc="$3" -v b="$4" -v gbit="$5" -v alpha="$6" 'BEGIN {
            S = 4 * p; bw = gbit * 1e9 / 8
            for (n = 2; n <= b; n++) {
                ta = 2 * (n - 1) * alpha + 2 * (n - 1) / n * S / bw
                if (ta >= tc / n) break
            }
            if (n > b) n = b
            ta = 2 * (n - 1) * alpha + 2 * (n - 1) / n * S / bw
            stop = ta < tc / n ? sprintf(">= %d (batch-bound)", b) : sprintf("%d", n)
            printf "| %s | %.3g MB | %.4g s | %d Gbit/s | %.3g ms | %s | %.1f to %.1f |\n",
                name, S / 1e6, tc, gbit, 1e3 * (2 * alpha + S / bw), stop,
                tc / (tc / n + ta), tc / (ta > tc / n ? ta : tc / n)
        }'
    done
}
echo
echo "## Cost model (docs/distributed.md): alpha 25 us at 10 Gbit/s, 5 us at 100 Gbit/s"
echo
echo "| model, global batch | gradient | T_c(1) per step | link | T_a(2) | stops scaling at N | speedup there (no overlap to full) |"
echo "|---|---:|---:|---|---:|---|---:|"
model "LeNet-5, 64 (measured: 1 x 2 threads)" "$(params lenet5)" \
    "$(awk -v i="$lenet_ips" 'BEGIN { print 64 / i }')" 64
if [ "$r50" = 1 ]; then
    ms=$(build/cnn bench --model resnet50 --mode train --batch 4 --iters 3 --warmup 1 --threads 2 |
        sed -n 's/^median ms: //p')
    model "ResNet-50, 256 (measured: batch 4 x 64)" "$(params resnet50)" \
        "$(awk -v m="$ms" 'BEGIN { print m / 4 * 256 / 1000 }')" 256
    model "ResNet-50, 256 (a node at 2,500 img/s)" "$(params resnet50)" 0.1024 256
fi
