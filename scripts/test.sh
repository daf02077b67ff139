#!/usr/bin/env bash
# The whole test suite, setting up whatever is missing first (assets, the piper-tts reference).
#
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --reference
cargo test --locked "$@"
