#!/bin/sh
# run.sh - the short fuzz run of `make fuzz` (docs/onnx.md, "Fuzzing"): each
# libFuzzer target of BUILD/fuzz runs for SECONDS seconds from a seed corpus
# of the project's test files, small models of ONNX's backend tests and,
# where build/cnn is there, models it writes. A crash, a leak, undefined
# behaviour, a timeout or running out of memory fails the run: the input is
# kept in BUILD/artifacts/TARGET/ and the last lines of the report printed.
# Inputs that reach new code are kept in BUILD/corpus/TARGET/ for the next run.
# Usage: tests/fuzz/run.sh BUILD SECONDS
build=${1:-build-fuzz}
seconds=${2:-10}
cnn=build/cnn
onnxdata=/usr/share/libonnx-testdata/data
seeds=$build/seeds
status=0

rm -rf "$seeds"
for t in onnx netdesc checkpoint; do mkdir -p "$seeds/$t" "$build/corpus/$t" "$build/artifacts/$t"; done

# --- seeds --------------------------------------------------------------------------
for f in tests/fixtures/onnx/*.onnx tests/fixtures/onnx/tiny/model.onnx tests/fixtures/*.onnx; do
    [ -f "$f" ] && cp "$f" "$seeds/onnx/$(echo "$f" | tr / _)"
done
if [ -d "$onnxdata/node" ]; then
    # every 8th of the backend tests' models under 2 KB: about a hundred ops
    find "$onnxdata/node" -name model.onnx -size -2k | sort | awk 'NR % 8 == 1' |
        while read -r f; do cp "$f" "$seeds/onnx/$(basename "$(dirname "$f")").onnx"; done
fi
cp tests/fixtures/export/*.txt "$seeds/netdesc/"
if [ -x "$cnn" ]; then
    for m in tests/fixtures/export/every_op.txt tests/fixtures/export/small_bn.txt; do
        n=$(basename "$m" .txt)
        "$cnn" export "$m" -o "$seeds/onnx/export_$n.onnx" >/dev/null 2>&1
    done
    for m in lenet5 resnet20 alexnet vgg11_bn resnet50; do
        "$cnn" summary --emit "$m" >"$seeds/netdesc/$m.txt" 2>/dev/null
    done
    if "$cnn" train --model tests/fixtures/export/small_bn.txt --data fashion-mnist --epochs 1 \
           --limit 64 --batch 32 --test-limit 64 --threads 1 --optimizer adam \
           --out "$seeds/run" >/dev/null 2>&1; then
        cp "$seeds/run/best" "$seeds/checkpoint/small_bn_best"
        cp "$seeds/run/last" "$seeds/checkpoint/small_bn_last"
    fi
    rm -rf "$seeds/run"
fi
# At least the magic, so that the checkpoint target starts past it.
printf 'CNNCKPT\n\001\000\000\000\000\000\000\000' >"$seeds/checkpoint/magic"

# --- runs ---------------------------------------------------------------------------
for t in onnx netdesc checkpoint; do
    log=$build/fuzz_$t.log
    # -timeout: one input running this long is a failure; -rss_limit_mb also
    # bounds a single allocation.
    if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
           -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
           "$build/corpus/$t" "$seeds/$t" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        size=$(ls "$build/corpus/$t" | wc -l)
        echo "fuzz: $t: ${runs:-?} inputs in ${seconds} s, no failure (corpus: $size inputs)"
    else
        echo "fuzz: $t: FAILED (input kept in $build/artifacts/$t/):"
        grep -v '^#\|^INFO\|^stat::' "$log" | tail -n 40
        status=1
    fi
done
exit $status
