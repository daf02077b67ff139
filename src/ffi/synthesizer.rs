//! The synthesizer handle, its options, whole-text synthesis and the cache's figures.

use std::ffi::c_char;
use std::ptr;

use super::{
    arg_ref, ffi_boundary, indextts_status, indextts_status::*, opt_path, opt_str, out_param,
    text_arg, versioned, Failure,
};
use crate::ffi::audio::indextts_audio;
use crate::{LevelStats, StreamOptions, SynthesisOptions, Synthesizer};

/// Largest text one call accepts, in bytes (128 KiB).
#[allow(dead_code)] // For C: cbindgen writes it into the header.
pub const INDEXTTS_MAX_TEXT_BYTES: usize = 131072;
const _: () = assert!(INDEXTTS_MAX_TEXT_BYTES == crate::MAX_TEXT_BYTES);

/// A loaded voice. Thread-safe: one synthesizer may be used from many threads at once (each
/// call has its own state; model sessions are pooled inside).
pub struct indextts_synthesizer {
    pub(crate) synth: Synthesizer,
}

/// How to load a voice. Initialize with `indextts_options_default()`, which writes the
/// defaults named on each field, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct indextts_options {
    /// `sizeof(indextts_options)` as the host was compiled with; set by
    /// `indextts_options_default()`. Lets the struct grow without breaking older hosts.
    pub struct_size: u32,
    /// ONNX Runtime threads per session (default 0: as many as the machine has cores; at most
    /// 1024).
    pub threads: u32,
    /// The ONNX Runtime shared library (NULL: `$ORT_DYLIB_PATH`, else the fetched copy).
    pub ort_library: *const c_char,
    /// The espeak-ng shared library (NULL: `$INDEXTTS_ESPEAK_LIBRARY`, else the fetched copy).
    pub espeak_library: *const c_char,
    /// The espeak-ng data directory (NULL: `$INDEXTTS_ESPEAK_DATA`, else the fetched copy).
    pub espeak_data: *const c_char,
    /// Sessions of each model half, for callers running at once (1..=64, default 1; a caller
    /// beyond the pool waits for a session).
    pub sessions: u32,
    /// Acoustic frames in a stream's first vocoder window (default 0: the voice's own, 8 for
    /// every voice so far; 256 samples per frame for Piper voices, 300 for the Mandarin one;
    /// one larger than a sentence, up to UINT32_MAX, decodes it in one window).
    pub first_chunk_frames: u32,
    /// Frames per vocoder window once a stream runs (default 0: the voice's own, 128 for Piper
    /// voices, 512 for the Mandarin voice).
    pub chunk_frames: u32,
    /// Context frames decoded on each side of a window and dropped (default 0: the voice's
    /// own, 8 for Piper voices, 24 for the Mandarin voice; a voice cannot be asked for none;
    /// at most 1024).
    pub context_frames: u32,
    /// Windows of one sentence decoded at once (default 0: the voice's own, 1; at most 64).
    pub vocoder_workers: u32,
    /// Bytes of audio the in-memory sentence cache holds (default 32 MiB; 0 turns it off).
    pub cache_bytes: u64,
    /// A directory for the disk sentence cache (default NULL: no disk cache).
    pub cache_dir: *const c_char,
    /// Bytes the disk cache may hold (default 1 GiB).
    pub cache_dir_bytes: u64,
    /// A Redis server as the shared third cache level, e.g. "redis://127.0.0.1/" (default NULL:
    /// none; needs a library built with the `redis` feature).
    pub redis_url: *const c_char,
    /// Seconds Redis keeps an entry (default 7 days; 1 s to 10 years).
    pub redis_ttl_seconds: u64,
    /// Where split voices keep their compiled graphs between starts: a directory, or "off" for
    /// none (default NULL: `$INDEXTTS_GRAPH_CACHE`, else `$XDG_CACHE_HOME/indextts/graphs`,
    /// else `~/.cache/indextts/graphs`). Added in 0.2; older hosts' structs end before it.
    pub graph_cache: *const c_char,
    /// A pronunciation lexicon file, `word<TAB>ipa` lines (default NULL: none); a file that
    /// cannot be read is `INDEXTTS_IO`, a malformed line `INDEXTTS_LEXICON` (naming it). Added
    /// after 0.2; older hosts' structs end before it.
    pub lexicon: *const c_char,
    /// 1: threads follow the load; 0 (default): they do not. While several streams of this
    /// synthesizer run, their model runs then take one-thread sessions made from the
    /// compiled-graph cache, and a sample may differ from a lone stream's by about 1e-7. Other
    /// values are `INDEXTTS_INVALID_ARGUMENT`. Added after 0.2; older hosts' structs end
    /// before it.
    pub follow_load: u32,
}

impl Default for indextts_options {
    fn default() -> Self {
        indextts_options {
            struct_size: std::mem::size_of::<indextts_options>() as u32,
            threads: 0,
            ort_library: ptr::null(),
            espeak_library: ptr::null(),
            espeak_data: ptr::null(),
            sessions: 1,
            first_chunk_frames: 0,
            chunk_frames: 0,
            context_frames: 0,
            vocoder_workers: 0,
            cache_bytes: crate::DEFAULT_CACHE_BYTES,
            cache_dir: ptr::null(),
            cache_dir_bytes: crate::DEFAULT_CACHE_DIR_BYTES,
            redis_url: ptr::null(),
            redis_ttl_seconds: crate::DEFAULT_REDIS_TTL.as_secs(),
            graph_cache: ptr::null(),
            lexicon: ptr::null(),
            follow_load: 0,
        }
    }
}

/// Per-call options. Initialize with `indextts_synthesis_options_default()`, which fills in
/// the voice's own scales; pass NULL instead to use them unchanged.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct indextts_synthesis_options {
    /// `sizeof(indextts_synthesis_options)` as the host was compiled with.
    pub struct_size: u32,
    /// Phoneme duration multiplier, > 0: 1.0 is the voice's pace, 1.5 slower.
    pub length_scale: f32,
    /// Prior noise, >= 0 (0 is deterministic).
    pub noise_scale: f32,
    /// Duration noise, >= 0 (0 is deterministic).
    pub noise_w: f32,
    /// Speaker name or id for multi-speaker voices (NULL: the voice's first speaker).
    pub speaker: *const c_char,
    /// Nonzero: use `seed` for the model's random draws (0: each sentence seeds itself, so it
    /// sounds the same every time). An integer, not a `bool`, so any byte a host leaves here
    /// is a valid value (a Rust `bool` holding 2 would be undefined behaviour).
    pub use_seed: u8,
    /// The seed, when `use_seed` is nonzero.
    pub seed: u64,
}

/// The cache's counters at one level (memory, disk or Redis).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct indextts_cache_level_stats {
    /// Look-ups answered by this level.
    pub hits: u64,
    /// Look-ups it could not answer.
    pub misses: u64,
    /// Bytes of audio held.
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
    /// Entries dropped to stay within the budget.
    pub evictions: u64,
    /// Entries found corrupt or foreign, and removed.
    pub rejected: u64,
    /// Reads or writes that failed (the level was skipped).
    pub errors: u64,
}

/// What the sentence cache did, per level.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct indextts_cache_stats {
    /// The in-process LRU.
    pub memory: indextts_cache_level_stats,
    /// The disk directory.
    pub disk: indextts_cache_level_stats,
    /// The shared Redis level.
    pub redis: indextts_cache_level_stats,
}

impl From<LevelStats> for indextts_cache_level_stats {
    fn from(s: LevelStats) -> Self {
        indextts_cache_level_stats {
            hits: s.hits,
            misses: s.misses,
            bytes: s.bytes,
            entries: s.entries,
            evictions: s.evictions,
            rejected: s.rejected,
            errors: s.errors,
        }
    }
}

/// The published layouts of `indextts_options`, oldest first: the first ends before
/// `graph_cache`, the second before `lexicon`.
const OPTIONS_SIZES: [usize; 4] = [
    std::mem::offset_of!(indextts_options, graph_cache),
    std::mem::offset_of!(indextts_options, lexicon),
    std::mem::offset_of!(indextts_options, follow_load),
    std::mem::size_of::<indextts_options>(),
];
/// The published layouts of `indextts_synthesis_options`.
const SYNTHESIS_OPTIONS_SIZES: [usize; 1] = [std::mem::size_of::<indextts_synthesis_options>()];

/// Fill `*options` with the defaults (and `struct_size`).
///
/// Returns `INDEXTTS_NULL_ARGUMENT` if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn indextts_options_default(
    options: *mut indextts_options,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: checked for NULL; a valid, writable struct by the header's contract.
        let out = unsafe { out_param(options, "options") }?;
        *out = indextts_options::default();
        Ok(INDEXTTS_OK)
    })
}

/// Load a voice: `voice_path` is a fetched voice's name (`"en_US-joe-medium"`,
/// `"zh_CN-baker-fastspeech2"`), a directory with one `.onnx` and its `.onnx.json`, the `.onnx`
/// file, or a directory with a `voice.json` (FastSpeech2 + MB-MelGAN). `options` may be NULL for
/// all defaults. On success `*out` is a new
/// synthesizer, freed with `indextts_synthesizer_free()`; on failure `*out` is untouched.
///
/// ONNX Runtime is one per process: the first synthesizer loads it, and a later one that asks
/// for another library file gets `INDEXTTS_RUNTIME_CONFLICT`.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesizer_new(
    voice_path: *const c_char,
    options: *const indextts_options,
    out: *mut *mut indextts_synthesizer,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: each pointer is checked for NULL; the header states what each must point to.
        let out = unsafe { out_param(out, "out") }?;
        let voice =
            // SAFETY: NULL or a NUL-terminated string (header contract).
            unsafe { opt_path(voice_path) }.ok_or_else(|| super::null_argument("voice_path"))?;
        // SAFETY: NULL or a struct of at least its `struct_size` bytes (header contract).
        let o = unsafe {
            versioned(
                options,
                indextts_options::default(),
                "options",
                &OPTIONS_SIZES,
            )
        }?;
        let mut builder = Synthesizer::builder()
            .voice(voice)
            .sessions(o.sessions as usize)
            .cache_bytes(o.cache_bytes)
            .cache_dir_bytes(o.cache_dir_bytes)
            .redis_ttl(std::time::Duration::from_secs(o.redis_ttl_seconds))
            .stream_options(stream_options(&o))
            .follow_load(match o.follow_load {
                0 => false,
                1 => true,
                n => {
                    return Err(crate::Error::InvalidOption {
                        name: "follow_load",
                        value: n.to_string(),
                        reason: "must be 0 or 1",
                    }
                    .into())
                }
            });
        if o.threads > 0 {
            builder = builder.threads(o.threads as usize);
        }
        // SAFETY: NULL or NUL-terminated strings, by the header's contract.
        if let Some(path) = unsafe { opt_path(o.ort_library) } {
            builder = builder.ort_library(path);
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        if let Some(path) = unsafe { opt_path(o.espeak_library) } {
            builder = builder.espeak_library(path);
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        if let Some(path) = unsafe { opt_path(o.espeak_data) } {
            builder = builder.espeak_data(path);
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        if let Some(dir) = unsafe { opt_path(o.cache_dir) } {
            builder = builder.cache_dir(dir);
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        if let Some(url) = unsafe { opt_str(o.redis_url, "options.redis_url") }? {
            builder = builder.redis_url(url);
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        match unsafe { opt_str(o.graph_cache, "options.graph_cache") }? {
            Some("off") => builder = builder.graph_cache_dir(None),
            Some(dir) => builder = builder.graph_cache_dir(Some(dir.into())),
            None => {}
        }
        // SAFETY: NULL or a NUL-terminated string (header contract).
        if let Some(path) = unsafe { opt_path(o.lexicon) } {
            builder = builder.lexicon(path);
        }
        let synth = builder.build()?;
        *out = Box::into_raw(Box::new(indextts_synthesizer { synth }));
        Ok(INDEXTTS_OK)
    })
}

/// The C options' windows as the Rust ones: 0 leaves a field to the voice.
pub(crate) fn stream_options(o: &indextts_options) -> StreamOptions {
    let set = |n: u32| (n > 0).then_some(n as usize);
    StreamOptions {
        first_chunk_frames: set(o.first_chunk_frames),
        chunk_frames: set(o.chunk_frames),
        context_frames: set(o.context_frames),
        vocoder_workers: set(o.vocoder_workers),
    }
}

/// Free a synthesizer. NULL does nothing. Streams made from it stay valid (they share the
/// model) and must still be freed.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesizer_free(synth: *mut indextts_synthesizer) {
    ffi_boundary!((), {
        if !synth.is_null() {
            // SAFETY: made by Box::into_raw in indextts_synthesizer_new, freed once (the
            // header's contract).
            drop(unsafe { Box::from_raw(synth) });
        }
    })
}

/// The voice's sample rate in Hz (0 if `synth` is NULL).
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesizer_sample_rate(
    synth: *const indextts_synthesizer,
) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: NULL or a live synthesizer, by the header's contract.
        unsafe { synth.as_ref() }.map_or(0, |s| s.synth.sample_rate())
    })
}

/// Fill `*options` with this voice's own scales, no speaker and no seed.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesis_options_default(
    synth: *const indextts_synthesizer,
    options: *mut indextts_synthesis_options,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: checked for NULL; live objects by the header's contract.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let out = unsafe { out_param(options, "options") }?;
        *out = voice_defaults(&synth.synth);
        Ok(INDEXTTS_OK)
    })
}

fn voice_defaults(synth: &Synthesizer) -> indextts_synthesis_options {
    let d = synth.config().inference;
    indextts_synthesis_options {
        struct_size: std::mem::size_of::<indextts_synthesis_options>() as u32,
        length_scale: d.length_scale,
        noise_scale: d.noise_scale,
        noise_w: d.noise_w,
        speaker: ptr::null(),
        use_seed: 0,
        seed: 0,
    }
}

/// The per-call options from C (NULL: the voice's defaults), as the Rust API takes them.
///
/// # Safety
/// `options` is NULL or points to a struct initialized by
/// `indextts_synthesis_options_default()`.
pub(crate) unsafe fn synthesis_options(
    synth: &Synthesizer,
    options: *const indextts_synthesis_options,
) -> Result<SynthesisOptions, Failure> {
    // SAFETY: by this function's contract.
    let o = unsafe {
        versioned(
            options,
            voice_defaults(synth),
            "options",
            &SYNTHESIS_OPTIONS_SIZES,
        )
    }?;
    // SAFETY: NULL or a NUL-terminated string, by the header's contract.
    let speaker = unsafe { opt_str(o.speaker, "options.speaker") }?;
    Ok(SynthesisOptions {
        length_scale: Some(o.length_scale),
        noise_scale: Some(o.noise_scale),
        noise_w: Some(o.noise_w),
        speaker: speaker.map(str::to_owned),
        seed: (o.use_seed != 0).then_some(o.seed),
    })
}

/// Speak `text_len` bytes of UTF-8 at `text` (no NUL needed) and return all of the audio in
/// `*out` (free it with `indextts_audio_free()`). `options` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesize(
    synth: *const indextts_synthesizer,
    text: *const c_char,
    text_len: usize,
    options: *const indextts_synthesis_options,
    out: *mut *mut indextts_audio,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: every pointer is checked for NULL; the header states what each must be.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let out = unsafe { out_param(out, "out") }?;
        // SAFETY: NULL- and length-checked inside; `text` holds `text_len` bytes (header contract).
        let text = unsafe { text_arg(text, text_len) }?;
        // SAFETY: NULL or an initialized options struct (header contract).
        let options = unsafe { synthesis_options(&synth.synth, options) }?;
        let audio = synth.synth.synthesize(text, &options)?;
        *out = Box::into_raw(Box::new(indextts_audio { audio }));
        Ok(INDEXTTS_OK)
    })
}

/// Copy the sentence cache's counters into `*out`.
#[no_mangle]
pub unsafe extern "C" fn indextts_cache_stats_get(
    synth: *const indextts_synthesizer,
    out: *mut indextts_cache_stats,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: checked for NULL; live objects by the header's contract.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let out = unsafe { out_param(out, "out") }?;
        let stats = synth.synth.cache_stats();
        *out = indextts_cache_stats {
            memory: stats.memory.into(),
            disk: stats.disk.into(),
            redis: stats.redis.into(),
        };
        Ok(INDEXTTS_OK)
    })
}

/// Empty every level of the sentence cache (the disk directory's entries too).
#[no_mangle]
pub unsafe extern "C" fn indextts_cache_clear(
    synth: *const indextts_synthesizer,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: checked for NULL; a live synthesizer by the header's contract.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        synth.synth.clear_cache();
        Ok(INDEXTTS_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "zh")]
    use crate::family::fastspeech2;
    use crate::family::piper;
    use crate::{StreamWindows, DEFAULT_VOICE, MANDARIN_VOICE};

    /// A synthesizer made through the C ABI with `options`.
    fn c_synthesizer(voice: &str, options: &indextts_options) -> Synthesizer {
        let voice = std::ffi::CString::new(voice).unwrap();
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers; the synthesizer is freed below, after its clone is taken.
        unsafe {
            assert_eq!(
                indextts_synthesizer_new(voice.as_ptr(), options, &mut out),
                INDEXTTS_OK,
                "{}",
                crate::Synthesizer::builder()
                    .voice(voice.to_str().unwrap())
                    .build()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
            let synth = (*out).synth.clone();
            indextts_synthesizer_free(out);
            synth
        }
    }

    /// What `indextts_options_default()` writes, with 2 threads.
    fn c_defaults() -> indextts_options {
        let mut options = std::mem::MaybeUninit::<indextts_options>::zeroed();
        // SAFETY: a valid, writable struct; the call fills every field.
        let status = unsafe { indextts_options_default(options.as_mut_ptr()) };
        assert_eq!(status, INDEXTTS_OK);
        // SAFETY: written in full by indextts_options_default.
        let options = unsafe { options.assume_init() };
        indextts_options {
            threads: 2,
            ..options
        }
    }

    /// What `indextts_options_default()` writes is "the voice's own windows", as
    /// `StreamOptions::default()` is in Rust, and each voice gets its family's values either way.
    #[test]
    fn c_rust_and_voice_stream_defaults_agree() {
        let options = c_defaults();
        assert_eq!(stream_options(&options), StreamOptions::default());
        for (voice, family) in [
            (DEFAULT_VOICE, piper::WINDOWS),
            #[cfg(feature = "zh")]
            (MANDARIN_VOICE, fastspeech2::WINDOWS),
        ] {
            let rust = Synthesizer::builder()
                .voice(voice)
                .threads(2)
                .stream_options(StreamOptions::default())
                .build()
                .unwrap();
            let bare = Synthesizer::builder()
                .voice(voice)
                .threads(2)
                .build()
                .unwrap();
            let c = c_synthesizer(voice, &options);
            assert_eq!(rust.stream_options(), family, "{voice} from Rust");
            assert_eq!(
                bare.stream_options(),
                family,
                "{voice} with no stream options"
            );
            assert_eq!(c.stream_options(), family, "{voice} through C");
        }
        #[cfg(feature = "zh")]
        assert_eq!(fastspeech2::WINDOWS.context_frames, 24);
        assert_eq!(piper::WINDOWS.chunk_frames, 128);
    }

    /// The Mandarin voice through C with default options decodes with its own 24 frames of
    /// context: its stream equals one window per sentence (>= 45 dB SNR). Before 0 meant "the
    /// voice's own", the C defaults were 8 frames of context in 512-frame windows; that is
    /// measured too and printed beside it.
    #[cfg(feature = "zh")]
    #[test]
    fn the_mandarin_voice_through_c_streams_with_its_own_context() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/zh_sentences.txt"
        ))
        .unwrap();
        let texts: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let whole = Synthesizer::builder()
            .voice(MANDARIN_VOICE)
            .threads(2)
            .stream_options(StreamOptions {
                first_chunk_frames: Some(crate::MAX_SENTENCE_FRAMES),
                chunk_frames: Some(crate::MAX_SENTENCE_FRAMES),
                context_frames: Some(0),
                vocoder_workers: Some(1),
            })
            .build()
            .unwrap();
        let worst_snr = |synth: &Synthesizer| {
            let options = SynthesisOptions::default();
            let mut worst = f64::INFINITY;
            for text in &texts {
                let streamed = synth.synthesize(text, &options).unwrap().samples;
                let reference = whole.synthesize(text, &options).unwrap().samples;
                assert_eq!(streamed.len(), reference.len(), "{text}");
                worst = worst.min(crate::testkit::snr_db(&reference, &streamed));
            }
            worst
        };
        let defaults = c_defaults();
        let now = c_synthesizer(MANDARIN_VOICE, &defaults);
        assert_eq!(
            now.stream_options(),
            StreamWindows {
                context_frames: 24,
                ..now.stream_options()
            }
        );
        let before = c_synthesizer(
            MANDARIN_VOICE,
            &indextts_options {
                first_chunk_frames: 8,
                chunk_frames: 512,
                context_frames: 8,
                vocoder_workers: 1,
                ..defaults
            },
        );
        let (now_snr, before_snr) = (worst_snr(&now), worst_snr(&before));
        println!(
            "Mandarin through C, worst SNR against one window per sentence: {now_snr:.1} dB with \
             the default options (context 24), {before_snr:.1} dB with the old defaults (context 8)"
        );
        assert!(now_snr >= 45.0, "SNR {now_snr:.1} dB < 45 dB");
    }
}
