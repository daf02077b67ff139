//! Streaming over the C ABI: a pull stream the host reads into its own buffer, and a push
//! variant that calls the host back with each chunk.

use std::ffi::{c_char, c_void, CString};

use super::synthesizer::{indextts_synthesis_options, indextts_synthesizer, synthesis_options};
use super::{
    arg_mut, arg_ref, ffi_boundary, indextts_status, indextts_status::*, out_param, text_arg,
    Failure,
};
use crate::{AudioChunk, AudioStream};

/// A stream of one text's audio. Use it from one thread at a time (it may move between
/// threads); freeing it cancels the synthesis.
pub struct indextts_stream {
    chunks: AudioStream,
    sample_rate: u32,
    /// Samples of the current chunk not yet handed out, from `pending_from` on.
    pending: Vec<f32>,
    pending_from: usize,
    /// The current chunk's place: its sentence, first sample, and whether it ends its sentence.
    pending_place: (usize, u64, bool),
    /// The chunk `indextts_stream_next_chunk()` last handed out, kept until the next call.
    view: Option<Box<ChunkView>>,
}

impl indextts_stream {
    fn new(chunks: AudioStream, sample_rate: u32) -> Self {
        indextts_stream {
            chunks,
            sample_rate,
            pending: Vec::new(),
            pending_from: 0,
            pending_place: (0, 0, false),
            view: None,
        }
    }
}

/// A word of the text and when it is said.
#[repr(C)]
pub struct indextts_word_mark {
    /// The word as written, UTF-8, NUL-terminated.
    pub text: *const c_char,
    /// Its bytes in the input text: `text_start` up to (not including) `text_end` (for a text
    /// stream, in everything pushed so far).
    pub text_start: usize,
    /// One past its last byte in the input text.
    pub text_end: usize,
    /// Its first sample, counted from the start of the stream's audio.
    pub start_sample: u64,
    /// One past its last sample.
    pub end_sample: u64,
}

/// A phoneme the model says and when.
#[repr(C)]
pub struct indextts_phoneme_mark {
    /// The symbol, UTF-8, NUL-terminated: IPA for Piper and Kokoro voices, a Baker phone
    /// (`zh`, `ong1`, `sil`) for the Mandarin voice.
    pub phoneme: *const c_char,
    /// Its id in the voice's symbol table.
    pub id: i64,
    /// Its first sample, counted from the start of the stream's audio.
    pub start_sample: u64,
    /// One past its last sample.
    pub end_sample: u64,
}

/// A chunk of audio and the words and phonemes that start in it. Everything it points to is valid until the
/// next call on its stream (or until the callback it was given to returns).
#[repr(C)]
pub struct indextts_chunk {
    /// `len` samples in [-1, 1].
    pub samples: *const f32,
    /// Samples in the chunk.
    pub len: usize,
    /// Samples per second.
    pub sample_rate: u32,
    /// Index of the sentence the chunk belongs to (from 0).
    pub sentence: usize,
    /// Position of the chunk's first sample in the stream.
    pub start_sample: u64,
    /// Whether the chunk ends its sentence.
    pub sentence_end: bool,
    /// `words_len` word marks (NULL when there are none; the voice's model may give no
    /// durations).
    pub words: *const indextts_word_mark,
    /// Words that start in this chunk.
    pub words_len: usize,
    /// `phonemes_len` phoneme marks (NULL when there are none). Added after 0.2, at the end:
    /// a host built before reads the fields above unchanged.
    pub phonemes: *const indextts_phoneme_mark,
    /// Phonemes that start in this chunk.
    pub phonemes_len: usize,
}

/// A chunk as C sees it, with the storage its pointers point into.
struct ChunkView {
    samples: Vec<f32>,
    _texts: Vec<CString>,
    marks: Vec<indextts_word_mark>,
    phonemes: Vec<indextts_phoneme_mark>,
    view: indextts_chunk,
}

// SAFETY: the raw pointers point into the view's own heap buffers (and, once boxed, its own
// field), which nothing else shares: the view moves between threads whole.
unsafe impl Send for ChunkView {}

impl ChunkView {
    /// `chunk`'s samples from `from` on (its marks only when it is handed out whole).
    fn new(chunk: AudioChunk, from: usize) -> Box<Self> {
        let (words, phonemes) = if from == 0 {
            (chunk.words, chunk.phonemes)
        } else {
            Default::default()
        };
        // Word texts, then phoneme symbols: C strings the marks point into.
        let texts: Vec<CString> = words
            .iter()
            .map(|w| &w.text)
            .chain(phonemes.iter().map(|p| &p.phoneme))
            .map(|t| CString::new(t.replace('\0', " ")).unwrap_or_default())
            .collect();
        let marks: Vec<indextts_word_mark> = words
            .iter()
            .zip(&texts)
            .map(|(w, t)| indextts_word_mark {
                text: t.as_ptr(),
                text_start: w.text_range.start,
                text_end: w.text_range.end,
                start_sample: w.start_sample,
                end_sample: w.end_sample,
            })
            .collect();
        let phoneme_marks: Vec<indextts_phoneme_mark> = phonemes
            .iter()
            .zip(&texts[words.len()..])
            .map(|(p, t)| indextts_phoneme_mark {
                phoneme: t.as_ptr(),
                id: p.id,
                start_sample: p.start_sample,
                end_sample: p.end_sample,
            })
            .collect();
        let mut samples = chunk.samples;
        samples.drain(..from.min(samples.len()));
        let mut view = Box::new(ChunkView {
            samples,
            _texts: texts,
            marks,
            phonemes: phoneme_marks,
            view: indextts_chunk {
                samples: std::ptr::null(),
                len: 0,
                sample_rate: chunk.sample_rate,
                sentence: chunk.sentence,
                start_sample: chunk.start_sample + from as u64,
                sentence_end: chunk.sentence_end,
                words: std::ptr::null(),
                words_len: 0,
                phonemes: std::ptr::null(),
                phonemes_len: 0,
            },
        });
        view.view.samples = view.samples.as_ptr();
        view.view.len = view.samples.len();
        if !view.marks.is_empty() {
            view.view.words = view.marks.as_ptr();
            view.view.words_len = view.marks.len();
        }
        if !view.phonemes.is_empty() {
            view.view.phonemes = view.phonemes.as_ptr();
            view.view.phonemes_len = view.phonemes.len();
        }
        view
    }
}

/// Start speaking `text_len` bytes of UTF-8 at `text`; read the audio with
/// `indextts_stream_next()`. Options and text are checked now. `options` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn indextts_stream_new(
    synth: *const indextts_synthesizer,
    text: *const c_char,
    text_len: usize,
    options: *const indextts_synthesis_options,
    out: *mut *mut indextts_stream,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: every pointer is checked for NULL; the header states what each must be.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let out = unsafe { out_param(out, "out") }?;
        // SAFETY: NULL- and length-checked inside; `text` holds `text_len` bytes (header contract).
        let text = unsafe { text_arg(text, text_len) }?;
        // SAFETY: NULL or an initialized options struct (header contract).
        let options = unsafe { synthesis_options(&synth.synth, options) }?;
        let chunks = synth.synth.stream(text, &options)?;
        *out = Box::into_raw(Box::new(indextts_stream::new(
            chunks,
            synth.synth.sample_rate(),
        )));
        Ok(INDEXTTS_OK)
    })
}

/// Copy up to `capacity` next samples into `buffer` and their count into `*written`. Blocks
/// until audio is ready. Returns `INDEXTTS_OK` with `*written` > 0, `INDEXTTS_STREAM_END` when
/// all audio has been read (`*written` is then 0), or a failure (after which the stream ends).
/// A chunk larger than `capacity` is handed out over several calls.
#[no_mangle]
pub unsafe extern "C" fn indextts_stream_next(
    stream: *mut indextts_stream,
    buffer: *mut f32,
    capacity: usize,
    written: *mut usize,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: every pointer is checked for NULL; the stream is used by one thread at a
        // time and `buffer` holds `capacity` floats, by the header's contract.
        let stream = unsafe { arg_mut(stream, "stream") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let written = unsafe { out_param(written, "written") }?;
        if buffer.is_null() {
            return Err(super::null_argument("buffer"));
        }
        if capacity == 0 {
            return Err(Failure::new(
                INDEXTTS_INVALID_ARGUMENT,
                "capacity is 0: the buffer must hold at least one sample",
            ));
        }
        while stream.pending_from == stream.pending.len() {
            match stream.chunks.next() {
                None => {
                    *written = 0;
                    return Ok(INDEXTTS_STREAM_END);
                }
                Some(chunk) => {
                    let chunk = chunk?;
                    stream.pending_place = (chunk.sentence, chunk.start_sample, chunk.sentence_end);
                    stream.pending = chunk.samples;
                    stream.pending_from = 0;
                }
            }
        }
        let available = &stream.pending[stream.pending_from..];
        let n = available.len().min(capacity);
        // SAFETY: `buffer` holds `capacity` >= n floats (the contract) and cannot overlap
        // our own Vec.
        unsafe { std::ptr::copy_nonoverlapping(available.as_ptr(), buffer, n) };
        stream.pending_from += n;
        *written = n;
        Ok(INDEXTTS_OK)
    })
}

/// The next chunk of audio with its word marks, in `*chunk` (valid until the next call on
/// `stream` or its free). Blocks until audio is ready. Returns `INDEXTTS_OK`,
/// `INDEXTTS_STREAM_END` when all audio has been read (`*chunk` is then NULL), or a failure
/// (after which the stream ends). After `indextts_stream_next()` has handed out part of a
/// chunk, the rest of it comes first, without its words.
#[no_mangle]
pub unsafe extern "C" fn indextts_stream_next_chunk(
    stream: *mut indextts_stream,
    chunk: *mut *const indextts_chunk,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: every pointer is checked for NULL; the stream is used by one thread at a
        // time, by the header's contract.
        let stream = unsafe { arg_mut(stream, "stream") }?;
        // SAFETY: NULL-checked inside; a non-NULL out-parameter is writable (header contract).
        let out = unsafe { out_param(chunk, "chunk") }?;
        stream.view = None;
        let view = if stream.pending_from < stream.pending.len() {
            let (sentence, start_sample, sentence_end) = stream.pending_place;
            let rest = AudioChunk {
                samples: std::mem::take(&mut stream.pending),
                sample_rate: stream.sample_rate,
                sentence,
                start_sample,
                sentence_end,
                words: Vec::new(),
                phonemes: Vec::new(),
            };
            let from = std::mem::replace(&mut stream.pending_from, 0);
            ChunkView::new(rest, from)
        } else {
            match stream.chunks.next() {
                None => {
                    *out = std::ptr::null();
                    return Ok(INDEXTTS_STREAM_END);
                }
                Some(next) => ChunkView::new(next?, 0),
            }
        };
        // Boxed: the chunk stays where *out points while the stream holds it.
        *out = &view.view;
        stream.view = Some(view);
        Ok(INDEXTTS_OK)
    })
}

/// The stream's sample rate in Hz (0 if `stream` is NULL).
#[no_mangle]
pub unsafe extern "C" fn indextts_stream_sample_rate(stream: *const indextts_stream) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: NULL or a live stream, by the header's contract.
        unsafe { stream.as_ref() }.map_or(0, |s| s.sample_rate)
    })
}

/// Free a stream; if it is still running, cancel it (returns once its threads have stopped).
/// NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn indextts_stream_free(stream: *mut indextts_stream) {
    ffi_boundary!((), {
        if !stream.is_null() {
            // SAFETY: made by Box::into_raw in indextts_stream_new, freed once (the contract).
            drop(unsafe { Box::from_raw(stream) });
        }
    })
}

/// Called with each chunk of audio as it is made: `samples` holds `len` floats, valid only
/// during the call. Return true to go on, false to cancel the synthesis. Called on the thread
/// that called `indextts_synthesize_stream()`; it must not unwind (throw) into indextts.
pub type indextts_chunk_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        samples: *const f32,
        len: usize,
        sample_rate: u32,
    ) -> bool,
>;

/// Speak `text`, calling `callback(user_data, ...)` with each chunk as it is made; returns
/// when the audio is done (`INDEXTTS_OK`), when the callback returns false
/// (`INDEXTTS_CANCELLED`; synthesis stops at once), or on a failure.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesize_stream(
    synth: *const indextts_synthesizer,
    text: *const c_char,
    text_len: usize,
    options: *const indextts_synthesis_options,
    callback: indextts_chunk_callback,
    user_data: *mut c_void,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: the caller's arguments, passed on as the header's contract states them.
        unsafe {
            push_chunks(
                synth,
                text,
                text_len,
                options,
                callback,
                |callback, chunk| {
                    // SAFETY: the host's function, called with a pointer valid for `len` floats
                    // during the call, and the host's own user_data.
                    callback(
                        user_data,
                        chunk.samples.as_ptr(),
                        chunk.samples.len(),
                        chunk.sample_rate,
                    )
                },
            )
        }
    })
}

/// The push API's one loop: check the arguments (in the order the header lists them), then
/// hand each chunk to `each` with the host's callback until the audio ends, `each` returns
/// false (`INDEXTTS_CANCELLED`), or a failure. Dropping the stream (on return, or on a
/// cancel) stops and joins its threads.
///
/// # Safety
/// The pointers are as `indextts_synthesize_stream()`'s header states; `each` calls the
/// host's function, which must not unwind.
unsafe fn push_chunks<C: Copy>(
    synth: *const indextts_synthesizer,
    text: *const c_char,
    text_len: usize,
    options: *const indextts_synthesis_options,
    callback: Option<C>,
    mut each: impl FnMut(C, AudioChunk) -> bool,
) -> Result<indextts_status, Failure> {
    // SAFETY: every pointer is checked for NULL (user_data is the host's and may be NULL).
    let synth = unsafe { arg_ref(synth, "synth") }?;
    let callback = callback.ok_or_else(|| super::null_argument("callback"))?;
    // SAFETY: NULL- and length-checked inside; `text` holds `text_len` bytes (header contract).
    let text = unsafe { text_arg(text, text_len) }?;
    // SAFETY: NULL or an initialized options struct (header contract).
    let options = unsafe { synthesis_options(&synth.synth, options) }?;
    for chunk in synth.synth.stream(text, &options)? {
        if !each(callback, chunk?) {
            return Err(Failure::new(
                INDEXTTS_CANCELLED,
                "the callback returned false: synthesis cancelled",
            ));
        }
    }
    Ok(INDEXTTS_OK)
}

/// Called with each chunk of audio and its word marks as it is made; everything `chunk`
/// points to is valid only during the call. Return true to go on, false to cancel the
/// synthesis. Called on the thread that called `indextts_synthesize_stream_chunks()`; it must
/// not unwind (throw) into indextts.
pub type indextts_chunk_marks_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, chunk: *const indextts_chunk) -> bool>;

/// [`indextts_synthesize_stream`], the callback given each chunk whole: its samples, place in
/// the stream and the words that start in it.
#[no_mangle]
pub unsafe extern "C" fn indextts_synthesize_stream_chunks(
    synth: *const indextts_synthesizer,
    text: *const c_char,
    text_len: usize,
    options: *const indextts_synthesis_options,
    callback: indextts_chunk_marks_callback,
    user_data: *mut c_void,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: the caller's arguments, passed on as the header's contract states them.
        unsafe {
            push_chunks(
                synth,
                text,
                text_len,
                options,
                callback,
                |callback, chunk| {
                    let view = ChunkView::new(chunk, 0);
                    // SAFETY: the host's function, called with a chunk valid during the call, and
                    // the host's own user_data.
                    callback(user_data, &view.view)
                },
            )
        }
    })
}

// The header promises a stream may move between threads (goroutines do) and a synthesizer
// and audio may be shared by them.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<indextts_stream>();
    send_sync::<indextts_synthesizer>();
    send_sync::<super::audio::indextts_audio>();
};

/// The writing end of a text stream: text pushed here is spoken by the `indextts_stream`
/// made with it (see `indextts_text_stream_new()`). Use it from one thread at a time; it may be
/// another thread than the one reading the audio.
pub struct indextts_text_stream {
    sink: Option<crate::TextSink>,
    /// The bytes of a UTF-8 sequence a push ended in the middle of (a language model's tokens
    /// may split a character), completed by the next push.
    partial: Vec<u8>,
}

/// Start speaking text that will arrive while the audio plays (a language model's answer as it
/// is written). On success `*sink_out` takes the text (`indextts_text_stream_push()`, then
/// `_finish()`; free it with `indextts_text_stream_free()`) and `*audio_out` gives the audio
/// like any stream (`indextts_stream_next()`, `indextts_stream_free()`); each sentence is
/// spoken as soon as it is complete, a clause sooner when the listener would otherwise wait.
/// `options` may be NULL. On failure neither out-parameter is written.
#[no_mangle]
pub unsafe extern "C" fn indextts_text_stream_new(
    synth: *const indextts_synthesizer,
    options: *const indextts_synthesis_options,
    sink_out: *mut *mut indextts_text_stream,
    audio_out: *mut *mut indextts_stream,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: every pointer is checked for NULL; the header states what each must be.
        let synth = unsafe { arg_ref(synth, "synth") }?;
        // SAFETY: NULL-checked inside; non-NULL out-parameters are writable (header contract).
        let sink_out = unsafe { out_param(sink_out, "sink_out") }?;
        // SAFETY: as above.
        let audio_out = unsafe { out_param(audio_out, "audio_out") }?;
        // SAFETY: NULL or an initialized options struct (header contract).
        let options = unsafe { synthesis_options(&synth.synth, options) }?;
        let (sink, chunks) = synth.synth.text_stream(&options)?;
        *audio_out = Box::into_raw(Box::new(indextts_stream::new(
            chunks,
            synth.synth.sample_rate(),
        )));
        *sink_out = Box::into_raw(Box::new(indextts_text_stream {
            sink: Some(sink),
            partial: Vec::new(),
        }));
        Ok(INDEXTTS_OK)
    })
}

/// Add `len` bytes of UTF-8 text (any piece: a token, half a word; a piece may even end inside
/// a character, whose bytes are kept for the next push). Returns `INDEXTTS_CANCELLED` once
/// the audio stream has ended (freed, or failed), `INDEXTTS_INVALID_UTF8` for bytes that are
/// not UTF-8, `INDEXTTS_INVALID_ARGUMENT` after `_finish()`.
#[no_mangle]
pub unsafe extern "C" fn indextts_text_stream_push(
    sink: *mut indextts_text_stream,
    text: *const c_char,
    len: usize,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: NULL or a live text stream used from one thread (header contract).
        let sink = unsafe { arg_mut(sink, "sink") }?;
        if text.is_null() {
            return Err(super::null_argument("text"));
        }
        if len > crate::MAX_TEXT_BYTES {
            return Err(crate::Error::TextTooLong {
                len,
                max: crate::MAX_TEXT_BYTES,
            }
            .into());
        }
        // SAFETY: non-NULL, `len` readable bytes (contract), `len` bounded above.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
        let writer = sink.sink.as_mut().ok_or_else(finished)?;
        let mut joined = std::mem::take(&mut sink.partial);
        joined.extend_from_slice(bytes);
        let complete = match std::str::from_utf8(&joined) {
            Ok(text) => text.len(),
            // Only an unfinished sequence at the very end may wait for the next push.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                return Err(Failure::new(
                    INDEXTTS_INVALID_UTF8,
                    format!("text is not valid UTF-8: {e}"),
                ))
            }
        };
        let text = std::str::from_utf8(&joined[..complete]).unwrap_or_default();
        writer.push(text)?;
        sink.partial = joined[complete..].to_vec();
        Ok(INDEXTTS_OK)
    })
}

/// Speak everything pushed so far now, complete or not.
#[no_mangle]
pub unsafe extern "C" fn indextts_text_stream_flush(
    sink: *mut indextts_text_stream,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: NULL or a live text stream used from one thread (header contract).
        let sink = unsafe { arg_mut(sink, "sink") }?;
        sink.sink.as_mut().ok_or_else(finished)?.flush()?;
        Ok(INDEXTTS_OK)
    })
}

/// The text is complete: the rest is spoken, then the audio stream ends. Bytes of an unfinished
/// UTF-8 sequence left by the last push are `INDEXTTS_INVALID_UTF8` (the text before them is
/// still spoken). The sink must still be freed.
#[no_mangle]
pub unsafe extern "C" fn indextts_text_stream_finish(
    sink: *mut indextts_text_stream,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: NULL or a live text stream used from one thread (header contract).
        let sink = unsafe { arg_mut(sink, "sink") }?;
        let writer = sink.sink.take().ok_or_else(finished)?;
        let partial = std::mem::take(&mut sink.partial);
        writer.finish()?;
        if !partial.is_empty() {
            return Err(Failure::new(
                INDEXTTS_INVALID_UTF8,
                format!(
                    "the text ended inside a UTF-8 sequence ({} bytes)",
                    partial.len()
                ),
            ));
        }
        Ok(INDEXTTS_OK)
    })
}

/// Free a text stream's sink; if it was not finished, the text is finished here (what was
/// pushed is still spoken). NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn indextts_text_stream_free(sink: *mut indextts_text_stream) {
    ffi_boundary!((), {
        if !sink.is_null() {
            // SAFETY: made by Box::into_raw in indextts_text_stream_new, freed once (contract).
            drop(unsafe { Box::from_raw(sink) });
        }
    })
}

/// The status of a call on a finished sink.
fn finished() -> Failure {
    Failure::new(
        INDEXTTS_INVALID_ARGUMENT,
        "the text stream was already finished".to_owned(),
    )
}
