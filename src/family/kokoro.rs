//! Kokoro-82M voices: a directory with a `kokoro.json` naming the model, its vocabulary, the
//! directory of voice packs (one per speaker) and misaki's lexicons; the voice's own speaker
//! is the pack it is named after (`voices/af_heart/kokoro.json` speaks as `af_heart`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{fingerprint, Family, LoadOptions, LoadedVoice, FIRST_CHUNK_FRAMES};
use crate::error::{Error, Result};
use crate::frontend::kokoro::{KokoroFrontend, Reader};
use crate::frontend::misaki::Lexicon;
use crate::model::kokoro::StylePack;
use crate::model::{KokoroModel, Pipeline};
use crate::vocoder::StreamWindows;
use crate::voice::{InferenceDefaults, Symbols, VoiceConfig, VoiceFamily, VoicePaths};

/// The file naming a Kokoro voice's parts, in the voice's directory.
pub const KOKORO_VOICE_FILE: &str = "kokoro.json";

pub(crate) struct Kokoro;

/// Kokoro runs whole, a sentence at a time; these only answer a caller's stream options.
const WINDOWS: StreamWindows = StreamWindows {
    first_chunk_frames: FIRST_CHUNK_FRAMES,
    chunk_frames: 128,
    context_frames: 8,
    vocoder_workers: 1,
};

/// `kokoro.json`: paths relative to its directory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    family: String,
    sample_rate: u32,
    model: PathBuf,
    vocab: PathBuf,
    packs: PathBuf,
    #[serde(default)]
    lexicons: HashMap<String, Vec<PathBuf>>,
    speaker: String,
}

#[derive(Deserialize)]
struct RawVocab {
    vocab: HashMap<String, i64>,
}

/// The language of a Kokoro voice pack, from the first letter of its name (Kokoro's naming:
/// `af_heart` is American English, female): its tag (as kokoro-onnx names it) and espeak-ng's
/// voice for it; `Err` names the language indextts cannot read yet.
pub fn pack_language(
    name: &str,
) -> std::result::Result<(&'static str, &'static str), &'static str> {
    match name.chars().next() {
        Some('a') => Ok(("en-us", "en-us")),
        Some('b') => Ok(("en-gb", "en")),
        Some('e') => Ok(("es", "es")),
        Some('f') => Ok(("fr-fr", "fr")),
        Some('h') => Ok(("hi", "hi")),
        Some('i') => Ok(("it", "it")),
        Some('p') => Ok(("pt-br", "pt-br")),
        Some('j') => Err("Japanese"),
        Some('z') => Err("Mandarin"),
        _ => Err("an unknown language"),
    }
}

impl Family for Kokoro {
    fn id(&self) -> VoiceFamily {
        VoiceFamily::Kokoro
    }

    /// A directory holding a `kokoro.json`, or the `kokoro.json` itself.
    fn probe(&self, path: &Path) -> Result<Option<VoicePaths>> {
        let config = if path.is_dir() {
            path.join(KOKORO_VOICE_FILE)
        } else if path.file_name().is_some_and(|n| n == KOKORO_VOICE_FILE) {
            path.to_path_buf()
        } else {
            return Ok(None);
        };
        if !config.is_file() {
            return Ok(None);
        }
        let bytes = std::fs::read(&config).map_err(|e| Error::io(&config, e))?;
        let (raw, dir) = parse(&bytes, &config)?;
        Ok(Some(VoicePaths {
            family: VoiceFamily::Kokoro,
            model: dir.join(raw.model),
            config,
        }))
    }

    fn load(&self, paths: &VoicePaths, options: &LoadOptions) -> Result<LoadedVoice> {
        let config_path = &paths.config;
        let config_bytes = std::fs::read(config_path).map_err(|e| Error::io(config_path, e))?;
        let (raw, dir) = parse(&config_bytes, config_path)?;
        let bad = |reason: String| Error::VoiceConfig {
            path: config_path.clone(),
            reason,
        };
        let (language, espeak_voice) = pack_language(&raw.speaker).map_err(|language| {
            bad(format!(
                "{} is a {language} voice; indextts has no Kokoro frontend for {language} yet \
                 (its English, Spanish, French, Hindi, Italian and Portuguese voices work)",
                raw.speaker
            ))
        })?;
        let vocab = read_vocab(&dir.join(&raw.vocab))?;
        let (names, packs, packs_hash) = read_packs(&dir.join(&raw.packs))?;
        let speaker_id_map: HashMap<String, i64> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as i64))
            .collect();
        let default_speaker = *speaker_id_map.get(&raw.speaker).ok_or_else(|| {
            bad(format!(
                "no voice pack {} in {}",
                raw.speaker,
                dir.join(&raw.packs).display()
            ))
        })?;
        let read_lexicons = || -> Result<Reader> {
            Ok(match language {
                "en-us" | "en-gb" => {
                    let files = raw
                        .lexicons
                        .get(language)
                        .filter(|f| f.len() == 2)
                        .ok_or_else(|| {
                            bad(format!(
                                "lexicons.{language} must name misaki's gold and silver lexicons"
                            ))
                        })?;
                    Reader::English {
                        lexicon: Lexicon::load(
                            &dir.join(&files[0]),
                            &dir.join(&files[1]),
                            language == "en-gb",
                        )?,
                        british: language == "en-gb",
                    }
                }
                _ => Reader::Espeak {
                    voice: espeak_voice.to_owned(),
                },
            })
        };
        // The lexicons (a second's JSON) are read while ONNX Runtime builds the sessions.
        let (reader, model) = std::thread::scope(|s| {
            let reader = s.spawn(read_lexicons);
            let model = options
                .env()
                .and_then(|env| {
                    KokoroModel::load(
                        env,
                        &paths.model,
                        packs,
                        options.counts,
                        options.graph_cache.as_ref(),
                        options.load.as_ref(),
                    )
                })
                .map(|(model, model_hash)| {
                    let mut h = blake3::Hasher::new();
                    h.update(model_hash.as_bytes());
                    h.update(packs_hash.as_bytes());
                    (model, h.finalize())
                });
            let reader = reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (reader, model)
        });
        let (model, model_hash) = model?;
        let num_symbols = vocab.values().copied().max().unwrap_or(0) as usize + 1;
        let frontend = KokoroFrontend::new(reader?, options.espeak.clone(), vocab.clone())?;
        let config = VoiceConfig {
            family: VoiceFamily::Kokoro,
            sample_rate: raw.sample_rate,
            symbols: Symbols::Misaki {
                language: language.to_owned(),
                vocab,
            },
            num_symbols,
            num_speakers: names.len(),
            speaker_id_map,
            inference: InferenceDefaults {
                noise_scale: 0.0,
                length_scale: 1.0,
                noise_w: 0.0,
            },
            sentence_silence: 0.0,
            blends_speakers: true,
        };
        Ok(LoadedVoice {
            fingerprint: fingerprint(&model_hash, &config_bytes),
            config,
            frontend: Box::new(frontend),
            pipeline: Pipeline::Whole(Box::new(model)),
            windows: WINDOWS,
            default_speaker,
        })
    }
}

fn parse(bytes: &[u8], path: &Path) -> Result<(RawSpec, PathBuf)> {
    let raw: RawSpec = serde_json::from_slice(bytes).map_err(|e| Error::VoiceConfig {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if raw.family != "kokoro" {
        return Err(Error::VoiceConfig {
            path: path.to_path_buf(),
            reason: format!("family is {:?}, expected \"kokoro\"", raw.family),
        });
    }
    if !(8_000..=192_000).contains(&raw.sample_rate) {
        return Err(Error::VoiceConfig {
            path: path.to_path_buf(),
            reason: format!("sample_rate {} is outside 8000..=192000", raw.sample_rate),
        });
    }
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((raw, dir))
}

/// The model's vocabulary: one phoneme character per token id.
fn read_vocab(path: &Path) -> Result<HashMap<char, i64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let raw: RawVocab = serde_json::from_slice(&bytes).map_err(|e| Error::VoiceConfig {
        path: path.to_path_buf(),
        reason: format!("not a Kokoro vocabulary: {e}"),
    })?;
    raw.vocab
        .into_iter()
        .map(|(symbol, id)| {
            let mut chars = symbol.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if (1..512).contains(&id) => Ok((c, id)),
                _ => Err(Error::VoiceConfig {
                    path: path.to_path_buf(),
                    reason: format!(
                        "entry {symbol:?} -> {id}: a symbol is one character, its id in 1..512"
                    ),
                }),
            }
        })
        .collect()
}

/// Every `*.bin` pack in `dir`, sorted by name: the names, the packs, and a hash of them all.
fn read_packs(dir: &Path) -> Result<(Vec<String>, Vec<StylePack>, blake3::Hash)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    let mut hash = blake3::Hasher::new();
    let mut names = Vec::with_capacity(files.len());
    let mut packs = Vec::with_capacity(files.len());
    for file in files {
        let Some(name) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let (pack, digest) = StylePack::read(&file)?;
        hash.update(name.as_bytes());
        hash.update(&[0]);
        hash.update(digest.as_bytes());
        names.push(name.to_owned());
        packs.push(pack);
    }
    Ok((names, packs, hash.finalize()))
}
