#!/usr/bin/env bash
# The web player in headless Chromium (Debian's, driven by playwright-core from npm, pinned in
# tests/web/package-lock.json): start indextts-server, type, click Play, check that audio
# arrives and plays while it streams. Leaves a screenshot in target/web-player.png.
#
#   scripts/test_web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
(cd tests/web && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent; })
# All targets, as scripts/test.sh builds them: the binary alone would resolve the shared
# dependencies' features without the dev-dependencies, and so build them again.
cargo build --locked --release --features "${INDEXTTS_FEATURES:-redis,server,cli,unstable-internals}" --all-targets
log=target/web-server.log
target/release/indextts-server --bind 127.0.0.1:0 --threads 2 >target/web-server.out 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" target/web-server.out 2>/dev/null && break
  sleep 0.1
done
base=$(grep -o 'http://[0-9.:]*' target/web-server.out)
node tests/web/player.mjs "$base" target/web-player.png
