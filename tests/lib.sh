# lib.sh - what the shell tests share. Sourced with `test_name` set (the name
# for the temporary folder and the last line); gives $tmp (removed at
# exit), the pass/fail counters and:
#   ok, bad MESSAGE
#   check NAME COMMAND...        the command succeeds (its stderr's last
#                                $check_lines lines, default 2, on failure)
#   refuse NAME PATTERN COMMAND...   the command fails (with exit status
#                                $refuse_status when that is set) with one
#                                line on stderr matching PATTERN
#   refuse_last NAME PATTERN COMMAND...   the same for commands that log
#                                progress first: the last line is the reason
#   finish                       prints "SUITE: N passed, N failed", and is
#                                true when nothing failed
tmp=$(mktemp -d "/tmp/cnn_${test_name}_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

ok()  { pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

check() {
    name=$1; shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$name: $(tail -n "${check_lines:-2}" "$tmp/err")"; fi
}

refuse() {
    name=$1; pat=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ -n "${refuse_status:-}" ] && [ "$rc" -ne "$refuse_status" ]; then
        bad "$name: exit status $rc, expected $refuse_status: $(head -c 300 "$tmp/err")"; return
    fi
    if [ "$rc" -eq 0 ]; then bad "$name: succeeded"; return; fi
    if [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "$pat" "$tmp/err"; then
        bad "$name: stderr was: $(cat "$tmp/err")"; return
    fi
    ok
}

refuse_last() {
    name=$1; pat=$2; shift 2
    if "$@" >"$tmp/out" 2>"$tmp/err"; then bad "$name: succeeded"; return; fi
    if ! tail -n 1 "$tmp/err" | grep -q -- "$pat"; then bad "$name: stderr ends: $(tail -n 1 "$tmp/err")"; return; fi
    ok
}

finish() {
    echo "$test_name: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
