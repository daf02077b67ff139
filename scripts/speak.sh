#!/usr/bin/env bash
# Speak text to a WAV with the default voice, setting up whatever is missing first.
#
#   scripts/speak.sh -o paragraph.wav < ../shared/corpus/en_paragraph.txt
#   scripts/speak.sh "Hello, and welcome to the show." -o hello.wav
#
# Arguments go to the `speak` CLI (see `scripts/speak.sh --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh" >&2
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin speak -- "$@"
