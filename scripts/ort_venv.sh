#!/bin/sh
# Makes bench/.venv: a venv over Debian's /usr/bin/python3 that sees its
# packages (python3-torch) and holds onnxruntime from PyPI, with numpy kept
# at Debian's version (the one Debian's torch is built against). Used by
# bench/compare.sh and by the ONNX tests that compare with ONNX Runtime;
# run by scripts/setup.sh --ref. Never fatal: prints why when it cannot.
#   sh scripts/ort_venv.sh        (prints the venv's python on success)
cd "$(dirname "$0")/.."
py=/usr/bin/python3
venv=bench/.venv
say() { echo "ort_venv: $*" >&2; }

if [ ! -x $venv/bin/python ]; then
    $py -m venv --system-site-packages $venv >&2 ||
        { say "could not create $venv (Debian package python3-venv?)"; exit 1; }
fi
if ! $venv/bin/python -c 'import onnxruntime' 2>/dev/null; then
    nv=$($py -c 'import numpy; print(numpy.__version__)' 2>/dev/null) ||
        { say "Debian's python3-numpy is missing"; exit 1; }
    say "installing onnxruntime into $venv (numpy stays $nv)"
    $venv/bin/pip install -q --disable-pip-version-check onnxruntime "numpy==$nv" >&2 ||
        $venv/bin/pip install -q --disable-pip-version-check "onnxruntime<1.20" "numpy==$nv" >&2 ||
        { say "pip install onnxruntime failed"; exit 1; }
fi
$venv/bin/python -c 'import onnxruntime' 2>/dev/null || { say "onnxruntime does not import"; exit 1; }
echo $venv/bin/python
