#!/usr/bin/env python3
"""The peer's side of benches/stream_vs_piper.rs: piper-tts 1.8.0 timed in its own process.

    target/piper-venv/bin/python scripts/piper_bench.py VOICE.onnx THREADS

Reads one JSON request per line on stdin, {"text": "..."}, synthesizes it with
PiperVoice.synthesize (which yields one chunk per sentence) and answers one JSON line:
{"ttfa": seconds to the first chunk, "total": seconds to the last, "samples": count}.
The session gets THREADS intra-op threads, like indextts in the same run.
"""

import json
import sys
import time

import onnxruntime
from piper import PiperVoice


def main() -> None:
    model, threads = sys.argv[1], int(sys.argv[2])
    voice = PiperVoice.load(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    voice.session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    print(json.dumps({"ready": True, "onnxruntime": onnxruntime.__version__}), flush=True)
    for line in sys.stdin:
        text = json.loads(line)["text"]
        started = time.perf_counter()
        first = None
        samples = 0
        for chunk in voice.synthesize(text):
            if first is None:
                first = time.perf_counter() - started
            samples += len(chunk.audio_float_array)
        total = time.perf_counter() - started
        print(json.dumps({"ttfa": first if first is not None else total, "total": total, "samples": samples}), flush=True)


if __name__ == "__main__":
    main()
