//! ONNX models: reading and splitting graphs, and running them. Nothing outside this module
//! touches `ort`.

pub mod check;
mod fastspeech2;
pub(crate) mod graph_cache;
pub mod onnx;
mod piper;
mod pool;
pub(crate) mod runtime;
pub mod split;

pub(crate) use fastspeech2::FastSpeech2Model;
pub(crate) use piper::{PiperModel, Scales, SessionCounts};

use ndarray::{Array2, ArrayView2};

use ort::value::DynValue;
use pool::SessionPool;
use runtime::session_from_memory;
pub(crate) use runtime::Graph;

use crate::error::{Error, Result};

/// A loaded voice model: an acoustic model (ids -> frames) and a vocoder (frames -> samples).
/// Streams, the chunked vocoder and the cache see voices only through this trait, so a new
/// family of voice is a new implementation of it and of [`TextFrontend`](crate::frontend).
pub(crate) trait VoiceModel: Send + Sync + std::fmt::Debug {
    /// Whether the voice runs as acoustic model + vocoder (false: only whole synthesis).
    fn is_split(&self) -> bool;

    /// Whether the same ids and seed always give the same samples (so caching is honest).
    fn is_seeded(&self) -> bool;

    /// Output samples per frame (0 when not split).
    fn samples_per_frame(&self) -> usize;

    /// Channels of a frame (0 when not split).
    fn frame_channels(&self) -> usize;

    /// Frames of context a vocoder window needs on each side for its kept samples to equal a
    /// whole-sentence decode.
    fn vocoder_context_frames(&self) -> usize;

    /// The voice's default vocoder window once a stream is running (frames): large enough that
    /// the context costs little, small enough that the vocoder's working memory stays bounded.
    fn vocoder_chunk_frames(&self) -> usize {
        512
    }

    /// blake3 of the model files.
    fn fingerprint(&self) -> &blake3::Hash;

    /// Phoneme ids -> frames `[channels, frames]`.
    fn acoustic(
        &self,
        ids: &[i64],
        scales: Scales,
        sid: Option<i64>,
        seed: u64,
    ) -> Result<Array2<f32>>;

    /// A sentence's frames made window by window, for a stream's first sentence, when the
    /// acoustic model can do that (Piper's flow); `None` to take [`VoiceModel::acoustic`].
    fn frame_windows<'a>(
        &'a self,
        _ids: &[i64],
        _scales: Scales,
        _sid: Option<i64>,
        _seed: u64,
    ) -> Result<Option<Box<dyn FrameWindows + 'a>>> {
        Ok(None)
    }

    /// Frames `[channels, frames]` -> samples in `[-1, 1]`.
    fn vocode(&self, frames: ArrayView2<'_, f32>, sid: Option<i64>) -> Result<Vec<f32>>;

    /// Phoneme ids -> samples in one go (the only way for a voice that is not split).
    fn synthesize_whole(
        &self,
        ids: &[i64],
        scales: Scales,
        sid: Option<i64>,
        seed: u64,
    ) -> Result<Vec<f32>> {
        let frames = self.acoustic(ids, scales, sid, seed)?;
        self.vocode(frames.view(), sid)
    }
}

/// A sentence whose frames can be made in windows after one shared step.
pub(crate) trait FrameWindows {
    /// Frames in the sentence.
    fn frames(&self) -> usize;
    /// Frames `start..end` as `[channels, end - start]`.
    fn window(&self, start: usize, end: usize) -> Result<Array2<f32>>;
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
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
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

/// `count` sessions of one graph, each with `threads` intra-op threads (the first one writes the
/// optimized graph, when asked to).
pub(crate) fn sessions(
    env: &ort::environment::Environment,
    bytes: &[u8],
    count: usize,
    threads: usize,
    graph: Graph<'_>,
    context: &'static str,
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
    Ok(SessionPool::new(sessions))
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
