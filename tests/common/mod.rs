//! Helpers shared by the integration tests.
#![allow(dead_code)]

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

/// Words in a text, for duration plausibility (2.7 words per second is ordinary speech).
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// A scratch directory for one test, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("indextts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
