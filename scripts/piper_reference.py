#!/usr/bin/env python3
"""Phoneme ids from the peer, piper-tts 1.8.0, as JSON: the reference for tests/phoneme_agreement.rs.

    target/piper-venv/bin/python scripts/piper_reference.py VOICE.onnx < texts.json > ids.json

Reads a JSON list of texts; writes a JSON list with, per text, the list of the phoneme-id
sequences of the sentences piper-tts would synthesize (PiperVoice.phonemize, then
phonemes_to_ids, skipping empty sentences as PiperVoice.synthesize does).
"""

import json
import sys

from piper import PiperVoice


def main() -> None:
    voice = PiperVoice.load(sys.argv[1])
    texts = json.load(sys.stdin)
    out = []
    for text in texts:
        sentences = [p for p in voice.phonemize(text) if p]
        out.append([voice.phonemes_to_ids(p) for p in sentences])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
