//! A Piper voice's config (`.onnx.json`) and how a voice is located on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Piper's padding symbol, written after every phoneme.
pub const PAD: &str = "_";
/// Piper's beginning-of-sentence symbol.
pub const BOS: &str = "^";
/// Piper's end-of-sentence symbol.
pub const EOS: &str = "$";

/// How a voice turns text into phonemes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhonemeType {
    /// IPA phonemes from espeak-ng (every stock English Piper voice).
    Espeak,
    /// The text's own characters are the symbols.
    Text,
}

/// Default inference scales of a voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferenceDefaults {
    /// Noise added to the prior (variation in voice quality); Piper default 0.667.
    pub noise_scale: f32,
    /// Phoneme duration multiplier: > 1 is slower speech; Piper default 1.0.
    pub length_scale: f32,
    /// Noise in the duration predictor (variation in rhythm); Piper default 0.8.
    pub noise_w: f32,
}

/// A parsed, validated Piper voice config.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// espeak-ng voice name, e.g. `en-us`.
    pub espeak_voice: String,
    /// How text becomes phonemes.
    pub phoneme_type: PhonemeType,
    /// Phoneme (one or more Unicode scalar values) -> model symbol ids.
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    /// Size of the model's symbol table.
    pub num_symbols: usize,
    /// Number of speakers (1 for single-speaker voices).
    pub num_speakers: usize,
    /// Speaker name -> speaker id, for multi-speaker voices.
    pub speaker_id_map: HashMap<String, i64>,
    /// Default scales.
    pub inference: InferenceDefaults,
}

#[derive(Deserialize)]
struct RawConfig {
    audio: RawAudio,
    #[serde(default)]
    espeak: Option<RawEspeak>,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_symbols: Option<usize>,
    #[serde(default)]
    num_speakers: Option<usize>,
    #[serde(default)]
    speaker_id_map: HashMap<String, i64>,
    #[serde(default)]
    inference: Option<RawInference>,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
struct RawInference {
    noise_scale: Option<f32>,
    length_scale: Option<f32>,
    noise_w: Option<f32>,
}

impl VoiceConfig {
    /// Read and validate a Piper `.onnx.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parse and validate a Piper config; `path` is used in error messages only.
    pub fn from_json(json: &[u8], path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::VoiceConfig {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawConfig = serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;

        let phoneme_type = match raw.phoneme_type.as_deref().unwrap_or("espeak") {
            "espeak" => PhonemeType::Espeak,
            "text" => PhonemeType::Text,
            other => {
                return Err(invalid(format!(
                    "phoneme_type {other:?} is not supported (espeak, text)"
                )))
            }
        };
        if !(8_000..=192_000).contains(&raw.audio.sample_rate) {
            return Err(invalid(format!(
                "audio.sample_rate {} is outside 8000..=192000 Hz",
                raw.audio.sample_rate
            )));
        }
        for required in [PAD, BOS, EOS] {
            match raw.phoneme_id_map.get(required) {
                Some(ids) if !ids.is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "phoneme_id_map has no id for {required:?}"
                    )))
                }
            }
        }
        let max_id = raw
            .phoneme_id_map
            .values()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0);
        if raw.phoneme_id_map.values().flatten().any(|&id| id < 0) {
            return Err(invalid("phoneme_id_map has a negative id".into()));
        }
        let num_symbols = raw.num_symbols.unwrap_or(max_id as usize + 1);
        if max_id as usize >= num_symbols {
            return Err(invalid(format!(
                "phoneme_id_map uses id {max_id}, but num_symbols is {num_symbols}"
            )));
        }
        let num_speakers = raw.num_speakers.unwrap_or(1).max(1);
        if let Some((name, &id)) = raw
            .speaker_id_map
            .iter()
            .find(|(_, &id)| id < 0 || id as usize >= num_speakers)
        {
            return Err(invalid(format!(
                "speaker {name:?} has id {id}, outside 0..{num_speakers}"
            )));
        }
        let defaults = raw.inference.unwrap_or(RawInference {
            noise_scale: None,
            length_scale: None,
            noise_w: None,
        });
        let inference = InferenceDefaults {
            noise_scale: defaults.noise_scale.unwrap_or(0.667),
            length_scale: defaults.length_scale.unwrap_or(1.0),
            noise_w: defaults.noise_w.unwrap_or(0.8),
        };
        let espeak_voice = match (&phoneme_type, raw.espeak) {
            (_, Some(e)) => e.voice,
            (PhonemeType::Espeak, None) => {
                return Err(invalid(
                    "phoneme_type is espeak but espeak.voice is missing".into(),
                ))
            }
            (_, None) => String::new(),
        };
        Ok(VoiceConfig {
            sample_rate: raw.audio.sample_rate,
            espeak_voice,
            phoneme_type,
            phoneme_id_map: raw.phoneme_id_map,
            num_symbols,
            num_speakers,
            speaker_id_map: raw.speaker_id_map,
            inference,
        })
    }

    /// The id of speaker `name` (a name from `speaker_id_map`, or a number below `num_speakers`).
    pub fn speaker_id(&self, name: &str) -> Result<i64> {
        if let Some(&id) = self.speaker_id_map.get(name) {
            return Ok(id);
        }
        match name.parse::<i64>() {
            Ok(id) if id >= 0 && (id as usize) < self.num_speakers => Ok(id),
            _ => {
                let mut names: Vec<&str> = self.speaker_id_map.keys().map(String::as_str).collect();
                names.sort_unstable();
                Err(Error::UnknownSpeaker {
                    speaker: name.to_owned(),
                    available: if names.is_empty() {
                        format!(
                            "{} speaker(s), ids 0..{}",
                            self.num_speakers, self.num_speakers
                        )
                    } else {
                        format!("speakers {}", names.join(", "))
                    },
                })
            }
        }
    }
}

/// The model and config files of a voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicePaths {
    /// The `.onnx` model.
    pub model: PathBuf,
    /// The `.onnx.json` config.
    pub config: PathBuf,
}

impl VoicePaths {
    /// Locate a voice from a directory holding one `*.onnx` (with its `.onnx.json`), or from the
    /// `.onnx` file itself (the config is the same path with `.json` appended).
    pub fn locate(path: &Path) -> Result<Self> {
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
                0 => return Err(not_found("the directory holds no .onnx model".into())),
                n => {
                    return Err(not_found(format!(
                        "the directory holds {n} .onnx models; name one"
                    )))
                }
            }
        } else if path.is_file() {
            path.to_path_buf()
        } else {
            return Err(not_found("no such file or directory".into()));
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
        Ok(VoicePaths { model, config })
    }
}
