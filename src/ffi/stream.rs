//! Streaming over the C ABI: a pull stream the host reads into its own buffer, and a push
//! variant that calls the host back with each chunk.

use std::ffi::{c_char, c_void};

use super::synthesizer::{indextts_synthesis_options, indextts_synthesizer, synthesis_options};
use super::{
    arg_mut, arg_ref, ffi_boundary, indextts_status, indextts_status::*, out_param, text_arg,
    Failure,
};
use crate::AudioStream;

/// A stream of one text's audio. Use it from one thread at a time (it may move between
/// threads); freeing it cancels the synthesis.
pub struct indextts_stream {
    chunks: AudioStream,
    sample_rate: u32,
    /// Samples of the current chunk not yet handed out, from `pending_from` on.
    pending: Vec<f32>,
    pending_from: usize,
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
        *out = Box::into_raw(Box::new(indextts_stream {
            chunks,
            sample_rate: synth.synth.sample_rate(),
            pending: Vec::new(),
            pending_from: 0,
        }));
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
                    stream.pending = chunk?.samples;
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
        // SAFETY: every pointer is checked for NULL (user_data is the host's and may be NULL).
        let synth = unsafe { arg_ref(synth, "synth") }?;
        let callback = callback.ok_or_else(|| super::null_argument("callback"))?;
        // SAFETY: NULL- and length-checked inside; `text` holds `text_len` bytes (header contract).
        let text = unsafe { text_arg(text, text_len) }?;
        // SAFETY: NULL or an initialized options struct (header contract).
        let options = unsafe { synthesis_options(&synth.synth, options) }?;
        let sample_rate = synth.synth.sample_rate();
        // Dropping the stream (on return, or on a cancel) stops and joins its threads.
        for chunk in synth.synth.stream(text, &options)? {
            let chunk = chunk?;
            // SAFETY: the host's function, called with a pointer valid for `len` floats
            // during the call, and the host's own user_data.
            let go_on = unsafe {
                callback(
                    user_data,
                    chunk.samples.as_ptr(),
                    chunk.samples.len(),
                    sample_rate,
                )
            };
            if !go_on {
                return Err(Failure::new(
                    INDEXTTS_CANCELLED,
                    "the callback returned false: synthesis cancelled",
                ));
            }
        }
        Ok(INDEXTTS_OK)
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
        *audio_out = Box::into_raw(Box::new(indextts_stream {
            chunks,
            sample_rate: synth.synth.sample_rate(),
            pending: Vec::new(),
            pending_from: 0,
        }));
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
