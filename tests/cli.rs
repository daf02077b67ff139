//! The `speak` CLI: text in, WAV out, one readable line and a non-zero exit on error.

use std::io::Write;
use std::process::{Command, Stdio};

fn speak() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speak"));
    cmd.arg("--threads").arg("2");
    cmd
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("indextts-cli-{}-{name}", std::process::id()))
}

#[test]
fn speaks_an_argument_to_a_wav() {
    let out = scratch("arg.wav");
    let status = speak()
        .args(["Hello, and welcome to the show.", "-o"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = hound::WavReader::open(&out).unwrap();
    let seconds = reader.duration() as f64 / f64::from(reader.spec().sample_rate);
    assert!(seconds > 1.0 && seconds < 5.0, "{seconds} s");
    std::fs::remove_file(out).unwrap();
}

#[test]
fn speaks_standard_input_with_options() {
    let out = scratch("stdin.wav");
    let mut child = speak()
        .args(["--length-scale", "1.2", "--noise-scale", "0.5", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Battery low. Please connect the charger.\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(hound::WavReader::open(&out).unwrap().duration() > 22_050);
    std::fs::remove_file(out).unwrap();
}

#[test]
fn errors_are_one_line_and_a_failure_exit() {
    let out = scratch("never.wav");
    for args in [
        vec!["Hello.", "--length-scale", "-1"],
        vec!["Hello.", "--voice", "/nonexistent/voice.onnx"],
        vec!["Hello.", "--speaker", "7"],
        vec!["  \n "],
    ] {
        let result = speak().args(&args).arg("-o").arg(&out).output().unwrap();
        assert!(!result.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(result.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("speak: error: "), "{args:?}: {stderr}");
        assert!(!out.exists());
    }
    // Invalid UTF-8 on standard input.
    let mut child = speak()
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&[0x66, 0xff, 0xfe])
        .unwrap();
    let result = child.wait_with_output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("not UTF-8"));
}

#[test]
fn streams_raw_pcm_and_unbounded_wav_to_standard_output() {
    let text = "Battery low. Please connect the charger.";
    let raw = speak().args(["--stream", "--raw", text]).output().unwrap();
    assert!(raw.status.success());
    assert_eq!(raw.stdout.len() % 2, 0);
    let seconds = raw.stdout.len() as f64 / 2.0 / 22_050.0;
    assert!(seconds > 1.5 && seconds < 6.0, "{seconds} s of raw PCM");

    let wav = speak()
        .args(["--stream", "-o", "-", text])
        .output()
        .unwrap();
    assert!(wav.status.success());
    assert_eq!(&wav.stdout[..4], b"RIFF");
    let data = wav.stdout.windows(4).position(|w| w == b"data").unwrap();
    // Same voice, same text, noise differs per call: lengths agree to within a few frames.
    let pcm = wav.stdout.len() - (data + 8);
    assert!((pcm as f64 / raw.stdout.len() as f64 - 1.0).abs() < 0.2);

    // Streaming to a file gives a normal WAV, and -v reports the time to first audio.
    let out = scratch("stream.wav");
    let result = speak()
        .args(["--stream", "-v", text, "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("first audio after"));
    assert!(hound::WavReader::open(&out).unwrap().duration() > 22_050);
    std::fs::remove_file(out).unwrap();
}

#[test]
fn lists_every_known_voice() {
    let out = speak().arg("--list-voices").output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} is not listed:\n{listing}"))
            .to_owned()
    };
    assert!(line("en_US-joe-medium").contains("22050"));
    assert!(line("af_heart").contains("Kokoro") && line("af_heart").contains("MB"));
    assert!(line("jf_alpha").contains(" no ") && line("jf_alpha").contains("Japanese"));
    assert!(line("zh_CN-baker-fastspeech2").contains("Python venv"));
    assert_eq!(listing.lines().filter(|l| l.contains("Kokoro")).count(), 54);
}

#[test]
fn speaks_with_a_kokoro_voice_and_a_blend() {
    let out = scratch("kokoro.wav");
    let status = speak()
        .args([
            "--voice",
            "af_heart",
            "--speaker",
            "af_heart:0.7,am_adam:0.3",
        ])
        .args(["--stream", "Hello, and welcome to the show.", "-o"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let mut reader = hound::WavReader::open(&out).unwrap();
    assert_eq!(reader.spec().sample_rate, 24_000);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let seconds = samples.len() as f64 / 24_000.0;
    let rms = (samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64)
        .sqrt();
    assert!(seconds > 1.0 && seconds < 5.0, "{seconds} s");
    assert!(rms > 0.02, "RMS {rms}");
    std::fs::remove_file(out).unwrap();
}

/// On a terminal (util-linux `script` gives the run one), a text of several sentences shows a
/// progress bar on standard error; `-q` and a standard error that is not a terminal show none.
#[test]
fn a_progress_bar_only_on_a_terminal() {
    let out = scratch("progress.wav");
    let text = "The first sentence is here. A second one follows it. And a third ends the text.";
    let on_terminal = |quiet: &str| {
        let command = format!(
            "{} --threads 2 {quiet} -o {} '{text}'",
            env!("CARGO_BIN_EXE_speak"),
            out.display()
        );
        // A terminal has a TERM (CI runs with none, and indicatif draws nothing without one).
        let run = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .output()
            .expect("util-linux script");
        assert!(run.status.success(), "{run:?}");
        String::from_utf8_lossy(&run.stdout).into_owned()
    };
    let shown = on_terminal("");
    assert!(shown.contains("/3 sentences"), "{shown:?}");
    assert!(shown.contains("real-time factor"), "{shown:?}");
    assert!(!on_terminal("-q").contains("sentences"));
    let piped = speak().args([text, "-o"]).arg(&out).output().unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&piped.stderr)
    );
    std::fs::remove_file(out).unwrap();
}
