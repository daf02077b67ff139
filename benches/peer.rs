//! indextts against piper-tts 1.8.0, side by side in one run: the same voice
//! (en_US-joe-medium), the same texts, the same thread count (2), runs interleaved, medians.
//!
//! - cold start: process start to the first audio byte on standard output, `speak --stream
//!   --raw` against `piper --output-raw` (CLI against CLI), on the story; with and without the
//!   compiled-graph cache; and each CLI's peak RSS (wait4's ru_maxrss) over the whole story;
//! - warm: time to first audio, total time and real-time factor per text, the library's
//!   `stream()` against piper-tts's Python API (`PiperVoice.synthesize`, scripts/piper_bench.py);
//! - throughput under concurrency: audio seconds per wall second with 1, 2, 4, 8 and 16 requests
//!   for the paragraph at once on one synthesizer whose threads follow the load (one voice
//!   object for piper-tts), and our median stream's first audio; with each side's CPU seconds
//!   per second of audio and cores kept busy, whose quotient the throughput is (what bounds
//!   it); `--concurrency` also runs a synthesizer with fixed threads beside them
//!   (target/bench/peer-concurrency.png);
//! - scaling: total time against text length, up to 100 KB (the story repeated).
//!
//! Prints a table, writes target/bench/peer.json and draws target/bench/peer.png.
//!
//! ```text
//! scripts/setup.sh --reference
//! cargo bench --bench peer                     # 10 runs each; 100 KB: 2 runs (~15 min)
//! cargo bench --bench peer -- --runs 15 --big-runs 3
//! cargo bench --bench peer -- --quick          # 1 run, no 100 KB (CI, so it never rots)
//! cargo bench --bench peer -- --sweep          # also: intra-op threads x session pool size
//! cargo bench --bench peer -- --concurrency    # only the throughput curve, 1-16 at once (chart)
//! cargo bench --bench peer -- --windows        # only CPU per audio second against window size
//! ```
//!
//! The sentence cache is off on both sides: every run synthesizes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{cli_run, median, process_cpu_seconds, root, stream_timing, Args, Busy, Peer};
use indextts::Synthesizer;
use plotters::prelude::*;
use serde_json::json;

const THREADS: usize = 2;

/// One text of the comparison.
struct Text {
    name: &'static str,
    /// The requests of one run (several for `sentence`: each line of en_sentences.txt).
    requests: Vec<String>,
    /// Runs of this text (fewer for 100 KB).
    runs: usize,
}

impl Text {
    fn bytes(&self) -> f64 {
        self.requests.iter().map(String::len).sum::<usize>() as f64 / self.requests.len() as f64
    }
}

fn corpus(name: &str) -> String {
    let path = root().join("../shared/corpus").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The story repeated, paragraph by paragraph, up to `bytes`.
fn repeated_story(bytes: usize) -> String {
    let story = corpus("en_long.txt");
    let mut text = String::with_capacity(bytes + story.len());
    'fill: loop {
        for paragraph in story.split("\n\n") {
            if text.len() + paragraph.len() + 2 > bytes {
                break 'fill;
            }
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
    }
    text.trim_end().to_owned()
}

/// `workers` threads streaming `text` at once on one synthesizer: what the burst took, and the
/// median stream's time to first audio.
fn ours_concurrent(synth: &Synthesizer, text: &str, workers: usize) -> (Busy, f64) {
    let (started, cpu) = (Instant::now(), process_cpu_seconds());
    let timings: Vec<(f64, f64, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| stream_timing(synth, text)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let busy = Busy {
        wall: started.elapsed().as_secs_f64(),
        samples: timings.iter().map(|t| t.2).sum(),
        cpu: process_cpu_seconds() - cpu,
    };
    (busy, median(timings.iter().map(|t| t.0).collect()))
}

/// One engine's side of a level, medians over the runs.
#[derive(Clone, Copy)]
struct Load {
    /// Seconds of audio per wall second.
    audio_per_second: f64,
    /// CPU seconds per second of audio: the model's cost, whatever the scheduling.
    cpu_per_audio_second: f64,
    /// Cores kept busy on average.
    cores_busy: f64,
}

impl Load {
    fn of(runs: &[Busy], sample_rate: f64) -> Load {
        let of = |f: &dyn Fn(&Busy) -> f64| median(runs.iter().map(f).collect());
        Load {
            audio_per_second: of(&|b| b.audio_per_second(sample_rate)),
            cpu_per_audio_second: of(&|b| b.cpu_per_audio_second(sample_rate)),
            cores_busy: of(&|b| b.cores_busy()),
        }
    }
}

/// One level of the concurrency curve.
struct Level {
    /// Requests at once.
    workers: usize,
    ours: Load,
    theirs: Load,
    /// Ours with fixed threads, when measured.
    fixed: Option<Load>,
    /// Our median stream's first audio, seconds.
    first: f64,
}

/// Throughput on the paragraph at each level of `concurrency`, ours (and `fixed`'s, a
/// synthesizer whose threads do not follow the load) and piper-tts's interleaved, medians of
/// `runs`.
fn concurrency_curve(
    synth: &Synthesizer,
    fixed: Option<&Synthesizer>,
    peer: &mut Peer,
    paragraph: &str,
    concurrency: &[usize],
    runs: usize,
    sample_rate: f64,
) -> Vec<Level> {
    let mut curve = Vec::new();
    for &workers in concurrency {
        let (mut ours, mut theirs, mut first, mut pinned) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let (busy, ttfa) = ours_concurrent(synth, paragraph, workers);
            ours.push(busy);
            first.push(ttfa);
            if let Some(fixed) = fixed {
                pinned.push(ours_concurrent(fixed, paragraph, workers).0);
            }
            theirs.push(peer.concurrent(paragraph, workers, 1));
        }
        curve.push(Level {
            workers,
            ours: Load::of(&ours, sample_rate),
            theirs: Load::of(&theirs, sample_rate),
            fixed: fixed.map(|_| Load::of(&pinned, sample_rate)),
            first: median(first),
        });
    }
    curve
}

/// `--concurrency`: only the curve, at 1 to 16 requests at once, its table and chart.
fn concurrency_only(runs: usize, out: &Path) {
    let builder = || Synthesizer::builder().threads(THREADS).cache_bytes(0);
    let synth = builder()
        .follow_load(true)
        .build()
        .expect("the default voice; run scripts/setup.sh first");
    let fixed = builder().build().expect("the default voice");
    let sample_rate = f64::from(synth.sample_rate());
    let model = synth.voice_paths().model.clone();
    let mut peer = Peer::piper(&model, THREADS);
    let paragraph = corpus("en_paragraph.txt");
    stream_timing(&synth, &paragraph);
    stream_timing(&fixed, &paragraph);
    peer.run(&paragraph);
    let curve = concurrency_curve(
        &synth,
        Some(&fixed),
        &mut peer,
        &paragraph,
        &[1, 2, 4, 8, 16],
        runs,
        sample_rate,
    );
    println!(
        "paragraph at once, en_US-joe-medium, {THREADS} threads, one session pair, {runs} runs, medians; \
         {} one-thread sessions made\n",
        synth.one_thread_sessions()
    );
    println!("| requests at once | indextts, threads follow the load (audio s per s) | indextts, fixed threads | piper-tts 1.8.0 | ratio (follow / fixed) | indextts first audio, median stream |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for l in &curve {
        let fixed = l.fixed.map_or(f64::NAN, |f| f.audio_per_second);
        let (ours, theirs) = (l.ours.audio_per_second, l.theirs.audio_per_second);
        println!(
            "| {} | {ours:.1} | {fixed:.1} | {theirs:.1} | {:.2}x / {:.2}x | {:.0} ms |",
            l.workers,
            ours / theirs,
            fixed / theirs,
            l.first * 1e3
        );
    }
    // What bounds the curve: throughput = cores busy / CPU seconds per audio second.
    println!("\nwhat bounds it: CPU seconds per second of audio, and cores kept busy (CPU s per wall s)\n");
    println!("| requests at once | indextts, follow: CPU s per audio s | cores busy | indextts, fixed: CPU s per audio s | cores busy | piper-tts: CPU s per audio s | cores busy |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for l in &curve {
        let fixed = l.fixed.unwrap_or(Load {
            audio_per_second: f64::NAN,
            cpu_per_audio_second: f64::NAN,
            cores_busy: f64::NAN,
        });
        println!(
            "| {} | {:.4} | {:.2} | {:.4} | {:.2} | {:.4} | {:.2} |",
            l.workers,
            l.ours.cpu_per_audio_second,
            l.ours.cores_busy,
            fixed.cpu_per_audio_second,
            fixed.cores_busy,
            l.theirs.cpu_per_audio_second,
            l.theirs.cores_busy
        );
    }
    let path = out.join("peer-concurrency.png");
    match concurrency_chart(&path, &curve) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => println!("\nno chart: {e}"),
    }
}

fn speak_command(graph_cache: &Path, use_graph_cache: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_speak"));
    command
        .args(["--stream", "--raw", "-o", "-", "--threads"])
        .arg(THREADS.to_string())
        .env("INDEXTTS_GRAPH_CACHE", graph_cache);
    if !use_graph_cache {
        command.arg("--no-graph-cache");
    }
    command
}

fn piper_command(model: &Path) -> Command {
    let mut command = Command::new(root().join("target/piper-venv/bin/piper"));
    command.arg("-m").arg(model).arg("--output-raw");
    command
}

#[derive(Default)]
struct Samples {
    ours: Vec<f64>,
    peer: Vec<f64>,
}

impl Samples {
    fn medians(self) -> (f64, f64) {
        (median(self.ours), median(self.peer))
    }
}

fn main() {
    let args = Args::from_env();
    let quick = args.flag("--quick");
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    if args.flag("--concurrency") {
        return concurrency_only(args.parse("--runs", 3), &out);
    }
    if args.flag("--windows") {
        return windows_under_load(args.parse("--runs", 5));
    }
    let runs: usize = if quick { 1 } else { args.parse("--runs", 10) };
    let big_runs: usize = args.parse("--big-runs", 2);
    let graph_cache = out.join("graph-cache");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let synth = Synthesizer::builder()
        .threads(THREADS)
        .cache_bytes(0)
        .follow_load(true)
        .build()
        .expect("the default voice; run scripts/setup.sh first");
    let model = synth.voice_paths().model.clone();
    let sample_rate = f64::from(synth.sample_rate());

    let story = corpus("en_long.txt");
    // Quick mode (CI, so the harness never rots) leaves out the story: it runs the same code as
    // the paragraph at six times its length, on both sides.
    let mut texts = vec![
        Text {
            name: "sentence",
            requests: corpus("en_sentences.txt")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            runs,
        },
        Text {
            name: "paragraph",
            requests: vec![corpus("en_paragraph.txt")],
            runs,
        },
    ];
    if !quick {
        texts.push(Text {
            name: "story",
            requests: vec![story.clone()],
            runs,
        });
    }
    if !quick && big_runs > 0 {
        texts.push(Text {
            name: "100 KB",
            requests: vec![repeated_story(100 * 1024)],
            runs: big_runs,
        });
    }
    println!(
        "indextts {} against piper-tts 1.8.0, en_US-joe-medium, {THREADS} threads, {cores} cores, \
         {runs} runs interleaved (100 KB: {big_runs}), medians",
        env!("CARGO_PKG_VERSION")
    );

    // Cold start and peak RSS: CLI against CLI on the story (the paragraph in quick mode, which
    // only keeps the harness working). The first run of `speak` fills the compiled-graph cache
    // (its time is reported apart).
    let cli_text = if quick {
        corpus("en_paragraph.txt")
    } else {
        story.clone()
    };
    let _ = std::fs::remove_dir_all(&graph_cache);
    let first_ever = cli_run(&mut speak_command(&graph_cache, true), &cli_text);
    let (mut cold_cached, mut cold_fresh, mut cold_peer) = (vec![], vec![], vec![]);
    let (mut rss_ours, mut rss_peer, mut cli_total) = (vec![], vec![], Samples::default());
    for _ in 0..runs {
        // Each run checks its exit status and that it wrote audio (cli_run).
        let cached = cli_run(&mut speak_command(&graph_cache, true), &cli_text);
        let fresh = cli_run(&mut speak_command(&graph_cache, false), &cli_text);
        let peer = cli_run(&mut piper_command(&model), &cli_text);
        cold_cached.push(cached.first_audio);
        cold_fresh.push(fresh.first_audio);
        cold_peer.push(peer.first_audio);
        rss_ours.push(cached.peak_rss_kib as f64);
        rss_peer.push(peer.peak_rss_kib as f64);
        cli_total.ours.push(cached.total);
        cli_total.peer.push(peer.total);
    }
    let (cold_cached, cold_fresh, cold_peer) =
        (median(cold_cached), median(cold_fresh), median(cold_peer));
    let (rss_ours, rss_peer) = (median(rss_ours), median(rss_peer));
    let (cli_total_ours, cli_total_peer) = cli_total.medians();

    // Warm: the library against piper-tts's Python API, each in a loaded process.
    let mut peer = Peer::piper(&model, THREADS);
    for text in texts.iter().filter(|t| t.name != "100 KB") {
        for request in &text.requests {
            stream_timing(&synth, request);
            peer.run(request);
        }
    }
    let mut warm = Vec::new();
    for text in &texts {
        let (mut ttfa, mut total, mut audio) = (Samples::default(), Samples::default(), 0.0);
        for _ in 0..text.runs {
            audio = 0.0;
            for request in &text.requests {
                let (t, tt, n) = stream_timing(&synth, request);
                ttfa.ours.push(t);
                total.ours.push(tt);
                audio += n as f64 / sample_rate;
                let (t, tt, _) = peer.run(request);
                ttfa.peer.push(t);
                total.peer.push(tt);
            }
        }
        let (ttfa, total) = (ttfa.medians(), total.medians());
        let audio = audio / text.requests.len() as f64;
        warm.push((text, ttfa, total, audio));
    }

    // Throughput under concurrency, on the paragraph.
    let paragraph = corpus("en_paragraph.txt");
    let concurrency: &[usize] = if quick { &[1, 4] } else { &[1, 2, 4, 8, 16] };
    let throughput = concurrency_curve(
        &synth,
        None,
        &mut peer,
        &paragraph,
        concurrency,
        runs,
        sample_rate,
    );
    drop(peer);

    // The table.
    let ms = |s: f64| format!("{:.0} ms", s * 1e3);
    println!("\n| figure | indextts | piper-tts 1.8.0 | ratio |");
    println!("| --- | --- | --- | --- |");
    let row = |name: &str, ours: String, theirs: String, ratio: f64| {
        println!("| {name} | {ours} | {theirs} | {ratio:.2}x |");
    };
    row(
        "cold start, CLI to first audio (compiled-graph cache)",
        ms(cold_cached),
        ms(cold_peer),
        cold_cached / cold_peer,
    );
    row(
        "cold start, CLI to first audio (no graph cache)",
        ms(cold_fresh),
        ms(cold_peer),
        cold_fresh / cold_peer,
    );
    println!(
        "| first start ever (fills the graph cache) | {} | | |",
        ms(first_ever.first_audio)
    );
    row(
        "CLI, whole story (process start to exit)",
        ms(cli_total_ours),
        ms(cli_total_peer),
        cli_total_ours / cli_total_peer,
    );
    row(
        if quick {
            "peak RSS, CLI, paragraph"
        } else {
            "peak RSS, CLI, story"
        },
        format!("{:.0} MiB", rss_ours / 1024.0),
        format!("{:.0} MiB", rss_peer / 1024.0),
        rss_ours / rss_peer,
    );
    for (text, (t_ours, t_peer), (tt_ours, tt_peer), audio) in &warm {
        row(
            &format!("time to first audio, {}", text.name),
            ms(*t_ours),
            ms(*t_peer),
            t_ours / t_peer,
        );
        row(
            &format!("total, {} ({audio:.1} s of audio)", text.name),
            ms(*tt_ours),
            ms(*tt_peer),
            tt_ours / tt_peer,
        );
        row(
            &format!("real-time factor, {}", text.name),
            format!("{:.4}", tt_ours / audio),
            format!("{:.4}", tt_peer / audio),
            tt_ours / tt_peer,
        );
    }
    for l in &throughput {
        let (ours, theirs) = (l.ours.audio_per_second, l.theirs.audio_per_second);
        row(
            &format!("throughput, {} concurrent (audio s per s)", l.workers),
            format!("{ours:.1}"),
            format!("{theirs:.1}"),
            ours / theirs,
        );
        row(
            &format!("CPU s per audio s, {} concurrent", l.workers),
            format!("{:.4}", l.ours.cpu_per_audio_second),
            format!("{:.4}", l.theirs.cpu_per_audio_second),
            l.ours.cpu_per_audio_second / l.theirs.cpu_per_audio_second,
        );
    }
    // Scaling: seconds of synthesis per KB of text, each size against the paragraph's.
    println!("\n| text | bytes | indextts s/KB | piper-tts s/KB | indextts TTFA |");
    println!("| --- | --- | --- | --- | --- |");
    for (text, (t_ours, _), (tt_ours, tt_peer), _) in &warm {
        let kb = text.bytes() / 1024.0;
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {} |",
            text.name,
            text.bytes(),
            tt_ours / kb,
            tt_peer / kb,
            ms(*t_ours)
        );
    }

    let report = json!({
        "machine": {"cores": cores, "threads": THREADS},
        "runs": runs,
        "big_runs": big_runs,
        "cold_start": {
            "ours_graph_cache": cold_cached,
            "ours_no_graph_cache": cold_fresh,
            "ours_first_ever": first_ever.first_audio,
            "peer": cold_peer,
            "ratio": cold_cached / cold_peer,
        },
        "cli_story_total": {"ours": cli_total_ours, "peer": cli_total_peer},
        "peak_rss_kib_story": {"ours": rss_ours, "peer": rss_peer, "ratio": rss_ours / rss_peer},
        "warm": warm.iter().map(|(text, ttfa, total, audio)| json!({
            "text": text.name,
            "bytes": text.bytes(),
            "requests": text.requests.len(),
            "runs": text.runs,
            "audio_seconds": audio,
            "ttfa": {"ours": ttfa.0, "peer": ttfa.1, "ratio": ttfa.0 / ttfa.1},
            "total": {"ours": total.0, "peer": total.1, "ratio": total.0 / total.1},
        })).collect::<Vec<_>>(),
        "throughput_audio_s_per_s": throughput.iter().map(|l| json!({
            "concurrent": l.workers,
            "ours": l.ours.audio_per_second,
            "peer": l.theirs.audio_per_second,
            "ratio": l.ours.audio_per_second / l.theirs.audio_per_second,
            "ours_first_audio": l.first,
            "cpu_s_per_audio_s": {"ours": l.ours.cpu_per_audio_second, "peer": l.theirs.cpu_per_audio_second},
            "cores_busy": {"ours": l.ours.cores_busy, "peer": l.theirs.cores_busy},
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("peer.json"),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("target/bench/peer.json");
    if let Err(e) = concurrency_chart(&out.join("peer-concurrency.png"), &throughput) {
        println!("no concurrency chart: {e}");
    }
    match chart(&out.join("peer.png"), &warm) {
        Ok(()) => println!("\nwrote target/bench/peer.json and target/bench/peer.png"),
        Err(e) => println!("\nwrote target/bench/peer.json; no chart: {e}"),
    }
    if args.flag("--sweep") {
        drop(synth);
        sweep(&paragraph, runs, sample_rate);
    }
}

/// `--windows`: does the compute per second of audio under load depend on the stream's steady
/// window (each decodes `context_frames` on both sides that it drops)? 4 requests at once on
/// synthesizers whose threads follow the load, 128-frame windows (the voice's), 512, and whole
/// sentences, interleaved.
fn windows_under_load(runs: usize) {
    let paragraph = corpus("en_paragraph.txt");
    let sizes = [
        ("128 (default)", None),
        ("512", Some(512)),
        ("whole sentence", Some(usize::MAX)),
    ];
    let synths: Vec<Synthesizer> = sizes
        .iter()
        .map(|&(_, chunk_frames)| {
            Synthesizer::builder()
                .threads(THREADS)
                .cache_bytes(0)
                .follow_load(true)
                .stream_options(indextts::StreamOptions {
                    chunk_frames,
                    ..Default::default()
                })
                .build()
                .expect("the default voice")
        })
        .collect();
    let sample_rate = f64::from(synths[0].sample_rate());
    let mut bursts = vec![Vec::new(); synths.len()];
    for synth in &synths {
        ours_concurrent(synth, &paragraph, 4);
    }
    for _ in 0..runs {
        for (synth, runs) in synths.iter().zip(&mut bursts) {
            runs.push(ours_concurrent(synth, &paragraph, 4).0);
        }
    }
    println!("paragraph, 4 at once, threads follow the load, {runs} runs interleaved, medians\n");
    println!("| steady window (frames) | audio s per s | CPU s per audio s | cores busy |");
    println!("| --- | --- | --- | --- |");
    for ((name, _), runs) in sizes.iter().zip(&bursts) {
        let load = Load::of(runs, sample_rate);
        println!(
            "| {name} | {:.1} | {:.4} | {:.2} |",
            load.audio_per_second, load.cpu_per_audio_second, load.cores_busy
        );
    }
}

/// Intra-op threads per session against the session pool size: the paragraph's total alone,
/// and throughput with 4 requests at once.
fn sweep(paragraph: &str, runs: usize, sample_rate: f64) {
    println!("\n| threads per session | sessions per half | paragraph total | 4 concurrent (audio s per s) |");
    println!("| --- | --- | --- | --- |");
    for (threads, sessions) in [(2, 1), (1, 1), (1, 2), (2, 2)] {
        let synth = Synthesizer::builder()
            .threads(threads)
            .sessions(sessions)
            .cache_bytes(0)
            .build()
            .expect("the default voice");
        stream_timing(&synth, paragraph);
        let (mut total, mut throughput) = (vec![], vec![]);
        for _ in 0..runs {
            total.push(stream_timing(&synth, paragraph).1);
            let (busy, _) = ours_concurrent(&synth, paragraph, 4);
            throughput.push(busy.audio_per_second(sample_rate));
        }
        println!(
            "| {threads} | {sessions} | {:.0} ms | {:.1} |",
            median(total) * 1e3,
            median(throughput)
        );
    }
}

type Warm<'a> = (&'a Text, (f64, f64), (f64, f64), f64);

/// A line of the chart: its label, colour, and the figure it draws.
type Series = (&'static str, RGBColor, fn(&Warm<'_>) -> f64);

/// Time to first audio and total time against text length, both engines, log-log.
fn chart(path: &Path, warm: &[Warm<'_>]) -> Result<(), Box<dyn std::error::Error>> {
    let font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    let bytes = std::fs::read(&font).map_err(|e| format!("{}: {e}", font.display()))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into()))
        .map_err(|_| format!("{}: not a font", font.display()))?;
    let root_area = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root_area.fill(&WHITE)?;
    let x_max = warm.iter().map(|w| w.0.bytes()).fold(1.0, f64::max) * 2.0;
    let x_min = warm.iter().map(|w| w.0.bytes()).fold(f64::MAX, f64::min) / 2.0;
    let y_max = warm.iter().map(|w| w.2 .1.max(w.2 .0)).fold(0.01, f64::max) * 2.0;
    let y_min = warm
        .iter()
        .map(|w| w.1 .0.min(w.1 .1))
        .fold(f64::MAX, f64::min)
        / 2.0;
    let mut chart = ChartBuilder::on(&root_area)
        .caption(
            "indextts vs piper-tts 1.8.0: en_US-joe-medium, 2 threads, medians",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("text length (bytes)")
        .y_desc("seconds")
        .label_style(("sans-serif", 15))
        .draw()?;
    let series: [Series; 4] = [
        ("indextts total", BLUE, |w| w.2 .0),
        ("piper-tts total", RED, |w| w.2 .1),
        ("indextts time to first audio", CYAN, |w| w.1 .0),
        ("piper-tts time to first audio", MAGENTA, |w| w.1 .1),
    ];
    let lines = series.map(|(label, color, value)| {
        let points = warm.iter().map(|w| (w.0.bytes(), value(w))).collect();
        (label, color, points)
    });
    draw_lines(&mut chart, lines, SeriesLabelPosition::UpperLeft)?;
    root_area.present()?;
    Ok(())
}

/// Draw each `(label, colour, points)` as a line with dots, and the legend at `legend`.
fn draw_lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: impl IntoIterator<Item = (&'static str, RGBColor, Vec<(f64, f64)>)>,
    legend: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (label, color, points) in lines {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A line of the concurrency chart: its label, colour, and the figure it draws.
type LevelSeries = (&'static str, RGBColor, fn(&Level) -> f64);

/// Audio seconds per wall second against requests at once, both engines.
fn concurrency_chart(path: &Path, curve: &[Level]) -> Result<(), Box<dyn std::error::Error>> {
    let font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    let bytes = std::fs::read(&font).map_err(|e| format!("{}: {e}", font.display()))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into()))
        .map_err(|_| format!("{}: not a font", font.display()))?;
    let root_area = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root_area.fill(&WHITE)?;
    let x_max = curve.iter().map(|l| l.workers).max().unwrap_or(1) as f64 * 1.5;
    let y_max = curve
        .iter()
        .map(|l| {
            let fixed = l.fixed.map_or(0.0, |f| f.audio_per_second);
            l.ours
                .audio_per_second
                .max(l.theirs.audio_per_second)
                .max(fixed)
        })
        .fold(1.0, f64::max)
        * 1.25;
    let mut chart = ChartBuilder::on(&root_area)
        .caption(
            "Throughput, paragraph at once: indextts vs piper-tts 1.8.0, 2 cores",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0.75..x_max)
                .log_scale()
                .with_key_points(curve.iter().map(|l| l.workers as f64).collect::<Vec<_>>()),
            0.0..y_max,
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("requests at once")
        .y_desc("seconds of audio per second")
        .label_style(("sans-serif", 15))
        .draw()?;
    let lines: [LevelSeries; 3] = [
        ("indextts, threads follow the load", BLUE, |l| {
            l.ours.audio_per_second
        }),
        ("indextts, fixed threads", CYAN, |l| {
            l.fixed.map_or(f64::NAN, |f| f.audio_per_second)
        }),
        ("piper-tts", RED, |l| l.theirs.audio_per_second),
    ];
    let lines = lines.map(|(label, color, value)| {
        let points = curve
            .iter()
            .map(|l| (l.workers as f64, value(l)))
            .filter(|p| p.1.is_finite())
            .collect();
        (label, color, points)
    });
    draw_lines(&mut chart, lines, SeriesLabelPosition::LowerRight)?;
    root_area.present()?;
    Ok(())
}
