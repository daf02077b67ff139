//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in indextts. Each variant carries the context a caller needs
/// to act on it (paths, names, lengths); none of them is a formatted catch-all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The ONNX Runtime shared library could not be loaded, or is not a usable ONNX Runtime.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The library that was tried.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },

    /// ONNX Runtime is already loaded in this process from another file; a process can hold only one.
    #[error("ONNX Runtime is already loaded from {loaded}; cannot also load {requested}")]
    RuntimeConflict {
        /// The library loaded first.
        loaded: PathBuf,
        /// The library asked for now.
        requested: PathBuf,
    },

    /// ONNX Runtime reported an error (session creation, a run).
    #[error("ONNX Runtime: {context}: {message}")]
    Runtime {
        /// What indextts was doing.
        context: &'static str,
        /// ONNX Runtime's message.
        message: String,
    },

    /// The espeak-ng library or its data could not be loaded or initialized.
    #[error("espeak-ng: {reason} ({path})")]
    Phonemizer {
        /// The library or data directory involved.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// espeak-ng does not know the voice's language.
    #[error("espeak-ng has no voice named {voice:?}")]
    UnknownEspeakVoice {
        /// The `espeak.voice` of the voice config.
        voice: String,
    },

    /// A model file is not a valid ONNX model.
    #[error("{path}: not a valid ONNX model: {reason}")]
    ModelFormat {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A model input or output does not have the name, type or rank the voice needs.
    #[error("{path}: model {kind} {name:?}: expected {expected}, found {found}")]
    ModelInput {
        /// The model file.
        path: PathBuf,
        /// `"input"` or `"output"`.
        kind: &'static str,
        /// The tensor's name.
        name: String,
        /// What the voice needs.
        expected: String,
        /// What the model declares.
        found: String,
    },

    /// The voice config (`.onnx.json`) is malformed or inconsistent.
    #[error("{path}: invalid voice config: {reason}")]
    VoiceConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The voice config and the model disagree (symbol count, speakers).
    #[error("{config} does not match {model}: {reason}")]
    VoiceMismatch {
        /// The config file.
        config: PathBuf,
        /// The model file.
        model: PathBuf,
        /// How they disagree.
        reason: String,
    },

    /// No voice was found at the given location.
    #[error("no voice at {path}: {reason}")]
    VoiceNotFound {
        /// Where it was looked for.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// A synthesis option is out of range.
    #[error("invalid option {name} = {value}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// Its value, as given.
        value: String,
        /// The valid range.
        reason: &'static str,
    },

    /// The speaker is not one of the voice's speakers.
    #[error("unknown speaker {speaker:?}; the voice has {available}")]
    UnknownSpeaker {
        /// The speaker asked for.
        speaker: String,
        /// What the voice offers.
        available: String,
    },

    /// The input text is empty or only whitespace: there is nothing to say.
    #[error("text is empty or only whitespace ({len} bytes); there is nothing to say")]
    EmptyText {
        /// The text's length in bytes.
        len: usize,
    },

    /// The input text is larger than indextts accepts in one call.
    #[error("text is {len} bytes; at most {max} bytes are accepted per call")]
    TextTooLong {
        /// The text's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// The text is written in a script the voice has no frontend for (Mandarin or Japanese
    /// given to a Kokoro English voice): refused before any audio, rather than spelled out.
    #[error(
        "this voice reads {language}; it cannot read {character:?} (U+{:04X}) at byte {offset}{hint}",
        u32::from(*.character)
    )]
    UnsupportedText {
        /// The language the voice reads.
        language: String,
        /// The first character it cannot read.
        character: char,
        /// Its byte offset in the text.
        offset: usize,
        /// Which voice reads it, if any (starts with "; ").
        hint: String,
    },

    /// SSML input that is not well-formed, or a value out of range.
    #[error("SSML, line {line}, column {column}: {reason}")]
    Ssml {
        /// Line of the fault, from 1.
        line: u32,
        /// Column of the fault, from 1.
        column: u32,
        /// What is wrong.
        reason: String,
    },

    /// A pronunciation lexicon that cannot be read.
    #[error("{path}, line {line}: {reason}")]
    Lexicon {
        /// The lexicon file.
        path: PathBuf,
        /// Line of the fault, from 1 (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// A model produced output of an unexpected shape or with non-finite values.
    #[error("model output {name:?}: {reason}")]
    ModelOutput {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The voice's graph could not be split, so it has no frames (it still speaks).
    #[error("this voice's graph is not split into acoustic model and vocoder; it has no frames")]
    NotSplit,

    /// The audio stream of a text stream has ended (dropped by its reader, or failed): the
    /// text pushed now would not be spoken.
    #[error("the text stream's audio has ended (its reader dropped it, or it failed)")]
    StreamClosed,

    /// An async entry point was called outside a tokio runtime.
    #[error("{what} must be called within a tokio runtime")]
    NoAsyncRuntime {
        /// The function called.
        what: &'static str,
    },

    /// A bug in indextts (a panic caught at a thread or ABI boundary).
    #[error("internal error: {reason}")]
    Internal {
        /// What was caught.
        reason: String,
    },

    /// Writing a WAV file failed.
    #[error("WAV {path}: {reason}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// hound's message.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn runtime(context: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Runtime {
            context,
            message: err.to_string(),
        }
    }
}

/// `Result` with indextts's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
