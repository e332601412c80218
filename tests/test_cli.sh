#!/bin/sh
# test_cli.sh - the command line as a user runs it: a short real training
# run of LeNet-5 on Fashion-MNIST, bit-identical resume, eval, predict, viz,
# summary, and clear one-line errors for bad input.
# Usage: tests/test_cli.sh BUILD_DIR (default build)
build=${1:-build}
cnn=$build/cnn
test_name=cli
. "$(dirname "$0")/lib.sh"

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "cli: Fashion-MNIST not installed (sh scripts/setup.sh); skipping the training runs"
    skip_data=1
fi
# Debian's files are gzipped: a build without zlib cannot read them.
if [ -z "${skip_data:-}" ] && $cnn train --epochs 1 --limit 64 --test-limit 64 --threads 1 \
    --out "$tmp/probe" 2>&1 >/dev/null | grep -q "no zlib"; then
    echo "cli: this cnn has no zlib to read Fashion-MNIST's .gz files; skipping the training runs"
    skip_data=1
fi

# --- summary and help --------------------------------------------------------
check "cnn --help" $cnn --help
check "summary resnet50" $cnn summary resnet50
grep -q "Total params: 25,557,032" "$tmp/out" && ok || bad "summary resnet50 total"
check "summary --emit" sh -c "$cnn summary --emit resnet18 > $tmp/r18.txt"
check "summary of a file" $cnn summary "$tmp/r18.txt"
grep -q "Total params: 11,689,512" "$tmp/out" && ok || bad "emitted resnet18 reads back"
refuse "unknown model" "neither a zoo model" $cnn summary resnet51
refuse "bad --input" "expected CxHxW" $cnn summary lenet5 --input 28x28
refuse "unknown command" "unknown command" $cnn trian

# --- bench (its figures are not checked here: a test never times) ----------
check "bench train" $cnn bench --model lenet5 --batch 8 --mode train --threads 2 --iters 2 --warmup 0
case "$(tail -n 1 "$tmp/out")" in "images/s: "[0-9]*) ok ;; *) bad "bench: last line $(tail -n 1 "$tmp/out")" ;; esac
check "bench --profile" $cnn bench --model lenet5 --batch 8 --mode train --threads 2 --iters 2 --warmup 0 --profile
grep -q "^conv1 *conv2d *6x28x28 " "$tmp/out" && grep -q "^nodes total ms: " "$tmp/out" && ok ||
    bad "bench --profile: no conv1 row or no total"
case "$(tail -n 1 "$tmp/out")" in "images/s: "[0-9]*) ok ;; *) bad "bench --profile: last line" ;; esac
check "bench conv" $cnn bench --conv 2,3,9,9,4,3,3,1,1 --mode fwdbwd --threads 2 --iters 2 --warmup 0
case "$(tail -n 1 "$tmp/out")" in "GFLOP/s: "[0-9]*) ok ;; *) bad "bench conv: last line" ;; esac
refuse "bench --profile --conv" "goes with --model" $cnn bench --conv 2,3,9,9,4,3,3,1,1 --profile
refuse "bench bad --conv" "expected nine numbers" $cnn bench --conv 2,3,9

if [ -z "${skip_data:-}" ]; then
    run="--limit 6000 --test-limit 2000 --threads 2 --seed 3"
    # --- a short real training run --------------------------------------------
    check "train" $cnn train --model lenet5 --epochs 2 $run --out "$tmp/a"
    last=$(tail -n 1 "$tmp/out")
    case "$last" in "test accuracy: 0."????) ok ;; *) bad "last line: $last" ;; esac
    acc=$(echo "$last" | sed 's/.*: //')
    awk -v a="$acc" 'BEGIN { exit !(a > 0.60) }' && ok || bad "accuracy $acc not above 0.60"
    [ "$(wc -l <"$tmp/a/metrics.csv")" -eq 3 ] && ok || bad "metrics.csv rows"
    [ -f "$tmp/a/last" ] && [ -f "$tmp/a/best" ] && ok || bad "checkpoints last and best"

    # --- resume: 1 epoch + resume == 2 epochs, to the bit -----------------------
    check "train, stopped" $cnn train --model lenet5 --epochs 2 --stop-after 1 $run --out "$tmp/b"
    check "resume" $cnn train --resume --out "$tmp/b" --threads 2
    cmp -s "$tmp/a/last" "$tmp/b/last" && ok || bad "resumed weights differ from an uninterrupted run"
    cmp -s "$tmp/a/metrics.csv" "$tmp/b/metrics.csv" >/dev/null
    [ "$(cut -d, -f1-5 "$tmp/a/metrics.csv")" = "$(cut -d, -f1-5 "$tmp/b/metrics.csv")" ] && ok ||
        bad "resumed metrics differ"
    refuse "resume with other flags" "only --epochs" $cnn train --resume --out "$tmp/b" --lr 0.5
    refuse "resume a finished run" "already trained" $cnn train --resume --out "$tmp/b"

    # --- eval, predict, viz -----------------------------------------------------
    check "eval" $cnn eval "$tmp/a/last"
    tail -n 1 "$tmp/out" | grep -Eq '^accuracy: 0\.[0-9]{4}$' && ok || bad "eval last line"
    grep -q "Ankle boot" "$tmp/out" && ok || bad "eval names the classes"
    check "predict --index" $cnn predict "$tmp/a/last" --index 0
    [ "$(grep -c '^  [1-5]\. ' "$tmp/out")" -eq 5 ] && ok || bad "predict shows top 5"
    check "viz" $cnn viz "$tmp/a/last" --out "$tmp/v"
    for f in filters feature_maps curves confusion; do
        [ -s "$tmp/v/$f.png" ] && ok || bad "viz wrote no $f.png"
    done
    check "predict a PNG" $cnn predict "$tmp/a/last" "$tmp/v/feature_maps.png"

    # --- a diverging run stops, naming the epoch and step, keeping DIR/last ----
    cp "$tmp/a/last" "$tmp/keep"
    refuse_last "NaN loss" "loss became .* at epoch 1, step" $cnn train --model lenet5 --epochs 1 \
        --lr 90 --momentum 0.99 $run --out "$tmp/a"
    cmp -s "$tmp/a/last" "$tmp/keep" && ok || bad "the last good checkpoint was not kept"

    # --- bad input ---------------------------------------------------------------
    refuse "missing data" "no-such-dir" $cnn train --data /no-such-dir --out "$tmp/c"
    refuse "no --out" "--out DIR is required" $cnn train
    refuse "bad --lr" "--lr" $cnn train --lr -1 --out "$tmp/c"
    refuse "bad --optimizer" "sgd, adam or adamw" $cnn train --optimizer rmsprop --out "$tmp/c"
    head -c 1000 "$tmp/a/last" > "$tmp/trunc"
    refuse "truncated checkpoint" "$tmp/trunc" $cnn eval "$tmp/trunc"
    refuse "predict a missing image" "nope.png" $cnn predict "$tmp/a/last" "$tmp/nope.png"
    refuse "resume with no checkpoint" "$tmp/none/last" $cnn train --resume --out "$tmp/none"
fi

finish
