/*
 * Helpers shared by the C examples: check that audio is plausible speech, write a WAV, time.
 * Header-only (static functions), so each example is one file to compile.
 */
#ifndef INDEXTTS_EXAMPLES_AUDIO_CHECK_H
#define INDEXTTS_EXAMPLES_AUDIO_CHECK_H

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indextts.h"

/* Print the library's message for a failed call and exit. */
static inline void die(const char *what, indextts_status status) {
    fprintf(stderr, "%s: %s (%d): %s\n", what, indextts_status_str((int32_t)status),
            (int)status, indextts_last_error());
    exit(1);
}

#define CHECK(call)                                                                         \
    do {                                                                                    \
        indextts_status check_status_ = (call);                                             \
        if (check_status_ != INDEXTTS_OK) die(#call, check_status_);                        \
    } while (0)

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds a reader takes: 2.7 words a second, and 4.5 a second for Han characters (UTF-8
 * lead bytes 0xE3..0xE9 start U+3000..U+9FFF), which are not counted as words. */
static inline double expected_seconds(const char *text) {
    size_t words = 0, han = 0;
    int in_word = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p >= 0xE3 && *p <= 0xE9 && p[1] && p[2]) {
            han++;
            in_word = 0;
            p += 2;
        } else if (isspace(*p)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return (double)words / 2.7 + (double)han / 4.5;
}

/*
 * Plausible speech for `text`: duration within 0.4x..2.5x of expected_seconds(text), RMS
 * above 0.02, no NaN or infinity, peak <= 1.0, at one of the voices' rates (22,050 or 24,000 Hz). Prints the figures; returns 0 when all hold.
 */
static inline int check_speech(const char *label, const char *text, const float *samples, size_t len,
                        uint32_t sample_rate) {
    double sum_squares = 0.0;
    float peak = 0.0f;
    size_t non_finite = 0;
    for (size_t i = 0; i < len; i++) {
        float s = samples[i];
        if (!isfinite(s)) {
            non_finite++;
            continue;
        }
        sum_squares += (double)s * (double)s;
        if (fabsf(s) > peak) peak = fabsf(s);
    }
    double seconds = sample_rate ? (double)len / sample_rate : 0.0;
    double rms = len ? sqrt(sum_squares / (double)len) : 0.0;
    double expected = expected_seconds(text);
    printf("%s: %.2f s (expected ~%.2f s), rms %.3f, peak %.3f, %zu non-finite\n", label,
           seconds, expected, rms, peak, non_finite);
    int ok = 1;
    if (sample_rate != 22050 && sample_rate != 24000) {
        fprintf(stderr, "%s: sample rate %u, expected 22050 or 24000\n", label, sample_rate);
        ok = 0;
    }
    if (seconds < 0.4 * expected || seconds > 2.5 * expected) {
        fprintf(stderr, "%s: %.2f s is not within 0.4x..2.5x of %.2f s\n", label, seconds,
                expected);
        ok = 0;
    }
    if (non_finite) {
        fprintf(stderr, "%s: %zu NaN or infinite samples\n", label, non_finite);
        ok = 0;
    }
    if (rms <= 0.02) {
        fprintf(stderr, "%s: RMS %.4f is near silence\n", label, rms);
        ok = 0;
    }
    if (peak > 1.0f) {
        fprintf(stderr, "%s: peak %.3f above full scale\n", label, peak);
        ok = 0;
    }
    return ok ? 0 : 1;
}

/* Growable sample buffer for streamed audio. */
typedef struct {
    float *data;
    size_t len;
    size_t cap;
} sample_buffer;

static inline void buffer_append(sample_buffer *b, const float *samples, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        float *grown = (float *)realloc(b->data, cap * sizeof(float));
        if (!grown) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, samples, n * sizeof(float));
    b->len += n;
}

static inline void put_u32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

static inline void put_u16(FILE *f, uint16_t v) {
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    fwrite(b, 1, 2, f);
}

/* A 16-bit PCM mono WAV of `samples`; returns 0 on success. */
static inline int write_wav(const char *path, const float *samples, size_t len, uint32_t sample_rate) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint32_t data_bytes = (uint32_t)(len * 2);
    fwrite("RIFF", 1, 4, f);
    put_u32(f, 36 + data_bytes);
    fwrite("WAVEfmt ", 1, 8, f);
    put_u32(f, 16);
    put_u16(f, 1);
    put_u16(f, 1);
    put_u32(f, sample_rate);
    put_u32(f, sample_rate * 2);
    put_u16(f, 2);
    put_u16(f, 16);
    fwrite("data", 1, 4, f);
    put_u32(f, data_bytes);
    for (size_t i = 0; i < len; i++) {
        float s = samples[i] < -1.0f ? -1.0f : samples[i] > 1.0f ? 1.0f : samples[i];
        put_u16(f, (uint16_t)(int16_t)lrintf(s * 32767.0f));
    }
    return fclose(f) == 0 ? 0 : 1;
}

#endif
