//! ONNX models: reading and splitting graphs, and running them. Nothing outside this module
//! touches `ort`.

// The ONNX subset, the model checks and the graph split are public only to the project's own
// tests and fuzzers (feature `unstable-internals`).
mod chain;
#[cfg(feature = "unstable-internals")]
pub mod check;
#[cfg(not(feature = "unstable-internals"))]
pub(crate) mod check;
#[cfg(feature = "zh")]
mod fastspeech2;
#[cfg(feature = "unstable-internals")]
pub mod graph_cache;
#[cfg(not(feature = "unstable-internals"))]
pub(crate) mod graph_cache;
pub(crate) mod kokoro;
#[cfg(feature = "unstable-internals")]
pub mod onnx;
#[cfg(not(feature = "unstable-internals"))]
pub(crate) mod onnx;
mod piper;
mod pool;
pub(crate) mod runtime;
#[cfg(feature = "unstable-internals")]
pub mod split;
#[cfg(not(feature = "unstable-internals"))]
pub(crate) mod split;

#[cfg(feature = "zh")]
pub(crate) use fastspeech2::FastSpeech2Model;
pub(crate) use kokoro::KokoroModel;
pub(crate) use piper::PiperModel;

use ndarray::{Array2, ArrayView2};

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use graph_cache::GraphCache;
use ort::value::DynValue;
use pool::SessionPool;
use runtime::session_from_memory;
pub(crate) use runtime::Graph;

use crate::error::{Error, Result};

/// The inference scales of a sentence, in Piper's order (FastSpeech2 takes only the pace).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scales {
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
}

/// How many sessions of each model to keep, and their threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionCounts {
    /// Intra-op threads of each session.
    pub threads: usize,
    /// Sessions of the acoustic model (or of the whole graph).
    pub acoustic: usize,
    /// Sessions of the vocoder.
    pub vocoder: usize,
}

/// Most speakers in one blend.
pub const MAX_SPEAKER_MIX: usize = 4;

/// A blend of speakers, each with its weight (the weights sum to 1), for voices whose speakers
/// are style vectors that can be mixed (Kokoro's voice packs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpeakerMix {
    parts: [(i64, f32); MAX_SPEAKER_MIX],
    len: usize,
}

impl SpeakerMix {
    /// A blend of `parts` (speaker id, weight > 0), weights scaled to sum to 1; `None` when
    /// there are none, more than [`MAX_SPEAKER_MIX`], or a weight is not a positive number.
    pub fn new(parts: &[(i64, f32)]) -> Option<Self> {
        if parts.is_empty() || parts.len() > MAX_SPEAKER_MIX {
            return None;
        }
        if parts.iter().any(|&(_, w)| !(w.is_finite() && w > 0.0)) {
            return None;
        }
        let total: f32 = parts.iter().map(|&(_, w)| w).sum();
        let mut mix = SpeakerMix {
            parts: [(0, 0.0); MAX_SPEAKER_MIX],
            len: parts.len(),
        };
        for (slot, &(id, w)) in mix.parts.iter_mut().zip(parts) {
            *slot = (id, w / total);
        }
        Some(mix)
    }

    /// The speakers and their weights.
    pub fn parts(&self) -> &[(i64, f32)] {
        &self.parts[..self.len]
    }
}

/// The per-call choices that shape a sentence's audio, resolved against the voice's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Voicing {
    pub scales: Scales,
    pub sid: Option<i64>,
    /// A blend of speakers instead of `sid` alone, for voices that blend.
    pub mix: Option<SpeakerMix>,
    /// The caller's seed, if any (else each sentence's seed comes from its key).
    pub seed: Option<u64>,
}

/// One sentence as every model takes it: phoneme ids and how to voice them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Utterance<'a> {
    pub ids: &'a [i64],
    pub scales: Scales,
    /// Speaker id, for multi-speaker voices.
    pub sid: Option<i64>,
    /// A blend of speakers, for voices that blend.
    pub mix: Option<SpeakerMix>,
    /// Seed of the model's random draws (for models whose draws are ours).
    pub seed: u64,
}

/// A sentence's frames from the acoustic model, with each phoneme id's share of them.
#[derive(Debug)]
pub(crate) struct Acoustic {
    /// `[channels, frames]`.
    pub frames: Array2<f32>,
    /// Frames of each phoneme id (summing to the frames), when the model exposes its durations.
    pub durations: Option<Vec<u32>>,
}

/// A sentence's audio from a model run whole, with each phoneme id's share of it.
#[derive(Debug)]
pub(crate) struct Spoken {
    /// Samples in `[-1, 1]`.
    pub samples: Vec<f32>,
    /// When each id is said, when the model exposes its durations.
    pub durations: Option<Timing>,
}

/// When each phoneme id of a sentence is said, in samples of the sentence's audio.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timing {
    /// Samples before the first id (a model's own padding, such as Kokoro's pad token).
    pub lead: u32,
    /// Samples of each id, in order.
    pub per_id: Vec<u32>,
}

impl Timing {
    /// A timing from frames per id, at `samples_per_frame`; `None` when it overflows.
    pub fn from_frames(frames: &[u32], samples_per_frame: usize) -> Option<Timing> {
        let per_frame = u32::try_from(samples_per_frame).ok()?;
        // Sized once: this runs for every sentence of a stream.
        let mut per_id = Vec::with_capacity(frames.len());
        for &f in frames {
            per_id.push(f.checked_mul(per_frame)?);
        }
        Some(Timing { lead: 0, per_id })
    }

    /// The first sample of each id, and one past the last id's end (`per_id.len() + 1` values).
    pub fn starts(&self) -> Vec<u64> {
        let mut at = u64::from(self.lead);
        let mut starts = Vec::with_capacity(self.per_id.len() + 1);
        starts.push(at);
        for &d in &self.per_id {
            at += u64::from(d);
            starts.push(at);
        }
        starts
    }
}

/// How a loaded voice turns a sentence into audio: the shape of its pipeline, as a type.
/// Streams, the chunked vocoder and the cache see models only through it, so a new family of
/// voice implements one of the two traits (and a [`TextFrontend`](crate::frontend::TextFrontend)).
#[derive(Debug)]
pub(crate) enum Pipeline {
    /// An acoustic model (ids -> frames) and a vocoder (frames -> samples): streams decode a
    /// sentence's frames in windows, and callers may take the frames themselves.
    Split(Box<dyn SplitModel>),
    /// One model from ids to samples: a sentence's audio comes at once.
    Whole(Box<dyn WholeModel>),
}

impl Pipeline {
    /// The acoustic model and vocoder, when the pipeline has them.
    pub fn split(&self) -> Option<&dyn SplitModel> {
        match self {
            Pipeline::Split(model) => Some(&**model),
            Pipeline::Whole(_) => None,
        }
    }

    /// Whether the same ids and seed always give the same samples (so caching is honest).
    pub fn is_seeded(&self) -> bool {
        match self {
            Pipeline::Split(model) => model.is_seeded(),
            Pipeline::Whole(model) => model.is_seeded(),
        }
    }
}

/// A voice model run as acoustic model + vocoder.
pub(crate) trait SplitModel: Send + Sync + std::fmt::Debug {
    /// Output samples per frame (the vocoder's hop).
    fn samples_per_frame(&self) -> usize;

    /// Channels of a frame.
    fn frame_channels(&self) -> usize;

    /// Whether the model's random draws come from the seed (or it draws nothing).
    fn is_seeded(&self) -> bool;

    /// Phoneme ids -> frames `[channels, frames]` (and each id's frames, when known).
    fn acoustic(&self, utterance: Utterance<'_>) -> Result<Acoustic>;

    /// A sentence's frames made window by window, for a stream's first sentence, when the
    /// acoustic model can do that (Piper's flow); `None` to take [`SplitModel::acoustic`].
    fn frame_windows<'a>(
        &'a self,
        _utterance: Utterance<'_>,
    ) -> Result<Option<Box<dyn FrameWindows + 'a>>> {
        Ok(None)
    }

    /// Frames `[channels, frames]` -> samples in `[-1, 1]`.
    fn vocode(&self, frames: ArrayView2<'_, f32>, sid: Option<i64>) -> Result<Vec<f32>>;
}

/// A voice model run whole: phoneme ids -> samples in one go.
pub(crate) trait WholeModel: Send + Sync + std::fmt::Debug {
    /// Whether the same ids and seed always give the same samples.
    fn is_seeded(&self) -> bool;

    /// Phoneme ids -> samples in `[-1, 1]` (and each id's samples, when known).
    fn synthesize(&self, utterance: Utterance<'_>) -> Result<Spoken>;
}

/// A sentence whose frames can be made in windows after one shared step.
pub(crate) trait FrameWindows {
    /// Frames in the sentence.
    fn frames(&self) -> usize;
    /// Frames `start..end` as `[channels, end - start]`.
    fn window(&self, start: usize, end: usize) -> Result<Array2<f32>>;
    /// Frames of each phoneme id, when the model exposes its durations.
    fn durations(&self) -> Option<&[u32]>;
}

/// Most acoustic frames one sentence may have (48,000: about 9 minutes of 22.05 kHz audio, far
/// beyond a 400-phoneme sentence even at `length_scale` 10). A duration model that predicts
/// more is an error before the flow and the vocoder run, so a pathological prediction cannot
/// make them allocate gigabytes (the prior's own expansion to frames happens inside its run).
pub const MAX_SENTENCE_FRAMES: usize = 48_000;

/// `frames` if within [`MAX_SENTENCE_FRAMES`], else the error.
pub(crate) fn check_frames(frames: usize, phonemes: usize) -> crate::Result<usize> {
    if frames > MAX_SENTENCE_FRAMES {
        return Err(crate::Error::ModelOutput {
            name: "durations".into(),
            reason: format!(
                "the duration model gave {frames} frames for a sentence of {phonemes} phoneme \
                 ids; at most {MAX_SENTENCE_FRAMES} are accepted"
            ),
        });
    }
    Ok(frames)
}

/// `f` over `items` on up to as many threads as the machine has cores; results in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = cores().min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break done };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            // A worker's panic is the caller's: carry it over rather than lose its results.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A voice's load: its streams running now, and the one-thread sessions made for them.
#[derive(Debug, Default)]
pub(crate) struct VoiceLoad {
    pub streams: AtomicUsize,
    pub one_thread_sessions: AtomicUsize,
}

/// What lets a voice's session pools follow the load: the compiled-graph cache entry their
/// one-thread sessions are made from, and the voice's count of running streams.
#[derive(Clone)]
pub(crate) struct FollowLoad {
    env: &'static ort::environment::Environment,
    cache: GraphCache,
    key: String,
    load: Arc<VoiceLoad>,
}

impl FollowLoad {
    /// `None` when there is nothing to follow: sessions of one thread already, one core, no
    /// graph cache to make sessions from (the voice would have to keep its graphs in memory),
    /// or no count of streams.
    pub fn new(
        env: &'static ort::environment::Environment,
        threads: usize,
        cache: Option<&GraphCache>,
        key: &str,
        load: Option<&Arc<VoiceLoad>>,
    ) -> Option<Self> {
        (threads > 1 && cores() > 1).then_some(())?;
        Some(FollowLoad {
            env,
            cache: cache?.clone(),
            key: key.to_owned(),
            load: Arc::clone(load?),
        })
    }

    /// Let `pool`, sessions of the entry's `part`, make one-thread sessions under load.
    fn attach(&self, pool: &mut SessionPool, part: &str, context: &'static str) {
        let (env, cache, key, part) = (
            self.env,
            self.cache.clone(),
            self.key.clone(),
            part.to_owned(),
        );
        pool.follow_load(pool::Narrow {
            make: Box::new(move || {
                let bytes = cache
                    .load_part(&key, &part)
                    .map_err(|e| Error::runtime(context, e))?;
                session_from_memory(env, &bytes, 1, Graph::Optimized, context)
            }),
            most: cores(),
            load: Arc::clone(&self.load),
        });
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `count` sessions of one graph, each with `threads` intra-op threads (the first one writes the
/// optimized graph, when asked to). With `follow` (and the graph's part name in its cache
/// entry), the pool makes one-thread sessions of it while several streams run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sessions(
    env: &ort::environment::Environment,
    bytes: &[u8],
    count: usize,
    threads: usize,
    graph: Graph<'_>,
    context: &'static str,
    follow: Option<(&FollowLoad, &str)>,
) -> Result<SessionPool> {
    let sessions = (0..count.max(1))
        .map(|i| {
            let graph = match graph {
                Graph::Fresh { .. } if i > 0 => Graph::Fresh {
                    save_optimized: None,
                },
                g => g,
            };
            session_from_memory(env, bytes, threads, graph, context)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut pool = SessionPool::new(sessions);
    if let Some((follow, part)) = follow {
        follow.attach(&mut pool, part, context);
    }
    Ok(pool)
}

/// A vocoder's output as samples, clamped to `[-1, 1]`; NaN or infinity is an error.
pub(crate) fn samples_of(value: &DynValue) -> Result<Vec<f32>> {
    let (_, samples) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| Error::runtime("reading the audio", e))?;
    check_finite(samples.iter().copied(), "output")?;
    // Every piece of audio leaves the model here: clamp it once, to the range WAV can hold.
    Ok(samples.iter().map(|s| s.clamp(-1.0, 1.0)).collect())
}

/// An error naming `name` when any value is NaN or infinite.
pub(crate) fn check_finite(mut values: impl Iterator<Item = f32>, name: &str) -> Result<()> {
    if values.any(|v| !v.is_finite()) {
        return Err(Error::ModelOutput {
            name: name.to_owned(),
            reason: "contains NaN or infinite values".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pathological_frame_count_is_an_error() {
        assert_eq!(super::check_frames(900, 100).ok(), Some(900));
        let error = super::check_frames(super::MAX_SENTENCE_FRAMES + 1, 12).unwrap_err();
        assert!(error.to_string().contains("48001 frames"), "{error}");
    }
}
