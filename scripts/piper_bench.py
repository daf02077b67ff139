#!/usr/bin/env python3
"""The peer's side of benches/stream_vs_piper.rs: piper-tts 1.8.0 timed in its own process.

    target/piper-venv/bin/python scripts/piper_bench.py VOICE.onnx THREADS

Reads one JSON request per line on stdin, {"text": "..."}, synthesizes it with
PiperVoice.synthesize (which yields one chunk per sentence) and answers one JSON line:
{"ttfa": seconds to the first chunk, "total": seconds to the last, "samples": count}.
A request {"text": ..., "concurrent": N, "repeat": R} runs N threads at once on the one voice,
each synthesizing the text R times, and answers {"wall": seconds, "samples": count, "cpu":
CPU seconds this process spent meanwhile, every thread counted}.
The session gets THREADS intra-op threads, like indextts in the same run.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

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
        request = json.loads(line)
        if "concurrent" in request:
            print(json.dumps(concurrent(voice, request)), flush=True)
            continue
        text = request["text"]
        started = time.perf_counter()
        first = None
        samples = 0
        for chunk in voice.synthesize(text):
            if first is None:
                first = time.perf_counter() - started
            samples += len(chunk.audio_float_array)
        total = time.perf_counter() - started
        print(json.dumps({"ttfa": first if first is not None else total, "total": total, "samples": samples}), flush=True)


def concurrent(voice, request):
    """`concurrent` threads share the voice (ONNX Runtime releases the GIL while it runs), each
    synthesizing `text` `repeat` times; answers the wall time, the samples made and the CPU time
    the process spent (ONNX Runtime's threads included)."""
    text, workers, repeat = request["text"], request["concurrent"], request.get("repeat", 1)

    def work(_):
        return sum(len(c.audio_float_array) for _ in range(repeat) for c in voice.synthesize(text))

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        samples = sum(pool.map(work, range(workers)))
    return {"wall": time.perf_counter() - started, "samples": samples, "cpu": time.process_time() - cpu}

if __name__ == "__main__":
    main()
