//! indextts's Kokoro voice against kokoro-onnx 0.6.1, side by side in one run: the same int8
//! model (kokoro-v1.0.int8.onnx), the same voice pack (`af_heart`), 2 intra-op threads each,
//! runs interleaved, medians.
//!
//! - warm: time to first audio, total time and real-time factor, the library's `stream()`
//!   against kokoro-onnx's `create_stream` (scripts/kokoro_bench.py), on one short sentence and
//!   on en_paragraph.txt; peak RSS of each process (this bench's own, which holds only
//!   indextts, against the peer's);
//! - cold: process start to the first audio, `speak --voice af_heart --stream --raw` against a
//!   fresh kokoro_bench.py process (start, load, first chunk of the sentence).
//!
//! Prints a table and writes target/bench/kokoro_peer.json.
//!
//! ```text
//! scripts/setup.sh --reference
//! cargo build --release --features cli --bin speak
//! cargo bench --bench kokoro_peer                # 5 runs each
//! cargo bench --bench kokoro_peer -- --runs 9
//! cargo bench --bench kokoro_peer -- --quick     # 1 run (CI, so it never rots)
//! ```
//!
//! `--float DIR` instead measures the int8 graph against a float graph rebuilt from it
//! (`target/zh-venv/bin/python scripts/kokoro_float.py models/assets/voices/kokoro-v1.0 DIR`),
//! both through indextts, interleaved: load, first audio and total on the sentence and the
//! paragraph, and how far apart their audio is (durations, waveform SNR, log-spectral distance,
//! beside the distance between two neighbouring style rows of the int8 graph for scale).
//!
//! The sentence cache is off: every run synthesizes.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{median, root, stream_timing, Args, Peer};
use indextts::Synthesizer;
use serde_json::json;

const THREADS: usize = 2;
const VOICE: &str = "af_heart";
const SENTENCE: &str = "Hello, and welcome to the show.";

fn peer() -> Peer {
    let kokoro = root().join("models/assets/voices/kokoro-v1.0");
    Peer::kokoro(
        &kokoro.join("kokoro-v1.0.int8.onnx"),
        &kokoro.join("packs"),
        VOICE,
        THREADS,
    )
}

/// This process's peak RSS (VmHWM), in KiB.
fn own_peak_rss_kib() -> u64 {
    indextts::testkit::proc_status_kib("self", "VmHWM")
}

/// Seconds from spawning `speak` to its first byte of audio.
fn cold_ours() -> f64 {
    let speak = root().join("target/release/speak");
    assert!(
        speak.is_file(),
        "{} is missing: cargo build --release --features cli --bin speak",
        speak.display()
    );
    let started = Instant::now();
    let mut child = Command::new(&speak)
        .args([
            "--voice",
            VOICE,
            "--threads",
            "2",
            "--stream",
            "--raw",
            "-o",
            "-",
            SENTENCE,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let mut rest = Vec::new();
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_to_end(&mut rest)
        .unwrap();
    assert!(child.wait().unwrap().success());
    seconds
}

/// Seconds from spawning the peer to its first chunk of the sentence.
fn cold_theirs() -> f64 {
    let started = Instant::now();
    let mut peer = peer();
    let loaded = started.elapsed().as_secs_f64();
    let (ttfa, _, _) = peer.run(SENTENCE);
    loaded + ttfa
}

struct Row {
    name: &'static str,
    ours: (Vec<f64>, Vec<f64>),
    theirs: (Vec<f64>, Vec<f64>),
    audio_seconds: (f64, f64),
}

fn main() {
    let args = Args::from_env();
    let runs = if args.flag("--quick") {
        1
    } else {
        args.parse("--runs", 5)
    };
    if let Some(dir) = args.value("--float") {
        return float_vs_int8(std::path::Path::new(&dir), runs);
    }
    let paragraph = std::fs::read_to_string(root().join("../shared/corpus/en_paragraph.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let synth = Synthesizer::builder()
        .voice(VOICE)
        .threads(THREADS)
        .cache_bytes(0)
        .build()
        .unwrap();
    let mut theirs = peer();
    let mut rows = vec![
        Row {
            name: "sentence",
            ours: (vec![], vec![]),
            theirs: (vec![], vec![]),
            audio_seconds: (0.0, 0.0),
        },
        Row {
            name: "paragraph",
            ours: (vec![], vec![]),
            theirs: (vec![], vec![]),
            audio_seconds: (0.0, 0.0),
        },
    ];
    // One warm-up each, unmeasured: the first run of a session allocates its arenas.
    stream_timing(&synth, SENTENCE);
    theirs.run(SENTENCE);
    let mut peer_rss_kib = 0u64;
    for _ in 0..runs {
        for row in &mut rows {
            let text = if row.name == "sentence" {
                SENTENCE
            } else {
                &paragraph
            };
            let (ttfa, total, samples) = stream_timing(&synth, text);
            row.ours.0.push(ttfa);
            row.ours.1.push(total);
            row.audio_seconds.0 = samples as f64 / 24_000.0;
            let answer = theirs.ask(json!({ "text": text }));
            row.theirs.0.push(answer["ttfa"].as_f64().unwrap());
            row.theirs.1.push(answer["total"].as_f64().unwrap());
            row.audio_seconds.1 = answer["samples"].as_f64().unwrap() / 24_000.0;
            peer_rss_kib = peer_rss_kib.max(answer["peak_rss_kib"].as_u64().unwrap_or(0));
        }
    }
    let our_rss_kib = own_peak_rss_kib();
    drop(theirs);
    let (mut cold_a, mut cold_b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        cold_a.push(cold_ours());
        cold_b.push(cold_theirs());
    }

    println!(
        "indextts vs kokoro-onnx 0.6.1, {VOICE}, int8, {THREADS} threads, {runs} runs, medians"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>10}",
        "text",
        "ttfa ours",
        "theirs",
        "ratio",
        "total ours",
        "theirs",
        "ratio",
        "RTF ours",
        "theirs"
    );
    let mut report = Vec::new();
    for row in &rows {
        let (ta, tb) = (median(row.ours.0.clone()), median(row.theirs.0.clone()));
        let (wa, wb) = (median(row.ours.1.clone()), median(row.theirs.1.clone()));
        println!(
            "{:<10} {:>9.3}s {:>9.3}s {:>7.3} | {:>9.3}s {:>9.3}s {:>7.3} | {:>10.3} {:>10.3}",
            row.name,
            ta,
            tb,
            ta / tb,
            wa,
            wb,
            wa / wb,
            wa / row.audio_seconds.0,
            wb / row.audio_seconds.1
        );
        report.push(json!({
            "text": row.name,
            "ttfa": {"ours": ta, "theirs": tb, "ratio": ta / tb},
            "total": {"ours": wa, "theirs": wb, "ratio": wa / wb},
            "audio_seconds": {"ours": row.audio_seconds.0, "theirs": row.audio_seconds.1},
        }));
    }
    let (ca, cb) = (median(cold_a), median(cold_b));
    println!(
        "cold start to first audio (sentence): ours {ca:.3} s, theirs {cb:.3} s, ratio {:.3}",
        ca / cb
    );
    println!(
        "peak RSS: ours {:.0} MiB, theirs {:.0} MiB, ratio {:.3}",
        our_rss_kib as f64 / 1024.0,
        peer_rss_kib as f64 / 1024.0,
        our_rss_kib as f64 / peer_rss_kib.max(1) as f64
    );
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("kokoro_peer.json"),
        serde_json::to_string_pretty(&json!({
            "voice": VOICE,
            "threads": THREADS,
            "runs": runs,
            "warm": report,
            "cold_first_audio": {"ours": ca, "theirs": cb, "ratio": ca / cb},
            "peak_rss_kib": {"ours": our_rss_kib, "theirs": peer_rss_kib},
        }))
        .unwrap(),
    )
    .unwrap();
}

/// The int8 graph against the float one rebuilt from it, both through indextts.
fn float_vs_int8(float_voice: &std::path::Path, runs: usize) {
    let paragraph = std::fs::read_to_string(root().join("../shared/corpus/en_paragraph.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let load = |voice: &std::path::Path| {
        let started = Instant::now();
        let synth = Synthesizer::builder()
            .voice(voice)
            .threads(THREADS)
            .cache_bytes(0)
            .graph_cache_dir(None)
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", voice.display()));
        (synth, started.elapsed().as_secs_f64())
    };
    let int8_voice = root().join("models/assets/voices").join(VOICE);
    let (mut load_int8, mut load_float) = (vec![], vec![]);
    for _ in 0..runs.min(3) {
        load_int8.push(load(&int8_voice).1);
        load_float.push(load(float_voice).1);
    }
    let (int8, _) = load(&int8_voice);
    let (float, _) = load(float_voice);
    stream_timing(&int8, SENTENCE);
    stream_timing(&float, SENTENCE);
    println!(
        "Kokoro int8 vs float (rebuilt), {VOICE}, {THREADS} threads, {runs} runs, medians; \
         load (no graph cache) {:.3} s vs {:.3} s",
        median(load_int8),
        median(load_float)
    );
    println!("text       ttfa int8  float  ratio | total int8  float  ratio");
    for (name, text) in [("sentence", SENTENCE), ("paragraph", paragraph.as_str())] {
        let (mut a, mut b) = ((vec![], vec![]), (vec![], vec![]));
        for _ in 0..runs {
            let (t, total, _) = stream_timing(&int8, text);
            a.0.push(t);
            a.1.push(total);
            let (t, total, _) = stream_timing(&float, text);
            b.0.push(t);
            b.1.push(total);
        }
        let (ta, tb, wa, wb) = (median(a.0), median(b.0), median(a.1), median(b.1));
        println!(
            "{name:<10} {ta:>8.3}s {tb:>6.3}s {:>6.3} | {wa:>9.3}s {wb:>6.3}s {:>6.3}",
            tb / ta,
            wb / wa
        );
    }
    // How far apart the audio is, with a scale: the int8 graph with a voice that is barely
    // different (2% of another pack blended in).
    let options = indextts::SynthesisOptions::default();
    let nudged = indextts::SynthesisOptions {
        speaker: Some(format!("{VOICE}:0.98,af_bella:0.02")),
        ..Default::default()
    };
    for (name, text) in [("sentence", SENTENCE), ("paragraph", paragraph.as_str())] {
        let a = int8.synthesize(text, &options).unwrap().samples;
        let b = float.synthesize(text, &options).unwrap().samples;
        let c = int8.synthesize(text, &nudged).unwrap().samples;
        let (snr, lsd) = distance(&a, &b);
        let (snr_scale, lsd_scale) = distance(&a, &c);
        println!(
            "{name}: {:.3} s int8, {:.3} s float; float vs int8: SNR {snr:.1} dB, log-spectral \
             distance {lsd:.2} dB; int8 vs int8 with 2% af_bella: {:.3} s, SNR {snr_scale:.1} dB, \
             {lsd_scale:.2} dB",
            a.len() as f64 / 24_000.0,
            b.len() as f64 / 24_000.0,
            c.len() as f64 / 24_000.0,
        );
    }
}

/// Waveform SNR of `b` against `a` (over their common length) and the median log-spectral
/// distance of their 1024-point, hop-256 Hann spectra over the loud frames.
fn distance(a: &[f32], b: &[f32]) -> (f64, f64) {
    let n = a.len().min(b.len());
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        signal += f64::from(x) * f64::from(x);
        noise += f64::from(x - y) * f64::from(x - y);
    }
    // A plain DFT over a twiddle table: slow, but a bench has the time and needs no FFT crate.
    let twiddle: Vec<(f64, f64)> = (0..1024)
        .map(|i| (std::f64::consts::TAU * f64::from(i) / 1024.0).sin_cos())
        .collect();
    let spectra = |x: &[f32]| -> Vec<Vec<f64>> {
        (0..n.saturating_sub(1024))
            .step_by(256)
            .map(|start| {
                let frame: Vec<f64> = x[start..start + 1024]
                    .iter()
                    .zip(&twiddle)
                    .map(|(&s, &(_, cos))| f64::from(s) * (0.5 - 0.5 * cos))
                    .collect();
                (0..=512)
                    .map(|k| {
                        let (mut re, mut im) = (0.0f64, 0.0f64);
                        for (i, &s) in frame.iter().enumerate() {
                            let (sin, cos) = twiddle[(k * i) % 1024];
                            re += s * cos;
                            im -= s * sin;
                        }
                        20.0 * (re.hypot(im) + 1e-5).log10()
                    })
                    .collect()
            })
            .collect()
    };
    let (sa, sb) = (spectra(a), spectra(b));
    let loudest = sa
        .iter()
        .flatten()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mut distances: Vec<f64> = sa
        .iter()
        .zip(&sb)
        .filter(|(fa, _)| fa.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v)) > loudest - 40.0)
        .map(|(fa, fb)| {
            let sum: f64 = fa.iter().zip(fb).map(|(x, y)| (x - y) * (x - y)).sum();
            (sum / fa.len() as f64).sqrt()
        })
        .collect();
    distances.sort_by(f64::total_cmp);
    (
        10.0 * (signal / noise.max(1e-20)).log10(),
        distances.get(distances.len() / 2).copied().unwrap_or(0.0),
    )
}
