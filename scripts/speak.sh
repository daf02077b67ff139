#!/usr/bin/env bash
# Speak text to a WAV with the default voice, setting up whatever is missing first.
#
#   scripts/speak.sh -o paragraph.wav < ../shared/corpus/en_paragraph.txt
#   scripts/speak.sh "Hello, and welcome to the show." -o hello.wav
#   scripts/speak.sh --voice zh_CN-baker-fastspeech2 -o zh.wav < ../shared/corpus/zh_100.txt
#
# Arguments go to the `speak` CLI (see `scripts/speak.sh --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh" >&2
# The Mandarin voice is an optional fetch (its graphs are converted to ONNX once).
for arg in "$@"; do
  case "$arg" in
    zh_CN-baker-fastspeech2*) python3 "$root/scripts/fetch_assets.py" --zh >&2 ;;
  esac
done
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --features cli --bin speak -- "$@"
