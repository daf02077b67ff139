//! indextts: embeddable, low-latency neural text-to-speech on CPU.
//!
//! A [`Synthesizer`] loads a voice through ONNX Runtime as an acoustic model (phoneme ids ->
//! frames) and a vocoder (frames -> samples), and streams its audio. Two families of voice:
//!
//! - Piper VITS (the default, `en_US-joe-medium`): the graph is split at load time into the
//!   acoustic half (latent frames) and the HiFi-GAN decoder; text becomes espeak-ng's phonemes,
//!   following Piper's conventions exactly.
//! - FastSpeech2 + MB-MelGAN (`zh_CN-baker-fastspeech2`, Mandarin): 80-band mel frames and a
//!   24 kHz vocoder; text goes through a Mandarin frontend in Rust ([`frontend::zh`]).
//!
//! ```
//! use indextts::{SynthesisOptions, Synthesizer};
//!
//! # fn main() -> indextts::Result<()> {
//! // The default voice (en_US-joe-medium) and runtime come from `scripts/fetch_assets.py`.
//! let synth = Synthesizer::builder().threads(2).build()?;
//! let audio = synth.synthesize("Hello, and welcome to the show.", &SynthesisOptions::default())?;
//! assert_eq!(audio.sample_rate, 22_050);
//! assert!(audio.duration_seconds() > 1.0);
//! audio.write_wav(std::env::temp_dir().join("hello.wav"))?;
//! # Ok(())
//! # }
//! ```
//!
//! Streaming gives audio as it is made, the first chunk long before the text is done:
//!
//! ```
//! # use indextts::{SynthesisOptions, Synthesizer};
//! # fn main() -> indextts::Result<()> {
//! # let synth = Synthesizer::builder().threads(2).build()?;
//! let mut samples = 0;
//! for chunk in synth.stream("Battery low. Please connect the charger.", &SynthesisOptions::default())? {
//!     let chunk = chunk?;
//!     assert_eq!(chunk.start_sample, samples as u64);
//!     samples += chunk.samples.len();
//! }
//! assert!(samples > 22_050);
//! # Ok(())
//! # }
//! ```
//!
//! `Synthesizer` is `Clone + Send + Sync`: clones share one loaded model.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![warn(clippy::undocumented_unsafe_blocks)]

mod assets;
#[cfg(feature = "async")]
mod async_stream;
mod atomic_file;
mod audio;
pub(crate) mod cache;
mod catalog;
mod engine;
mod error;
mod family;
#[cfg(feature = "fetch")]
pub mod fetch;
// The C ABI's entry points are exported symbols either way; as Rust items they are public only
// to the project's fuzzers (feature `unstable-internals`).
#[cfg(feature = "unstable-internals")]
#[doc(hidden)]
pub mod ffi;
#[cfg(not(feature = "unstable-internals"))]
mod ffi;
pub mod frontend;
mod host;
pub mod model;
mod playhead;
#[cfg(feature = "server")]
pub mod server;
pub mod ssml;
mod stream;
mod synthesizer;
#[cfg(feature = "unstable-internals")]
#[doc(hidden)]
pub mod testkit;
pub mod text_stream;
mod timestamps;
mod vocoder;
pub mod voice;

pub use assets::{asset_dirs, assets_dir};
#[cfg(feature = "async")]
pub use async_stream::AsyncAudioStream;
pub use audio::{sample_to_i16, Audio, PcmStreamWriter, StreamFormat};
#[cfg(feature = "unstable-internals")]
#[doc(hidden)]
pub use cache::{decode_entry, EntryError};
pub use cache::{CacheStats, LevelStats, CACHE_FORMAT_VERSION};
pub use catalog::{voice_catalog, CatalogEntry};
pub use engine::{SynthesisOptions, MAX_TEXT_BYTES};
pub use error::{Error, Result};
pub use frontend::{Lexicon, Sentence, WordSpan};
pub use host::limit_malloc_arenas;
pub use model::graph_cache::DEFAULT_GRAPH_CACHE_BYTES;
pub use model::MAX_SENTENCE_FRAMES;
pub use stream::{AudioChunk, AudioStream, FrameStream, Frames};
pub use synthesizer::{
    Synthesizer, SynthesizerBuilder, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_DIR_BYTES,
    DEFAULT_REDIS_TTL, DEFAULT_VOICE, MANDARIN_VOICE,
};
pub use text_stream::TextSink;
pub use timestamps::{subtitles, PhonemeMark, SubtitleFormat, WordMark};
pub use vocoder::{StreamOptions, StreamWindows};
pub use voice::{
    available_voices, find_voice, InferenceDefaults, PhonemeSymbols, PhonemeType, Symbols,
    VoiceConfig, VoiceFamily, VoicePaths,
};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn synthesizer_is_shareable() {
        assert_send_sync::<crate::Synthesizer>();
    }
}
