#!/usr/bin/env bash
# The Rust tests under AddressSanitizer, on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it
# take -Zsanitizer; std itself is not rebuilt, so its own code is not instrumented, but every
# allocation, ours and our dependencies', is checked). LeakSanitizer runs too. The real-voice
# tests run as well: ONNX Runtime and espeak-ng are loaded at run time and not instrumented.
#
#   scripts/test_sanitizers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export RUSTDOCFLAGS="$RUSTFLAGS"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0"
target=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps build scripts and proc-macros uninstrumented. The library's unit tests (with the
# server's queue and task store), the voice, streaming, drop, cache, seed, untrusted-model and
# async tests run; the HTTP, CLI and piper-tts comparisons are left to the plain run.
cargo test --locked --target "$target" --target-dir target/asan --features server \
  --lib --test tiny_voice --test real_voice --test streaming --test stream_drop \
  --test cache --test seeded --test untrusted_models --test async_stream -- --test-threads 2
