#!/usr/bin/env bash
# The whole test suite, setting up whatever is missing first (assets, the piper-tts reference).
#
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --reference
# Fuzzing runs on its own core while the rest goes on (each target single-threaded, 60 s).
mkdir -p target
scripts/fuzz.sh >target/fuzz.out 2>&1 &
fuzz=$!
trap 'kill "$fuzz" 2>/dev/null || true' EXIT
# Benchmarks run once each in quick mode so they never rot; timings are never asserted.
cargo bench --locked --bench synthesis -- --test >/dev/null
cargo bench --locked --bench stream_vs_piper -- --zh --quick >/dev/null
cargo bench --locked --bench peer -- --quick >/dev/null
cargo bench --locked --bench cache_traffic -- --quick >/dev/null
cargo test --locked --features redis,server "$@"
# The C ABI from C, C++ and Go, plainly, under sanitizers and under valgrind.
scripts/test_hosts.sh
# The server: its web player in headless Chromium, then 16 clients for 60 s on loopback.
scripts/test_web.sh
cargo bench --locked --features server --bench server_load
# Hardening: the soak (8 threads, dropped streams, an evicting cache), the tests under ASan,
# and the fuzzers' results.
cargo bench --locked --bench soak -- --seconds 120
scripts/test_sanitizers.sh
wait "$fuzz" || { cat target/fuzz.out; echo "fuzzing failed" >&2; exit 1; }
grep '^fuzz ' target/fuzz.out
