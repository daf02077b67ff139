//! The C ABI's option structs filled with arbitrary bytes, as a careless host might leave
//! them: `indextts_synthesis_options` through `indextts_synthesize` and `indextts_stream_new`
//! (the tiny voice, loaded once), and `indextts_options` through `indextts_synthesizer_new`.
//! Any `struct_size`, flag byte, NaN, zero or `UINT32_MAX` must come back as a status; nothing
//! may panic, hang or abort. Pointer fields are set to NULL or to a valid string (the header's
//! contract), and resource counts a valid struct could ask for (threads, sessions) are kept
//! small so each run stays short: out-of-range values are kept as they are.
#![no_main]

use std::ffi::CString;
use std::mem::{size_of, MaybeUninit};
use std::ptr;
use std::sync::OnceLock;

use indextts::ffi::*;
use indextts::testkit::TinyVoice;
use libfuzzer_sys::fuzz_target;

/// The tiny voice's directory, written once.
fn voice_dir() -> &'static CString {
    static DIR: OnceLock<CString> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("indextts-fuzz-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        TinyVoice::default().write(&dir, "tiny").expect("tiny voice");
        CString::new(dir.to_str().expect("UTF-8 path")).expect("no NUL")
    })
}

struct Synth(*mut indextts_synthesizer);
// SAFETY: the library documents synthesizers as thread-safe.
unsafe impl Send for Synth {}
// SAFETY: as above.
unsafe impl Sync for Synth {}

fn synth() -> *const indextts_synthesizer {
    static SYNTH: OnceLock<Synth> = OnceLock::new();
    SYNTH
        .get_or_init(|| {
            let mut out = ptr::null_mut();
            // SAFETY: a NUL-terminated path, NULL options, a valid out-pointer.
            let status = unsafe { indextts_synthesizer_new(voice_dir().as_ptr(), ptr::null(), &mut out) };
            assert_eq!(status, indextts_status::INDEXTTS_OK, "the tiny voice loads");
            Synth(out)
        })
        .0
}

/// `T` with its bytes from `bytes` (zero past their end).
fn from_bytes<T: Copy>(bytes: &[u8]) -> T {
    let mut value = MaybeUninit::<T>::zeroed();
    let n = bytes.len().min(size_of::<T>());
    // SAFETY: `n` bytes fit in `value`; every T here is a repr(C) struct of integers, floats
    // and pointers (the pointers are overwritten before use), valid for any bytes.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), value.as_mut_ptr().cast::<u8>(), n);
        value.assume_init()
    }
}

fuzz_target!(|data: &[u8]| {
    let (Some(&which), Some(rest)) = (data.first(), data.get(1..)) else {
        return;
    };
    let text = "Hi there.";
    // A string a pointer field may hold: the tail of the input after a 0 byte, if any.
    let string = rest
        .iter()
        .position(|&b| b == 0)
        .and_then(|at| CString::new(&rest[at + 1..]).ok());
    if which & 1 == 0 {
        let mut options: indextts_synthesis_options = from_bytes(rest);
        options.speaker = match &string {
            Some(s) if which & 2 != 0 => s.as_ptr(),
            _ => ptr::null(),
        };
        let mut audio = ptr::null_mut();
        // SAFETY: a live synthesizer, `text.len()` bytes of text, an options struct of the
        // full size (whatever its struct_size says), a valid out-pointer.
        let status = unsafe {
            indextts_synthesize(synth(), text.as_ptr().cast(), text.len(), &options, &mut audio)
        };
        if status == indextts_status::INDEXTTS_OK {
            // SAFETY: made by the call above.
            unsafe { indextts_audio_free(audio) };
        }
        let mut stream = ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe {
            indextts_stream_new(synth(), text.as_ptr().cast(), text.len(), &options, &mut stream)
        };
        if status == indextts_status::INDEXTTS_OK {
            let mut buffer = [0f32; 4096];
            let mut written = 0usize;
            // SAFETY: a live stream and a buffer of its stated capacity.
            unsafe {
                indextts_stream_next(stream, buffer.as_mut_ptr(), buffer.len(), &mut written);
                indextts_stream_free(stream);
            }
        }
    } else {
        let mut options: indextts_options = from_bytes(rest);
        let s = |bit: u8| match &string {
            Some(s) if which & bit != 0 => s.as_ptr(),
            _ => ptr::null(),
        };
        options.ort_library = ptr::null();
        options.espeak_library = ptr::null();
        options.espeak_data = ptr::null();
        options.cache_dir = ptr::null();
        options.redis_url = s(2);
        options.graph_cache = c"off".as_ptr();
        // A lexicon path from the input (a file that is almost never there: an I/O error).
        options.lexicon = s(4);
        // Valid counts kept small (each session is an ONNX Runtime session with its threads);
        // out-of-range ones stay, to be refused.
        if (2..=1024).contains(&options.threads) {
            options.threads = 1;
        }
        if (2..=64).contains(&options.sessions) {
            options.sessions = 1;
        }
        let mut out = ptr::null_mut();
        // SAFETY: a NUL-terminated path, a full-size options struct with NULL or valid string
        // pointers, a valid out-pointer.
        let status = unsafe { indextts_synthesizer_new(voice_dir().as_ptr(), &options, &mut out) };
        if status == indextts_status::INDEXTTS_OK {
            // SAFETY: made by the call above.
            unsafe { indextts_synthesizer_free(out) };
        }
    }
});
