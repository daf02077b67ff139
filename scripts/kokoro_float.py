#!/usr/bin/env python3
"""Rebuild a float Kokoro graph from the int8 one: every dynamically quantized operator becomes
its float original, with its weights dequantized once.

    target/zh-venv/bin/python scripts/kokoro_float.py models/assets/voices/kokoro-v1.0 target/kokoro-float

writes OUT/kokoro-v1.0.float.onnx and OUT/kokoro.json, a voice that is the shared Kokoro voice
(its vocabulary, packs and lexicons, by absolute path) with the float graph as its model:
`speak --voice target/kokoro-float`, `cargo bench --bench kokoro_peer -- --float target/kokoro-float`.

kokoro-v1.0.int8.onnx was made by ONNX Runtime's dynamic quantization, whose patterns are
undone here exactly:

- DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq, xzp, Wzp) -> Cast -> Mul(., xs * Ws)
  becomes MatMul(x, (Wq - Wzp) * Ws);
- ... -> ConvInteger -> [Add(., quantized bias) ->] Cast -> Mul(., xs * Ws)
  becomes Conv(x, (Wq - Wzp) * Ws[, bias]) with the same attributes;
- DynamicQuantizeLSTM(X, Wq, Rq, B, ..., W scale/zero point, R scale/zero point)
  becomes LSTM(X, W, R, B, ...) (its weights stored transposed: [dirs, input, 4*hidden]);
- Gather(int8 table) -> DequantizeLinear becomes Gather(float table).

Nodes and initializers left unused are removed. Used by docs/kokoro.md's float-vs-int8
measurement (benches/kokoro_peer.rs --float). Needs onnx and numpy (the Mandarin conversion
venv has both).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main(src: str, dst: str) -> None:
    model = onnx.load(src)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    arrays = {}

    def arr(name):
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(inits[name])
        return arrays[name]

    producer = {o: n for n in g.node for o in n.output}
    consumers = defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)

    def only_consumer(name, op):
        cs = consumers[name]
        if len(cs) != 1 or cs[0].op_type != op:
            raise SystemExit(f"unexpected pattern after {name}: {[c.op_type for c in cs]}")
        return cs[0]

    def weight_scale(scale_mul, xs):
        """Ws from Mul(xs, Ws)."""
        other = [i for i in scale_mul.input if i != xs]
        if len(other) != 1 or other[0] not in inits:
            raise SystemExit(f"unexpected scale {scale_mul.name}: {list(scale_mul.input)}")
        return arr(other[0])

    new_inits = []
    replace = {}  # id(old node) -> new node or None (removed)
    counts = defaultdict(int)

    made = set()

    def dequantized(name, wq, zp, scale, axis):
        if name in made:
            return name
        made.add(name)
        w = wq.astype(np.float32) - np.asarray(zp).astype(np.float32).reshape(shape(zp, wq, axis))
        w = w * np.asarray(scale, dtype=np.float32).reshape(shape(scale, wq, axis))
        new_inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        return name

    def shape(v, w, axis):
        v = np.asarray(v)
        if v.size == 1:
            return ()
        s = [1] * w.ndim
        s[axis] = v.size
        return tuple(s)

    for n in list(g.node):
        if n.op_type == "MatMulInteger":
            dql = producer[n.input[0]]
            x, xs = dql.input[0], dql.output[1]
            cast = only_consumer(n.output[0], "Cast")
            mul = only_consumer(cast.output[0], "Mul")
            scale_mul = producer[[i for i in mul.input if i != cast.output[0]][0]]
            ws = weight_scale(scale_mul, xs)
            w = dequantized(n.input[1] + "_float", arr(n.input[1]), arr(n.input[3]), ws, axis=1)
            replace[id(n)] = helper.make_node("MatMul", [x, w], [mul.output[0]], name=n.name + "_float")
            replace[id(cast)] = replace[id(mul)] = None
            counts["MatMul"] += 1
        elif n.op_type == "ConvInteger":
            dql = producer[n.input[0]]
            x, xs = dql.input[0], dql.output[1]
            after = consumers[n.output[0]]
            bias = None
            if len(after) == 1 and after[0].op_type == "Add":
                add = after[0]
                # Reshape(Cast(Floor(Div(bias, xs * Ws)))): the float bias is the Div's first input.
                chain = producer[[i for i in add.input if i != n.output[0]][0]]
                while chain.op_type != "Div":
                    chain = producer[chain.input[0]]
                bias = chain.input[0]
                cast = only_consumer(add.output[0], "Cast")
                replace[id(add)] = None
            else:
                cast = only_consumer(n.output[0], "Cast")
            mul = only_consumer(cast.output[0], "Mul")
            scale_mul = producer[[i for i in mul.input if i != cast.output[0]][0]]
            ws = weight_scale(scale_mul, xs)
            w = dequantized(n.input[1] + "_float", arr(n.input[1]), arr(n.input[3]), ws, axis=0)
            inputs = [x, w] + ([bias] if bias else [])
            conv = helper.make_node("Conv", inputs, [mul.output[0]], name=n.name + "_float")
            conv.attribute.extend(n.attribute)
            replace[id(n)] = conv
            replace[id(cast)] = replace[id(mul)] = None
            counts["Conv"] += 1
        elif n.op_type == "DynamicQuantizeLSTM":
            ins = list(n.input) + [""] * (12 - len(n.input))
            x, wq, rq, b, seq, h0, c0, p, w_s, w_zp, r_s, r_zp = ins
            # Per direction: [dirs, input, 4*hidden] -> ONNX LSTM's [dirs, 4*hidden, input].
            w = (arr(wq).astype(np.float32) - arr(w_zp).astype(np.float32)[:, None, None]) * arr(w_s)[:, None, None]
            r = (arr(rq).astype(np.float32) - arr(r_zp).astype(np.float32)[:, None, None]) * arr(r_s)[:, None, None]
            new_inits.append(numpy_helper.from_array(np.ascontiguousarray(w.transpose(0, 2, 1)), wq + "_float"))
            new_inits.append(numpy_helper.from_array(np.ascontiguousarray(r.transpose(0, 2, 1)), rq + "_float"))
            inputs = [x, wq + "_float", rq + "_float", b, seq, h0, c0, p]
            while inputs and inputs[-1] == "":
                inputs.pop()
            lstm = helper.make_node("LSTM", inputs, list(n.output), name=n.name + "_float")
            lstm.attribute.extend(n.attribute)
            replace[id(n)] = lstm
            counts["LSTM"] += 1
        elif n.op_type == "DequantizeLinear":
            gather = producer[n.input[0]]
            if gather.op_type != "Gather" or gather.input[0] not in inits:
                raise SystemExit(f"unexpected DequantizeLinear input {n.input[0]}")
            table = dequantized(gather.input[0] + "_float", arr(gather.input[0]), arr(n.input[2]), arr(n.input[1]), 0)
            new = helper.make_node("Gather", [table, gather.input[1]], [n.output[0]], name=gather.name + "_float")
            new.attribute.extend(gather.attribute)
            replace[id(gather)] = new
            replace[id(n)] = None
            counts["Gather"] += 1

    nodes = []
    for n in g.node:
        if id(n) in replace:
            if replace[id(n)] is not None:
                nodes.append(replace[id(n)])
        else:
            nodes.append(n)
    g.initializer.extend(new_inits)

    # Dead code: nodes none of whose outputs is used, until nothing changes.
    graph_outputs = {o.name for o in g.output}
    while True:
        used = set(graph_outputs)
        for n in nodes:
            used.update(i for i in n.input if i)
        kept = [n for n in nodes if any(o in used for o in n.output if o)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    used = {i for n in nodes for i in n.input}
    del g.node[:]
    g.node.extend(nodes)
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    left = sorted({n.op_type for n in nodes} & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM",
                                                 "DynamicQuantizeLinear", "DequantizeLinear"})
    if left:
        raise SystemExit(f"quantized operators left: {left}")
    onnx.checker.check_model(model, full_check=False)
    onnx.save(model, dst)
    print(f"kokoro_float: {dict(counts)} rebuilt as float; {len(nodes)} nodes; wrote {dst}", file=sys.stderr)


def voice(kokoro_dir: str, out_dir: str) -> None:
    src = Path(kokoro_dir).resolve()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = json.loads((src / "kokoro.json").read_text())
    main(str(src / spec["model"]), str(out / "kokoro-v1.0.float.onnx"))
    spec["model"] = "kokoro-v1.0.float.onnx"
    for key in ("vocab", "packs"):
        spec[key] = str(src / spec[key])
    spec["lexicons"] = {k: [str(src / p) for p in v] for k, v in spec["lexicons"].items()}
    (out / "kokoro.json").write_text(json.dumps(spec, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    voice(sys.argv[1], sys.argv[2])
