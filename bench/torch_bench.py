#!/usr/bin/python3
"""The workloads of `cnn bench` in PyTorch and ONNX Runtime, same flags, same
output, for bench/compare.sh.

  torch_bench.py --model M [--input CxHxW] [--classes N] --batch B
                 --mode train|infer --threads T --iters N [--warmup W]
                 [--runtime torch|ort] [--check]
  torch_bench.py --conv N,C,H,W,K,R,S,stride,pad --mode fwd|fwdbwd
                 --threads T --iters N [--warmup W] [--runtime torch|ort] [--check]

Prints `key: value` lines; the ones compare.sh reads are `median ms:` (per
iteration), `peak MiB:` (ru_maxrss of this process) and, last,
`images/s:` (--model) or `GFLOP/s:` (--conv; GFLOP = 2*MACs forward, 3x that
for fwdbwd: forward + data gradient + weight gradient). The --conv layer has
a bias, as cnn bench's does.

The models match src/models/zoo.c layer for layer: lenet5 (conv 6 5x5 pad 2,
ReLU, max pool 2, conv 16 5x5, ReLU, max pool 2, fc 120, ReLU, fc 84, ReLU,
fc classes), the CIFAR ResNets (resnet20/32/56: 3x3 conv 16 + BN + ReLU,
3 stages of basic blocks with 16/32/64 channels, 1x1 conv + BN projection
shortcuts where the shape changes, global average pool, fc), and
torchvision's ImageNet models (resnet18..152, vgg*, alexnet) for the rest.
Train mode: zero_grad, forward, cross-entropy, backward, SGD momentum 0.9
step. Infer mode: eval() under torch.inference_mode().

--runtime ort (inference only: --mode infer, --conv --mode fwd) exports the
model, or the single Conv layer, with torch.onnx.export in a child process
(so this process loads onnxruntime and numpy only, and its peak RSS is ORT's)
and runs it with onnxruntime, intra_op_num_threads = T, inter_op 1,
sequential execution. --check prints the largest difference between ORT's
output and PyTorch's on the exported input.

Threads: OMP_NUM_THREADS = T and OPENBLAS_NUM_THREADS = 1 are set before
torch is imported (the OpenBLAS and OpenMP pools fighting over 2 cores makes
small-layer training about 3x slower), then torch.set_num_threads(T).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="lenet5, resnet20, resnet50, ...")
    g.add_argument("--conv", help="N,C,H,W,K,R,S,stride,pad")
    p.add_argument("--input", help="CxHxW (default: the model's)")
    p.add_argument("--classes", type=int, help="output classes (default: the model's)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--mode", required=True, choices=["train", "infer", "fwd", "fwdbwd"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runtime", choices=["torch", "ort"], default="torch")
    p.add_argument("--check", action="store_true",
                   help="ort: print the largest difference from PyTorch's output")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--export", metavar="DIR", help=argparse.SUPPRESS)  # child: write DIR/model.onnx
    a = p.parse_args(argv)
    if a.model and a.mode not in ("train", "infer"):
        p.error("--model takes --mode train or infer")
    if a.conv and a.mode not in ("fwd", "fwdbwd"):
        p.error("--conv takes --mode fwd or fwdbwd")
    if a.runtime == "ort" and a.mode in ("train", "fwdbwd"):
        p.error("--runtime ort runs inference workloads only (--mode infer, fwd)")
    if a.threads < 1 or a.iters < 1 or a.warmup < 0 or a.batch < 1:
        p.error("--threads, --iters, --batch must be >= 1 and --warmup >= 0")
    if a.conv:
        try:
            a.conv = [int(v) for v in a.conv.split(",")]
        except ValueError:
            a.conv = []
        if len(a.conv) != 9 or min(a.conv[:7]) < 1 or a.conv[7] < 1 or a.conv[8] < 0:
            p.error("--conv wants 9 integers N,C,H,W,K,R,S,stride,pad")
    return a


# ---- models, as in src/models/zoo.c ---------------------------------------

DEFAULTS = {"lenet5": (10, (1, 28, 28)), "resnet20": (10, (3, 32, 32)),
            "resnet32": (10, (3, 32, 32)), "resnet56": (10, (3, 32, 32))}
CIFAR_N = {"resnet20": 3, "resnet32": 5, "resnet56": 9}


def lenet5(nn, c, h, w, classes):
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * h2 * w2, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes))


def resnet_cifar(nn, c, n, classes):
    class Block(nn.Module):
        def __init__(self, cin, ch, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, ch, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(ch)
            self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(ch)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != ch:
                self.downsample = nn.Sequential(nn.Conv2d(cin, ch, 1, stride, bias=False),
                                                nn.BatchNorm2d(ch))

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    layers = [nn.Conv2d(c, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for s in range(3):
        ch = 16 << s
        for k in range(n):
            layers.append(Block(cin, ch, 2 if s > 0 and k == 0 else 1))
            cin = ch
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def build_model(torch, a):
    nn = torch.nn
    classes, shape = DEFAULTS.get(a.model, (1000, (3, 224, 224)))
    if a.classes:
        classes = a.classes
    if a.input:
        try:
            shape = tuple(int(v) for v in a.input.lower().split("x"))
            assert len(shape) == 3 and min(shape) >= 1
        except (ValueError, AssertionError):
            sys.exit(f"torch_bench: --input wants CxHxW, got '{a.input}'")
    c, h, w = shape
    if a.model == "lenet5":
        net = lenet5(nn, c, h, w, classes)
    elif a.model in CIFAR_N:
        net = resnet_cifar(nn, c, CIFAR_N[a.model], classes)
    else:
        import torchvision
        ctor = getattr(torchvision.models, a.model, None)
        if ctor is None or a.model.startswith("_"):
            sys.exit(f"torch_bench: unknown model '{a.model}'")
        net = ctor(num_classes=classes)
        if c != 3:  # first conv adapted to the input channels, as cnn's zoo does
            first = net.conv1 if hasattr(net, "conv1") else net.features[0]
            new = nn.Conv2d(c, first.out_channels, first.kernel_size, first.stride,
                            first.padding, bias=first.bias is not None)
            if hasattr(net, "conv1"):
                net.conv1 = new
            else:
                net.features[0] = new
    return net, (a.batch, c, h, w), classes


def build_conv(torch, a):
    n, c, h, w, k, r, s, stride, pad = a.conv
    conv = torch.nn.Conv2d(c, k, (r, s), stride, pad, bias=True)  # as cnn bench's layer
    return conv, (n, c, h, w), conv_macs(a)


def conv_macs(a):
    """MACs of the convolution, the bias not counted (as cnn bench counts them)."""
    n, c, h, w, k, r, s, stride, pad = a.conv
    oh, ow = (h + 2 * pad - r) // stride + 1, (w + 2 * pad - s) // stride + 1
    if oh < 1 or ow < 1:
        sys.exit("torch_bench: --conv: the kernel is larger than the padded input")
    return n * k * oh * ow * c * r * s


def workload(a):
    if a.model:
        return f"{a.model} {a.mode} batch {a.batch}" + (f" input {a.input}" if a.input else "")
    return "conv N,C,H,W,K,R,S,stride,pad = " + ",".join(map(str, a.conv)) + f" {a.mode}"


# ---- timing ---------------------------------------------------------------

def median(v):
    v = sorted(v)
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


def timed(step, warmup, iters):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return median(times)


def report(a, sec, macs, runtime):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"workload: {workload(a)}")
    print(f"runtime: {runtime}")
    print(f"threads: {a.threads}")
    print(f"iters: {a.iters} (warmup {a.warmup})")
    print(f"median ms: {sec * 1e3:.3f}")
    print(f"peak MiB: {peak:.1f}")
    if a.model:
        print(f"images/s: {a.batch / sec:.2f}")
    else:
        flop = 2.0 * macs * (3 if a.mode == "fwdbwd" else 1)
        print(f"GFLOP/s: {flop / sec / 1e9:.2f}")


# ---- runtimes -------------------------------------------------------------

def import_torch(a):
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    return torch


def run_torch(a):
    torch = import_torch(a)
    F = torch.nn.functional
    if a.model:
        net, shape, classes = build_model(torch, a)
        x = torch.randn(shape)
        if a.mode == "train":
            y = torch.randint(0, classes, (a.batch,))
            opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            net.train()

            def step():
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(x), y).backward()
                opt.step()
        else:
            net.eval()

            def step():
                with torch.inference_mode():
                    net(x)
        macs = 0
    else:
        conv, shape, macs = build_conv(torch, a)
        x = torch.randn(shape)
        if a.mode == "fwd":
            def step():
                with torch.inference_mode():
                    conv(x)
        else:
            x.requires_grad_(True)
            with torch.no_grad():
                gy = torch.randn(conv(x).shape)

            def step():  # forward, then the data, weight and bias gradients
                torch.autograd.grad(conv(x), (x, conv.weight, conv.bias), gy)
    sec = timed(step, a.warmup, a.iters)
    report(a, sec, macs, f"PyTorch {torch.__version__}")


def export(a):
    """Child process: write DIR/model.onnx, DIR/x.npy (the input) and, for
    --check, DIR/y.npy (PyTorch's output on it)."""
    torch = import_torch(a)
    import numpy as np
    if a.model:
        net, shape, _ = build_model(torch, a)
    else:
        net, shape, _ = build_conv(torch, a)
    net.eval()
    x = torch.randn(shape)
    with torch.no_grad():
        torch.onnx.export(net, x, os.path.join(a.export, "model.onnx"), opset_version=13,
                          input_names=["x"], output_names=["y"])
        np.save(os.path.join(a.export, "x.npy"), x.numpy())
        if a.check:
            np.save(os.path.join(a.export, "y.npy"), net(x).numpy())


def run_ort(a, argv):
    import numpy as np
    import onnxruntime as ort
    with tempfile.TemporaryDirectory(prefix="cnn_bench_ort_") as d:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--export", d],
                           stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            sys.exit("torch_bench: exporting to ONNX failed")
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so,
                                    providers=["CPUExecutionProvider"])
        x = np.load(os.path.join(d, "x.npy"))
        if a.check:
            ref = np.load(os.path.join(d, "y.npy"))
            out = sess.run(None, {"x": x})[0]
            err = float(np.max(np.abs(out - ref)))
            print(f"check: max |ORT - PyTorch| = {err:.3g} (max |PyTorch| = "
                  f"{float(np.max(np.abs(ref))):.3g}, shape {list(ref.shape)})")
    macs = conv_macs(a) if a.conv else 0
    sec = timed(lambda: sess.run(None, {"x": x}), a.warmup, a.iters)
    report(a, sec, macs, f"ONNX Runtime {ort.__version__}")


def main():
    argv = sys.argv[1:]
    a = parse_args(argv)
    if a.export:
        export(a)
    elif a.runtime == "ort":
        run_ort(a, argv)
    else:
        run_torch(a)


if __name__ == "__main__":
    main()
