/*
 * indextts for C++17: header-only RAII wrappers over the C ABI in indextts.h.
 *
 *   indextts::Synthesizer synth("models/assets/voices/en_US-joe-medium",
 *                               indextts::Options().threads(2));
 *   indextts::Audio audio = synth.synthesize("Hello from C++.");
 *   for (const std::vector<float>& chunk : synth.stream("Streamed, chunk by chunk.")) { ... }
 *   for (const indextts::Chunk& chunk : synth.chunks("Each word, when it is said.")) {
 *       for (const indextts::Word& w : chunk.words) { ... w.text, w.start_sample ... }
 *   }
 *
 * Failures throw indextts::Error, which carries the status and the library's message.
 * Synthesizer and Stream are move-only; a Synthesizer may be shared by reference between
 * threads (the C library is thread-safe for it); a Stream is used by one thread at a time.
 */
#ifndef INDEXTTS_HPP
#define INDEXTTS_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "indextts.h"

namespace indextts {

/// A failed call: the status and the library's message.
class Error : public std::runtime_error {
public:
    Error(indextts_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}

    /// The status the C call returned.
    indextts_status status() const noexcept { return status_; }

private:
    indextts_status status_;
};

namespace detail {
/// Throw the library's error for a failed status (the message is read at once: it lives only
/// until the next call on this thread).
inline void check(indextts_status status) {
    if (status != INDEXTTS_OK) {
        throw Error(status, indextts_last_error());
    }
}

/// A text's bytes for the C calls (an empty view may have no data pointer at all).
inline const char *bytes(std::string_view text) { return text.data() ? text.data() : ""; }

/// Owns an indextts_stream: move-only; destroying it frees the stream (cancelling a synthesis
/// still running).
class StreamHandle {
public:
    explicit StreamHandle(indextts_stream *raw) : raw_(raw) {}
    StreamHandle(StreamHandle &&other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
    StreamHandle &operator=(StreamHandle &&other) noexcept {
        if (this != &other) {
            indextts_stream_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }
    StreamHandle(const StreamHandle &) = delete;
    StreamHandle &operator=(const StreamHandle &) = delete;
    ~StreamHandle() { indextts_stream_free(raw_); }

    indextts_stream *get() const noexcept { return raw_; }

private:
    indextts_stream *raw_;
};

/// The input iterator of a stream `S` whose `next()` reads its next item into `chunk()`.
template <typename S, typename T>
class ChunkIterator {
public:
    using value_type = T;
    using reference = const T &;
    using pointer = const T *;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;

    ChunkIterator() = default;
    explicit ChunkIterator(S *stream) : stream_(stream) { advance(); }
    reference operator*() const { return stream_->chunk(); }
    pointer operator->() const { return &stream_->chunk(); }
    ChunkIterator &operator++() { advance(); return *this; }
    bool operator==(const ChunkIterator &other) const { return stream_ == other.stream_; }
    bool operator!=(const ChunkIterator &other) const { return stream_ != other.stream_; }

private:
    void advance() {
        if (stream_ && !stream_->next()) stream_ = nullptr;
    }
    S *stream_ = nullptr;
};
}  // namespace detail

/// The library's version, e.g. "0.1.0".
inline std::string version() { return indextts_version(); }
/// Cap glibc's malloc arenas at one per core (see indextts_limit_malloc_arenas()).
inline bool limit_malloc_arenas() { return indextts_limit_malloc_arenas() == 1; }

/// How to load a voice: the defaults of indextts_options_default(), changed by chained setters.
class Options {
public:
    Options() { detail::check(indextts_options_default(&raw_)); }

    /// ONNX Runtime threads per session (0: all cores).
    Options &threads(uint32_t n) { raw_.threads = n; return *this; }
    /// Model sessions for callers running at once.
    Options &sessions(uint32_t n) { raw_.sessions = n; return *this; }
    /// The ONNX Runtime shared library.
    Options &ort_library(std::string path) { ort_library_ = std::move(path); return *this; }
    /// Bytes of audio the in-memory sentence cache holds (0: off).
    Options &cache_bytes(uint64_t bytes) { raw_.cache_bytes = bytes; return *this; }
    /// A directory for the disk sentence cache.
    Options &cache_dir(std::string dir) { cache_dir_ = std::move(dir); return *this; }
    /// A Redis URL for the shared cache level.
    Options &redis_url(std::string url) { redis_url_ = std::move(url); return *this; }
    /// Where compiled graphs are kept between starts ("off": none; unset: the default place).
    Options &graph_cache(std::string dir) { graph_cache_ = std::move(dir); return *this; }
    /// Frames in a stream's first vocoder window (0: the voice's own).
    Options &first_chunk_frames(uint32_t n) { raw_.first_chunk_frames = n; return *this; }
    /// Windows of one sentence decoded at once.
    Options &vocoder_workers(uint32_t n) { raw_.vocoder_workers = n; return *this; }
    /// A pronunciation lexicon file (`word<TAB>ipa` lines).
    Options &lexicon(std::string path) { lexicon_ = std::move(path); return *this; }
    /// Threads that follow the load: overlapping streams run on one-thread sessions.
    Options &follow_load(bool on) { raw_.follow_load = on ? 1 : 0; return *this; }

    /// The C struct, pointing into this object's strings (valid while it lives, unchanged).
    indextts_options raw() const {
        indextts_options o = raw_;
        o.ort_library = ort_library_.empty() ? nullptr : ort_library_.c_str();
        o.cache_dir = cache_dir_.empty() ? nullptr : cache_dir_.c_str();
        o.redis_url = redis_url_.empty() ? nullptr : redis_url_.c_str();
        o.graph_cache = graph_cache_.empty() ? nullptr : graph_cache_.c_str();
        o.lexicon = lexicon_.empty() ? nullptr : lexicon_.c_str();
        return o;
    }

private:
    indextts_options raw_{};
    std::string ort_library_, cache_dir_, redis_url_, graph_cache_, lexicon_;
};

/// Per-call options, starting from the voice's own scales (Synthesizer::default_options()).
class SynthesisOptions {
public:
    explicit SynthesisOptions(const indextts_synthesis_options &raw) : raw_(raw) {}

    /// Phoneme duration multiplier, > 0 (1.5 is slower).
    SynthesisOptions &length_scale(float v) { raw_.length_scale = v; return *this; }
    /// Prior noise, >= 0.
    SynthesisOptions &noise_scale(float v) { raw_.noise_scale = v; return *this; }
    /// Duration noise, >= 0.
    SynthesisOptions &noise_w(float v) { raw_.noise_w = v; return *this; }
    /// A fixed seed for the model's random draws.
    SynthesisOptions &seed(uint64_t seed) { raw_.use_seed = 1; raw_.seed = seed; return *this; }
    /// A speaker name or id (multi-speaker voices).
    SynthesisOptions &speaker(std::string name) { speaker_ = std::move(name); return *this; }

    /// The C struct, pointing into this object's speaker string.
    indextts_synthesis_options raw() const {
        indextts_synthesis_options o = raw_;
        o.speaker = speaker_.empty() ? nullptr : speaker_.c_str();
        return o;
    }

private:
    indextts_synthesis_options raw_;
    std::string speaker_;
};

/// Whole audio, copied out of the library: mono float samples in [-1, 1].
struct Audio {
    std::vector<float> samples;
    uint32_t sample_rate = 0;

    /// Length in seconds.
    double duration() const {
        return sample_rate ? static_cast<double>(samples.size()) / sample_rate : 0.0;
    }
};

/// A word of the text and when it is said (samples from the start of the audio).
struct Word {
    std::string text;
    /// Its bytes in the input text: [text_start, text_end).
    size_t text_start = 0, text_end = 0;
    uint64_t start_sample = 0, end_sample = 0;
};

/// A phoneme the model says, its id, and when.
struct Phoneme {
    std::string phoneme;
    int64_t id = 0;
    uint64_t start_sample = 0, end_sample = 0;
};

/// A chunk of audio with the words and phonemes that start in it, copied out of the library.
struct Chunk {
    std::vector<float> samples;
    uint32_t sample_rate = 0;
    size_t sentence = 0;
    uint64_t start_sample = 0;
    bool sentence_end = false;
    std::vector<Word> words;
    std::vector<Phoneme> phonemes;

    /// A copy of the library's chunk (valid only until its next call).
    static Chunk from(const indextts_chunk &c) {
        Chunk out;
        out.samples.assign(c.samples, c.samples + c.len);
        out.sample_rate = c.sample_rate;
        out.sentence = c.sentence;
        out.start_sample = c.start_sample;
        out.sentence_end = c.sentence_end;
        for (size_t i = 0; i < c.words_len; i++) {
            const indextts_word_mark &w = c.words[i];
            out.words.push_back({w.text, w.text_start, w.text_end, w.start_sample, w.end_sample});
        }
        for (size_t i = 0; i < c.phonemes_len; i++) {
            const indextts_phoneme_mark &p = c.phonemes[i];
            out.phonemes.push_back({p.phoneme, p.id, p.start_sample, p.end_sample});
        }
        return out;
    }
};

/// A running synthesis read chunk by chunk with its marks: iterate it (range-for). Move-only;
/// destroying it cancels the synthesis.
class ChunkStream {
public:
    using iterator = detail::ChunkIterator<ChunkStream, Chunk>;

    /// Chunks as they are made. Iterate once.
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    /// Read the next chunk into chunk(); false at the end. Throws on a failure.
    bool next() {
        const indextts_chunk *raw = nullptr;
        indextts_status status = indextts_stream_next_chunk(raw_.get(), &raw);
        if (status == INDEXTTS_STREAM_END) {
            chunk_ = Chunk();
            return false;
        }
        detail::check(status);
        chunk_ = Chunk::from(*raw);
        return true;
    }

    /// The last chunk read.
    const Chunk &chunk() const { return chunk_; }

private:
    friend class Synthesizer;
    explicit ChunkStream(indextts_stream *raw) : raw_(raw) {}

    detail::StreamHandle raw_;
    Chunk chunk_;
};

/// A running synthesis: iterate it for chunks of samples (range-for). Move-only; destroying
/// it cancels the synthesis.
class Stream {
public:
    using iterator = detail::ChunkIterator<Stream, std::vector<float>>;

    /// Chunks of at most `capacity` samples, as they are made. Iterate once.
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    /// Samples per second.
    uint32_t sample_rate() const { return indextts_stream_sample_rate(raw_.get()); }

    /// Read the next chunk into chunk(); false at the end. Throws on a failure.
    bool next() {
        chunk_.resize(capacity);
        size_t written = 0;
        indextts_status status =
            indextts_stream_next(raw_.get(), chunk_.data(), chunk_.size(), &written);
        if (status == INDEXTTS_STREAM_END) {
            chunk_.clear();
            return false;
        }
        detail::check(status);
        chunk_.resize(written);
        return true;
    }

    /// The last chunk read.
    const std::vector<float> &chunk() const { return chunk_; }

    /// Largest chunk handed out at once, in samples.
    static constexpr size_t capacity = 4096;

private:
    friend class Synthesizer;
    explicit Stream(indextts_stream *raw) : raw_(raw) {}

    detail::StreamHandle raw_;
    std::vector<float> chunk_;
};

/// Cache counters per level.
using CacheStats = indextts_cache_stats;

/// A loaded voice. Move-only; thread-safe to share by reference.
class Synthesizer {
public:
    /// Load the voice at `voice_path` (a directory with one .onnx and its .onnx.json, or the
    /// .onnx file).
    explicit Synthesizer(const std::string &voice_path, const Options &options = Options()) {
        indextts_options raw = options.raw();
        detail::check(indextts_synthesizer_new(voice_path.c_str(), &raw, &raw_));
    }
    Synthesizer(Synthesizer &&other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
    Synthesizer &operator=(Synthesizer &&other) noexcept {
        if (this != &other) {
            indextts_synthesizer_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }
    Synthesizer(const Synthesizer &) = delete;
    Synthesizer &operator=(const Synthesizer &) = delete;
    ~Synthesizer() { indextts_synthesizer_free(raw_); }

    /// The voice's sample rate in Hz.
    uint32_t sample_rate() const { return indextts_synthesizer_sample_rate(raw_); }

    /// The voice's own scales, no speaker, no seed: a starting point for per-call options.
    SynthesisOptions default_options() const {
        indextts_synthesis_options raw{};
        detail::check(indextts_synthesis_options_default(raw_, &raw));
        return SynthesisOptions(raw);
    }

    /// Speak `text` and return all of its audio.
    Audio synthesize(std::string_view text) const { return synthesize(text, nullptr); }
    Audio synthesize(std::string_view text, const SynthesisOptions &options) const {
        indextts_synthesis_options raw = options.raw();
        return synthesize(text, &raw);
    }

    /// Speak `text` as a stream of chunks (range-for over the result).
    Stream stream(std::string_view text) const { return stream(text, nullptr); }
    Stream stream(std::string_view text, const SynthesisOptions &options) const {
        indextts_synthesis_options raw = options.raw();
        return stream(text, &raw);
    }

    /// Speak `text` as a stream of chunks with their word and phoneme marks.
    ChunkStream chunks(std::string_view text) const { return ChunkStream(open(text, nullptr)); }
    ChunkStream chunks(std::string_view text, const SynthesisOptions &options) const {
        indextts_synthesis_options raw = options.raw();
        return ChunkStream(open(text, &raw));
    }

    /// Speak `text`, calling `on_chunk(const float *samples, size_t len)` with each chunk as it
    /// is made; `on_chunk` returns false to cancel. Returns false if it cancelled. An exception
    /// from `on_chunk` cancels the synthesis and is rethrown here.
    template <typename F>
    bool synthesize_stream(std::string_view text, F &&on_chunk) const {
        struct Context {
            F *callback;
            std::exception_ptr error;
        } context{&on_chunk, nullptr};
        auto trampoline = [](void *user_data, const float *samples, size_t len,
                             uint32_t) -> bool {
            auto *ctx = static_cast<Context *>(user_data);
            try {
                return (*ctx->callback)(samples, len);
            } catch (...) {
                ctx->error = std::current_exception();
                return false;
            }
        };
        indextts_status status = indextts_synthesize_stream(raw_, detail::bytes(text), text.size(),
                                                            nullptr, trampoline, &context);
        if (context.error) std::rethrow_exception(context.error);
        if (status == INDEXTTS_CANCELLED) return false;
        detail::check(status);
        return true;
    }

    /// What the sentence cache did, per level.
    CacheStats cache_stats() const {
        CacheStats stats{};
        detail::check(indextts_cache_stats_get(raw_, &stats));
        return stats;
    }

    /// Empty every level of the sentence cache.
    void clear_cache() const { detail::check(indextts_cache_clear(raw_)); }

    /// The C handle, for calls this wrapper does not cover.
    const indextts_synthesizer *get() const noexcept { return raw_; }

private:
    Audio synthesize(std::string_view text, const indextts_synthesis_options *options) const {
        indextts_audio *raw = nullptr;
        detail::check(indextts_synthesize(raw_, detail::bytes(text), text.size(), options, &raw));
        const float *samples = indextts_audio_samples(raw);
        Audio audio{std::vector<float>(samples, samples + indextts_audio_len(raw)),
                    indextts_audio_sample_rate(raw)};
        indextts_audio_free(raw);
        return audio;
    }

    Stream stream(std::string_view text, const indextts_synthesis_options *options) const {
        return Stream(open(text, options));
    }

    indextts_stream *open(std::string_view text, const indextts_synthesis_options *options) const {
        indextts_stream *raw = nullptr;
        detail::check(indextts_stream_new(raw_, detail::bytes(text), text.size(), options, &raw));
        return raw;
    }

    indextts_synthesizer *raw_ = nullptr;
};

}  // namespace indextts

#endif  // INDEXTTS_HPP
