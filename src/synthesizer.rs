//! The builder and the shared `Synthesizer`: what a caller holds. The voice is located and
//! loaded by its family (`family/`); calls go to the engine (`engine.rs`) and its streams.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::assets::{self, env_path};
use crate::audio::Audio;
use crate::cache::{CacheConfig, CacheStats, Seal, SentenceCache, Sharing};
use crate::engine::{check_text, report_missing, Engine, SynthesisOptions};
use crate::error::{Error, Result};
use crate::family::{self, LoadOptions};
use crate::frontend::{EspeakPaths, Sentence};
use crate::model::graph_cache::{self, GraphCache};
use crate::model::{SessionCounts, VoiceLoad};
use crate::stream::{
    audio_stream, frame_stream, text_audio_stream, AudioStream, FrameStream, Frames,
};
use crate::text_stream::TextSink;
use crate::vocoder::{decode_in_order, plan, StreamOptions, StreamWindows};
use crate::voice::{find_voice_in, VoiceConfig, VoicePaths};

/// Name of the default voice, fetched by `scripts/fetch_assets.py`.
pub const DEFAULT_VOICE: &str = "en_US-joe-medium";

/// Name of the Mandarin voice (FastSpeech2 + MB-MelGAN, Baker), fetched by
/// `scripts/fetch_assets.py --zh`.
pub const MANDARIN_VOICE: &str = "zh_CN-baker-fastspeech2";

/// Builds a [`Synthesizer`]. Paths left unset come from the environment, then from the
/// fetched assets (see [`SynthesizerBuilder::assets_dir`]).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SynthesizerBuilder {
    voice: Option<PathBuf>,
    assets_dir: Option<PathBuf>,
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
    graph_cache_bytes: Option<u64>,
    cache_key_file: Option<PathBuf>,
    lexicon: Option<PathBuf>,
    grow_first_window_when_busy: bool,
    follow_load: bool,
}

/// The shared levels' seal keyed by the secret in `path`.
fn cache_seal(path: &std::path::Path) -> Result<Seal> {
    let secret = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if secret.len() < 32 {
        return Err(Error::InvalidOption {
            name: "cache_key_file",
            value: format!("{} ({} bytes)", path.display(), secret.len()),
            reason: "must hold at least 32 bytes of secret",
        });
    }
    Ok(Seal::keyed(&secret))
}

/// Longest Redis entry lifetime accepted: 10 years.
const MAX_REDIS_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

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

    /// Where the fetched assets (ONNX Runtime, espeak-ng, the voices named by name) are.
    /// Default: `$INDEXTTS_ASSETS`, else `$XDG_DATA_HOME/indextts` (`~/.local/share/indextts`),
    /// then the checkout the library was built in, when it exists (see [`asset_dirs`](crate::asset_dirs)).
    pub fn assets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.assets_dir = Some(dir.into());
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

    /// Threads that follow the load (default: off, so a text's samples do not depend on the
    /// load). On, a stream speaking alone runs on the voice's sessions of
    /// [`SynthesizerBuilder::threads`] threads, and while several streams run their model runs
    /// take one-thread sessions instead, made from the compiled-graph cache the first time
    /// streams overlap (a lone stream's memory is unchanged), at most one per core for each
    /// graph: two one-thread runs side by side make more audio per second than two-thread runs
    /// taking turns (docs/performance.md). ONNX Runtime sums in another order on one thread, so
    /// a sample may differ by about 1e-7 (-130 dB; 16-bit audio is the same or 1 step apart).
    /// Nothing follows the load without the graph cache, or with one thread per session
    /// already. The server turns it on.
    pub fn follow_load(mut self, on: bool) -> Self {
        self.follow_load = on;
        self
    }

    /// A stream that starts while every session is taken by other streams gets a first window
    /// one growth step (4x) larger (default: off, so a text's audio does not depend on the
    /// load). Its first audio waits behind the others' model runs anyway, and a listener handed
    /// a few tens of milliseconds would run dry while its next window waits its turn; under a
    /// saturating load this took the share of responses with a playback gap from about half to
    /// about a tenth (`cargo bench --bench server_load`, docs/performance.md). The server turns
    /// it on.
    pub fn grow_first_window_when_busy(mut self, on: bool) -> Self {
        self.grow_first_window_when_busy = on;
        self
    }

    /// How streams cut sentences into vocoder windows (see [`StreamOptions`]): each field left
    /// `None` takes the voice's own value (Piper voices: windows of 128 frames with 8 of
    /// context; MB-MelGAN: 512 with 24).
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

    /// A pronunciation lexicon (`word<TAB>ipa` lines, see [`Lexicon`](crate::Lexicon)): its
    /// words are said as it says, by voices whose phonemes are IPA (Piper, Kokoro English).
    /// Read when the synthesizer is built; an unreadable line is [`Error::Lexicon`].
    pub fn lexicon(mut self, path: impl Into<PathBuf>) -> Self {
        self.lexicon = Some(path.into());
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

    /// A file holding the operator's secret (at least 32 bytes, e.g. `head -c 32 /dev/urandom`)
    /// that seals the disk and Redis levels' entries with a keyed MAC: only processes given the
    /// same file write entries the others accept, each bound to its sentence. Default:
    /// `$INDEXTTS_CACHE_KEY_FILE`; without either, entries carry a checksum only and the shared
    /// levels trust whoever can write to them.
    pub fn cache_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_key_file = Some(path.into());
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

    /// Bound of the compiled-graph cache directory's total size, in bytes (default 512 MiB,
    /// about eight medium Piper voices): after writing an entry, the least recently loaded
    /// entries are removed until the directory is within it. The entry just written is kept
    /// even when it alone is larger.
    pub fn graph_cache_bytes(mut self, bytes: u64) -> Self {
        self.graph_cache_bytes = Some(bytes);
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
        let dirs = self.assets_dir.map_or_else(assets::asset_dirs, |d| vec![d]);
        let voice = find_voice_in(
            self.voice.as_deref().unwrap_or(Path::new(DEFAULT_VOICE)),
            &dirs,
        )?;
        let (family, paths) = family::locate(&voice)?;
        let ort_library = match self.ort_library.or_else(|| env_path("ORT_DYLIB_PATH")) {
            Some(path) => path,
            None => assets::find(&dirs, assets::ORT_LIBRARY)
                .map_err(|(path, reason)| Error::RuntimeLoad { path, reason })?,
        };
        let espeak_asset =
            |set: Option<PathBuf>, var: &str, relative: &str| match set.or_else(|| env_path(var)) {
                Some(path) => Ok(path),
                None => assets::find(&dirs, relative)
                    .map_err(|(path, reason)| Error::Phonemizer { path, reason }),
            };
        let espeak = EspeakPaths {
            library: espeak_asset(
                self.espeak_library,
                "INDEXTTS_ESPEAK_LIBRARY",
                assets::ESPEAK_LIBRARY,
            )?,
            data: espeak_asset(
                self.espeak_data,
                "INDEXTTS_ESPEAK_DATA",
                assets::ESPEAK_DATA,
            )?,
        };
        let threads = match self.threads {
            Some(n @ (0 | 1025..)) => {
                return Err(Error::InvalidOption {
                    name: "threads",
                    value: n.to_string(),
                    reason: "must be in 1..=1024",
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
        let shared_levels = self.cache_dir.is_some() || self.redis_url.is_some();
        let key_file = self
            .cache_key_file
            .or_else(|| std::env::var_os("INDEXTTS_CACHE_KEY_FILE").map(PathBuf::from));
        let seal = match key_file.filter(|_| shared_levels) {
            Some(path) => cache_seal(&path)?,
            None => Seal::default(),
        };
        // Redis takes whole seconds; 0 is refused by every SET, a huge one overflows its clock.
        let redis_ttl = self.redis_ttl.unwrap_or(DEFAULT_REDIS_TTL);
        if !(1..=MAX_REDIS_TTL_SECONDS).contains(&redis_ttl.as_secs()) {
            return Err(Error::InvalidOption {
                name: "redis_ttl",
                value: format!("{} s", redis_ttl.as_secs()),
                reason: "must be 1 s to 10 years",
            });
        }
        let lexicon = self
            .lexicon
            .as_ref()
            .map(crate::frontend::Lexicon::from_file)
            .transpose()?;
        let stream_options = self.stream_options.unwrap_or_default();
        // What the caller set is checked before the voice loads (every family's windows are
        // valid, so any will do for that).
        let workers = stream_options
            .resolve(family::piper::WINDOWS)?
            .vocoder_workers;
        // Streams of this voice running now: counted by the engine, followed by the sessions.
        let load = Arc::new(VoiceLoad::default());
        let options = LoadOptions {
            ort_library,
            counts: SessionCounts {
                threads,
                acoustic: sessions,
                vocoder: sessions.max(workers),
            },
            espeak,
            graph_split: !self.no_split,
            graph_cache: self
                .graph_cache
                .unwrap_or_else(default_graph_cache)
                .map(|dir| {
                    GraphCache::new(
                        dir,
                        self.graph_cache_bytes
                            .unwrap_or(graph_cache::DEFAULT_GRAPH_CACHE_BYTES),
                    )
                }),
            load: self.follow_load.then(|| Arc::clone(&load)),
        };
        // ONNX Runtime's library (tens of ms to map and start) loads beside the family's own
        // first work; the family's `options.env()` waits for it and reports its error.
        let voice = std::thread::scope(|s| {
            s.spawn(|| options.env().map(drop));
            family.load(&paths, &options)
        })?;
        let windows = stream_options.resolve(voice.windows)?;
        // Cached audio is only honest when a seed fixes the draws.
        let cache = SentenceCache::new(
            &if voice.pipeline.is_seeded() {
                CacheConfig {
                    memory_bytes: self.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES),
                    dir: self.cache_dir,
                    dir_bytes: self.cache_dir_bytes.unwrap_or(DEFAULT_CACHE_DIR_BYTES),
                    redis_url: self.redis_url,
                    redis_ttl,
                    sharing: Sharing {
                        namespace: voice.fingerprint.to_hex()[..16].to_owned(),
                        seal,
                    },
                }
            } else {
                CacheConfig::default()
            },
            voice.config.sample_rate,
        )?;
        Ok(Synthesizer {
            engine: Arc::new(Engine::new(
                voice,
                paths,
                windows,
                cache,
                lexicon,
                self.grow_first_window_when_busy.then_some(sessions),
                load,
            )),
        })
    }
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

/// A loaded voice, ready to speak. Cheap to clone; clones share the model. `Send + Sync`:
/// one synthesizer can serve many threads.
#[derive(Clone)]
pub struct Synthesizer {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("voice", &self.engine.paths().model)
            .field("sample_rate", &self.engine.sample_rate())
            .field("pipeline", self.engine.pipeline())
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
        self.engine.config()
    }

    /// The voice's files.
    pub fn voice_paths(&self) -> &VoicePaths {
        self.engine.paths()
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.engine.sample_rate()
    }

    /// Whether a seed fixes the voice's random draws (true for Piper VITS voices, whose flow is
    /// split out; a voice that runs whole draws inside ONNX Runtime).
    pub fn is_seeded(&self) -> bool {
        self.engine.pipeline().is_seeded()
    }

    /// Whether the voice runs as acoustic model + vocoder (a Piper voice's graph was split).
    pub fn is_split(&self) -> bool {
        self.engine.pipeline().split().is_some()
    }

    /// Output samples per acoustic frame (0 when the voice is not split).
    pub fn samples_per_frame(&self) -> usize {
        self.engine
            .pipeline()
            .split()
            .map_or(0, |m| m.samples_per_frame())
    }

    /// Channels of an acoustic frame (0 when the voice is not split).
    pub fn frame_channels(&self) -> usize {
        self.engine
            .pipeline()
            .split()
            .map_or(0, |m| m.frame_channels())
    }

    /// The stream windows this synthesizer uses: the builder's [`StreamOptions`], with every
    /// field left unset taken from the voice.
    pub fn stream_options(&self) -> StreamWindows {
        self.engine.windows()
    }

    /// Whether this voice can speak `text`, as every synthesis checks it before any audio: not
    /// blank ([`Error::EmptyText`]), within [`crate::MAX_TEXT_BYTES`] ([`Error::TextTooLong`]),
    /// in a script the voice reads ([`Error::UnsupportedText`]).
    pub fn check_text(&self, text: &str) -> Result<()> {
        check_text(text)?;
        self.engine.frontend().check_script(text)
    }

    /// Text to sentences of phonemes and model ids, without synthesizing.
    /// The lexicon applies, as it does when speaking.
    pub fn phonemize(&self, text: &str) -> Result<Vec<Sentence>> {
        check_text(text)?;
        let frontend = self.engine.frontend();
        frontend.check_script(text)?;
        let say = crate::frontend::Pronunciations {
            lexicon: self.engine.lexicon(),
            spans: &[],
        };
        let mut sentences = Vec::new();
        for segment in frontend.segments(text) {
            sentences.extend(frontend.sentences_with(segment, say)?);
        }
        report_missing(&sentences);
        Ok(sentences)
    }

    /// Speak `text`, streaming: chunks of audio come as they are made, the first one after the
    /// first sentence's acoustic model and one small vocoder window. Options and the text's
    /// length are checked now; errors later end the stream after one `Err`.
    ///
    /// Text that starts with `<speak>` is SSML ([`crate::ssml`]): malformed SSML is
    /// [`Error::Ssml`] here, naming its line and column.
    pub fn stream(&self, text: &str, options: &SynthesisOptions) -> Result<AudioStream> {
        check_text(text)?;
        self.engine.frontend().check_script(text)?;
        let voicing = self.engine.resolve(options)?;
        let pieces = if crate::ssml::is_ssml(text) {
            let pieces = crate::ssml::parse(text)?;
            if pieces.iter().all(|p| p.text.trim().is_empty()) {
                return Err(Error::EmptyText { len: text.len() });
            }
            // Every <voice name> is a speaker of this voice (checked now, not mid-stream).
            for name in pieces.iter().filter_map(|p| p.voice.as_deref()) {
                self.engine.speaker(Some(name))?;
            }
            pieces
        } else {
            vec![crate::ssml::Piece::plain(text.to_owned())]
        };
        audio_stream(Arc::clone(&self.engine), pieces, voicing)
    }

    /// Speak text that arrives while the audio plays (a language model's answer as it is
    /// written): push pieces of any size into the [`TextSink`] and read the [`AudioStream`];
    /// each sentence is spoken as soon as it is complete, and a clause sooner when the listener
    /// would otherwise wait (the rule: [`crate::text_stream`]). Options are checked now. The
    /// stream ends after `finish()` (or dropping the sink) once the rest is spoken; dropping the
    /// stream cancels it, and the sink's next push is [`Error::StreamClosed`].
    ///
    /// ```no_run
    /// # fn main() -> indextts::Result<()> {
    /// # let synth = indextts::Synthesizer::builder().build()?;
    /// let (mut sink, audio) = synth.text_stream(&indextts::SynthesisOptions::default())?;
    /// let writer = std::thread::spawn(move || -> indextts::Result<()> {
    ///     for token in ["Turn le", "ft at the ", "lights. Then", " keep right."] {
    ///         sink.push(token)?;
    ///     }
    ///     sink.finish()
    /// });
    /// for chunk in audio {
    ///     let chunk = chunk?; // first chunk after "Turn left at the lights."
    /// }
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    pub fn text_stream(&self, options: &SynthesisOptions) -> Result<(TextSink, AudioStream)> {
        let voicing = self.engine.resolve(options)?;
        text_audio_stream(Arc::clone(&self.engine), voicing)
    }

    /// The acoustic model's frames for `text`, one [`Frames`] per sentence, before the vocoder:
    /// for a caller that vocodes elsewhere (see [`Synthesizer::vocode`]).
    pub fn frames(&self, text: &str, options: &SynthesisOptions) -> Result<FrameStream> {
        check_text(text)?;
        self.engine.frontend().check_script(text)?;
        if !self.is_split() {
            return Err(Error::NotSplit);
        }
        let voicing = self.engine.resolve(options)?;
        frame_stream(Arc::clone(&self.engine), text.to_owned(), voicing)
    }

    /// Decode frames to audio with the chunked vocoder (windows of `chunk_frames`).
    pub fn vocode(&self, frames: &Frames) -> Result<Audio> {
        let model = self.engine.pipeline().split().ok_or(Error::NotSplit)?;
        // Frames come from the caller: a shape the vocoder cannot take is an error here, before
        // any allocation sized by it (a huge one used to abort the process in with_capacity).
        let (channels, count) = frames.data.dim();
        if channels != model.frame_channels() {
            return Err(Error::InvalidOption {
                name: "frames",
                value: format!("[{channels}, {count}]"),
                reason: "the rows must be the voice's frame channels (Synthesizer::frame_channels)",
            });
        }
        if count > crate::model::MAX_SENTENCE_FRAMES {
            return Err(Error::InvalidOption {
                name: "frames",
                value: format!("[{channels}, {count}]"),
                reason: "a sentence has at most MAX_SENTENCE_FRAMES frames",
            });
        }
        let w = self.engine.windows();
        let windows = plan(
            frames.data.ncols(),
            w.chunk_frames,
            w.chunk_frames,
            w.context_frames,
        );
        let mut samples = Vec::with_capacity(frames.data.ncols() * model.samples_per_frame());
        let never = std::sync::atomic::AtomicBool::new(false);
        decode_in_order(
            model,
            frames.data.view(),
            &windows,
            frames.speaker,
            w.vocoder_workers,
            &never,
            |chunk, _| {
                samples.extend(chunk);
                true
            },
        )?;
        Ok(Audio {
            samples,
            sample_rate: self.sample_rate(),
            ..Audio::default()
        })
    }

    /// Streams of this synthesizer (and its clones) whose synthesis threads are still running:
    /// a stream counts until it has ended or, dropped early, its threads have stopped and been
    /// joined. `synthesize` counts while it runs (it collects a stream).
    pub fn streams_running(&self) -> usize {
        self.engine.live_streams()
    }

    /// One-thread sessions made so far for streams that overlapped (see
    /// [`SynthesizerBuilder::follow_load`]); 0 while streams run one at a time.
    pub fn one_thread_sessions(&self) -> usize {
        self.engine.one_thread_sessions()
    }

    /// What the sentence cache did, per level.
    pub fn cache_stats(&self) -> CacheStats {
        self.engine.cache().stats()
    }

    /// Empty every level of the sentence cache (the disk directory's entries too).
    pub fn clear_cache(&self) {
        self.engine.cache().clear();
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
        self.engine.cache().flush();
        Ok(())
    }

    /// Speak `text` and return all of its audio: [`Synthesizer::stream`], collected. Empty or
    /// blank text is [`Error::EmptyText`].
    /// The audio's [`Audio::words`] and [`Audio::phonemes`] say when each word of `text` and
    /// each phoneme is said.
    pub fn synthesize(&self, text: &str, options: &SynthesisOptions) -> Result<Audio> {
        let mut audio = Audio {
            sample_rate: self.sample_rate(),
            ..Audio::default()
        };
        for chunk in self.stream(text, options)? {
            let chunk = chunk?;
            audio.samples.extend_from_slice(&chunk.samples);
            audio.words.extend(chunk.words);
            audio.phonemes.extend(chunk.phonemes);
        }
        Ok(audio)
    }
}
