//! A FastSpeech2 acoustic model (ids -> 80-band mel) and an MB-MelGAN vocoder (mel -> samples),
//! two ONNX graphs converted from TensorFlowTTS's TFLite files (see `scripts/convert_zh.py`).
//!
//! FastSpeech2 takes `input_ids [1, N]` int32, `speaker_ids [1]` int32 and `speed_ratios`,
//! `f0_ratios`, `energy_ratios` `[1]` f32; its second output is the post-net mel `[1, T, 80]`.
//! MB-MelGAN takes `mels [1, T, 80]` and gives `[1, T * hop, 1]`. Neither draws anything: the
//! same ids give the same samples.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use ort::value::{DynValue, Tensor};

use super::chain::Chain;
use super::graph_cache::{self, piece_part, ChainMeta, GraphCache, SplitMeta};
use super::onnx::{elem_type_name, ModelProto};
use super::split::chain_or_whole;
use super::{
    check_finite, parallel_map, samples_of, sessions, Acoustic, FollowLoad, Graph, SessionCounts,
    SplitModel, Utterance, VoiceLoad,
};
use crate::error::{Error, Result};

/// Mel bands the vocoder takes.
const MEL_BANDS: usize = 80;

/// Fewest frames MB-MelGAN can decode: its residual stacks reflect-pad by up to 27 samples at
/// 3x the frame rate, which ONNX Runtime refuses on shorter inputs. Shorter windows are padded
/// with their last frame, and the padding's samples dropped.
const MIN_VOCODER_FRAMES: usize = 12;

/// The inputs FastSpeech2 must take, with their ONNX element types (int32 = 6, float = 1).
const ACOUSTIC_INPUTS: [(&str, i32); 5] = [
    ("input_ids", 6),
    ("speaker_ids", 6),
    ("speed_ratios", 1),
    ("f0_ratios", 1),
    ("energy_ratios", 1),
];

/// A loaded FastSpeech2 + MB-MelGAN voice.
pub(crate) struct FastSpeech2Model {
    acoustic: Chain,
    /// FastSpeech2's outputs in order: the second is the post-net mel, the third each id's
    /// frames.
    acoustic_outputs: Vec<String>,
    vocoder: Chain,
    /// MB-MelGAN's one input (mels) and output (samples).
    vocoder_input: String,
    vocoder_output: String,
    samples_per_frame: usize,
    num_symbols: usize,
    path: PathBuf,
}

impl std::fmt::Debug for FastSpeech2Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastSpeech2Model")
            .field("path", &self.path)
            .field("samples_per_frame", &self.samples_per_frame)
            .finish()
    }
}

/// Read and check one graph; its bytes and their hash.
fn read_graph(path: &Path) -> Result<(Vec<u8>, ModelProto)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let model = super::check::decode_checked(bytes.as_slice(), path)?;
    Ok((bytes, model))
}

/// The two graphs, in the order their pieces are loaded.
const GRAPHS: [&str; 2] = ["acoustic", "vocoder"];

/// One graph as a chain: its pieces, serialized, and the whole graph's outputs in order.
struct ChainGraph {
    pieces: Vec<Vec<u8>>,
    outputs: Vec<String>,
}

impl ChainGraph {
    /// `model` cut into pieces ([`chain_or_whole`]).
    fn split(model: &ModelProto) -> Self {
        ChainGraph {
            pieces: chain_or_whole(model, "a FastSpeech2 graph")
                .iter()
                .map(prost::Message::encode_to_vec)
                .collect(),
            outputs: model
                .graph
                .iter()
                .flat_map(|g| g.output.iter())
                .map(|o| o.name().to_owned())
                .collect(),
        }
    }

    fn meta(&self) -> ChainMeta {
        ChainMeta {
            pieces: self.pieces.len(),
            outputs: self.outputs.clone(),
        }
    }
}

/// The cache's part names of both graphs' pieces (`acoustic-0` ..., `vocoder-0` ...).
fn part_names(metas: &[ChainMeta; 2]) -> Vec<String> {
    GRAPHS
        .iter()
        .zip(metas)
        .flat_map(|(name, chain)| (0..chain.pieces).map(|k| piece_part(name, k)))
        .collect()
}

/// What a FastSpeech2 entry's meta says: 80-band mel frames, both graphs as chains.
fn entry_meta(samples_per_frame: usize, graphs: [ChainMeta; 2]) -> SplitMeta {
    let [acoustic, vocoder] = graphs;
    SplitMeta {
        frames_tensor: "mel".into(),
        frame_channels: Some(MEL_BANDS),
        samples_per_frame,
        vocoder_takes_sid: false,
        takes_sid: false,
        flow: None,
        whole: false,
        acoustic_chain: Some(acoustic),
        vocoder_chain: Some(vocoder),
    }
}

impl FastSpeech2Model {
    /// Load both graphs, check their inputs, and measure the vocoder's samples per frame; the
    /// model and the blake3 of both graphs. `num_symbols` is the size of the voice's symbol
    /// table (ids are checked against it). Each graph runs as a chain of pieces of a few hundred
    /// nodes (ONNX Runtime builds their sessions several times faster than one of ~1,000
    /// nodes). With a compiled-graph `cache`, graphs loaded before (same files, `config_bytes`,
    /// ONNX Runtime and CPU) come from there, already cut, optimized and checked; the pieces'
    /// sessions are built in parallel either way.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        env: &'static ort::environment::Environment,
        acoustic_path: &Path,
        vocoder_path: &Path,
        num_symbols: usize,
        counts: SessionCounts,
        config_bytes: &[u8],
        cache: Option<&GraphCache>,
        load: Option<&Arc<VoiceLoad>>,
    ) -> Result<(Self, blake3::Hash)> {
        let started = std::time::Instant::now();
        if let Some(cache) = cache {
            // Hashed as a stream: a hit never holds the source graphs in memory.
            let fingerprint = cache.hash_sources(&[acoustic_path, vocoder_path])?;
            let key = graph_cache::key(&fingerprint, config_bytes);
            let follow = FollowLoad::new(env, counts.threads, Some(cache), &key, load);
            if let Some(model) = Self::load_cached(
                env,
                acoustic_path,
                (num_symbols, counts),
                cache,
                &key,
                follow.as_ref(),
            ) {
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    key,
                    "voice loaded from the compiled-graph cache"
                );
                return Ok((model, fingerprint));
            }
        }
        let (acoustic_bytes, acoustic_model) = read_graph(acoustic_path)?;
        let (vocoder_bytes, vocoder_model) = read_graph(vocoder_path)?;
        let declared = |model: &ModelProto| -> Vec<(String, i32)> {
            model
                .graph
                .iter()
                .flat_map(|g| g.input.iter())
                .map(|i| {
                    let elem = i.tensor_type().and_then(|t| t.elem_type).unwrap_or(0);
                    (i.name.clone().unwrap_or_default(), elem)
                })
                .collect()
        };
        let inputs = declared(&acoustic_model);
        for (name, elem) in ACOUSTIC_INPUTS {
            match inputs.iter().find(|(n, _)| n == name) {
                Some((_, e)) if *e == elem => {}
                found => {
                    return Err(Error::ModelInput {
                        path: acoustic_path.to_path_buf(),
                        kind: "input",
                        name: name.into(),
                        expected: elem_type_name(elem).into(),
                        found: found.map_or("nothing".into(), |(_, e)| {
                            format!("{} input", elem_type_name(*e))
                        }),
                    })
                }
            }
        }
        let vocoder_inputs = declared(&vocoder_model);
        if vocoder_inputs.len() != 1 || vocoder_inputs[0].1 != 1 {
            return Err(Error::ModelInput {
                path: vocoder_path.to_path_buf(),
                kind: "input",
                name: "mels".into(),
                expected: "one float input [1, frames, 80]".into(),
                found: format!("{vocoder_inputs:?}"),
            });
        }
        let fingerprint = {
            let mut h = blake3::Hasher::new();
            h.update(&acoustic_bytes);
            h.update(&vocoder_bytes);
            h.finalize()
        };
        drop((acoustic_bytes, vocoder_bytes));
        // What is checked is what is keyed (a file may have changed since it was hashed).
        let key = graph_cache::key(&fingerprint, config_bytes);
        let staging = cache.and_then(GraphCache::try_staging);
        let follow = FollowLoad::new(env, counts.threads, staging.as_ref().and(cache), &key, load);
        let graphs = [
            ChainGraph::split(&acoustic_model),
            ChainGraph::split(&vocoder_model),
        ];
        drop((acoustic_model, vocoder_model));
        let metas = graphs.each_ref().map(ChainGraph::meta);
        let model = Self::from_graphs(
            env,
            acoustic_path,
            (num_symbols, counts),
            graphs,
            Some(staging.as_deref()),
            follow.as_ref(),
        );
        match (cache, &staging, &model) {
            (Some(cache), Some(dir), Ok(model)) => {
                let parts = part_names(&metas);
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                cache.commit(
                    &key,
                    dir,
                    entry_meta(model.samples_per_frame, metas),
                    &parts,
                );
            }
            (_, Some(dir), _) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            _ => {}
        }
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "voice loaded");
        Ok((model?, fingerprint))
    }

    /// The voice from its compiled-graph cache entry, or `None` (a miss, or an entry that
    /// failed and was dropped) to load afresh.
    fn load_cached(
        env: &ort::environment::Environment,
        acoustic_path: &Path,
        (num_symbols, counts): (usize, SessionCounts),
        cache: &GraphCache,
        key: &str,
        follow: Option<&FollowLoad>,
    ) -> Option<Self> {
        cache.load_with(key, |meta, mut parts| {
            let not_this_voice = || Error::ModelFormat {
                path: acoustic_path.to_path_buf(),
                reason: format!("the entry's meta is not this voice's: {meta:?}"),
            };
            let (Some(acoustic), Some(vocoder)) = (&meta.acoustic_chain, &meta.vocoder_chain)
            else {
                return Err(not_this_voice());
            };
            let graphs =
                [(GRAPHS[0], acoustic), (GRAPHS[1], vocoder)].map(|(name, chain)| ChainGraph {
                    pieces: (0..chain.pieces)
                        .map(|k| parts.remove(&piece_part(name, k)).unwrap_or_default())
                        .collect(),
                    outputs: chain.outputs.clone(),
                });
            let metas = graphs.each_ref().map(ChainGraph::meta);
            let model = Self::from_graphs(
                env,
                acoustic_path,
                (num_symbols, counts),
                graphs,
                None,
                follow,
            )?;
            if entry_meta(model.samples_per_frame, metas) == meta {
                Ok(model)
            } else {
                Err(not_this_voice())
            }
        })
    }

    /// Sessions for the pieces of the acoustic model and of the vocoder, all built at once,
    /// and the vocoder's samples per frame measured. `fresh`: `None` for pieces already
    /// optimized (from the cache); `Some(dir)` for pieces just cut, whose optimized graphs go
    /// to `dir/NAME-K.onnx` when `dir` is given.
    fn from_graphs(
        env: &ort::environment::Environment,
        acoustic_path: &Path,
        (num_symbols, counts): (usize, SessionCounts),
        graphs: [ChainGraph; 2],
        fresh: Option<Option<&Path>>,
        follow: Option<&FollowLoad>,
    ) -> Result<Self> {
        let [acoustic, vocoder] = graphs;
        if acoustic.outputs.len() < 3 || vocoder.outputs.is_empty() {
            return Err(Error::ModelOutput {
                name: "mel".into(),
                reason: format!(
                    "FastSpeech2 gives {} outputs (expected 5) and MB-MelGAN {}",
                    acoustic.outputs.len(),
                    vocoder.outputs.len()
                ),
            });
        }
        let jobs: Vec<(String, usize, &[u8], &'static str)> = [
            (
                GRAPHS[0],
                &acoustic,
                counts.acoustic,
                "loading the acoustic model (FastSpeech2)",
            ),
            (
                GRAPHS[1],
                &vocoder,
                counts.vocoder,
                "loading the vocoder (MB-MelGAN)",
            ),
        ]
        .into_iter()
        .flat_map(|(name, graph, count, context)| {
            graph
                .pieces
                .iter()
                .enumerate()
                .map(move |(k, bytes)| (piece_part(name, k), count, bytes.as_slice(), context))
        })
        .collect();
        let mut pools = parallel_map(&jobs, |(part, count, bytes, context)| {
            let saved = fresh.flatten().map(|dir| dir.join(format!("{part}.onnx")));
            let graph = match fresh {
                None => Graph::Optimized,
                Some(_) => Graph::Fresh {
                    save_optimized: saved.as_deref(),
                },
            };
            let follow = follow.map(|f| (f, part.as_str()));
            sessions(env, bytes, *count, counts.threads, graph, context, follow)
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let vocoder_pools = pools.split_off(acoustic.pieces.len());
        // The vocoder's first piece reads the graph's one input.
        let vocoder_input = vocoder_pools
            .first()
            .and_then(|pool| pool.with(|s| s.inputs().first().map(|i| i.name().to_owned())))
            .ok_or_else(|| Error::ModelInput {
                path: acoustic_path.to_path_buf(),
                kind: "input",
                name: "mels".into(),
                expected: "one float input [1, frames, 80]".into(),
                found: "a vocoder without inputs".into(),
            })?;
        let mut model = FastSpeech2Model {
            // The post-net mel and the durations: all the pipeline reads.
            acoustic: Chain::new(pools, &acoustic.outputs[1..3]),
            acoustic_outputs: acoustic.outputs,
            vocoder: Chain::new(vocoder_pools, &vocoder.outputs[..1]),
            vocoder_input,
            vocoder_output: vocoder.outputs[0].clone(),
            samples_per_frame: 0,
            num_symbols,
            path: acoustic_path.to_path_buf(),
        };
        const PROBE_FRAMES: usize = 16;
        let samples = model
            .vocode(Array2::zeros((MEL_BANDS, PROBE_FRAMES)).view(), None)?
            .len();
        if samples == 0 || samples % PROBE_FRAMES != 0 {
            return Err(Error::ModelOutput {
                name: "audio".into(),
                reason: format!("{PROBE_FRAMES} mel frames decoded to {samples} samples"),
            });
        }
        model.samples_per_frame = samples / PROBE_FRAMES;
        Ok(model)
    }
}

fn f32_input(value: f32) -> Result<DynValue> {
    Ok(Tensor::from_array(Array1::from_vec(vec![value]))
        .map_err(|e| Error::runtime("preparing an input", e))?
        .into_dyn())
}

/// FastSpeech2's durations as frames per id, when they are one per id and sum to the frames;
/// else none (timestamps are left out, never wrong).
fn frame_counts(counts: &[i32], ids: usize, frames: usize) -> Option<Vec<u32>> {
    let counts: Vec<u32> = counts
        .iter()
        .map(|&c| u32::try_from(c).ok())
        .collect::<Option<_>>()?;
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    (counts.len() == ids && total == frames as u64).then_some(counts)
}

impl SplitModel for FastSpeech2Model {
    /// FastSpeech2 and MB-MelGAN draw nothing.
    fn is_seeded(&self) -> bool {
        true
    }

    fn samples_per_frame(&self) -> usize {
        self.samples_per_frame
    }

    fn frame_channels(&self) -> usize {
        MEL_BANDS
    }

    /// The pace is `length_scale`, which is what TensorFlowTTS's `speed_ratios` is despite its
    /// name (it multiplies the predicted durations: 1.5 is slower); FastSpeech2 draws no noise,
    /// so the seed and the noise scales play no part.
    fn acoustic(&self, u: Utterance<'_>) -> Result<Acoustic> {
        let Utterance {
            ids, scales, sid, ..
        } = u;
        if let Some(&bad) = ids
            .iter()
            .find(|&&id| id < 0 || id as usize >= self.num_symbols)
        {
            return Err(Error::ModelOutput {
                name: "input_ids".into(),
                reason: format!(
                    "id {bad} is outside the voice's {} symbols",
                    self.num_symbols
                ),
            });
        }
        let ids32: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
        let input_ids = Tensor::from_array(
            Array2::from_shape_vec((1, ids32.len()), ids32)
                .map_err(|e| Error::runtime("preparing ids", e))?,
        )
        .map_err(|e| Error::runtime("preparing ids", e))?
        .into_dyn();
        let speaker = Tensor::from_array(Array1::from_vec(vec![sid.unwrap_or(0) as i32]))
            .map_err(|e| Error::runtime("preparing the speaker id", e))?
            .into_dyn();
        let inputs: Vec<(&str, DynValue)> = vec![
            ("input_ids", input_ids),
            ("speaker_ids", speaker),
            ("speed_ratios", f32_input(scales.length_scale)?),
            ("f0_ratios", f32_input(1.0)?),
            ("energy_ratios", f32_input(1.0)?),
        ];
        let mut values: HashMap<String, DynValue> = inputs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        self.acoustic
            .run(&mut values, "running the acoustic model")?;
        let output = |k: usize| {
            Chain::output(
                &values,
                &self.acoustic_outputs[k],
                "running the acoustic model",
            )
        };
        let view = output(1)?
            .try_extract_array::<f32>()
            .map_err(|e| Error::runtime("reading the mel", e))?;
        if view.ndim() != 3 || view.shape()[0] != 1 || view.shape()[2] != MEL_BANDS {
            return Err(Error::ModelOutput {
                name: "mel".into(),
                reason: format!("expected [1, frames, {MEL_BANDS}], got {:?}", view.shape()),
            });
        }
        let frames = super::check_frames(view.shape()[1], ids.len())?;
        // [1, T, 80] -> [80, T]: frames are columns, as everywhere in the pipeline.
        let mel = view
            .index_axis(Axis(0), 0)
            .t()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|e| Error::runtime("reading the mel", e))?
            .to_owned();
        // The third output is each id's frames (int32 `[1, ids]`), as the length regulator
        // used them.
        let durations = output(2).ok().and_then(|value| {
            let (_, counts) = value.try_extract_tensor::<i32>().ok()?;
            frame_counts(counts, ids.len(), frames)
        });
        check_finite(mel.iter().copied(), "mel")?;
        Ok(Acoustic {
            frames: mel,
            durations,
        })
    }

    fn vocode(&self, frames: ArrayView2<'_, f32>, _sid: Option<i64>) -> Result<Vec<f32>> {
        if frames.nrows() != MEL_BANDS {
            return Err(Error::ModelOutput {
                name: "mels".into(),
                reason: format!(
                    "the vocoder takes {MEL_BANDS} mel bands, got {}",
                    frames.nrows()
                ),
            });
        }
        let count = frames.ncols();
        if count == 0 {
            return Ok(Vec::new());
        }
        // [80, T] -> [1, T', 80], T' >= MIN_VOCODER_FRAMES.
        let padded = count.max(MIN_VOCODER_FRAMES);
        let mut mel = ndarray::Array3::<f32>::zeros((1, padded, MEL_BANDS));
        for t in 0..padded {
            mel.slice_mut(ndarray::s![0, t, ..])
                .assign(&frames.column(t.min(count - 1)));
        }
        let mels = Tensor::from_array(mel)
            .map_err(|e| Error::runtime("preparing the mel", e))?
            .into_dyn();
        let mut values = HashMap::from([(self.vocoder_input.clone(), mels)]);
        self.vocoder.run(&mut values, "running the vocoder")?;
        let mut samples = samples_of(Chain::output(
            &values,
            &self.vocoder_output,
            "running the vocoder",
        )?)?;
        if padded != count && self.samples_per_frame != 0 {
            samples.truncate(count * self.samples_per_frame);
        }
        Ok(samples)
    }
}
