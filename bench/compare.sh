#!/bin/sh
# Side-by-side speed of cnn, PyTorch and ONNX Runtime on the same workloads
# with the same thread count: single convolution layers (forward, and
# forward + data and weight gradients), LeNet-5 and ResNet-20 training steps,
# ResNet-50 inference. Each round runs every workload with `build/cnn bench`,
# then bench/torch_bench.py under PyTorch, then under ONNX Runtime (inference
# workloads only), so the tools alternate; the table holds the median of the
# rounds. Each round also measures the machine's FMA peak (bench/peak.c:
# registers only, the same threads), so the convolutions' share of it comes
# from the same run. Progress goes to stderr, the table to stdout. See
# bench/README.md.
#
#   sh bench/compare.sh [--quick] [--threads T] [--rounds R] [--only REGEX]
#
#   --quick       1 round and fewer iterations (a smoke run, a few minutes)
#   --threads T   threads for every tool (default 2)
#   --rounds R    rounds (default 3)
#   --only REGEX  only the workloads whose id matches (awk ERE): conv_a_f,
#                 conv_a_b, ... conv_f_b, lenet5, resnet20, r50_b1, r50_b16
#
# Builds cnn when needed (make -s), installs python3-torch/torchvision with
# scripts/setup.sh --ref when they are missing, and onnxruntime from PyPI into
# bench/.venv (a venv over Debian's python3 that sees its packages, numpy
# pinned to Debian's). A tool that is missing or fails shows "-".
set -eu
cd "$(dirname "$0")/.."

rounds=3
threads=2
quick=0
only=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --threads) [ $# -ge 2 ] || { echo "compare.sh: --threads needs a value" >&2; exit 2; }
        threads=$2; shift ;;
    --threads=*) threads=${1#*=} ;;
    --rounds) [ $# -ge 2 ] || { echo "compare.sh: --rounds needs a value" >&2; exit 2; }
        rounds=$2; shift ;;
    --rounds=*) rounds=${1#*=} ;;
    --only) [ $# -ge 2 ] || { echo "compare.sh: --only needs a value" >&2; exit 2; }
        only=$2; shift ;;
    --only=*) only=${1#*=} ;;
    -h | --help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case $threads$rounds in *[!0-9]* | '') echo "compare.sh: --threads and --rounds take numbers" >&2; exit 2 ;; esac
if [ "$threads" -lt 1 ] || [ "$rounds" -lt 1 ]; then
    echo "compare.sh: --threads and --rounds must be >= 1" >&2
    exit 2
fi
[ "$quick" -eq 1 ] && rounds=1

say() { echo "compare: $*" >&2; }

# ---- tools ----------------------------------------------------------------

make -s all
have_cnn=1
if ! build/cnn --help 2>&1 | grep -q '^ *bench[[:space:]]'; then
    say "build/cnn has no 'bench' subcommand: the cnn column shows -"
    have_cnn=0
fi

py=/usr/bin/python3
venv=bench/.venv
if ! $py -c 'import torch, torchvision' 2>/dev/null ||
    { [ ! -x $venv/bin/python ] && ! $py -c 'import ensurepip' 2>/dev/null; }; then
    say "installing python3-torch, python3-torchvision, python3-venv (scripts/setup.sh --ref)"
    sh scripts/setup.sh --ref || say "scripts/setup.sh --ref failed"
fi
have_torch=1
$py -c 'import torch, torchvision' 2>/dev/null || { say "PyTorch is not importable: its column shows -"; have_torch=0; }

have_ort=0
if [ "$have_torch" -eq 1 ]; then  # the ONNX files are exported by PyTorch
    sh scripts/ort_venv.sh >/dev/null || true
    if [ -x $venv/bin/python ] && $venv/bin/python -c 'import onnxruntime, torch' 2>/dev/null; then
        have_ort=1
    else
        say "onnxruntime is not importable: its column shows -"
    fi
fi

# ---- workloads --------------------------------------------------------------
# id | label | kind (conv: GFLOP/s, model: images/s, latency: images/s plus a
# latency row) | ort (1: inference, also run under ONNX Runtime) | iters |
# warmup | the arguments common to cnn bench and torch_bench.py

workloads='
conv_a_f|conv a: N32 C64 56x56 K64 3x3 p1, fwd|conv|1|10|2|--conv 32,64,56,56,64,3,3,1,1 --mode fwd
conv_a_b|conv a: N32 C64 56x56 K64 3x3 p1, fwd+bwd|conv|0|6|1|--conv 32,64,56,56,64,3,3,1,1 --mode fwdbwd
conv_b_f|conv b: N1 C3 224x224 K64 7x7 s2 p3, fwd|conv|1|50|5|--conv 1,3,224,224,64,7,7,2,3 --mode fwd
conv_b_b|conv b: N1 C3 224x224 K64 7x7 s2 p3, fwd+bwd|conv|0|30|3|--conv 1,3,224,224,64,7,7,2,3 --mode fwdbwd
conv_c_f|conv c: N64 C1 28x28 K6 5x5 p2, fwd|conv|1|200|20|--conv 64,1,28,28,6,5,5,1,2 --mode fwd
conv_c_b|conv c: N64 C1 28x28 K6 5x5 p2, fwd+bwd|conv|0|200|20|--conv 64,1,28,28,6,5,5,1,2 --mode fwdbwd
conv_d_f|conv d: N64 C6 14x14 K16 5x5, fwd|conv|1|200|20|--conv 64,6,14,14,16,5,5,1,0 --mode fwd
conv_d_b|conv d: N64 C6 14x14 K16 5x5, fwd+bwd|conv|0|200|20|--conv 64,6,14,14,16,5,5,1,0 --mode fwdbwd
conv_e_f|conv e: N8 C256 14x14 K256 3x3 p1, fwd|conv|1|30|3|--conv 8,256,14,14,256,3,3,1,1 --mode fwd
conv_e_b|conv e: N8 C256 14x14 K256 3x3 p1, fwd+bwd|conv|0|15|2|--conv 8,256,14,14,256,3,3,1,1 --mode fwdbwd
conv_f_f|conv f: N8 C512 7x7 K2048 1x1, fwd|conv|1|50|5|--conv 8,512,7,7,2048,1,1,1,0 --mode fwd
conv_f_b|conv f: N8 C512 7x7 K2048 1x1, fwd+bwd|conv|0|20|3|--conv 8,512,7,7,2048,1,1,1,0 --mode fwdbwd
lenet5|LeNet-5 train, batch 64, 1x28x28|model|0|100|10|--model lenet5 --input 1x28x28 --classes 10 --batch 64 --mode train
resnet20|ResNet-20 train, batch 128, 1x28x28|model|0|10|2|--model resnet20 --input 1x28x28 --classes 10 --batch 128 --mode train
r50_b1|ResNet-50 infer, batch 1, 3x224x224|latency|1|10|2|--model resnet50 --batch 1 --mode infer
r50_b16|ResNet-50 infer, batch 16, 3x224x224|model|1|5|1|--model resnet50 --batch 16 --mode infer
'
workloads=$(echo "$workloads" | awk -F'|' -v re="$only" '$1 != "" && $1 ~ re')
[ -n "$workloads" ] || { echo "compare.sh: --only '$only' matches no workload" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cnn_compare_XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
: > "$tmp/results"

peak=
if ${CC:-cc} -std=c11 -O2 -fopenmp bench/peak.c -o "$tmp/peak" 2> "$tmp/err"; then
    peak=$tmp/peak
else
    say "bench/peak.c did not build, no peak line: $(tail -n 1 "$tmp/err")"
fi

# run ID TOOL COMMAND...: appends "ID TOOL key value" for median ms, peak MiB
# and the throughput (images/s or GFLOP/s) to the results.
run() {
    id=$1 tool=$2
    shift 2
    if timeout 900 "$@" > "$tmp/out" 2> "$tmp/err"; then
        awk -F': *' -v id="$id" -v tool="$tool" '
            $1 == "median ms" { ms = $2 }
            $1 == "peak MiB"  { mib = $2 }
            $1 == "images/s" || $1 == "GFLOP/s" { rate = $2 }
            END {
                if (rate == "" || ms == "") exit 1
                print id, tool, "ms", ms; print id, tool, "rate", rate
                if (mib != "") print id, tool, "mib", mib
            }' "$tmp/out" >> "$tmp/results" ||
            say "$tool $id: no 'median ms' / throughput line in its output"
    else
        say "$tool $id failed: $(tail -n 1 "$tmp/err")"
    fi
}

set -f  # the argument strings are split on blanks, never globbed
r=1
# shellcheck disable=SC2086 # $common is a list of arguments
while [ "$r" -le "$rounds" ]; do
    if [ -n "$peak" ]; then
        say "round $r/$rounds: FMA peak"
        run peak cnn "$peak" "$threads"
    fi
    echo "$workloads" | while IFS='|' read -r id label _kind ort iters warmup args; do
        [ -n "$id" ] || continue
        if [ "$quick" -eq 1 ]; then
            iters=$((iters / 5 < 3 ? 3 : iters / 5))
            warmup=$((warmup / 2 < 1 ? 1 : warmup / 2))
        fi
        say "round $r/$rounds: $label"
        common="$args --threads $threads --iters $iters --warmup $warmup"
        if [ "$have_cnn" -eq 1 ] && [ -n "$peak" ] && case $id in conv_[aef]_f) true ;; *) false ;; esac; then
            # the peak just before and just after: this conv's share of
            # the machine's speed in those seconds, not only the round's
            n0=$(wc -l < "$tmp/results")
            p0=$("$peak" "$threads" 2> /dev/null | awk -F': *' '$1 == "GFLOP/s" { print $2 }')
            run "$id" cnn build/cnn bench $common
            p1=$("$peak" "$threads" 2> /dev/null | awk -F': *' '$1 == "GFLOP/s" { print $2 }')
            awk -v n0="$n0" -v id="$id" -v p0="$p0" -v p1="$p1" '
                NR > n0 && $1 == id && $2 == "cnn" && $3 == "rate" && p0 > 0 && p1 > 0 {
                    print id, "cnn", "around", p0; print id, "cnn", "around", p1
                    print id, "cnn", "share", $4 / ((p0 + p1) / 2)
                }' "$tmp/results" >> "$tmp/results.new"
            cat "$tmp/results.new" >> "$tmp/results"
            rm -f "$tmp/results.new"
        elif [ "$have_cnn" -eq 1 ]; then
            run "$id" cnn build/cnn bench $common
        fi
        [ "$have_torch" -eq 1 ] && run "$id" torch $py bench/torch_bench.py $common --runtime torch
        [ "$have_ort" -eq 1 ] && [ "$ort" -eq 1 ] &&
            run "$id" ort $venv/bin/python bench/torch_bench.py $common --runtime ort
        :
    done
    r=$((r + 1))
done
set +f

# ---- the table ----------------------------------------------------------------

tv=$($py -c 'import torch; print(torch.__version__)' 2>/dev/null || echo -)
ov=$($venv/bin/python -c 'import onnxruntime; print(onnxruntime.__version__)' 2>/dev/null || echo -)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo
echo "cnn vs PyTorch $tv vs ONNX Runtime $ov: $threads threads each, median of $rounds" \
    "alternating round(s)$([ "$quick" -eq 1 ] && echo ', --quick iterations'), ${cpu:-unknown CPU}."
echo "Convolutions in GFLOP/s (2*MACs forward, 3x that for fwd+bwd), models in images/s:" \
    "higher is better, and a ratio > 1 means cnn is faster."
echo
echo "$workloads" | awk -F'|' -v results="$tmp/results" -v threads="$threads" '
    function med(k,   n, i, j, t, v) {
        n = cnt[k]
        if (n == 0) return ""
        for (i = 1; i <= n; i++) v[i] = val[k, i]
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function num(x) { return x == "" ? "-" : x >= 1000 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
    function ratio(a, b) { return a == "" || b == "" || b == 0 ? "-" : sprintf("%.2f", a / b) }
    function row(label, c, t, o, rc, ro, mc, mt) {
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, num(c), num(t), num(o), rc, ro,
               mc == "" ? "-" : sprintf("%.0f", mc), mt == "" ? "-" : sprintf("%.0f", mt)
    }
    BEGIN {
        while ((getline line < results) > 0) {
            split(line, f, " ")
            k = f[1] SUBSEP f[2] SUBSEP f[3]
            val[k, ++cnt[k]] = f[4]
        }
        print "| workload | cnn | PyTorch | ONNX Runtime | cnn/PyTorch | cnn/ORT | peak MiB cnn | peak MiB PyTorch |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|"
    }
    $1 != "" {
        id = $1; unit = $3 == "conv" ? "GFLOP/s" : "images/s"
        c = med(id SUBSEP "cnn" SUBSEP "rate"); t = med(id SUBSEP "torch" SUBSEP "rate")
        o = med(id SUBSEP "ort" SUBSEP "rate")
        mc = med(id SUBSEP "cnn" SUBSEP "mib"); mt = med(id SUBSEP "torch" SUBSEP "mib")
        row($2 " (" unit ")", c, t, o, ratio(c, t), $4 == 1 ? ratio(c, o) : "-", mc, mt)
        if ($3 == "latency") {  # lower is better: the ratios are theirs / ours
            c = med(id SUBSEP "cnn" SUBSEP "ms"); t = med(id SUBSEP "torch" SUBSEP "ms")
            o = med(id SUBSEP "ort" SUBSEP "ms")
            row($2 " (latency ms)", c, t, o, ratio(t, c), ratio(o, c), mc, mt)
        }
    }
    END {
        p = med("peak" SUBSEP "cnn" SUBSEP "rate")
        if (p == "") exit
        printf "\nFMA peak in this run (bench/peak.c, %d threads, registers only, median of the rounds): " \
               "%.0f GFLOP/s; 80%% of it: %.0f.", threads, p, 0.8 * p
        n = split("conv_a_f conv_e_f conv_f_f", ids, " ")
        for (i = 1; i <= n; i++) {
            c = med(ids[i] SUBSEP "cnn" SUBSEP "rate")
            if (c != "") printf " conv %s forward: %.0f%% of it.", substr(ids[i], 6, 1), 100 * c / p
        }
        printf "\n"
        for (i = 1; i <= n; i++) {
            k = ids[i] SUBSEP "cnn" SUBSEP "share"
            if (cnt[k] == 0) continue
            if (!shown) printf "Share of the peak measured just before and after each run, median of the rounds:"
            printf " conv %s forward %.0f%% (", substr(ids[i], 6, 1), 100 * med(k)
            for (j = 1; j <= cnt[k]; j++) printf "%s%.0f%%", (j > 1 ? ", " : ""), 100 * val[k, j]
            printf " of %s GFLOP/s).", num(med(ids[i] SUBSEP "cnn" SUBSEP "around"))
            shown = 1
        }
        if (shown) printf "\n"
    }'
