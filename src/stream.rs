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

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use ndarray::Array2;

use crate::cache::{CacheKey, SentenceAudio};
use crate::engine::{report_missing, Engine};
use crate::error::{Error, Result};
use crate::frontend::{Pronunciations, Sentence};
use crate::model::{Pipeline, Timing, Utterance, Voicing};
use crate::playhead::{self, Playhead};
use crate::ssml::Piece;
use crate::text_stream::{TextSink, Units};
use crate::timestamps::{sentence_marks, sentence_phonemes, Mark, PhonemeMark, WordMark};
use crate::vocoder::{decode_in_order, plan, StreamWindows, Window};

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
    /// The words that start in this chunk, in samples from the start of the stream (empty
    /// when the voice's model gives no durations).
    pub words: Vec<WordMark>,
    /// The phonemes that start in this chunk, with their ids, in samples from the start of the
    /// stream (empty when the voice's model gives no durations).
    pub phonemes: Vec<PhonemeMark>,
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
        /// The sentence's words and timing (with its first piece).
        said: Said,
    },
    /// A voice that runs whole gives a sentence's audio at once.
    Audio {
        sentence: usize,
        samples: Vec<f32>,
        said: Said,
    },
}

/// When a sentence's words and phonemes are said: their marks in samples from the sentence's
/// first sample, and the timing they came from (kept with the audio in the cache).
#[derive(Debug, Default)]
pub(crate) struct Said {
    marks: Marks,
    timing: Option<Timing>,
}

/// Word and phoneme marks.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    words: Vec<WordMark>,
    phonemes: Vec<PhonemeMark>,
}

/// The receiving end of a stream's pipeline: an iterator that cancels and joins on drop.
struct Pipe<T> {
    rx: Option<Receiver<Result<T>>>,
    cancel: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    finished: bool,
    /// Dropped after `Drop::drop` has joined the threads: the stream stops counting as live.
    _live: crate::engine::LiveStream,
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

/// Start the stages for `pieces` (a text, or an SSML document's pieces); options were checked
/// by the caller.
pub(crate) fn audio_stream(
    engine: Arc<Engine>,
    pieces: Vec<Piece>,
    voicing: Voicing,
) -> Result<AudioStream> {
    stages(engine, voicing, None, move |_| Box::new(pieces.into_iter()))
}

/// Start the stages for a text that arrives while they run: what `sink` is given, in the units
/// [`crate::text_stream`] finds.
pub(crate) fn text_audio_stream(
    engine: Arc<Engine>,
    voicing: Voicing,
) -> Result<(TextSink, AudioStream)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let playhead = Arc::new(Playhead::new(engine.sample_rate()));
    let stream = stages(
        engine,
        voicing,
        Some(Arc::clone(&playhead)),
        move |cancel| Box::new(Units::new(rx, playhead, cancel).map(Piece::plain)),
    )?;
    Ok((TextSink::new(tx), stream))
}

/// The texts an acoustic stage speaks in turn.
type Texts = Box<dyn Iterator<Item = Piece> + Send>;

/// Start both stages; `texts` makes the acoustic stage's texts from the stream's cancel flag.
/// `playhead`, when given, counts the samples handed to the listener (else the stream has its
/// own): every model run of the stream waits for a session in the order of its deadline.
fn stages(
    engine: Arc<Engine>,
    voicing: Voicing,
    playhead: Option<Arc<Playhead>>,
    texts: impl FnOnce(Arc<AtomicBool>) -> Texts + Send + 'static,
) -> Result<AudioStream> {
    let live = engine.live_stream();
    let windows = engine.windows_for_new_stream();
    let playhead = playhead.unwrap_or_else(|| Arc::new(Playhead::new(engine.sample_rate())));
    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = sync_channel::<Result<Work>>(FRAME_QUEUE);
    let (chunk_tx, chunk_rx) = sync_channel::<Result<AudioChunk>>(CHUNK_QUEUE);
    // The vocoder says when the first chunk is out (or it stopped): until then the acoustic
    // model does not compete with the first window for the cores.
    let (first_out_tx, first_out_rx) = sync_channel::<()>(1);
    let acoustic = spawn_stage("indextts-acoustic", &work_tx, {
        let (engine, cancel) = (Arc::clone(&engine), Arc::clone(&cancel));
        let work_tx = work_tx.clone();
        let playhead = Arc::clone(&playhead);
        move || {
            let _stream = playhead::enter(Some(playhead));
            let output = Output::Audio {
                first: Some(FirstSentence {
                    head_frames: windows
                        .first_chunk_frames
                        .saturating_add(windows.context_frames),
                    first_out: first_out_rx,
                }),
            };
            let texts = texts(Arc::clone(&cancel));
            acoustic_stage(&engine, texts, voicing, &cancel, &work_tx, output);
        }
    })?;
    drop(work_tx);
    let vocoder = spawn_stage("indextts-vocoder", &chunk_tx, {
        let cancel = Arc::clone(&cancel);
        let chunk_tx = chunk_tx.clone();
        move || {
            let _stream = playhead::enter(Some(Arc::clone(&playhead)));
            let emitter = Emitter::new(&engine, &chunk_tx, first_out_tx, playhead);
            vocoder_stage(&engine, windows, work_rx, &cancel, emitter)
        }
    })?;
    drop(chunk_tx);
    Ok(AudioStream(Pipe {
        rx: Some(chunk_rx),
        cancel,
        threads: vec![acoustic, vocoder],
        finished: false,
        _live: live,
    }))
}

/// Start the acoustic stage alone for `text`; the caller checked that the voice has frames.
pub(crate) fn frame_stream(
    engine: Arc<Engine>,
    text: String,
    voicing: Voicing,
) -> Result<FrameStream> {
    let live = engine.live_stream();
    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = sync_channel::<Result<Work>>(FRAME_QUEUE);
    let acoustic = spawn_stage("indextts-acoustic", &work_tx, {
        let cancel = Arc::clone(&cancel);
        let work_tx = work_tx.clone();
        move || {
            let texts = std::iter::once(Piece::plain(text));
            acoustic_stage(&engine, texts, voicing, &cancel, &work_tx, Output::Frames)
        }
    })?;
    drop(work_tx);
    Ok(FrameStream(Pipe {
        rx: Some(work_rx),
        cancel,
        threads: vec![acoustic],
        finished: false,
        _live: live,
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

/// What the acoustic stage hands on.
enum Output {
    /// For the vocoder stage: cached sentences come as audio; the stream's first sentence
    /// (while `first` is set) has its head made in a window of its own.
    Audio { first: Option<FirstSentence> },
    /// For a caller that vocodes elsewhere: every sentence's frames whole, no cache.
    Frames,
}

impl Output {
    /// Frames the first window needs, while the stream's first sentence is being made.
    fn head_frames(&self) -> Option<usize> {
        match self {
            Output::Audio { first: Some(f) } => Some(f.head_frames),
            _ => None,
        }
    }

    /// Block until the vocoder has sent the stream's first chunk (or stopped); then never again.
    fn wait_for_first_chunk(&mut self) {
        if let Output::Audio { first } = self {
            if let Some(first) = first.take() {
                let _ = first.first_out.recv();
            }
        }
    }
}

/// Whether the stage goes on after a step.
type Going = bool;

/// Texts -> sentences -> frames (or audio), in order; the sentences of all the texts are
/// numbered as one stream.
fn acoustic_stage(
    engine: &Engine,
    texts: impl Iterator<Item = Piece>,
    voicing: Voicing,
    cancel: &AtomicBool,
    tx: &SyncSender<Result<Work>>,
    mut output: Output,
) {
    let mut index = 0;
    // Where each text starts in everything the stream was given (word marks' byte ranges).
    let mut offset = 0;
    for piece in texts {
        let at = Place {
            index: &mut index,
            offset,
        };
        // A piece's rate divides the pace (SSML's <prosody rate>); its speaker (<voice name>,
        // checked when the stream started) replaces the call's.
        let mut voiced = voicing;
        voiced.scales.length_scale /= piece.rate;
        if let Some(name) = &piece.voice {
            match engine.speaker(Some(name)) {
                Ok((sid, mix)) => (voiced.sid, voiced.mix) = (sid, mix),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if !acoustic_text(engine, &piece, voiced, cancel, tx, &mut output, at) {
            return;
        }
        offset += piece.text.len();
        // SSML's <break>: silence of its own, numbered as a sentence (frame streams have none).
        if piece.pause_after_ms > 0 && matches!(output, Output::Audio { .. }) {
            let samples = engine.sample_rate() as usize * piece.pause_after_ms as usize / 1000;
            let work = Work::Audio {
                sentence: index,
                samples: vec![0.0; samples],
                said: Said::default(),
            };
            if tx.send(Ok(work)).is_err() {
                return;
            }
            index += 1;
        }
    }
}

/// Where a text's sentences go: the next sentence's number, and the text's first byte in the
/// stream's input.
struct Place<'a> {
    index: &'a mut usize,
    offset: usize,
}

/// One text of the acoustic stage; false when the stream is over.
fn acoustic_text(
    engine: &Engine,
    piece: &Piece,
    voicing: Voicing,
    cancel: &AtomicBool,
    tx: &SyncSender<Result<Work>>,
    output: &mut Output,
    at: Place<'_>,
) -> Going {
    let Place { index, offset } = at;
    let text = piece.text.as_str();
    for segment in engine.frontend().segments(text) {
        // Segments are slices of the text.
        let within = segment.as_ptr() as usize - text.as_ptr() as usize;
        let segment_offset = offset + within;
        // The piece's pronunciations that fall in this segment, as ranges of it.
        let spans: Vec<(std::ops::Range<usize>, String)> = piece
            .phonemes
            .iter()
            .filter(|(r, _)| r.start >= within && r.end <= within + segment.len())
            .map(|(r, ipa)| (r.start - within..r.end - within, ipa.clone()))
            .collect();
        let say = Pronunciations {
            lexicon: engine.lexicon(),
            spans: &spans,
        };
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        let sentences = match engine.frontend().sentences_with(segment, say) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e));
                return false;
            }
        };
        report_missing(&sentences);
        for sentence in sentences.iter().filter(|s| s.has_phonemes()) {
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            let step = SentenceStep {
                engine,
                index: *index,
                sentence,
                segment,
                segment_offset,
                voicing,
                cancel,
                tx,
            };
            if !step.run(output) {
                return false;
            }
            output.wait_for_first_chunk();
            *index += 1;
        }
    }
    true
}

/// One sentence of the acoustic stage.
struct SentenceStep<'a> {
    engine: &'a Engine,
    index: usize,
    sentence: &'a Sentence,
    /// The text the frontend made the sentence from, and its first byte in the stream's input.
    segment: &'a str,
    segment_offset: usize,
    voicing: Voicing,
    cancel: &'a AtomicBool,
    tx: &'a SyncSender<Result<Work>>,
}

impl SentenceStep<'_> {
    /// Hand on the sentence's audio or frames: from the cache, the whole model, or the
    /// acoustic model (the first sentence's head first).
    fn run(&self, output: &mut Output) -> Going {
        let ids = &self.sentence.phoneme_ids;
        let key = self.engine.sentence_key(ids, &self.voicing);
        let utterance = Utterance {
            ids,
            scales: self.voicing.scales,
            sid: self.voicing.sid,
            mix: self.voicing.mix,
            seed: key.seed(),
        };
        // Frame streams want frames, not audio: only audio streams use the cache.
        let cache = match output {
            Output::Audio { first } => self.engine.cache_key(&key, first.is_some()),
            Output::Frames => None,
        };
        if let Some(hit) = cache.as_ref().and_then(|k| self.engine.cache().get(k)) {
            let said = self.said(hit.timing.clone());
            return self.send(Ok(self.audio(hit.samples.to_vec(), said)));
        }
        let model = match self.engine.pipeline() {
            Pipeline::Whole(model) => {
                let spoken = model.synthesize(utterance);
                // A whole model's sentence is done at once: into the cache now (a voice that
                // draws unseeded noise has none).
                if let (Ok(spoken), Some(key)) = (&spoken, cache) {
                    let audio = SentenceAudio {
                        samples: spoken.samples.as_slice().into(),
                        timing: spoken.durations.clone(),
                    };
                    self.engine.cache().put(key, audio.into());
                }
                return self.send(spoken.map(|s| self.audio(s.samples, self.said(s.durations))));
            }
            Pipeline::Split(model) => model,
        };
        let timing = |frames: Option<&[u32]>| {
            frames.and_then(|f| Timing::from_frames(f, model.samples_per_frame()))
        };
        let piece = |data: Array2<f32>, start: usize, total: usize, said: Said| Work::Piece {
            frames: Frames {
                sentence: self.index,
                data,
                speaker: self.voicing.sid,
            },
            start,
            total,
            cache,
            said,
        };
        let whole_sentence = || {
            model.acoustic(utterance).map(|a| {
                let total = a.frames.ncols();
                let said = self.said(timing(a.durations.as_deref()));
                piece(a.frames, 0, total, said)
            })
        };
        let Some(head) = output.head_frames() else {
            return self.send(whole_sentence());
        };
        // The stream's first sentence: the head of its frames in a window of its own (when the
        // acoustic model can make frames in windows), then the rest.
        match model.frame_windows(utterance) {
            Err(e) => self.send(Err(e)),
            Ok(Some(w)) if w.frames() > head => {
                let total = w.frames();
                let said = self.said(timing(w.durations()));
                if !self.send(w.window(0, head).map(|d| piece(d, 0, total, said))) {
                    return false;
                }
                output.wait_for_first_chunk();
                !self.cancel.load(Ordering::Relaxed)
                    && self.send(
                        w.window(head, total)
                            .map(|d| piece(d, head, total, Said::default())),
                    )
            }
            Ok(Some(w)) => {
                let total = w.frames();
                let said = self.said(timing(w.durations()));
                self.send(w.window(0, total).map(|d| piece(d, 0, total, said)))
            }
            Ok(None) => self.send(whole_sentence()),
        }
    }

    fn audio(&self, samples: Vec<f32>, said: Said) -> Work {
        Work::Audio {
            sentence: self.index,
            samples,
            said,
        }
    }

    /// The sentence's words and phonemes placed by `timing` (none without one).
    fn said(&self, timing: Option<Timing>) -> Said {
        let marks = timing.as_ref().map_or_else(Marks::default, |t| Marks {
            words: sentence_marks(self.sentence, t, self.segment, self.segment_offset),
            phonemes: sentence_phonemes(self.sentence, t, |id| self.engine.frontend().symbol(id)),
        });
        Said { marks, timing }
    }

    /// Send `work`; false when the stream is over (the listener left, or `work` was an error).
    fn send(&self, work: Result<Work>) -> Going {
        let failed = work.is_err();
        self.tx.send(work).is_ok() && !failed
    }
}

/// Numbers the audio and hands it to the listener: each chunk's place in the stream, the
/// silence between sentences, and the signal that the first chunk is out.
struct Emitter<'a> {
    tx: &'a SyncSender<Result<AudioChunk>>,
    sample_rate: u32,
    start_sample: u64,
    /// Silence put before the first chunk of every sentence but the first (voices whose
    /// sentences do not end in their own pause), so cached audio stays the same.
    gap: usize,
    last_started: Option<usize>,
    first_out: Option<SyncSender<()>>,
    /// Counts what the listener was handed (text streams pace their units by it; sessions go
    /// to the stream whose listener runs out first).
    playhead: Arc<Playhead>,
    /// The current sentence's words not handed out yet, in samples from the stream's start.
    words: VecDeque<WordMark>,
    /// Its phonemes not handed out yet.
    phonemes: VecDeque<PhonemeMark>,
}

impl<'a> Emitter<'a> {
    fn new(
        engine: &Engine,
        tx: &'a SyncSender<Result<AudioChunk>>,
        first_out: SyncSender<()>,
        playhead: Arc<Playhead>,
    ) -> Self {
        Emitter {
            tx,
            sample_rate: engine.sample_rate(),
            start_sample: 0,
            gap: engine.sentence_gap(),
            last_started: None,
            first_out: Some(first_out),
            playhead,
            words: Default::default(),
            phonemes: Default::default(),
        }
    }

    /// Send a chunk of `sentence`; `marks` (in samples from the sentence's first sample) come
    /// with its first chunk. False when the listener is gone.
    fn send(
        &mut self,
        mut samples: Vec<f32>,
        sentence: usize,
        sentence_end: bool,
        marks: Marks,
    ) -> Going {
        if self.last_started != Some(sentence) {
            let mut origin = self.start_sample;
            if self.last_started.is_some() && self.gap > 0 {
                samples.splice(0..0, std::iter::repeat_n(0.0, self.gap));
                origin += self.gap as u64;
            }
            self.last_started = Some(sentence);
            self.words = shifted(marks.words, origin);
            self.phonemes = shifted(marks.phonemes, origin);
        }
        let len = samples.len() as u64;
        // The marks that start in this chunk (all that are left, at the sentence's end).
        let end = (!sentence_end).then_some(self.start_sample + len);
        let chunk = AudioChunk {
            samples,
            sample_rate: self.sample_rate,
            sentence,
            start_sample: self.start_sample,
            sentence_end,
            words: starting_before(&mut self.words, end),
            phonemes: starting_before(&mut self.phonemes, end),
        };
        self.start_sample += len;
        let sent = self.tx.send(Ok(chunk)).is_ok();
        self.playhead.advance(len as usize);
        if let Some(first_out) = self.first_out.take() {
            let _ = first_out.try_send(());
        }
        sent
    }

    fn fail(&self, error: Error) {
        let _ = self.tx.send(Err(error));
    }
}

/// `marks` moved `by` samples later.
fn shifted<M: Mark>(marks: Vec<M>, by: u64) -> VecDeque<M> {
    marks
        .into_iter()
        .map(|mut m| {
            m.shift(by);
            m
        })
        .collect()
}

/// The marks at the front of `queue` that start before `end` (all of them without one).
fn starting_before<M: Mark>(queue: &mut VecDeque<M>, end: Option<u64>) -> Vec<M> {
    let here = queue
        .iter()
        .take_while(|m| end.is_none_or(|end| m.start() < end))
        .count();
    queue.drain(..here).collect()
}

/// A sentence whose frames are arriving in pieces, decoded window by window as they come.
struct Assembly {
    /// Where the finished sentence's audio goes, with the audio so far.
    cache: Option<(CacheKey, Vec<f32>)>,
    /// The sentence's words (handed out with its first chunk) and timing (for the cache).
    said: Said,
    sentence: usize,
    speaker: Option<i64>,
    data: Array2<f32>,
    /// Frames `0..available` have arrived.
    available: usize,
    windows: Vec<Window>,
    /// Windows `0..decoded` have been decoded.
    decoded: usize,
}

impl Assembly {
    /// A sentence of `total` frames whose first piece is `frames` (taken whole when it is the
    /// whole sentence), cut into windows whose first one is `first_window` frames.
    fn start(
        mut frames: Frames,
        total: usize,
        first_window: usize,
        windows: crate::vocoder::StreamWindows,
        samples_per_frame: usize,
        cache: Option<CacheKey>,
        said: Said,
    ) -> Assembly {
        let whole = frames.data.ncols() == total;
        let data = if whole {
            std::mem::replace(&mut frames.data, Array2::zeros((0, 0)))
        } else {
            Array2::zeros((frames.data.nrows(), total))
        };
        let mut assembly = Assembly {
            cache: cache.map(|key| (key, Vec::with_capacity(total * samples_per_frame))),
            said,
            sentence: frames.sentence,
            speaker: frames.speaker,
            data,
            available: if whole { total } else { 0 },
            windows: plan(
                total,
                first_window,
                windows.chunk_frames,
                windows.context_frames,
            ),
            decoded: 0,
        };
        if !whole {
            assembly.add(&frames, 0);
        }
        assembly
    }

    /// Put the piece `frames`, which starts at frame `start`, in place.
    fn add(&mut self, frames: &Frames, start: usize) {
        let total = self.data.ncols();
        let end = (start + frames.data.ncols()).min(total);
        self.data
            .slice_mut(ndarray::s![.., start..end])
            .assign(&frames.data.slice(ndarray::s![.., ..end - start]));
        self.available = end;
    }

    /// The windows whose frames have all arrived and that are not decoded yet.
    fn ready(&self) -> std::ops::Range<usize> {
        let ready = self.windows[self.decoded..]
            .iter()
            .take_while(|w| w.to <= self.available)
            .count();
        self.decoded..self.decoded + ready
    }
}

/// Frames -> windows -> audio chunks, in order.
fn vocoder_stage(
    engine: &Engine,
    windows: StreamWindows,
    rx: Receiver<Result<Work>>,
    cancel: &AtomicBool,
    mut emitter: Emitter<'_>,
) {
    let samples_per_frame = engine
        .pipeline()
        .split()
        .map_or(0, |m| m.samples_per_frame());
    // Only the stream's first window is small: later sentences are decoded while earlier ones
    // play.
    let mut first_window = windows.first_chunk_frames;
    let mut current: Option<Assembly> = None;
    for work in rx {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let (frames, start, total, cache, said) = match work {
            Err(e) => return emitter.fail(e),
            Ok(Work::Audio {
                sentence,
                samples,
                said,
            }) => {
                if !emitter.send(samples, sentence, true, said.marks) {
                    return;
                }
                continue;
            }
            Ok(Work::Piece {
                frames,
                start,
                total,
                cache,
                said,
            }) => (frames, start, total, cache, said),
        };
        let mut a = match current.take() {
            _ if start == 0 => {
                let a = Assembly::start(
                    frames,
                    total,
                    first_window,
                    windows,
                    samples_per_frame,
                    cache,
                    said,
                );
                first_window = windows.chunk_frames;
                a
            }
            Some(mut a) if a.sentence == frames.sentence && a.available == start => {
                a.add(&frames, start);
                a
            }
            _ => {
                return emitter.fail(Error::Internal {
                    reason: format!(
                        "frames of sentence {} arrived out of order",
                        frames.sentence
                    ),
                })
            }
        };
        let Some(model) = engine.pipeline().split() else {
            return emitter.fail(Error::NotSplit);
        };
        let batch = a.ready();
        let ends_sentence = batch.end == a.windows.len();
        let sentence = a.sentence;
        let mut listening = true;
        let mut kept = a.cache.take();
        let mut marks = std::mem::take(&mut a.said.marks);
        let decoded = decode_in_order(
            model,
            a.data.view(),
            &a.windows[batch.clone()],
            a.speaker,
            windows.vocoder_workers,
            cancel,
            |samples, last| {
                if let Some((_, audio)) = &mut kept {
                    audio.extend_from_slice(&samples);
                }
                let marks = std::mem::take(&mut marks);
                listening = emitter.send(samples, sentence, last && ends_sentence, marks);
                listening
            },
        );
        a.cache = kept;
        // Only a whole sentence goes into the cache: not one cut short by a listener that
        // left, a cancel or an error.
        let whole = a.data.ncols() * samples_per_frame;
        if decoded.is_ok() && ends_sentence && listening {
            if let Some((key, audio)) = a.cache.take().filter(|(_, a)| a.len() == whole) {
                let audio = SentenceAudio {
                    samples: audio.into(),
                    timing: a.said.timing.take(),
                };
                engine.cache().put(key, audio.into());
            }
        }
        if !listening {
            return;
        }
        if let Err(e) = decoded {
            return emitter.fail(e);
        }
        a.decoded = batch.end;
        if !ends_sentence {
            current = Some(a);
        }
    }
}
