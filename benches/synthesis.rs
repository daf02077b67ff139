//! Latency regression benchmarks with the real default voice, named by what they measure:
//! `frontend/sentence`, `cache/hit`, `cache/hit/stream`, `load/en_US-joe-medium`,
//! `synthesize/sentence`, `synthesize/paragraph`, `stream/paragraph/ttfa` (call to first chunk),
//! `acoustic/sentence` (text to latent frames) and `vocoder/chunk/{8,16,32,64}` (frames to
//! samples).
//!
//! ```text
//! scripts/setup.sh && cargo bench --bench synthesis
//! cargo bench --bench synthesis -- --test     # run each once (CI does this so benches never rot)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use indextts::{Frames, SynthesisOptions, Synthesizer};

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
    c.bench_function("cache/hit", |b| {
        b.iter(|| synth.synthesize(&sentence, &options).unwrap())
    });
    c.bench_function("cache/hit/stream", |b| {
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

    let mut load = slow(c, "load");
    load.bench_function("en_US-joe-medium", |b| b.iter(voice));
    load.finish();
    let mut synthesize = slow(c, "synthesize");
    synthesize.bench_function("sentence", |b| {
        b.iter(|| uncached.synthesize(&sentence, &options).unwrap())
    });
    synthesize.bench_function("paragraph", |b| {
        b.iter(|| uncached.synthesize(&paragraph, &options).unwrap())
    });
    synthesize.finish();
    // Call to the first chunk of the paragraph's stream (the rest is cancelled, untimed).
    let mut stream = slow(c, "stream");
    stream.bench_function("paragraph/ttfa", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let mut stream = uncached.stream(&paragraph, &options).unwrap();
                stream.next().unwrap().unwrap();
                total += started.elapsed();
                drop(stream);
            }
            total
        })
    });
    stream.finish();
    // The acoustic model alone (phonemes included): one sentence to its latent frames.
    let mut acoustic = slow(c, "acoustic");
    acoustic.bench_function("sentence", |b| {
        b.iter(|| {
            uncached
                .frames(&sentence, &options)
                .unwrap()
                .map(|f| f.unwrap().data.ncols())
                .sum::<usize>()
        })
    });
    acoustic.finish();

    // The vocoder alone on windows of 8 to 64 frames (256 samples each), cut from real frames.
    let frames = uncached
        .frames(&paragraph, &options)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let mut vocoder = c.benchmark_group("vocoder/chunk");
    for n in [8usize, 16, 32, 64] {
        let window = Frames {
            sentence: 0,
            data: frames.data.slice(ndarray::s![.., ..n]).to_owned(),
            speaker: frames.speaker,
        };
        vocoder.bench_function(n.to_string(), |b| {
            b.iter(|| uncached.vocode(&window).unwrap().samples.len())
        });
    }
    vocoder.finish();
}

/// A group for slow cases: 10 samples over 10 s.
fn slow<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group
}

criterion_group!(benches, foundation);
criterion_main!(benches);
