/*
 * Bad input over the C ABI: each case returns its status with a useful message, leaves
 * out-parameters untouched and the host running. Run under AddressSanitizer and valgrind by
 * scripts/test_hosts.sh.
 *
 *   target/bad-input-c models/assets/voices/en_US-joe-medium SCRATCH_DIR
 */
#define _DEFAULT_SOURCE /* realpath, symlink */
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../examples/c/audio_check.h"

static int failures = 0;

/* `got` must be `want`; for failures the last error must be set and contain `needle`. */
static void expect(const char *what, indextts_status got, indextts_status want, const char *needle) {
    const char *message = indextts_last_error();
    int ok = got == want;
    if (ok && want != INDEXTTS_OK && want != INDEXTTS_STREAM_END) {
        ok = message != NULL && message[0] != '\0' && (!needle || strstr(message, needle));
    }
    printf("%-4s %-58s -> %s: %s\n", ok ? "ok" : "FAIL", what, indextts_status_str((int32_t)got),
           message);
    if (!ok) {
        fprintf(stderr, "  expected %s%s%s\n", indextts_status_str((int32_t)want),
                needle ? " with a message containing " : "", needle ? needle : "");
        failures++;
    }
}

#define EXPECT(call, want, needle) expect(#call, (call), (want), (needle))

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        perror(path);
        exit(1);
    }
    fclose(f);
    data[size] = '\0';
    *len = (size_t)size;
    return data;
}

static bool cancel_at_once(void *user_data, const float *samples, size_t len, uint32_t rate) {
    (void)samples;
    (void)len;
    (void)rate;
    (*(int *)user_data)++;
    return false;
}

static bool cancel_chunks(void *user_data, const indextts_chunk *chunk) {
    (void)chunk;
    (*(int *)user_data)++;
    return false;
}

/* With the tiny test voice (random weights: it makes sound, not speech) only that is checked. */
static int tiny = 0;

static int check_sound(const char *label, const char *text, const float *samples, size_t len,
                       uint32_t rate) {
    if (!tiny) return check_speech(label, text, samples, len, rate);
    for (size_t i = 0; i < len; i++) {
        if (!isfinite(samples[i])) {
            fprintf(stderr, "FAIL %s: a non-finite sample\n", label);
            return 1;
        }
    }
    printf("%s: %zu samples of sound (tiny voice)\n", label, len);
    return len == 0;
}

int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "tiny") == 0)) {
        fprintf(stderr, "usage: %s VOICE_DIR SCRATCH_DIR [tiny]\n", argv[0]);
        return 2;
    }
    const char *voice = argv[1], *scratch = argv[2];
    tiny = argc == 4;
    /* The voice's files are named after its directory (NAME/NAME.onnx, NAME/NAME.onnx.json). */
    const char *name = strrchr(voice, '/') ? strrchr(voice, '/') + 1 : voice;
    char path[4096], model[4096], config[4096];
    snprintf(model, sizeof model, "%s/%s.onnx", voice, name);
    snprintf(config, sizeof config, "%s/%s.onnx.json", voice, name);
    mkdir(scratch, 0755);

    indextts_options options;
    indextts_synthesizer *const sentinel = (indextts_synthesizer *)&options;
    indextts_synthesizer *synth = sentinel;

    /* Loading: the ONNX Runtime path first, while no runtime is loaded in this process. */
    EXPECT(indextts_options_default(NULL), INDEXTTS_NULL_ARGUMENT, "options");
    EXPECT(indextts_options_default(&options), INDEXTTS_OK, NULL);
    options.ort_library = "/nonexistent/libonnxruntime.so";
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_RUNTIME_LOAD,
           "/nonexistent/libonnxruntime.so");
    options.ort_library = config; /* a file that is not a library */
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_RUNTIME_LOAD, "json");
    indextts_options_default(&options);
    EXPECT(indextts_synthesizer_new(NULL, &options, &synth), INDEXTTS_NULL_ARGUMENT, "voice_path");
    EXPECT(indextts_synthesizer_new(voice, &options, NULL), INDEXTTS_NULL_ARGUMENT, "out");
    EXPECT(indextts_synthesizer_new("/nonexistent/voice", &options, &synth),
           INDEXTTS_VOICE_NOT_FOUND, "/nonexistent/voice");
    options.struct_size = 3;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_ARGUMENT,
           "struct_size");
    /* Between two published layouts: it would copy half of the graph_cache pointer (found by
     * the c_options fuzzer; it crashed in strlen on the torn pointer). */
    indextts_options_default(&options);
    options.graph_cache = "off";
    options.struct_size = (uint32_t)(offsetof(indextts_options, graph_cache) + 3);
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_ARGUMENT,
           "struct_size");
    indextts_options_default(&options);
    /* 0 leaves a window size to the voice; an out-of-range one is refused. */
    options.vocoder_workers = 65;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION,
           "vocoder_workers");
    indextts_options_default(&options);
    options.context_frames = 5000;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION,
           "context_frames");
    indextts_options_default(&options);
    /* Windows at UINT32_MAX with the most context: one window per sentence, and speech (the
     * window arithmetic saturates rather than wrapping). */
    options.first_chunk_frames = UINT32_MAX;
    options.chunk_frames = UINT32_MAX;
    options.context_frames = 1024;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_OK, NULL);
    indextts_audio *widest = NULL;
    EXPECT(indextts_synthesize(synth, "Hello there.", 12, NULL, &widest), INDEXTTS_OK, NULL);
    failures += check_sound("UINT32_MAX windows", "Hello there.", indextts_audio_samples(widest),
                             indextts_audio_len(widest), indextts_audio_sample_rate(widest));
    indextts_audio_free(widest);
    indextts_synthesizer_free(synth);
    synth = sentinel;
    /* The other numeric fields at their extremes are refused, naming the field. */
    indextts_options_default(&options);
    options.threads = UINT32_MAX;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "threads");
    indextts_options_default(&options);
    options.sessions = 0;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "sessions");
    options.sessions = UINT32_MAX;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "sessions");
    indextts_options_default(&options);
    options.redis_ttl_seconds = 0;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "redis_ttl");
    options.redis_ttl_seconds = UINT64_MAX;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "redis_ttl");
    indextts_options_default(&options);
    options.follow_load = 2;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_OPTION, "follow_load");
    /* A host built before follow_load: whatever lies past its struct is not read. */
    options.struct_size = (uint32_t)offsetof(indextts_options, follow_load);
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_OK, NULL);
    indextts_synthesizer_free(synth);
    synth = sentinel;
    indextts_options_default(&options);
    options.graph_cache = "\xff\xfe";
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_UTF8, "graph_cache");
    indextts_options_default(&options);
    options.redis_url = "\xff\xfe";
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_INVALID_UTF8, "redis_url");
    /* A lexicon that is missing, or has a line without its IPA, names the file (and line). */
    indextts_options_default(&options);
    snprintf(path, sizeof path, "%s/missing.lexicon", scratch);
    options.lexicon = path;
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_IO, "missing.lexicon");
    snprintf(path, sizeof path, "%s/bad.lexicon", scratch);
    FILE *lexicon = fopen(path, "w");
    if (!lexicon) return 1;
    fputs("# comment\ntomato\n", lexicon);
    fclose(lexicon);
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_LEXICON, "line 2");
    /* A host built before the lexicon field: whatever lies past its struct is not read. */
    options.lexicon = (const char *)(uintptr_t)1;
    options.struct_size = (uint32_t)offsetof(indextts_options, lexicon);
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_OK, NULL);
    indextts_synthesizer_free(synth);
    synth = sentinel;
    indextts_options_default(&options);

    /* A corrupt model (random bytes) beside a valid config. */
    snprintf(path, sizeof path, "%s/corrupt", scratch);
    mkdir(path, 0755);
    size_t config_len = 0;
    char *config_json = read_file(config, &config_len);
    snprintf(path, sizeof path, "%s/corrupt/voice.onnx.json", scratch);
    write_file(path, config_json, config_len);
    unsigned char garbage[4096];
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (unsigned char)(i * 2654435761u >> 13);
    snprintf(path, sizeof path, "%s/corrupt/voice.onnx", scratch);
    write_file(path, garbage, sizeof garbage);
    EXPECT(indextts_synthesizer_new(path, &options, &synth), INDEXTTS_MODEL_FORMAT, "voice.onnx");
    /* A truncated copy of the real model. */
    size_t model_len = 0;
    char *model_bytes = read_file(model, &model_len);
    snprintf(path, sizeof path, "%s/corrupt/voice.onnx", scratch);
    write_file(path, model_bytes, model_len / 3);
    free(model_bytes);
    EXPECT(indextts_synthesizer_new(path, &options, &synth), INDEXTTS_MODEL_FORMAT, "voice.onnx");
    /* A config that is not JSON. */
    snprintf(path, sizeof path, "%s/corrupt/voice.onnx.json", scratch);
    write_file(path, "{\"audio\": ", 10);
    snprintf(path, sizeof path, "%s/corrupt/voice.onnx", scratch);
    EXPECT(indextts_synthesizer_new(path, &options, &synth), INDEXTTS_VOICE_CONFIG, "json");
    /* A valid config that does not match the model: more symbols than its embedding has. */
    snprintf(path, sizeof path, "%s/mismatch", scratch);
    mkdir(path, 0755);
    char *symbols = strstr(config_json, "\"num_symbols\"");
    if (!symbols) {
        fprintf(stderr, "the voice config has no \"num_symbols\"\n");
        return 1;
    }
    /* Its number, whatever it is, becomes 999. */
    char *digits = symbols + strlen("\"num_symbols\"");
    while (*digits == ':' || *digits == ' ') digits++;
    char *after = digits;
    while (isdigit((unsigned char)*after)) after++;
    size_t head = (size_t)(digits - config_json), tail = config_len - (size_t)(after - config_json);
    char *mismatched = malloc(head + 3 + tail);
    memcpy(mismatched, config_json, head);
    memcpy(mismatched + head, "999", 3);
    memcpy(mismatched + head + 3, after, tail);
    snprintf(path, sizeof path, "%s/mismatch/voice.onnx.json", scratch);
    write_file(path, mismatched, head + 3 + tail);
    free(mismatched);
    snprintf(path, sizeof path, "%s/mismatch/voice.onnx", scratch);
    unlink(path);
    char absolute[4096];
    if (!realpath(model, absolute) || symlink(absolute, path) != 0) {
        perror(path);
        return 1;
    }
    EXPECT(indextts_synthesizer_new(path, &options, &synth), INDEXTTS_VOICE_MISMATCH, "999 symbols");
    free(config_json);
    if (synth != sentinel) {
        fprintf(stderr, "FAIL a failed _new wrote its out-parameter\n");
        failures++;
    }

    /* The real voice. */
    EXPECT(indextts_synthesizer_new(voice, &options, &synth), INDEXTTS_OK, NULL);
    if (synth == sentinel) {
        fprintf(stderr, "cannot go on without a synthesizer\n");
        return 1;
    }
    const char *hello = "Hello there.";
    size_t hello_len = strlen(hello);
    indextts_audio *const no_audio = (indextts_audio *)&options;
    indextts_audio *audio = no_audio;

    /* NULL for every pointer argument. */
    EXPECT(indextts_synthesize(NULL, hello, hello_len, NULL, &audio), INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_synthesize(synth, NULL, 5, NULL, &audio), INDEXTTS_NULL_ARGUMENT, "text");
    EXPECT(indextts_synthesize(synth, hello, hello_len, NULL, NULL), INDEXTTS_NULL_ARGUMENT, "out");
    EXPECT(indextts_synthesis_options_default(NULL, NULL), INDEXTTS_NULL_ARGUMENT, "synth");
    indextts_synthesis_options call;
    EXPECT(indextts_synthesis_options_default(synth, NULL), INDEXTTS_NULL_ARGUMENT, "options");
    indextts_stream *stream = NULL;
    EXPECT(indextts_stream_new(NULL, hello, hello_len, NULL, &stream), INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_stream_new(synth, NULL, 0, NULL, &stream), INDEXTTS_NULL_ARGUMENT, "text");
    EXPECT(indextts_stream_new(synth, hello, hello_len, NULL, NULL), INDEXTTS_NULL_ARGUMENT, "out");
    float buffer[256];
    size_t written = 0;
    EXPECT(indextts_stream_next(NULL, buffer, 256, &written), INDEXTTS_NULL_ARGUMENT, "stream");
    int calls = 0;
    EXPECT(indextts_synthesize_stream(NULL, hello, hello_len, NULL, cancel_at_once, &calls),
           INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_synthesize_stream(synth, hello, hello_len, NULL, NULL, &calls),
           INDEXTTS_NULL_ARGUMENT, "callback");
    EXPECT(indextts_synthesize_stream(synth, NULL, 3, NULL, cancel_at_once, &calls),
           INDEXTTS_NULL_ARGUMENT, "text");
    const indextts_chunk *chunk = NULL;
    EXPECT(indextts_stream_next_chunk(NULL, &chunk), INDEXTTS_NULL_ARGUMENT, "stream");
    EXPECT(indextts_synthesize_stream_chunks(synth, hello, hello_len, NULL, NULL, &calls),
           INDEXTTS_NULL_ARGUMENT, "callback");
    EXPECT(indextts_synthesize_stream_chunks(NULL, hello, hello_len, NULL, cancel_chunks, &calls),
           INDEXTTS_NULL_ARGUMENT, "synth");
    /* SSML that is not well-formed is an error naming its line, before any audio. */
    const char *ssml = "<speak>\n  Hello <break time=\"soon\"/>\n</speak>";
    EXPECT(indextts_stream_new(synth, ssml, strlen(ssml), NULL, &stream), INDEXTTS_SSML, "line 2");
    if (stream != NULL) {
        fprintf(stderr, "FAIL a failed stream_new wrote its out-parameter\n");
        failures++;
    }
    indextts_cache_stats stats;
    EXPECT(indextts_cache_stats_get(NULL, &stats), INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_cache_stats_get(synth, NULL), INDEXTTS_NULL_ARGUMENT, "out");
    EXPECT(indextts_cache_clear(NULL), INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_audio_write_wav(NULL, "x.wav"), INDEXTTS_NULL_ARGUMENT, "audio");
    if (indextts_audio_samples(NULL) != NULL || indextts_audio_len(NULL) != 0 ||
        indextts_audio_sample_rate(NULL) != 0 || indextts_stream_sample_rate(NULL) != 0 ||
        indextts_synthesizer_sample_rate(NULL) != 0) {
        fprintf(stderr, "FAIL getters on NULL must give NULL or 0\n");
        failures++;
    }
    /* _free(NULL) does nothing. */
    indextts_audio_free(NULL);
    indextts_stream_free(NULL);
    indextts_synthesizer_free(NULL);

    /* Text. */
    EXPECT(indextts_synthesize(synth, "\xc3\x28 bad", 6, NULL, &audio), INDEXTTS_INVALID_UTF8, "UTF-8");
    EXPECT(indextts_synthesize(synth, "", 0, NULL, &audio), INDEXTTS_EMPTY_TEXT, "empty");
    EXPECT(indextts_synthesize(synth, " \n\t ", 4, NULL, &audio), INDEXTTS_EMPTY_TEXT, "whitespace");
    size_t mega = 1000 * 1000;
    char *big = malloc(mega);
    for (size_t i = 0; i < mega; i++) big[i] = i % 6 == 5 ? ' ' : 'a';
    EXPECT(indextts_synthesize(synth, big, mega, NULL, &audio), INDEXTTS_TEXT_TOO_LONG, "1000000 bytes");
    EXPECT(indextts_stream_new(synth, big, mega, NULL, &stream), INDEXTTS_TEXT_TOO_LONG, "131072");
    free(big);
    /* A length that would run past any buffer: refused before a byte is read. */
    EXPECT(indextts_synthesize(synth, hello, (size_t)-1, NULL, &audio), INDEXTTS_TEXT_TOO_LONG, "bytes");

    /* Options. */
    EXPECT(indextts_synthesis_options_default(synth, &call), INDEXTTS_OK, NULL);
    call.length_scale = NAN;
    EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &audio), INDEXTTS_INVALID_OPTION, "length_scale");
    indextts_synthesis_options_default(synth, &call);
    call.noise_scale = -0.5f;
    EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &audio), INDEXTTS_INVALID_OPTION, "noise_scale");
    indextts_synthesis_options_default(synth, &call);
    call.noise_w = INFINITY;
    EXPECT(indextts_stream_new(synth, hello, hello_len, &call, &stream), INDEXTTS_INVALID_OPTION, "noise_w");
    indextts_synthesis_options_default(synth, &call);
    call.length_scale = -1.0f;
    EXPECT(indextts_synthesize_stream(synth, hello, hello_len, &call, cancel_at_once, &calls),
           INDEXTTS_INVALID_OPTION, "length_scale");
    indextts_synthesis_options_default(synth, &call);
    call.speaker = "7";
    EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &audio), INDEXTTS_UNKNOWN_SPEAKER, "7");
    call.speaker = "\xff";
    EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &audio), INDEXTTS_INVALID_UTF8, "speaker");
    indextts_synthesis_options_default(synth, &call);
    call.struct_size = 1u << 20;
    EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &audio), INDEXTTS_INVALID_ARGUMENT, "struct_size");
    if (audio != no_audio) {
        fprintf(stderr, "FAIL a failed call wrote its out-parameter\n");
        failures++;
    }
    if (calls != 0) {
        fprintf(stderr, "FAIL a refused call ran the callback\n");
        failures++;
    }

    /* use_seed is an integer: any nonzero byte means "use the seed", as 1 does (it was a
     * Rust bool, for which a host's 0xff was undefined behaviour). */
    indextts_audio *seeded[2] = {NULL, NULL};
    const uint8_t flags[2] = {1, 0xff};
    for (int i = 0; i < 2; i++) {
        indextts_synthesis_options_default(synth, &call);
        call.use_seed = flags[i];
        call.seed = 7;
        EXPECT(indextts_synthesize(synth, hello, hello_len, &call, &seeded[i]), INDEXTTS_OK, NULL);
    }
    /* (The tiny test voice draws its noise inside ONNX Runtime, unseeded: only the real one
     * can show it.) */
    if (!tiny && (!seeded[0] || !seeded[1] ||
        indextts_audio_len(seeded[0]) != indextts_audio_len(seeded[1]) ||
        memcmp(indextts_audio_samples(seeded[0]), indextts_audio_samples(seeded[1]),
               indextts_audio_len(seeded[0]) * sizeof(float)) != 0)) {
        fprintf(stderr, "FAIL use_seed 0xff did not act as use_seed 1\n");
        failures++;
    }
    indextts_audio_free(seeded[0]);
    indextts_audio_free(seeded[1]);

    /* Streams: a buffer of size 0, a stream freed mid-synthesis, a callback that cancels. */
    const char *paragraph =
        "The old lighthouse keeper climbed the stairs each evening. He lit the lamp, wound the "
        "clock, and watched the ships pass far out at sea. Nobody remembered when he had "
        "arrived, and nobody could imagine the island without him.";
    EXPECT(indextts_stream_new(synth, paragraph, strlen(paragraph), NULL, &stream), INDEXTTS_OK, NULL);
    EXPECT(indextts_stream_next(stream, buffer, 0, &written), INDEXTTS_INVALID_ARGUMENT, "capacity");
    EXPECT(indextts_stream_next(stream, NULL, 256, &written), INDEXTTS_NULL_ARGUMENT, "buffer");
    EXPECT(indextts_stream_next(stream, buffer, 256, NULL), INDEXTTS_NULL_ARGUMENT, "written");
    EXPECT(indextts_stream_next(stream, buffer, 256, &written), INDEXTTS_OK, NULL);
    if (written == 0 || written > 256) {
        fprintf(stderr, "FAIL stream_next wrote %zu samples into a buffer of 256\n", written);
        failures++;
    }
    /* The rest of that chunk, whole, then the next; a NULL out-parameter is refused. */
    EXPECT(indextts_stream_next_chunk(stream, NULL), INDEXTTS_NULL_ARGUMENT, "chunk");
    EXPECT(indextts_stream_next_chunk(stream, &chunk), INDEXTTS_OK, NULL);
    if (chunk == NULL || chunk->len == 0 || chunk->start_sample != written || chunk->words_len != 0) {
        fprintf(stderr, "FAIL next_chunk after next did not give the chunk's rest\n");
        failures++;
    }
    EXPECT(indextts_stream_next_chunk(stream, &chunk), INDEXTTS_OK, NULL);
    indextts_stream_free(stream); /* mid-synthesis: cancels */
    calls = 0;
    EXPECT(indextts_synthesize_stream_chunks(synth, paragraph, strlen(paragraph), NULL,
                                             cancel_chunks, &calls),
           INDEXTTS_CANCELLED, "cancelled");
    calls = 0;
    EXPECT(indextts_synthesize_stream(synth, paragraph, strlen(paragraph), NULL, cancel_at_once, &calls),
           INDEXTTS_CANCELLED, "cancelled");
    if (calls != 1) {
        fprintf(stderr, "FAIL the callback ran %d times after cancelling\n", calls);
        failures++;
    }
    /* A stream read to its end, then read again. */
    EXPECT(indextts_stream_new(synth, hello, hello_len, NULL, &stream), INDEXTTS_OK, NULL);
    indextts_status status;
    while ((status = indextts_stream_next(stream, buffer, 256, &written)) == INDEXTTS_OK) {
    }
    EXPECT(status, INDEXTTS_STREAM_END, NULL);
    EXPECT(indextts_stream_next(stream, buffer, 256, &written), INDEXTTS_STREAM_END, NULL);
    indextts_stream_free(stream);

    /* Text streams: NULLs, bytes that are not UTF-8, a push that ends inside a character
     * (completed by the next), calls after finish, a push after the audio was freed. */
    indextts_text_stream *sink = NULL;
    EXPECT(indextts_text_stream_new(NULL, NULL, &sink, &stream), INDEXTTS_NULL_ARGUMENT, "synth");
    EXPECT(indextts_text_stream_new(synth, NULL, NULL, &stream), INDEXTTS_NULL_ARGUMENT, "sink_out");
    EXPECT(indextts_text_stream_new(synth, NULL, &sink, NULL), INDEXTTS_NULL_ARGUMENT, "audio_out");
    EXPECT(indextts_text_stream_push(NULL, "a", 1), INDEXTTS_NULL_ARGUMENT, "sink");
    EXPECT(indextts_text_stream_new(synth, NULL, &sink, &stream), INDEXTTS_OK, NULL);
    EXPECT(indextts_text_stream_push(sink, NULL, 1), INDEXTTS_NULL_ARGUMENT, "text");
    EXPECT(indextts_text_stream_push(sink, "\xff\xfe", 2), INDEXTTS_INVALID_UTF8, "UTF-8");
    EXPECT(indextts_text_stream_push(sink, "Caf\xc3", 4), INDEXTTS_OK, NULL);
    EXPECT(indextts_text_stream_push(sink, "\xa9 time.", 7), INDEXTTS_OK, NULL);
    EXPECT(indextts_text_stream_push(sink, "\xe2\x82", 2), INDEXTTS_OK, NULL);
    EXPECT(indextts_text_stream_finish(sink), INDEXTTS_INVALID_UTF8, "inside a UTF-8 sequence");
    EXPECT(indextts_text_stream_push(sink, "More.", 5), INDEXTTS_INVALID_ARGUMENT, "finished");
    EXPECT(indextts_text_stream_flush(sink), INDEXTTS_INVALID_ARGUMENT, "finished");
    EXPECT(indextts_text_stream_finish(sink), INDEXTTS_INVALID_ARGUMENT, "finished");
    size_t heard = 0;
    while ((status = indextts_stream_next(stream, buffer, 256, &written)) == INDEXTTS_OK) {
        heard += written;
    }
    EXPECT(status, INDEXTTS_STREAM_END, NULL);
    if (heard == 0) {
        fprintf(stderr, "FAIL the text stream gave no audio for \"Caf\u00e9 time.\"\n");
        failures++;
    }
    indextts_text_stream_free(sink);
    indextts_stream_free(stream);
    EXPECT(indextts_text_stream_new(synth, NULL, &sink, &stream), INDEXTTS_OK, NULL);
    indextts_stream_free(stream);
    indextts_status late = INDEXTTS_OK;
    for (int i = 0; i < 200 && late == INDEXTTS_OK; i++) {
        late = indextts_text_stream_push(sink, "Still here? ", 12);
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    EXPECT(late, INDEXTTS_CANCELLED, "ended");
    indextts_text_stream_free(sink);
    indextts_text_stream_free(NULL);

    /* Writing a WAV where no file can be. */
    EXPECT(indextts_synthesize(synth, hello, hello_len, NULL, &audio), INDEXTTS_OK, NULL);
    EXPECT(indextts_audio_write_wav(audio, "/nonexistent/dir/out.wav"), INDEXTTS_IO, "/nonexistent/dir");
    EXPECT(indextts_audio_write_wav(audio, NULL), INDEXTTS_NULL_ARGUMENT, "path");

    /* Status names, and a success clears the last error. */
    EXPECT(indextts_cache_stats_get(synth, &stats), INDEXTTS_OK, NULL);
    if (strcmp(indextts_status_str(INDEXTTS_INVALID_UTF8), "invalid UTF-8") != 0 ||
        strcmp(indextts_status_str(9999), "unknown status") != 0 || indextts_last_error()[0] != '\0') {
        fprintf(stderr, "FAIL status names or last error after success\n");
        failures++;
    }

    /* After all of that, the host and the synthesizer still work. */
    int failed = check_sound("after bad input", hello, indextts_audio_samples(audio),
                              indextts_audio_len(audio), indextts_audio_sample_rate(audio));
    indextts_audio_free(audio);
    indextts_synthesizer_free(synth);

    /* Mandarin to a Kokoro English voice (the real one beside a real voice; the tiny voice
     * valgrind runs has none): refused before any audio, naming the character. */
    char kokoro[4096];
    snprintf(kokoro, sizeof kokoro, "%s/../af_heart", voice);
    struct stat st;
    if (stat(kokoro, &st) == 0) {
        synth = NULL;
        EXPECT(indextts_synthesizer_new(kokoro, NULL, &synth), INDEXTTS_OK, NULL);
        const char *zh = "Hello. \xe4\xbd\xa0\xe5\xa5\xbd"; /* 你好 */
        stream = NULL;
        EXPECT(indextts_stream_new(synth, zh, strlen(zh), NULL, &stream), INDEXTTS_UNSUPPORTED_TEXT,
               "U+4F60");
        if (stream != NULL) {
            fprintf(stderr, "FAIL a refused stream_new wrote its out-parameter\n");
            failures++;
        }
        indextts_synthesizer_free(synth);
    } else {
        printf("(no %s beside the voice: the unsupported-text case is not run)\n", kokoro);
    }
    printf("bad input: %d failures\n", failures + failed);
    return failures + failed ? 1 : 0;
}
