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
