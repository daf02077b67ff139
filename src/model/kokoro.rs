//! Kokoro-82M (StyleTTS 2 with an iSTFTNet decoder), run as one graph: `tokens [1, n + 2]`
//! int64 (0 at both ends), `style [1, 256]` and `speed [1]` in, `audio [samples]` at 24 kHz out.
//!
//! The style comes from a voice pack: `[510, 256]` floats, row `n - 1` for a sentence of `n`
//! tokens; a blend of packs is their weighted sum. The graph draws nothing (it has no random
//! operator: kokoro-onnx's export fixed the harmonic source's phase and noise), so the same
//! tokens and style give the same samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array1, Array2};
use ort::value::{DynValue, Tensor};

use prost::Message;

use super::graph_cache::{self, GraphCache, SplitMeta};
use super::onnx::{data_type, ModelProto, TypeProto, TypeProtoTensor, ValueInfoProto};
use super::pool::SessionPool;
use super::{
    samples_of, sessions, FollowLoad, Graph, SessionCounts, SpeakerMix, Spoken, Timing, Utterance,
    VoiceLoad, WholeModel,
};
use crate::error::{Error, Result};

/// Floats in one style vector.
pub const STYLE_DIM: usize = 256;
/// Rows of a voice pack: one style per sentence length, 0..510 tokens.
pub const PACK_ROWS: usize = 510;

/// One voice pack: `[PACK_ROWS, STYLE_DIM]` floats.
pub(crate) struct StylePack(Vec<f32>);

impl StylePack {
    /// Read a pack file (`*.bin`, little-endian float32, as kokoro-js ships them): the pack and
    /// the blake3 of the file's bytes.
    pub fn read(path: &Path) -> Result<(Self, blake3::Hash)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let want = PACK_ROWS * STYLE_DIM * 4;
        if bytes.len() != want {
            return Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "a Kokoro voice pack is {want} bytes ([{PACK_ROWS}, {STYLE_DIM}] float32); this one is {}",
                    bytes.len()
                ),
            });
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if floats.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: "the voice pack holds NaN or infinite values".into(),
            });
        }
        Ok((StylePack(floats), blake3::hash(&bytes)))
    }

    fn row(&self, tokens: usize) -> &[f32] {
        // Row n - 1 for n tokens, as hexgrad's KPipeline (`pack[len(ps) - 1]`) and kokoro-onnx
        // 0.6.1 index it.
        let r = tokens.saturating_sub(1).min(PACK_ROWS - 1);
        &self.0[r * STYLE_DIM..(r + 1) * STYLE_DIM]
    }
}

/// What a Kokoro graph's cache entry is keyed by besides the model: the change made to it at
/// load (its durations output); a new change must change this.
const GRAPH_CACHE_CONFIG: &[u8] = b"kokoro: durations output /encoder/Cast_output_0";

/// The meta of a Kokoro entry: one whole graph.
fn entry_meta() -> SplitMeta {
    SplitMeta {
        frames_tensor: String::new(),
        frame_channels: None,
        samples_per_frame: SAMPLES_PER_DURATION as usize,
        vocoder_takes_sid: false,
        takes_sid: false,
        flow: None,
        whole: true,
        acoustic_chain: None,
        vocoder_chain: None,
    }
}

/// A loaded Kokoro model with its voice packs, indexed by speaker id.
pub(crate) struct KokoroModel {
    sessions: SessionPool,
    packs: Vec<StylePack>,
    /// Whether the graph's second output is each token's duration.
    has_durations: bool,
    path: PathBuf,
}

impl std::fmt::Debug for KokoroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KokoroModel")
            .field("path", &self.path)
            .field("packs", &self.packs.len())
            .finish()
    }
}

impl KokoroModel {
    /// Load the graph at `path` with `packs` as its speakers; the model and the blake3 of the
    /// graph file. With a compiled-graph `cache`, the graph as ONNX Runtime optimized it (its
    /// durations output added) comes from there when this model was loaded before, and the
    /// source graph is only hashed, as a stream, never read whole.
    pub fn load(
        env: &'static ort::environment::Environment,
        path: &Path,
        packs: Vec<StylePack>,
        counts: SessionCounts,
        cache: Option<&GraphCache>,
        load: Option<&Arc<VoiceLoad>>,
    ) -> Result<(Self, blake3::Hash)> {
        if packs.is_empty() {
            return Err(Error::VoiceNotFound {
                path: path.to_path_buf(),
                reason: "a Kokoro voice needs at least one voice pack".into(),
            });
        }
        if let Some(cache) = cache {
            let hash = cache.hash_sources(&[path])?;
            let key = graph_cache::key(&hash, GRAPH_CACHE_CONFIG);
            let follow = FollowLoad::new(env, counts.threads, Some(cache), &key, load);
            if let Some(sessions) =
                Self::load_cached(env, path, counts, cache, &key, follow.as_ref())
            {
                return Ok((Self::with_sessions(path, sessions, packs)?, hash));
            }
        }
        let bytes = bytes::Bytes::from(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        // What is decoded is what is keyed (the file may have changed since it was hashed).
        let hash = blake3::hash(&bytes);
        let key = graph_cache::key(&hash, GRAPH_CACHE_CONFIG);
        let sessions = Self::fresh_sessions(env, path, &bytes, counts, cache, &key, load)?;
        Ok((Self::with_sessions(path, sessions, packs)?, hash))
    }

    /// The sessions of the cache entry for `key`, or `None` (a miss, or an entry that failed
    /// and was dropped) to load afresh.
    fn load_cached(
        env: &ort::environment::Environment,
        path: &Path,
        counts: SessionCounts,
        cache: &GraphCache,
        key: &str,
        follow: Option<&FollowLoad>,
    ) -> Option<SessionPool> {
        cache.load_with(key, |meta, mut parts| match parts.remove("model") {
            Some(graph) if meta == entry_meta() => sessions(
                env,
                &graph,
                counts.acoustic,
                counts.threads,
                Graph::Optimized,
                "loading the Kokoro model",
                follow.map(|f| (f, "model")),
            ),
            _ => Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: format!("the entry is not a Kokoro graph's: {meta:?}"),
            }),
        })
    }

    /// The model around its `sessions`, their inputs checked.
    fn with_sessions(path: &Path, sessions: SessionPool, packs: Vec<StylePack>) -> Result<Self> {
        // The durations the graph predicts are its second output, when it has them.
        let has_durations = sessions.with(|s| s.outputs().len() >= 2);
        for (name, expected) in [("tokens", "int64"), ("style", "float"), ("speed", "float")] {
            let found = sessions.with(|s| s.inputs().iter().any(|i| i.name() == name));
            if !found {
                return Err(Error::ModelInput {
                    path: path.to_path_buf(),
                    kind: "input",
                    name: name.into(),
                    expected: expected.into(),
                    found: "nothing".into(),
                });
            }
        }
        Ok(KokoroModel {
            sessions,
            packs,
            has_durations,
            path: path.to_path_buf(),
        })
    }

    /// Sessions for the graph in `bytes`, checked and given its durations output, optimized by
    /// ONNX Runtime (which writes the result into a new `cache` entry for `key`).
    fn fresh_sessions(
        env: &'static ort::environment::Environment,
        path: &Path,
        bytes: &bytes::Bytes,
        counts: SessionCounts,
        cache: Option<&GraphCache>,
        key: &str,
        load: Option<&Arc<VoiceLoad>>,
    ) -> Result<SessionPool> {
        // Checked as every other family's graphs are, before ONNX Runtime reads it.
        let mut model = super::check::decode_checked(bytes.clone(), path)?;
        // The durations the graph predicts become a second output (word timestamps); a graph
        // without them runs as it is.
        let with_durations = durations_output(&mut model).then(|| model.encode_to_vec());
        drop(model);
        let staging = cache.and_then(GraphCache::try_staging);
        let saved = staging.as_ref().map(|dir| dir.join("model.onnx"));
        let follow = FollowLoad::new(env, counts.threads, staging.as_ref().and(cache), key, load);
        let sessions = sessions(
            env,
            with_durations.as_deref().unwrap_or(bytes),
            counts.acoustic,
            counts.threads,
            Graph::Fresh {
                save_optimized: saved.as_deref(),
            },
            "loading the Kokoro model",
            follow.as_ref().map(|f| (f, "model")),
        );
        match (cache, &staging, &sessions) {
            (Some(cache), Some(dir), Ok(_)) => cache.commit(key, dir, entry_meta(), &["model"]),
            (_, Some(dir), _) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            _ => {}
        }
        sessions
    }

    /// The style of a sentence of `tokens` tokens: one pack's row, or the weighted sum of several.
    fn style(&self, tokens: usize, sid: Option<i64>, mix: Option<SpeakerMix>) -> Result<Vec<f32>> {
        let pack = |id: i64| {
            usize::try_from(id)
                .ok()
                .and_then(|i| self.packs.get(i))
                .ok_or_else(|| Error::UnknownSpeaker {
                    speaker: id.to_string(),
                    available: format!(
                        "{} voice packs, ids 0..{}",
                        self.packs.len(),
                        self.packs.len()
                    ),
                })
        };
        match mix {
            Some(mix) => {
                let mut style = vec![0.0f32; STYLE_DIM];
                for &(id, weight) in mix.parts() {
                    for (s, v) in style.iter_mut().zip(pack(id)?.row(tokens)) {
                        *s += weight * v;
                    }
                }
                Ok(style)
            }
            None => Ok(pack(sid.unwrap_or(0))?.row(tokens).to_vec()),
        }
    }
}

fn tensor_error(e: impl std::fmt::Display) -> Error {
    Error::runtime("preparing Kokoro's inputs", e)
}

impl WholeModel for KokoroModel {
    fn is_seeded(&self) -> bool {
        true
    }

    /// Kokoro's `speed` is the inverse of the pace: `1 / length_scale` (1.5 is slower).
    fn synthesize(&self, u: Utterance<'_>) -> Result<Spoken> {
        let n = u.ids.len();
        if n == 0 || n > crate::frontend::kokoro::MAX_TOKENS {
            return Err(Error::ModelOutput {
                name: "tokens".into(),
                reason: format!(
                    "a Kokoro sentence has 1 to {} tokens, this one {n}",
                    crate::frontend::kokoro::MAX_TOKENS
                ),
            });
        }
        let style = self.style(n, u.sid, u.mix)?;
        let mut tokens = Vec::with_capacity(n + 2);
        tokens.push(0i64);
        tokens.extend_from_slice(u.ids);
        tokens.push(0);
        let inputs: Vec<(&str, DynValue)> = vec![
            (
                "tokens",
                Tensor::from_array(
                    Array2::from_shape_vec((1, n + 2), tokens).map_err(tensor_error)?,
                )
                .map_err(tensor_error)?
                .into_dyn(),
            ),
            (
                "style",
                Tensor::from_array(
                    Array2::from_shape_vec((1, STYLE_DIM), style).map_err(tensor_error)?,
                )
                .map_err(tensor_error)?
                .into_dyn(),
            ),
            (
                "speed",
                Tensor::from_array(Array1::from_vec(vec![1.0 / u.scales.length_scale]))
                    .map_err(tensor_error)?
                    .into_dyn(),
            ),
        ];
        self.sessions.with(|session| {
            let outputs = session
                .run(inputs)
                .map_err(|e| Error::runtime("running the Kokoro model", e))?;
            let samples = samples_of(&outputs[0])?;
            let durations = outputs
                .iter()
                .nth(1)
                .filter(|_| self.has_durations)
                .and_then(|(_, value)| {
                    let (_, frames) = value.try_extract_tensor::<i64>().ok()?;
                    token_samples(frames, n, samples.len())
                });
            Ok(Spoken { samples, durations })
        })
    }
}

/// Samples per unit of Kokoro's predicted durations: its decoder makes 600 samples (25 ms at
/// 24 kHz) of each (`sum(durations) * 600 == samples`, checked on every sentence).
const SAMPLES_PER_DURATION: u64 = 600;

/// Add the graph's per-token durations as an output: the `Cast` of the `Clip`ped `Round` of
/// the predictor's sum (StyleTTS 2's `pred_dur`); false when the graph has no such chain.
fn durations_output(model: &mut ModelProto) -> bool {
    let Some(graph) = model.graph.as_mut() else {
        return false;
    };
    let consumer = |tensor: &str, op: &str| {
        let mut found = graph
            .node
            .iter()
            .filter(|n| n.input.iter().any(|i| i == tensor));
        match (found.next(), found.next()) {
            (Some(n), None) if n.op_type() == op => n.output.first().cloned(),
            _ => None,
        }
    };
    let rounds: Vec<&str> = graph
        .node
        .iter()
        .filter(|n| n.op_type() == "Round")
        .filter_map(|n| n.output.first().map(String::as_str))
        .collect();
    let [round] = rounds.as_slice() else {
        return false;
    };
    let Some(name) = consumer(round, "Clip").and_then(|clip| consumer(&clip, "Cast")) else {
        return false;
    };
    graph.output.push(ValueInfoProto {
        name: Some(name),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(data_type::INT64),
                shape: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    true
}

/// Kokoro's per-token durations (the pads at both ends included) as a timing of the `ids`
/// tokens between them, when they are one per token and account for every sample.
fn token_samples(frames: &[i64], ids: usize, samples: usize) -> Option<Timing> {
    let units: Vec<u64> = frames
        .iter()
        .map(|&f| u64::try_from(f).ok())
        .collect::<Option<_>>()?;
    if units.len() != ids + 2 || units.iter().sum::<u64>() * SAMPLES_PER_DURATION != samples as u64
    {
        return None;
    }
    let samples_of = |u: u64| u32::try_from(u * SAMPLES_PER_DURATION).ok();
    Some(Timing {
        lead: samples_of(units[0])?,
        per_id: units[1..=ids]
            .iter()
            .map(|&u| samples_of(u))
            .collect::<Option<_>>()?,
    })
}
