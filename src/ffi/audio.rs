//! The audio handle: whole-text audio from `indextts_synthesize()`.

use std::ffi::c_char;

use super::{arg_ref, ffi_boundary, indextts_status, indextts_status::*, null_argument, opt_path};
use crate::Audio;

/// Mono audio: 32-bit float samples in [-1, 1]. Read-only after it is made: may be read from
/// several threads at once.
pub struct indextts_audio {
    pub(crate) audio: Audio,
}

/// The samples (NULL if `audio` is NULL; may be NULL when the length is 0). Valid until
/// `indextts_audio_free(audio)`: copy them out to keep them longer.
#[no_mangle]
pub unsafe extern "C" fn indextts_audio_samples(audio: *const indextts_audio) -> *const f32 {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: NULL or a live audio handle, by the header's contract.
        unsafe { audio.as_ref() }.map_or(std::ptr::null(), |a| a.audio.samples.as_ptr())
    })
}

/// Number of samples (0 if `audio` is NULL).
#[no_mangle]
pub unsafe extern "C" fn indextts_audio_len(audio: *const indextts_audio) -> usize {
    ffi_boundary!(0, {
        // SAFETY: NULL or a live audio handle, by the header's contract.
        unsafe { audio.as_ref() }.map_or(0, |a| a.audio.samples.len())
    })
}

/// Samples per second (0 if `audio` is NULL).
#[no_mangle]
pub unsafe extern "C" fn indextts_audio_sample_rate(audio: *const indextts_audio) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: NULL or a live audio handle, by the header's contract.
        unsafe { audio.as_ref() }.map_or(0, |a| a.audio.sample_rate)
    })
}

/// Write the audio as a 16-bit PCM mono WAV file at `path` (NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn indextts_audio_write_wav(
    audio: *const indextts_audio,
    path: *const c_char,
) -> indextts_status {
    ffi_boundary!({
        // SAFETY: checked for NULL; a live handle and a NUL-terminated path by the contract.
        let audio = unsafe { arg_ref(audio, "audio") }?;
        // SAFETY: NULL or a NUL-terminated string (header contract).
        let path = unsafe { opt_path(path) }.ok_or_else(|| null_argument("path"))?;
        audio.audio.write_wav(path)?;
        Ok(INDEXTTS_OK)
    })
}

/// Free audio. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn indextts_audio_free(audio: *mut indextts_audio) {
    ffi_boundary!((), {
        if !audio.is_null() {
            // SAFETY: made by Box::into_raw in indextts_synthesize, freed once (the contract).
            drop(unsafe { Box::from_raw(audio) });
        }
    })
}
