//! `indextts-server` (cargo feature `server`): speech over HTTP, streamed while it is made.
//!
//! - `POST /v1/audio/speech`: OpenAI-compatible; the body streams (chunked) from the first
//!   audio chunk on, as WAV or raw 16-bit PCM.
//! - `POST /synthesize` -> `202 {task_id}`; `GET /status/{id}`; `GET /stream/{id}` (WAV: what is
//!   done, then the rest as it comes); `GET /events/{id}` (the status as server-sent events).
//! - `GET /health`, `GET /metrics` (Prometheus), `GET /voices`, `GET /` (a web player).
//!
//! Limits: a text size cap (413), a bounded work queue with `normal` and `high` priority (503
//! with `Retry-After` when full), a per-client rate limit (429), a bounded task store whose
//! finished tasks expire. A client that disconnects cancels its synthesis.

mod admission;
mod metrics;
mod tasks;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use admission::{Admission, Priority};
pub use metrics::Metrics;
pub use tasks::{TaskState, TaskStatus, TaskStore};

use crate::{AsyncAudioStream, Error, SynthesisOptions, Synthesizer};

/// How the server is set up: flags, or the environment variables named on each.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "indextts-server",
    version,
    about = "Speech over HTTP, streamed while it is made"
)]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, env = "INDEXTTS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Voices as NAME=PATH or PATH (the name is then the file or directory name); the first
    /// is the default. Default: the fetched en_US-joe-medium.
    #[arg(long = "voice", env = "INDEXTTS_VOICES", value_delimiter = ',')]
    pub voices: Vec<String>,
    /// ONNX Runtime threads per session (default: all cores).
    #[arg(long, env = "INDEXTTS_THREADS")]
    pub threads: Option<usize>,
    /// Syntheses running at once (each voice gets this many model sessions).
    #[arg(long, env = "INDEXTTS_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Requests that may wait for a worker; beyond that, 503 with Retry-After.
    #[arg(long, env = "INDEXTTS_QUEUE_SIZE", default_value_t = 32)]
    pub queue_size: usize,
    /// Largest text per request, in bytes (413 beyond it).
    #[arg(long, env = "INDEXTTS_MAX_TEXT_BYTES", default_value_t = 16 * 1024)]
    pub max_text_bytes: usize,
    /// Requests per second each client may make to the synthesis endpoints (0: no limit).
    #[arg(long, env = "INDEXTTS_RATE_PER_SECOND", default_value_t = 10)]
    pub rate_per_second: u64,
    /// Burst each client may make above the rate.
    #[arg(long, env = "INDEXTTS_RATE_BURST", default_value_t = 20)]
    pub rate_burst: u32,
    /// Tasks held at once (finished ones make room for new ones).
    #[arg(long, env = "INDEXTTS_MAX_TASKS", default_value_t = 64)]
    pub max_tasks: usize,
    /// Seconds a finished task's audio is kept.
    #[arg(long, env = "INDEXTTS_TASK_TTL", default_value_t = 600)]
    pub task_ttl_seconds: u64,
    /// Bytes of audio in each voice's in-memory sentence cache (0: off).
    #[arg(long, env = "INDEXTTS_CACHE_BYTES")]
    pub cache_bytes: Option<u64>,
    /// A directory for the disk sentence cache.
    #[arg(long, env = "INDEXTTS_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// A Redis URL for the shared cache level (needs the `redis` feature).
    #[arg(long, env = "INDEXTTS_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Seconds in-flight streams may take to finish after SIGTERM.
    #[arg(long, env = "INDEXTTS_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,
}

/// The server's shared state.
#[derive(Debug)]
pub struct App {
    voices: BTreeMap<String, Synthesizer>,
    default_voice: String,
    admission: Arc<Admission>,
    tasks: TaskStore,
    metrics: Metrics,
    config: ServerConfig,
    next_request: AtomicU64,
}

impl App {
    /// Load every voice (blocking: call before serving).
    pub fn new(config: ServerConfig) -> crate::Result<Arc<App>> {
        let specs = if config.voices.is_empty() {
            vec![crate::DEFAULT_VOICE.to_owned()]
        } else {
            config.voices.clone()
        };
        let mut voices = BTreeMap::new();
        let mut default_voice = None;
        for spec in specs {
            let (name, path) = match spec.split_once('=') {
                Some((name, path)) => (name.to_owned(), PathBuf::from(path)),
                None if spec == crate::DEFAULT_VOICE => {
                    (spec.clone(), crate::assets_dir().join("voices").join(&spec))
                }
                None => {
                    let path = PathBuf::from(&spec);
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().trim_end_matches(".onnx").to_owned())
                        .unwrap_or_else(|| spec.clone());
                    (name, path)
                }
            };
            let mut builder = Synthesizer::builder()
                .voice(&path)
                .sessions(config.workers.clamp(1, 64));
            if let Some(threads) = config.threads {
                builder = builder.threads(threads);
            }
            if let Some(bytes) = config.cache_bytes {
                builder = builder.cache_bytes(bytes);
            }
            if let Some(dir) = &config.cache_dir {
                builder = builder.cache_dir(dir.join(&name));
            }
            if let Some(url) = &config.redis_url {
                builder = builder.redis_url(url);
            }
            let synth = builder.build()?;
            info!(voice = %name, path = %path.display(), "voice loaded");
            default_voice.get_or_insert_with(|| name.clone());
            voices.insert(name, synth);
        }
        Ok(Arc::new(App {
            voices,
            default_voice: default_voice.unwrap_or_default(),
            admission: Admission::new(config.workers, config.queue_size),
            tasks: TaskStore::new(
                config.max_tasks,
                Duration::from_secs(config.task_ttl_seconds),
            ),
            metrics: Metrics::default(),
            next_request: AtomicU64::new(1),
            config,
        }))
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The voice a request names, and the speaker to give it: a loaded voice by its name, or
    /// a speaker of a loaded multi-speaker voice (`am_adam` of a Kokoro voice), or a blend of
    /// its speakers (`af_heart:0.7,am_adam:0.3`).
    fn voice(&self, name: Option<&str>) -> Result<(&Synthesizer, Option<String>), ApiError> {
        let name = name.unwrap_or(&self.default_voice);
        if let Some(synth) = self.voices.get(name) {
            return Ok((synth, None));
        }
        let speakers = |spec: &str| -> Vec<String> {
            spec.split(',')
                .map(|part| part.split(':').next().unwrap_or("").trim().to_owned())
                .collect()
        };
        let wanted = speakers(name);
        let holder = self.voices.values().find(|synth| {
            let config = synth.config();
            (wanted.len() == 1 || config.blends_speakers)
                && wanted.iter().all(|s| config.speaker_id_map.contains_key(s))
        });
        match holder {
            Some(synth) => Ok((synth, Some(name.to_owned()))),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_voice",
                format!(
                    "unknown voice {name:?}; this server has {} (and their speakers: GET /voices)",
                    self.voices.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    fn gauges(&self) -> metrics::Gauges {
        let mut cache = [("memory", 0, 0), ("disk", 0, 0), ("redis", 0, 0)];
        for synth in self.voices.values() {
            let stats = synth.cache_stats();
            for (slot, level) in cache
                .iter_mut()
                .zip([stats.memory, stats.disk, stats.redis])
            {
                slot.1 += level.hits;
                slot.2 += level.misses;
            }
        }
        metrics::Gauges {
            queue_depth: self.admission.queued(),
            running: self.admission.running(),
            tasks: self.tasks.len(),
            cache,
        }
    }
}

/// An error response: a status and `{"error": {"message", "type", "code"}}` (OpenAI's shape).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn busy(message: &str) -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, code) = match &error {
            Error::EmptyText { .. } => (StatusCode::BAD_REQUEST, "empty_text"),
            Error::TextTooLong { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "text_too_long"),
            Error::InvalidOption { .. } => (StatusCode::BAD_REQUEST, "invalid_option"),
            Error::UnknownSpeaker { .. } => (StatusCode::BAD_REQUEST, "unknown_speaker"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "synthesis_failed"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), "invalid_request", rejection.body_text())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    r#type: &'static str,
    code: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let body = Json(ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                r#type: kind,
                code: self.code,
            },
        });
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The id the logging layer gives each request (also sent as `x-request-id`).
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub u64);

/// The body of `POST /v1/audio/speech` (OpenAI's fields; `model` is accepted and ignored).
#[derive(Debug, Deserialize)]
pub struct SpeechRequest {
    /// Accepted for compatibility; the voice decides the model.
    #[serde(default)]
    pub model: Option<String>,
    /// The text to speak.
    pub input: String,
    /// A voice name from `GET /voices` (default: the server's first voice).
    #[serde(default)]
    pub voice: Option<String>,
    /// `wav` (default) or `pcm` (16-bit little-endian mono at the voice's rate).
    #[serde(default)]
    pub response_format: Option<String>,
    /// 0.25 to 4.0; 1.0 is the voice's pace.
    #[serde(default)]
    pub speed: Option<f32>,
    /// `normal` (default) or `high`.
    #[serde(default)]
    pub priority: Priority,
}

/// The body of `POST /synthesize`.
#[derive(Debug, Deserialize)]
pub struct TaskRequest {
    /// The text to speak.
    pub text: String,
    /// A voice name (default: the server's first voice).
    #[serde(default)]
    pub voice: Option<String>,
    /// 0.25 to 4.0; 1.0 is the voice's pace.
    #[serde(default)]
    pub speed: Option<f32>,
    /// `normal` (default) or `high`.
    #[serde(default)]
    pub priority: Priority,
}

/// Check text and speed and turn them into synthesis options for `synth`.
fn options_for(
    app: &App,
    synth: &Synthesizer,
    text: &str,
    speed: Option<f32>,
    speaker: Option<String>,
) -> Result<SynthesisOptions, ApiError> {
    if text.len() > app.config.max_text_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text_too_long",
            format!(
                "text is {} bytes; this server takes at most {} bytes per request",
                text.len(),
                app.config.max_text_bytes
            ),
        ));
    }
    // The library's own checks (empty text), now rather than once the task runs.
    crate::engine::check_text(text)?;
    let mut options = SynthesisOptions {
        speaker,
        ..SynthesisOptions::default()
    };
    if let Some(speed) = speed {
        if !(speed.is_finite() && (0.25..=4.0).contains(&speed)) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_speed",
                format!("speed {speed} is not in 0.25..=4.0"),
            ));
        }
        options.length_scale = Some(synth.config().inference.length_scale / speed);
    }
    Ok(options)
}

/// The router with every endpoint, the logging layer and the rate limit.
pub fn router(app: Arc<App>) -> Router {
    let mut synthesis = Router::new()
        .route("/v1/audio/speech", post(speech))
        .route("/synthesize", post(create_task));
    if let Some(period_ms) = 1000u64.checked_div(app.config.rate_per_second) {
        let governor = tower_governor::governor::GovernorConfigBuilder::default()
            .per_millisecond(period_ms.max(1))
            .burst_size(app.config.rate_burst.max(1))
            .finish();
        if let Some(governor) = governor {
            synthesis = synthesis.layer(tower_governor::GovernorLayer::new(governor));
        }
    }
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/voices", get(voices))
        .route("/status/{id}", get(task_status))
        .route("/stream/{id}", get(task_stream))
        .route("/events/{id}", get(task_events))
        .merge(synthesis)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            log_request,
        ))
        .with_state(app)
}

/// One log line per request (id, method, route, status, time to the response head), and the
/// request counters.
async fn log_request(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let id = RequestId(app.next_request.fetch_add(1, Ordering::Relaxed));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    request.extensions_mut().insert(id);
    let start = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    app.metrics.request(&route, status);
    info!(
        request = id.0,
        %method,
        route = %route,
        status,
        head_ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        "request"
    );
    response
        .headers_mut()
        .insert("x-request-id", HeaderValue::from(id.0));
    response
}

async fn page() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "voices": app.voices.keys().collect::<Vec<_>>(),
        "queue_depth": app.admission.queued(),
        "running": app.admission.running(),
    }))
}

async fn metrics_text(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(&app.gauges()),
    )
}

async fn voices(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let voices: Vec<_> = app
        .voices
        .iter()
        .map(|(name, synth)| {
            let mut speakers: Vec<&String> = synth.config().speaker_id_map.keys().collect();
            speakers.sort();
            serde_json::json!({
                "name": name,
                "sample_rate": synth.sample_rate(),
                "default": *name == app.default_voice,
                // A speaker's name is a voice name too (and, where they blend, "a:0.7,b:0.3").
                "speakers": speakers,
                "blends_speakers": synth.config().blends_speakers,
            })
        })
        .collect();
    Json(serde_json::json!({ "voices": voices }))
}

/// `POST /v1/audio/speech`: wait for a worker, then stream the audio as it is made.
async fn speech(
    State(app): State<Arc<App>>,
    Extension(id): Extension<RequestId>,
    body: Result<Json<SpeechRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let (synth, speaker) = app.voice(request.voice.as_deref())?;
    let synth = synth.clone();
    let options = options_for(&app, &synth, &request.input, request.speed, speaker)?;
    let wav = match request.response_format.as_deref().unwrap_or("wav") {
        "wav" => true,
        "pcm" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_format",
                format!("response_format {other:?}: this server gives wav or pcm"),
            ))
        }
    };
    let ticket = app.admission.enter(request.priority).map_err(|_| {
        app.metrics.rejected_busy.fetch_add(1, Ordering::Relaxed);
        ApiError::busy("the synthesis queue is full; retry shortly")
    })?;
    let start = Instant::now();
    // A client that leaves while waiting drops this future, and with it its place in line.
    let permit = ticket
        .wait()
        .await
        .ok_or_else(|| ApiError::busy("the server is shutting down"))?;
    let chunks = synth.stream_async(&request.input, &options)?;
    let sample_rate = synth.sample_rate();
    let body = AudioBody {
        chunks,
        header: wav.then(|| wav_header(sample_rate)),
        permit: Some(permit),
        app: Arc::clone(&app),
        request: id,
        start,
        first_audio: None,
        samples: 0,
        sample_rate,
        done: false,
    };
    let content_type = if wav {
        "audio/wav".to_owned()
    } else {
        format!("audio/L16; rate={sample_rate}; channels=1")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::HeaderName::from_static("x-sample-rate"),
                sample_rate.to_string(),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A WAV header declaring an unbounded length: the stream's length is not known up front.
fn wav_header(sample_rate: u32) -> Vec<u8> {
    hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
    .into_header_for_infinite_file()
}

fn pcm_bytes(samples: impl IntoIterator<Item = i16>, into: &mut Vec<u8>) {
    into.extend(samples.into_iter().flat_map(i16::to_le_bytes));
}

/// A response body fed by a synthesis: the header comes with the first audio, so the first
/// byte the client sees is audio's; dropping the body (a client that went away) cancels the
/// synthesis and frees the worker.
struct AudioBody {
    chunks: AsyncAudioStream,
    header: Option<Vec<u8>>,
    permit: Option<admission::Permit>,
    app: Arc<App>,
    request: RequestId,
    start: Instant,
    first_audio: Option<Duration>,
    samples: u64,
    sample_rate: u32,
    done: bool,
}

impl Stream for AudioBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.chunks).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let mut bytes = this.header.take().unwrap_or_default();
                if this.first_audio.is_none() {
                    let ttfa = this.start.elapsed();
                    this.first_audio = Some(ttfa);
                    this.app.metrics.time_to_first_audio(ttfa);
                }
                this.samples += chunk.samples.len() as u64;
                pcm_bytes(
                    chunk.samples.iter().map(|&s| crate::sample_to_i16(s)),
                    &mut bytes,
                );
                Poll::Ready(Some(Ok(Bytes::from(bytes))))
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                this.permit = None;
                this.app
                    .metrics
                    .syntheses_failed
                    .fetch_add(1, Ordering::Relaxed);
                warn!(request = this.request.0, %error, "synthesis failed mid-stream");
                Poll::Ready(Some(Err(std::io::Error::other(error.to_string()))))
            }
            Poll::Ready(None) => {
                this.done = true;
                this.permit = None;
                let metrics = &this.app.metrics;
                metrics.streams_completed.fetch_add(1, Ordering::Relaxed);
                let audio = this.samples as f64 / f64::from(this.sample_rate.max(1));
                metrics
                    .audio_micros
                    .fetch_add((audio * 1e6) as u64, Ordering::Relaxed);
                info!(
                    request = this.request.0,
                    ttfa_ms = format_args!(
                        "{:.1}",
                        this.first_audio.unwrap_or_default().as_secs_f64() * 1e3
                    ),
                    total_ms = format_args!("{:.1}", this.start.elapsed().as_secs_f64() * 1e3),
                    audio_s = format_args!("{audio:.2}"),
                    "stream done"
                );
                // An empty stream (text with nothing speakable) is still a valid WAV.
                match this.header.take() {
                    Some(header) => Poll::Ready(Some(Ok(Bytes::from(header)))),
                    None => Poll::Ready(None),
                }
            }
        }
    }
}

impl Drop for AudioBody {
    fn drop(&mut self) {
        if !self.done {
            self.app
                .metrics
                .streams_cancelled
                .fetch_add(1, Ordering::Relaxed);
            info!(
                request = self.request.0,
                after_ms = format_args!("{:.1}", self.start.elapsed().as_secs_f64() * 1e3),
                "client went away: synthesis cancelled"
            );
        }
    }
}

/// `POST /synthesize`: queue a task and answer at once with its id.
async fn create_task(
    State(app): State<Arc<App>>,
    body: Result<Json<TaskRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let (synth, speaker) = app.voice(request.voice.as_deref())?;
    let synth = synth.clone();
    let options = options_for(&app, &synth, &request.text, request.speed, speaker)?;
    let busy = |app: &App, what: &str| {
        app.metrics.rejected_busy.fetch_add(1, Ordering::Relaxed);
        ApiError::busy(what)
    };
    let task = app.tasks.create(synth.sample_rate()).map_err(|_| {
        busy(
            &app,
            "the task store is full of running tasks; retry shortly",
        )
    })?;
    let ticket = match app.admission.enter(request.priority) {
        Ok(ticket) => ticket,
        Err(_) => {
            app.tasks.remove(&task.id);
            return Err(busy(&app, "the synthesis queue is full; retry shortly"));
        }
    };
    let id = task.id.clone();
    let text = request.text;
    let worker_app = Arc::clone(&app);
    tokio::spawn(async move {
        let Some(_permit) = ticket.wait().await else {
            task.finish(Some("the server is shutting down".into()));
            return;
        };
        let counted = {
            let (synth, text) = (synth.clone(), text.clone());
            tokio::task::spawn_blocking(move || synth.phonemize(&text).map(|s| s.len())).await
        };
        let total = match counted {
            Ok(Ok(total)) => total,
            Ok(Err(error)) => return task.finish(Some(error.to_string())),
            Err(join) => return task.finish(Some(format!("internal error: {join}"))),
        };
        task.start(total);
        let mut chunks = match synth.stream_async(&text, &options) {
            Ok(chunks) => chunks,
            Err(error) => return task.finish(Some(error.to_string())),
        };
        while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
            match chunk {
                Ok(chunk) => task.push(&chunk.samples, chunk.sentence_end),
                Err(error) => {
                    worker_app
                        .metrics
                        .syntheses_failed
                        .fetch_add(1, Ordering::Relaxed);
                    return task.finish(Some(error.to_string()));
                }
            }
        }
        task.finish(None);
    });
    let body = serde_json::json!({
        "task_id": id,
        "status_url": format!("/status/{id}"),
        "stream_url": format!("/stream/{id}"),
        "events_url": format!("/events/{id}"),
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn find_task(app: &App, id: &str) -> Result<Arc<tasks::Task>, ApiError> {
    app.tasks.get(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_task",
            format!("no task {id:?} (unknown, or expired)"),
        )
    })
}

async fn task_status(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<TaskStatus>, ApiError> {
    Ok(Json(find_task(&app, &id)?.status()))
}

/// `GET /stream/{id}`: the task's audio as WAV, what is done at once, then the rest as it comes.
async fn task_stream(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let task = find_task(&app, &id)?;
    let changes = task.subscribe();
    let header = wav_header(task.sample_rate());
    let state = (task, changes, 0usize, Some(header), false);
    let body = futures_util::stream::unfold(
        state,
        |(task, mut changes, sent, header, ended)| async move {
            if ended {
                return None;
            }
            loop {
                // Mark the current version seen before reading, so no change is missed.
                changes.borrow_and_update();
                let (samples, finished) = task.samples_from(sent);
                if !samples.is_empty() || finished {
                    let mut bytes = header.unwrap_or_default();
                    let sent = sent + samples.len();
                    pcm_bytes(samples, &mut bytes);
                    let item: Result<Bytes, std::io::Error> = Ok(Bytes::from(bytes));
                    return Some((item, (task, changes, sent, None, finished)));
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "audio/wav")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `GET /events/{id}`: the task's status now and after every change, until it ends.
async fn task_events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let task = find_task(&app, &id)?;
    let changes = task.subscribe();
    let events = futures_util::stream::unfold(
        (task, changes, true, false),
        |(task, mut changes, first, ended)| async move {
            if ended {
                return None;
            }
            if !first && changes.changed().await.is_err() {
                return None;
            }
            changes.borrow_and_update();
            let status = task.status();
            let ended = status.state.is_final();
            let event = Event::default()
                .event("status")
                .json_data(&status)
                .unwrap_or_else(|_| Event::default().event("status"));
            Some((Ok(event), (task, changes, false, ended)))
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let in-flight
/// requests finish for up to the configured timeout, and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(app.config.shutdown_timeout_seconds);
    let reaper = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                app.tasks.expire();
            }
        })
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|&stop| stop).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    let result = tokio::select! {
        done = &mut server => done,
        () = shutdown => {
            info!(grace_s = grace.as_secs(), "shutting down: no new connections; in-flight requests may finish");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(grace, &mut server).await {
                Ok(done) => done,
                Err(_) => {
                    warn!("requests still running after {grace:?}; stopping anyway");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    reaper.abort();
    result.map_err(std::io::Error::other)?
}
