//! The C ABI: `libindextts.so` and `include/indextts.h` (generated from this module by cbindgen).
//!
//! Conventions (after rustls-ffi):
//! - every fallible function returns an [`indextts_status`]; results go to out-parameters that
//!   are written only on success;
//! - opaque handles come in `_new` / `_free` pairs, and `_free(NULL)` does nothing;
//! - every pointer is checked for NULL, and every body runs inside [`ffi_boundary!`], which
//!   catches panics: no panic crosses into the host;
//! - the message of the last failure on a thread is `indextts_last_error()`, valid until the
//!   next call on that thread.

// The C names are the ABI: snake_case types, SCREAMING variants, as C hosts spell them.
#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use crate::Error;

mod audio;
mod stream;
mod synthesizer;

// The entry points and structs as Rust items, for the project's fuzzer of the option structs.
#[cfg(feature = "unstable-internals")]
pub use {audio::*, stream::*, synthesizer::*};

/// What a call did. `INDEXTTS_OK` is 0; every other value is a failure (except
/// `INDEXTTS_STREAM_END`) whose message is `indextts_last_error()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum indextts_status {
    /// Success.
    INDEXTTS_OK = 0,
    /// A required pointer argument was NULL.
    INDEXTTS_NULL_ARGUMENT = 1,
    /// The text (or a string option) is not valid UTF-8.
    INDEXTTS_INVALID_UTF8 = 2,
    /// An argument is out of range: a buffer of size 0, an options struct of an unknown size.
    INDEXTTS_INVALID_ARGUMENT = 3,
    /// The text is empty or only whitespace.
    INDEXTTS_EMPTY_TEXT = 4,
    /// The text is longer than one call accepts (`INDEXTTS_MAX_TEXT_BYTES`).
    INDEXTTS_TEXT_TOO_LONG = 5,
    /// A synthesis or stream option is out of range (NaN or negative scales, zero frames).
    INDEXTTS_INVALID_OPTION = 6,
    /// The speaker is not one of the voice's speakers.
    INDEXTTS_UNKNOWN_SPEAKER = 7,
    /// A file could not be read or written.
    INDEXTTS_IO = 8,
    /// The ONNX Runtime library could not be loaded or is not ONNX Runtime.
    INDEXTTS_RUNTIME_LOAD = 9,
    /// Another ONNX Runtime library is already loaded in this process.
    INDEXTTS_RUNTIME_CONFLICT = 10,
    /// ONNX Runtime reported an error.
    INDEXTTS_RUNTIME = 11,
    /// espeak-ng could not be loaded or initialized.
    INDEXTTS_PHONEMIZER = 12,
    /// espeak-ng has no voice for the voice's language.
    INDEXTTS_UNKNOWN_ESPEAK_VOICE = 13,
    /// A model file is not a valid ONNX model.
    INDEXTTS_MODEL_FORMAT = 14,
    /// A model's inputs or outputs are not what the voice needs.
    INDEXTTS_MODEL_INPUT = 15,
    /// A model produced output of the wrong shape or non-finite values.
    INDEXTTS_MODEL_OUTPUT = 16,
    /// The voice config (`.onnx.json`, `voice.json` or its symbol table) is malformed.
    INDEXTTS_VOICE_CONFIG = 17,
    /// The voice config does not match the model.
    INDEXTTS_VOICE_MISMATCH = 18,
    /// No voice at the given path or of the given name.
    INDEXTTS_VOICE_NOT_FOUND = 19,
    /// The voice's graph is not split, so it has no frames.
    INDEXTTS_NOT_SPLIT = 20,
    /// Writing a WAV file failed.
    INDEXTTS_WAV = 21,
    /// The callback asked to stop; the synthesis was cancelled.
    INDEXTTS_CANCELLED = 22,
    /// The stream has no more audio (not a failure).
    INDEXTTS_STREAM_END = 23,
    /// A bug in indextts, reported rather than crashing.
    INDEXTTS_INTERNAL = 24,
    /// A panic inside indextts was caught at the boundary.
    INDEXTTS_PANIC = 25,
    /// SSML input is not well-formed, or holds a value out of range (the message names the
    /// line and column).
    INDEXTTS_SSML = 26,
    /// A pronunciation lexicon cannot be read (the message names the line).
    INDEXTTS_LEXICON = 27,
    /// The text is in a script the voice cannot read (Mandarin given to a Kokoro English
    /// voice); the message names the first such character.
    INDEXTTS_UNSUPPORTED_TEXT = 28,
}

use indextts_status::*;

impl From<&Error> for indextts_status {
    fn from(error: &Error) -> Self {
        match error {
            Error::Io { .. } => INDEXTTS_IO,
            Error::RuntimeLoad { .. } => INDEXTTS_RUNTIME_LOAD,
            Error::RuntimeConflict { .. } => INDEXTTS_RUNTIME_CONFLICT,
            Error::Runtime { .. } => INDEXTTS_RUNTIME,
            Error::Phonemizer { .. } => INDEXTTS_PHONEMIZER,
            Error::UnknownEspeakVoice { .. } => INDEXTTS_UNKNOWN_ESPEAK_VOICE,
            Error::ModelFormat { .. } => INDEXTTS_MODEL_FORMAT,
            Error::ModelInput { .. } => INDEXTTS_MODEL_INPUT,
            Error::VoiceConfig { .. } => INDEXTTS_VOICE_CONFIG,
            Error::VoiceMismatch { .. } => INDEXTTS_VOICE_MISMATCH,
            Error::VoiceNotFound { .. } => INDEXTTS_VOICE_NOT_FOUND,
            Error::InvalidOption { .. } => INDEXTTS_INVALID_OPTION,
            Error::UnknownSpeaker { .. } => INDEXTTS_UNKNOWN_SPEAKER,
            Error::EmptyText { .. } => INDEXTTS_EMPTY_TEXT,
            Error::TextTooLong { .. } => INDEXTTS_TEXT_TOO_LONG,
            Error::ModelOutput { .. } => INDEXTTS_MODEL_OUTPUT,
            Error::NotSplit => INDEXTTS_NOT_SPLIT,
            Error::StreamClosed => INDEXTTS_CANCELLED,
            Error::NoAsyncRuntime { .. } => INDEXTTS_INVALID_ARGUMENT,
            Error::Internal { .. } => INDEXTTS_INTERNAL,
            Error::Wav { .. } => INDEXTTS_WAV,
            Error::Ssml { .. } => INDEXTTS_SSML,
            Error::Lexicon { .. } => INDEXTTS_LEXICON,
            Error::UnsupportedText { .. } => INDEXTTS_UNSUPPORTED_TEXT,
        }
    }
}

/// A failed call: its status and the message `indextts_last_error()` gives.
pub(crate) struct Failure {
    status: indextts_status,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: indextts_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::new((&error).into(), error.to_string())
    }
}

/// What a body inside the boundary gives: a status (`INDEXTTS_OK`, or `INDEXTTS_STREAM_END`)
/// or a failure.
pub(crate) type Outcome = Result<indextts_status, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // Interior NULs cannot be in a C string; they are replaced, never a reason to fail.
    let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Run a fallible body: clear the last error, catch any panic, record a failure's message.
pub(crate) fn run_fallible(body: impl FnOnce() -> Outcome) -> indextts_status {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "panic inside indextts: {}",
                panic_message(payload.as_ref())
            ));
            INDEXTTS_PANIC
        }
    }
}

/// Run an infallible body (a getter, a `_free`): a panic gives `fallback`.
pub(crate) fn run_infallible<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The one way into the library from C: every `extern "C"` body runs inside it.
/// `ffi_boundary!({ ... })` for bodies that return an [`Outcome`] (the function returns the
/// status); `ffi_boundary!(fallback, { ... })` for getters and `_free`s.
macro_rules! ffi_boundary {
    ($body:block) => {
        $crate::ffi::run_fallible(|| $body)
    };
    ($fallback:expr, $body:block) => {
        $crate::ffi::run_infallible($fallback, || $body)
    };
}
pub(crate) use ffi_boundary;

/// `ptr` as a reference, or `INDEXTTS_NULL_ARGUMENT` naming the argument.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid `T` that outlives the call.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: checked for NULL here; validity is the caller's contract, stated in the header.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_argument(name))
}

/// `ptr` as a mutable reference, or `INDEXTTS_NULL_ARGUMENT`.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid `T`, used by no one else during the call.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: checked for NULL here; exclusivity is the caller's contract, stated in the header.
    unsafe { ptr.as_mut() }.ok_or_else(|| null_argument(name))
}

/// The out-parameter `out`, checked for NULL before any work is done.
///
/// # Safety
/// A non-NULL `out` must be valid for a write of `T`.
pub(crate) unsafe fn out_param<'a, T>(out: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: as for `arg_mut`: only written on success, by the caller of this function.
    unsafe { out.as_mut() }.ok_or_else(|| null_argument(name))
}

pub(crate) fn null_argument(name: &str) -> Failure {
    Failure::new(INDEXTTS_NULL_ARGUMENT, format!("{name} is NULL"))
}

/// The text argument: `len` bytes of UTF-8 at `text` (no NUL needed).
///
/// # Safety
/// A non-NULL `text` must be valid for reads of `len` bytes.
pub(crate) unsafe fn text_arg<'a>(text: *const c_char, len: usize) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(null_argument("text"));
    }
    // Refused before the bytes are touched: `len` also bounds the slice made below.
    if len > crate::MAX_TEXT_BYTES {
        return Err(Error::TextTooLong {
            len,
            max: crate::MAX_TEXT_BYTES,
        }
        .into());
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract, and `len` <= 128 KiB.
    let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            INDEXTTS_INVALID_UTF8,
            format!("text is not valid UTF-8: {e}"),
        )
    })
}

/// An optional NUL-terminated string option: NULL is `None`.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string.
pub(crate) unsafe fn opt_str<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map(Some).map_err(|e| {
        Failure::new(
            INDEXTTS_INVALID_UTF8,
            format!("{name} is not valid UTF-8: {e}"),
        )
    })
}

/// A NUL-terminated path (any bytes but NUL, as Unix paths are).
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string.
pub(crate) unsafe fn opt_path(ptr: *const c_char) -> Option<PathBuf> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        Some(PathBuf::from(c.to_string_lossy().into_owned()))
    }
}

/// Copy a versioned options struct from the host: the host's `struct_size` says which of the
/// published layouts it was built with (`sizes`, oldest first, the last being this library's
/// own); fields past that layout keep their defaults (a host built against an older header).
/// Any other size is refused: a size between two layouts would copy part of a field (half a
/// pointer), and a larger one is a newer header's.
///
/// # Safety
/// `ptr` is NULL or points to a readable struct of at least its `struct_size` bytes.
pub(crate) unsafe fn versioned<T: Copy>(
    ptr: *const T,
    default: T,
    name: &str,
    sizes: &[usize],
) -> Result<T, Failure> {
    if ptr.is_null() {
        return Ok(default);
    }
    // SAFETY: every versioned struct starts with its `uint32_t struct_size`.
    let size = unsafe { ptr.cast::<u32>().read_unaligned() } as usize;
    debug_assert_eq!(sizes.last(), Some(&std::mem::size_of::<T>()));
    if !sizes.contains(&size) || size > std::mem::size_of::<T>() {
        return Err(Failure::new(
            INDEXTTS_INVALID_ARGUMENT,
            format!(
                "{name}.struct_size is {size}; this library takes {sizes:?} bytes (initialize \
                 the struct with its _default function)"
            ),
        ));
    }
    let mut value = default;
    // SAFETY: `size` bytes are readable (caller's contract) and fit in `value` (checked above);
    // `size` is the end of a published layout, so whole fields are copied; T is a plain
    // `repr(C)` struct of integers, floats and pointers, valid for any such bytes the host's
    // header describes.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&mut value as *mut T).cast::<u8>(), size);
    }
    Ok(value)
}

/// The message of the last failed call on this thread, or "" if the last call succeeded.
/// Valid until the next indextts call on this thread; never NULL.
#[no_mangle]
pub extern "C" fn indextts_last_error() -> *const c_char {
    ffi_boundary!(c"".as_ptr(), {
        LAST_ERROR.with(|last| last.borrow().as_ptr())
    })
}

/// Cap glibc's malloc arenas at one per core, unless `MALLOC_ARENA_MAX` is set; returns 1 if
/// the cap was set, 0 otherwise (also off glibc). Call it at the start of `main`, before other
/// threads start, in a host that synthesizes on many threads: with glibc's default (8 arenas
/// per core) freed audio stays spread over the arenas and RSS creeps upwards. A library cannot
/// choose its host's allocator, so this is the host's call.
#[no_mangle]
pub extern "C" fn indextts_limit_malloc_arenas() -> i32 {
    ffi_boundary!(0, { i32::from(crate::limit_malloc_arenas()) })
}

/// A static, human-readable name for a status (an `indextts_status` value), e.g. "invalid
/// UTF-8"; "unknown status" for any other number. Never NULL.
#[no_mangle]
pub extern "C" fn indextts_status_str(status: i32) -> *const c_char {
    let text: &'static CStr = match status_from_i32(status) {
        None => c"unknown status",
        Some(status) => status_text(status),
    };
    text.as_ptr()
}

/// All statuses, in order of their values.
const STATUSES: [indextts_status; 29] = [
    INDEXTTS_OK,
    INDEXTTS_NULL_ARGUMENT,
    INDEXTTS_INVALID_UTF8,
    INDEXTTS_INVALID_ARGUMENT,
    INDEXTTS_EMPTY_TEXT,
    INDEXTTS_TEXT_TOO_LONG,
    INDEXTTS_INVALID_OPTION,
    INDEXTTS_UNKNOWN_SPEAKER,
    INDEXTTS_IO,
    INDEXTTS_RUNTIME_LOAD,
    INDEXTTS_RUNTIME_CONFLICT,
    INDEXTTS_RUNTIME,
    INDEXTTS_PHONEMIZER,
    INDEXTTS_UNKNOWN_ESPEAK_VOICE,
    INDEXTTS_MODEL_FORMAT,
    INDEXTTS_MODEL_INPUT,
    INDEXTTS_MODEL_OUTPUT,
    INDEXTTS_VOICE_CONFIG,
    INDEXTTS_VOICE_MISMATCH,
    INDEXTTS_VOICE_NOT_FOUND,
    INDEXTTS_NOT_SPLIT,
    INDEXTTS_WAV,
    INDEXTTS_CANCELLED,
    INDEXTTS_STREAM_END,
    INDEXTTS_INTERNAL,
    INDEXTTS_PANIC,
    INDEXTTS_SSML,
    INDEXTTS_LEXICON,
    INDEXTTS_UNSUPPORTED_TEXT,
];

/// A number from C as a status, without trusting it to be one (an invalid enum value would be
/// undefined behaviour in Rust).
fn status_from_i32(value: i32) -> Option<indextts_status> {
    STATUSES
        .iter()
        .copied()
        .find(|&status| status as i32 == value)
}

fn status_text(status: indextts_status) -> &'static CStr {
    match status {
        INDEXTTS_OK => c"ok",
        INDEXTTS_NULL_ARGUMENT => c"a required pointer argument is NULL",
        INDEXTTS_INVALID_UTF8 => c"invalid UTF-8",
        INDEXTTS_INVALID_ARGUMENT => c"invalid argument",
        INDEXTTS_EMPTY_TEXT => c"text is empty or only whitespace",
        INDEXTTS_TEXT_TOO_LONG => c"text is too long",
        INDEXTTS_INVALID_OPTION => c"invalid option",
        INDEXTTS_UNKNOWN_SPEAKER => c"unknown speaker",
        INDEXTTS_IO => c"input/output error",
        INDEXTTS_RUNTIME_LOAD => c"cannot load ONNX Runtime",
        INDEXTTS_RUNTIME_CONFLICT => c"another ONNX Runtime is already loaded",
        INDEXTTS_RUNTIME => c"ONNX Runtime error",
        INDEXTTS_PHONEMIZER => c"espeak-ng error",
        INDEXTTS_UNKNOWN_ESPEAK_VOICE => c"espeak-ng has no such voice",
        INDEXTTS_MODEL_FORMAT => c"not a valid ONNX model",
        INDEXTTS_MODEL_INPUT => c"model inputs or outputs do not fit the voice",
        INDEXTTS_MODEL_OUTPUT => c"model output is invalid",
        INDEXTTS_VOICE_CONFIG => c"invalid voice config",
        INDEXTTS_VOICE_MISMATCH => c"voice config does not match the model",
        INDEXTTS_VOICE_NOT_FOUND => c"voice not found",
        INDEXTTS_NOT_SPLIT => c"voice graph is not split",
        INDEXTTS_WAV => c"WAV error",
        INDEXTTS_CANCELLED => c"cancelled",
        INDEXTTS_STREAM_END => c"end of stream",
        INDEXTTS_INTERNAL => c"internal error",
        INDEXTTS_PANIC => c"panic inside indextts",
        INDEXTTS_SSML => c"invalid SSML",
        INDEXTTS_LEXICON => c"invalid lexicon",
        INDEXTTS_UNSUPPORTED_TEXT => c"text in a script the voice cannot read",
    }
}

/// The library's version, e.g. "0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn indextts_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: indextts_last_error never returns NULL and its string lives until the next call.
        unsafe { CStr::from_ptr(indextts_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = ffi_boundary!({
            if last_error().is_empty() {
                panic!("a bug on purpose");
            }
            Ok(INDEXTTS_OK)
        });
        assert_eq!(status, INDEXTTS_PANIC);
        assert_eq!(last_error(), "panic inside indextts: a bug on purpose");
        // Infallible bodies fall back to their default.
        let value: u32 = ffi_boundary!(7, { panic!("again") });
        assert_eq!(value, 7);
        // A success clears the message.
        assert_eq!(ffi_boundary!({ Ok(INDEXTTS_OK) }), INDEXTTS_OK);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn every_status_has_a_name_and_unknown_numbers_are_safe() {
        for (i, status) in STATUSES.iter().enumerate() {
            assert_eq!(*status as i32, i as i32, "statuses are numbered in order");
            assert_eq!(status_from_i32(i as i32), Some(*status));
            // SAFETY: a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(indextts_status_str(i as i32)) };
            assert!(!name.to_bytes().is_empty());
            assert_ne!(name.to_bytes(), b"unknown status");
        }
        for bad in [-1, STATUSES.len() as i32, i32::MAX, i32::MIN] {
            // SAFETY: as above.
            let name = unsafe { CStr::from_ptr(indextts_status_str(bad)) };
            assert_eq!(name.to_bytes(), b"unknown status");
        }
    }

    #[test]
    fn text_is_checked_before_it_is_read() {
        let bytes = b"caf\xe9";
        // SAFETY: valid pointers and lengths, or NULL / an over-long length that must not be read.
        unsafe {
            assert_eq!(text_arg(bytes.as_ptr().cast(), 3).ok(), Some("caf"));
            let utf8 = text_arg(bytes.as_ptr().cast(), 4).err().map(|f| f.status);
            assert_eq!(utf8, Some(INDEXTTS_INVALID_UTF8));
            let null = text_arg(std::ptr::null(), 4).err().map(|f| f.status);
            assert_eq!(null, Some(INDEXTTS_NULL_ARGUMENT));
            let long = text_arg(bytes.as_ptr().cast(), usize::MAX)
                .err()
                .map(|f| f.status);
            assert_eq!(long, Some(INDEXTTS_TEXT_TOO_LONG));
        }
    }

    #[test]
    fn versioned_structs_take_their_own_size_and_refuse_others() {
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq)]
        struct Grown {
            struct_size: u32,
            old: u32,
            new: u64,
        }
        let default = Grown {
            struct_size: 16,
            old: 1,
            new: 2,
        };
        // An older host knows only the first 8 bytes: the new field keeps its default.
        let old_host = Grown {
            struct_size: 8,
            old: 5,
            new: 99,
        };
        // SAFETY: pointers to live structs of at least struct_size bytes.
        unsafe {
            let sizes = [8, 16];
            let read = versioned(&old_host, default, "grown", &sizes).ok();
            assert_eq!(read.map(|g| (g.old, g.new)), Some((5, 2)));
            let too_small = Grown {
                struct_size: 4,
                ..old_host
            };
            let status = versioned(&too_small, default, "grown", &sizes)
                .err()
                .map(|f| f.status);
            assert_eq!(status, Some(INDEXTTS_INVALID_ARGUMENT));
            // Between the two layouts: copying 12 bytes would tear `new` in half.
            let torn = Grown {
                struct_size: 12,
                ..old_host
            };
            let status = versioned(&torn, default, "grown", &sizes)
                .err()
                .map(|f| f.status);
            assert_eq!(status, Some(INDEXTTS_INVALID_ARGUMENT));
            let too_big = Grown {
                struct_size: 1 << 20,
                ..old_host
            };
            let status = versioned(&too_big, default, "grown", &sizes)
                .err()
                .map(|f| f.status);
            assert_eq!(status, Some(INDEXTTS_INVALID_ARGUMENT));
            assert_eq!(
                versioned(std::ptr::null(), default, "grown", &sizes).ok(),
                Some(default)
            );
        }
    }
}
