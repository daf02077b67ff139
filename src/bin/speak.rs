//! `speak`: text to a WAV file with an indextts voice.
//!
//! ```text
//! cargo run --release --bin speak -- "Hello, and welcome to the show." -o hello.wav
//! echo "Text from stdin." | cargo run --release --bin speak -- -o out.wav
//! ```

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indextts::{SynthesisOptions, Synthesizer};

/// Speak text to a WAV file (16-bit PCM, mono).
#[derive(Parser, Debug)]
#[command(name = "speak", version, allow_negative_numbers = true)]
struct Args {
    /// Text to speak; read from standard input when absent.
    text: Option<String>,
    /// Output WAV file.
    #[arg(short, long, default_value = "out.wav")]
    output: PathBuf,
    /// Voice: a directory with one .onnx and its .onnx.json, or the .onnx file
    /// (default: the fetched en_US-joe-medium).
    #[arg(long)]
    voice: Option<PathBuf>,
    /// Phoneme duration multiplier: > 1 is slower.
    #[arg(long)]
    length_scale: Option<f32>,
    /// Prior noise (voice variation), >= 0.
    #[arg(long)]
    noise_scale: Option<f32>,
    /// Duration noise (rhythm variation), >= 0.
    #[arg(long)]
    noise_w: Option<f32>,
    /// Speaker name or id, for multi-speaker voices.
    #[arg(long)]
    speaker: Option<String>,
    /// ONNX Runtime threads (default: number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// ONNX Runtime shared library (default: $ORT_DYLIB_PATH, then the fetched copy).
    #[arg(long)]
    ort_library: Option<PathBuf>,
    /// Print load and synthesis times and debug logs to standard error.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Warnings (a symbol the voice lacks, a graph that runs unsplit) always; details with -v.
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("speak: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let text = match &args.text {
        Some(text) => text.clone(),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("reading standard input: {e}"))?;
            String::from_utf8(bytes).map_err(|e| format!("standard input is not UTF-8: {e}"))?
        }
    };
    let started = Instant::now();
    let mut builder = Synthesizer::builder();
    if let Some(voice) = &args.voice {
        builder = builder.voice(voice);
    }
    if let Some(threads) = args.threads {
        builder = builder.threads(threads);
    }
    if let Some(lib) = &args.ort_library {
        builder = builder.ort_library(lib);
    }
    let synth = builder.build().map_err(|e| e.to_string())?;
    let loaded = started.elapsed();
    let options = SynthesisOptions {
        length_scale: args.length_scale,
        noise_scale: args.noise_scale,
        noise_w: args.noise_w,
        speaker: args.speaker.clone(),
    };
    let audio = synth
        .synthesize(&text, &options)
        .map_err(|e| e.to_string())?;
    let synthesized = started.elapsed() - loaded;
    audio.write_wav(&args.output).map_err(|e| e.to_string())?;
    if args.verbose {
        eprintln!(
            "speak: load {:.3} s, synthesis {:.3} s for {:.2} s of audio (real-time factor {:.3}), wrote {}",
            loaded.as_secs_f64(),
            synthesized.as_secs_f64(),
            audio.duration_seconds(),
            synthesized.as_secs_f64() / audio.duration_seconds().max(1e-9),
            args.output.display()
        );
    }
    Ok(())
}
