//! `GET /v1/audio/speech/stream` (WebSocket) with the real voice: text sent in pieces while the
//! audio comes back, events in order, and the limits: bad frames, text over the cap, idleness.
#![cfg(feature = "server")]

mod common;

use std::time::{Duration, Instant};

use common::http::start;
use common::{check_speech, corpus_lines};
use futures_util::{SinkExt, StreamExt};
use indextts::Audio;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn connect(
    base: &str,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}/v1/audio/speech/stream{query}",
        base.replace("http://", "ws://")
    );
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// What the server sent until it closed: PCM, the JSON events, the close code, and when the
/// first audio came.
async fn read_all(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (Vec<u8>, Vec<Value>, Option<u16>, Option<Instant>) {
    let (mut pcm, mut events, mut first) = (Vec::new(), Vec::new(), None);
    while let Some(message) = tokio::time::timeout(Duration::from_secs(60), socket.next())
        .await
        .expect("nothing for 60 s")
    {
        match message.unwrap() {
            Message::Binary(bytes) => {
                first.get_or_insert_with(Instant::now);
                pcm.extend_from_slice(&bytes);
            }
            Message::Text(text) => events.push(serde_json::from_str(&text).unwrap()),
            Message::Close(frame) => return (pcm, events, frame.map(|f| u16::from(f.code)), first),
            _ => {}
        }
    }
    (pcm, events, None, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_sent_in_pieces_comes_back_as_audio_while_it_is_sent() {
    let server = start(&["--rate-per-second", "0"]).await;
    let text = corpus_lines("en_sentences.txt")[..2].join(" ");
    let socket = connect(&server.base, "?voice=en_US-joe-medium").await;
    let (mut tx, mut rx) = socket.split();
    let sender = {
        let text = text.clone();
        tokio::spawn(async move {
            for (i, word) in text.split(' ').enumerate() {
                let piece = if i == 0 {
                    word.to_owned()
                } else {
                    format!(" {word}")
                };
                let frame = json!({ "text": piece }).to_string();
                tx.send(Message::Text(frame.into())).await.unwrap();
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            tx.send(Message::Text(json!({ "finish": true }).to_string().into()))
                .await
                .unwrap();
            (tx, Instant::now())
        })
    };
    let (mut pcm, mut events, mut first, mut close) = (Vec::new(), Vec::new(), None, None);
    while let Some(message) = rx.next().await {
        match message.unwrap() {
            Message::Binary(bytes) => {
                first.get_or_insert_with(Instant::now);
                pcm.extend_from_slice(&bytes);
            }
            Message::Text(text) => {
                let mut event = serde_json::from_str::<Value>(&text).unwrap();
                // The audio that had come when the event did, in seconds.
                event["heard"] = (pcm.len() as f64 / 2.0 / 22_050.0).into();
                events.push(event);
            }
            Message::Close(frame) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    let (_tx, sent_all) = sender.await.unwrap();
    // Word marks: every word once, in order, each sent before the audio it starts in.
    let words: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "words")
        .flat_map(|e| {
            let heard = e["heard"].as_f64().unwrap();
            let words = e["words"].as_array().unwrap();
            for w in words {
                assert!(
                    w["start"].as_f64().unwrap() + 0.001 >= heard,
                    "{w} came after its audio"
                );
            }
            words
        })
        .collect();
    assert_eq!(words.len(), text.split_whitespace().count(), "{words:?}");
    for w in &words {
        let (from, to) = (
            w["text_start"].as_u64().unwrap(),
            w["text_end"].as_u64().unwrap(),
        );
        assert_eq!(w["word"], text[from as usize..to as usize], "{w}");
    }
    assert_eq!(close, Some(1000));
    assert_eq!(events[0]["type"], "start");
    assert_eq!(events[0]["sample_rate"], 22050);
    assert_eq!(events.last().unwrap()["type"], "done");
    let sentence_ends = events
        .iter()
        .filter(|e| e["type"] == "sentence_end")
        .count();
    assert!(sentence_ends >= 2, "{events:?}");
    let first = first.expect("no audio");
    println!(
        "first audio {:?} before the last piece was sent",
        sent_all.saturating_duration_since(first)
    );
    assert!(first < sent_all, "no audio before the text was complete");
    let samples: Vec<f32> = pcm
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_eq!(events.last().unwrap()["samples"], samples.len());
    let audio = Audio {
        samples,
        sample_rate: 22_050,
        ..Audio::default()
    };
    check_speech("websocket", &text, &audio, 22_050);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_oversize_text_and_idle_sockets_are_closed_with_a_reason() {
    let server = start(&[
        "--rate-per-second",
        "0",
        "--max-text-bytes",
        "64",
        "--body-timeout-seconds",
        "1",
    ])
    .await;
    for (what, frames, code, kind) in [
        (
            "not JSON",
            vec![Message::Text("hello".into())],
            1008,
            "invalid_message",
        ),
        (
            "binary",
            vec![Message::Binary(vec![1, 2].into())],
            1008,
            "invalid_message",
        ),
        (
            "over the cap",
            vec![
                Message::Text(json!({ "text": "a".repeat(40) }).to_string().into()),
                Message::Text(json!({ "text": "b".repeat(40) }).to_string().into()),
            ],
            1008,
            "text_too_long",
        ),
        ("idle", vec![], 1008, "idle"),
    ] {
        let mut socket = connect(&server.base, "").await;
        for frame in frames {
            socket.send(frame).await.unwrap();
        }
        let started = Instant::now();
        let (_, events, close, _) = read_all(&mut socket).await;
        let error = events.iter().find(|e| e["type"] == "error");
        println!(
            "{what}: {error:?} close {close:?} after {:?}",
            started.elapsed()
        );
        assert_eq!(close, Some(code), "{what}");
        assert_eq!(error.unwrap()["code"], kind, "{what}");
    }
    // A bad voice is refused before the upgrade: an ordinary 400.
    let url = format!(
        "{}/v1/audio/speech/stream?voice=nobody",
        server.base.replace("http://", "ws://")
    );
    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 400),
        "{refused:?}"
    );
}
