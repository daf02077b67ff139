//! A Piper VITS voice as two ONNX Runtime sessions: acoustic (ids -> frames) and vocoder
//! (frames -> samples), or the whole graph when it cannot be split.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ndarray::{Array1, Array2, ArrayD, ArrayView2, Axis, IxDyn};
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use prost::Message;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::chain::Chain;
use super::graph_cache::{self, FlowMeta, GraphCache, SplitMeta};
use super::onnx::{data_type, elem_type_name, ModelProto, ValueInfoProto};
use super::pool::SessionPool;
use super::split::{
    chain_or_whole, split_flow, split_vits, FrameNoise, TEXT_NOISE_EXTRA, TEXT_NOISE_PER_ID,
};
use super::{
    check_finite, parallel_map, samples_of, sessions, Acoustic, FollowLoad, FrameWindows, Graph,
    Pipeline, Scales, SessionCounts, SplitModel, Spoken, Utterance, VoiceLoad, WholeModel,
};
use crate::error::{Error, Result};
use crate::voice::VoiceConfig;

/// Frames of context on each side of a flow window. VITS's flow is 4 coupling layers, each a
/// WaveNet of 4 convolutions of kernel 5 (dilation 1): a frame depends on at most 4 * 4 * 2 = 32
/// frames on each side, so with 32 frames of context a window is exact up to float rounding.
pub(crate) const FLOW_CONTEXT_FRAMES: usize = 32;

/// The acoustic half: one session, or a prior and a flow that can run in frame windows.
enum AcousticHalf {
    One(SessionPool),
    PriorFlow {
        /// The prior as a chain of pieces run in turn (see [`chain_or_whole`]).
        prior: Chain,
        flow: SessionPool,
        flow_inputs: Vec<String>,
        frame_noise: Vec<FrameNoise>,
        text_noise: Vec<String>,
        /// The prior's output of per-id frame counts, when it gives one.
        durations: Option<String>,
    },
}

/// The prior's output for one sentence, with the frame noise drawn for it: the flow's inputs
/// by name. Frame-aligned ones are `[1, channels, frames]`; others (scalars) pass whole.
pub(crate) struct Prior {
    inputs: Vec<(String, ArrayD<f32>)>,
    frames: usize,
    sid: Option<i64>,
    /// Frames of each phoneme id, summing to `frames`, when the prior gives them.
    durations: Option<Vec<u32>>,
}

impl Prior {
    /// Frames in the sentence.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

/// Standard normal draws for one sentence from its seed: stream 0 for the text-side draws,
/// stream 1 + k for the k-th frame-noise input.
fn draws(seed: u64, stream: u64, count: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    (0..count)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

/// A Piper voice split into acoustic half and HiFi-GAN decoder.
pub(crate) struct PiperModel {
    acoustic: AcousticHalf,
    vocoder: SessionPool,
    vocoder_takes_sid: bool,
    takes_sid: bool,
    samples_per_frame: usize,
    frame_channels: usize,
    path: PathBuf,
}

impl std::fmt::Debug for PiperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperModel")
            .field("path", &self.path)
            .field("samples_per_frame", &self.samples_per_frame)
            .finish()
    }
}

/// A Piper voice run as its whole graph (`graph_split(false)`, as Piper itself runs it): ONNX
/// Runtime draws the noise, so the seed plays no part.
pub(crate) struct PiperWhole {
    pool: SessionPool,
    takes_sid: bool,
    path: PathBuf,
}

impl std::fmt::Debug for PiperWhole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperWhole")
            .field("path", &self.path)
            .finish()
    }
}

impl WholeModel for PiperWhole {
    fn is_seeded(&self) -> bool {
        false
    }

    /// Samples without durations: the whole graph gives only its audio.
    fn synthesize(&self, u: Utterance<'_>) -> Result<Spoken> {
        self.pool.with(|session| {
            let inputs = text_inputs(session, u.ids, u.scales, u.sid.filter(|_| self.takes_sid))?;
            let outputs = session
                .run(inputs)
                .map_err(|e| Error::runtime("running the voice model", e))?;
            Ok(Spoken {
                samples: samples_of(&outputs[0])?,
                durations: None,
            })
        })
    }
}

impl PiperModel {
    /// Read, validate against `config`, split (unless `split` is false) and load the model at
    /// `path`; the pipeline and the blake3 of the model file. With a compiled-graph `cache`, a
    /// model split before (same model, config, ONNX Runtime and CPU) loads its optimized halves
    /// from there instead.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        env: &'static ort::environment::Environment,
        path: &Path,
        config_path: &Path,
        config: &VoiceConfig,
        config_bytes: &[u8],
        counts: SessionCounts,
        split: bool,
        cache: Option<&GraphCache>,
        load: Option<&Arc<VoiceLoad>>,
    ) -> Result<(Pipeline, blake3::Hash)> {
        let started = std::time::Instant::now();
        if let Some(cache) = cache.filter(|_| split) {
            // Hashed as a stream: a cache hit never holds the whole model in memory.
            let fingerprint = cache.hash_sources(&[path])?;
            let key = graph_cache::key(&fingerprint, config_bytes);
            let follow = FollowLoad::new(env, counts.threads, Some(cache), &key, load);
            if let Some(model) = Self::load_cached(env, path, cache, &key, counts, follow.as_ref())
            {
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    key,
                    "voice loaded from the compiled-graph cache"
                );
                return Ok((Pipeline::Split(Box::new(model)), fingerprint));
            }
        }
        let bytes = Bytes::from(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        // What is decoded is what is keyed (the file may have changed since it was hashed).
        let fingerprint = blake3::hash(&bytes);
        let key = graph_cache::key(&fingerprint, config_bytes);
        let model = super::check::decode_checked(bytes.clone(), path)?;
        let takes_sid = validate(&model, path, config_path, config)?;

        if !split {
            let pool = sessions(
                env,
                &bytes,
                counts.acoustic,
                counts.threads,
                Graph::Fresh {
                    save_optimized: None,
                },
                "loading the voice model",
                None,
            )?;
            let whole = PiperWhole {
                pool,
                takes_sid,
                path: path.to_path_buf(),
            };
            return Ok((Pipeline::Whole(Box::new(whole)), fingerprint));
        }
        drop(bytes);
        // The decoded model is gone once its parts are serialized: sessions are built without it.
        let (meta, parts) = split_parts(model, path, takes_sid)?;
        let staging = cache.and_then(GraphCache::try_staging);
        let names: Vec<String> = parts.keys().cloned().collect();
        // One-thread sessions are made from the entry this load writes.
        let follow = FollowLoad::new(env, counts.threads, staging.as_ref().and(cache), &key, load);
        // Each part's first session writes its optimized graph into the staging directory.
        let model = Self::from_parts(
            env,
            path,
            &meta,
            parts,
            Some(staging.as_deref()),
            counts,
            follow.as_ref(),
        );
        match (cache, &staging) {
            (Some(cache), Some(dir)) if model.is_ok() => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                cache.commit(&key, dir, meta, &names);
            }
            (_, Some(dir)) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            _ => {}
        }
        let model = model?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "voice split and loaded"
        );
        Ok((Pipeline::Split(Box::new(model)), fingerprint))
    }

    /// The voice from its compiled-graph cache entry, or `None` (a miss, or an entry that
    /// failed and was dropped) to split afresh.
    fn load_cached(
        env: &ort::environment::Environment,
        path: &Path,
        cache: &GraphCache,
        key: &str,
        counts: SessionCounts,
        follow: Option<&FollowLoad>,
    ) -> Option<Self> {
        cache.load_with(key, |meta, parts| {
            Self::from_parts(env, path, &meta, parts, None, counts, follow)
        })
    }

    /// Sessions for the split parts (`prior` + `flow`, or `acoustic`; and `vocoder`). `fresh`:
    /// `None` for parts already optimized (from the cache); `Some(dir)` for parts just split,
    /// whose optimized graphs go to `dir/NAME.onnx` when `dir` is given.
    fn from_parts(
        env: &ort::environment::Environment,
        path: &Path,
        meta: &SplitMeta,
        parts: BTreeMap<String, Vec<u8>>,
        fresh: Option<Option<&Path>>,
        counts: SessionCounts,
        follow: Option<&FollowLoad>,
    ) -> Result<Self> {
        let started = std::time::Instant::now();
        let files: BTreeMap<String, PathBuf> = parts
            .keys()
            .filter_map(|name| Some((name.clone(), fresh??.join(format!("{name}.onnx")))))
            .collect();
        let graph = |name: &str| match fresh {
            None => Graph::Optimized,
            Some(_) => Graph::Fresh {
                save_optimized: files.get(name).map(PathBuf::as_path),
            },
        };
        // Each part is freed as soon as its sessions exist, so the serialized graphs and ONNX
        // Runtime's copies of them are never all in memory at once.
        let slots: BTreeMap<String, Mutex<Option<Vec<u8>>>> = parts
            .into_iter()
            .map(|(name, bytes)| (name, Mutex::new(Some(bytes))))
            .collect();
        let part = |name: &str| -> Result<Vec<u8>> {
            slots
                .get(name)
                .and_then(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).take())
                .ok_or_else(|| Error::ModelFormat {
                    path: path.to_path_buf(),
                    reason: format!("the split has no {name} part"),
                })
        };
        // Every part's sessions, built at once on the machine's cores (each build is mostly
        // ONNX Runtime's single-threaded planning).
        let mut names: Vec<(String, usize, &'static str)> = match &meta.flow {
            Some(flow) => (0..flow.prior_pieces.max(1))
                .map(|k| {
                    (
                        graph_cache::piece_part("prior", k),
                        counts.acoustic,
                        "loading the prior of the voice model",
                    )
                })
                .chain([(
                    "flow".to_owned(),
                    counts.acoustic,
                    "loading the flow of the voice model",
                )])
                .collect(),
            None => vec![(
                "acoustic".to_owned(),
                counts.acoustic,
                "loading the acoustic half of the voice model",
            )],
        };
        names.push((
            "vocoder".to_owned(),
            counts.vocoder,
            "loading the vocoder half of the voice model",
        ));
        let mut pools = parallel_map(&names, |(name, count, context)| {
            sessions(
                env,
                &part(name)?,
                *count,
                counts.threads,
                graph(name),
                context,
                follow.map(|f| (f, name.as_str())),
            )
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let vocoder = pools
            .pop()
            .unwrap_or_else(|| unreachable!("the vocoder was asked for"));
        let acoustic = match &meta.flow {
            Some(flow) => {
                let flow_pool = pools
                    .pop()
                    .unwrap_or_else(|| unreachable!("the flow was asked for"));
                AcousticHalf::PriorFlow {
                    frame_noise: flow
                        .frame_noise
                        .iter()
                        .map(|(input, like)| FrameNoise {
                            input: input.clone(),
                            like: like.clone(),
                        })
                        .collect(),
                    text_noise: flow.text_noise.clone(),
                    durations: flow.durations.clone(),
                    prior: Chain::new(
                        pools,
                        &flow
                            .flow_inputs
                            .iter()
                            .chain(&flow.durations)
                            .cloned()
                            .collect::<Vec<_>>(),
                    ),
                    flow: flow_pool,
                    flow_inputs: flow.flow_inputs.clone(),
                }
            }
            None => AcousticHalf::One(
                pools
                    .pop()
                    .unwrap_or_else(|| unreachable!("the acoustic half was asked for")),
            ),
        };
        let mut model = PiperModel {
            acoustic,
            vocoder,
            vocoder_takes_sid: meta.vocoder_takes_sid,
            takes_sid: meta.takes_sid,
            samples_per_frame: meta.samples_per_frame,
            frame_channels: meta.frame_channels.unwrap_or(0),
            path: path.to_path_buf(),
        };
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "sessions built");
        model.measure_frame_geometry()?;
        Ok(model)
    }

    /// Read the frame geometry off the model itself: channels from a real acoustic run, samples
    /// per frame from decoding frames of silence; the graph's declarations are only a cross-check.
    fn measure_frame_geometry(&mut self) -> Result<()> {
        let sid = self.takes_sid.then_some(0);
        let scales = Scales {
            noise_scale: 0.0,
            length_scale: 1.0,
            noise_w: 0.0,
        };
        let frames = self
            .acoustic(Utterance {
                ids: &[0, 0, 0],
                scales,
                sid,
                mix: None,
                seed: 0,
            })?
            .frames;
        let channels = frames.nrows();
        if self.frame_channels != 0 && self.frame_channels != channels {
            return Err(Error::ModelOutput {
                name: "frames".into(),
                reason: format!(
                    "the graph declares {} channels, the model produced {channels}",
                    self.frame_channels
                ),
            });
        }
        self.frame_channels = channels;
        const PROBE_FRAMES: usize = 4;
        let silence = Array2::<f32>::zeros((channels, PROBE_FRAMES));
        let samples = self.vocode(silence.view(), sid)?.len();
        if samples == 0 || samples % PROBE_FRAMES != 0 {
            return Err(Error::ModelOutput {
                name: "output".into(),
                reason: format!("{PROBE_FRAMES} frames decoded to {samples} samples"),
            });
        }
        let measured = samples / PROBE_FRAMES;
        if measured != self.samples_per_frame {
            tracing::debug!(
                declared = self.samples_per_frame,
                measured,
                "decoder upsampling differs from the strides; using the measured value"
            );
            self.samples_per_frame = measured;
        }
        Ok(())
    }

    /// Run the prior (text encoder, durations) over a sentence and draw its frame noise, when
    /// the acoustic half is cut at its flow; `None` when it runs whole.
    pub fn prior(&self, u: Utterance<'_>) -> Result<Option<Prior>> {
        let Utterance {
            ids,
            scales,
            sid,
            seed,
            ..
        } = u;
        let AcousticHalf::PriorFlow {
            prior,
            flow_inputs,
            frame_noise,
            text_noise,
            durations,
            ..
        } = &self.acoustic
        else {
            return Ok(None);
        };
        let sid = sid.filter(|_| self.takes_sid);
        let text_draws = draws(seed, 0, TEXT_NOISE_PER_ID * ids.len() + TEXT_NOISE_EXTRA);
        // Everything the prior's pieces may read; each piece adds what it makes.
        // Sized for the inputs and every piece's outputs, so it never grows during the run.
        let mut values: HashMap<String, DynValue> =
            HashMap::with_capacity(8 + text_noise.len() + prior.len() * 32);
        values.extend(
            text_values(ids, scales, sid)?
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        for name in text_noise {
            values.insert(
                name.clone(),
                Tensor::from_array(Array1::from_vec(text_draws.clone()))
                    .map_err(|e| Error::runtime("preparing the text noise", e))?
                    .into_dyn(),
            );
        }
        prior.run(&mut values, "running the prior")?;
        let mut inputs = Vec::with_capacity(flow_inputs.len() + frame_noise.len());
        for name in flow_inputs {
            let value = Chain::output(&values, name, "running the prior")?;
            let array = value
                .try_extract_array::<f32>()
                .map_err(|e| Error::runtime("reading the prior", e))?
                .to_owned();
            inputs.push((name.clone(), array));
        }
        // Frames: the last axis of the rank-3 outputs, which must agree.
        let frame_axes: Vec<usize> = inputs
            .iter()
            .filter(|(_, a)| a.ndim() == 3)
            .map(|(_, a)| a.shape()[2])
            .collect();
        let frames = frame_axes.first().copied().unwrap_or(0);
        if frames == 0 || frame_axes.iter().any(|&f| f != frames) {
            return Err(Error::ModelOutput {
                name: "prior".into(),
                reason: format!("outputs disagree on frames: {frame_axes:?}"),
            });
        }
        super::check_frames(frames, ids.len())?;
        let durations = durations
            .as_ref()
            .and_then(|name| values.get(name))
            .and_then(|value| frame_counts(value, ids.len(), frames));
        for (name, a) in &inputs {
            check_finite(a.iter().copied(), name)?;
        }
        for (k, noise) in frame_noise.iter().enumerate() {
            let shape = inputs
                .iter()
                .find(|(name, _)| *name == noise.like)
                .map(|(_, a)| a.shape().to_vec())
                .ok_or_else(|| Error::ModelOutput {
                    name: noise.like.clone(),
                    reason: "missing from the prior's outputs".into(),
                })?;
            let count = shape.iter().product();
            let values = ArrayD::from_shape_vec(IxDyn(&shape), draws(seed, 1 + k as u64, count))
                .map_err(|e| Error::runtime("shaping the frame noise", e))?;
            inputs.push((noise.input.clone(), values));
        }
        Ok(Some(Prior {
            inputs,
            frames,
            sid,
            durations,
        }))
    }

    /// Frames `start..end` of a sentence from its prior, running the flow over that window plus
    /// [`FLOW_CONTEXT_FRAMES`] on each side.
    pub fn flow(&self, prior: &Prior, start: usize, end: usize) -> Result<Array2<f32>> {
        let AcousticHalf::PriorFlow { flow, .. } = &self.acoustic else {
            return Err(Error::Internal {
                reason: "the flow was asked for, but the acoustic half runs whole".into(),
            });
        };
        let total = prior.frames();
        let (start, end) = (start.min(total), end.min(total));
        let from = start.saturating_sub(FLOW_CONTEXT_FRAMES);
        let to = (end + FLOW_CONTEXT_FRAMES).min(total);
        let sid = prior.sid;
        let frames = flow.with(|session| -> Result<Array2<f32>> {
            let mut inputs: Vec<(String, DynValue)> = Vec::with_capacity(prior.inputs.len() + 1);
            for (name, a) in &prior.inputs {
                let window = if a.ndim() == 3 && a.shape()[2] == total {
                    a.slice(ndarray::s![.., .., from..to]).into_dyn().to_owned()
                } else {
                    a.clone()
                };
                let value = Tensor::from_array(window)
                    .map_err(|e| Error::runtime("preparing the flow's input", e))?
                    .into_dyn();
                inputs.push((name.clone(), value));
            }
            if let Some(sid) = sid {
                if session.inputs().iter().any(|i| i.name() == "sid") {
                    inputs.push(("sid".to_owned(), int64_tensor(vec![sid])?));
                }
            }
            let outputs = session
                .run(inputs)
                .map_err(|e| Error::runtime("running the flow", e))?;
            frames_of(&outputs[0], "frames")
        })?;
        if frames.ncols() != to - from {
            return Err(Error::ModelOutput {
                name: "frames".into(),
                reason: format!(
                    "the flow turned {} frames into {}",
                    to - from,
                    frames.ncols()
                ),
            });
        }
        check_finite(frames.iter().copied(), "frames")?;
        Ok(frames
            .slice(ndarray::s![.., start - from..end - from])
            .to_owned())
    }
}

impl SplitModel for PiperModel {
    fn samples_per_frame(&self) -> usize {
        self.samples_per_frame
    }

    fn frame_channels(&self) -> usize {
        self.frame_channels
    }

    /// Whether the model's random draws come from the seed (the flow is split out; otherwise
    /// ONNX Runtime draws inside the acoustic half).
    fn is_seeded(&self) -> bool {
        matches!(self.acoustic, AcousticHalf::PriorFlow { .. })
    }

    /// Phoneme ids -> frames `[channels, frames]`, the model's random draws made from the seed
    /// when the voice's flow is split out.
    fn acoustic(&self, u: Utterance<'_>) -> Result<Acoustic> {
        match &self.acoustic {
            AcousticHalf::One(pool) => {
                let sid = u.sid.filter(|_| self.takes_sid);
                let frames = pool.with(|session| -> Result<Array2<f32>> {
                    let inputs = text_inputs(session, u.ids, u.scales, sid)?;
                    let outputs = session
                        .run(inputs)
                        .map_err(|e| Error::runtime("running the acoustic model", e))?;
                    frames_of(&outputs[0], "frames")
                })?;
                super::check_frames(frames.ncols(), u.ids.len())?;
                check_finite(frames.iter().copied(), "frames")?;
                Ok(Acoustic {
                    frames,
                    durations: None,
                })
            }
            AcousticHalf::PriorFlow { .. } => {
                let mut prior = self
                    .prior(u)?
                    .unwrap_or_else(|| unreachable!("the acoustic half has a prior"));
                Ok(Acoustic {
                    frames: self.flow(&prior, 0, prior.frames())?,
                    durations: prior.durations.take(),
                })
            }
        }
    }

    fn frame_windows<'a>(&'a self, u: Utterance<'_>) -> Result<Option<Box<dyn FrameWindows + 'a>>> {
        Ok(self.prior(u)?.map(|prior| {
            Box::new(PriorWindows { model: self, prior }) as Box<dyn FrameWindows + 'a>
        }))
    }

    /// Frames `[channels, frames]` -> samples.
    fn vocode(&self, frames: ArrayView2<'_, f32>, sid: Option<i64>) -> Result<Vec<f32>> {
        if frames.nrows() != self.frame_channels {
            return Err(Error::ModelOutput {
                name: "frames".into(),
                reason: format!(
                    "the vocoder takes {} channels, got {}",
                    self.frame_channels,
                    frames.nrows()
                ),
            });
        }
        let batched = Tensor::from_array(frames.insert_axis(Axis(0)).to_owned())
            .map_err(|e| Error::runtime("preparing the frames", e))?
            .into_dyn();
        let sid = if self.vocoder_takes_sid {
            Some(int64_tensor(vec![sid.unwrap_or(0)])?)
        } else {
            None
        };
        self.vocoder.with(|session| {
            let frames_name = session.inputs()[0].name().to_owned();
            let mut inputs: Vec<(String, DynValue)> = vec![(frames_name, batched)];
            if let Some(sid) = sid {
                inputs.push(("sid".to_owned(), sid));
            }
            let outputs = session
                .run(inputs)
                .map_err(|e| Error::runtime("running the vocoder", e))?;
            samples_of(&outputs[0])
        })
    }
}

/// A sentence's prior, its frames made by the flow window by window.
struct PriorWindows<'a> {
    model: &'a PiperModel,
    prior: Prior,
}

impl FrameWindows for PriorWindows<'_> {
    fn frames(&self) -> usize {
        self.prior.frames()
    }

    fn window(&self, start: usize, end: usize) -> Result<Array2<f32>> {
        self.model.flow(&self.prior, start, end)
    }

    fn durations(&self) -> Option<&[u32]> {
        self.prior.durations.as_deref()
    }
}

/// The prior's `w_ceil` (`[1, 1, ids]` whole frames) as frames per id, when it is one count per
/// id and they sum to the sentence's frames; else none (timestamps are left out, never wrong).
fn frame_counts(value: &DynValue, ids: usize, frames: usize) -> Option<Vec<u32>> {
    let (_, counts) = value.try_extract_tensor::<f32>().ok()?;
    if counts.len() != ids || counts.iter().any(|c| !(c.is_finite() && *c >= 0.0)) {
        return None;
    }
    let counts: Vec<u32> = counts.iter().map(|&c| c.round() as u32).collect();
    // VITS clamps the total to at least one frame.
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    (total.max(1) == frames as u64).then_some(counts)
}

/// The text-side inputs that `session` takes (a split can leave an unused one out).
fn text_inputs(
    session: &Session,
    ids: &[i64],
    scales: Scales,
    sid: Option<i64>,
) -> Result<Vec<(&'static str, DynValue)>> {
    let mut inputs = text_values(ids, scales, sid)?;
    inputs.retain(|(name, _)| session.inputs().iter().any(|i| i.name() == *name));
    Ok(inputs)
}

/// Every text-side input of a Piper voice: ids, their count, the scales and the speaker.
fn text_values(
    ids: &[i64],
    scales: Scales,
    sid: Option<i64>,
) -> Result<Vec<(&'static str, DynValue)>> {
    let n = ids.len();
    let input = Tensor::from_array(
        Array2::from_shape_vec((1, n), ids.to_vec())
            .map_err(|e| Error::runtime("preparing ids", e))?,
    )
    .map_err(|e| Error::runtime("preparing ids", e))?
    .into_dyn();
    let mut inputs = vec![
        ("input", input),
        ("input_lengths", int64_tensor(vec![n as i64])?),
        (
            "scales",
            Tensor::from_array(Array1::from_vec(vec![
                scales.noise_scale,
                scales.length_scale,
                scales.noise_w,
            ]))
            .map_err(|e| Error::runtime("preparing scales", e))?
            .into_dyn(),
        ),
    ];
    if let Some(sid) = sid {
        inputs.push(("sid", int64_tensor(vec![sid])?));
    }
    Ok(inputs)
}

/// A Piper model's parts, serialized (the prior's pieces and the flow, or the acoustic half
/// whole; and the vocoder), with what the split found.
fn split_parts(
    model: ModelProto,
    path: &Path,
    takes_sid: bool,
) -> Result<(SplitMeta, BTreeMap<String, Vec<u8>>)> {
    // A graph that cannot be cut cleanly is refused, not guessed at: the caller may choose to
    // run it whole.
    let split_model = split_vits(&model).map_err(|why| Error::ModelFormat {
        path: path.to_path_buf(),
        reason: format!(
            "cannot split the graph into acoustic model and vocoder: {why} (load it with \
                 graph_split(false) to run it whole)"
        ),
    })?;
    let mut parts = BTreeMap::new();
    let flow = match split_flow(&split_model.acoustic) {
        Ok(flow) => {
            tracing::debug!(
                prior_nodes = flow.node_counts.0,
                flow_nodes = flow.node_counts.1,
                "acoustic half cut at its flow"
            );
            // The prior in pieces: ONNX Runtime plans small graphs much faster.
            let chain = chain_or_whole(&flow.prior, "the prior");
            for (k, piece) in chain.iter().enumerate() {
                parts.insert(graph_cache::piece_part("prior", k), piece.encode_to_vec());
            }
            parts.insert("flow".to_owned(), flow.flow.encode_to_vec());
            Some(FlowMeta {
                prior_pieces: chain.len(),
                flow_inputs: flow.flow_inputs,
                frame_noise: flow
                    .frame_noise
                    .into_iter()
                    .map(|n| (n.input, n.like))
                    .collect(),
                text_noise: flow.text_noise,
                durations: flow.durations,
            })
        }
        Err(why) => {
            tracing::debug!("the acoustic half runs whole (no windowed flow): {why}");
            parts.insert("acoustic".to_owned(), split_model.acoustic.encode_to_vec());
            None
        }
    };
    parts.insert("vocoder".to_owned(), split_model.vocoder.encode_to_vec());
    tracing::debug!(
        model = %path.display(),
        frames = %split_model.frames_tensor,
        acoustic_nodes = split_model.node_counts.0,
        vocoder_nodes = split_model.node_counts.1,
        "split VITS graph"
    );
    let meta = SplitMeta {
        frames_tensor: split_model.frames_tensor,
        frame_channels: split_model.frame_channels,
        samples_per_frame: split_model.samples_per_frame,
        vocoder_takes_sid: !split_model.vocoder_extra_inputs.is_empty(),
        takes_sid,
        flow,
        whole: false,
        acoustic_chain: None,
        vocoder_chain: None,
    };
    Ok((meta, parts))
}

/// A `[1, channels, frames]` output as `[channels, frames]`.
fn frames_of(value: &DynValue, name: &str) -> Result<Array2<f32>> {
    let view = value
        .try_extract_array::<f32>()
        .map_err(|e| Error::runtime("reading frames", e))?;
    if view.ndim() != 3 || view.shape()[0] != 1 {
        return Err(Error::ModelOutput {
            name: name.to_owned(),
            reason: format!("expected [1, channels, frames], got {:?}", view.shape()),
        });
    }
    Ok(view
        .index_axis(Axis(0), 0)
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|e| Error::runtime("reading frames", e))?
        .to_owned())
}

fn int64_tensor(values: Vec<i64>) -> Result<DynValue> {
    Ok(Tensor::from_array(Array1::from_vec(values))
        .map_err(|e| Error::runtime("preparing an input", e))?
        .into_dyn())
}

/// Check the model's inputs against what a Piper voice needs and the config against the model.
/// Returns whether the model takes a speaker id.
fn validate(
    model: &ModelProto,
    path: &Path,
    config_path: &Path,
    config: &VoiceConfig,
) -> Result<bool> {
    let graph = model.graph.as_ref().ok_or_else(|| Error::ModelFormat {
        path: path.to_path_buf(),
        reason: "no graph".into(),
    })?;
    let find = |name: &str| graph.input.iter().find(|v| v.name() == name);
    let expect = |name: &str, elem: i32, rank: usize, required: bool| -> Result<bool> {
        let Some(v) = find(name) else {
            if required {
                return Err(input_error(path, name, elem, rank, "absent".into()));
            }
            return Ok(false);
        };
        let t = v.tensor_type();
        let found_elem = t.and_then(|t| t.elem_type).unwrap_or(0);
        let found_rank = t.and_then(|t| t.rank());
        if found_elem != elem || found_rank.is_some_and(|r| r != rank) {
            return Err(input_error(path, name, elem, rank, describe(v)));
        }
        Ok(true)
    };
    expect("input", data_type::INT64, 2, true)?;
    expect("input_lengths", data_type::INT64, 1, true)?;
    expect("scales", data_type::FLOAT, 1, true)?;
    let takes_sid = expect("sid", data_type::INT64, 1, false)?;
    if graph.output.is_empty() {
        return Err(Error::ModelInput {
            path: path.to_path_buf(),
            kind: "output",
            name: "output".into(),
            expected: "one float32 audio output".into(),
            found: "no outputs".into(),
        });
    }

    let mismatch = |reason: String| Error::VoiceMismatch {
        config: config_path.to_path_buf(),
        model: path.to_path_buf(),
        reason,
    };
    if config.num_speakers > 1 && !takes_sid {
        return Err(mismatch(format!(
            "the config has {} speakers, but the model takes no speaker id (sid)",
            config.num_speakers
        )));
    }
    if config.num_speakers <= 1 && takes_sid {
        return Err(mismatch(
            "the model takes a speaker id (sid), but the config has one speaker".into(),
        ));
    }
    // Embedding tables: rows of the Gather that reads `input` (symbols) and `sid` (speakers).
    let table_rows = |input: &str| -> Option<i64> {
        let gather = graph.node.iter().find(|n| {
            n.op_type() == "Gather" && n.input.get(1).map(String::as_str) == Some(input)
        })?;
        let table = gather.input.first()?;
        graph
            .initializer
            .iter()
            .find(|t| t.name() == table)
            .and_then(|t| t.dims.first().copied())
    };
    if let Some(symbols) = table_rows("input") {
        if config.num_symbols as i64 > symbols {
            return Err(mismatch(format!(
                "the config has {} symbols, the model's embedding has {symbols}",
                config.num_symbols
            )));
        }
    }
    if let Some(speakers) = table_rows("sid") {
        if config.num_speakers as i64 > speakers {
            return Err(mismatch(format!(
                "the config has {} speakers, the model's speaker embedding has {speakers}",
                config.num_speakers
            )));
        }
    }
    Ok(takes_sid)
}

fn input_error(path: &Path, name: &str, elem: i32, rank: usize, found: String) -> Error {
    Error::ModelInput {
        path: path.to_path_buf(),
        kind: "input",
        name: name.to_owned(),
        expected: format!("{} of rank {rank}", elem_type_name(elem)),
        found,
    }
}

fn describe(v: &ValueInfoProto) -> String {
    match v.tensor_type() {
        Some(t) => format!(
            "{} of rank {}",
            elem_type_name(t.elem_type.unwrap_or(0)),
            t.rank().map_or_else(|| "?".to_string(), |r| r.to_string())
        ),
        None => "not a tensor".into(),
    }
}
