#!/usr/bin/env bash
# Set up everything indextts needs on this machine, idempotently; a second run takes about a second.
#
#   scripts/setup.sh               system packages + pinned assets (ONNX Runtime, espeak-ng, the default voice)
#   scripts/setup.sh --reference   ... + what the tests need: the Mandarin voice (converted
#                                  in its pinned venv), the pinned piper-tts venv they
#                                  compare against, redis-server, the C ABI's hosts'
#                                  toolchains (gcc/g++ with their sanitizers, Go, valgrind),
#                                  and Chromium + Node for the web player's test
#
# Everything fetched is pinned by version and sha256 (models/manifest.json,
# scripts/piper-requirements.txt); nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

reference=0
for arg in "$@"; do
  case "$arg" in
    --reference) reference=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# System packages: only what is missing, so a set-up machine never waits for apt.
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv python3-pip)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
# The Redis cache level's tests run against a real server.
if [ "$reference" = 1 ]; then
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v go >/dev/null 2>&1 || missing+=(golang-go)
  command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
  command -v make >/dev/null 2>&1 || missing+=(make)
  # The web player's test: Debian's Chromium, driven by playwright-core from npm.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  # The side-by-side bench's chart labels (benches/peer.rs).
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup.sh: cargo (Rust) is required" >&2; exit 1; }

if [ "$reference" = 1 ]; then
  # The Mandarin voice too: the tests speak it, and compare it with its reference processor.
  python3 scripts/fetch_assets.py --zh
else
  python3 scripts/fetch_assets.py
fi

if [ "$reference" = 1 ]; then
  venv=target/piper-venv
  want=$(sha256sum scripts/piper-requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "setup.sh: installing the piper-tts reference into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/piper-requirements.txt
    echo "$want" > "$venv/.requirements.sha256"
  fi
fi
