#!/bin/sh
# test_export.sh - `cnn export` as a user meets it: zoo models, a network of
# every op, checkpoints trained briefly (when Fashion-MNIST is installed),
# each written as ONNX and read back to the same bits (--verify); what it
# refuses, with a one-line error and exit status 1, leaving an existing
# file as it was. tests/test_export.c checks the library side,
# tests/ref/onnx_export_check.py the files against onnx.checker and OpenCV.
# Usage: tests/test_export.sh BUILD_DIR (default build)
build=${1:-build}
cnn=$build/cnn
fix=tests/fixtures/export
test_name=export
refuse_status=1 # refuse: exit status 1 and one line on stderr
. "$(dirname "$0")/lib.sh"
# verified NAME ARGS...: cnn export ARGS --verify succeeds and says so
verified() {
    name=$1; shift
    if "$cnn" export "$@" --verify >"$tmp/out" 2>"$tmp/err" &&
       grep -q "^verified: read back, it gives bit-identical outputs" "$tmp/out"; then ok; else
        bad "$name: $(cat "$tmp/out" "$tmp/err" | head -c 600)"; fi
}

if ! $cnn export lenet5 -o "$tmp/probe.onnx" >"$tmp/out" 2>"$tmp/err" &&
   grep -q "without ONNX support" "$tmp/err"; then
    echo "export: skipped (cnn built without ONNX support: install protobuf-c and onnx.proto, sh scripts/setup.sh)"
    echo "export: 0 passed, 0 failed"
    exit 0
fi

# --- what it writes and prints ------------------------------------------------------
if $cnn export lenet5 -o "$tmp/lenet5.onnx" >"$tmp/out" 2>"$tmp/err" &&
   grep -q "^wrote $tmp/lenet5.onnx: ONNX opset 13, .* 61,706 parameters from 13 nodes of lenet5$" "$tmp/out" &&
   grep -q "^  input  input  *\[N, 1, 28, 28\]$" "$tmp/out" &&
   grep -q "^  output fc3  *\[N, 10\]$" "$tmp/out" && [ -s "$tmp/lenet5.onnx" ]; then ok; else
    bad "export lenet5: $(cat "$tmp/out" "$tmp/err")"; fi
$cnn summary "$tmp/lenet5.onnx" >"$tmp/out" 2>&1 && grep -q "Total params: 61,706$" "$tmp/out" && ok ||
    bad "summary of the export: $(tail -n 3 "$tmp/out")"
# An imported model written again is the same file (no batch norm, whose
# momentum goes through 1 - m and back).
$cnn export "$tmp/lenet5.onnx" -o "$tmp/again.onnx" >/dev/null 2>&1 &&
    cmp -s "$tmp/lenet5.onnx" "$tmp/again.onnx" && ok || bad "re-export of lenet5.onnx differs"
$cnn export lenet5 --batch 4 -o "$tmp/b4.onnx" >"$tmp/out" 2>&1 && grep -q "^  input  input  *\[4, 1, 28, 28\]$" "$tmp/out" &&
    ok || bad "--batch 4: $(cat "$tmp/out")"
$cnn export --help | grep -q "^usage: cnn export" && ok || bad "export --help"
$cnn --help | grep -q "^  export " && ok || bad "export missing from cnn --help"

# --- read back to the same bits -----------------------------------------------------
verified "lenet5 --batch 4" lenet5 --batch 4 -o "$tmp/a.onnx"
verified "resnet20" resnet20 -o "$tmp/a.onnx"
verified "resnet18 at 64x64" resnet18 --input 3x64x64 --classes 10 -o "$tmp/a.onnx"
verified "every op" "$fix/every_op.txt" -o "$tmp/a.onnx"
if [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] ||
   [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte ]; then
    for m in lenet5 "$fix/small_bn.txt"; do
        n=$(basename "$m" .txt)
        if $cnn train --model "$m" --data fashion-mnist --epochs 1 --limit 512 --test-limit 256 \
               --threads 2 --out "$tmp/run_$n" >"$tmp/out" 2>&1; then
            verified "trained $n" "$tmp/run_$n/best" -o "$tmp/$n.onnx"
        else
            bad "training $n: $(tail -n 3 "$tmp/out")"
        fi
    done
    refuse "checkpoint with --input" "apply to zoo models" $cnn export "$tmp/run_lenet5/best" --input 1x32x32 -o "$tmp/a.onnx"
else
    echo "export: Fashion-MNIST not installed (sh scripts/setup.sh); skipping trained checkpoints"
fi

# --- refusals: one line, exit status 1, the file as it was ------------------------------
cp "$tmp/lenet5.onnx" "$tmp/keep.onnx"
refuse "adaptive pooling that does not divide" \
    "adaptive_avgpool 'avgpool': output 7x7 from an input of 1x1" \
    $cnn export vgg11_bn --input 3x32x32 -o "$tmp/keep.onnx"
cmp -s "$tmp/lenet5.onnx" "$tmp/keep.onnx" && ok || bad "a refused export changed the file"
refuse "unwritable path" "$tmp/no/such/dir/x.onnx" $cnn export lenet5 -o "$tmp/no/such/dir/x.onnx"
refuse "no -o" "give -o FILE.onnx" $cnn export lenet5
refuse "unknown model" "neither a zoo model nor a readable file" $cnn export nosuchnet -o "$tmp/a.onnx"
refuse "bad --batch" "--batch 0" $cnn export lenet5 --batch 0 -o "$tmp/a.onnx"
$cnn export >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "^usage: cnn export" "$tmp/err" && ok || bad "export without a model"
leftover=$(find "$tmp" -name '*.tmp.*' | head -n 1)
[ -z "$leftover" ] && ok || bad "temporary file left behind: $leftover"

finish
