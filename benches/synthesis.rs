//! Latency regression benchmarks for the foundation: voice load, frontend, acoustic model,
//! vocoder and whole-paragraph synthesis with the real default voice.
//!
//! ```text
//! scripts/setup.sh && cargo bench --bench synthesis
//! cargo bench --bench synthesis -- --test     # run each once (CI does this so benches never rot)
//! ```

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use indextts::{SynthesisOptions, Synthesizer};

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn voice() -> Synthesizer {
    Synthesizer::builder()
        .threads(2)
        .build()
        .expect("the default voice; run scripts/setup.sh first")
}

fn foundation(c: &mut Criterion) {
    let synth = voice();
    let options = SynthesisOptions::default();
    let sentence = corpus("en_sentences.txt")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let paragraph = corpus("en_paragraph.txt");

    c.bench_function("frontend/sentence", |b| {
        b.iter(|| synth.phonemize(&sentence).unwrap())
    });

    // A cached sentence, call to last sample (stream setup, phonemes, key, look-up, copy).
    synth.synthesize(&sentence, &options).unwrap();
    c.bench_function("cache/hit/sentence", |b| {
        b.iter(|| synth.synthesize(&sentence, &options).unwrap())
    });
    c.bench_function("cache/hit/sentence/stream", |b| {
        b.iter(|| {
            synth
                .stream(&sentence, &options)
                .unwrap()
                .map(|c| c.unwrap().samples.len())
                .sum::<usize>()
        })
    });
    let uncached = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();

    let mut slow = c.benchmark_group("slow");
    slow.sample_size(10)
        .measurement_time(Duration::from_secs(10));
    slow.bench_function("load/en_US-joe-medium", |b| b.iter(voice));
    slow.bench_function("synthesize/sentence", |b| {
        b.iter(|| uncached.synthesize(&sentence, &options).unwrap())
    });
    slow.bench_function("synthesize/paragraph", |b| {
        b.iter(|| uncached.synthesize(&paragraph, &options).unwrap())
    });
    slow.finish();
}

criterion_group!(benches, foundation);
criterion_main!(benches);
