#!/usr/bin/env bash
# The C ABI from its hosts: install libindextts.so into target/c-install (make install), then
# build and run the C, C++ and Go hosts against the real voice:
#   - C and C++ with -Wall -Wextra -Werror, plainly and under AddressSanitizer + UBSan;
#   - the C bad-input test (with the tiny test voice) and the C speak example (real voice)
#     under valgrind (zero leaks, zero errors);
#   - the Go package's tests with -race.
# Each host checks the audio itself (duration, RMS, no NaN, peak). Called by scripts/test.sh.
#
#   scripts/test_hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The tiny test voice for the valgrind run, written before `make install` rebuilds the library
# with default features (the test build's example is then still in place).
cargo build --locked --release --features "${INDEXTTS_FEATURES:-redis,server,cli,unstable-internals}" \
  --example tiny_voice --quiet
prefix=$PWD/target/c-install
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
voice=models/assets/voices/en_US-joe-medium
paragraph=$(cat ../shared/corpus/en_paragraph.txt)
# Kokoro's stream test takes the paragraph's first two sentences (its first clause is a run of
# its own): each host decodes its text twice, and Kokoro is the slowest voice.
kokoro_text=$(sed -E 's/^(([^.]*\.){2}).*/\1/' ../shared/corpus/en_paragraph.txt)
out=target/c-hosts
rm -rf "$out"
mkdir -p "$out/plain" "$out/asan"
target/release/examples/tiny_voice "$out/tiny" >/dev/null

read -r -a link <<<"$(pkg-config --cflags --libs indextts) -lm -Wl,-rpath,$prefix/lib"
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -g -pthread)
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
programs=(examples/c/speak examples/c/stream examples/c/callback examples/c/threads examples/c/text_stream
  examples/c/timestamps tests/c/bad_input)
for program in "${programs[@]}"; do
  name=$(basename "$program")
  cc "${cflags[@]}" -o "$out/plain/$name" "$program.c" "${link[@]}"
  cc "${cflags[@]}" "${sanitize[@]}" -o "$out/asan/$name" "$program.c" "${link[@]}"
done
cxxflags=(-std=c++17 -Wall -Wextra -Werror -O1 -g -Iexamples/c)
c++ "${cxxflags[@]}" -o "$out/plain/speak-cpp" examples/cpp/speak.cpp "${link[@]}"
c++ "${cxxflags[@]}" "${sanitize[@]}" -o "$out/asan/speak-cpp" examples/cpp/speak.cpp "${link[@]}"

run_all() { # $1: plain | asan
  local bin=$out/$1
  echo "== C and C++ hosts ($1)"
  "$bin/speak" "$voice" "Hello from C. This sentence came through the C ABI." "$out/$1-speak.wav"
  "$bin/speak" zh_CN-baker-fastspeech2 "你好，这句话来自C语言。" "$out/$1-speak-zh.wav"
  "$bin/speak" af_heart "Hello from C, in a Kokoro voice." "$out/$1-speak-kokoro.wav"
  "$bin/stream" am_adam "$kokoro_text" "$out/$1-stream-kokoro.wav"
  "$bin/stream" "$voice" "$paragraph" "$out/$1-stream.wav"
  "$bin/callback" "$voice" "$paragraph"
  "$bin/timestamps" "$voice" "$paragraph" >"$out/$1-timestamps.log" || {
    cat "$out/$1-timestamps.log"; exit 1; }
  head -n 2 "$out/$1-timestamps.log"
  "$bin/timestamps" af_heart "$kokoro_text" >"$out/$1-timestamps-kokoro.log" || {
    cat "$out/$1-timestamps-kokoro.log"; exit 1; }
  head -n 2 "$out/$1-timestamps-kokoro.log"
  # A lexicon given through the C options: the word's phoneme marks spell its entry.
  printf 'tomato\ttəmˈɑːtoʊ\n' >"$out/lexicon.tsv"
  "$bin/timestamps" "$voice" "Tomato." "$out/lexicon.tsv" tomato "$(cut -f2 "$out/lexicon.tsv")" \
    >"$out/$1-lexicon.log" || { cat "$out/$1-lexicon.log"; exit 1; }
  tail -n 1 "$out/$1-lexicon.log"
  "$bin/threads" "$voice"
  "$bin/text_stream" "$voice" "$kokoro_text" "$out/$1-text-stream.wav"
  "$bin/bad_input" "$voice" "$out/$1-scratch" >"$out/$1-bad-input.log" || {
    cat "$out/$1-bad-input.log"; exit 1; }
  tail -n 1 "$out/$1-bad-input.log"
  "$bin/speak-cpp" "$voice" "$paragraph"
}
run_all plain
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_all asan

echo "== Go (go test -race)"
(
  cd examples/go
  export LD_LIBRARY_PATH=$prefix/lib
  go vet ./...
  test -z "$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting" >&2; exit 1; }
  go test -race -count=1 ./...
  go run ./cmd/speak -voice "../../$voice" -o "../../$out/go-speak.wav" "Hello from Go."
  go run ./cmd/speak -voice af_heart -o "../../$out/go-speak-kokoro.wav" "Hello from Go, in a Kokoro voice."
)

echo "== valgrind (memcheck: zero errors, zero leaks)"
grind=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
  --errors-for-leak-kinds=definite,indirect,possible --suppressions=tests/c/valgrind.supp -q)
# The two runs are slow (ONNX Runtime under valgrind), so they share the two cores. The
# bad-input test loads its voice a dozen times: with the real voice's 63 MB graph that took 11
# minutes under valgrind, so it runs with the tiny test voice here (it has run with the real
# voice, plainly and under ASan + UBSan, above); speak runs the real voice.
"${grind[@]}" --log-file="$out/valgrind-speak.log" "$out/plain/speak" "$voice" "Hello." "$out/valgrind.wav" \
  >"$out/valgrind-speak.out" 2>&1 &
speak_pid=$!
status=0
"${grind[@]}" --log-file="$out/valgrind-bad-input.log" "$out/plain/bad_input" "$out/tiny" \
  "$out/valgrind-scratch" tiny >"$out/valgrind-bad-input.out" 2>&1 || status=$?
wait "$speak_pid" || status=$?
for run in speak bad-input; do
  tail -n 1 "$out/valgrind-$run.out"
  if [ -s "$out/valgrind-$run.log" ]; then
    echo "valgrind reported on $run:" >&2
    cat "$out/valgrind-$run.log" >&2
    status=1
  fi
done
exit "$status"
