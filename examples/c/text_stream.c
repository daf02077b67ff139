/*
 * Speak text while it is still being written, as a voice assistant speaks a language model's
 * answer: a writer thread pushes the text a few bytes at a time at about 20 tokens a second
 * (pieces split words, and one splits a UTF-8 character), while main reads the audio as it
 * comes. Reports the time from the first push to the first audio, and checks the audio.
 *
 *   (build as in speak.c, with -pthread)
 *   target/text-stream-c models/assets/voices/en_US-joe-medium "$(cat ../shared/corpus/en_paragraph.txt)" out.wav
 */
#include <pthread.h>

#include "audio_check.h"

typedef struct {
    indextts_text_stream *sink;
    const char *text;
    indextts_status status;
} writer_args;

/* Push `text` in pieces of 4 bytes, 50 ms apart (20 tokens a second), then finish. */
static void *writer(void *p) {
    writer_args *w = p;
    size_t len = strlen(w->text);
    struct timespec pause = {0, 50 * 1000 * 1000};
    for (size_t at = 0; at < len; at += 4) {
        size_t n = len - at < 4 ? len - at : 4;
        w->status = indextts_text_stream_push(w->sink, w->text + at, n);
        if (w->status != INDEXTTS_OK) return NULL;
        nanosleep(&pause, NULL);
    }
    w->status = indextts_text_stream_finish(w->sink);
    return NULL;
}

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

    indextts_text_stream *sink = NULL;
    indextts_stream *audio = NULL;
    CHECK(indextts_text_stream_new(synth, NULL, &sink, &audio));
    writer_args w = {sink, text, INDEXTTS_OK};
    double start = now_seconds();
    pthread_t thread;
    if (pthread_create(&thread, NULL, writer, &w) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    float buffer[1024];
    sample_buffer heard = {0};
    double first_audio = -1.0;
    size_t written = 0;
    indextts_status status;
    while ((status = indextts_stream_next(audio, buffer, 1024, &written)) == INDEXTTS_OK) {
        if (first_audio < 0) first_audio = now_seconds() - start;
        buffer_append(&heard, buffer, written);
    }
    pthread_join(thread, NULL);
    if (status != INDEXTTS_STREAM_END) die("indextts_stream_next", status);
    if (w.status != INDEXTTS_OK) die("indextts_text_stream_push", w.status);
    uint32_t rate = indextts_stream_sample_rate(audio);
    printf("text stream: first audio %.1f ms after the first push; %.2f s of audio; text took "
           "%.1f s to arrive\n",
           first_audio * 1e3, (double)heard.len / rate, (double)strlen(text) / 4 * 0.05);
    int failed = check_speech("text stream", text, heard.data, heard.len, rate);
    /* Pushing after the audio has ended is refused, not lost silently. */
    indextts_stream_free(audio);
    indextts_status late = indextts_text_stream_push(sink, "More.", 5);
    if (late != INDEXTTS_INVALID_ARGUMENT) {
        fprintf(stderr, "a push after finish returned %s\n", indextts_status_str(late));
        failed = 1;
    }
    indextts_text_stream_free(sink);
    if (write_wav(out, heard.data, heard.len, rate) != 0) failed = 1;
    free(heard.data);
    indextts_synthesizer_free(synth);
    return failed;
}
