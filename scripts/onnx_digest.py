#!/usr/bin/env python3
"""A digest of what an ONNX model computes with, independent of the names tf2onnx makes up.

    python scripts/onnx_digest.py MODEL.onnx

tf2onnx's output is not byte-for-byte reproducible: the tensors and nodes it creates are
numbered from counters (and sometimes ordered) differently from run to run, while the weights
and operators are the same. So the manifest pins this digest of a converted model instead of
its file's sha256: the graph's inputs and outputs (names, element types, ranks), the sorted
sha256s of every initializer (type, shape, values), and the sorted list of every node's
operator, domain and attributes. A different conversion (other weights, other ops, another
opset) changes it. Run inside the pinned conversion venv (target/zh-venv), which has `onnx`.
"""

import hashlib
import sys

import onnx
from onnx import numpy_helper


def digest(model: onnx.ModelProto) -> str:
    graph = model.graph
    h = hashlib.sha256()

    def line(text: str) -> None:
        h.update(text.encode() + b"\n")

    for imp in sorted((i.domain, i.version) for i in model.opset_import):
        line(f"opset {imp}")
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for v in values:
            t = v.type.tensor_type
            line(f"{kind} {v.name} {t.elem_type} {len(t.shape.dim)}")
    inits = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        inits.append(hashlib.sha256(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest())
    for d in sorted(inits):
        line(f"initializer {d}")
    nodes = []
    for node in graph.node:
        attrs = []
        for a in sorted(node.attribute, key=lambda a: a.name):
            if a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS:
                raise SystemExit("onnx_digest: subgraphs are not handled")
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, onnx.TensorProto):
                array = numpy_helper.to_array(value)
                value = hashlib.sha256(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest()
            attrs.append(f"{a.name}={value!r}")
        nodes.append(f"{node.domain}:{node.op_type}({','.join(attrs)})/{len(node.input)}/{len(node.output)}")
    for n in sorted(nodes):
        line(f"node {n}")
    return h.hexdigest()


if __name__ == "__main__":
    print(digest(onnx.load(sys.argv[1])))
