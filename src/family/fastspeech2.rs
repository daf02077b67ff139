//! FastSpeech2 + MB-MelGAN voices: a directory with a `voice.json` naming an acoustic model, a
//! vocoder, the symbol table and the pinyin dictionaries; the Mandarin frontend in Rust.

use std::path::Path;

use super::{fingerprint, Family, LoadOptions, LoadedVoice, FIRST_CHUNK_FRAMES};
use crate::error::{Error, Result};
use crate::frontend::zh::MandarinFrontend;
use crate::model::{FastSpeech2Model, Pipeline};
use crate::vocoder::StreamWindows;
use crate::voice::{MelVoiceSpec, VoiceFamily, VoicePaths, MEL_VOICE_FILE};

pub(crate) struct FastSpeech2;

/// A FastSpeech2 + MB-MelGAN voice's stream windows.
pub(crate) const WINDOWS: StreamWindows = StreamWindows {
    first_chunk_frames: FIRST_CHUNK_FRAMES,
    chunk_frames: 512,
    // MB-MelGAN's receptive field, measured on the corpus with 8- and 32-frame windows: 24
    // frames of context give the whole decode's samples exactly (16 frames: 47 dB SNR; 8: 30 dB).
    context_frames: 24,
    vocoder_workers: 1,
};

impl Family for FastSpeech2 {
    fn id(&self) -> VoiceFamily {
        VoiceFamily::FastSpeech2
    }

    /// A directory holding a `voice.json`, or the `voice.json` itself.
    fn probe(&self, path: &Path) -> Result<Option<VoicePaths>> {
        let config = if path.is_dir() {
            path.join(MEL_VOICE_FILE)
        } else if path.file_name().is_some_and(|n| n == MEL_VOICE_FILE) {
            path.to_path_buf()
        } else {
            return Ok(None);
        };
        if !config.is_file() {
            return Ok(None);
        }
        let spec = MelVoiceSpec::from_file(&config)?;
        Ok(Some(VoicePaths {
            family: VoiceFamily::FastSpeech2,
            model: spec.acoustic,
            config,
        }))
    }

    fn load(&self, paths: &VoicePaths, options: &LoadOptions) -> Result<LoadedVoice> {
        let config_bytes = std::fs::read(&paths.config).map_err(|e| Error::io(&paths.config, e))?;
        let spec = MelVoiceSpec::from_json(&config_bytes, &paths.config)?;
        let mapper = spec.read_mapper()?;
        let config = spec.config(&mapper)?;
        // pypinyin's dictionaries load while the sessions are built.
        let (frontend, model) = std::thread::scope(|s| {
            let frontend = s.spawn(|| MandarinFrontend::new(&spec, mapper));
            let model = options.env().and_then(|env| {
                FastSpeech2Model::load(
                    env,
                    &spec.acoustic,
                    &spec.vocoder,
                    config.num_symbols,
                    options.counts,
                    &config_bytes,
                    options.graph_cache.as_ref(),
                    options.load.as_ref(),
                )
            });
            let frontend = frontend
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (frontend, model)
        });
        let (frontend, (model, model_fingerprint)) = (frontend?, model?);
        Ok(LoadedVoice {
            fingerprint: fingerprint(&model_fingerprint, &config_bytes),
            config,
            frontend: Box::new(frontend),
            pipeline: Pipeline::Split(Box::new(model)),
            windows: WINDOWS,
            default_speaker: 0,
        })
    }
}
