#!/bin/sh
# Transfer learning on Fashion-MNIST: pretrain LeNet-5 on classes 0-4 (all
# their 30,000 training images), then learn classes 5-9 from only 1,000
# labelled images (drawn at random from the seed), fine-tuned from the
# pretrained network or trained from scratch with the same recipe. Prints
# the test accuracy on classes 5-9 (5,000 images) of each, per seed, and
# the means.
#   sh bench/finetune.sh [PRE_EPOCHS=5] [EPOCHS=20] [SEEDS="1 2 3"] [THREADS=1]
set -eu
pre_epochs=${1:-5}
epochs=${2:-20}
seeds=${3:-1 2 3}
threads=${4:-1}
out=$(mktemp -d /tmp/cnn_finetune_XXXXXX)
trap 'rm -rf "$out"' EXIT
make -s all
cnn=build/cnn

acc() { tail -n 1 | sed 's/^test accuracy: //'; }

start=$(date +%s)
pre=$($cnn train --model lenet5 --data-classes 0-4 --epochs "$pre_epochs" --threads "$threads" \
      --out "$out/pre" 2>/dev/null | acc)
printf 'pretrained on classes 0-4 (30000 images, %s epochs): test accuracy %s on classes 0-4\n' \
    "$pre_epochs" "$pre"

# The same recipe for every run on the 1,000 images: cnn train's LeNet-5
# defaults (SGD momentum 0.9, lr 0.02 cosine, weight decay 1e-3, label
# smoothing 0.1, batch 64).
recipe="--data-classes 5-9 --train-sample 1000 --epochs $epochs --batch 64 --lr 0.02 \
        --weight-decay 1e-3 --label-smoothing 0.1 --threads $threads"
printf '\n%-6s %12s %16s %18s %18s\n' seed "from scratch" "fine-tuned, all" \
    "conv layers frozen" "only the new head"
sums="0 0 0 0"
n=0
for s in $seeds; do
    a=$($cnn train --model lenet5 $recipe --seed "$s" --out "$out/scratch$s" 2>/dev/null | acc)
    b=$($cnn finetune --from "$out/pre/last" $recipe --seed "$s" --drop-head --freeze none \
        --out "$out/all$s" 2>/dev/null | acc)
    c=$($cnn finetune --from "$out/pre/last" $recipe --seed "$s" --drop-head --freeze conv2 \
        --out "$out/conv$s" 2>/dev/null | acc)
    d=$($cnn finetune --from "$out/pre/last" $recipe --seed "$s" --drop-head --freeze backbone \
        --head-lr 0.1 --out "$out/head$s" 2>/dev/null | acc)
    printf '%-6s %12s %16s %18s %18s\n' "$s" "$a" "$b" "$c" "$d"
    sums=$(echo "$sums" | awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
           '{ print $1 + a, $2 + b, $3 + c, $4 + d }')
    n=$((n + 1))
done
echo "$sums" | awk -v n="$n" \
    '{ printf "%-6s %12.4f %16.4f %18.4f %18.4f\n", "mean", $1 / n, $2 / n, $3 / n, $4 / n }'
printf '\n%s s in all, %s threads\n' "$(($(date +%s) - start))" "$threads"
