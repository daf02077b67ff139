/*
 * Word and phoneme timestamps over the C ABI: read a stream chunk by chunk with
 * indextts_stream_next_chunk() and print each word with its time (a WebVTT cue per word on
 * standard output), then speak the text again through the callback variant and check that both
 * give the same words at the same samples. Checks: every word of the text once, in order,
 * inside the audio, each word's byte range pointing at that word in the input; phonemes in
 * order, without overlap, inside the audio, and each word starting where one of its phonemes
 * does.
 *
 * With a lexicon (`options.lexicon`), a word and its IPA: speak the word and check that the
 * phonemes said between its marks are the lexicon's.
 *
 *   (build as in speak.c)
 *   target/timestamps-c models/assets/voices/en_US-joe-medium "$(cat ../shared/corpus/en_paragraph.txt)"
 *   target/timestamps-c en_US-joe-medium "Tomato." my.lexicon tomato "təmˈɑːtoʊ"
 */
#include "audio_check.h"

#define MAX_WORDS 4096
#define MAX_PHONEMES 32768

typedef struct {
    char text[64];
    size_t start, end;
    uint64_t start_sample, end_sample;
} word;

typedef struct {
    char symbol[16];
    uint64_t start_sample, end_sample;
} phoneme;

typedef struct {
    word words[MAX_WORDS];
    size_t count;
    phoneme phonemes[MAX_PHONEMES];
    size_t phoneme_count;
    uint64_t samples;
    uint32_t sample_rate;
} marks;

static void take(marks *m, const indextts_chunk *chunk) {
    m->sample_rate = chunk->sample_rate;
    m->samples = chunk->start_sample + chunk->len;
    for (size_t i = 0; i < chunk->phonemes_len && m->phoneme_count < MAX_PHONEMES; i++) {
        const indextts_phoneme_mark *p = &chunk->phonemes[i];
        phoneme *out = &m->phonemes[m->phoneme_count++];
        snprintf(out->symbol, sizeof out->symbol, "%s", p->phoneme);
        out->start_sample = p->start_sample;
        out->end_sample = p->end_sample;
    }
    for (size_t i = 0; i < chunk->words_len && m->count < MAX_WORDS; i++) {
        const indextts_word_mark *w = &chunk->words[i];
        word *out = &m->words[m->count++];
        snprintf(out->text, sizeof out->text, "%s", w->text);
        out->start = w->text_start;
        out->end = w->text_end;
        out->start_sample = w->start_sample;
        out->end_sample = w->end_sample;
    }
}

static bool on_chunk(void *user_data, const indextts_chunk *chunk) {
    take(user_data, chunk);
    return true;
}

/* Words as a reader marks them: white-space separated, with a letter or digit. */
static size_t count_words(const char *text) {
    size_t words = 0;
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        int alnum = 0;
        while (*p && !isspace((unsigned char)*p)) alnum |= isalnum((unsigned char)*p++) != 0;
        words += alnum;
    }
    return words;
}

static int check(const char *label, const char *text, const marks *m) {
    int failed = 0;
    size_t expected = count_words(text);
    if (m->count != expected) {
        fprintf(stderr, "%s: %zu words marked, the text has %zu\n", label, m->count, expected);
        failed = 1;
    }
    for (size_t i = 0; i < m->count; i++) {
        const word *w = &m->words[i];
        size_t len = strlen(w->text);
        if (w->end - w->start != len || w->end > strlen(text) ||
            memcmp(text + w->start, w->text, len) != 0) {
            fprintf(stderr, "%s: word %zu (%s) does not point at itself\n", label, i, w->text);
            failed = 1;
        }
        if (w->start_sample >= w->end_sample || w->end_sample > m->samples ||
            (i > 0 && w->start_sample < m->words[i - 1].end_sample)) {
            fprintf(stderr, "%s: word %zu (%s) at %llu..%llu is out of place\n", label, i,
                    w->text, (unsigned long long)w->start_sample,
                    (unsigned long long)w->end_sample);
            failed = 1;
        }
    }
    size_t word = 0;
    for (size_t i = 0; i < m->phoneme_count; i++) {
        const phoneme *p = &m->phonemes[i];
        if (p->symbol[0] == '\0' || p->start_sample > p->end_sample || p->end_sample > m->samples ||
            (i > 0 && p->start_sample < m->phonemes[i - 1].end_sample)) {
            fprintf(stderr, "%s: phoneme %zu (%s) at %llu..%llu is out of place\n", label, i,
                    p->symbol, (unsigned long long)p->start_sample,
                    (unsigned long long)p->end_sample);
            failed = 1;
        }
        while (word < m->count && m->words[word].start_sample == p->start_sample) word++;
    }
    if (word != m->count) {
        fprintf(stderr, "%s: word %zu (%s) starts where no phoneme does\n", label, word,
                m->words[word].text);
        failed = 1;
    }
    printf("%s: %zu words, %zu phonemes in %.2f s of audio\n", label, m->count,
           m->phoneme_count, (double)m->samples / m->sample_rate);
    return failed;
}

/* Speak `word` with `lexicon` and check that the phonemes said between its marks spell `ipa`. */
static int check_lexicon(const char *voice, const char *lexicon, const char *word,
                         const char *ipa) {
    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 2;
    options.lexicon = lexicon;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(voice, &options, &synth));
    static marks said;
    CHECK(indextts_synthesize_stream_chunks(synth, word, strlen(word), NULL, on_chunk, &said));
    indextts_synthesizer_free(synth);
    if (said.count != 1) {
        fprintf(stderr, "lexicon: %zu words marked for %s\n", said.count, word);
        return 1;
    }
    char spelled[256] = "";
    for (size_t i = 0; i < said.phoneme_count; i++) {
        const phoneme *p = &said.phonemes[i];
        if (p->start_sample >= said.words[0].start_sample &&
            p->start_sample < said.words[0].end_sample)
            strncat(spelled, p->symbol, sizeof spelled - strlen(spelled) - 1);
    }
    printf("lexicon: %s said as /%s/ (lexicon: /%s/)\n", word, spelled, ipa);
    return strcmp(spelled, ipa) != 0;
}

static void cue_time(double seconds, char *out, size_t size) {
    long ms = (long)(seconds * 1000.0 + 0.5);
    snprintf(out, size, "%02ld:%02ld:%02ld.%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             ms % 1000);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 6) {
        fprintf(stderr, "usage: %s VOICE TEXT [LEXICON WORD IPA]\n", argv[0]);
        return 2;
    }
    const char *voice = argv[1], *text = argv[2];
    indextts_options options;
    CHECK(indextts_options_default(&options));
    options.threads = 2;
    indextts_synthesizer *synth = NULL;
    CHECK(indextts_synthesizer_new(voice, &options, &synth));
    int failed = 0;

    static marks pulled, called;
    indextts_stream *stream = NULL;
    CHECK(indextts_stream_new(synth, text, strlen(text), NULL, &stream));
    const indextts_chunk *chunk = NULL;
    indextts_status status;
    while ((status = indextts_stream_next_chunk(stream, &chunk)) == INDEXTTS_OK) take(&pulled, chunk);
    if (status != INDEXTTS_STREAM_END || chunk != NULL) die("indextts_stream_next_chunk", status);
    indextts_stream_free(stream);
    failed |= check("pull", text, &pulled);

    CHECK(indextts_synthesize_stream_chunks(synth, text, strlen(text), NULL, on_chunk, &called));
    failed |= check("callback", text, &called);
    if (called.count != pulled.count ||
        memcmp(called.words, pulled.words, pulled.count * sizeof(word)) != 0) {
        fprintf(stderr, "the pull stream and the callback disagree\n");
        failed = 1;
    }

    printf("WEBVTT\n");
    for (size_t i = 0; i < pulled.count && i < 8; i++) {
        char from[16], to[16];
        cue_time((double)pulled.words[i].start_sample / pulled.sample_rate, from, sizeof from);
        cue_time((double)pulled.words[i].end_sample / pulled.sample_rate, to, sizeof to);
        printf("\n%s --> %s\n%s\n", from, to, pulled.words[i].text);
    }
    indextts_synthesizer_free(synth);
    if (argc == 6) failed |= check_lexicon(voice, argv[3], argv[4], argv[5]);
    return failed;
}
