#!/bin/sh
# Installs the Debian packages the project needs, only those missing.
# Safe to run again; needs root (or sudo) only when something is missing.
#
#   sh scripts/setup.sh          build tools, zlib, stb (images), Fashion-MNIST,
#                                protobuf-c + onnx.proto (ONNX import) and ONNX's test data,
#                                Open MPI (multi-process training)
#   sh scripts/setup.sh --ref    also the references used by optional tests
#                                and bench/compare.sh (python3-torch,
#                                python3-torchvision; python3-onnx and
#                                python3-opencv for the ONNX export check;
#                                python3-venv for bench/.venv, which gets
#                                onnxruntime from PyPI: scripts/ort_venv.sh)
#                                and clang with libFuzzer (make fuzz, and
#                                tests/test_portable.sh's second build)
set -eu

need="gcc make libc6-dev zlib1g-dev libstb-dev dataset-fashion-mnist libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata libopenmpi-dev openmpi-bin"
if [ "${1:-}" = "--ref" ]; then
    need="$need python3 python3-torch python3-torchvision python3-venv python3-onnx python3-opencv"
    need="$need clang libclang-rt-dev"
fi

missing=""
for p in $need; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The references also include ONNX Runtime (PyPI), in bench/.venv; without
# it the comparisons with it are skipped, not failed.
if [ "${1:-}" = "--ref" ]; then
    sh "$(dirname "$0")/ort_venv.sh" >/dev/null ||
        echo "setup: onnxruntime is not available: the ONNX Runtime comparisons will be skipped" >&2
fi
