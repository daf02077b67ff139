/*
 * Four threads share one synthesizer: two synthesize whole texts, two stream, all at once.
 *
 *   (build as in speak.c, adding -pthread)
 *   target/threads-c models/assets/voices/en_US-joe-medium
 */
#include <pthread.h>

#include "audio_check.h"

static const char *const TEXTS[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring your umbrella tomorrow.",
    "Our next train to the airport leaves in ten minutes.",
    "Thank you for calling. Your order has been shipped.",
};

typedef struct {
    const indextts_synthesizer *synth;
    int index;
    int failed;
} job;

static void *run(void *arg) {
    job *j = arg;
    const char *text = TEXTS[j->index];
    char label[32];
    snprintf(label, sizeof label, "thread %d", j->index);
    for (int round = 0; round < 2; round++) {
        if (j->index % 2 == 0) {
            indextts_audio *audio = NULL;
            indextts_status s = indextts_synthesize(j->synth, text, strlen(text), NULL, &audio);
            if (s != INDEXTTS_OK) {
                fprintf(stderr, "%s: %s\n", label, indextts_last_error());
                j->failed = 1;
                return NULL;
            }
            j->failed |= check_speech(label, text, indextts_audio_samples(audio),
                                      indextts_audio_len(audio), indextts_audio_sample_rate(audio));
            indextts_audio_free(audio);
        } else {
            indextts_stream *stream = NULL;
            indextts_status s = indextts_stream_new(j->synth, text, strlen(text), NULL, &stream);
            if (s != INDEXTTS_OK) {
                fprintf(stderr, "%s: %s\n", label, indextts_last_error());
                j->failed = 1;
                return NULL;
            }
            sample_buffer audio = {0};
            float buffer[512];
            size_t n = 0;
            while ((s = indextts_stream_next(stream, buffer, 512, &n)) == INDEXTTS_OK) {
                buffer_append(&audio, buffer, n);
            }
            if (s != INDEXTTS_STREAM_END) {
                fprintf(stderr, "%s: %s\n", label, indextts_last_error());
                j->failed = 1;
            }
            j->failed |= check_speech(label, text, audio.data, audio.len,
                                      indextts_stream_sample_rate(stream));
            indextts_stream_free(stream);
            free(audio.data);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VOICE\n", argv[0]);
        return 2;
    }
    /* A host synthesizing on many threads keeps its RSS flat with one malloc arena per core. */
    indextts_limit_malloc_arenas();
    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 1;
    options.sessions = 2;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(argv[1], &options, &synth));

    pthread_t threads[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){.synth = synth, .index = i, .failed = 0};
        if (pthread_create(&threads[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        failed |= jobs[i].failed;
    }
    indextts_cache_stats stats;
    CHECK(indextts_cache_stats_get(synth, &stats));
    printf("threads: done; cache memory hits %llu, misses %llu\n",
           (unsigned long long)stats.memory.hits, (unsigned long long)stats.memory.misses);
    /* Each thread said its text twice: the second time comes from the cache. */
    if (stats.memory.hits < 4) {
        fprintf(stderr, "expected the second round to hit the cache\n");
        failed = 1;
    }
    indextts_synthesizer_free(synth);
    return failed;
}
