//! The traffic scenario of the design this project follows: requests of which ~37% repeat an
//! earlier one (an assistant, an IVR, a navigation app). Latency per request (call to last
//! sample, mean and p95) with the sentence cache off and on, and the inference calls saved.
//!
//! ```text
//! scripts/setup.sh && cargo bench --bench cache_traffic                  # 5,000 requests
//! cargo bench --bench cache_traffic -- --requests 1000 --repeat 0.37
//! cargo bench --bench cache_traffic -- --quick                           # 60 requests (CI)
//! ```
//!
//! "Cache on" is the in-process LRU (64 MiB) backed by a disk directory (target/bench/
//! traffic-cache, emptied first): repeats drawn uniformly from thousands of distinct sentences
//! outgrow memory alone (with memory only, 5,000 requests saved 12% of inference calls, not 37%).
//!
//! New requests fill a number into a template from tests/data/traffic_templates.txt, so each is
//! a sentence never seen before; a repeat is a uniformly chosen earlier request. Both runs get
//! the same request sequence.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{percentile, Args};
use indextts::{SynthesisOptions, Synthesizer};
use rand_core::{Rng, SeedableRng};

fn main() {
    let args = Args::from_env();
    let quick = args.flag("--quick");
    let requests: usize = if quick {
        60
    } else {
        args.parse("--requests", 5_000)
    };
    let repeat: f64 = args.parse("--repeat", 0.37);

    let templates: Vec<String> = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/traffic_templates.txt"),
    )
    .unwrap()
    .lines()
    .filter(|l| l.contains("{n}"))
    .map(str::to_owned)
    .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(37);
    let mut sequence: Vec<String> = Vec::with_capacity(requests);
    let mut repeats = 0;
    for i in 0..requests {
        let r = f64::from(rng.next_u32()) / f64::from(u32::MAX);
        if i > 0 && r < repeat {
            let j = rng.next_u32() as usize % i;
            sequence.push(sequence[j].clone());
            repeats += 1;
        } else {
            let t = &templates[rng.next_u32() as usize % templates.len()];
            sequence.push(t.replace("{n}", &(i + 2).to_string()));
        }
    }

    let options = SynthesisOptions::default();
    let mut report = Vec::new();
    // With uniform repeats over thousands of distinct sentences the working set (~750 MB of
    // audio for 5,000 requests) outgrows memory: the disk level holds it, as in the design.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/traffic-cache");
    let _ = std::fs::remove_dir_all(&dir);
    for (name, on) in [
        ("cache off", false),
        ("cache on (64 MiB memory + disk)", true),
    ] {
        let mut builder = Synthesizer::builder().threads(2).cache_bytes(0);
        if on {
            builder = builder.cache_bytes(64 << 20).cache_dir(&dir);
        }
        let synth = builder
            .build()
            .expect("the default voice; run scripts/setup.sh first");
        synth.synthesize("Warm up.", &options).unwrap();
        let mut latencies = Vec::with_capacity(requests);
        let started = Instant::now();
        for text in &sequence {
            let t = Instant::now();
            synth.synthesize(text, &options).unwrap();
            latencies.push(t.elapsed().as_secs_f64());
        }
        let wall = started.elapsed().as_secs_f64();
        let stats = synth.cache_stats();
        let hits = stats.memory.hits + stats.disk.hits;
        latencies.sort_by(f64::total_cmp);
        let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
        report.push((
            name,
            mean,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            wall,
            hits,
        ));
        if on {
            println!("cache on: {stats:?}");
        }
    }
    println!(
        "{requests} requests, {repeats} repeats ({:.1}%), 2 threads; inference calls = requests - cache hits",
        100.0 * repeats as f64 / requests as f64
    );
    println!("| | mean | median | p95 | wall | inference calls |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, mean, p50, p95, wall, hits) in &report {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} s | {} |",
            mean * 1e3,
            p50 * 1e3,
            p95 * 1e3,
            wall,
            requests as u64 - hits
        );
    }
    let (off, on) = (&report[0], &report[1]);
    println!(
        "| ratio on / off | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.0}% saved |",
        on.1 / off.1,
        on.2 / off.2,
        on.3 / off.3,
        on.4 / off.4,
        100.0 * on.5 as f64 / requests as f64
    );
}
