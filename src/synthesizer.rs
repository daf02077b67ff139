//! The builder, the shared `Synthesizer`, and whole-text synthesis.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audio::Audio;
use crate::cache::{CacheConfig, CacheKey, CacheStats, SentenceCache, SentenceKey, Voicing};
use crate::error::{Error, Result};
use crate::frontend::zh::MandarinFrontend;
use crate::frontend::{EspeakPaths, PiperFrontend, Sentence, TextFrontend};
use crate::model::graph_cache::GraphCache;
use crate::model::{runtime, FastSpeech2Model, PiperModel, Scales, SessionCounts, VoiceModel};
use crate::stream::{audio_stream, frame_stream, AudioStream, FrameStream, Frames};
use crate::vocoder::{decode_in_order, plan, StreamOptions};
use crate::voice::{find_voice, MelVoiceSpec, VoiceConfig, VoiceFamily, VoicePaths};

/// Largest text accepted by one call, in bytes (128 KiB: about two and a half hours of speech,
/// whose whole audio is some 800 MB of `f32` samples). Longer texts are split by the caller
/// (chapters, paragraphs) and streamed call after call.
pub const MAX_TEXT_BYTES: usize = 128 << 10;

/// Name of the default voice, fetched by `scripts/fetch_assets.py`.
pub const DEFAULT_VOICE: &str = "en_US-joe-medium";

/// Name of the Mandarin voice (FastSpeech2 + MB-MelGAN, Baker), fetched by
/// `scripts/fetch_assets.py --zh`.
pub const MANDARIN_VOICE: &str = "zh_CN-baker-fastspeech2";

/// Per-call synthesis options; `None` takes the voice's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthesisOptions {
    /// Phoneme duration multiplier, > 0: 1.0 is the voice's pace, 1.5 is slower.
    pub length_scale: Option<f32>,
    /// Prior noise, >= 0: variation in voice quality (0 is deterministic).
    pub noise_scale: Option<f32>,
    /// Duration noise, >= 0: variation in rhythm (0 is deterministic).
    pub noise_w: Option<f32>,
    /// Speaker name or id, for multi-speaker voices.
    pub speaker: Option<String>,
    /// Seed of the model's random draws. `None`: derived from each sentence (its phonemes,
    /// the voice, speaker and scales), so a sentence sounds the same every time. The same seed
    /// gives the same samples, bit for bit, across calls, runs and processes that use the same
    /// number of ONNX Runtime threads (a different count rounds reductions differently).
    pub seed: Option<u64>,
}

/// Builds a [`Synthesizer`]. Paths left unset come from the environment, then from the
/// project's fetched assets (`models/assets`, or `$INDEXTTS_ASSETS`).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SynthesizerBuilder {
    voice: Option<PathBuf>,
    ort_library: Option<PathBuf>,
    espeak_library: Option<PathBuf>,
    espeak_data: Option<PathBuf>,
    threads: Option<usize>,
    sessions: Option<usize>,
    stream_options: Option<StreamOptions>,
    cache_bytes: Option<u64>,
    cache_dir: Option<PathBuf>,
    cache_dir_bytes: Option<u64>,
    redis_url: Option<String>,
    redis_ttl: Option<std::time::Duration>,
    no_split: bool,
    graph_cache: Option<Option<PathBuf>>,
}

/// Default budget of the in-memory sentence cache: 32 MiB (about 6 minutes of 22.05 kHz audio).
pub const DEFAULT_CACHE_BYTES: u64 = 32 << 20;
/// How long Redis keeps an entry by default: 7 days.
pub const DEFAULT_REDIS_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// Default budget of the disk sentence cache: 1 GiB.
pub const DEFAULT_CACHE_DIR_BYTES: u64 = 1 << 30;

impl SynthesizerBuilder {
    /// The voice: a name from the fetched voices (`en_US-joe-medium`,
    /// `zh_CN-baker-fastspeech2`), a Piper voice's directory or `.onnx` file, or a directory with
    /// a `voice.json` (FastSpeech2 + MB-MelGAN). Default: `en_US-joe-medium`.
    pub fn voice(mut self, path: impl Into<PathBuf>) -> Self {
        self.voice = Some(path.into());
        self
    }

    /// ONNX Runtime's shared library. Default: `$ORT_DYLIB_PATH`, then the fetched copy.
    pub fn ort_library(mut self, path: impl Into<PathBuf>) -> Self {
        self.ort_library = Some(path.into());
        self
    }

    /// espeak-ng's shared library. Default: `$INDEXTTS_ESPEAK_LIBRARY`, then the fetched copy.
    pub fn espeak_library(mut self, path: impl Into<PathBuf>) -> Self {
        self.espeak_library = Some(path.into());
        self
    }

    /// espeak-ng's data directory. Default: `$INDEXTTS_ESPEAK_DATA`, then the fetched copy.
    pub fn espeak_data(mut self, path: impl Into<PathBuf>) -> Self {
        self.espeak_data = Some(path.into());
        self
    }

    /// ONNX Runtime intra-op threads per session (default: the number of cores).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Sessions of each model half, for callers running at once (default 1; a caller beyond
    /// the pool waits for a session). Vocoder sessions are at least `vocoder_workers`.
    pub fn sessions(mut self, sessions: usize) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// How streams cut sentences into vocoder windows (see [`StreamOptions`]). Default:
    /// [`StreamOptions::default`] with the voice's own vocoder context (8 frames for Piper
    /// voices, 24 for MB-MelGAN).
    pub fn stream_options(mut self, options: StreamOptions) -> Self {
        self.stream_options = Some(options);
        self
    }

    /// Bytes of audio the in-memory sentence cache may hold (default [`DEFAULT_CACHE_BYTES`];
    /// 0 turns it off). Entries are whole sentences, evicted least recently used first.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }

    /// A directory for the disk sentence cache (off by default): entries survive restarts and
    /// can be shared by several processes.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Bytes the disk cache may hold (default [`DEFAULT_CACHE_DIR_BYTES`]).
    pub fn cache_dir_bytes(mut self, bytes: u64) -> Self {
        self.cache_dir_bytes = Some(bytes);
        self
    }

    /// A Redis server shared by many nodes as a third cache level, e.g. `redis://127.0.0.1/`
    /// (needs the cargo feature `redis`; without it, `build()` refuses the option). A dead or
    /// slow Redis costs one 50 ms timeout, then is skipped until it answers again.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// How long Redis keeps an entry (default 7 days).
    pub fn redis_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.redis_ttl = Some(ttl);
        self
    }

    /// Where split voices keep their compiled graphs (ONNX Runtime's optimized halves), so that
    /// the next start loads them instead of splitting and optimizing again; `None` turns the
    /// cache off. Default: `$INDEXTTS_GRAPH_CACHE` (`off` turns it off), else
    /// `$XDG_CACHE_HOME/indextts/graphs`, else `~/.cache/indextts/graphs`. Entries are keyed by
    /// the model, its config, the ONNX Runtime build and the CPU's vector features.
    pub fn graph_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.graph_cache = Some(dir);
        self
    }

    /// Whether to split the graph into acoustic model and vocoder (default `true`; `false`
    /// runs the whole graph, as Piper does).
    pub fn graph_split(mut self, split: bool) -> Self {
        self.no_split = !split;
        self
    }

    /// Load ONNX Runtime, espeak-ng and the voice; validate them against each other.
    pub fn build(self) -> Result<Synthesizer> {
        let voice = find_voice(
            self.voice.as_deref().unwrap_or(Path::new(DEFAULT_VOICE)),
            &assets_dir(),
        )?;
        let paths = VoicePaths::locate(&voice)?;
        // Read once: parsed here, hashed into the voice's fingerprint below.
        let config_bytes = std::fs::read(&paths.config).map_err(|e| Error::io(&paths.config, e))?;
        let (config, mel_voice) = match paths.family {
            VoiceFamily::FastSpeech2 => {
                let spec = MelVoiceSpec::from_file(&paths.config)?;
                let mapper =
                    std::fs::read(&spec.symbols).map_err(|e| Error::io(&spec.symbols, e))?;
                (spec.config(&mapper)?, Some((spec, mapper)))
            }
            _ => (VoiceConfig::from_json(&config_bytes, &paths.config)?, None),
        };
        let ort_library = self
            .ort_library
            .or_else(|| env_path("ORT_DYLIB_PATH"))
            .unwrap_or_else(|| assets_dir().join("onnxruntime/libonnxruntime.so.1.31.1"));
        let espeak = EspeakPaths {
            library: self
                .espeak_library
                .or_else(|| env_path("INDEXTTS_ESPEAK_LIBRARY"))
                .unwrap_or_else(|| assets_dir().join("espeak-ng/libespeak-ng.so.1.52.0")),
            data: self
                .espeak_data
                .or_else(|| env_path("INDEXTTS_ESPEAK_DATA"))
                .unwrap_or_else(|| assets_dir().join("espeak-ng/espeak-ng-data")),
        };
        let threads = match self.threads {
            Some(0) => {
                return Err(Error::InvalidOption {
                    name: "threads",
                    value: "0".into(),
                    reason: "must be at least 1",
                })
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let sessions = match self.sessions {
            Some(n @ (0 | 65..)) => {
                return Err(Error::InvalidOption {
                    name: "sessions",
                    value: n.to_string(),
                    reason: "must be in 1..=64",
                })
            }
            Some(n) => n,
            None => 1,
        };
        if let Some(options) = &self.stream_options {
            options.validate()?;
        }
        let workers = self
            .stream_options
            .map_or(StreamOptions::default().vocoder_workers, |o| {
                o.vocoder_workers
            });
        let env = runtime::environment(&ort_library)?;
        let counts = SessionCounts {
            threads,
            acoustic: sessions,
            vocoder: sessions.max(workers),
        };
        let (frontend, model): (Box<dyn TextFrontend>, Box<dyn VoiceModel>) = match mel_voice {
            Some((spec, mapper)) => (
                Box::new(MandarinFrontend::new(&spec, &config, &mapper)?),
                Box::new(FastSpeech2Model::load(
                    env,
                    &spec.acoustic,
                    &spec.vocoder,
                    config.num_symbols,
                    counts,
                )?),
            ),
            None => (
                Box::new(PiperFrontend::new(&config, espeak)?),
                Box::new(PiperModel::load(
                    env,
                    &paths.model,
                    &paths.config,
                    &config,
                    &config_bytes,
                    counts,
                    !self.no_split,
                    self.graph_cache
                        .unwrap_or_else(default_graph_cache)
                        .map(GraphCache::new)
                        .as_ref(),
                )?),
            ),
        };
        let stream_options = self.stream_options.unwrap_or(StreamOptions {
            context_frames: model.vocoder_context_frames(),
            chunk_frames: model.vocoder_chunk_frames(),
            ..StreamOptions::default()
        });
        let fingerprint = {
            let mut h = blake3::Hasher::new();
            h.update(model.fingerprint().as_bytes());
            h.update(&config_bytes);
            h.finalize()
        };
        // Cached audio is only honest when a seed fixes the draws.
        let cache = SentenceCache::new(
            &if model.is_seeded() {
                CacheConfig {
                    memory_bytes: self.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES),
                    dir: self.cache_dir,
                    dir_bytes: self.cache_dir_bytes.unwrap_or(DEFAULT_CACHE_DIR_BYTES),
                    redis_url: self.redis_url,
                    redis_ttl: self.redis_ttl.unwrap_or(DEFAULT_REDIS_TTL),
                }
            } else {
                CacheConfig::default()
            },
            config.sample_rate,
        )?;
        Ok(Synthesizer {
            inner: Arc::new(Inner {
                cache,
                fingerprint,
                config,
                paths,
                model,
                frontend,
                stream_options,
            }),
        })
    }
}

/// The directory of fetched assets: `$INDEXTTS_ASSETS`, else this checkout's `models/assets`.
pub fn assets_dir() -> PathBuf {
    env_path("INDEXTTS_ASSETS")
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assets"))
}

/// `$INDEXTTS_GRAPH_CACHE` (`off`: none), else `$XDG_CACHE_HOME/indextts/graphs`, else
/// `~/.cache/indextts/graphs`.
fn default_graph_cache() -> Option<PathBuf> {
    match std::env::var_os("INDEXTTS_GRAPH_CACHE") {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => env_path("XDG_CACHE_HOME")
            .or_else(|| env_path("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("indextts/graphs")),
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub(crate) struct Inner {
    pub(crate) config: VoiceConfig,
    pub(crate) paths: VoicePaths,
    pub(crate) model: Box<dyn VoiceModel>,
    pub(crate) frontend: Box<dyn TextFrontend>,
    pub(crate) stream_options: StreamOptions,
    /// blake3 of the model and the config: part of every sentence's key.
    pub(crate) fingerprint: blake3::Hash,
    pub(crate) cache: SentenceCache,
}

impl Inner {
    /// The key of a sentence's audio (and so its seed).
    pub(crate) fn sentence_key(&self, phoneme_ids: &[i64], voicing: &Voicing) -> SentenceKey {
        SentenceKey::new(&self.fingerprint, phoneme_ids, voicing)
    }

    /// The cache key of a sentence decoded as a stream's first sentence or not (the first one
    /// is decoded in smaller windows), when the cache is on.
    pub(crate) fn cache_key(&self, sentence: &SentenceKey, first: bool) -> Option<CacheKey> {
        if !self.cache.is_enabled() {
            return None;
        }
        let o = self.stream_options;
        let first_frames = if first {
            o.first_chunk_frames as u64
        } else {
            0
        };
        Some(CacheKey::new(
            sentence,
            &[first_frames, o.chunk_frames as u64, o.context_frames as u64],
        ))
    }
}

/// A loaded voice, ready to speak. Cheap to clone; clones share the model. `Send + Sync`:
/// one synthesizer can serve many threads.
#[derive(Clone)]
pub struct Synthesizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("voice", &self.inner.paths.model)
            .field("sample_rate", &self.inner.config.sample_rate)
            .field("model", &self.inner.model)
            .finish()
    }
}

impl Synthesizer {
    /// Start building a synthesizer.
    pub fn builder() -> SynthesizerBuilder {
        SynthesizerBuilder::default()
    }

    /// The voice's config.
    pub fn config(&self) -> &VoiceConfig {
        &self.inner.config
    }

    /// The voice's files.
    pub fn voice_paths(&self) -> &VoicePaths {
        &self.inner.paths
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.inner.config.sample_rate
    }

    /// Whether a seed fixes the voice's random draws (true for Piper VITS voices, whose flow is
    /// split out; a voice that runs whole draws inside ONNX Runtime).
    pub fn is_seeded(&self) -> bool {
        self.inner.model.is_seeded()
    }

    /// Whether the voice's graph was split into acoustic model and vocoder.
    pub fn is_split(&self) -> bool {
        self.inner.model.is_split()
    }

    /// Output samples per acoustic frame (0 when the graph is not split).
    pub fn samples_per_frame(&self) -> usize {
        self.inner.model.samples_per_frame()
    }

    /// Channels of an acoustic frame (0 when the graph is not split).
    pub fn frame_channels(&self) -> usize {
        self.inner.model.frame_channels()
    }

    /// The stream options this synthesizer was built with.
    pub fn stream_options(&self) -> StreamOptions {
        self.inner.stream_options
    }

    /// Text to sentences of phonemes and model ids, without synthesizing.
    pub fn phonemize(&self, text: &str) -> Result<Vec<Sentence>> {
        check_text(text)?;
        let sentences = self.inner.frontend.all_sentences(text)?;
        report_missing(&sentences);
        Ok(sentences)
    }

    /// Speak `text`, streaming: chunks of audio come as they are made, the first one after the
    /// first sentence's acoustic model and one small vocoder window. Options and the text's
    /// length are checked now; errors later end the stream after one `Err`.
    pub fn stream(&self, text: &str, options: &SynthesisOptions) -> Result<AudioStream> {
        check_text(text)?;
        let voicing = self.resolve(options)?;
        audio_stream(Arc::clone(&self.inner), text.to_owned(), voicing)
    }

    /// The acoustic model's frames for `text`, one [`Frames`] per sentence, before the vocoder:
    /// for a caller that vocodes elsewhere (see [`Synthesizer::vocode`]).
    pub fn frames(&self, text: &str, options: &SynthesisOptions) -> Result<FrameStream> {
        check_text(text)?;
        if !self.is_split() {
            return Err(Error::NotSplit);
        }
        let voicing = self.resolve(options)?;
        frame_stream(Arc::clone(&self.inner), text.to_owned(), voicing)
    }

    /// Decode frames to audio with the chunked vocoder (windows of `chunk_frames`).
    pub fn vocode(&self, frames: &Frames) -> Result<Audio> {
        if !self.is_split() {
            return Err(Error::NotSplit);
        }
        let options = self.inner.stream_options;
        let windows = plan(
            frames.data.ncols(),
            options.chunk_frames,
            options.chunk_frames,
            options.context_frames,
        );
        let mut samples = Vec::with_capacity(frames.data.ncols() * self.samples_per_frame());
        let never = std::sync::atomic::AtomicBool::new(false);
        decode_in_order(
            &*self.inner.model,
            frames.data.view(),
            &windows,
            frames.speaker,
            options.vocoder_workers,
            &never,
            |chunk, _| {
                samples.extend(chunk);
                true
            },
        )?;
        Ok(Audio {
            samples,
            sample_rate: self.sample_rate(),
        })
    }

    /// What the sentence cache did, per level.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Empty every level of the sentence cache (the disk directory's entries too).
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    /// Synthesize `texts` ahead of time so that they are cached (a template's fixed phrases, an
    /// IVR menu); returns once their disk entries are written too.
    pub fn prewarm<I, S>(&self, texts: I, options: &SynthesisOptions) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for text in texts {
            for chunk in self.stream(text.as_ref(), options)? {
                chunk?;
            }
        }
        self.inner.cache.flush();
        Ok(())
    }

    /// Speak `text` and return all of its audio: [`Synthesizer::stream`], collected. Empty or
    /// blank text is [`Error::EmptyText`].
    pub fn synthesize(&self, text: &str, options: &SynthesisOptions) -> Result<Audio> {
        let mut samples = Vec::new();
        for chunk in self.stream(text, options)? {
            samples.extend_from_slice(&chunk?.samples);
        }
        Ok(Audio {
            samples,
            sample_rate: self.sample_rate(),
        })
    }

    /// Check `options` and fill in the voice's defaults.
    fn resolve(&self, options: &SynthesisOptions) -> Result<Voicing> {
        let defaults = self.inner.config.inference;
        let scales = Scales {
            noise_scale: options.noise_scale.unwrap_or(defaults.noise_scale),
            length_scale: options.length_scale.unwrap_or(defaults.length_scale),
            noise_w: options.noise_w.unwrap_or(defaults.noise_w),
        };
        let invalid = |name: &'static str, value: f32, reason: &'static str| Error::InvalidOption {
            name,
            value: value.to_string(),
            reason,
        };
        if !(scales.length_scale.is_finite()
            && scales.length_scale > 0.0
            && scales.length_scale <= 10.0)
        {
            return Err(invalid(
                "length_scale",
                scales.length_scale,
                "must be a number in (0, 10]",
            ));
        }
        for (name, value) in [
            ("noise_scale", scales.noise_scale),
            ("noise_w", scales.noise_w),
        ] {
            if !(value.is_finite() && (0.0..=10.0).contains(&value)) {
                return Err(invalid(name, value, "must be a number in [0, 10]"));
            }
        }
        let sid = match &options.speaker {
            Some(name) => Some(self.inner.config.speaker_id(name)?),
            None if self.inner.config.num_speakers > 1 => Some(0),
            None => None,
        };
        Ok(Voicing {
            scales,
            sid,
            seed: options.seed,
        })
    }
}

/// `text` is within [`MAX_TEXT_BYTES`] and not blank.
pub(crate) fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::TextTooLong {
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(Error::EmptyText { len: text.len() });
    }
    Ok(())
}

/// Log each symbol the voice lacks once per process.
pub(crate) fn report_missing(sentences: &[Sentence]) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static REPORTED: Mutex<BTreeSet<char>> = Mutex::new(BTreeSet::new());
    if sentences.iter().all(|s| s.missing.is_empty()) {
        return;
    }
    let mut reported = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    for c in sentences.iter().flat_map(|s| s.missing.iter()) {
        if reported.insert(*c) {
            tracing::warn!(
                symbol = %c,
                codepoint = format!("U+{:04X}", u32::from(*c)),
                "the voice has no id for this phoneme; it is skipped"
            );
        }
    }
}
