//! `indextts._native`: the Python package's compiled half (PyO3, abi3). The public API is the
//! pure-Python `indextts` package around it (numpy arrays, docstrings, type stubs); this module
//! keeps to bytes and plain values, so it needs no numpy at build time.
//!
//! Every call that synthesizes releases the GIL while it runs, so threads sharing one
//! synthesizer run at once, and a stream's `__next__` waits for audio without holding it.

use std::sync::Mutex;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

create_exception!(
    _native,
    IndexTTSError,
    PyException,
    "Any error of indextts."
);
create_exception!(
    _native,
    VoiceNotFoundError,
    IndexTTSError,
    "No voice of that name or at that path."
);
create_exception!(
    _native,
    InvalidOptionError,
    IndexTTSError,
    "An option is out of range (NaN or negative speeds, zero threads, ...)."
);
create_exception!(
    _native,
    UnknownSpeakerError,
    IndexTTSError,
    "The voice has no such speaker."
);
create_exception!(
    _native,
    EmptyTextError,
    IndexTTSError,
    "The text is empty or only white space."
);
create_exception!(
    _native,
    TextTooLongError,
    IndexTTSError,
    "The text is longer than one call accepts."
);
create_exception!(
    _native,
    ModelError,
    IndexTTSError,
    "A model, voice config or runtime library is missing, corrupt or does not match."
);
create_exception!(
    _native,
    StreamClosedError,
    IndexTTSError,
    "The audio of a text stream has ended; text pushed now would not be spoken."
);

/// The Python exception for an `indextts::Error`, with its message.
fn py_err(error: indextts::Error) -> PyErr {
    use indextts::Error as E;
    let message = error.to_string();
    match error {
        E::VoiceNotFound { .. } => VoiceNotFoundError::new_err(message),
        E::InvalidOption { .. } => InvalidOptionError::new_err(message),
        E::UnknownSpeaker { .. } => UnknownSpeakerError::new_err(message),
        E::EmptyText { .. } => EmptyTextError::new_err(message),
        E::TextTooLong { .. } => TextTooLongError::new_err(message),
        E::StreamClosed => StreamClosedError::new_err(message),
        E::ModelFormat { .. }
        | E::ModelInput { .. }
        | E::ModelOutput { .. }
        | E::VoiceConfig { .. }
        | E::VoiceMismatch { .. }
        | E::RuntimeLoad { .. }
        | E::RuntimeConflict { .. }
        | E::Phonemizer { .. }
        | E::UnknownEspeakVoice { .. } => ModelError::new_err(message),
        _ => IndexTTSError::new_err(message),
    }
}

/// Little-endian float32 bytes of `samples` (numpy reads them without a copy).
fn f32_bytes<'py>(py: Python<'py>, samples: &[f32]) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, samples.len() * 4, |out| {
        for (dst, s) in out.chunks_exact_mut(4).zip(samples) {
            dst.copy_from_slice(&s.to_le_bytes());
        }
        Ok(())
    })
    .unwrap_or_else(|_| PyBytes::new(py, &[]))
}

/// Options of one call.
fn options(
    speed: Option<f32>,
    speaker: Option<String>,
    seed: Option<u64>,
    synth: &indextts::Synthesizer,
) -> PyResult<indextts::SynthesisOptions> {
    let length_scale = match speed {
        None => None,
        Some(speed) if speed.is_finite() && speed > 0.0 => {
            Some(synth.config().inference.length_scale / speed)
        }
        Some(speed) => {
            return Err(InvalidOptionError::new_err(format!(
                "speed {speed}: must be a finite number > 0 (1.0 is the voice's pace)"
            )))
        }
    };
    Ok(indextts::SynthesisOptions {
        length_scale,
        speaker,
        seed,
        ..Default::default()
    })
}

/// A loaded voice (see `indextts.Synthesizer`).
#[pyclass(frozen, module = "indextts._native")]
struct Synthesizer {
    synth: indextts::Synthesizer,
}

#[pymethods]
impl Synthesizer {
    #[new]
    #[pyo3(signature = (voice=None, threads=None, cache_bytes=None, lexicon=None, follow_load=false))]
    fn new(
        py: Python<'_>,
        voice: Option<String>,
        threads: Option<usize>,
        cache_bytes: Option<u64>,
        lexicon: Option<std::path::PathBuf>,
        follow_load: bool,
    ) -> PyResult<Self> {
        let synth = py
            .detach(|| {
                let mut builder = indextts::Synthesizer::builder().follow_load(follow_load);
                if let Some(voice) = voice {
                    builder = builder.voice(voice);
                }
                if let Some(threads) = threads {
                    builder = builder.threads(threads);
                }
                if let Some(bytes) = cache_bytes {
                    builder = builder.cache_bytes(bytes);
                }
                if let Some(path) = lexicon {
                    builder = builder.lexicon(path);
                }
                builder.build()
            })
            .map_err(py_err)?;
        Ok(Synthesizer { synth })
    }

    #[getter]
    fn sample_rate(&self) -> u32 {
        self.synth.sample_rate()
    }

    #[getter]
    fn one_thread_sessions(&self) -> usize {
        self.synth.one_thread_sessions()
    }

    #[getter]
    fn speakers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.synth.config().speaker_id_map.keys().cloned().collect();
        names.sort();
        names
    }

    #[getter]
    fn language(&self) -> String {
        self.synth.config().language().to_owned()
    }

    /// (float32 little-endian bytes, sample rate, word marks).
    #[pyo3(signature = (text, speed=None, speaker=None, seed=None))]
    fn synthesize<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        speed: Option<f32>,
        speaker: Option<String>,
        seed: Option<u64>,
    ) -> PyResult<(Bound<'py, PyBytes>, u32, Vec<WordTuple>)> {
        let options = options(speed, speaker, seed, &self.synth)?;
        let text = text.to_owned();
        let audio = py
            .detach(|| self.synth.synthesize(&text, &options))
            .map_err(py_err)?;
        let words = word_tuples(&audio.words, audio.sample_rate);
        Ok((f32_bytes(py, &audio.samples), audio.sample_rate, words))
    }

    /// A stream of chunks (see `Stream`).
    #[pyo3(signature = (text, speed=None, speaker=None, seed=None))]
    fn stream(
        &self,
        py: Python<'_>,
        text: &str,
        speed: Option<f32>,
        speaker: Option<String>,
        seed: Option<u64>,
    ) -> PyResult<Stream> {
        let options = options(speed, speaker, seed, &self.synth)?;
        let text = text.to_owned();
        let stream = py
            .detach(|| self.synth.stream(&text, &options))
            .map_err(py_err)?;
        Ok(Stream {
            inner: Mutex::new(Some(stream)),
        })
    }

    /// (sink, audio stream) for text that arrives while the audio plays.
    #[pyo3(signature = (speed=None, speaker=None, seed=None))]
    fn text_stream(
        &self,
        speed: Option<f32>,
        speaker: Option<String>,
        seed: Option<u64>,
    ) -> PyResult<(TextSink, Stream)> {
        let options = options(speed, speaker, seed, &self.synth)?;
        let (sink, stream) = self.synth.text_stream(&options).map_err(py_err)?;
        Ok((
            TextSink {
                inner: Mutex::new(Some(sink)),
            },
            Stream {
                inner: Mutex::new(Some(stream)),
            },
        ))
    }
}

/// One chunk as Python gets it: (float32 bytes, sample rate, start sample, sentence index,
/// sentence end).
type ChunkTuple<'py> = (
    Bound<'py, PyBytes>,
    u32,
    u64,
    usize,
    bool,
    Vec<WordTuple>,
    Vec<PhonemeTuple>,
);

/// A phoneme mark as Python gets it: (phoneme, id, start s, end s).
type PhonemeTuple = (String, i64, f64, f64);

fn phoneme_tuples(phonemes: &[indextts::PhonemeMark], sample_rate: u32) -> Vec<PhonemeTuple> {
    let rate = f64::from(sample_rate.max(1));
    phonemes
        .iter()
        .map(|p| {
            (
                p.phoneme.clone(),
                p.id,
                p.start_sample as f64 / rate,
                p.end_sample as f64 / rate,
            )
        })
        .collect()
}

/// A word mark as Python gets it: (word, start s, end s, text start byte, text end byte).
type WordTuple = (String, f64, f64, usize, usize);

fn word_tuples(words: &[indextts::WordMark], sample_rate: u32) -> Vec<WordTuple> {
    words
        .iter()
        .map(|w| {
            (
                w.text.clone(),
                w.start_seconds(sample_rate),
                w.end_seconds(sample_rate),
                w.text_range.start,
                w.text_range.end,
            )
        })
        .collect()
}

/// Audio chunks as they are made: (float32 bytes, sample rate, start sample, sentence index,
/// sentence end). Dropping it (or `close()`) cancels the synthesis.
#[pyclass(module = "indextts._native")]
struct Stream {
    inner: Mutex<Option<indextts::AudioStream>>,
}

#[pymethods]
impl Stream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<ChunkTuple<'py>>> {
        let next = py.detach(|| {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let next = inner.as_mut().and_then(Iterator::next);
            if next.is_none() {
                // Finished: join the threads now rather than at garbage collection.
                *inner = None;
            }
            next
        });
        // A Ctrl-C that came while the GIL was released is raised here, between chunks.
        py.check_signals()?;
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(py_err(e)),
            Some(Ok(chunk)) => Ok(Some((
                f32_bytes(py, &chunk.samples),
                chunk.sample_rate,
                chunk.start_sample,
                chunk.sentence,
                chunk.sentence_end,
                word_tuples(&chunk.words, chunk.sample_rate),
                phoneme_tuples(&chunk.phonemes, chunk.sample_rate),
            ))),
        }
    }

    /// Cancel the synthesis now (its threads are stopped before this returns).
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let stream = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
            drop(stream);
        });
    }
}

/// The writing end of a text stream.
#[pyclass(module = "indextts._native")]
struct TextSink {
    inner: Mutex<Option<indextts::TextSink>>,
}

impl TextSink {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut indextts::TextSink) -> indextts::Result<T>,
    ) -> PyResult<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let sink = inner
            .as_mut()
            .ok_or_else(|| StreamClosedError::new_err("the text stream was already finished"))?;
        f(sink).map_err(py_err)
    }
}

#[pymethods]
impl TextSink {
    fn push(&self, text: &str) -> PyResult<()> {
        self.with(|sink| sink.push(text))
    }

    fn flush(&self) -> PyResult<()> {
        self.with(indextts::TextSink::flush)
    }

    fn finish(&self) -> PyResult<()> {
        let sink = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| StreamClosedError::new_err("the text stream was already finished"))?;
        sink.finish().map_err(py_err)
    }
}

/// Every voice indextts knows of: a list of dicts (name, family, language, sample_rate,
/// installed, bytes, note).
#[pyfunction]
fn list_voices(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for entry in indextts::voice_catalog() {
        let voice = PyDict::new(py);
        voice.set_item("name", &entry.name)?;
        voice.set_item("family", format!("{:?}", entry.family))?;
        voice.set_item("language", &entry.language)?;
        voice.set_item("sample_rate", entry.sample_rate)?;
        voice.set_item("installed", entry.installed.is_some())?;
        voice.set_item("bytes", entry.bytes)?;
        voice.set_item("note", &entry.note)?;
        list.append(voice)?;
    }
    Ok(list)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Synthesizer>()?;
    m.add_class::<Stream>()?;
    m.add_class::<TextSink>()?;
    m.add_function(wrap_pyfunction!(list_voices, m)?)?;
    m.add("IndexTTSError", py.get_type::<IndexTTSError>())?;
    m.add("VoiceNotFoundError", py.get_type::<VoiceNotFoundError>())?;
    m.add("InvalidOptionError", py.get_type::<InvalidOptionError>())?;
    m.add("UnknownSpeakerError", py.get_type::<UnknownSpeakerError>())?;
    m.add("EmptyTextError", py.get_type::<EmptyTextError>())?;
    m.add("TextTooLongError", py.get_type::<TextTooLongError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("StreamClosedError", py.get_type::<StreamClosedError>())?;
    m.add("MAX_TEXT_BYTES", indextts::MAX_TEXT_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
