//! espeak-ng through its C library, loaded at run time from a pinned copy.
//!
//! espeak-ng keeps global state and is not thread-safe, so every call goes through one
//! process-wide lock. The library is the one from the `espeakng-loader==0.2.4` wheel (1.52.0); its
//! data is piper-tts 1.8.0's (1.52.0.1), the data Piper voices are phonemized with. 1.52.0 has no
//! `espeak_TextToPhonemesWithTerminator`, so the clause terminator is recovered from where
//! espeak-ng's decoder stopped in the text (see [`clause_end`]).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// `AUDIO_OUTPUT_SYNCHRONOUS`: no audio device, no background thread.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: without it, espeak-ng calls `exit(1)` when its data is missing.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakCHARS_AUTO`: UTF-8, as Piper passes it.
const CHARS_AUTO: c_int = 0;
/// `espeakPHONEMES_IPA`.
const PHONEMES_IPA: c_int = 0x02;
/// `espeakPHONEMES_TIE` with `^` (bits 8-23) as the tie: multi-letter phonemes come out as
/// `a^ɪ`, `t^ʃ`, as misaki asks espeak-ng for them (through phonemizer's `tie='^'`).
const PHONEMES_TIED: c_int = PHONEMES_IPA | 0x80 | (('^' as c_int) << 8);

type InitializeFn = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetVoiceByNameFn = unsafe extern "C" fn(*const c_char) -> c_int;
type TextToPhonemesFn = unsafe extern "C" fn(*mut *const c_void, c_int, c_int) -> *const c_char;

/// One clause as espeak-ng phonemized it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// IPA phonemes, words separated by spaces, language-switch flags still in.
    pub phonemes: String,
    /// The punctuation that ended the clause, when it is one Piper keeps (`. , ? ! : ;`).
    pub terminator: Option<char>,
    /// Whether the clause ends a sentence.
    pub sentence_end: bool,
    /// The clause's bytes in the text (its white space and punctuation included).
    pub span: std::ops::Range<usize>,
}

struct Library {
    paths: (PathBuf, PathBuf),
    set_voice: SetVoiceByNameFn,
    text_to_phonemes: TextToPhonemesFn,
    current_voice: Option<String>,
    // Keeps the functions above valid; never unloaded while the process runs.
    _lib: libloading::Library,
}

static ESPEAK: Mutex<Option<Library>> = Mutex::new(None);

/// Phonemize `text` with the espeak-ng voice `voice` (e.g. `en-us`), clause by clause.
///
/// `library` and `data` must be the same for every call in a process (espeak-ng is a global).
pub fn phonemize(library: &Path, data: &Path, voice: &str, text: &str) -> Result<Vec<Clause>> {
    phonemize_in(library, data, voice, text, PHONEMES_IPA)
}

/// [`phonemize`] with each multi-letter phoneme tied by `^` (`a^ɪ`), for Kokoro's frontend.
pub fn phonemize_tied(library: &Path, data: &Path, voice: &str, text: &str) -> Result<Vec<Clause>> {
    phonemize_in(library, data, voice, text, PHONEMES_TIED)
}

fn phonemize_in(
    library: &Path,
    data: &Path,
    voice: &str,
    text: &str,
    mode: c_int,
) -> Result<Vec<Clause>> {
    let mut guard = ESPEAK.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        *guard = Some(Library::load(library, data)?);
    }
    let Some(lib) = guard.as_mut() else {
        unreachable!("initialized just above")
    };
    lib.check_paths(library, data)?;
    lib.set_voice(voice)?;
    Ok(lib.clauses(text, mode))
}

/// Check that espeak-ng loads from `library` with `data` and knows `voice`, without phonemizing.
pub fn check(library: &Path, data: &Path, voice: &str) -> Result<()> {
    phonemize(library, data, voice, "").map(|_| ())
}

impl Library {
    fn load(library: &Path, data: &Path) -> Result<Self> {
        let fail = |path: &Path, reason: String| Error::Phonemizer {
            path: path.to_path_buf(),
            reason,
        };
        if !data.join("phontab").is_file() {
            return Err(fail(
                data,
                "not an espeak-ng data directory (no phontab); `speak --fetch VOICE` installs it with a voice".into(),
            ));
        }
        if !library.is_file() {
            return Err(fail(
                library,
                "library not found; `speak --fetch VOICE` installs it with a voice".into(),
            ));
        }
        // SAFETY: loading a shared library runs its initializers; this is espeak-ng's, from the
        // pinned wheel, whose initializers only set up static tables.
        let lib = unsafe { libloading::Library::new(library) }
            .map_err(|e| fail(library, format!("cannot load: {e}")))?;
        // SAFETY: the symbol types match espeak-ng's speak_lib.h for 1.52.
        let (initialize, set_voice, text_to_phonemes) = unsafe {
            let initialize: InitializeFn = *lib
                .get::<InitializeFn>(b"espeak_Initialize\0")
                .map_err(|e| fail(library, format!("missing espeak_Initialize: {e}")))?;
            let set_voice: SetVoiceByNameFn = *lib
                .get::<SetVoiceByNameFn>(b"espeak_SetVoiceByName\0")
                .map_err(|e| fail(library, format!("missing espeak_SetVoiceByName: {e}")))?;
            let text_to_phonemes: TextToPhonemesFn = *lib
                .get::<TextToPhonemesFn>(b"espeak_TextToPhonemes\0")
                .map_err(|e| fail(library, format!("missing espeak_TextToPhonemes: {e}")))?;
            (initialize, set_voice, text_to_phonemes)
        };
        let data_c = CString::new(data.as_os_str().as_encoded_bytes())
            .map_err(|_| fail(data, "path contains a NUL byte".into()))?;
        // SAFETY: `data_c` outlives the call; DONT_EXIT makes failure a return value, not exit().
        let rate = unsafe {
            initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                data_c.as_ptr(),
                INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            return Err(fail(data, format!("espeak_Initialize failed ({rate})")));
        }
        Ok(Library {
            paths: (library.to_path_buf(), data.to_path_buf()),
            set_voice,
            text_to_phonemes,
            current_voice: None,
            _lib: lib,
        })
    }

    fn check_paths(&self, library: &Path, data: &Path) -> Result<()> {
        if self.paths.0 == library && self.paths.1 == data {
            return Ok(());
        }
        Err(Error::Phonemizer {
            path: library.to_path_buf(),
            reason: format!(
                "espeak-ng is already loaded from {} with data {}; a process holds one",
                self.paths.0.display(),
                self.paths.1.display()
            ),
        })
    }

    fn set_voice(&mut self, voice: &str) -> Result<()> {
        if self.current_voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let unknown = || Error::UnknownEspeakVoice {
            voice: voice.to_owned(),
        };
        let name = CString::new(voice).map_err(|_| unknown())?;
        // SAFETY: `name` is a valid C string that outlives the call; the lock is held.
        let status = unsafe { (self.set_voice)(name.as_ptr()) };
        if status != 0 {
            return Err(unknown());
        }
        self.current_voice = Some(voice.to_owned());
        Ok(())
    }

    fn clauses(&mut self, text: &str, mode: c_int) -> Vec<Clause> {
        // espeak-ng reads a C string: a NUL would end the text early, so it becomes a space.
        let owned: Vec<u8> = text
            .bytes()
            .map(|b| if b == 0 { b' ' } else { b })
            .chain(std::iter::once(0))
            .collect();
        let base = owned.as_ptr();
        // About one clause per punctuation mark or line break (sized once: the stream's path).
        let marks = text
            .bytes()
            .filter(|b| matches!(b, b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\n'))
            .count();
        let mut clauses = Vec::with_capacity(marks + 1);
        let mut cursor: *const c_void = base.cast();
        // Byte offset where the current clause's text starts (espeak-ng keeps one character of
        // look-ahead between calls, so a clause starts one character before the pointer).
        let mut start = 0usize;
        while !cursor.is_null() {
            // SAFETY: `cursor` points into `owned`, which is NUL-terminated and outlives the loop;
            // espeak-ng advances it within the buffer or sets it to NULL at the end.
            let phonemes_ptr = unsafe { (self.text_to_phonemes)(&mut cursor, CHARS_AUTO, mode) };
            let phonemes = if phonemes_ptr.is_null() {
                String::new()
            } else {
                // SAFETY: espeak-ng returns a NUL-terminated string valid until its next call.
                unsafe { CStr::from_ptr(phonemes_ptr) }
                    .to_string_lossy()
                    .into_owned()
            };
            let end = if cursor.is_null() {
                text.len()
            } else {
                let offset = (cursor as usize)
                    .saturating_sub(base as usize)
                    .min(text.len());
                lookahead_start(text, offset)
            };
            let span = text.get(start.min(end)..end).unwrap_or("");
            let (terminator, sentence_end) = clause_end(span, cursor.is_null());
            clauses.push(Clause {
                phonemes,
                terminator,
                sentence_end,
                span: start.min(end)..end,
            });
            start = end;
        }
        clauses
    }
}

/// The byte offset of the character just before `offset` (espeak-ng's look-ahead character).
fn lookahead_start(text: &str, offset: usize) -> usize {
    let mut i = offset;
    if i == 0 {
        return 0;
    }
    i -= 1;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why espeak-ng ended a clause, recovered from the clause's own text (with its trailing space).
///
/// Mirrors espeak-ng's `ReadClause` for the cases Piper distinguishes: `. ? !` end a sentence,
/// `, : ;` end a clause, a run of `?`/`!` counts as its first character, an ellipsis ends a clause
/// without a terminator, and punctuation or text followed by a blank line is a paragraph
/// (a sentence end without a terminator), as is the end of the text.
pub fn clause_end(span: &str, at_end: bool) -> (Option<char>, bool) {
    let body = span.trim_end();
    let paragraph = span[body.len()..].matches('\n').count() > 1;
    if body.ends_with("..") || body.ends_with('\u{2026}') {
        return (None, paragraph || at_end);
    }
    let last = body.chars().next_back();
    match last {
        Some('?' | '!') => {
            let first = body
                .chars()
                .rev()
                .take_while(|c| matches!(c, '?' | '!'))
                .last();
            (if paragraph { None } else { first }, true)
        }
        Some('.') => (if paragraph { None } else { Some('.') }, true),
        Some(c @ (',' | ':' | ';')) => {
            if paragraph {
                (None, true)
            } else {
                (Some(c), false)
            }
        }
        _ => (None, paragraph || at_end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_end_matches_espeak_terminators() {
        assert_eq!(clause_end("Hello, ", false), (Some(','), false));
        assert_eq!(clause_end("the show.", true), (Some('.'), true));
        assert_eq!(clause_end("Really?! ", false), (Some('?'), true));
        assert_eq!(clause_end("Stop!? ", false), (Some('!'), true));
        assert_eq!(clause_end("Wait... ", false), (None, false));
        assert_eq!(clause_end("Wait\u{2026} ", false), (None, false));
        assert_eq!(clause_end("said: ", false), (Some(':'), false));
        assert_eq!(clause_end("go; ", false), (Some(';'), false));
        assert_eq!(clause_end("line two\n\n", false), (None, true));
        assert_eq!(clause_end("Stop.\n\n", false), (None, true));
        assert_eq!(clause_end("no punctuation", true), (None, true));
        assert_eq!(clause_end("a clause cut for length ", false), (None, false));
    }

    #[test]
    fn lookahead_is_one_character() {
        assert_eq!(lookahead_start("Hello, a", 8), 7);
        assert_eq!(lookahead_start("so é", "so é".len()), 3);
        assert_eq!(lookahead_start("", 0), 0);
    }
}
