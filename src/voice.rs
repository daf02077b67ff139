//! Voice configs and how a voice is located on disk.
//!
//! Two families of voice: Piper VITS (one `.onnx` with its `.onnx.json`) and FastSpeech2 +
//! MB-MelGAN (a directory with a `voice.json` naming an acoustic model, a vocoder, the symbol
//! table and the pinyin dictionaries). Both become one [`VoiceConfig`].

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

/// How a voice's text becomes the model's symbol ids: what its family's frontend needs, with
/// that family.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Symbols {
    /// Piper: phonemes, each mapped to one or more ids.
    Phonemes(PhonemeSymbols),
    /// FastSpeech2 (Baker): normalized text -> pinyin -> the Baker phone set (`sil`, `#0`,
    /// initials and toned finals), as the TensorFlowTTS Baker processor does; one id each.
    Pinyin {
        /// Phone -> model symbol id (the voice's mapper).
        symbol_to_id: HashMap<String, i64>,
    },
    /// Kokoro: misaki's phonemes (English) or espeak-ng's mapped to misaki's symbols, one
    /// token per phoneme character.
    Misaki {
        /// The language, as an espeak-ng voice name (`en-us`, `en-gb`, `es`, ...).
        language: String,
        /// Phoneme character -> token id (the model's vocabulary).
        vocab: HashMap<char, i64>,
    },
}

/// A Piper voice's phonemes and their ids.
#[derive(Debug, Clone, PartialEq)]
pub struct PhonemeSymbols {
    /// How text becomes phonemes.
    pub phoneme_type: PhonemeType,
    /// espeak-ng voice name, e.g. `en-us` (empty for [`PhonemeType::Text`] voices without one).
    pub espeak_voice: String,
    /// Phoneme (one or more Unicode scalar values) -> model symbol ids.
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
}

/// The kind of model behind a voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceFamily {
    /// Piper VITS: one graph, split at load time into acoustic model (ids -> latent frames) and
    /// HiFi-GAN decoder.
    PiperVits,
    /// FastSpeech2 (ids -> 80-band mel) and a separate MB-MelGAN vocoder (mel -> samples).
    FastSpeech2,
    /// Kokoro-82M (StyleTTS 2 + iSTFTNet): one graph from tokens and a voice pack's style to
    /// 24 kHz samples, with one voice pack per speaker.
    Kokoro,
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

/// A parsed, validated voice config.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// The kind of model.
    pub family: VoiceFamily,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// How text becomes symbol ids (family-specific).
    pub symbols: Symbols,
    /// Size of the model's symbol table.
    pub num_symbols: usize,
    /// Number of speakers (1 for single-speaker voices).
    pub num_speakers: usize,
    /// Speaker name -> speaker id, for multi-speaker voices.
    pub speaker_id_map: HashMap<String, i64>,
    /// Default scales.
    pub inference: InferenceDefaults,
    /// Silence put between two sentences of a stream, in seconds (0 for Piper voices, whose
    /// sentences end in their own pause).
    pub sentence_silence: f32,
    /// Whether speakers can be blended (`"af_heart:0.7,am_adam:0.3"`): Kokoro's voice packs.
    pub blends_speakers: bool,
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
    /// The voice's language as an espeak-ng style tag (`en-us`, `en-gb`, `es`; `cmn` for the
    /// Mandarin voice).
    pub fn language(&self) -> &str {
        match &self.symbols {
            Symbols::Phonemes(p) => &p.espeak_voice,
            Symbols::Pinyin { .. } => "cmn",
            Symbols::Misaki { language, .. } => language,
        }
    }

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
            family: VoiceFamily::PiperVits,
            sentence_silence: 0.0,
            blends_speakers: false,
            sample_rate: raw.audio.sample_rate,
            symbols: Symbols::Phonemes(PhonemeSymbols {
                phoneme_type,
                espeak_voice,
                phoneme_id_map: raw.phoneme_id_map,
            }),
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

/// The file naming a FastSpeech2 + MB-MelGAN voice's parts, in the voice's directory.
pub const MEL_VOICE_FILE: &str = "voice.json";

/// A FastSpeech2 + MB-MelGAN voice's `voice.json`: its parts, relative to its directory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg(feature = "zh")]
struct RawMelVoice {
    family: String,
    language: String,
    sample_rate: u32,
    acoustic: PathBuf,
    vocoder: PathBuf,
    symbols: PathBuf,
    pinyin: PathBuf,
    phrases: PathBuf,
    #[serde(default)]
    sentence_silence: Option<f32>,
    #[serde(default)]
    tone_sandhi: bool,
}

/// TensorFlowTTS's processor mapper of a FastSpeech2 voice.
#[derive(Deserialize)]
#[cfg(feature = "zh")]
pub(crate) struct Mapper {
    pub symbol_to_id: HashMap<String, i64>,
    #[serde(default)]
    pub speakers_map: HashMap<String, i64>,
    /// Pinyin syllable -> (initial, final).
    pub pinyin_dict: HashMap<String, (String, String)>,
}

#[cfg(feature = "zh")]
impl Mapper {
    /// Parse and check a mapper: the symbols every sentence needs have ids, no id is negative,
    /// and every phone a syllable of `pinyin_dict` makes has an id.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<Mapper, String> {
        let mapper: Mapper = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        for required in ["sil", "#0", "eos"] {
            if !mapper.symbol_to_id.contains_key(required) {
                return Err(format!("symbol_to_id has no id for {required:?}"));
            }
        }
        if mapper.symbol_to_id.values().any(|&id| id < 0) {
            return Err("symbol_to_id has a negative id".into());
        }
        for (syllable, (initial, final_)) in &mapper.pinyin_dict {
            let toned = format!("{final_}1");
            if !mapper.symbol_to_id.contains_key(initial)
                || !mapper.symbol_to_id.contains_key(&toned)
            {
                return Err(format!(
                    "syllable {syllable:?} makes {initial:?} {toned:?}, which symbol_to_id lacks"
                ));
            }
        }
        Ok(mapper)
    }
}

/// A FastSpeech2 + MB-MelGAN voice's parts, with paths resolved.
#[derive(Debug, Clone, PartialEq)]
#[cfg(feature = "zh")]
pub(crate) struct MelVoiceSpec {
    pub sample_rate: u32,
    pub acoustic: PathBuf,
    pub vocoder: PathBuf,
    /// TensorFlowTTS's processor mapper (`symbol_to_id`, `speakers_map`, `pinyin_dict`).
    pub symbols: PathBuf,
    /// pypinyin's single-character readings.
    pub pinyin: PathBuf,
    /// pypinyin's phrase readings.
    pub phrases: PathBuf,
    pub sentence_silence: f32,
    pub tone_sandhi: bool,
}

#[cfg(feature = "zh")]
impl MelVoiceSpec {
    /// Read `voice.json`; its paths are relative to its directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&bytes, path)
    }

    /// Parse a `voice.json` read from `path` (its parts are found relative to its directory).
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::VoiceConfig {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawMelVoice = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if raw.family != "fastspeech2" {
            return Err(invalid(format!(
                "family {:?} is not supported (fastspeech2)",
                raw.family
            )));
        }
        if raw.language != "zh" {
            return Err(invalid(format!(
                "language {:?} has no frontend (zh)",
                raw.language
            )));
        }
        if !(8_000..=192_000).contains(&raw.sample_rate) {
            return Err(invalid(format!(
                "sample_rate {} is outside 8000..=192000 Hz",
                raw.sample_rate
            )));
        }
        let sentence_silence = raw.sentence_silence.unwrap_or(0.0);
        if !(sentence_silence.is_finite() && (0.0..=5.0).contains(&sentence_silence)) {
            return Err(invalid(format!(
                "sentence_silence {sentence_silence} is outside 0..=5 seconds"
            )));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let part = |p: &Path| -> Result<PathBuf> {
            let full = dir.join(p);
            if full.is_file() {
                Ok(full)
            } else {
                Err(Error::VoiceNotFound {
                    path: full,
                    reason: format!("named by {} but missing", path.display()),
                })
            }
        };
        Ok(MelVoiceSpec {
            sample_rate: raw.sample_rate,
            acoustic: part(&raw.acoustic)?,
            vocoder: part(&raw.vocoder)?,
            symbols: part(&raw.symbols)?,
            pinyin: part(&raw.pinyin)?,
            phrases: part(&raw.phrases)?,
            sentence_silence,
            tone_sandhi: raw.tone_sandhi,
        })
    }

    /// Read TensorFlowTTS's processor mapper (the `symbols` file), once: the config takes its
    /// symbols and speakers, the Mandarin frontend its syllable table.
    pub fn read_mapper(&self) -> Result<Mapper> {
        let invalid = |reason: String| Error::VoiceConfig {
            path: self.symbols.clone(),
            reason,
        };
        let bytes = std::fs::read(&self.symbols).map_err(|e| Error::io(&self.symbols, e))?;
        Mapper::from_json(&bytes).map_err(invalid)
    }

    /// The voice config: symbols and speakers from the mapper, pace defaults of FastSpeech2.
    pub fn config(&self, mapper: &Mapper) -> Result<VoiceConfig> {
        let invalid = |reason: String| Error::VoiceConfig {
            path: self.symbols.clone(),
            reason,
        };
        let num_symbols = mapper
            .symbol_to_id
            .values()
            .max()
            .map_or(0, |&m| m as usize + 1);
        let num_speakers = mapper.speakers_map.len().max(1);
        if let Some((name, id)) = mapper
            .speakers_map
            .iter()
            .find(|(_, &id)| id < 0 || id as usize >= num_speakers)
        {
            return Err(invalid(format!(
                "speaker {name:?} has id {id}, outside 0..{num_speakers}"
            )));
        }
        Ok(VoiceConfig {
            family: VoiceFamily::FastSpeech2,
            sample_rate: self.sample_rate,
            symbols: Symbols::Pinyin {
                symbol_to_id: mapper.symbol_to_id.clone(),
            },
            num_symbols,
            num_speakers,
            speaker_id_map: mapper.speakers_map.clone(),
            // FastSpeech2 draws nothing: only the pace applies (length_scale, its `speed_ratios`).
            inference: InferenceDefaults {
                noise_scale: 0.0,
                length_scale: 1.0,
                noise_w: 0.0,
            },
            sentence_silence: self.sentence_silence,
            blends_speakers: false,
        })
    }
}

/// The voice named `name` in `assets/voices/`, or `name` itself when it is a path that exists.
/// A name that is neither is [`Error::VoiceNotFound`], listing the voices there are.
pub fn find_voice(name: &Path, assets: &Path) -> Result<PathBuf> {
    find_voice_in(name, &[assets.to_path_buf()])
}

/// The voice named `name` in the first of `dirs` whose `voices/` has it, or `name` itself when
/// it is a path that exists; else [`Error::VoiceNotFound`] naming every place looked and the
/// voices there are.
pub(crate) fn find_voice_in(name: &Path, dirs: &[PathBuf]) -> Result<PathBuf> {
    if name.exists() {
        return Ok(name.to_path_buf());
    }
    let is_name = name.components().count() == 1;
    if is_name {
        if let Some(found) = dirs
            .iter()
            .map(|d| d.join("voices").join(name))
            .find(|v| v.is_dir())
        {
            return Ok(found);
        }
    }
    let mut available: Vec<String> = dirs.iter().flat_map(|d| available_voices(d)).collect();
    available.sort();
    available.dedup();
    let places: Vec<String> = dirs
        .iter()
        .map(|d| d.join("voices").display().to_string())
        .collect();
    Err(Error::VoiceNotFound {
        path: name.to_path_buf(),
        reason: if is_name {
            format!(
                "no such file, and no voice of that name in {} (voices there: {})",
                if places.is_empty() {
                    "any assets directory (set INDEXTTS_ASSETS)".to_owned()
                } else {
                    places.join(", ")
                },
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                },
            ) + &name
                .to_str()
                .and_then(crate::catalog::install_command)
                .map_or_else(
                    || "; `speak --list-voices` lists the voices there are".to_owned(),
                    |command| format!("; install it with `{command}`"),
                )
        } else {
            "no such file or directory".into()
        },
    })
}

/// Names of the voices in `assets/voices/`, sorted.
pub fn available_voices(assets: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(assets.join("voices"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The model and config files of a voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicePaths {
    /// The kind of voice.
    pub family: VoiceFamily,
    /// The `.onnx` model (Piper), or the acoustic model (FastSpeech2).
    pub model: PathBuf,
    /// The `.onnx.json` config (Piper), or the `voice.json` naming the voice's parts.
    pub config: PathBuf,
}

impl VoicePaths {
    /// Locate a voice from a directory holding a `voice.json` (FastSpeech2 + MB-MelGAN) or one
    /// `*.onnx` with its `.onnx.json` (Piper), or from a Piper `.onnx` file itself (the config
    /// is the same path with `.json` appended): each voice family is asked in turn.
    pub fn locate(path: &Path) -> Result<Self> {
        crate::family::locate(path).map(|(_, paths)| paths)
    }
}
