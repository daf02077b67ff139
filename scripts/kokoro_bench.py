#!/usr/bin/env python3
"""The peer's side of benches/kokoro_peer.rs: kokoro-onnx 0.6.1 timed in its own process.

    target/kokoro-venv/bin/python scripts/kokoro_bench.py MODEL.onnx PACKS_DIR VOICE THREADS

Loads the same int8 model indextts runs, with the voice pack VOICE from PACKS_DIR (kokoro-js's
float32 [510, 256] files, put in the npz kokoro-onnx reads), on an ONNX Runtime session with
THREADS intra-op threads. Then reads one JSON request per line on stdin, {"text": "..."},
speaks it with `create_stream` (kokoro-onnx's streaming API, which yields one batch of up to
510 phonemes at a time) and answers one JSON line: {"ttfa": seconds to the first chunk,
"total": seconds to the last, "samples": count, "peak_rss_kib": the process's peak RSS}.
"""

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
from kokoro_onnx import Kokoro


def voices_npz(packs: Path, voice: str) -> str:
    style = np.fromfile(packs / f"{voice}.bin", dtype="<f4").reshape(510, 1, 256)
    path = Path(tempfile.mkdtemp(prefix="kokoro-bench-")) / "voices.npz"
    np.savez(path, **{voice: style})
    return str(path)


async def speak(kokoro: Kokoro, text: str, voice: str) -> dict:
    started = time.perf_counter()
    first = None
    samples = 0
    async for audio, _ in kokoro.create_stream(text, voice=voice, lang="en-us"):
        if first is None:
            first = time.perf_counter() - started
        samples += len(audio)
    total = time.perf_counter() - started
    return {"ttfa": first if first is not None else total, "total": total, "samples": samples,
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main() -> None:
    model, packs, voice, threads = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    kokoro = Kokoro.from_session(session, voices_npz(packs, voice))
    print(json.dumps({"ready": True, "onnxruntime": onnxruntime.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(asyncio.run(speak(kokoro, request["text"], voice))), flush=True)


if __name__ == "__main__":
    main()
