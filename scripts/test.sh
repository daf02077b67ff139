#!/usr/bin/env bash
# The whole test suite, setting up whatever is missing first (assets, the piper-tts reference).
# Ends with the wall time of each phase.
#
#   scripts/test.sh                  # extra arguments go to `cargo test`
#
# One build serves every cargo step: the release profile (benches inherit it) and one feature
# set, so no crate is compiled twice for a different profile or feature set. Set-up runs while
# that build compiles; fuzzing runs beside the tests and the ASan tests; the load test and the
# soak, whose bounds are measured, have the machine to themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/phases.sh
# The feature set of every build; scripts/fuzz.sh and scripts/test_web.sh take it too.
export INDEXTTS_FEATURES=redis,server,cli,unstable-internals
cargo=(--locked --release --features "$INDEXTTS_FEATURES")
# `cargo bench` takes no --release: the bench profile inherits the release profile, so the same
# artifacts serve both.
bench=(--locked --features "$INDEXTTS_FEATURES")
mkdir -p target
fuzz=
cleanup() {
  [ -z "$fuzz" ] || kill "$fuzz" 2>/dev/null || true
  phase_table scripts/test.sh
}
trap cleanup EXIT

phase_start "set-up (beside the build)"
scripts/setup.sh --reference >target/setup.out 2>&1 &
setup=$!
phase "build: everything, release" cargo build "${cargo[@]}" --all-targets
wait "$setup" || { cat target/setup.out; echo "setup failed" >&2; exit 1; }
phase_end "set-up (beside the build)"
grep -h '^fetch_assets: \|^setup.sh: ' target/setup.out || true
# The Mandarin segmenter's compiled-in dictionary is jieba-rs's, word for word.
phase "jieba table" scripts/jieba_table.py --check

# Fuzzing runs beside the tests on its own core (each target single-threaded, 60 s), until the
# measured bounds need the machine.
phase_start "fuzzing (beside the tests)"
scripts/fuzz.sh >target/fuzz.out 2>&1 &
fuzz=$!
# Benchmarks run once each in quick mode so they never rot; timings are never asserted.
phase "bench synthesis --test" cargo bench "${bench[@]}" --bench synthesis -- --test >/dev/null
phase "bench stream_vs_piper --quick" cargo bench "${bench[@]}" --bench stream_vs_piper -- --zh --quick >/dev/null
phase "bench peer --quick" cargo bench "${bench[@]}" --bench peer -- --quick >/dev/null
phase "bench kokoro_peer --quick" cargo bench "${bench[@]}" --bench kokoro_peer -- --quick >/dev/null
phase "bench cache_traffic --quick" cargo bench "${bench[@]}" --bench cache_traffic -- --quick >/dev/null
phase "bench text_stream --quick" cargo bench "${bench[@]}" --bench text_stream -- --quick >/dev/null
phase "bench wyoming_peer --quick" cargo bench "${bench[@]}" --bench wyoming_peer -- --quick >/dev/null
phase "cargo test" cargo test "${cargo[@]}" "$@"
# The server's web player in headless Chromium.
phase "web player (Chromium)" scripts/test_web.sh
# The tests under AddressSanitizer (an instrumented build of its own, in target/asan): no bound
# of theirs is a time, so they share the machine with the fuzzers.
phase "tests under ASan (beside fuzzing)" scripts/test_sanitizers.sh
wait "$fuzz" || { cat target/fuzz.out; echo "fuzzing failed" >&2; exit 1; }
fuzz=
phase_end "fuzzing (beside the tests)"
grep '^fuzz ' target/fuzz.out
# Measured bounds, alone on the machine: 16 clients for 60 s on loopback; the soak (8 threads,
# dropped streams, an evicting cache).
phase "server load test" cargo bench "${bench[@]}" --bench server_load
phase "soak" cargo bench "${bench[@]}" --bench soak -- --seconds 120
# The Python wheel in a fresh venv; the openai and wyoming clients against a real server.
phase "Python wheel, openai, wyoming (pytest)" scripts/test_python.sh
# The C ABI from C, C++ and Go, plainly, under sanitizers and under valgrind. Last: its
# `make install` builds the library as shipped (default features) into target/release, whose
# libindextts.rlib (no hash in a cdylib crate's file name) every build above links.
phase "C/C++/Go hosts, valgrind" scripts/test_hosts.sh
