//! `indextts-server` on a loopback port, with the real voice: every endpoint, real audio
//! checked, bad requests, limits, a client that disconnects, and SIGTERM.
#![cfg(feature = "server")]

mod common;

use std::time::{Duration, Instant};

use common::http::{client, metric, pcm_audio, speech, start, wav_audio};
use common::{check_speech, corpus_lines, corpus_text, stats};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_streams_real_audio_as_wav_and_pcm() {
    let server = start(&[]).await;
    let text = corpus_text("en_paragraph.txt");
    let started = Instant::now();
    let mut response = speech(&server.base, json!({"model": "tts-1", "input": text})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    assert!(
        response.content_length().is_none(),
        "the body must be chunked"
    );
    let mut wav = Vec::new();
    let mut chunks = 0;
    let mut first = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first.get_or_insert_with(|| started.elapsed());
        wav.extend_from_slice(&chunk);
        chunks += 1;
    }
    let total = started.elapsed();
    println!("{chunks} chunks; first after {first:?}, all after {total:?}");
    assert!(
        chunks > 3,
        "the paragraph came in {chunks} chunks: not streamed"
    );
    let audio = wav_audio(&wav);
    check_speech("wav", &text, &audio, 22_050);

    // The same text as raw PCM: the same samples (each sentence seeds its own draws).
    let pcm = speech(
        &server.base,
        json!({"input": text, "response_format": "pcm"}),
    )
    .await;
    assert_eq!(pcm.status(), 200);
    assert_eq!(pcm.headers()["x-sample-rate"], "22050");
    assert_eq!(
        pcm.headers()["content-type"],
        "audio/pcm; rate=22050; channels=1; format=s16le"
    );
    let pcm = pcm.bytes().await.unwrap();
    assert_eq!(pcm_audio(&pcm, 22_050).samples, audio.samples);

    // Faster speech is shorter.
    let fast = speech(&server.base, json!({"input": text, "speed": 1.5})).await;
    let fast = wav_audio(&fast.bytes().await.unwrap());
    let ratio = fast.samples.len() as f64 / audio.samples.len() as f64;
    println!("speed 1.5: {ratio:.2} of the length");
    assert!(
        ratio > 0.55 && ratio < 0.8,
        "speed 1.5 gave {ratio:.2} of the length"
    );

    assert_eq!(
        metric(&server.base, "indextts_streams_completed_total").await,
        3.0
    );
    assert_eq!(
        metric(&server.base, "indextts_time_to_first_audio_seconds_count").await,
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let server = start(&["--max-text-bytes", "2000"]).await;
    let base = &server.base;
    let raw = |body: &'static str| {
        client()
            .post(format!("{base}/v1/audio/speech"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (raw("{not json").await.unwrap(), 400, "invalid_request"),
        (
            raw(r#"{"inpt": "x"}"#).await.unwrap(),
            422,
            "invalid_request",
        ),
        (speech(base, json!({"input": ""})).await, 400, "empty_text"),
        (
            speech(base, json!({"input": " \n\t"})).await,
            400,
            "empty_text",
        ),
        (
            speech(base, json!({"input": "a ".repeat(1001)})).await,
            413,
            "text_too_long",
        ),
        (
            speech(base, json!({"input": "Hi.", "voice": "nobody"})).await,
            400,
            "unknown_voice",
        ),
        (
            speech(base, json!({"input": "Hi.", "speed": 0})).await,
            400,
            "invalid_speed",
        ),
        (
            speech(base, json!({"input": "Hi.", "speed": 9})).await,
            400,
            "invalid_speed",
        ),
        (
            speech(base, json!({"input": "Hi.", "response_format": "mp3"})).await,
            400,
            "unsupported_format",
        ),
        (
            speech(base, json!({"input": "Hi.", "timestamps": true})).await,
            400,
            "timestamps_need_sse",
        ),
        (
            speech(
                base,
                json!({"input": "<speak>Hi <break time=\"x\"/></speak>"}),
            )
            .await,
            400,
            "invalid_ssml",
        ),
        (
            client()
                .get(format!("{base}/status/nope"))
                .send()
                .await
                .unwrap(),
            404,
            "unknown_task",
        ),
        (
            client()
                .get(format!("{base}/stream/nope"))
                .send()
                .await
                .unwrap(),
            404,
            "unknown_task",
        ),
        (
            client()
                .post(format!("{base}/synthesize"))
                .json(&json!({"text": ""}))
                .send()
                .await
                .unwrap(),
            400,
            "empty_text",
        ),
    ];
    for (response, status, code) in cases {
        assert_eq!(response.status().as_u16(), status, "expected {code}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let health: Value = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(metric(base, "indextts_http_errors_total").await >= 12.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_report_progress_and_stream_to_late_listeners() {
    let server = start(&["--priority-token", "s3cret"]).await;
    let base = &server.base;
    let text = corpus_text("en_paragraph.txt");
    let created = client()
        .post(format!("{base}/synthesize"))
        .bearer_auth("s3cret")
        .json(&json!({"text": text, "priority": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.unwrap();
    let id = created["task_id"].as_str().unwrap().to_owned();

    // Attached while the task runs: what is done, then the rest as it comes.
    let early = tokio::spawn({
        let url = format!("{base}/stream/{id}");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    });
    // The events end with the final status.
    let events = client()
        .get(format!("{base}/events/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // (event name, data) pairs: `words` events, each before the status it came with.
    let mut named: Vec<(String, Value)> = Vec::new();
    let mut name = String::new();
    for line in events.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            named.push((std::mem::take(&mut name), serde_json::from_str(d).unwrap()));
        }
    }
    let statuses: Vec<&Value> = named
        .iter()
        .filter(|(n, _)| n == "status")
        .map(|(_, v)| v)
        .collect();
    let words: Vec<&Value> = named
        .iter()
        .filter(|(n, _)| n == "words")
        .flat_map(|(_, v)| v["words"].as_array().unwrap())
        .collect();
    let last = statuses.last().unwrap();
    println!(
        "{} status events, {} words events; last {last}",
        statuses.len(),
        named.len() - statuses.len()
    );
    // Word progress: every word of the text once, in order, pointing at itself.
    assert_eq!(words.len(), text.split_whitespace().count());
    assert_eq!(last["words_done"].as_u64().unwrap(), words.len() as u64);
    let mut end = 0.0;
    for w in &words {
        let (from, to) = (
            w["text_start"].as_u64().unwrap(),
            w["text_end"].as_u64().unwrap(),
        );
        assert_eq!(w["word"], text[from as usize..to as usize], "{w}");
        assert!(
            w["start"].as_f64().unwrap() >= end,
            "{w} before the word ahead of it ended"
        );
        end = w["end"].as_f64().unwrap();
    }
    for pair in named.windows(2) {
        if pair[0].0 == "words" {
            assert_eq!(pair[1].0, "status", "a words event comes with a status");
        }
    }
    assert_eq!(last["state"], "done");
    let total = last["progress"]["sentences_total"].as_u64().unwrap();
    assert!(total >= 4);
    assert_eq!(last["progress"]["sentences_done"].as_u64().unwrap(), total);

    let status: Value = client()
        .get(format!("{base}/status/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "done");
    let late = client()
        .get(format!("{base}/stream/{id}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let early = early.await.unwrap();
    assert_eq!(
        early, late,
        "a listener during the task and one after it got different audio"
    );
    let audio = wav_audio(&late);
    check_speech("task", &text, &audio, 22_050);
    let seconds = status["audio_seconds"].as_f64().unwrap();
    assert!((seconds - audio.duration_seconds()).abs() < 1e-3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_its_synthesis() {
    let server = start(&["--workers", "1"]).await;
    let story = corpus_text("en_long.txt");
    let mut response = speech(&server.base, json!({"input": story})).await;
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    // Cancelled, its pipeline's threads joined, and only then its worker freed: within one
    // model run (a sentence of the story takes well under a second here).
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&server.base, "indextts_streams_cancelled_total").await < 1.0
        || metric(&server.base, "indextts_syntheses_running").await > 0.0
        || metric(&server.base, "indextts_synthesis_pipelines_running").await > 0.0
    {
        assert!(Instant::now() < deadline, "the synthesis was not cancelled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = speech(&server.base, json!({"input": "Still here."})).await;
    assert_eq!(next.status(), 200);
    let next = wav_audio(&next.bytes().await.unwrap());
    check_speech("after a cancel", "Still here.", &next, 22_050);
    assert_eq!(
        metric(&server.base, "indextts_streams_completed_total").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_and_a_fast_client_is_429() {
    let server = start(&[
        "--workers",
        "1",
        "--streams",
        "1",
        "--queue-size",
        "0",
        "--rate-per-second",
        "1",
        "--rate-burst",
        "2",
    ])
    .await;
    let story = corpus_text("en_long.txt");
    let mut busy = speech(&server.base, json!({"input": story})).await;
    assert_eq!(busy.status(), 200);
    assert!(busy.chunk().await.unwrap().is_some());
    let refused = speech(&server.base, json!({"input": "Hello."})).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    let task = client()
        .post(format!("{}/synthesize", server.base))
        .json(&json!({"text": "Hello."}))
        .send()
        .await
        .unwrap();
    // Over the burst of 2: the rate limit answers before the queue does.
    assert_eq!(task.status(), 429);
    assert!(task.headers().contains_key("retry-after"));
    drop(busy);
}

/// The binary itself: SIGTERM stops new connections, lets the in-flight stream finish, exits 0.
#[test]
fn sigterm_lets_in_flight_streams_finish_then_exits_cleanly() {
    let (mut child, base) =
        common::http::spawn_server(&["--bind", "127.0.0.1:0", "--threads", "2"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let text = corpus_lines("en_sentences.txt").join(" ");
        let mut response = speech(&base, json!({"input": text})).await;
        assert_eq!(response.status(), 200);
        let mut wav = response.chunk().await.unwrap().unwrap().to_vec();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
        // No new connections...
        let refused = client().get(format!("{base}/health")).send().await;
        assert!(
            refused.is_err(),
            "a new connection was accepted after SIGTERM"
        );
        // ...but the stream in flight runs to its end.
        while let Some(chunk) = response.chunk().await.unwrap() {
            wav.extend_from_slice(&chunk);
        }
        check_speech("after SIGTERM", &text, &wav_audio(&wav), 22_050);
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_speaks_english_and_mandarin_by_voice_name() {
    let server = start(&["--voice", "en_US-joe-medium,zh_CN-baker-fastspeech2"]).await;
    let voices: Value = client()
        .get(format!("{}/voices", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = voices.to_string();
    assert!(
        listed.contains("en_US-joe-medium") && listed.contains("zh_CN-baker-fastspeech2"),
        "{listed}"
    );
    let text = "你好，欢迎收听今天的节目。";
    let response = speech(
        &server.base,
        json!({"input": text, "voice": "zh_CN-baker-fastspeech2", "response_format": "pcm"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let audio = pcm_audio(&response.bytes().await.unwrap(), 24_000);
    // 11 characters at 4.5 a second, at the Mandarin voice's 24 kHz.
    let s = stats(&audio);
    assert!((1.2..5.0).contains(&s.seconds), "{:.2} s", s.seconds);
    assert!(s.rms > 0.02, "RMS {}", s.rms);
}

/// A Kokoro voice serves all its voice packs by name, and blends of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kokoro_voice_serves_its_packs_and_blends_by_name() {
    let server = start(&["--voice", "af_heart"]).await;
    let voices: Value = client()
        .get(format!("{}/voices", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &voices["voices"][0];
    assert_eq!(entry["name"], "af_heart");
    assert_eq!(entry["sample_rate"], 24_000);
    assert_eq!(entry["speakers"].as_array().unwrap().len(), 54, "{entry}");
    let text = "Ships passing in the night relied on its steady beam.";
    let mut heard = Vec::new();
    for voice in ["af_heart", "am_adam", "af_heart:0.6,am_adam:0.4"] {
        let response = speech(
            &server.base,
            json!({"input": text, "voice": voice, "response_format": "pcm"}),
        )
        .await;
        assert_eq!(response.status(), 200, "{voice}");
        let audio = pcm_audio(&response.bytes().await.unwrap(), 24_000);
        check_speech(voice, text, &audio, 24_000);
        heard.push(audio.samples);
    }
    assert_ne!(heard[0], heard[1], "another pack, the same audio");
    assert_ne!(
        heard[1], heard[2],
        "a blend, the same audio as one of its packs"
    );
    let response = speech(
        &server.base,
        json!({"input": text, "voice": "af_heart:0.5,xx_none:0.5"}),
    )
    .await;
    assert_eq!(response.status(), 400);
    // Mandarin to an English Kokoro voice: a 400 naming the character, before any audio.
    let response = speech(&server.base, json!({"input": "你好，欢迎收听。"})).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_text", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+4F60"),
        "{body}"
    );
}

/// Threads follow the load by default: four clients at once get their speech from one-thread
/// sessions (counted in `/metrics`), as long as a lone request's; `--fixed-threads` makes none.
/// (Samples are not compared: the server grows a busy stream's first window, which moves its
/// window joins; tests/streaming.rs compares them without that.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_requests_run_on_one_thread_sessions_unless_threads_are_fixed() {
    let texts: Vec<String> = corpus_lines("en_sentences.txt")
        .into_iter()
        .take(4)
        .collect();
    for (flags, follows) in [(&[][..], true), (&["--fixed-threads"][..], false)] {
        let mut args = vec!["--cache-bytes", "0"];
        args.extend_from_slice(flags);
        let server = start(&args).await;
        let pcm = |text: String| {
            let base = server.base.clone();
            async move {
                let response =
                    speech(&base, json!({"input": text, "response_format": "pcm"})).await;
                assert_eq!(response.status(), 200);
                pcm_audio(&response.bytes().await.unwrap(), 22_050)
            }
        };
        let mut alone = Vec::new();
        for text in &texts {
            alone.push(pcm(text.clone()).await);
        }
        assert_eq!(
            metric(&server.base, "indextts_one_thread_sessions").await,
            0.0
        );
        let together =
            futures_util::future::join_all(texts.iter().map(|text| pcm(text.clone()))).await;
        for ((text, a), b) in texts.iter().zip(&alone).zip(&together) {
            check_speech("overlapping", text, b, 22_050);
            assert_eq!(a.samples.len(), b.samples.len(), "{text}");
        }
        let made = metric(&server.base, "indextts_one_thread_sessions").await;
        assert_eq!(made > 0.0, follows, "{flags:?}: {made} one-thread sessions");
    }
}
