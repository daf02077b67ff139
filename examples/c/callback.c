/*
 * The push API: indextts calls back with each chunk; the callback's return value can cancel.
 * Runs a text to the end, then again with a callback that stops after the first chunk.
 *
 *   (build as in speak.c)
 *   target/callback-c models/assets/voices/en_US-joe-medium "$(cat ../shared/corpus/en_paragraph.txt)"
 */
#include "audio_check.h"

typedef struct {
    sample_buffer audio;
    size_t chunks;
    size_t stop_after; /* 0: never stop */
    uint32_t sample_rate;
} listener;

static bool on_chunk(void *user_data, const float *samples, size_t len, uint32_t sample_rate) {
    listener *l = user_data;
    buffer_append(&l->audio, samples, len);
    l->sample_rate = sample_rate;
    l->chunks++;
    return l->stop_after == 0 || l->chunks < l->stop_after;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VOICE TEXT\n", argv[0]);
        return 2;
    }
    const char *voice = argv[1], *text = argv[2];
    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 2;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(voice, &options, &synth));
    int failed = 0;

    listener all = {0};
    CHECK(indextts_synthesize_stream(synth, text, strlen(text), NULL, on_chunk, &all));
    printf("callback: %zu chunks\n", all.chunks);
    failed |= check_speech("callback", text, all.audio.data, all.audio.len, all.sample_rate);
    if (all.chunks < 2) {
        fprintf(stderr, "expected several chunks, got %zu\n", all.chunks);
        failed = 1;
    }

    /* Emptied so that the second run synthesizes again rather than replaying the cache. */
    CHECK(indextts_cache_clear(synth));
    listener first = {.stop_after = 1};
    double start = now_seconds();
    indextts_status status =
        indextts_synthesize_stream(synth, text, strlen(text), NULL, on_chunk, &first);
    double elapsed = now_seconds() - start;
    printf("cancel after the first chunk: %s (%s) after %.1f ms, %zu of %zu samples\n",
           indextts_status_str((int32_t)status), indextts_last_error(), elapsed * 1e3,
           first.audio.len, all.audio.len);
    if (status != INDEXTTS_CANCELLED || first.chunks != 1 || first.audio.len >= all.audio.len) {
        fprintf(stderr, "the callback's false did not cancel the synthesis\n");
        failed = 1;
    }

    free(all.audio.data);
    free(first.audio.data);
    indextts_synthesizer_free(synth);
    return failed;
}
