#!/usr/bin/python3
"""Checks `cnn export` against ONNX's own checker and a second runtime,
OpenCV's DNN module. Each model (zoo models, a network of every op, and
checkpoints trained briefly when Fashion-MNIST is installed) is exported;
onnx.checker.check_model accepts the file (full_check: with ONNX's shape
inference); OpenCV runs it on a random batch, and `cnn onnx-test` reads the
same file back and compares its outputs with OpenCV's: |cnn - opencv| <=
ATOL + RTOL |opencv| (the read-back graph computes the bits of the
original, tests/test_export.c checks that).

OpenCV 4.6 (Debian 12) needs three concessions, all its own limits: it
broadcasts a Mul of two computed tensors ([N, C, H, W] by [N, C, 1, 1])
only with a fixed batch, so the files it runs are exported with --batch;
it reads Clip only in its opset-6 form (bounds as attributes, which opset
13 no longer has); and its AveragePool ignores count_include_pad = 1
(dividing by the elements inside the input, as for 0). So the network of
every op runs in OpenCV without its clip layers and with padded average
pools that do not count the pads (the checker and the read-back tests
still see it whole).

Usage: tests/ref/onnx_export_check.py BUILD/cnn
Prints "onnx-export: N passed, N failed"; exits 0 with a skip line when
python3-onnx or python3-opencv is not installed (scripts/setup.sh --ref) or
cnn has no ONNX support."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import cv2
except ImportError:
    print("onnx-export: skipped (python3-onnx / python3-opencv not installed)")
    print("onnx-export: 0 passed, 0 failed")
    sys.exit(0)

FIX = "tests/fixtures/export"
FASHION = "/usr/share/datasets/fashion-mnist"
BATCH = 2
RTOL, ATOL = 1e-4, 1e-4

# name, arguments of cnn export (the model), whether OpenCV runs it as is
MODELS = [
    ("lenet5", ["lenet5"]),
    ("resnet20", ["resnet20"]),
    ("resnet18", ["resnet18", "--input", "3x64x64", "--classes", "100"]),
    ("every_op", [os.path.join(FIX, "every_op.txt")]),
]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def for_opencv(src, dst):
    """The network description without its clip layers (each reads the
    layer before it, and the next reads it the same way), its padded
    average pools not counting the pads."""
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            if line.startswith("clip "):
                continue
            if line.startswith("avgpool2d ") and " pad=" in line and "count_include_pad" not in line:
                line = line.rstrip("\n") + " count_include_pad=false\n"
            g.write(line)


def opencv_test(cnn, root, name, args, rng):
    """Exports at a fixed batch, runs OpenCV, writes a backend test of
    OpenCV's outputs for cnn onnx-test. Returns its directory."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    path = os.path.join(d, "model.onnx")
    out = run([cnn, "export", *args, "--batch", str(BATCH), "-o", path])
    if out.returncode != 0:
        raise RuntimeError(f"cnn export --batch: {out.stderr.strip()}")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = rng.standard_normal(dims).astype(np.float32)
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(x)
    names = [o.name for o in model.graph.output]
    ys = net.forward(names)
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, model.graph.input[0].name).SerializeToString())
    for k, (n, y) in enumerate(zip(names, ys)):
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.ascontiguousarray(y, np.float32), n)
                    .SerializeToString())
    return d


def main():
    cnn = sys.argv[1] if len(sys.argv) > 1 else "build/cnn"
    probe = run([cnn, "onnx-test", "/nonexistent"])
    if "without ONNX support" in probe.stderr:
        print("onnx-export: skipped (cnn built without ONNX support)")
        print("onnx-export: 0 passed, 0 failed")
        return 0
    rng = np.random.default_rng(0)
    passed = failed = 0
    models = list(MODELS)
    with tempfile.TemporaryDirectory(prefix="cnn_onnx_export_") as root:
        cvnet = os.path.join(root, "every_op_opencv.txt")
        for_opencv(os.path.join(FIX, "every_op.txt"), cvnet)
        if os.path.isdir(FASHION):
            for m in ["lenet5", os.path.join(FIX, "small_bn.txt")]:
                n = "trained_" + os.path.basename(m).replace(".txt", "")
                out = run([cnn, "train", "--model", m, "--data", "fashion-mnist", "--epochs", "1",
                           "--limit", "512", "--test-limit", "256", "--threads", "2",
                           "--out", os.path.join(root, "run_" + n)])
                if out.returncode != 0:
                    print(f"FAIL {n}: cnn train: {out.stderr.strip()[-300:]}")
                    failed += 1
                    continue
                models.append((n, [os.path.join(root, "run_" + n, "best")]))
        else:
            print("onnx-export: Fashion-MNIST not installed; skipping trained checkpoints")

        # The checker on the files as cnn writes them (batch "N").
        for name, args in models:
            path = os.path.join(root, name + ".onnx")
            out = run([cnn, "export", *args, "-o", path])
            try:
                if out.returncode != 0:
                    raise RuntimeError(out.stderr.strip())
                onnx.checker.check_model(onnx.load(path), full_check=True)
                print(f"PASS checker {name}")
                passed += 1
            except Exception as e:  # the checker's errors, cnn's refusals
                print(f"FAIL checker {name}: {str(e).strip()[:300]}")
                failed += 1

        # OpenCV against cnn's reading of the same files.
        dirs = []
        for name, args in models:
            if name == "every_op":
                name, args = "every_op_opencv", [cvnet]
            try:
                dirs.append(opencv_test(cnn, root, name, args, rng))
            except Exception as e:
                print(f"FAIL opencv {name}: {str(e).strip()[:300]}")
                failed += 1
        out = run([cnn, "onnx-test", "--rtol", str(RTOL), "--atol", str(ATOL), *dirs])
        seen = 0
        for line in out.stdout.splitlines():
            if line.startswith("PASS "):
                passed += 1
                seen += 1
                print("PASS opencv " + line[5:])
            elif line.startswith(("FAIL ", "SKIP ")):
                failed += 1  # every file here must import and match
                seen += 1
                print(line[:5] + "opencv " + line[5:])
        if seen != len(dirs):
            print(f"FAIL cnn onnx-test exited {out.returncode}: {out.stderr.strip()[:300]}")
            failed += 1
    print(f"onnx-export: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
