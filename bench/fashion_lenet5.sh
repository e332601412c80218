#!/bin/sh
# LeNet-5 on Fashion-MNIST with cnn train's default recipe (SGD momentum 0.9,
# lr 0.02 cosine per step, weight decay 1e-3, label smoothing 0.1, batch 64,
# 20 epochs), and the same recipe in PyTorch (bench/torch_lenet5.py) when it
# is installed, one after the other on the same machine, same thread count.
#   sh bench/fashion_lenet5.sh [EPOCHS] [THREADS] [SEED]
set -eu
epochs=${1:-20}
threads=${2:-2}
seed=${3:-1}
out=$(mktemp -d /tmp/cnn_bench_XXXXXX)
make -s all
start=$(date +%s.%N)
build/cnn train --model lenet5 --data fashion-mnist --epochs "$epochs" --threads "$threads" \
    --seed "$seed" --out "$out/cnn" 2>/dev/null | tail -n 1 > "$out/cnn.txt"
end=$(date +%s.%N)
printf 'cnn:     %s, %.0f s wall (%s epochs, %s threads)\n' "$(cat "$out/cnn.txt")" \
    "$(echo "$end - $start" | bc)" "$epochs" "$threads"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    start=$(date +%s.%N)
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_lenet5.py "$epochs" "$threads" "$seed" | tail -n 1 > "$out/torch.txt"
    end=$(date +%s.%N)
    printf 'PyTorch: %s, %.0f s wall\n' "$(cat "$out/torch.txt")" "$(echo "$end - $start" | bc)"
fi
rm -rf "$out"
