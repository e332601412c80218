#!/usr/bin/python3
"""The cnn train LeNet-5 recipe in PyTorch, for side-by-side accuracy and
time: SGD momentum 0.9, lr 0.02 with a per-step cosine decay, weight decay
1e-3, label smoothing 0.1, batch 64, last partial batch dropped, inputs
normalized with the training set's mean and std.
Usage: torch_lenet5.py EPOCHS THREADS SEED"""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
D = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    with gzip.open(D + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
ytr = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
yte = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
mean, std = xtr.mean(), xtr.std()
xtr, xte = torch.tensor((xtr - mean) / std), torch.tensor((xte - mean) / std)
ytr, yte = torch.tensor(ytr), torch.tensor(yte)

net = nn.Sequential(
    nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-3)
steps = len(xtr) // 64
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
for epoch in range(epochs):
    net.train()
    perm = torch.randperm(len(xtr))
    for s in range(steps):
        i = perm[s * 64:(s + 1) * 64]
        opt.zero_grad()
        nn.functional.cross_entropy(net(xtr[i]), ytr[i], label_smoothing=0.1).backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {epoch + 1}: test accuracy {acc:.4f}", flush=True)
print(f"test accuracy: {acc:.4f}")
