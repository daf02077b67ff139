//! Piper VITS voices: one `.onnx` with its `.onnx.json`, espeak-ng's phonemes, the graph split
//! at load time into acoustic half and HiFi-GAN decoder.

use std::path::{Path, PathBuf};

use super::{fingerprint, Family, LoadOptions, LoadedVoice, FIRST_CHUNK_FRAMES};
use crate::error::{Error, Result};
use crate::frontend::PiperFrontend;
use crate::model::PiperModel;
use crate::vocoder::StreamWindows;
use crate::voice::{Symbols, VoiceConfig, VoiceFamily, VoicePaths};

pub(crate) struct PiperVits;

/// A Piper voice's stream windows.
pub(crate) const WINDOWS: StreamWindows = StreamWindows {
    first_chunk_frames: FIRST_CHUNK_FRAMES,
    // Measured on en_US-joe-medium (story, 5 runs): 128-frame windows took the same time as
    // 512 (4.95 s vs 5.11 s) and cut the story's peak RSS from 335 to 213 MB (HiFi-GAN's
    // activations grow with the window: 256 samples x 32+ channels per frame).
    chunk_frames: 128,
    // HiFi-GAN's receptive field: 8 frames of context make a window's samples equal a whole
    // decode's within float rounding (the stream-equals-whole tests measure it).
    context_frames: 8,
    vocoder_workers: 1,
};

impl Family for PiperVits {
    fn id(&self) -> VoiceFamily {
        VoiceFamily::PiperVits
    }

    /// A directory holding one `*.onnx` with its `.onnx.json`, or a `.onnx` file itself (the
    /// config is the same path with `.json` appended).
    fn probe(&self, path: &Path) -> Result<Option<VoicePaths>> {
        let not_found = |reason: String| Error::VoiceNotFound {
            path: path.to_path_buf(),
            reason,
        };
        let model = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
            let mut models: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
                .collect();
            models.sort();
            match models.len() {
                1 => models.remove(0),
                0 => return Ok(None),
                n => {
                    return Err(not_found(format!(
                        "the directory holds {n} .onnx models; name one"
                    )))
                }
            }
        } else if path.is_file() {
            path.to_path_buf()
        } else {
            return Ok(None);
        };
        let mut config = model.clone().into_os_string();
        config.push(".json");
        let config = PathBuf::from(config);
        if !config.is_file() {
            return Err(Error::VoiceNotFound {
                path: config,
                reason: "the voice config (.onnx.json) is missing".into(),
            });
        }
        Ok(Some(VoicePaths {
            family: VoiceFamily::PiperVits,
            model,
            config,
        }))
    }

    fn load(&self, paths: &VoicePaths, options: &LoadOptions) -> Result<LoadedVoice> {
        // Read once: parsed here, hashed into the voice's fingerprint below.
        let config_bytes = std::fs::read(&paths.config).map_err(|e| Error::io(&paths.config, e))?;
        let config = VoiceConfig::from_json(&config_bytes, &paths.config)?;
        let Symbols::Phonemes(symbols) = &config.symbols else {
            return Err(Error::VoiceConfig {
                path: paths.config.clone(),
                reason: "a Piper voice maps phonemes to ids".into(),
            });
        };
        let frontend = PiperFrontend::new(symbols, options.espeak.clone())?;
        let (pipeline, model_fingerprint) = PiperModel::load(
            options.env()?,
            &paths.model,
            &paths.config,
            &config,
            &config_bytes,
            options.counts,
            options.graph_split,
            options.graph_cache.as_ref(),
            options.load.as_ref(),
        )?;
        Ok(LoadedVoice {
            fingerprint: fingerprint(&model_fingerprint, &config_bytes),
            config,
            frontend: Box::new(frontend),
            pipeline,
            windows: WINDOWS,
            default_speaker: 0,
        })
    }
}
