#!/usr/bin/env bash
# Set up everything indextts needs on this machine, idempotently; a second run takes about a second.
#
#   scripts/setup.sh               system packages + pinned assets (ONNX Runtime, espeak-ng, the default voice)
#   scripts/setup.sh --reference   ... + what the tests need: the Mandarin voice (converted
#                                  in its pinned venv), Kokoro-82M with its voice packs, the
#                                  pinned piper-tts, misaki, kokoro-onnx and wyoming-piper venvs
#                                  they compare against, the Python tests' venv (maturin, pytest,
#                                  openai, wyoming), redis-server, HAProxy, the C ABI's hosts'
#                                  toolchains (gcc/g++ with their sanitizers, Go, valgrind),
#                                  and Chromium + Node for the web player's test
#
# Everything fetched is pinned by version and sha256 (models/manifest.json,
# scripts/piper-requirements.txt); nothing is downloaded at run time. Runs of this script
# take turns (a lock in target/), so CI may start one in the background and the test script
# another: the second waits, then finds everything in place. The independent downloads (the
# Debian packages, the Mandarin conversion venv, the piper-tts venv) run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

reference=0
for arg in "$@"; do
  case "$arg" in
    --reference) reference=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

mkdir -p target
exec 9>target/.setup.lock
flock 9

apt_install() { # PACKAGE...: install with apt-get
  echo "setup.sh: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# System packages: only what is missing, so a set-up machine never waits for apt. What the
# asset fetch itself needs comes first.
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv python3-pip)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# `script` gives the CLI test a terminal (speak's progress bar).
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
command -v cargo >/dev/null 2>&1 || { echo "setup.sh: cargo (Rust) is required" >&2; exit 1; }

if [ "$reference" = 0 ]; then
  python3 scripts/fetch_assets.py
  exit 0
fi

# The tests' packages: the Redis cache level's real server, the C ABI hosts' toolchains, the
# web player's browser and Node, the side-by-side bench's chart font (benches/peer.rs), and a
# media player for the subtitles.
reference_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # The cluster test's load balancer (tests/cluster.rs).
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  # ...and the check of docs/deploy.md's systemd unit.
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v go >/dev/null 2>&1 || missing+=(golang-go)
  command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  # A real player for the subtitles test: GStreamer's playbin, its WAV parser and subparse.
  gst-inspect-1.0 wavparse >/dev/null 2>&1 && gst-inspect-1.0 subparse >/dev/null 2>&1 ||
    missing+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
  [ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
}

# A pinned venv: target/NAME-venv from scripts/NAME-requirements.txt, made again when they change.
venv() { # NAME
  local venv=target/$1-venv requirements=scripts/$1-requirements.txt want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "setup.sh: installing $requirements into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$venv/.requirements.sha256"
  fi
}

# The peers the tests compare against, each in its pinned venv: piper-tts, misaki (Kokoro's G2P),
# kokoro-onnx and wyoming-piper; and the Python tests' own (maturin, pytest, openai, wyoming).
reference_venvs() {
  venv piper
  venv misaki
  venv kokoro
  venv python
  venv wyoming-piper
}

# The three are independent: apt, the asset fetch (with the Mandarin voice's conversion venv and
# Kokoro) and the reference venvs run at once, and each one's failure fails the set-up.
reference_packages > target/setup-apt.log 2>&1 &
apt=$!
reference_venvs > target/setup-piper.log 2>&1 &
piper=$!
status=0
python3 scripts/fetch_assets.py --zh --kokoro || status=$?
for job in "apt:$apt" "reference venvs:$piper"; do
  if ! wait "${job#*:}"; then
    log=target/setup-apt.log
    [ "${job%%:*}" = apt ] || log=target/setup-piper.log
    cat "$log" >&2
    echo "setup.sh: ${job%%:*} failed" >&2
    status=1
  fi
done
cat target/setup-apt.log target/setup-piper.log >&2
exit "$status"
