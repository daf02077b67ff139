#!/usr/bin/env bash
# The whole test suite, setting up whatever is missing first (assets, the piper-tts reference).
# Ends with the wall time of each phase.
#
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/phases.sh
trap 'phase_table scripts/test.sh' EXIT
phase "setup --reference" scripts/setup.sh --reference
# Fuzzing runs on its own core while the rest goes on (each target single-threaded, 60 s).
mkdir -p target
phase_start "fuzzing (background)"
scripts/fuzz.sh >target/fuzz.out 2>&1 &
fuzz=$!
trap 'kill "$fuzz" 2>/dev/null || true; phase_table scripts/test.sh' EXIT
# Benchmarks run once each in quick mode so they never rot; timings are never asserted.
phase "bench synthesis --test" cargo bench --locked --bench synthesis -- --test >/dev/null
phase "bench stream_vs_piper --quick" cargo bench --locked --bench stream_vs_piper -- --zh --quick >/dev/null
phase "bench peer --quick" cargo bench --locked --bench peer -- --quick >/dev/null
phase "bench cache_traffic --quick" cargo bench --locked --bench cache_traffic -- --quick >/dev/null
phase "cargo test" cargo test --locked --features redis,server "$@"
# The C ABI from C, C++ and Go, plainly, under sanitizers and under valgrind.
phase "C/C++/Go hosts, valgrind" scripts/test_hosts.sh
# The server: its web player in headless Chromium, then 16 clients for 60 s on loopback.
phase "web player (Chromium)" scripts/test_web.sh
phase "server load test" cargo bench --locked --features server --bench server_load
# Hardening: the soak (8 threads, dropped streams, an evicting cache), the tests under ASan,
# and the fuzzers' results.
phase "soak" cargo bench --locked --bench soak -- --seconds 120
phase "tests under ASan" scripts/test_sanitizers.sh
wait "$fuzz" || { cat target/fuzz.out; echo "fuzzing failed" >&2; exit 1; }
phase_end "fuzzing (background)"
grep '^fuzz ' target/fuzz.out
