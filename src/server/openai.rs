//! What OpenAI's clients send and expect of `POST /v1/audio/speech`, beyond the speech itself:
//! model names, OpenAI's voice names, the response and stream formats, and the listings
//! `GET /v1/models` and `GET /v1/audio/voices`. Tested with the official `openai` Python
//! package (`tests/python/test_openai.py`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use futures_core::Stream;

use super::{ApiError, App};

/// Model names a request may give: OpenAI's speech models and our own name, all meaning "the
/// voice decides" (the voice names the family and its model).
pub(super) const MODELS: [&str; 6] = [
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-03-20",
    "gpt-4o-mini-tts-2025-12-15",
    "indextts",
];

/// OpenAI's voice names, which existing code sends; each maps to one of the server's voices
/// (`--openai-voice NAME=VOICE`, else the server's default voice).
pub(super) const OPENAI_VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
    "shimmer", "verse",
];

/// Check a request's `model`: absent, one of [`MODELS`], or a voice's own name.
pub(super) fn check_model(app: &App, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        None => Ok(()),
        Some(m) if MODELS.contains(&m) || app.voices.contains_key(m) => Ok(()),
        Some(m) => Err(ApiError {
            param: Some("model"),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "model_not_found",
                format!(
                    "model {m:?} is not served here; use one of {} (all speak with the voice \
                     you choose)",
                    MODELS.join(", ")
                ),
            )
        }),
    }
}

/// The server voice an OpenAI voice name stands for, if `name` is one.
pub(super) fn mapped_voice<'a>(app: &'a App, name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    if !OPENAI_VOICES.contains(&name.as_str()) {
        return None;
    }
    let mapped = app
        .config
        .openai_voices
        .iter()
        .find_map(|pair| pair.split_once('=').filter(|(from, _)| *from == name))
        .map(|(_, to)| to);
    Some(mapped.unwrap_or(&app.default_voice))
}

/// What the audio is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// A WAV header declaring an unbounded length, then 16-bit PCM.
    Wav,
    /// 16-bit little-endian mono PCM at the voice's rate.
    Pcm,
}

/// `response_format`: `wav` (our default) or `pcm`; OpenAI's compressed formats are refused
/// with the error body OpenAI's clients read (no encoder for them is built in).
pub(super) fn format(response_format: Option<&str>) -> Result<Format, ApiError> {
    match response_format.unwrap_or("wav") {
        "wav" => Ok(Format::Wav),
        "pcm" => Ok(Format::Pcm),
        other => Err(ApiError {
            param: Some("response_format"),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_format",
                format!(
                    "response_format {other:?} is not supported by this server: use \"wav\" or \
                     \"pcm\" (16-bit little-endian mono at the voice's sample rate)"
                ),
            )
        }),
    }
}

/// `stream_format`: `audio` (default: the audio bytes as the body) or `sse` (OpenAI's
/// `speech.audio.delta` / `speech.audio.done` events).
pub(super) fn is_sse(stream_format: Option<&str>) -> Result<bool, ApiError> {
    match stream_format.unwrap_or("audio") {
        "audio" => Ok(false),
        "sse" => Ok(true),
        other => Err(ApiError {
            param: Some("stream_format"),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_stream_format",
                format!("stream_format {other:?}: use \"audio\" or \"sse\""),
            )
        }),
    }
}

/// An audio body as OpenAI's server-sent events: each piece of audio a
/// `{"type": "speech.audio.delta", "audio": BASE64}` event, then
/// `{"type": "speech.audio.done", "usage": ...}`; a failure is an `error` event, then the end.
/// With timestamps, a delta also has `start` (the chunk's first sample, in seconds) and
/// `words`.
pub(super) struct SseAudio {
    audio: super::AudioBody,
    input_tokens: usize,
    sample_rate: u32,
    done: bool,
}

impl SseAudio {
    pub fn new(audio: super::AudioBody, input: &str, sample_rate: u32) -> Self {
        SseAudio {
            audio,
            // No tokenizer here: words are what a client can count and compare.
            input_tokens: input.split_whitespace().count(),
            sample_rate,
            done: false,
        }
    }
}

fn event(value: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

impl Stream for SseAudio {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(match Pin::new(&mut this.audio).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                let mut delta = serde_json::json!({
                    "type": "speech.audio.delta",
                    "audio": base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
                if let Some((start, words)) = this.audio.take_words() {
                    delta["start"] = super::seconds(start, this.sample_rate).into();
                    delta["words"] = super::words_json(&words, this.sample_rate);
                }
                event(&delta)
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                event(&serde_json::json!({
                    "type": "error",
                    "error": { "message": error.to_string(), "type": "server_error" },
                }))
            }
            Poll::Ready(None) => {
                this.done = true;
                event(&serde_json::json!({
                    "type": "speech.audio.done",
                    "usage": {
                        "input_tokens": this.input_tokens,
                        "output_tokens": 0,
                        "total_tokens": this.input_tokens,
                    },
                }))
            }
        })))
    }
}

/// `GET /v1/models`: OpenAI's model list, with the speech model names this server takes.
pub(super) async fn models() -> Json<serde_json::Value> {
    let data: Vec<_> = MODELS
        .iter()
        .map(|id| {
            serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "indextts" })
        })
        .collect();
    Json(serde_json::json!({ "object": "list", "data": data }))
}

/// `GET /v1/audio/voices`: every voice a request may name (the loaded voices, their speakers,
/// and OpenAI's names with the voice each stands for), as OpenAI-compatible speech servers list
/// them: `voices` (names) and `data` (details).
pub(super) async fn voices(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let mut data = Vec::new();
    for (name, synth) in &app.voices {
        let config = synth.config();
        data.push(serde_json::json!({
            "id": name, "name": name, "kind": "voice",
            "language": config.language(),
            "sample_rate": synth.sample_rate(),
        }));
        let mut speakers: Vec<&String> = config.speaker_id_map.keys().collect();
        speakers.sort();
        for speaker in speakers
            .into_iter()
            .filter(|s| !app.voices.contains_key(*s))
        {
            data.push(serde_json::json!({
                "id": speaker, "name": speaker, "kind": "speaker", "of": name,
                "sample_rate": synth.sample_rate(),
            }));
        }
    }
    for openai in OPENAI_VOICES {
        let to = mapped_voice(&app, openai).unwrap_or_default();
        data.push(
            serde_json::json!({ "id": openai, "name": openai, "kind": "openai", "maps_to": to }),
        );
    }
    let voices: Vec<&serde_json::Value> = data.iter().map(|v| &v["id"]).collect();
    Json(serde_json::json!({ "voices": voices, "data": data }))
}
