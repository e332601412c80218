#!/usr/bin/python3
"""Writes tests/fixtures/onnx/: a tiny valid model as an ONNX backend test
(tiny/model.onnx, tiny/test_data_set_0/input_0.pb, output_0.pb, its output
computed here with NumPy), and hostile files that must each fail with a
clear error (tests/test_onnx.c, tests/test_onnx.sh):

  short_raw.onnx     a weight whose raw_data is shorter than its shape
  huge_dims.onnx     a weight of shape [2^40, 1, 3, 3] with 72 bytes of data
  negative_dim.onnx  a weight of shape [-2, 1, 3, 3]
  external.onnx      a weight kept in an external file
  cycle.onnx         two nodes that read each other's output
  missing.onnx       a node that reads a value nothing defines
  twice.onnx         two nodes that write the same value
  unsupported.onnx   an op the importer does not map (Erf)
  deep.onnx          attributes holding graphs nested 100 deep
  bad_tensor.pb      a TensorProto of shape [1, 2^40] with 3 values

and symbolic.onnx, the tiny model with input shape [N, 1, H, W], which
imports once the sizes are given.

Needs the onnx package (python3-onnx). Run from the repository root:
  /usr/bin/python3 tests/gen/onnx_fixtures.py"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = "tests/fixtures/onnx"
rng = np.random.default_rng(7)


def save(model, name):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(model.SerializeToString())


def graph(nodes, inits, out_shape=(2, 3), in_shape=(2, 1, 6, 6)):
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)


def model(g):
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="cnn")
    m.ir_version = 8
    return m


# --- the valid model: Conv 3x3 pad 1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> Softmax
W = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
B = rng.standard_normal(2).astype(np.float32)
G = rng.standard_normal((3, 2)).astype(np.float32)
C = rng.standard_normal(3).astype(np.float32)
nodes = [
    helper.make_node("Conv", ["x", "W", "B"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c"], ["r"]),
    helper.make_node("GlobalAveragePool", ["r"], ["p"]),
    helper.make_node("Flatten", ["p"], ["f"]),
    helper.make_node("Gemm", ["f", "G", "C"], ["z"], transB=1),
    helper.make_node("Softmax", ["z"], ["y"], axis=1),
]


def inits(w=W):
    return [numpy_helper.from_array(w, "W"), numpy_helper.from_array(B, "B"),
            numpy_helper.from_array(G, "G"), numpy_helper.from_array(C, "C")]


def reference(x):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    c = np.zeros((2, 2, 6, 6))
    for n in range(2):
        for o in range(2):
            for i in range(6):
                for j in range(6):
                    c[n, o, i, j] = (xp[n, 0, i:i + 3, j:j + 3] * W[o, 0]).sum() + B[o]
    p = np.maximum(c, 0).mean(axis=(2, 3))
    z = p @ G.T + C
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


os.makedirs(os.path.join(OUT, "tiny", "test_data_set_0"), exist_ok=True)
save(model(graph(nodes, inits())), "tiny/model.onnx")
x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
for name, t in (("input_0.pb", numpy_helper.from_array(x, "x")),
                ("output_0.pb", numpy_helper.from_array(reference(x), "y"))):
    with open(os.path.join(OUT, "tiny", "test_data_set_0", name), "wb") as f:
        f.write(t.SerializeToString())

save(model(graph(nodes, inits(), ("N", 3), ("N", 1, "H", "W"))), "symbolic.onnx")

# --- hostile models
bad = inits()
bad[0].raw_data = bad[0].raw_data[:40]
save(model(graph(nodes, bad)), "short_raw.onnx")

bad = inits()
bad[0].dims[0] = 1 << 40
save(model(graph(nodes, bad)), "huge_dims.onnx")

bad = inits()
bad[0].dims[0] = -2
save(model(graph(nodes, bad)), "negative_dim.onnx")

bad = inits()
bad[0].ClearField("raw_data")
bad[0].data_location = TensorProto.EXTERNAL
bad[0].external_data.add(key="location", value="weights.bin")
save(model(graph(nodes, bad)), "external.onnx")

cyc = [helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Add", ["x", "a"], ["b"]),
       helper.make_node("Relu", ["b"], ["y"])]
save(model(graph(cyc, [], (2, 1, 6, 6))), "cycle.onnx")

miss = [helper.make_node("Add", ["x", "ghost"], ["y"])]
save(model(graph(miss, [], (2, 1, 6, 6))), "missing.onnx")

twice = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"])]
save(model(graph(twice, [], (2, 1, 6, 6))), "twice.onnx")

save(model(graph([helper.make_node("Erf", ["x"], ["y"])], [], (2, 1, 6, 6))),
     "unsupported.onnx")

leaf = helper.make_graph([], "leaf", [], [])
inner = leaf
for _ in range(100):  # one nested branch per level: linear in size
    inner = helper.make_graph([helper.make_node("If", ["x"], ["x2"], then_branch=inner,
                                                else_branch=leaf)], "nest", [], [])
save(model(graph([helper.make_node("If", ["x"], ["y"], then_branch=inner, else_branch=leaf)],
                 [], (2, 1, 6, 6))), "deep.onnx")

t = TensorProto(dims=[1, 1 << 40], data_type=TensorProto.FLOAT, float_data=[1, 2, 3], name="x")
with open(os.path.join(OUT, "bad_tensor.pb"), "wb") as f:
    f.write(t.SerializeToString())
