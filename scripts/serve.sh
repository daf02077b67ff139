#!/usr/bin/env bash
# Set up whatever is missing, then run indextts-server (default http://127.0.0.1:8080/) with
# any flags given, e.g. scripts/serve.sh --bind 0.0.0.0:8080 --workers 2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --locked --release --features server --bin indextts-server -- "$@"
