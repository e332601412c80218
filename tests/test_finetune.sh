#!/bin/sh
# test_finetune.sh - `cnn finetune` as a user runs it: pretrain LeNet-5 on
# Fashion-MNIST classes 0-4, fine-tune on a random sample of classes 5-9
# with a new head and a frozen backbone, read the result back with eval,
# predict and viz, resume bit-identically, start from an ONNX model, and
# refuse bad flags with one-line errors.
# Usage: tests/test_finetune.sh BUILD_DIR (default build)
build=${1:-build}
cnn=$build/cnn
onnx=tests/fixtures/finetune_tiny.onnx
test_name=finetune
. "$(dirname "$0")/lib.sh"

check "finetune --help" $cnn finetune --help
grep -q -- "--freeze WHAT" "$tmp/out" && ok || bad "help lists --freeze"
refuse "no --out" "--out DIR is required" $cnn finetune --from x
refuse "no --from" "--from PATH is required" $cnn finetune --out "$tmp/x"
refuse "missing --from file" "no-such.ckpt" $cnn finetune --from "$tmp/no-such.ckpt" --out "$tmp/x"
refuse "bad --data-classes" "--data-classes 9-5: expected LO-HI" \
    $cnn finetune --data-classes 9-5 --out "$tmp/x"
refuse "bad --head-lr" "--head-lr -1: expected a positive number" \
    $cnn finetune --head-lr -1 --out "$tmp/x"
refuse "bad --train-sample" "--train-sample 0" $cnn finetune --train-sample 0 --out "$tmp/x"
$cnn summary --emit lenet5 > "$tmp/lenet5.txt"
refuse "--from a description" "not a cnn checkpoint" \
    $cnn finetune --from "$tmp/lenet5.txt" --out "$tmp/x"

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "finetune: Fashion-MNIST not installed (sh scripts/setup.sh); skipping the training runs"
    echo "finetune: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]; exit
fi
# Debian's files are gzipped: a build without zlib cannot read them.
if $cnn train --epochs 1 --limit 64 --test-limit 64 --threads 1 --out "$tmp/probe" 2>&1 \
    >/dev/null | grep -q "no zlib"; then
    echo "finetune: this cnn has no zlib to read Fashion-MNIST's .gz files; skipping the training runs"
    echo "finetune: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]; exit
fi

# --- pretrain on classes 0-4 -----------------------------------------------------
check "pretrain" $cnn train --model lenet5 --epochs 1 --data-classes 0-4 --limit 3000 \
    --test-limit 1000 --threads 1 --out "$tmp/pre"
grep -q "3000 train / 1000 test images of 1x28x28, 5 classes" "$tmp/out" && ok ||
    bad "pretrain on 5 classes: $(head -n 1 "$tmp/out")"
check "eval pretrained" $cnn eval "$tmp/pre/last" --threads 1
grep -q "^5000 test images" "$tmp/out" && grep -q "^Coat " "$tmp/out" && ! grep -q "^Sandal " "$tmp/out" &&
    ok || bad "eval of the pretrained model keeps classes 0-4"

# --- fine-tune on a sample of classes 5-9 ----------------------------------------
ft="--from $tmp/pre/last --data-classes 5-9 --train-sample 600 --drop-head --freeze conv2 \
    --lr 0.02 --head-lr 0.1 --epochs 2 --threads 1 --seed 4"
check "finetune" $cnn finetune $ft --out "$tmp/a"
grep -q "new head 'fc3': 84 features -> 5 classes" "$tmp/out" && ok ||
    bad "head line: $(head -n 1 "$tmp/out")"
grep -q "(61,281 parameters, 58,709 trainable) on fashion-mnist: 600 train / 5000 test" "$tmp/out" && ok ||
    bad "finetune header: $(sed -n 2p "$tmp/out")"
last=$(tail -n 1 "$tmp/out")
case "$last" in "test accuracy: 0."????) ok ;; *) bad "last line: $last" ;; esac
acc=$(echo "$last" | sed 's/.*: //')
awk -v a="$acc" 'BEGIN { exit !(a > 0.60) }' && ok || bad "fine-tuned accuracy $acc not above 0.60"
[ "$(wc -l <"$tmp/a/metrics.csv")" -eq 3 ] && ok || bad "metrics.csv rows"
[ -f "$tmp/a/last" ] && [ -f "$tmp/a/best" ] && ok || bad "checkpoints last and best"
[ "$(grep -a -c 'frozen=true' "$tmp/a/last")" -eq 2 ] && ok || bad "conv1, conv2 saved frozen"

# --- the result is a normal checkpoint -----------------------------------------
check "eval" $cnn eval "$tmp/a/last" --threads 1
tail -n 1 "$tmp/out" | grep -q "^accuracy: $acc$" && ok ||
    bad "eval: $(tail -n 1 "$tmp/out"), finetune: $acc"
grep -q "^Sandal " "$tmp/out" && grep -q "^Ankle boot " "$tmp/out" && ! grep -q "^Coat " "$tmp/out" &&
    ok || bad "eval names classes 5-9 only"
check "predict --index" $cnn predict "$tmp/a/last" --index 0
[ "$(grep -c '^  [1-5]\. ' "$tmp/out")" -eq 5 ] && ok || bad "predict shows top 5"
check "viz" $cnn viz "$tmp/a/last" --out "$tmp/v"
for f in filters feature_maps curves confusion; do
    [ -s "$tmp/v/$f.png" ] && ok || bad "viz wrote no $f.png"
done

# --- resume: 1 epoch + resume == 2 epochs, to the bit ----------------------------
check "finetune, stopped" $cnn finetune $ft --stop-after 1 --out "$tmp/b"
check "finetune --resume" $cnn finetune --resume --out "$tmp/b" --threads 1
cmp -s "$tmp/a/last" "$tmp/b/last" && ok || bad "resumed weights differ from an uninterrupted run"
[ "$(cut -d, -f1-5 "$tmp/a/metrics.csv")" = "$(cut -d, -f1-5 "$tmp/b/metrics.csv")" ] && ok ||
    bad "resumed metrics differ"
refuse "resume with other flags" "only --epochs" $cnn finetune --resume --out "$tmp/b" --freeze none
refuse "resume a finished run" "already trained" $cnn finetune --resume --out "$tmp/b"

# --- freezing the backbone, keeping the head, a named head -----------------------
check "finetune --freeze backbone" $cnn finetune --from "$tmp/pre/last" --data-classes 5-9 \
    --train-sample 300 --freeze backbone --epochs 1 --test-limit 500 --threads 1 --out "$tmp/c"
grep -q "keeping the head 'fc3'" "$tmp/out" && ok || bad "5 outputs for 5 classes keep the head"
grep -q "(61,281 parameters, 425 trainable)" "$tmp/out" && ok || bad "only the head trains"
[ "$(grep -a -c 'frozen=true' "$tmp/c/last")" -eq 4 ] && ok ||
    bad "conv1, conv2, fc1, fc2 saved frozen"
check "finetune --head fc2" $cnn finetune --from "$tmp/pre/last" --head fc2 --train-sample 300 \
    --epochs 1 --test-limit 500 --threads 1 --out "$tmp/d"
grep -q "new head 'fc2': 120 features -> 10 classes.*2 nodes after it dropped" "$tmp/out" && ok ||
    bad "named head: $(head -n 1 "$tmp/out")"

# --- bad flags -------------------------------------------------------------------
base="--from $tmp/pre/last --data-classes 5-9 --train-sample 300 --epochs 1 --threads 1"
refuse "--freeze unknown" "--freeze conv9: no node of that name" \
    $cnn finetune $base --freeze conv9 --out "$tmp/e"
refuse "--freeze the head" "would freeze the head 'fc3'" \
    $cnn finetune $base --drop-head --freeze fc3 --out "$tmp/e"
refuse "--head not linear" "relu 'relu3' is not a linear layer" \
    $cnn finetune $base --head relu3 --out "$tmp/e"
refuse "--classes mismatch" "--classes 7: the data has 5 classes" \
    $cnn finetune $base --classes 7 --out "$tmp/e"
refuse "--data-classes past the data" "data classes 5-12: the data has classes 0 to 9" \
    $cnn finetune --from "$tmp/pre/last" --data-classes 5-12 --out "$tmp/e"
refuse "--train-sample too large" "--train-sample 7000: the training set has 6000 images in those classes" \
    $cnn finetune --from "$tmp/pre/last" --data-classes 5-5 --train-sample 7000 --out "$tmp/e"

# --- from an ONNX model ------------------------------------------------------------
if ! $cnn finetune --from "$onnx" --out "$tmp/o" --data /no-such-dir 2>&1 | grep -q "ONNX support"; then
    check "finetune --from ONNX" $cnn finetune --from "$onnx" --data fashion-mnist --data-classes 5-9 \
        --train-sample 300 --freeze backbone --epochs 1 --test-limit 500 --threads 1 --out "$tmp/o"
    grep -q "new head '.*': 16 features -> 5 classes.*1 node after it dropped" "$tmp/out" && ok ||
        bad "ONNX head line: $(head -n 1 "$tmp/out")"
    check "eval of the ONNX fine-tune" $cnn eval "$tmp/o/last" --threads 1
    refuse "ONNX without --data" "--data SPEC is required" \
        $cnn finetune --from "$onnx" --out "$tmp/o2"
else
    echo "finetune: built without ONNX support; skipping --from MODEL.onnx"
fi

finish
