#!/usr/bin/env bash
# The Python side, for real: build the `indextts` wheel (python/, PyO3 + maturin, abi3: one
# wheel for CPython 3.9+), install it into a fresh venv with the pinned test requirements, and
# run tests/python against it: the package itself, the official `openai` client against a
# real indextts-server, and Home Assistant's `wyoming` client against its Wyoming endpoint.
#
#   scripts/test_python.sh            # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --reference >/dev/null
# The server the tests start, built as the test build builds it: every target, so the
# dev-dependencies' features unify the same way and, after scripts/test.sh's build, nothing is
# compiled (`--bin` alone compiled ~45 crates and the library again: 2 min on 2 cores).
cargo build --locked --release --features "${INDEXTTS_FEATURES:-redis,server,cli,unstable-internals}" \
  --all-targets
# The wheel builds in a target directory of its own: the library is a cdylib crate, so cargo
# names its rlib without a hash, and a build with the wheel's features in target/ overwrote the
# test build's (whose fingerprint still said fresh: the next example linked against the wrong
# one and failed, "cannot find `testkit`").
rm -rf target/wheels
CARGO_TARGET_DIR=$PWD/target/python target/python-venv/bin/maturin build --release --locked \
  -m python/Cargo.toml --out target/wheels --quiet
wheel=$(ls target/wheels/indextts-*.whl)
echo "built $(basename "$wheel")"
rm -rf target/wheel-venv
python3 -m venv target/wheel-venv
target/wheel-venv/bin/pip install --quiet --disable-pip-version-check \
  -r scripts/python-requirements.txt "$wheel"
cd tests/python
# Run from the test directory with no path tricks: `import indextts` is the installed wheel.
exec ../../target/wheel-venv/bin/python -m pytest -q -p no:cacheprovider "$@"
