#!/usr/bin/env bash
# Fuzz each target for a bounded time (default 40 s each; FUZZ_SECONDS to change) on the stable
# toolchain (RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's -Z flags), starting from seeds written
# by examples/fuzz_seeds.rs. A crash fails the run and leaves its input in
# fuzz/artifacts/TARGET/; make it a regression test, and put the input in fuzz/regressions/TARGET/
# (each run starts from those too). Prints executions and coverage per target.
#
#   scripts/fuzz.sh                 # all nine targets
#   FUZZ_SECONDS=300 scripts/fuzz.sh onnx_model
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-40}
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(frontend frontend_zh onnx_model voice_config cache_entry
  graph_cache_meta zh_dictionaries c_options ssml)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz --version 0.13.2
corpus=target/fuzz-corpus
# The seeds come from the test build (scripts/test.sh builds the release profile with these
# features). RUSTC_BOOTSTRAP is set only for cargo-fuzz below: cargo fingerprints it, so a seed
# build under it recompiled every dependency (~8 min on 2 cores) while holding target/'s lock.
cargo run --locked --quiet --release --features "${INDEXTTS_FEATURES:-redis,server,cli,unstable-internals}" --example fuzz_seeds -- "$corpus"
export RUSTC_BOOTSTRAP=1
(cd fuzz && cargo fuzz build -O)
for target in "${targets[@]}"; do
  log=target/fuzz-$target.log
  mkdir -p "$corpus/$target"
  [ -d "fuzz/regressions/$target" ] && cp fuzz/regressions/"$target"/* "$corpus/$target/"
  (cd fuzz && cargo fuzz run -O "$target" "../$corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 -print_final_stats=1) \
      >"$log" 2>&1 || { tail -n 60 "$log"; echo "fuzz: $target found a crash (see $log)" >&2; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
  echo "fuzz $target: ${seconds} s, $runs executions, coverage $cov edges, $ft features, corpus $corp"
done
