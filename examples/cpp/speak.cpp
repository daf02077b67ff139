/*
 * indextts from C++17 with the header-only RAII wrappers (include/indextts.hpp): whole audio,
 * a range-for over stream chunks, a cancelling callback, and errors as exceptions.
 *
 *   make install PREFIX=$PWD/target/c-install
 *   export PKG_CONFIG_PATH=$PWD/target/c-install/lib/pkgconfig
 *   c++ -std=c++17 -Wall -Wextra -Werror -Iexamples/c -o target/speak-cpp examples/cpp/speak.cpp \
 *       $(pkg-config --cflags --libs indextts) -Wl,-rpath,$PWD/target/c-install/lib
 *   target/speak-cpp models/assets/voices/en_US-joe-medium "$(cat ../shared/corpus/en_paragraph.txt)"
 */
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "audio_check.h"
#include "indextts.hpp"

namespace {

int expect_error(const char *what, indextts_status want, void (*call)()) {
    try {
        call();
    } catch (const indextts::Error &e) {
        std::printf("%s: %s (%s)\n", what, indextts_status_str(e.status()), e.what());
        return e.status() == want ? 0 : 1;
    }
    std::fprintf(stderr, "%s: no exception\n", what);
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s VOICE TEXT\n", argv[0]);
        return 2;
    }
    const std::string voice = argv[1], text = argv[2];
    int failed = 0;
    try {
        indextts::Synthesizer loaded(voice, indextts::Options().threads(2));
        indextts::Synthesizer synth = std::move(loaded);  // move-only, like a unique_ptr
        std::printf("indextts %s, %u Hz\n", indextts::version().c_str(), synth.sample_rate());

        auto seeded = synth.default_options().seed(7);
        indextts::Audio whole = synth.synthesize(text, seeded);
        failed |= check_speech("c++ whole", text.c_str(), whole.samples.data(),
                               whole.samples.size(), whole.sample_rate);

        std::vector<float> streamed;
        size_t chunks = 0;
        for (const std::vector<float> &chunk : synth.stream(text, seeded)) {
            streamed.insert(streamed.end(), chunk.begin(), chunk.end());
            chunks++;
        }
        double worst = streamed.size() == whole.samples.size() ? 0.0 : 1.0;
        for (size_t i = 0; i < streamed.size() && i < whole.samples.size(); i++) {
            worst = std::fmax(worst, std::fabs(streamed[i] - whole.samples[i]));
        }
        std::printf("c++ stream: %zu chunks, %zu samples, max abs difference from whole %g\n",
                    chunks, streamed.size(), worst);
        if (worst > 1e-4) failed = 1;

        synth.clear_cache();
        size_t heard = 0;
        bool finished = synth.synthesize_stream(text, [&](const float *, size_t len) {
            heard += len;
            return false;  // cancel after the first chunk
        });
        std::printf("c++ callback: cancelled after %zu samples\n", heard);
        if (finished || heard == 0 || heard >= whole.samples.size()) failed = 1;

        try {
            synth.synthesize_stream(text, [](const float *, size_t) -> bool {
                throw std::runtime_error("listener failed");
            });
            failed = 1;
        } catch (const std::runtime_error &e) {
            std::printf("c++ callback exception came back: %s\n", e.what());
        }

        try {
            synth.synthesize("   ");
            failed = 1;
        } catch (const indextts::Error &e) {
            std::printf("blank text: %s\n", e.what());
            if (e.status() != INDEXTTS_EMPTY_TEXT) failed = 1;
        }
        failed |= expect_error("missing voice", INDEXTTS_VOICE_NOT_FOUND,
                               [] { indextts::Synthesizer("/nonexistent/voice"); });
        indextts::CacheStats stats = synth.cache_stats();
        std::printf("cache: memory hits %llu, misses %llu\n",
                    static_cast<unsigned long long>(stats.memory.hits),
                    static_cast<unsigned long long>(stats.memory.misses));
    } catch (const indextts::Error &e) {
        std::fprintf(stderr, "indextts: %s (%s)\n", e.what(), indextts_status_str(e.status()));
        return 1;
    }
    return failed;
}
