//! `indextts-server` against clients that do not play by the rules, on loopback with the real
//! voice: clients that send a request and never read, that read at playback speed, that send
//! their headers a byte at a time, that flood, that crowd one task, that connect and leave,
//! that ask for what they may not have. Each test states the time within which the server
//! must still serve a well-behaved client; the limits are tightened (seconds, not the
//! defaults' tens) so the tests stay short.
#![cfg(feature = "server")]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::http::{client, metric, pcm_audio, speech, start, try_start, wait_for_metric};
use common::{check_speech, corpus_lines, corpus_text};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A second loopback address, so the server counts its connections as another client.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A raw connection to `server` from `from`, with a small receive buffer (so a client that
/// does not read fills it, and the server's writes stop, at once).
async fn connect(server: SocketAddr, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// An HTTP/1.1 request with a JSON body.
fn request(method: &str, path: &str, host: &str, body: Option<&Value>) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Read a response's head: its status and whatever of the body came with it.
async fn read_head(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
            return (status, head, buf[end + 4..].to_vec());
        }
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk))
            .await
            .expect("no response head within 60 s")
            .unwrap();
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The rest of a chunked body whose first bytes are `body`, reading at most `rate` bytes a
/// second (None: as fast as it comes), until its last chunk.
async fn read_chunked(stream: &mut TcpStream, mut body: Vec<u8>, rate: Option<f64>) -> Vec<u8> {
    let mut decoded = Vec::new();
    let start = Instant::now();
    let mut read = body.len();
    let mut buf = [0u8; 2048];
    loop {
        // Take every complete chunk in `body`.
        while let Some(line) = body.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&body[..line]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            if body.len() < line + 2 + size + 2 {
                break;
            }
            if size == 0 {
                return decoded;
            }
            decoded.extend_from_slice(&body[line + 2..line + 2 + size]);
            body.drain(..line + 2 + size + 2);
        }
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(read as f64 / rate);
            tokio::time::sleep(due.saturating_sub(start.elapsed())).await;
        }
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .expect("the body stalled for 60 s")
            .unwrap();
        assert!(n > 0, "connection closed mid-body");
        read += n;
        body.extend_from_slice(&buf[..n]);
    }
}

/// 32 clients from one address send a long request each and never read a byte. The quota
/// turns away all but 4; the 2 that run fill their sockets, stall and are cut off after the
/// stall timeout, freeing their workers; a client from another address, queued behind them,
/// is taken first and served within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_cannot_hold_the_workers() {
    let server = start(&[
        "--workers",
        "2",
        "--streams",
        "2",
        "--stall-timeout-seconds",
        "2",
        "--rate-per-second",
        "0",
    ])
    .await;
    let story = json!({ "input": corpus_text("en_long.txt") });
    let mut hogs = Vec::new();
    for _ in 0..32 {
        let mut hog = connect(server.addr, OTHER).await;
        hog.write_all(&request(
            "POST",
            "/v1/audio/speech",
            "127.0.0.1",
            Some(&story),
        ))
        .await
        .unwrap();
        hogs.push(hog);
    }
    let base = &server.base;
    let within = Duration::from_secs(20);
    wait_for_metric(base, "indextts_rejected_quota_total", within, |v| v == 28.0).await;
    wait_for_metric(base, "indextts_syntheses_running", within, |v| v == 2.0).await;

    let started = Instant::now();
    let text = "Hello there, I was next in line.";
    let response = speech(base, json!({ "input": text, "response_format": "pcm" })).await;
    assert_eq!(response.status(), 200);
    let audio = pcm_audio(&response.bytes().await.unwrap(), 22_050);
    let waited = started.elapsed();
    println!("served behind 32 non-reading clients in {waited:?}");
    check_speech("behind the hogs", text, &audio, 22_050);
    assert!(
        waited < Duration::from_secs(15),
        "a well-behaved client waited {waited:?} behind clients that never read"
    );
    let stalled = metric(base, "indextts_connections_stalled_total").await;
    assert!(stalled >= 1.0, "no connection was cut for stalling");
    drop(hogs);
    // Everything they held is given back.
    wait_for_metric(base, "indextts_syntheses_running", within, |v| v == 0.0).await;
    wait_for_metric(base, "indextts_synthesis_pipelines_running", within, |v| {
        v == 0.0
    })
    .await;
    // Only the connection asking is open.
    wait_for_metric(base, "indextts_connections_open", within, |v| v <= 1.0).await;
}

/// A listener that reads at playback speed (16-bit mono at 22,050 Hz: 44,100 bytes a second)
/// through a 4 KiB socket keeps the server waiting on most writes, never for long: the stall
/// timeout (1 s here) counts time without progress, so it is never cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_reading_at_playback_speed_is_never_cut_off() {
    let server = start(&["--stall-timeout-seconds", "1"]).await;
    let text = corpus_lines("en_sentences.txt")[..2].join(" ");
    let mut stream = connect(server.addr, LOCAL).await;
    let body = json!({ "input": text, "response_format": "pcm" });
    stream
        .write_all(&request(
            "POST",
            "/v1/audio/speech",
            "127.0.0.1",
            Some(&body),
        ))
        .await
        .unwrap();
    let (status, head, rest) = read_head(&mut stream).await;
    assert_eq!(status, 200, "{head}");
    let started = Instant::now();
    let pcm = read_chunked(&mut stream, rest, Some(44_100.0)).await;
    let audio = pcm_audio(&pcm, 22_050);
    println!(
        "{:.2} s of audio read in {:?}",
        audio.duration_seconds(),
        started.elapsed()
    );
    check_speech("paced", &text, &audio, 22_050);
    assert_eq!(
        metric(&server.base, "indextts_connections_stalled_total").await,
        0.0
    );
}

/// A client that sends its headers a line every 300 ms is closed at the header timeout; one
/// that sends a part of its body and stops gets 408 at the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let server = start(&[
        "--header-timeout-seconds",
        "1",
        "--body-timeout-seconds",
        "1",
    ])
    .await;
    let mut slow = connect(server.addr, LOCAL).await;
    slow.write_all(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = loop {
        tokio::select! {
            read = slow.read(&mut buf) => break read,
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                assert!(started.elapsed() < Duration::from_secs(10), "never closed");
                if slow.write_all(b"X-Drip: 1\r\n").await.is_err() {
                    break Ok(0);
                }
            }
        }
    };
    let after = started.elapsed();
    println!("slow headers: closed after {after:?} ({closed:?})");
    // Closed (EOF or reset), or told 408 and then closed.
    if let Ok(n) = closed {
        assert!(
            n == 0 || buf.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            &buf[..n]
        );
    }
    assert!(
        after < Duration::from_secs(4),
        "closed only after {after:?}"
    );

    let mut stuck = connect(server.addr, LOCAL).await;
    stuck
        .write_all(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \
              application/json\r\nContent-Length: 200\r\n\r\n{\"input\": \"Hel",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (status, head, rest) = read_head(&mut stuck).await;
    println!("stuck body: {status} after {:?}", started.elapsed());
    assert_eq!(status, 408, "{head}");
    assert!(String::from_utf8_lossy(&rest).contains("body_timeout") || head.contains("chunked"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// 50 readers crowd one task's `/stream` and read nothing: 8 are let in, 42 get 429. The 8
/// stall and are cut off; then a reader gets in, and `DELETE` ends the task: its reader sees
/// a broken transfer, and the worker is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_readers_is_capped_and_a_task_can_be_cancelled() {
    let server = start(&[
        "--max-task-readers",
        "8",
        "--stall-timeout-seconds",
        "2",
        "--rate-per-second",
        "0",
    ])
    .await;
    let base = &server.base;
    let created: Value = client()
        .post(format!("{base}/synthesize"))
        .json(&json!({ "text": corpus_text("en_long.txt") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["task_id"].as_str().unwrap().to_owned();
    let path = format!("/stream/{id}");
    let mut crowd = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let mut reader = connect(server.addr, OTHER).await;
        reader
            .write_all(&request("GET", &path, "127.0.0.1", None))
            .await
            .unwrap();
        let (status, head, _) = read_head(&mut reader).await;
        if status == 429 {
            assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
        }
        statuses.push(status);
        crowd.push(reader);
    }
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    println!("{admitted} readers let in, {refused} refused");
    assert_eq!((admitted, refused), (8, 42));

    // The 8 stall and are cut off: a well-behaved reader then gets in.
    let started = Instant::now();
    let mut reader = loop {
        let response = client().get(format!("{base}{path}")).send().await.unwrap();
        if response.status() == 200 {
            break response;
        }
        assert_eq!(response.status(), 429);
        assert!(started.elapsed() < Duration::from_secs(20), "never let in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("a reader got in after {:?}", started.elapsed());
    assert!(reader.chunk().await.unwrap().is_some());

    let deleted = client()
        .delete(format!("{base}/tasks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let ended = loop {
        match reader.chunk().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(ended.is_err(), "a cancelled task's stream ended cleanly");
    let status = client()
        .get(format!("{base}/status/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 404);
    let within = Duration::from_secs(20);
    wait_for_metric(base, "indextts_syntheses_running", within, |v| v == 0.0).await;
    wait_for_metric(base, "indextts_tasks", within, |v| v == 0.0).await;
}

/// One client floods: with a quota of 1, its first request runs and the rest are 429
/// (`client_quota`) while another client is served at once. `"priority": "high"` without the
/// operator's token is 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_gets_its_quota_and_priority_needs_the_token() {
    let server = start(&[
        "--workers",
        "2",
        "--client-quota",
        "1",
        "--rate-per-second",
        "0",
        "--priority-token",
        "op-token",
    ])
    .await;
    let base = &server.base;
    let story = corpus_text("en_long.txt");
    let mut flood = Vec::new();
    for _ in 0..5 {
        flood.push(speech(base, json!({ "input": story })).await);
    }
    let statuses: Vec<u16> = flood.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 429, 429, 429, 429]);
    let refused: Value = flood.pop().unwrap().json().await.unwrap();
    assert_eq!(refused["error"]["code"], "client_quota");

    let other = reqwest::Client::builder()
        .local_address(OTHER)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let started = Instant::now();
    let text = "Meanwhile, someone else is served.";
    let response = other
        .post(format!("{base}/v1/audio/speech"))
        .json(&json!({ "input": text, "response_format": "pcm" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let audio = pcm_audio(&response.bytes().await.unwrap(), 22_050);
    println!("the other client was served in {:?}", started.elapsed());
    check_speech("beside a flood", text, &audio, 22_050);

    for token in [None, Some("wrong")] {
        let mut post = other
            .post(format!("{base}/synthesize"))
            .json(&json!({ "text": "Me first.", "priority": "high" }));
        if let Some(token) = token {
            post = post.bearer_auth(token);
        }
        let response = post.send().await.unwrap();
        assert_eq!(response.status(), 403, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "priority_not_allowed");
    }
    drop(flood);
}

/// Clients that connect, start a synthesis and leave, over and over: never more pipelines
/// than streams, and all of them gone soon after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_at_once_leave_nothing_running() {
    let server = start(&["--streams", "2", "--rate-per-second", "0"]).await;
    let base = &server.base;
    let body = json!({ "input": corpus_text("en_paragraph.txt") });
    for _ in 0..12 {
        let mut stream = connect(server.addr, LOCAL).await;
        stream
            .write_all(&request(
                "POST",
                "/v1/audio/speech",
                "127.0.0.1",
                Some(&body),
            ))
            .await
            .unwrap();
        let (status, head, _) = read_head(&mut stream).await;
        assert_eq!(status, 200, "{head}");
        drop(stream);
        let pipelines = metric(base, "indextts_synthesis_pipelines_running").await;
        assert!(pipelines <= 2.0, "{pipelines} pipelines for 2 streams");
    }
    let within = Duration::from_secs(20);
    wait_for_metric(base, "indextts_streams_cancelled_total", within, |v| {
        v == 12.0
    })
    .await;
    wait_for_metric(base, "indextts_synthesis_pipelines_running", within, |v| {
        v == 0.0
    })
    .await;
    assert_eq!(metric(base, "indextts_syntheses_running").await, 0.0);
}

/// A full task store refuses (503) without creating a task or keeping a place in the queue;
/// task ids are random 128-bit hex, request ids random 64-bit hex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_task_store_creates_nothing_and_ids_are_random() {
    let server = start(&["--max-tasks", "1", "--rate-per-second", "0"]).await;
    let base = &server.base;
    let create = |text: &'static str| {
        client()
            .post(format!("{base}/synthesize"))
            .json(&json!({ "text": text }))
            .send()
    };
    let first = create("The first task.").await.unwrap();
    assert_eq!(first.status(), 202);
    let request_id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    let id = first["task_id"].as_str().unwrap().to_owned();
    let full = create("One too many.").await.unwrap();
    assert_eq!(full.status(), 503);
    let next_request_id = full.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(metric(base, "indextts_tasks").await, 1.0);
    assert_eq!(metric(base, "indextts_queue_depth").await, 0.0);

    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(hex(&id, 32), "task id {id:?}");
    assert!(hex(&request_id, 16) && hex(&next_request_id, 16));
    assert_ne!(request_id, next_request_id);

    let deleted = client()
        .delete(format!("{base}/tasks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = create("Room again.").await.unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_ne!(again["task_id"], first["task_id"]);
    assert!(hex(again["task_id"].as_str().unwrap(), 32));
}

/// A server on loopback answers only to loopback names and `--allowed-host`s (421 otherwise:
/// a DNS-rebinding page sends its own name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_server_answers_only_to_its_own_names() {
    let server = start(&["--allowed-host", "tts.example"]).await;
    for (host, expected) in [
        ("127.0.0.1", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("tts.example:8080", 200),
        ("tts.example", 200),
        ("evil.example", 421),
        ("evil.example:8080", 421),
        ("127.0.0.1.evil.example", 421),
        ("", 421),
    ] {
        let mut stream = connect(server.addr, LOCAL).await;
        stream
            .write_all(&request("GET", "/health", host, None))
            .await
            .unwrap();
        let (status, head, _) = read_head(&mut stream).await;
        assert_eq!(status, expected, "Host {host:?}: {head}");
    }
}

/// A synthesis that reaches the audio cap fails loudly: the speech body breaks off, a task's
/// `/events` ends with an `error` event, and its `/stream` once it has failed is a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audio_cap_ends_a_synthesis_with_an_error() {
    let server = start(&["--max-audio-seconds", "2", "--rate-per-second", "0"]).await;
    let base = &server.base;
    let text = corpus_text("en_paragraph.txt");
    let response = speech(base, json!({ "input": text })).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a capped body ended cleanly"
    );

    let created: Value = client()
        .post(format!("{base}/synthesize"))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["task_id"].as_str().unwrap();
    let events = client()
        .get(format!("{base}/events/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last_event = events
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("event: "))
        .unwrap();
    assert_eq!(last_event, "error", "{events}");
    assert!(events.contains("--max-audio-seconds"), "{events}");
    // Read after it failed: an error answer, not audio.
    let stream = client()
        .get(format!("{base}/stream/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 500);
    let body: Value = stream.json().await.unwrap();
    assert_eq!(body["error"]["code"], "synthesis_failed");
    assert!(metric(base, "indextts_syntheses_failed_total").await >= 2.0);
}

/// Two voices of one name are a start-up error, not one silently shadowing the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_voices_of_one_name_are_refused() {
    let error = try_start(&["--voice", "en_US-joe-medium,en_US-joe-medium"])
        .await
        .err()
        .expect("two voices of one name were accepted");
    assert!(error.to_string().contains("two voices"), "{error}");
}

/// 50 readers of one long, finished task (a paragraph four times at half speed: 3 minutes of
/// audio, ~8 MB of PCM) connect and never read. Each holds at most a 64 KiB slice and its
/// socket's buffer, so the server's RSS (its own process, measured from outside) grows by
/// tens of MiB at most; when each reader copied the task's audio so far, it was 50 copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_readers_that_never_read_hold_bounded_memory() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::new(LOCAL, port);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_indextts-server"))
        .args(["--bind", &addr.to_string(), "--threads", "2"])
        .args(["--max-task-readers", "64", "--stall-timeout-seconds", "120"])
        .args(["--rate-per-second", "0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let base = format!("http://{addr}");
    let started = Instant::now();
    while client().get(format!("{base}/health")).send().await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let child = Kill(child);
    let text = vec![corpus_text("en_paragraph.txt"); 4].join(" ");
    let created: Value = client()
        .post(format!("{base}/synthesize"))
        .json(&json!({ "text": text, "speed": 0.5 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["task_id"].as_str().unwrap().to_owned();
    let audio_seconds = loop {
        let status: Value = client()
            .get(format!("{base}/status/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "done" {
            break status["audio_seconds"].as_f64().unwrap();
        }
        assert!(status["state"] != "failed", "{status}");
        assert!(started.elapsed() < Duration::from_secs(120), "never done");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let pcm_mib = audio_seconds * 22_050.0 * 2.0 / (1 << 20) as f64;
    let rss_kib = |pid: u32| indextts::testkit::proc_status_kib(&pid.to_string(), "VmRSS");
    let before = rss_kib(pid);
    let mut crowd = Vec::new();
    for _ in 0..50 {
        let mut reader = connect(addr, LOCAL).await;
        reader
            .write_all(&request("GET", &format!("/stream/{id}"), "127.0.0.1", None))
            .await
            .unwrap();
        crowd.push(reader);
    }
    let mut peak = before;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kib(pid));
    }
    let grew_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    println!(
        "50 non-reading readers of a {audio_seconds:.0} s task ({pcm_mib:.1} MiB of PCM): server RSS \
         {:.0} -> {:.0} MiB (+{grew_mib:.1} MiB; 50 copies would be {:.0} MiB)",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        50.0 * pcm_mib
    );
    assert!(
        pcm_mib > 6.0,
        "the task is not long enough to tell ({pcm_mib:.1} MiB)"
    );
    assert!(
        grew_mib < 40.0,
        "50 stalled readers grew the server by {grew_mib:.1} MiB"
    );
    drop(crowd);
    drop(child);
}
