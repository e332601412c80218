#!/bin/sh
# Runs every test program given and sums their "N passed, N failed" lines.
# Usage: tests/run.sh BUILD_DIR TEST_BIN...
build=$1; shift
passed=0; failed=0; status=0
for t in "$@"; do
    case "$t" in
    *.py) out=$(/usr/bin/python3 "$t" "$build/cnn" 2>&1); rc=$? ;;
    *.sh) out=$(sh "$t" "$build" 2>&1); rc=$? ;;
    *)    out=$("$t" 2>&1); rc=$? ;;
    esac
    printf '%s\n' "$out" | grep -v '^PASS' 
    line=$(printf '%s\n' "$out" | grep -E ': [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "$t: crashed or printed no summary (exit $rc)"
        failed=$((failed + 1)); status=1; continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$t: exit status $rc after all tests passed (sanitizer report above?)"
        failed=$((failed + 1))
    fi
    [ "$rc" -ne 0 ] && status=1
done
echo "$passed passed, $failed failed"
exit $status
