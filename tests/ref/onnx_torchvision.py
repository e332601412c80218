#!/usr/bin/python3
"""Exports torchvision models (random weights, random batch-norm statistics,
eval mode) and a small net of the other mapped ops with torch.onnx.export,
writes each as an ONNX backend test (model.onnx, test_data_set_0/input_0.pb,
output_0.pb with PyTorch's output, and test_data_set_1 with ONNX Runtime's
output when bench/.venv holds onnxruntime: scripts/ort_venv.sh), and runs
`cnn onnx-test` on them, so cnn must match both.

Usage: tests/ref/onnx_torchvision.py BUILD/cnn
Prints "onnx-torchvision: N passed, N failed"; exits 0 with a skip line when
PyTorch is not installed (scripts/setup.sh --ref) or cnn has no ONNX support.
The tolerances are ONNX's own (rtol 1e-3, atol 1e-7), as for its real-model
tests, except where RELAXED states otherwise (written to the test's
data.json, as ONNX's own tests do)."""
import os
import struct
import subprocess
import sys
import tempfile
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORT_RUN = """
import sys, numpy as np, onnxruntime as ort
for d in sys.argv[1:]:
    s = ort.InferenceSession(d + "/model.onnx", providers=["CPUExecutionProvider"])
    x = np.load(d + "/ort/input.npy")
    np.save(d + "/ort/output.npy", s.run(None, {s.get_inputs()[0].name: x})[0])
print(ort.__version__)
"""

try:
    import numpy as np
    import torch
    import torchvision
except ImportError:
    print("onnx-torchvision: skipped (python3-torch / python3-torchvision not installed)")
    print("onnx-torchvision: 0 passed, 0 failed")
    sys.exit(0)

MODELS = ["resnet18", "mobilenet_v2", "vgg11_bn", "alexnet", "squeezenet1_1"]

# VGG's convolutions sum 4608 products per output, in another order than
# PyTorch's: a logit near 0 (about 2e-3) comes out 2.3e-6 off, 1.3e-3
# relative. Absolute errors stay below 1e-5.
RELAXED = {"vgg11_bn": (1e-3, 1e-5)}


class Mixed(torch.nn.Module):
    """The mapped ops torchvision's models leave out: batch norm not folded
    into a conv (2-D and 1-D), asymmetric zero padding, a depthwise
    conv, a squeeze-and-excitation gate (global pooling, Gemm, view, Mul),
    ReLU6 (Clip), tanh, concat, average pooling in ceil mode, leaky ReLU,
    view with the batch size, dropout and log-softmax. (PyTorch exports its
    LocalResponseNorm as a composition of other ops, not as ONNX's LRN: the
    backend tests' test_lrn* check that one.)"""

    def __init__(self):
        super().__init__()
        self.bn0 = torch.nn.BatchNorm2d(3)
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.pad = torch.nn.ZeroPad2d((2, 0, 0, 2))
        self.conv2 = torch.nn.Conv2d(8, 8, 3, groups=8)
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.se1 = torch.nn.Linear(8, 4)
        self.se2 = torch.nn.Linear(4, 8)
        self.pool = torch.nn.AvgPool2d(3, stride=2, ceil_mode=True, count_include_pad=False)
        self.conv3 = torch.nn.Conv2d(16, 6, 1)
        self.bn1 = torch.nn.BatchNorm1d(6 * 8 * 8)
        self.drop = torch.nn.Dropout(0.3)
        self.fc = torch.nn.Linear(6 * 8 * 8, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(self.bn0(x)))                    # 8 x 16 x 16
        y = self.conv2(self.pad(x))                                # 8 x 16 x 16
        g = torch.flatten(self.gap(y), 1)
        g = torch.sigmoid(self.se2(torch.relu(self.se1(g))))
        y = y * g.view(-1, 8, 1, 1)
        z = torch.cat([torch.nn.functional.relu6(y), torch.tanh(x)], 1)
        z = torch.nn.functional.leaky_relu(self.conv3(self.pool(z)), 0.2)  # 6 x 8 x 8
        z = self.bn1(z.view(z.shape[0], -1))
        return torch.log_softmax(self.fc(self.drop(z)), 1)


def randomize(model, gen):
    """Batch-norm statistics and affine parameters away from their
    defaults, so a mapping that ignores one of them shows."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return model.eval()


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def tensor_proto(t, name):
    """A serialized onnx.TensorProto: dims (1), data_type FLOAT (2), name
    (8), raw_data little-endian (9); needs no onnx package."""
    a = t.detach().contiguous().to(torch.float32).numpy()
    out = b"".join(b"\x08" + varint(d) for d in a.shape)
    out += b"\x10" + varint(1)
    nm = name.encode()
    out += b"\x42" + varint(len(nm)) + nm
    raw = a.astype("<f4").tobytes()
    return out + b"\x4a" + varint(len(raw)) + raw


def write_test(root, name, model, x, opset=13):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    with torch.no_grad():
        y = model(x)
        torch.onnx.export(model, x, os.path.join(d, "model.onnx"), opset_version=opset,
                          input_names=["input"], output_names=["output"])
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(tensor_proto(x, "input"))
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(tensor_proto(y, "output"))
    np_dir = os.path.join(d, "ort")
    os.makedirs(np_dir)
    with open(os.path.join(np_dir, "input.npy"), "wb") as f:
        np.save(f, x.numpy())
    if name in RELAXED:
        with open(os.path.join(d, "data.json"), "w") as f:
            f.write('{"rtol": %g, "atol": %g}\n' % RELAXED[name])
    return d


def add_ort_outputs(dirs):
    """ONNX Runtime's outputs as test_data_set_1, when it is installed."""
    py = os.environ.get("CNN_ORT_PYTHON", os.path.join(ROOT, "bench", ".venv", "bin", "python"))
    if not os.access(py, os.X_OK):
        print("onnx-torchvision: note: no ONNX Runtime (sh scripts/ort_venv.sh): "
              "compared with PyTorch only")
        return
    r = subprocess.run([py, "-c", ORT_RUN, *dirs], capture_output=True, text=True)
    if r.returncode != 0:
        print("onnx-torchvision: note: ONNX Runtime did not run (%s): compared with PyTorch only"
              % (r.stderr.strip().splitlines() or ["?"])[-1])
        return
    print(f"onnx-torchvision: also compared with ONNX Runtime {r.stdout.strip()}")
    for d in dirs:
        ds = os.path.join(d, "test_data_set_1")
        os.makedirs(ds)
        x = torch.from_numpy(np.load(os.path.join(d, "ort", "input.npy")))
        y = torch.from_numpy(np.load(os.path.join(d, "ort", "output.npy")))
        with open(os.path.join(ds, "input_0.pb"), "wb") as f:
            f.write(tensor_proto(x, "input"))
        with open(os.path.join(ds, "output_0.pb"), "wb") as f:
            f.write(tensor_proto(y, "output"))


def main():
    cnn = sys.argv[1] if len(sys.argv) > 1 else "build/cnn"
    probe = subprocess.run([cnn, "onnx-test", "/nonexistent"], capture_output=True, text=True)
    if "without ONNX support" in probe.stderr:
        print("onnx-torchvision: skipped (cnn built without ONNX support)")
        print("onnx-torchvision: 0 passed, 0 failed")
        return 0
    warnings.simplefilter("ignore")  # the exporter's notes on constant folding
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="cnn_onnx_tv_") as root:
        dirs = []
        for name in MODELS:
            model = randomize(getattr(torchvision.models, name)(), gen)
            dirs.append(write_test(root, name, model, torch.randn(1, 3, 224, 224, generator=gen)))
        # Opset 10: Pad and Clip with attributes (the exporter writes opset
        # 11's Pad through shape ops it does not fold), Softmax's 2-D rule.
        dirs.append(write_test(root, "mixed", randomize(Mixed(), gen),
                               torch.randn(2, 3, 32, 32, generator=gen), opset=10))
        add_ort_outputs(dirs)
        out = subprocess.run([cnn, "onnx-test", "--threads", "2", *dirs], capture_output=True,
                             text=True)
        for line in out.stdout.splitlines():
            if line.startswith("PASS "):
                passed += 1
                print(line)
            elif line.startswith(("FAIL ", "SKIP ")):
                failed += 1  # every model here is expected to import and match
                print(line)
        if out.returncode not in (0, 1) or passed + failed != len(dirs):
            print(f"FAIL cnn onnx-test exited {out.returncode}: {out.stderr.strip()}")
            failed += 1
    print(f"onnx-torchvision: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
