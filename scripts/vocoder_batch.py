"""Would batching the vocoder windows of several streams into one model call make more audio per
second? Runs the Piper voice's vocoder half, as indextts splits and optimizes it (its entry in
the compiled-graph cache), on batches of 1, 2, 4 and 8 stream windows (128 frames plus 16 of
context, the windows a running stream decodes), with 1 and 2 intra-op threads, on ONNX Runtime
1.31.1 (the version indextts loads), and prints the median time per call and per window.

    target/piper-venv/bin/python scripts/vocoder_batch.py [GRAPH_CACHE_ENTRY_DIR]

Without an argument it takes the first entry under $INDEXTTS_GRAPH_CACHE (else
~/.cache/indextts/graphs) whose vocoder decodes 192-channel frames (the Piper voice's; `speak`
once writes it).
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

FRAMES = 128 + 16
RUNS = 7


def piper_entry() -> Path:
    root = Path(
        os.environ.get("INDEXTTS_GRAPH_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "indextts/graphs"
    )
    for entry in sorted(root.iterdir()):
        try:
            meta = json.loads((entry / "meta.json").read_text())["meta"]
        except (OSError, ValueError, KeyError):
            continue
        if meta.get("flow") and meta.get("frame_channels") == 192:
            return entry
    sys.exit(f"no Piper voice entry under {root}: run `speak` once first")


def main() -> None:
    entry = Path(sys.argv[1]) if len(sys.argv) > 1 else piper_entry()
    model = str(entry / "vocoder.onnx")
    print(f"vocoder: {model}, windows of {FRAMES} frames, medians of {RUNS}")
    print("| threads | batch | ms per call | ms per window | per window vs batch 1 |")
    print("| --- | --- | --- | --- | --- |")
    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Already optimized by indextts's load; optimizing again would change nothing.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        single = None
        for batch in (1, 2, 4, 8):
            frames = np.random.default_rng(batch).standard_normal((batch, 192, FRAMES))
            feed = {name: frames.astype(np.float32)}
            session.run(None, feed)
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                session.run(None, feed)
                times.append(time.perf_counter() - started)
            call = statistics.median(times)
            window = call / batch
            single = single or window
            print(
                f"| {threads} | {batch} | {call * 1e3:.1f} | {window * 1e3:.1f} | "
                f"{window / single:.2f}x |"
            )


if __name__ == "__main__":
    main()
