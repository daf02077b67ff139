"""Shared fixtures: a real indextts-server process on a free loopback port, and audio checks."""

import json
import os
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_lines(name):
    return [l.strip() for l in (CORPUS / name).read_text().splitlines() if l.strip()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        binary = os.environ.get("INDEXTTS_SERVER", str(ROOT / "target/release/indextts-server"))
        self.log = open(ROOT / "target" / f"pytest-server-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [binary, "--bind", f"127.0.0.1:{self.port}", "--threads", "2", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"indextts-server exited (see {self.log.name})"
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "indextts-server did not start within 60 s"
            time.sleep(0.1)

    def get_json(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server():
    s = Server(["--rate-per-second", "0", "--openai-voice", "nova=en_US-joe-medium"])
    yield s
    s.stop()


def pcm16(data):
    """Samples in [-1, 1] from 16-bit little-endian PCM."""
    count = len(data) // 2
    return [v / 32768.0 for v in struct.unpack(f"<{count}h", data[: count * 2])]


def wav_pcm(data):
    """The PCM of a WAV the server sent (its header declares an unbounded length)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    at = 12
    while at + 8 <= len(data):
        chunk, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if chunk == b"fmt ":
            channels, rate, _, _, bits = struct.unpack("<HIIHH", data[at + 10 : at + 24])
            assert (channels, bits) == (1, 16), (channels, bits)
        if chunk == b"data":
            return rate, data[at + 8 :]
        at += 8 + size
    raise AssertionError("no data chunk")


def check_speech(label, text, samples, rate):
    """Plausible speech of `text`: duration 0.4x..2.5x of the words at 2.7 a second, RMS above
    0.02, peak within full scale, next to no samples at full scale."""
    seconds = len(samples) / rate
    expected = len(text.split()) / 2.7
    rms = (sum(s * s for s in samples) / max(len(samples), 1)) ** 0.5
    peak = max((abs(s) for s in samples), default=0.0)
    clipped = sum(1 for s in samples if abs(s) >= 0.999)
    print(f"{label}: {seconds:.2f} s (expected ~{expected:.2f} s) rms {rms:.3f} peak {peak:.3f}")
    assert 0.4 * expected <= seconds <= 2.5 * expected, (seconds, expected)
    assert rms > 0.02, rms
    assert peak <= 1.0 and clipped <= len(samples) / 10000, (peak, clipped)
