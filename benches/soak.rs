//! Soak: 8 threads stream random corpus texts with random options through one synthesizer for a
//! bounded time; 20% of streams are dropped at a random point; the sentence cache is on with a
//! small budget, so it evicts all the time. Nothing may panic or deadlock, every completed
//! stream's audio must check out, and the process's RSS after warm-up must stay within 10%
//! (the curve is printed). Writes target/soak.json.
//!
//! ```text
//! cargo bench --bench soak                                # 8 threads, 180 s
//! cargo bench --bench soak -- --seconds 120 --threads 8   # what CI runs
//! ```

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rss_kib, Args};
use indextts::{SynthesisOptions, Synthesizer};
use rand_core::{Rng, SeedableRng};

fn texts() -> Vec<String> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let read = |name: &str| std::fs::read_to_string(corpus.join(name)).expect(name);
    let mut texts: Vec<String> = read("en_sentences.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    texts.push(read("en_paragraph.txt").trim().to_owned());
    texts.extend(
        read("en_long.txt")
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    );
    texts
}

#[derive(Default)]
struct Counts {
    completed: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    bad_audio: AtomicU64,
    audio_micros: AtomicU64,
}

fn main() {
    // As a host synthesizing on many threads should (see `limit_malloc_arenas`); `--glibc-arenas`
    // keeps glibc's default to show what it does.
    let args = Args::from_env();
    let capped = !args.flag("--glibc-arenas") && indextts::limit_malloc_arenas();
    let seconds: u64 = args.parse("--seconds", 180);
    let threads: usize = args.parse("--threads", 8);
    let synth = Synthesizer::builder()
        .threads(1)
        .sessions(2)
        .cache_bytes(2 << 20)
        .build()
        .expect("the default voice (scripts/setup.sh)");
    let texts = Arc::new(texts());
    let counts = Arc::new(Counts::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);

    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (synth, texts, counts) = (synth.clone(), Arc::clone(&texts), Arc::clone(&counts));
            std::thread::spawn(move || {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1000 + t as u64);
                let mut unit = || f64::from(rng.next_u32()) / f64::from(u32::MAX);
                while Instant::now() < deadline {
                    let text = &texts[(unit() * texts.len() as f64) as usize % texts.len()];
                    let options = SynthesisOptions {
                        length_scale: Some(0.8 + 0.5 * unit() as f32),
                        noise_scale: Some(0.8 * unit() as f32),
                        noise_w: Some(unit() as f32),
                        speaker: None,
                        seed: (unit() < 0.5).then(|| (unit() * 1e9) as u64),
                    };
                    let drop_after = (unit() < 0.2).then(|| (unit() * 6.0) as usize);
                    let stream = match synth.stream(text, &options) {
                        Ok(stream) => stream,
                        Err(e) => {
                            eprintln!("soak: refused {text:?}: {e}");
                            counts.refused.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    let mut samples: Vec<f32> = Vec::new();
                    let mut dropped = false;
                    for (i, chunk) in stream.enumerate() {
                        if Some(i) == drop_after {
                            dropped = true;
                            break; // the stream is dropped here, mid-synthesis
                        }
                        match chunk {
                            Ok(chunk) => samples.extend_from_slice(&chunk.samples),
                            Err(e) => {
                                eprintln!("soak: stream failed: {e}");
                                counts.bad_audio.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    if dropped {
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let seconds = samples.len() as f64 / 22_050.0;
                    let words = text.split_whitespace().count() as f64;
                    let length = f64::from(options.length_scale.unwrap_or(1.0));
                    let expected = words / 2.7 * length;
                    let rms = (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
                        / samples.len().max(1) as f64)
                        .sqrt();
                    let sane = samples.iter().all(|s| (-1.0..=1.0).contains(s));
                    if !sane || rms < 0.01 || seconds < 0.3 * expected || seconds > 3.0 * expected {
                        eprintln!(
                            "soak: bad audio: {seconds:.2} s for ~{expected:.2} s, rms {rms:.4}, \
                             in range {sane}: {text:.60}"
                        );
                        counts.bad_audio.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counts.completed.fetch_add(1, Ordering::Relaxed);
                        counts
                            .audio_micros
                            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Watchdog and RSS curve: progress must continue (no deadlock), memory must stay flat.
    let mut curve = Vec::new();
    let mut last_progress = (0, Instant::now());
    let mut stalled = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        curve.push((start.elapsed().as_secs_f64(), rss_kib(std::process::id())));
        let progress =
            counts.completed.load(Ordering::Relaxed) + counts.dropped.load(Ordering::Relaxed);
        if progress != last_progress.0 {
            last_progress = (progress, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(60) {
            stalled = true;
            break;
        }
    }
    let panicked = if stalled {
        0
    } else {
        workers
            .into_iter()
            .map(std::thread::JoinHandle::join)
            .filter(Result::is_err)
            .count()
    };
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let warm_at = (seconds as f64 * 0.25).max(15.0).min(seconds as f64);
    let warm = curve
        .iter()
        .find(|(t, _)| *t >= warm_at)
        .map_or(0, |(_, r)| *r);
    let peak = curve
        .iter()
        .filter(|(t, _)| *t >= warm_at)
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(0);
    let cache = synth.cache_stats().memory;
    println!(
        "malloc arenas: {}",
        if capped {
            "one per core (limit_malloc_arenas)"
        } else {
            "glibc's default or MALLOC_ARENA_MAX"
        }
    );
    println!(
        "soak: {threads} threads, {seconds} s: {} streams completed ({:.0} s of audio), {} dropped \
         mid-stream, {} refused, {} with bad audio; cache {} hits, {} evictions",
        load(&counts.completed),
        load(&counts.audio_micros) as f64 / 1e6,
        load(&counts.dropped),
        load(&counts.refused),
        load(&counts.bad_audio),
        cache.hits,
        cache.evictions
    );
    let every = (curve.len() / 12).max(1);
    let shown: Vec<String> = curve
        .iter()
        .step_by(every)
        .map(|(t, r)| format!("{t:.0}s {:.0}", *r as f64 / 1024.0))
        .collect();
    println!("RSS (MiB): {}", shown.join(", "));
    println!(
        "RSS at {warm_at:.0} s (warm) {:.0} MiB, peak after {:.0} MiB (+{:.1}%)",
        warm as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak as f64 / warm.max(1) as f64 - 1.0) * 100.0
    );
    // The curve's slope over its second half (least squares), in MiB a minute: flat is ~0.
    let half: Vec<(f64, f64)> = curve
        .iter()
        .filter(|(t, _)| *t >= seconds as f64 / 2.0)
        .map(|(t, r)| (*t, *r as f64 / 1024.0))
        .collect();
    let n = half.len().max(1) as f64;
    let (mt, mr) = (
        half.iter().map(|p| p.0).sum::<f64>() / n,
        half.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = half.iter().map(|p| (p.0 - mt) * (p.1 - mr)).sum::<f64>()
        / half
            .iter()
            .map(|p| (p.0 - mt).powi(2))
            .sum::<f64>()
            .max(f64::EPSILON)
        * 60.0;
    println!("RSS slope over the second half: {slope:+.2} MiB/min");
    let report = serde_json::json!({
        "rss_slope_second_half_mib_per_min": slope,
        "threads": threads, "seconds": seconds,
        "completed": load(&counts.completed), "dropped": load(&counts.dropped),
        "refused": load(&counts.refused), "bad_audio": load(&counts.bad_audio),
        "cache_hits": cache.hits, "cache_evictions": cache.evictions,
        "rss_kib": curve.iter().map(|(t, r)| serde_json::json!([t, r])).collect::<Vec<_>>(),
    });
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/soak.json");
    let _ = std::fs::write(
        out,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );

    let mut failed = Vec::new();
    if stalled {
        failed.push("no stream finished for 60 s: deadlock".to_owned());
    }
    if panicked > 0 {
        failed.push(format!("{panicked} threads panicked"));
    }
    if load(&counts.bad_audio) + load(&counts.refused) > 0 {
        failed.push("some streams failed or gave bad audio".into());
    }
    if load(&counts.completed) == 0 || load(&counts.dropped) == 0 {
        failed.push("the soak neither completed nor dropped streams".into());
    }
    if cache.evictions == 0 {
        failed.push("the cache never evicted".into());
    }
    if warm > 0 && peak as f64 > 1.10 * warm as f64 {
        failed.push(format!(
            "RSS grew {:.1}% after warm-up",
            (peak as f64 / warm as f64 - 1.0) * 100.0
        ));
    }
    if !failed.is_empty() {
        eprintln!("soak FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}
