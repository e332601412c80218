#!/usr/bin/python3
"""Writes tests/fixtures/torch_ops.txt: inputs, parameters, outputs and
gradients of PyTorch 1.13 ops, read by tests/test_torch.c so the suite
compares against PyTorch without needing it installed.

Each record: a line "NAME COUNT" then COUNT floats (%.9g), one per line.
Gradients are of L = sum(out * r) for the r stored with the case.
Run: /usr/bin/python3 tests/gen/torch_ops.py > tests/fixtures/torch_ops.txt"""
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
out = []


def put(name, t):
    t = t.detach().reshape(-1).double()
    out.append(f"{name} {t.numel()}")
    out.extend(f"{v:.9g}" for v in t.tolist())


def case(prefix, x, params, fn):
    x = x.clone().requires_grad_(True)
    ps = [p.clone().requires_grad_(True) for p in params]
    y = fn(x, *ps)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    put(prefix + ".x", x)
    for i, p in enumerate(ps):
        put(f"{prefix}.p{i}", p)
    put(prefix + ".r", r)
    put(prefix + ".y", y)
    put(prefix + ".dx", x.grad)
    for i, p in enumerate(ps):
        put(f"{prefix}.dp{i}", p.grad)


# conv: stride (2,1), asymmetric pads (top 1, left 0, bottom 2, right 1),
# dilation (1,2), bias
case("conv", torch.randn(2, 3, 7, 8), [torch.randn(4, 3, 3, 2), torch.randn(4)],
     lambda x, w, b: F.conv2d(F.pad(x, (0, 1, 1, 2)), w, b, stride=(2, 1), dilation=(1, 2)))
# grouped conv, 2 groups, pad 1
case("gconv", torch.randn(2, 4, 5, 5), [torch.randn(6, 2, 3, 3), torch.randn(6)],
     lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2))
# depthwise conv, stride 2, no bias
case("dwconv", torch.randn(2, 3, 6, 5), [torch.randn(3, 1, 3, 3)],
     lambda x, w: F.conv2d(x, w, None, stride=2, padding=1, groups=3))

# batch norm, training: output, gradients, and the running statistics
rm, rv = torch.randn(3), torch.rand(3) + 0.5
put("bn.rm0", rm)
put("bn.rv0", rv)
rm1, rv1 = rm.clone(), rv.clone()
case("bn", torch.randn(4, 3, 5, 5), [torch.randn(3), torch.randn(3)],
     lambda x, g, b: F.batch_norm(x, rm1, rv1, g, b, training=True, momentum=0.1, eps=1e-5))
put("bn.rm1", rm1)
put("bn.rv1", rv1)

# pooling
case("maxceil", torch.randn(2, 2, 7, 7), [],
     lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True))
case("avgceil_in", torch.randn(2, 2, 6, 6), [],
     lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=True))
case("avgceil_ex", torch.randn(2, 2, 6, 6), [],
     lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False))
case("adaptive", torch.randn(2, 3, 7, 5), [], lambda x: F.adaptive_avg_pool2d(x, (3, 2)))

# linear
case("linear", torch.randn(5, 7), [torch.randn(4, 7), torch.randn(4)],
     lambda x, w, b: F.linear(x, w, b))

# cross-entropy with label smoothing 0.1 (mean over the batch)
logits = torch.randn(6, 5, requires_grad=True)
labels = torch.tensor([0, 4, 2, 2, 1, 3])
loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
loss.backward()
put("xent.logits", logits)
put("xent.labels", labels.float())
put("xent.loss", loss.reshape(1))
put("xent.dlogits", logits.grad)

print("\n".join(out))
