#!/bin/sh
# test_onnx.sh - ONNX import as a user meets it: `cnn onnx-test` over ONNX's
# own backend tests (Debian's libonnx-testdata: every test must pass or be
# skipped as unsupported, none may fail), a small model of ours, and bad
# files, each refused with a one-line error naming the file and exit
# status 1, never a crash.
# Usage: tests/test_onnx.sh BUILD_DIR (default build)
build=${1:-build}
cnn=$build/cnn
fix=tests/fixtures/onnx
data=/usr/share/libonnx-testdata/data
test_name=onnx
refuse_status=1 # refuse: exit status 1 and one line on stderr
. "$(dirname "$0")/lib.sh"

if ! $cnn onnx-test "$fix/tiny" >"$tmp/out" 2>"$tmp/err" && grep -q "without ONNX support" "$tmp/err"; then
    echo "onnx: skipped (cnn built without ONNX support: install protobuf-c and onnx.proto, sh scripts/setup.sh)"
    echo "onnx: 0 passed, 0 failed"
    exit 0
fi

# --- a small model of ours and the command line ----------------------------------
if $cnn onnx-test "$fix/tiny" >"$tmp/out" 2>"$tmp/err" && grep -q "^PASS tiny$" "$tmp/out" &&
   [ "$(tail -n 1 "$tmp/out")" = "1 passed, 0 failed, 0 skipped" ]; then ok; else
    bad "onnx-test tiny: $(cat "$tmp/out" "$tmp/err")"; fi
$cnn onnx-test --help | grep -q "test_data_set_N" && ok || bad "onnx-test --help"
$cnn summary "$fix/tiny/model.onnx" >"$tmp/out" 2>&1 && grep -q "Total params: 29$" "$tmp/out" && ok ||
    bad "summary of an .onnx file: $(tail -n 3 "$tmp/out")"
$cnn onnx-test >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "^usage: cnn onnx-test" "$tmp/err" && ok || bad "onnx-test without a directory"
refuse "bad --rtol" "--rtol x" $cnn onnx-test --rtol x "$fix/tiny"

# A data set whose input file lies about its size fails that test (exit 1).
mkdir -p "$tmp/lying/test_data_set_0"
cp "$fix/tiny/model.onnx" "$tmp/lying/"
cp "$fix/bad_tensor.pb" "$tmp/lying/test_data_set_0/input_0.pb"
cp "$fix/tiny/test_data_set_0/output_0.pb" "$tmp/lying/test_data_set_0/"
$cnn onnx-test "$tmp/lying" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "^FAIL lying: test_data_set_0/input_0.pb: the tensor holds 3 values" "$tmp/out" &&
    ok || bad "lying tensor file: exit $rc: $(cat "$tmp/out")"
# An output that does not match fails with its errors.
mkdir -p "$tmp/wrong/test_data_set_0"
cp "$fix/tiny/model.onnx" "$tmp/wrong/"
cp "$fix/tiny/test_data_set_0/input_0.pb" "$tmp/wrong/test_data_set_0/"
cp "$fix/tiny/test_data_set_0/input_0.pb" "$tmp/wrong/test_data_set_0/output_0.pb"
$cnn onnx-test "$tmp/wrong" >"$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "^FAIL wrong: test_data_set_0: output 0 has shape" "$tmp/out" && ok ||
    bad "wrong output: $(cat "$tmp/out")"

# --- bad files: one line naming the file, exit status 1 -----------------------------
refuse "short raw_data" "short_raw.onnx: initializer 'W' has raw_data of 40 bytes" $cnn summary "$fix/short_raw.onnx"
refuse "huge dims" "huge_dims.onnx: .*needs" $cnn summary "$fix/huge_dims.onnx"
refuse "negative dim" "negative_dim.onnx: .*expected non-negative" $cnn summary "$fix/negative_dim.onnx"
refuse "external data" "external.onnx: .*external file" $cnn summary "$fix/external.onnx"
refuse "cycle" "cycle.onnx: .*a cycle" $cnn summary "$fix/cycle.onnx"
refuse "missing input" "missing.onnx: .*'ghost'" $cnn summary "$fix/missing.onnx"
refuse "defined twice" "twice.onnx: .*defined twice" $cnn summary "$fix/twice.onnx"
refuse "unsupported op" "unsupported.onnx: unsupported ONNX op 'Erf' (node 'y')" $cnn summary "$fix/unsupported.onnx"
refuse "deep nesting" "deep.onnx: .*nested more than" $cnn summary "$fix/deep.onnx"
size=$(wc -c <"$fix/tiny/model.onnx")
for n in 1 17 $((size / 2)) $((size - 1)); do
    head -c "$n" "$fix/tiny/model.onnx" >"$tmp/cut$n.onnx"
    refuse "truncated to $n bytes" "cut$n.onnx: " $cnn summary "$tmp/cut$n.onnx"
done
printf 'ONNX? \377\377\377\377\377\377\377\377\377\377 not really\n' >"$tmp/garbage.onnx"
refuse "garbage" "garbage.onnx: not a valid ONNX model" $cnn summary "$tmp/garbage.onnx"
: >"$tmp/empty.onnx"
refuse "empty file" "empty.onnx: " $cnn summary "$tmp/empty.onnx"
mkdir -p "$tmp/dir.onnx"
refuse "a directory" "dir.onnx: not a regular file" $cnn summary "$tmp/dir.onnx"

# --- ONNX's backend tests ---------------------------------------------------------
if [ ! -d "$data/node" ]; then
    echo "onnx: libonnx-testdata not installed (sh scripts/setup.sh); skipping ONNX's backend tests"
else
    for suite in node pytorch-converted pytorch-operator simple; do
        [ -d "$data/$suite" ] || continue
        set -- "$data/$suite"/*/model.onnx
        dirs=""
        for m in "$@"; do dirs="$dirs ${m%/model.onnx}"; done
        # shellcheck disable=SC2086
        $cnn onnx-test $dirs >"$tmp/$suite.txt" 2>"$tmp/err"
        rc=$?
        last=$(tail -n 1 "$tmp/$suite.txt")
        echo "onnx: $suite: $last"
        case "$last" in
        *" passed, 0 failed, "*) [ "$rc" -eq 0 ] && ok || bad "$suite: exit status $rc" ;;
        *) grep "^FAIL" "$tmp/$suite.txt"; bad "$suite: $last (exit $rc) $(head -c 300 "$tmp/err")" ;;
        esac
    done
fi

finish
