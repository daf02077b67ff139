//! Side by side over the Wyoming protocol (Home Assistant's): `indextts-server --wyoming` and
//! `wyoming-piper==2.5.2` (the Home Assistant add-on's server, pinned in
//! target/wyoming-piper-venv by scripts/setup.sh --reference, onnxruntime 1.31.1 as ours),
//! serving the same `en_US-joe-medium` on this machine, 2 threads each, a new connection per
//! request as Home Assistant makes them. One client (this bench, `indextts::server::wyoming`'s
//! event reader) times both:
//! - whole: `synthesize` -> first `audio-chunk`, and -> `audio-stop`;
//! - streaming: `synthesize-start`, then the text as `synthesize-chunk`s at a language model's
//!   pace (20 tokens a second, as benches/text_stream.rs), and again with every chunk sent at
//!   once -> first `audio-chunk` (from the first `synthesize-chunk`), and ->
//!   `synthesize-stopped`;
//!
//! on each line of `en_sentences.txt` and on `en_paragraph.txt`, runs interleaved, medians.
//! Writes target/bench/wyoming_peer.json.
//!
//! ```text
//! cargo bench --features server --bench wyoming_peer              # 3 runs
//! cargo bench --features server --bench wyoming_peer -- --quick   # what CI runs: 1 run, 2 texts
//! ```

mod common;

use std::io::{BufRead, BufReader as StdBufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{median, root, Args};
use indextts::server::wyoming::{read_event, Event};
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A server under test: its process and address.
struct Server {
    name: &'static str,
    child: std::process::Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn ours() -> Server {
    let exe = root().join("target/release/indextts-server");
    let mut child = Command::new(&exe)
        .args([
            "--no-http",
            "--wyoming",
            "tcp://127.0.0.1:0",
            "--threads",
            "2",
        ])
        .args(["--rate-per-second", "0", "--cache-bytes", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (cargo build --release --features server)",
                exe.display()
            )
        });
    let stdout = child.stdout.take().expect("stdout");
    let line = StdBufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on tcp://"))
        .expect("indextts-server printed no address");
    let addr = line
        .rsplit("tcp://")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    Server {
        name: "indextts",
        child,
        addr,
    }
}

fn theirs() -> Server {
    let python = root().join("target/wyoming-piper-venv/bin/python");
    let voice = root().join("models/assets/voices/en_US-joe-medium");
    let port = free_port();
    let child = Command::new(&python)
        .args(["-m", "wyoming_piper", "--voice", "en_US-joe-medium"])
        .arg("--data-dir")
        .arg(&voice)
        .arg("--uri")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/setup.sh --reference installs wyoming-piper)",
                python.display()
            )
        });
    Server {
        name: "wyoming-piper",
        child,
        addr: format!("127.0.0.1:{port}"),
    }
}

/// Connect, retrying while the server starts (up to 60 s).
async fn connect(addr: &str) -> TcpStream {
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return s,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{addr}: {e}"),
        }
    }
}

/// One timed request: (first audio, end) in seconds from its start, and audio samples.
struct Timing {
    first: f64,
    end: f64,
    samples: usize,
}

/// Read events until `until`, noting the first audio chunk.
async fn read_audio(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    started: Instant,
    until: &str,
) -> Timing {
    let (mut first, mut samples) = (None, 0);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), read_event(reader, 1 << 20))
            .await
            .expect("no event within 120 s")
            .expect("an event");
        match event.kind.as_str() {
            "audio-chunk" => {
                first.get_or_insert_with(|| started.elapsed().as_secs_f64());
                samples += event.payload.len() / 2;
            }
            "error" => panic!("the server answered an error: {:?}", event.data),
            kind if kind == until => {
                let end = started.elapsed().as_secs_f64();
                return Timing {
                    first: first.unwrap_or(end),
                    end,
                    samples,
                };
            }
            _ => {}
        }
    }
}

async fn whole(addr: &str, text: &str) -> Timing {
    let (read, mut write) = connect(addr).await.into_split();
    let mut reader = BufReader::new(read);
    let started = Instant::now();
    let event = Event {
        kind: "synthesize".into(),
        data: json!({ "text": text, "voice": { "name": "en_US-joe-medium" } })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        payload: Vec::new(),
    };
    write.write_all(&event.to_bytes()).await.expect("write");
    read_audio(&mut reader, started, "audio-stop").await
}

async fn streaming(addr: &str, tokens: &[String], rate: f64) -> Timing {
    let stream = connect(addr).await;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let voice = json!({ "voice": { "name": "en_US-joe-medium" } });
    let event = |kind: &str, data: serde_json::Value| Event {
        kind: kind.into(),
        data: data.as_object().cloned().unwrap_or_default(),
        payload: Vec::new(),
    };
    write
        .write_all(&event("synthesize-start", voice).to_bytes())
        .await
        .expect("write");
    let started = Instant::now();
    let tokens = tokens.to_vec();
    let writer = tokio::spawn(async move {
        for (i, token) in tokens.iter().enumerate() {
            if rate > 0.0 {
                let due = Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
            }
            let chunk = event("synthesize-chunk", json!({ "text": token }));
            write.write_all(&chunk.to_bytes()).await.expect("write");
        }
        let text: String = tokens.concat();
        let compat = event("synthesize", json!({ "text": text }));
        write.write_all(&compat.to_bytes()).await.expect("write");
        let stop = event("synthesize-stop", json!({}));
        write.write_all(&stop.to_bytes()).await.expect("write");
        write
    });
    let timing = read_audio(&mut reader, started, "synthesize-stopped").await;
    drop(writer.await);
    timing
}

fn main() {
    let args = Args::from_env();
    let quick = args.flag("--quick");
    let runs: usize = args.parse("--runs", if quick { 1 } else { 3 });
    let rate: f64 = args.parse("--rate", 20.0);
    let corpus = root().join("../shared/corpus");
    let read = |name: &str| std::fs::read_to_string(corpus.join(name)).expect(name);
    let mut texts: Vec<(String, String)> = read("en_sentences.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (format!("sentence {i}"), l.to_owned()))
        .collect();
    if quick {
        texts.truncate(1);
    }
    texts.push((
        "paragraph".into(),
        read("en_paragraph.txt").trim().to_owned(),
    ));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let servers = [ours(), theirs()];
    runtime.block_on(async {
        for server in &servers {
            // Loads the voice (wyoming-piper loads it on its first request).
            whole(&server.addr, "Warm up.").await;
        }
    });
    // Modes: whole; streaming at the language model's pace; streaming with every chunk sent
    // at once (the servers' own latency, without waiting for text).
    let modes = [
        "whole".to_owned(),
        format!("streaming, {rate} tokens/s"),
        "streaming, all chunks at once".to_owned(),
    ];
    // [server][mode] -> first-audio and end times, over texts and runs.
    let mut first = vec![vec![Vec::new(); modes.len()]; 2];
    let mut total = vec![vec![Vec::new(); modes.len()]; 2];
    let mut rows = Vec::new();
    for run in 0..runs {
        for (label, text) in &texts {
            let tokens = common::llm_tokens(text);
            for (s, server) in servers.iter().enumerate() {
                let timings = [
                    runtime.block_on(whole(&server.addr, text)),
                    runtime.block_on(streaming(&server.addr, &tokens, rate)),
                    runtime.block_on(streaming(&server.addr, &tokens, 0.0)),
                ];
                for (m, t) in timings.iter().enumerate() {
                    first[s][m].push(t.first);
                    total[s][m].push(t.end);
                    rows.push(json!({
                        "run": run, "text": label, "server": server.name, "mode": modes[m],
                        "first_s": t.first, "end_s": t.end, "samples": t.samples,
                    }));
                }
            }
        }
    }
    println!(
        "Wyoming, en_US-joe-medium, {} texts x {runs} run(s), medians (ms)",
        texts.len()
    );
    println!(
        "{:44} {:>10} {:>14} {:>8}",
        "", "indextts", "wyoming-piper", "ratio"
    );
    let mut summary = serde_json::Map::new();
    for (m, mode) in modes.iter().enumerate() {
        for (what, values) in [("first audio", &first), ("total", &total)] {
            let (a, b) = (median(values[0][m].clone()), median(values[1][m].clone()));
            println!(
                "{:44} {:>10.0} {:>14.0} {:>7.2}x",
                format!("{mode}: {what}"),
                a * 1e3,
                b * 1e3,
                a / b
            );
            summary.insert(
                format!("{mode} {what}"),
                json!({ "indextts_s": a, "wyoming_piper_s": b, "ratio": a / b }),
            );
        }
    }
    let out = root().join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("wyoming_peer.json"),
        serde_json::to_string_pretty(&json!({ "summary": summary, "rows": rows }))
            .unwrap_or_default(),
    );
}
