//! The chunked vocoder: a sentence's frames are decoded in windows, each with context frames on
//! both sides whose samples are dropped, so that audio can be played before the whole sentence
//! is decoded, and windows can be decoded in parallel.
//!
//! HiFi-GAN is convolutional: a sample depends only on frames within its receptive field. With
//! enough context a window's kept samples equal the whole-sentence decode's up to float rounding
//! (the stream-equals-whole test measures the SNR), and the windows butt together with no gap
//! and no duplicated sample: together they cover exactly `frames * samples_per_frame` samples.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use ndarray::{s, ArrayView2};

use crate::error::{Error, Result};
use crate::model::SplitModel;

/// How streams cut sentences into vocoder windows, as a caller asks for it. Sizes are in
/// acoustic frames (256 samples, 11.6 ms, for 22.05 kHz Piper voices; 300 samples for the
/// Mandarin voice). A field left `None` takes the voice's own value: each family knows the
/// context its vocoder needs and the window that keeps its memory bounded, so
/// `StreamOptions::default()` is "the voice's defaults", never one family's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// Frames in the first window of a stream: small, so that first audio comes fast.
    pub first_chunk_frames: Option<usize>,
    /// Frames per window once the stream is running; windows grow 4-fold from the first size
    /// up to this.
    pub chunk_frames: Option<usize>,
    /// Context frames decoded on each side of a window and dropped.
    pub context_frames: Option<usize>,
    /// Windows of one sentence decoded at once, each on its own vocoder session (1: one after
    /// another).
    pub vocoder_workers: Option<usize>,
}

/// Stream windows resolved for one voice: what its streams use
/// ([`Synthesizer::stream_options`](crate::Synthesizer::stream_options)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamWindows {
    /// Frames in the first window of a stream.
    pub first_chunk_frames: usize,
    /// Frames per window once the stream is running.
    pub chunk_frames: usize,
    /// Context frames decoded on each side of a window and dropped.
    pub context_frames: usize,
    /// Windows of one sentence decoded at once.
    pub vocoder_workers: usize,
}

impl StreamOptions {
    /// Every field left unset takes `voice`'s value; the result is checked.
    pub fn resolve(&self, voice: StreamWindows) -> Result<StreamWindows> {
        let windows = StreamWindows {
            first_chunk_frames: self.first_chunk_frames.unwrap_or(voice.first_chunk_frames),
            chunk_frames: self.chunk_frames.unwrap_or(voice.chunk_frames),
            context_frames: self.context_frames.unwrap_or(voice.context_frames),
            vocoder_workers: self.vocoder_workers.unwrap_or(voice.vocoder_workers),
        };
        windows.validate()?;
        Ok(windows)
    }
}

impl StreamWindows {
    fn validate(&self) -> Result<()> {
        let invalid =
            |name: &'static str, value: usize, reason: &'static str| Error::InvalidOption {
                name,
                value: value.to_string(),
                reason,
            };
        // Any size above 0 is valid: one larger than a sentence decodes it in one window (the
        // window arithmetic saturates, so usize::MAX is too).
        if self.first_chunk_frames == 0 {
            return Err(invalid("first_chunk_frames", 0, "must be at least 1"));
        }
        if self.chunk_frames == 0 {
            return Err(invalid("chunk_frames", 0, "must be at least 1"));
        }
        if self.vocoder_workers == 0 || self.vocoder_workers > 64 {
            return Err(invalid(
                "vocoder_workers",
                self.vocoder_workers,
                "must be in 1..=64",
            ));
        }
        if self.context_frames > 1024 {
            return Err(invalid(
                "context_frames",
                self.context_frames,
                "must be at most 1024",
            ));
        }
        Ok(())
    }
}

/// One vocoder window: keep frames `start..end`, decode `from..to` (the kept frames plus context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: usize,
    pub end: usize,
    pub from: usize,
    pub to: usize,
}

/// How fast windows grow from the first to the steady size. Each window must be decoded before
/// the audio before it has played: window n+1 is 4x window n, and 4 frames of audio (46 ms)
/// take far longer to play than 1 + 2 * context frames take to decode (about 1 ms per frame
/// here), while every extra window costs its context twice. Measured: doubling gave 20% more
/// decode work on a stream's first sentence.
const GROWTH: usize = 4;

/// A window size one growth step on.
pub(crate) fn grown(size: usize) -> usize {
    size.saturating_mul(GROWTH)
}

/// Windows over `frames` frames: the first `first` frames long, then growing [`GROWTH`]-fold up
/// to `steady`.
pub(crate) fn plan(frames: usize, first: usize, steady: usize, context: usize) -> Vec<Window> {
    let steady = steady.max(1);
    let mut size = first.clamp(1, steady);
    let mut windows = Vec::with_capacity(frames / steady + 4);
    let mut start = 0;
    while start < frames {
        let end = start.saturating_add(size).min(frames);
        windows.push(Window {
            start,
            end,
            from: start.saturating_sub(context),
            to: end.saturating_add(context).min(frames),
        });
        start = end;
        size = grown(size).min(steady);
    }
    windows
}

/// Decode one window and keep its own samples.
fn decode_window(
    model: &dyn SplitModel,
    frames: ArrayView2<'_, f32>,
    window: Window,
    sid: Option<i64>,
) -> Result<Vec<f32>> {
    let hop = model.samples_per_frame();
    let mut samples = model.vocode(frames.slice(s![.., window.from..window.to]), sid)?;
    let expected = (window.to - window.from) * hop;
    if samples.len() != expected {
        return Err(Error::ModelOutput {
            name: "output".into(),
            reason: format!(
                "{} frames decoded to {} samples, expected {expected}",
                window.to - window.from,
                samples.len()
            ),
        });
    }
    // The kept samples, trimmed in place: a window's audio is allocated once, by the model.
    samples.truncate((window.end - window.from) * hop);
    samples.drain(..(window.start - window.from) * hop);
    Ok(samples)
}

/// Decode `windows` of `frames` in order, handing each window's samples to `emit` as soon as it
/// and all before it are done. `emit` returns `false` to stop (the listener is gone); `cancel`
/// stops between windows. With `workers > 1` windows are decoded concurrently on that many
/// threads, each borrowing its own vocoder session.
pub(crate) fn decode_in_order(
    model: &dyn SplitModel,
    frames: ArrayView2<'_, f32>,
    windows: &[Window],
    sid: Option<i64>,
    workers: usize,
    cancel: &AtomicBool,
    mut emit: impl FnMut(Vec<f32>, bool) -> bool,
) -> Result<()> {
    let last = windows.len().saturating_sub(1);
    if workers <= 1 || windows.len() <= 1 {
        for (i, &window) in windows.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(());
            }
            let samples = decode_window(model, frames, window, sid)?;
            if !emit(samples, i == last) {
                return Ok(());
            }
        }
        return Ok(());
    }

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // The window workers run for the caller's stream: its deadline orders their model runs.
    let stream = crate::playhead::current();
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(usize, Result<Vec<f32>>)>();
        for _ in 0..workers.min(windows.len()) {
            let done_tx = done_tx.clone();
            let (next, stop) = (&next, &stop);
            let stream = stream.clone();
            scope.spawn(move || {
                let _stream = crate::playhead::enter(stream);
                loop {
                    if stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&window) = windows.get(i) else {
                        return;
                    };
                    let result = decode_window(model, frames, window, sid);
                    if done_tx.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut ready: BTreeMap<usize, Result<Vec<f32>>> = BTreeMap::new();
        let mut wanted = 0;
        let outcome = loop {
            if let Some(result) = ready.remove(&wanted) {
                match result {
                    Ok(samples) => {
                        if !emit(samples, wanted == last) {
                            break Ok(());
                        }
                        wanted += 1;
                        if wanted > last {
                            break Ok(());
                        }
                        continue;
                    }
                    Err(e) => break Err(e),
                }
            }
            match done_rx.recv() {
                Ok((i, result)) => {
                    ready.insert(i, result);
                }
                // Every worker stopped (cancelled) before the wanted window was done.
                Err(_) => break Ok(()),
            }
        };
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_frame_once_and_grow() {
        for (frames, first, steady, context) in [
            (484, 16, 128, 16),
            (1, 1, 1, 0),
            (10, 16, 128, 4),
            (300, 1, 64, 8),
        ] {
            let windows = plan(frames, first, steady, context);
            assert_eq!(windows.first().unwrap().start, 0);
            assert_eq!(windows.last().unwrap().end, frames);
            for pair in windows.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "gap or overlap");
                assert!(
                    pair[1].end - pair[1].start >= (pair[0].end - pair[0].start).min(steady)
                        || pair[1].end == frames
                );
            }
            for w in &windows {
                assert!(w.from <= w.start && w.end <= w.to && w.to <= frames);
                assert!(w.start - w.from <= context && w.to - w.end <= context);
                assert!(w.end - w.start <= steady.max(1));
            }
        }
        let sizes: Vec<usize> = plan(500, 8, 256, 0)
            .iter()
            .map(|w| w.end - w.start)
            .collect();
        assert_eq!(sizes, vec![8, 32, 128, 256, 76]);
    }

    #[test]
    fn unset_options_take_the_voices_values_and_are_validated() {
        let voice = StreamWindows {
            first_chunk_frames: 8,
            chunk_frames: 128,
            context_frames: 24,
            vocoder_workers: 1,
        };
        assert_eq!(StreamOptions::default().resolve(voice).unwrap(), voice);
        let asked = StreamOptions {
            chunk_frames: Some(256),
            ..Default::default()
        };
        assert_eq!(
            asked.resolve(voice).unwrap(),
            StreamWindows {
                chunk_frames: 256,
                ..voice
            }
        );
        let bad = StreamOptions {
            chunk_frames: Some(0),
            ..Default::default()
        };
        assert!(bad.resolve(voice).is_err());
        let bad = StreamOptions {
            vocoder_workers: Some(0),
            ..Default::default()
        };
        assert!(bad.resolve(voice).is_err());
    }
}
