//! Write the fuzz targets' seed corpora (tiny models, voice configs, real cache entries, corpus
//! text) into a directory, one subdirectory per target. scripts/fuzz.sh runs it.
//!
//!   cargo run --example fuzz_seeds -- target/fuzz-corpus

use std::path::{Path, PathBuf};

use indextts::testkit::TinyVoice;
use indextts::{SynthesisOptions, Synthesizer};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() -> indextts::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("target/fuzz-corpus".into()),
    );
    let voices = [
        TinyVoice::default(),
        TinyVoice {
            speakers: 3,
            ..Default::default()
        },
        TinyVoice {
            symbols: "abcdefg".into(),
            ..Default::default()
        },
    ];
    for (i, voice) in voices.iter().enumerate() {
        write(
            &out.join("onnx_model"),
            &format!("tiny{i}.onnx"),
            &voice.model_bytes(),
        );
        write(
            &out.join("voice_config"),
            &format!("tiny{i}.json"),
            voice.config_json().as_bytes(),
        );
    }
    let real = indextts::assets_dir().join("voices/en_US-joe-medium/en_US-joe-medium.onnx.json");
    if let Ok(json) = std::fs::read(&real) {
        write(&out.join("voice_config"), "joe.json", &json);
    }

    // Real disk-cache entries, written by the default voice's cache (a seeded voice: the tiny
    // ones draw inside ONNX Runtime and are not cached).
    let work = std::env::temp_dir().join(format!("indextts-fuzz-seeds-{}", std::process::id()));
    let cache = work.join("cache");
    let synth = Synthesizer::builder()
        .threads(1)
        .cache_dir(&cache)
        .build()?;
    synth.prewarm(
        ["Hello there.", "A second, longer sentence."],
        &SynthesisOptions::default(),
    )?;
    let mut entries = 0;
    for entry in walk(&cache) {
        if let Ok(bytes) = std::fs::read(&entry) {
            write(&out.join("cache_entry"), &format!("entry{entries}"), &bytes);
            entries += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut texts = 0;
    for name in ["en_sentences.txt", "en_paragraph.txt", "normalize_zh.tsv"] {
        if let Ok(text) = std::fs::read_to_string(corpus.join(name)) {
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(12) {
                write(
                    &out.join("frontend"),
                    &format!("text{texts}"),
                    line.as_bytes(),
                );
                texts += 1;
            }
        }
    }
    for name in [
        "zh_sentences.txt",
        "zh_100.txt",
        "mixed.txt",
        "normalize_zh.tsv",
    ] {
        if let Ok(text) = std::fs::read_to_string(corpus.join(name)) {
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(12) {
                write(
                    &out.join("frontend_zh"),
                    &format!("text{texts}"),
                    line.as_bytes(),
                );
                texts += 1;
            }
        }
    }
    let tricky = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/en_tricky.txt");
    if let Ok(text) = std::fs::read(&tricky) {
        write(&out.join("frontend"), "tricky", &text);
    }
    println!(
        "fuzz seeds in {}: {} models, {} configs, {entries} cache entries, {} texts",
        out.display(),
        voices.len(),
        voices.len() + 1,
        texts + 1
    );
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}
