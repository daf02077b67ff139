//! Streaming synthesis: iterators of frames and of audio whose first item comes long before the
//! text is done.
//!
//! A stream runs two stages on two threads of its own, joined by bounded channels:
//!
//! ```text
//! text --segments--> [acoustic thread] --frames (2 sentences)--> [vocoder thread] --chunks (4)--> next()
//! ```
//!
//! The acoustic thread phonemizes segment by segment and runs the acoustic model sentence by
//! sentence; the vocoder thread cuts each sentence's frames into windows (small first, then
//! growing) and decodes them. So sentence n+1's frames are made while sentence n is decoded and
//! played, and a slow listener holds at most a few sentences in memory, whatever the text's
//! length. Dropping a stream stops both threads (each checks between model runs) and joins them:
//! nothing of a stream outlives it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use ndarray::Array2;

use crate::cache::{CacheKey, Voicing};
use crate::error::{Error, Result};
use crate::synthesizer::{report_missing, Inner};
use crate::vocoder::{decode_in_order, plan};

/// Sentences of frames queued between the acoustic model and the vocoder.
const FRAME_QUEUE: usize = 2;
/// Audio chunks queued between the vocoder and the listener.
const CHUNK_QUEUE: usize = 4;

/// A piece of streamed audio.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Mono samples in `[-1.0, 1.0]`.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
    /// Index of the sentence this chunk belongs to (0-based, over the whole stream).
    pub sentence: usize,
    /// Position of the first sample in the stream, in samples.
    pub start_sample: u64,
    /// Whether this chunk ends its sentence.
    pub sentence_end: bool,
}

/// One sentence's acoustic frames: what the acoustic model gives and the vocoder takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    /// Index of the sentence (0-based, over the whole stream).
    pub sentence: usize,
    /// `[channels, frames]`: Piper's latent `z` (192 channels, one frame per 256 samples).
    pub data: Array2<f32>,
    /// The speaker id the frames were made for (multi-speaker voices condition the vocoder too).
    pub speaker: Option<i64>,
}

/// What the acoustic stage hands the vocoder stage.
pub(crate) enum Work {
    /// Frames `start..start + data.ncols()` of a sentence of `total` frames; a sentence's
    /// pieces come in order, and most sentences are one piece.
    Piece {
        frames: Frames,
        start: usize,
        total: usize,
        /// Where the sentence's audio goes in the cache, once decoded.
        cache: Option<CacheKey>,
    },
    /// A voice that runs whole gives a sentence's audio at once.
    Audio { sentence: usize, samples: Vec<f32> },
}

/// The receiving end of a stream's pipeline: an iterator that cancels and joins on drop.
struct Pipe<T> {
    rx: Option<Receiver<Result<T>>>,
    cancel: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    finished: bool,
}

impl<T> Pipe<T> {
    fn next_item(&mut self) -> Option<Result<T>> {
        if self.finished {
            return None;
        }
        let item = self.rx.as_ref().and_then(|rx| rx.recv().ok());
        match item {
            Some(Ok(value)) => Some(Ok(value)),
            Some(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            None => {
                self.finished = true;
                None
            }
        }
    }
}

impl<T> Drop for Pipe<T> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        // Closing the channel wakes a stage blocked on sending; it then stops.
        drop(self.rx.take());
        for thread in self.threads.drain(..) {
            // The stages catch their own panics; a join error cannot carry anything new.
            let _ = thread.join();
        }
    }
}

/// Streamed audio: an iterator of [`AudioChunk`]s in order. An error ends the stream after it is
/// yielded. Dropping the stream cancels the rest of the work within one model run.
pub struct AudioStream(Pipe<AudioChunk>);

impl Iterator for AudioStream {
    type Item = Result<AudioChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_item()
    }
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("finished", &self.0.finished)
            .finish()
    }
}

/// Streamed acoustic frames, one [`Frames`] per sentence, before the vocoder.
pub struct FrameStream(Pipe<Work>);

impl Iterator for FrameStream {
    type Item = Result<Frames>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.0.next_item()? {
            // frame_stream() asks for whole sentences, and only of split voices.
            Ok(Work::Piece { frames, .. }) => Ok(frames),
            Ok(Work::Audio { .. }) => {
                self.0.finished = true;
                Err(Error::NotSplit)
            }
            Err(e) => Err(e),
        })
    }
}

impl std::fmt::Debug for FrameStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameStream")
            .field("finished", &self.0.finished)
            .finish()
    }
}

/// Start the stages for `text`; options were checked by the caller.
pub(crate) fn audio_stream(
    inner: Arc<Inner>,
    text: String,
    voicing: Voicing,
) -> Result<AudioStream> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = sync_channel::<Result<Work>>(FRAME_QUEUE);
    let (chunk_tx, chunk_rx) = sync_channel::<Result<AudioChunk>>(CHUNK_QUEUE);
    // The vocoder says when the first chunk is out (or it stopped): until then the acoustic
    // model does not compete with the first window for the cores.
    let (first_out_tx, first_out_rx) = sync_channel::<()>(1);
    let acoustic = spawn_stage("indextts-acoustic", &work_tx, {
        let (inner, cancel) = (Arc::clone(&inner), Arc::clone(&cancel));
        let work_tx = work_tx.clone();
        move || {
            let first = FirstSentence {
                head_frames: inner.stream_options.first_chunk_frames
                    + inner.stream_options.context_frames,
                first_out: first_out_rx,
            };
            acoustic_stage(&inner, &text, voicing, &cancel, &work_tx, Some(first), true);
        }
    })?;
    drop(work_tx);
    let vocoder = spawn_stage("indextts-vocoder", &chunk_tx, {
        let cancel = Arc::clone(&cancel);
        let chunk_tx = chunk_tx.clone();
        move || vocoder_stage(&inner, work_rx, &cancel, &chunk_tx, first_out_tx)
    })?;
    drop(chunk_tx);
    Ok(AudioStream(Pipe {
        rx: Some(chunk_rx),
        cancel,
        threads: vec![acoustic, vocoder],
        finished: false,
    }))
}

/// Start the acoustic stage alone for `text`; the caller checked that the voice has frames.
pub(crate) fn frame_stream(
    inner: Arc<Inner>,
    text: String,
    voicing: Voicing,
) -> Result<FrameStream> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = sync_channel::<Result<Work>>(FRAME_QUEUE);
    let acoustic = spawn_stage("indextts-acoustic", &work_tx, {
        let cancel = Arc::clone(&cancel);
        let work_tx = work_tx.clone();
        move || acoustic_stage(&inner, &text, voicing, &cancel, &work_tx, None, false)
    })?;
    drop(work_tx);
    Ok(FrameStream(Pipe {
        rx: Some(work_rx),
        cancel,
        threads: vec![acoustic],
        finished: false,
    }))
}

/// Spawn a stage; a panic inside it becomes an error on its channel rather than a silent end.
fn spawn_stage<T: Send + 'static>(
    name: &str,
    tx: &SyncSender<Result<T>>,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>> {
    let tx = tx.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let _ = tx.send(Err(Error::Internal { reason }));
            }
        })
        .map_err(|e| Error::Internal {
            reason: format!("cannot start a stream thread: {e}"),
        })
}

/// How a stream's first sentence is made for the fastest first audio.
struct FirstSentence {
    /// Frames the vocoder's first window needs (the window and its right context): the flow
    /// makes these first, in a window of their own, when the voice's flow can run in windows.
    head_frames: usize,
    /// Closed or signalled when the first chunk is out: until then nothing else competes for
    /// the cores.
    first_out: Receiver<()>,
}

/// Text -> sentences -> frames (or whole audio for an unsplit voice), in order.
fn acoustic_stage(
    inner: &Inner,
    text: &str,
    voicing: Voicing,
    cancel: &AtomicBool,
    tx: &SyncSender<Result<Work>>,
    mut first: Option<FirstSentence>,
    audio_out: bool,
) {
    let Voicing { scales, sid, .. } = voicing;
    let mut index = 0;
    for segment in inner.frontend.segments(text) {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let sentences = match inner.frontend.sentences(segment) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        report_missing(&sentences);
        for sentence in sentences.iter().filter(|s| s.has_phonemes()) {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            let ids = &sentence.phoneme_ids;
            let key = inner.sentence_key(ids, &voicing);
            let seed = key.seed();
            // Frame streams want frames, not audio: only audio streams use the cache.
            let cache_key = if audio_out {
                inner.cache_key(&key, first.is_some())
            } else {
                None
            };
            if let Some(hit) = cache_key.as_ref().and_then(|k| inner.cache.get(k)) {
                let work = Work::Audio {
                    sentence: index,
                    samples: hit.to_vec(),
                };
                if tx.send(Ok(work)).is_err() {
                    return;
                }
                wait_for_first_chunk(&mut first);
                index += 1;
                continue;
            }
            let send = |work: Result<Work>| -> bool {
                let failed = work.is_err();
                tx.send(work).is_ok() && !failed
            };
            let piece = |data: Array2<f32>, start: usize, total: usize| Work::Piece {
                frames: Frames {
                    sentence: index,
                    data,
                    speaker: sid,
                },
                start,
                total,
                cache: cache_key,
            };
            let model = &*inner.model;
            // A sentence's frames in one piece, from one acoustic run.
            let whole_sentence = || {
                model.acoustic(ids, scales, sid, seed).map(|d| {
                    let total = d.ncols();
                    piece(d, 0, total)
                })
            };
            if !model.is_split() {
                let audio = model
                    .synthesize_whole(ids, scales, sid, seed)
                    .map(|samples| Work::Audio {
                        sentence: index,
                        samples,
                    });
                if !send(audio) {
                    return;
                }
            } else if let Some(head) = first.as_ref().map(|f| f.head_frames) {
                // The first sentence: the head of its frames in a window of its own (when the
                // acoustic model can make frames in windows), then the rest.
                let windows = match model.frame_windows(ids, scales, sid, seed) {
                    Ok(windows) => windows,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                match windows {
                    Some(w) if w.frames() > head => {
                        let total = w.frames();
                        if !send(w.window(0, head).map(|d| piece(d, 0, total))) {
                            return;
                        }
                        wait_for_first_chunk(&mut first);
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        if !send(w.window(head, total).map(|d| piece(d, head, total))) {
                            return;
                        }
                    }
                    Some(w) => {
                        let total = w.frames();
                        if !send(w.window(0, total).map(|d| piece(d, 0, total))) {
                            return;
                        }
                    }
                    None => {
                        if !send(whole_sentence()) {
                            return;
                        }
                    }
                }
            } else if !send(whole_sentence()) {
                return;
            }
            wait_for_first_chunk(&mut first);
            index += 1;
        }
    }
}

/// Block until the vocoder has sent the stream's first chunk (or stopped); then never again.
fn wait_for_first_chunk(first: &mut Option<FirstSentence>) {
    if let Some(first) = first.take() {
        let _ = first.first_out.recv();
    }
}

/// A sentence whose frames are arriving in pieces, decoded window by window as they come.
struct Assembly {
    /// Where the finished sentence's audio goes, with the audio so far.
    cache: Option<(CacheKey, Vec<f32>)>,
    sentence: usize,
    speaker: Option<i64>,
    data: Array2<f32>,
    available: usize,
    windows: Vec<crate::vocoder::Window>,
    decoded: usize,
}

/// Frames -> windows -> audio chunks, in order.
fn vocoder_stage(
    inner: &Inner,
    rx: Receiver<Result<Work>>,
    cancel: &AtomicBool,
    tx: &SyncSender<Result<AudioChunk>>,
    first_out: SyncSender<()>,
) {
    let mut first_out = Some(first_out);
    let options = inner.stream_options;
    let sample_rate = inner.config.sample_rate;
    let mut start_sample = 0u64;
    let mut first_window = options.first_chunk_frames;
    // Silence between sentences (voices whose sentences do not end in their own pause): put
    // before the first chunk of every sentence but the first, so cached audio stays the same.
    let gap = (inner.config.sentence_silence * sample_rate as f32).round() as usize;
    let mut last_started: Option<usize> = None;
    let mut current: Option<Assembly> = None;
    for work in rx {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let mut send = |mut samples: Vec<f32>, sentence: usize, sentence_end: bool| -> bool {
            if last_started != Some(sentence) {
                if last_started.is_some() && gap > 0 {
                    samples.splice(0..0, std::iter::repeat_n(0.0, gap));
                }
                last_started = Some(sentence);
            }
            let len = samples.len() as u64;
            let chunk = AudioChunk {
                samples,
                sample_rate,
                sentence,
                start_sample,
                sentence_end,
            };
            start_sample += len;
            let sent = tx.send(Ok(chunk)).is_ok();
            if let Some(first_out) = first_out.take() {
                let _ = first_out.try_send(());
            }
            sent
        };
        let result = match work {
            Err(e) => Err(e),
            Ok(Work::Audio { sentence, samples }) => {
                if !send(samples, sentence, true) {
                    return;
                }
                Ok(())
            }
            Ok(Work::Piece {
                mut frames,
                start,
                total,
                cache,
            }) => {
                let whole = start == 0 && frames.data.ncols() == total;
                let assembly = match current.take() {
                    _ if start == 0 => {
                        let windows = plan(
                            total,
                            first_window,
                            options.chunk_frames,
                            options.context_frames,
                        );
                        // Only the stream's first window is small: later sentences are decoded
                        // while earlier ones play.
                        first_window = options.chunk_frames;
                        let data = if whole {
                            std::mem::replace(&mut frames.data, Array2::zeros((0, 0)))
                        } else {
                            Array2::zeros((frames.data.nrows(), total))
                        };
                        let sentence_samples = total * inner.model.samples_per_frame();
                        Some(Assembly {
                            cache: cache.map(|key| (key, Vec::with_capacity(sentence_samples))),
                            sentence: frames.sentence,
                            speaker: frames.speaker,
                            data,
                            available: 0,
                            windows,
                            decoded: 0,
                        })
                    }
                    Some(a) if a.sentence == frames.sentence && a.available == start => Some(a),
                    _ => None,
                };
                let Some(mut a) = assembly else {
                    let _ = tx.send(Err(Error::Internal {
                        reason: format!(
                            "frames of sentence {} arrived out of order",
                            frames.sentence
                        ),
                    }));
                    return;
                };
                let end = if whole {
                    total
                } else {
                    (start + frames.data.ncols()).min(total)
                };
                if !whole {
                    a.data
                        .slice_mut(ndarray::s![.., start..end])
                        .assign(&frames.data.slice(ndarray::s![.., ..end - start]));
                }
                a.available = end;
                let ready = a.windows[a.decoded..]
                    .iter()
                    .take_while(|w| w.to <= a.available)
                    .count();
                let batch = a.decoded..a.decoded + ready;
                let ends_sentence = batch.end == a.windows.len();
                let sentence = a.sentence;
                let mut listening = true;
                let mut kept = a.cache.take();
                let decoded = decode_in_order(
                    &*inner.model,
                    a.data.view(),
                    &a.windows[batch.clone()],
                    a.speaker,
                    options.vocoder_workers,
                    cancel,
                    |samples, last| {
                        if let Some((_, audio)) = &mut kept {
                            audio.extend_from_slice(&samples);
                        }
                        listening = send(samples, sentence, last && ends_sentence);
                        listening
                    },
                );
                a.cache = kept;
                // Only a whole sentence goes into the cache: not one cut short by a listener that
                // left, a cancel or an error.
                let whole = a.data.ncols() * inner.model.samples_per_frame();
                if decoded.is_ok() && ends_sentence && listening {
                    if let Some((key, audio)) = a.cache.take().filter(|(_, a)| a.len() == whole) {
                        inner.cache.put(key, audio.into());
                    }
                }
                if !listening {
                    return;
                }
                a.decoded = batch.end;
                if !ends_sentence {
                    current = Some(a);
                }
                decoded
            }
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e));
            return;
        }
    }
}
