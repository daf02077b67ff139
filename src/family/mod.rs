//! Voice families: how each kind of voice is recognized on disk and loaded into a frontend, a
//! model pipeline and its own defaults. A family implements [`Family`] once and is listed in
//! [`FAMILIES`]; nothing else in the crate tells the families apart.

#[cfg(feature = "zh")]
pub(crate) mod fastspeech2;
pub(crate) mod kokoro;
pub(crate) mod piper;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::frontend::{EspeakPaths, TextFrontend};
use crate::model::graph_cache::GraphCache;
use crate::model::{Pipeline, SessionCounts, VoiceLoad};
use crate::vocoder::StreamWindows;
use crate::voice::{VoiceConfig, VoiceFamily, VoicePaths};

/// Every family, asked in this order which one a voice's files belong to.
pub(crate) static FAMILIES: &[&dyn Family] = &[
    #[cfg(feature = "zh")]
    &fastspeech2::FastSpeech2,
    &kokoro::Kokoro,
    &piper::PiperVits,
];

/// One kind of voice.
pub(crate) trait Family: Sync {
    /// Which family this is.
    fn id(&self) -> VoiceFamily;

    /// The voice's files when `path` (a directory or a file) is laid out as this family's
    /// voices are; `Ok(None)` when it is not; an error when it is, but something is missing.
    fn probe(&self, path: &Path) -> Result<Option<VoicePaths>>;

    /// Load the voice whose files `probe` found.
    fn load(&self, paths: &VoicePaths, options: &LoadOptions) -> Result<LoadedVoice>;
}

/// What the builder hands every family's `load`.
pub(crate) struct LoadOptions {
    /// ONNX Runtime's library: see [`LoadOptions::env`].
    pub ort_library: std::path::PathBuf,
    pub counts: SessionCounts,
    /// espeak-ng, for the families whose frontend uses it.
    pub espeak: EspeakPaths,
    /// Whether to split a graph that can be split (false runs it whole).
    pub graph_split: bool,
    /// Where compiled graphs are kept between starts, for families that split graphs.
    pub graph_cache: Option<GraphCache>,
    /// The voice's count of running streams: above one, its sessions' runs take one-thread
    /// sessions (made from the graph cache) instead of its own.
    pub load: Option<Arc<VoiceLoad>>,
}

impl LoadOptions {
    /// ONNX Runtime's environment. The builder starts loading the library on a thread of its
    /// own before the family's `load`, so work that needs no runtime (dictionaries, espeak-ng,
    /// lexicons) goes first and this waits only for what is left of the library's load.
    pub fn env(&self) -> Result<&'static ort::environment::Environment> {
        crate::model::runtime::environment(&self.ort_library)
    }
}

/// A voice loaded by its family, ready to speak.
pub(crate) struct LoadedVoice {
    pub config: VoiceConfig,
    pub frontend: Box<dyn TextFrontend>,
    pub pipeline: Pipeline,
    /// blake3 of the model files and the config: part of every sentence's key.
    pub fingerprint: blake3::Hash,
    /// The stream windows a caller gets by leaving [`StreamOptions`](crate::StreamOptions)
    /// unset: the context this voice's vocoder needs, the window that bounds its memory.
    pub windows: StreamWindows,
    /// The speaker of a call that names none (0 but for Kokoro voices named after a pack).
    pub default_speaker: i64,
}

/// The family and files of the voice at `path`.
pub(crate) fn locate(path: &Path) -> Result<(&'static dyn Family, VoicePaths)> {
    for family in FAMILIES {
        if let Some(paths) = family.probe(path)? {
            tracing::debug!(family = ?family.id(), path = %path.display(), "voice located");
            return Ok((*family, paths));
        }
    }
    Err(Error::VoiceNotFound {
        path: path.to_path_buf(),
        reason: if path.exists() {
            "no voice of a known family here (a Piper voice is one .onnx with its .onnx.json; \
             a FastSpeech2 + MB-MelGAN voice is a directory with a voice.json; a Kokoro voice \
             is a directory with a kokoro.json)"
                .into()
        } else {
            "no such file or directory".into()
        },
    })
}

/// Frames in a stream's first vocoder window, for every family so far: 8 frames (93 ms of
/// 22.05 kHz audio, 100 ms of the Mandarin voice's 24 kHz) decode in a few milliseconds.
pub(crate) const FIRST_CHUNK_FRAMES: usize = 8;

/// A voice's fingerprint: blake3 of its model files' hash and its config's bytes.
fn fingerprint(model: &blake3::Hash, config: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(model.as_bytes());
    h.update(config);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_registered_once() {
        for id in [
            VoiceFamily::PiperVits,
            VoiceFamily::Kokoro,
            #[cfg(feature = "zh")]
            VoiceFamily::FastSpeech2,
        ] {
            assert_eq!(FAMILIES.iter().filter(|f| f.id() == id).count(), 1);
        }
    }

    #[test]
    fn a_directory_of_no_family_names_what_was_expected() {
        let dir = std::env::temp_dir().join(format!("indextts-no-family-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let error = locate(&dir).err().unwrap();
        assert!(error.to_string().contains("voice.json"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
