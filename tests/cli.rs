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
