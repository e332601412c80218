#!/bin/sh
# test_portable.sh - the library, the CLI and the examples build with a
# second compiler, clang, as cleanly as with cc (-Werror, the same
# warnings; no OpenMP, whose clang runtime may be missing): GCC-only
# builtins or extensions fail here, in the README's test command, rather
# than in CI's clang fuzz build. Skipped when clang is missing (sh
# scripts/setup.sh --ref installs it).
# Usage: tests/test_portable.sh BUILD_DIR (unused: the build goes to a
# temporary folder)
test_name=portable
. "$(dirname "$0")/lib.sh"

if ! command -v clang >/dev/null 2>&1; then
    echo "portable: skipped (no clang: sh scripts/setup.sh --ref)"
    echo "portable: 0 passed, 0 failed"
    exit 0
fi
# -O0: the compiler's checks, not its optimizer (the kernels' own -O3
# still applies); a make of its own, not the caller's jobserver.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 BUILD="$tmp/clang" CC=clang OPENMP=0 \
       CFLAGS=-O0 WERROR=1 all >"$tmp/out" 2>&1; then ok; else
    bad "clang build: $(grep -E 'error|warning' "$tmp/out" | head -n 5)"; fi
finish
