#!/bin/sh
# How cnn's speed scales, with `cnn bench` alone (bench/README.md, "Scaling"):
#   1. threads: images/s at 1 and 2 threads (parallel efficiency = ips2 / (2 ips1))
#      for LeNet-5 and ResNet-20 training and ResNet-18 inference;
#   2. batch size: ResNet-18 inference at 3x112x112 and LeNet-5 training,
#      batch 1 to 64, ms per batch and images/s;
#   3. input size: ResNet-18 inference at batch 8, input 28 to 224.
# Every number is the median of the iterations of one run; run it on a quiet
# machine (a second process on one of the cores slows 2-thread runs 10x).
#
#   sh bench/scaling.sh [--quick]
set -eu
cd "$(dirname "$0")/.."
make -s all

iters=20
[ "${1:-}" = "--quick" ] && iters=4

# ips ARGS...: images/s of one cnn bench run
ips() { build/cnn bench --iters "$iters" "$@" | sed -n 's/^images\/s: //p'; }
ms() { build/cnn bench --iters "$iters" "$@" | sed -n 's/^median ms: //p'; }

echo "## Threads (images/s)"
echo
echo "| workload | 1 thread | 2 threads | efficiency |"
echo "|---|---:|---:|---:|"
for w in "lenet5 training, batch 64|--model lenet5 --batch 64 --mode train" \
         "resnet20 training, batch 128, 1x28x28|--model resnet20 --input 1x28x28 --batch 128 --mode train --iters 5" \
         "resnet18 inference, batch 8, 3x224x224|--model resnet18 --batch 8 --mode infer"; do
    name=${w%%|*}
    args=${w#*|}
    # shellcheck disable=SC2086
    one=$(ips $args --threads 1)
    # shellcheck disable=SC2086
    two=$(ips $args --threads 2)
    eff=$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / (2 * a) }')
    echo "| $name | $one | $two | $eff |"
done

echo
echo "## Batch size (2 threads)"
echo
echo "| batch | resnet18 infer 3x112x112: ms | images/s | lenet5 train: ms | images/s |"
echo "|---:|---:|---:|---:|---:|"
for b in 1 2 4 8 16 32 64; do
    r=$(ms --model resnet18 --input 3x112x112 --batch "$b" --mode infer --threads 2)
    l=$(ms --model lenet5 --batch "$b" --mode train --threads 2)
    awk -v b="$b" -v r="$r" -v l="$l" \
        'BEGIN { printf "| %d | %.2f | %.1f | %.3f | %.0f |\n", b, r, b * 1000 / r, l, b * 1000 / l }'
done

echo
echo "## Input size (resnet18 inference, batch 8, 2 threads)"
echo
echo "| input | ms | images/s | ms per megapixel |"
echo "|---:|---:|---:|---:|"
for s in 28 56 112 224; do
    r=$(ms --model resnet18 --input "3x${s}x${s}" --batch 8 --mode infer --threads 2)
    awk -v s="$s" -v r="$r" \
        'BEGIN { printf "| %dx%d | %.2f | %.1f | %.1f |\n", s, s, r, 8000 / r, r / (8 * s * s / 1e6) }'
done
