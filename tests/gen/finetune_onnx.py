#!/usr/bin/python3
"""Writes tests/fixtures/finetune_tiny.onnx: a small Fashion-MNIST-sized
CNN (conv, batch norm, ReLU, pooling, two linear layers, softmax) exported
by PyTorch 1.13, for `cnn finetune --from MODEL.onnx` in
tests/test_finetune.sh. Its weights are random: the test checks the
plumbing (import, head replacement, training, checkpoints), not accuracy.
Run: /usr/bin/python3 tests/gen/finetune_onnx.py tests/fixtures/finetune_tiny.onnx"""
import sys

import torch
import torch.nn as nn

torch.manual_seed(1)
model = nn.Sequential(
    nn.Conv2d(1, 4, 5, stride=2), nn.BatchNorm2d(4), nn.ReLU(),  # 4x12x12
    nn.MaxPool2d(2),                                             # 4x6x6
    nn.Flatten(), nn.Linear(144, 16), nn.ReLU(),
    nn.Linear(16, 10), nn.Softmax(dim=1))
model.eval()
torch.onnx.export(model, torch.zeros(1, 1, 28, 28), sys.argv[1], opset_version=13,
                  input_names=["image"], output_names=["probs"],
                  dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}},
                  do_constant_folding=True)
