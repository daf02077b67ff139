/*
 * Stream a text with the pull API: read audio into a fixed buffer as it is made, report the
 * time to first audio, check the streamed audio equals the whole synthesis, write a WAV.
 *
 *   (build as in speak.c)
 *   target/stream-c models/assets/voices/en_US-joe-medium "$(cat ../shared/corpus/en_paragraph.txt)" out.wav
 */
#include "audio_check.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s VOICE TEXT OUT.wav\n", argv[0]);
        return 2;
    }
    const char *voice = argv[1], *text = argv[2], *out = argv[3];

    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 2;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(voice, &options, &synth));

    /* A fixed seed, so the whole synthesis below draws the same noise as the stream. */
    indextts_synthesis_options call;
    CHECK(indextts_synthesis_options_default(synth, &call));
    call.use_seed = 1;
    call.seed = 42;

    indextts_stream *stream = NULL;
    double start = now_seconds();
    CHECK(indextts_stream_new(synth, text, strlen(text), &call, &stream));
    float buffer[1024];
    sample_buffer streamed = {0};
    double first_audio = -1.0;
    size_t reads = 0;
    indextts_status status;
    size_t written = 0;
    while ((status = indextts_stream_next(stream, buffer, 1024, &written)) == INDEXTTS_OK) {
        if (first_audio < 0) first_audio = now_seconds() - start;
        buffer_append(&streamed, buffer, written);
        reads++;
    }
    if (status != INDEXTTS_STREAM_END) die("indextts_stream_next", status);
    double total = now_seconds() - start;
    uint32_t rate = indextts_stream_sample_rate(stream);
    indextts_stream_free(stream);
    printf("stream: first audio after %.1f ms, all %zu samples after %.1f ms (%zu reads)\n",
           first_audio * 1e3, streamed.len, total * 1e3, reads);
    int failed = check_speech("stream", text, streamed.data, streamed.len, rate);

    /* The same text, whole: the stream must hold the same samples. */
    indextts_audio *whole = NULL;
    CHECK(indextts_synthesize(synth, text, strlen(text), &call, &whole));
    size_t whole_len = indextts_audio_len(whole);
    const float *whole_samples = indextts_audio_samples(whole);
    double worst = whole_len == streamed.len ? 0.0 : 1.0;
    for (size_t i = 0; i < whole_len && i < streamed.len; i++) {
        double d = fabs((double)whole_samples[i] - (double)streamed.data[i]);
        if (d > worst) worst = d;
    }
    printf("stream vs whole: %zu vs %zu samples, max abs difference %g\n", streamed.len,
           whole_len, worst);
    if (worst > 1e-4) {
        fprintf(stderr, "streamed audio differs from the whole synthesis\n");
        failed = 1;
    }
    indextts_audio_free(whole);

    if (write_wav(out, streamed.data, streamed.len, rate) != 0) failed = 1;
    free(streamed.data);
    indextts_synthesizer_free(synth);
    return failed;
}
