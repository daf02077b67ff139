//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "server")]
pub mod http;

use std::path::PathBuf;
use std::sync::OnceLock;

use indextts::{Audio, Synthesizer};

/// The shared corpus, beside the project root.
pub fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

/// Non-empty lines of a corpus file.
pub fn corpus_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(corpus(name))
        .unwrap_or_else(|e| panic!("{}: {e}", corpus(name).display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A corpus file's whole text.
pub fn corpus_text(name: &str) -> String {
    std::fs::read_to_string(corpus(name))
        .unwrap_or_else(|e| panic!("{}: {e}", corpus(name).display()))
}

/// The real default voice, loaded once per test binary. Fails with a clear message when the
/// assets are missing: these tests are part of the suite, not optional.
pub fn real_voice() -> &'static Synthesizer {
    static SYNTH: OnceLock<Synthesizer> = OnceLock::new();
    SYNTH.get_or_init(|| {
        Synthesizer::builder().threads(2).build().unwrap_or_else(|e| {
            panic!("cannot load the default voice ({e}); run scripts/setup.sh (or scripts/fetch_assets.py) first")
        })
    })
}

/// Loudness and sanity of a piece of audio.
#[derive(Debug)]
pub struct AudioStats {
    pub seconds: f64,
    pub rms: f64,
    pub peak: f32,
    pub non_finite: usize,
    pub clipped: usize,
}

pub fn stats(audio: &Audio) -> AudioStats {
    let n = audio.samples.len().max(1) as f64;
    AudioStats {
        seconds: audio.duration_seconds(),
        rms: (audio
            .samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / n)
            .sqrt(),
        peak: audio.samples.iter().fold(0.0f32, |m, &s| m.max(s.abs())),
        non_finite: audio.samples.iter().filter(|s| !s.is_finite()).count(),
        clipped: audio.samples.iter().filter(|s| s.abs() >= 0.999).count(),
    }
}

/// Assert that `audio` is plausible speech of `text` at `sample_rate`: its duration within
/// 0.4x..2.5x of the words at 2.7 a second, RMS above 0.02, no NaN, peak within full scale,
/// fewer than 1 sample in 10,000 at full scale. Prints the figures under `label`.
pub fn check_speech(label: &str, text: &str, audio: &Audio, sample_rate: u32) {
    let s = stats(audio);
    let expected = word_count(text) as f64 / 2.7;
    println!(
        "{label}: {:5.2} s (expected ~{expected:4.2} s) rms {:.3} peak {:.3}  {text}",
        s.seconds, s.rms, s.peak
    );
    assert_eq!(audio.sample_rate, sample_rate);
    assert!(
        s.seconds >= 0.4 * expected && s.seconds <= 2.5 * expected,
        "{text:?}: {:.2} s is not within 0.4x..2.5x of {expected:.2} s",
        s.seconds
    );
    assert_eq!(s.non_finite, 0, "{text:?}: NaN or inf in the audio");
    assert!(s.rms > 0.02, "{text:?}: RMS {:.4} is near silence", s.rms);
    assert!(s.peak <= 1.0, "{text:?}: peak {}", s.peak);
    assert!(
        (s.clipped as f64) < 1e-4 * audio.samples.len() as f64,
        "{text:?}: {} samples at full scale",
        s.clipped
    );
}

/// Run a reference script under `python` with `args`, `input` as JSON on its standard input,
/// and parse the JSON it writes.
pub fn reference_json<I: serde::Serialize, O: serde::de::DeserializeOwned>(
    python: &std::path::Path,
    args: &[std::ffi::OsString],
    input: &I,
) -> O {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Words in a text, for duration plausibility (2.7 words per second is ordinary speech).
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The audio of a 16-bit mono WAV (whose header may declare an unbounded length, as a stream's).
pub fn wav_audio(bytes: &[u8]) -> Audio {
    assert_eq!(&bytes[..4], b"RIFF", "not a WAV");
    assert_eq!(&bytes[8..12], b"WAVE");
    let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    let sample_rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    pcm_audio(&bytes[data..], sample_rate)
}

/// The audio of 16-bit little-endian mono PCM at `sample_rate`.
pub fn pcm_audio(bytes: &[u8], sample_rate: u32) -> Audio {
    assert_eq!(bytes.len() % 2, 0);
    let samples = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    Audio {
        samples,
        sample_rate,
        ..Audio::default()
    }
}

/// A scratch directory for one test, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("indextts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The one entry of a compiled-graph cache directory (no staging directory left beside it;
/// the remembered source hashes, `.sources-*.json`, may be), after checking it holds each of
/// `parts`.
pub fn only_graph_cache_entry(dir: &std::path::Path, parts: &[&str]) -> PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".sources-")
        })
        .collect();
    assert_eq!(entries.len(), 1, "one entry, no staging left: {entries:?}");
    let entry = entries[0].clone();
    for part in parts {
        assert!(
            entry.join(part).is_file(),
            "{part} missing in {}",
            entry.display()
        );
    }
    entry
}

/// Write `voice` into a scratch directory and load it on one thread.
pub fn tiny_synth(voice: &indextts::testkit::TinyVoice, name: &str) -> (PathBuf, Synthesizer) {
    let dir = scratch(name);
    voice.write(&dir, "tiny").unwrap();
    let synth = Synthesizer::builder()
        .voice(&dir)
        .threads(1)
        .build()
        .unwrap();
    (dir, synth)
}
