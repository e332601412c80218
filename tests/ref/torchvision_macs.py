#!/usr/bin/python3
"""Counts parameters and multiply-accumulates of torchvision's models with
forward hooks (conv: output elements x C_in/groups x kH x kW; linear:
in x out), and compares them with `cnn summary --compare`.

Usage: tests/ref/torchvision_macs.py BUILD/cnn
Prints "torchvision: N passed, N failed"; exits 0 with a skip line when
PyTorch is not installed (scripts/setup.sh --ref installs it)."""
import subprocess
import sys

try:
    import torch
    import torchvision
except ImportError:
    print("torchvision: skipped (python3-torch / python3-torchvision not installed)")
    print("torchvision: 0 passed, 0 failed")
    sys.exit(0)

MODELS = ["alexnet", "vgg11", "vgg16", "vgg16_bn", "resnet18", "resnet50", "resnet101"]


def count(model, shape):
    macs = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        macs[0] += out[0].numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        macs[0] += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    return sum(p.numel() for p in model.parameters()), macs[0]


def ours(cnn, names):
    out = subprocess.run([cnn, "summary", "--compare", *names], check=True,
                         capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        rows[f[0]] = (int(f[2].replace(",", "")), int(f[3].replace(",", "")))
    return rows


def main():
    cnn = sys.argv[1] if len(sys.argv) > 1 else "build/cnn"
    got = ours(cnn, MODELS)
    passed = failed = 0
    for name in MODELS:
        params, macs = count(getattr(torchvision.models, name)(), (3, 224, 224))
        p, m = got[name]
        ok = p == params and abs(m - macs) <= 0.01 * macs
        print(f"{'PASS' if ok else 'FAIL'} {name}: params {p} vs torchvision {params}, "
              f"MACs {m} vs {macs} ({100.0 * (m - macs) / macs:+.3f}%)")
        passed += ok
        failed += not ok
    print(f"torchvision: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
