//! `GET /v1/audio/speech/stream` (WebSocket): text that arrives while the audio plays, as a
//! voice assistant sends a language model's answer. One synthesis per socket.
//!
//! - The query picks the voice and pace: `?voice=NAME&speed=1.2` (as `/v1/audio/speech`).
//! - The client sends text frames: `{"text": "..."}` (any piece, a token or half a word),
//!   `{"flush": true}` (speak what was sent so far now), `{"finish": true}` (the text is
//!   complete; closing the socket's sending side does the same).
//! - The server sends `{"type": "start", "sample_rate": R, "format": "s16le"}`, then binary
//!   frames of 16-bit little-endian mono PCM as each sentence (or, while the listener would
//!   wait, each clause) is made, `{"type": "sentence_end", "sentence": N, "end_sample": S}`
//!   after each sentence, and `{"type": "done", "samples": S}`; then it closes (1000).
//! - Before the audio a word starts in: `{"type": "words", "sentence": N, "words": [{"word",
//!   "start", "end", "text_start", "text_end"}]}` (seconds from the first sample of the
//!   socket's audio; byte ranges into all the text sent), for voices whose model gives
//!   durations (all shipped ones).
//! - Errors are `{"type": "error", "code": ..., "message": ...}`, then a close: 1008 (policy)
//!   for a malformed message, text over the size cap or an idle socket, 1011 for a failed
//!   synthesis, 1013 (try again later) when the server is busy.
//!
//! Limits are the HTTP endpoints': the worker pool, its queue and the per-client quota (the
//! socket waits for a worker before `start`), the text size cap over the whole socket, the
//! audio cap, and the stall timeout (the socket's writes go through the same guard as every
//! response's). A socket with no message and no audio for `--body-timeout-seconds` is closed.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::admission::Priority;
use super::{ApiError, App, Client};
use crate::{AsyncAudioStream, TextSink};

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const POLICY: u16 = 1008;
const INTERNAL: u16 = 1011;
const TRY_AGAIN: u16 = 1013;

/// The query of the upgrade request.
#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    /// A voice (as `/v1/audio/speech` takes it); default: the server's first voice.
    #[serde(default)]
    voice: Option<String>,
    /// 0.25 to 4.0.
    #[serde(default)]
    speed: Option<f32>,
}

/// What a client frame asks for.
#[derive(Debug, Deserialize)]
struct ClientMessage {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    flush: bool,
    #[serde(default)]
    finish: bool,
}

/// The upgrade: voice and speed are checked before it (a 400 is an ordinary answer).
pub(super) async fn speech_stream(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (synth, speaker) = app.voice(query.voice.as_deref())?;
    let synth = synth.clone();
    // Options as a one-word text would get them (the text itself comes later).
    let options = super::options_for(&app, &synth, "x", query.speed, speaker)?;
    Ok(upgrade
        .max_message_size(app.config.max_text_bytes + 1024)
        .on_upgrade(move |socket| session(socket, app, client, synth, options)))
}

/// Send an error event and close with `code`.
async fn fail(socket: &mut WebSocket, code: u16, kind: &str, message: &str) {
    let event = json!({ "type": "error", "code": kind, "message": message });
    let _ = socket.send(Message::Text(event.to_string().into())).await;
    let reason = message.chars().take(100).collect::<String>();
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

async fn session(
    mut socket: WebSocket,
    app: Arc<App>,
    client: IpAddr,
    synth: crate::Synthesizer,
    options: crate::SynthesisOptions,
) {
    let ticket = match app.admit(client, &HeaderMap::new(), Priority::Normal) {
        Ok(ticket) => ticket,
        Err(refused) => return fail(&mut socket, TRY_AGAIN, refused.code, &refused.message).await,
    };
    let Some(permit) = ticket.wait().await else {
        return fail(
            &mut socket,
            TRY_AGAIN,
            "busy",
            "the server is shutting down",
        )
        .await;
    };
    let (sink, audio) = match synth.text_stream_async_holding(&options, permit) {
        Ok(pair) => pair,
        Err(e) => return fail(&mut socket, INTERNAL, "synthesis_failed", &e.to_string()).await,
    };
    let start = json!({ "type": "start", "sample_rate": synth.sample_rate(), "format": "s16le" });
    if socket
        .send(Message::Text(start.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let idle = Duration::from_secs(app.config.body_timeout_seconds.max(1));
    let max_samples = app.max_samples(synth.sample_rate());
    let mut run = Run {
        sink: Some(sink),
        text_bytes: 0,
        samples: 0,
        started: Instant::now(),
        first_audio: false,
    };
    let outcome = run.pump(&mut socket, audio, &app, idle, max_samples).await;
    match outcome {
        Outcome::Done => {
            app.metrics
                .streams_completed
                .fetch_add(1, Ordering::Relaxed);
            let seconds = run.samples as f64 / f64::from(synth.sample_rate().max(1));
            app.metrics
                .audio_micros
                .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
            let done = json!({ "type": "done", "samples": run.samples });
            let _ = socket.send(Message::Text(done.to_string().into())).await;
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: NORMAL,
                    reason: "done".into(),
                })))
                .await;
        }
        Outcome::Fail(code, kind, message) => {
            if code == INTERNAL {
                app.metrics.syntheses_failed.fetch_add(1, Ordering::Relaxed);
            }
            fail(&mut socket, code, kind, &message).await;
        }
        Outcome::Gone => {
            app.metrics
                .streams_cancelled
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How a socket's synthesis ended.
enum Outcome {
    Done,
    Fail(u16, &'static str, String),
    Gone,
}

/// One socket's synthesis in progress.
struct Run {
    sink: Option<TextSink>,
    text_bytes: usize,
    samples: u64,
    started: Instant,
    first_audio: bool,
}

impl Run {
    /// Take the client's messages and send the audio until the synthesis ends.
    async fn pump(
        &mut self,
        socket: &mut WebSocket,
        mut audio: AsyncAudioStream,
        app: &App,
        idle: Duration,
        max_samples: u64,
    ) -> Outcome {
        use futures_core::Stream as _;
        let mut client_open = true;
        loop {
            let next_chunk =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut audio).poll_next(cx));
            tokio::select! {
                message = socket.recv(), if client_open => match message {
                    None | Some(Err(_)) => return Outcome::Gone,
                    Some(Ok(Message::Close(_))) => {
                        // The client is done sending: what it sent is spoken.
                        client_open = false;
                        self.sink.take();
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Err(outcome) = self.take(text.as_str(), app) {
                            return outcome;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return Outcome::Fail(POLICY, "invalid_message", "send text frames (JSON), not binary".into());
                    }
                    Some(Ok(_)) => {}
                },
                chunk = next_chunk => match chunk {
                    None => return Outcome::Done,
                    Some(Err(e)) => return Outcome::Fail(INTERNAL, "synthesis_failed", e.to_string()),
                    Some(Ok(chunk)) => {
                        if !self.first_audio {
                            self.first_audio = true;
                            app.metrics.time_to_first_audio(self.started.elapsed());
                        }
                        self.samples += chunk.samples.len() as u64;
                        if self.samples > max_samples {
                            return Outcome::Fail(POLICY, "audio_cap", super::audio_cap_error(app));
                        }
                        // The words that start in this audio, just before it.
                        if !chunk.words.is_empty() {
                            let words = json!({
                                "type": "words",
                                "sentence": chunk.sentence,
                                "words": super::words_json(&chunk.words, chunk.sample_rate),
                            });
                            if socket.send(Message::Text(words.to_string().into())).await.is_err() {
                                return Outcome::Gone;
                            }
                        }
                        let mut pcm = Vec::with_capacity(chunk.samples.len() * 2);
                        super::pcm_bytes(chunk.samples.iter().map(|&s| crate::sample_to_i16(s)), &mut pcm);
                        if socket.send(Message::Binary(pcm.into())).await.is_err() {
                            return Outcome::Gone;
                        }
                        if chunk.sentence_end {
                            let end = json!({
                                "type": "sentence_end",
                                "sentence": chunk.sentence,
                                "end_sample": chunk.start_sample + chunk.samples.len() as u64,
                            });
                            if socket.send(Message::Text(end.to_string().into())).await.is_err() {
                                return Outcome::Gone;
                            }
                        }
                    }
                },
                () = tokio::time::sleep(idle), if self.sink.is_some() => {
                    return Outcome::Fail(POLICY, "idle", format!("no text and no audio for {idle:?}"));
                }
            }
        }
    }

    /// One client text frame.
    fn take(&mut self, frame: &str, app: &App) -> Result<(), Outcome> {
        let message: ClientMessage = serde_json::from_str(frame).map_err(|e| {
            Outcome::Fail(
                POLICY,
                "invalid_message",
                format!("a message is a JSON object such as {{\"text\": \"...\"}}: {e}"),
            )
        })?;
        let Some(sink) = self.sink.as_mut() else {
            return Err(Outcome::Fail(
                POLICY,
                "finished",
                "the text was already finished".into(),
            ));
        };
        if let Some(text) = &message.text {
            self.text_bytes += text.len();
            if self.text_bytes > app.config.max_text_bytes {
                return Err(Outcome::Fail(
                    POLICY,
                    "text_too_long",
                    format!(
                        "the text sent passed this server's {} bytes per request",
                        app.config.max_text_bytes
                    ),
                ));
            }
            if sink.push(text).is_err() {
                return Err(Outcome::Gone);
            }
        }
        if message.flush && sink.flush().is_err() {
            return Err(Outcome::Gone);
        }
        if message.finish {
            self.sink.take();
        }
        Ok(())
    }
}
