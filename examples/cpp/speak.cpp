/*
 * indextts from C++17 with the header-only RAII wrappers (include/indextts.hpp): whole audio,
 * a range-for over stream chunks, chunks with their word and phoneme marks, a cancelling
 * callback, and errors as exceptions.
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

        // Word and phoneme marks: every word of the text once, in order, inside the audio,
        // each starting where a phoneme does, and the same audio as the plain stream.
        std::vector<indextts::Word> words;
        std::vector<indextts::Phoneme> phonemes;
        std::vector<float> marked;
        for (const indextts::Chunk &chunk : synth.chunks(text, seeded)) {
            marked.insert(marked.end(), chunk.samples.begin(), chunk.samples.end());
            words.insert(words.end(), chunk.words.begin(), chunk.words.end());
            phonemes.insert(phonemes.end(), chunk.phonemes.begin(), chunk.phonemes.end());
        }
        size_t next_phoneme = 0;
        for (size_t i = 0; i < words.size(); i++) {
            const indextts::Word &w = words[i];
            bool placed = w.start_sample < w.end_sample && w.end_sample <= marked.size() &&
                          (i == 0 || w.start_sample >= words[i - 1].end_sample) &&
                          text.compare(w.text_start, w.text_end - w.text_start, w.text) == 0;
            while (next_phoneme < phonemes.size() &&
                   phonemes[next_phoneme].start_sample < w.start_sample)
                next_phoneme++;
            placed = placed && next_phoneme < phonemes.size() &&
                     phonemes[next_phoneme].start_sample == w.start_sample;
            if (!placed) {
                std::fprintf(stderr, "c++ marks: word %zu (%s) out of place\n", i, w.text.c_str());
                failed = 1;
            }
        }
        std::printf("c++ marks: %zu words, %zu phonemes; first \"%s\" at %.3f s, /%s/ at %.3f s\n",
                    words.size(), phonemes.size(), words.empty() ? "" : words[0].text.c_str(),
                    words.empty() ? 0.0 : double(words[0].start_sample) / whole.sample_rate,
                    phonemes.empty() ? "" : phonemes[0].phoneme.c_str(),
                    phonemes.empty() ? 0.0 : double(phonemes[0].start_sample) / whole.sample_rate);
        if (words.size() < 10 || phonemes.size() < words.size() || marked != streamed) failed = 1;

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
