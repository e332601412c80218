#!/bin/sh
# ResNet-20 on Fashion-MNIST (1x28x28) with random crop (pad 4) and
# horizontal flip, cnn train's default recipe for resnets: SGD momentum 0.9,
# lr 0.1 with a per-step cosine decay, weight decay 5e-4, batch 128, 30
# epochs. Prints the test accuracy and the wall time; keeps the run
# (checkpoints, metrics.csv) in DIR.
#   sh bench/fashion_resnet20.sh [EPOCHS] [THREADS] [SEED] [DIR]
set -eu
epochs=${1:-30}
threads=${2:-2}
seed=${3:-1}
out=${4:-runs/resnet20}
make -s all
mkdir -p "$(dirname "$out")"
start=$(date +%s.%N)
build/cnn train --model resnet20 --data fashion-mnist --augment crop,flip \
    --epochs "$epochs" --threads "$threads" --seed "$seed" --out "$out" 2>"$out.log" |
    tail -n 1 > "$out.txt"
end=$(date +%s.%N)
printf 'cnn resnet20: %s, %.0f s wall (%s epochs, %s threads, run in %s)\n' "$(cat "$out.txt")" \
    "$(echo "$end - $start" | bc)" "$epochs" "$threads" "$out"
