/*
 * Speak a text to a WAV file with the whole-audio API.
 *
 *   make install PREFIX=$PWD/target/c-install
 *   export PKG_CONFIG_PATH=$PWD/target/c-install/lib/pkgconfig
 *   cc -Wall -Wextra -Werror -o target/speak-c examples/c/speak.c \
 *      $(pkg-config --cflags --libs indextts) -lm -Wl,-rpath,$PWD/target/c-install/lib
 *   target/speak-c models/assets/voices/en_US-joe-medium "Hello from C." hello.wav
 */
#include "audio_check.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s VOICE TEXT OUT.wav\n", argv[0]);
        return 2;
    }
    const char *voice = argv[1], *text = argv[2], *out = argv[3];
    printf("indextts %s\n", indextts_version());

    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 2;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(voice, &options, &synth));

    indextts_audio *audio = NULL;
    double start = now_seconds();
    CHECK(indextts_synthesize(synth, text, strlen(text), NULL, &audio));
    double elapsed = now_seconds() - start;
    const float *samples = indextts_audio_samples(audio);
    size_t len = indextts_audio_len(audio);
    uint32_t rate = indextts_audio_sample_rate(audio);
    printf("synthesized %zu samples in %.3f s\n", len, elapsed);
    int failed = check_speech("speak", text, samples, len, rate);
    CHECK(indextts_audio_write_wav(audio, out));
    printf("wrote %s\n", out);

    indextts_audio_free(audio);
    indextts_synthesizer_free(synth);
    return failed;
}
