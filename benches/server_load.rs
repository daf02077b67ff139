//! Load on `indextts-server` over loopback: 16 concurrent clients for 60 s, each posting corpus
//! texts to `/v1/audio/speech` (PCM) back to back. Every request must end in complete audio or
//! a clear 429/503; none may hang (a 30 s client timeout counts as hung) or be lost; the
//! server's memory must stay flat. Prints p50/p95/p99 time to first byte, throughput and the
//! server's RSS curve, and writes them to target/server_load.json.
//!
//! ```text
//! cargo bench --features server --bench server_load                       # 16 clients, 60 s
//! cargo bench --features server --bench server_load -- --clients 8 --seconds 20 --cache
//! ```
//!
//! The server runs as its own process (the release binary), with its defaults except: the rate
//! limit is off (every client shares 127.0.0.1, so a per-client limit would only measure
//! itself) and the sentence cache is off unless `--cache` (repeated corpus texts would
//! otherwise be served from memory, and the figure would not be the synthesis's).

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{percentile, rss_kib, Args};
use serde_json::json;

#[derive(Default)]
struct Outcomes {
    ttfb: Vec<f64>,
    total: Vec<f64>,
    /// Per complete response: the longest a listener playing it in real time from its first
    /// byte would have waited for the next audio (0: no gap).
    gaps: Vec<f64>,
    audio_seconds: f64,
    ok: usize,
    rejected_429: usize,
    rejected_503: usize,
    incomplete: usize,
    hung: usize,
    other: Vec<String>,
}

fn corpus_texts() -> Vec<String> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut texts: Vec<String> = std::fs::read_to_string(corpus.join("en_sentences.txt"))
        .expect("../shared/corpus/en_sentences.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let paragraph = std::fs::read_to_string(corpus.join("en_paragraph.txt"))
        .expect("../shared/corpus/en_paragraph.txt");
    texts.push(paragraph.trim().to_owned());
    texts
}

fn main() {
    let args = Args::from_env();
    let clients: usize = args.parse("--clients", 16);
    let seconds: u64 = args.parse("--seconds", 60);
    let cache = args.flag("--cache");

    // `--binary PATH`: another build of the server (an earlier commit's, to compare).
    let binary = args
        .value("--binary")
        .unwrap_or(env!("CARGO_BIN_EXE_indextts-server"));
    let mut server = Command::new(binary);
    let extra: Vec<String> = match std::env::args().position(|a| a == "--server") {
        Some(at) => std::env::args()
            .skip(at + 1)
            .filter(|a| a != "--bench")
            .collect(),
        None => Vec::new(),
    };
    if !extra.iter().any(|a| a == "--threads") {
        server.args(["--threads", "2"]);
    }
    server.args([
        "--bind",
        "127.0.0.1:0",
        "--rate-per-second",
        "0",
        "--client-quota",
        "0",
    ]);
    // Anything after `--server` goes to the server (`-- --server --streams 2`).
    server.args(&extra);
    if !cache {
        server.args(["--cache-bytes", "0"]);
    }
    let mut server = server
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start indextts-server");
    let base = indextts::testkit::server_address(&mut server).expect("server output");
    let pid = server.id();
    let texts = Arc::new(corpus_texts());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (outcomes, rss_curve, wall) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let rss_curve = tokio::spawn(async move {
            let mut curve = Vec::new();
            while Instant::now() < deadline {
                curve.push((start.elapsed().as_secs_f64(), rss_kib(pid)));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            curve
        });
        let mut workers = Vec::new();
        for client_index in 0..clients {
            let (client, base, texts) = (client.clone(), base.clone(), Arc::clone(&texts));
            workers.push(tokio::spawn(async move {
                let mut outcomes = Outcomes::default();
                let mut n = client_index;
                while Instant::now() < deadline {
                    let text = &texts[n % texts.len()];
                    n += clients;
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/v1/audio/speech"))
                        .json(&json!({"input": text, "response_format": "pcm"}))
                        .send()
                        .await;
                    let mut response = match response {
                        Ok(r) => r,
                        Err(e) if e.is_timeout() => {
                            outcomes.hung += 1;
                            continue;
                        }
                        Err(e) => {
                            outcomes.other.push(e.to_string());
                            continue;
                        }
                    };
                    match response.status().as_u16() {
                        200 => {}
                        429 => {
                            outcomes.rejected_429 += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        503 => {
                            outcomes.rejected_503 += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        status => {
                            outcomes.other.push(format!("status {status}"));
                            continue;
                        }
                    }
                    let mut bytes = 0usize;
                    let mut first = None;
                    let mut gap = 0.0f64;
                    let finished = loop {
                        match response.chunk().await {
                            Ok(Some(chunk)) => {
                                let now = sent.elapsed().as_secs_f64();
                                let started = *first.get_or_insert(now);
                                // The listener has played (now - started) s; it had
                                // bytes / 2 / 22050 s: any excess is a wait.
                                let had = bytes as f64 / 2.0 / 22_050.0;
                                gap = gap.max(now - started - had);
                                bytes += chunk.len();
                            }
                            Ok(None) => break true,
                            Err(e) => {
                                if e.is_timeout() {
                                    outcomes.hung += 1;
                                } else {
                                    outcomes.other.push(e.to_string());
                                }
                                break false;
                            }
                        }
                    };
                    if !finished {
                        continue;
                    }
                    let audio = bytes as f64 / 2.0 / 22_050.0;
                    let words = text.split_whitespace().count() as f64;
                    // Complete audio: as long as the words need (0.4x..2.5x of 2.7 words/s).
                    if audio < 0.4 * words / 2.7 || audio > 2.5 * words / 2.7 {
                        outcomes.incomplete += 1;
                        continue;
                    }
                    outcomes.ok += 1;
                    outcomes.audio_seconds += audio;
                    outcomes.ttfb.push(first.unwrap_or(f64::NAN));
                    outcomes.total.push(sent.elapsed().as_secs_f64());
                    outcomes.gaps.push(gap);
                }
                outcomes
            }));
        }
        let mut all = Outcomes::default();
        for worker in workers {
            let o = worker.await.expect("client task");
            all.ttfb.extend(o.ttfb);
            all.total.extend(o.total);
            all.gaps.extend(o.gaps);
            all.audio_seconds += o.audio_seconds;
            all.ok += o.ok;
            all.rejected_429 += o.rejected_429;
            all.rejected_503 += o.rejected_503;
            all.incomplete += o.incomplete;
            all.hung += o.hung;
            all.other.extend(o.other);
        }
        let wall = start.elapsed().as_secs_f64();
        (all, rss_curve.await.unwrap_or_default(), wall)
    });
    // SIGTERM: the server drains and exits.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exit = server.wait().map(|s| s.success()).unwrap_or(false);

    let mut ttfb = outcomes.ttfb.clone();
    ttfb.sort_by(f64::total_cmp);
    let mut total = outcomes.total.clone();
    total.sort_by(f64::total_cmp);
    let requests = outcomes.ok
        + outcomes.rejected_429
        + outcomes.rejected_503
        + outcomes.incomplete
        + outcomes.hung
        + outcomes.other.len();
    let warm = rss_curve
        .iter()
        .find(|(t, _)| *t >= 10.0)
        .map_or(0, |(_, r)| *r);
    let peak_after_warm = rss_curve
        .iter()
        .filter(|(t, _)| *t >= 10.0)
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(0);
    let last = rss_curve.last().map_or(0, |(_, r)| *r);
    println!(
        "server_load: {clients} clients, {seconds} s, cache {}",
        if cache { "on" } else { "off" }
    );
    println!(
        "requests {requests}: ok {} (complete audio), 429 {}, 503 {}, incomplete {}, hung {}, other {}",
        outcomes.ok,
        outcomes.rejected_429,
        outcomes.rejected_503,
        outcomes.incomplete,
        outcomes.hung,
        outcomes.other.len()
    );
    println!(
        "time to first byte: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms; whole response p50 {:.0} ms, p95 {:.0} ms",
        percentile(&ttfb, 0.5) * 1e3,
        percentile(&ttfb, 0.95) * 1e3,
        percentile(&ttfb, 0.99) * 1e3,
        percentile(&total, 0.5) * 1e3,
        percentile(&total, 0.95) * 1e3
    );
    let mut gaps = outcomes.gaps.clone();
    gaps.sort_by(f64::total_cmp);
    let gapped = gaps.iter().filter(|&&g| g > 0.1).count();
    println!(
        "playback from the first byte: {gapped} of {} responses wait > 100 ms for audio; longest wait p99 {:.0} ms, max {:.0} ms",
        gaps.len(),
        percentile(&gaps, 0.99).max(0.0) * 1e3,
        gaps.last().copied().unwrap_or(0.0).max(0.0) * 1e3
    );
    println!(
        "throughput: {:.2} requests/s, {:.1} s of audio per wall second",
        outcomes.ok as f64 / wall,
        outcomes.audio_seconds / wall
    );
    let curve: Vec<String> = rss_curve
        .iter()
        .step_by(5)
        .map(|(t, r)| format!("{t:.0}s {:.0}", *r as f64 / 1024.0))
        .collect();
    println!("server RSS (MiB): {}", curve.join(", "));
    println!(
        "RSS at 10 s {:.0} MiB, peak after {:.0} MiB (+{:.1}%), at the end {:.0} MiB; server exit on SIGTERM: {}",
        warm as f64 / 1024.0,
        peak_after_warm as f64 / 1024.0,
        (peak_after_warm as f64 / warm.max(1) as f64 - 1.0) * 100.0,
        last as f64 / 1024.0,
        if exit { "0" } else { "FAILED" }
    );
    for error in outcomes.other.iter().take(5) {
        println!("other: {error}");
    }
    let report = json!({
        "clients": clients, "seconds": seconds, "cache": cache,
        "requests": requests, "ok": outcomes.ok, "rejected_429": outcomes.rejected_429,
        "rejected_503": outcomes.rejected_503, "incomplete": outcomes.incomplete,
        "hung": outcomes.hung, "other": outcomes.other.len(),
        "ttfb_ms": {"p50": percentile(&ttfb, 0.5) * 1e3, "p95": percentile(&ttfb, 0.95) * 1e3, "p99": percentile(&ttfb, 0.99) * 1e3},
        "total_ms": {"p50": percentile(&total, 0.5) * 1e3, "p95": percentile(&total, 0.95) * 1e3},
        "gapped_responses": gapped,
        "longest_wait_ms": gaps.last().copied().unwrap_or(0.0).max(0.0) * 1e3,
        "requests_per_second": outcomes.ok as f64 / wall,
        "audio_seconds_per_second": outcomes.audio_seconds / wall,
        "rss_kib": rss_curve.iter().map(|(t, r)| json!([t, r])).collect::<Vec<_>>(),
    });
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/server_load.json");
    let _ = std::fs::write(
        &out,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    // The load test's own assertions: nothing hung, nothing lost, memory flat, clean exit.
    let mut failed = Vec::new();
    if outcomes.hung > 0 {
        failed.push(format!("{} requests hung", outcomes.hung));
    }
    if outcomes.incomplete > 0 || !outcomes.other.is_empty() {
        failed.push(format!(
            "{} incomplete and {} failed requests",
            outcomes.incomplete,
            outcomes.other.len()
        ));
    }
    if outcomes.ok == 0 {
        failed.push("no request completed".into());
    }
    if seconds >= 30 && peak_after_warm as f64 > 1.10 * warm as f64 {
        failed.push("server RSS grew more than 10% after warm-up".into());
    }
    if !exit {
        failed.push("the server did not exit cleanly on SIGTERM".into());
    }
    if !failed.is_empty() {
        eprintln!("server_load FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}
