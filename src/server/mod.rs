//! `indextts-server` (cargo feature `server`): speech over HTTP, streamed while it is made.
//!
//! - `POST /v1/audio/speech`: OpenAI-compatible; the body streams (chunked) from the first
//!   audio chunk on, as WAV or raw 16-bit PCM.
//! - `POST /synthesize` -> `202 {task_id}`; `GET /status/{id}`; `GET /stream/{id}` (WAV: what is
//!   done, then the rest as it comes); `GET /events/{id}` (the status as server-sent events).
//! - `GET /health`, `GET /metrics` (Prometheus), `GET /voices`, `GET /` (a web player).
//!
//! Limits: a text size cap (413), a bounded work queue (503 with `Retry-After` when full) with
//! `high` priority for callers holding the operator's token, a per-client quota of queued and
//! running work and a per-client rate limit (429), a cap on audio seconds per request, a
//! bounded task store whose finished tasks expire, bounded readers per task. Connections are
//! capped, headers and bodies must arrive in time, and a client that reads nothing for the
//! stall timeout is cut off. A client that disconnects cancels its synthesis, and its worker
//! is free once that synthesis has stopped. Host headers are checked (DNS rebinding).

mod admission;
mod cluster;
mod conn;
mod metrics;
mod openai;
mod remote_task;
mod tasks;
mod ws;
pub mod wyoming;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use admission::{Admission, Priority, Refused};
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
    /// Model sessions of each voice: model runs at once.
    #[arg(long, env = "INDEXTTS_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Keep every model run on the --workers sessions of --threads threads. By default threads
    /// follow the load: while several streams run, their model runs take one-thread sessions
    /// (made on first need from the compiled-graph cache, at most one per core for each graph).
    #[arg(long, env = "INDEXTTS_FIXED_THREADS")]
    pub fixed_threads: bool,
    /// Syntheses (streams) running at once, sharing the workers: each waiting model run goes
    /// to the stream whose listener runs out of audio first, so a new stream's first audio
    /// does not wait for whole requests ahead of it. More start sooner; past what the cores
    /// sustain in real time, listeners hear gaps (docs/performance.md). Default: 6 x --workers.
    #[arg(long, env = "INDEXTTS_STREAMS")]
    pub streams: Option<usize>,
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
    /// A Redis URL for the shared cache level, and for the tasks of a cluster (`--node-url`).
    #[arg(long, env = "INDEXTTS_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Join a cluster of nodes sharing `--redis-url`: the URL the other nodes reach this one at
    /// (`http://HOST:PORT`). A task made on any node can then be read through every node
    /// (docs/deploy.md).
    #[arg(long, env = "INDEXTTS_NODE_URL")]
    pub node_url: Option<String>,
    /// Seconds in-flight streams may take to finish after SIGTERM.
    #[arg(long, env = "INDEXTTS_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,
    /// Seconds a response may wait for its client to read before the connection is closed
    /// (its synthesis cancelled, its worker freed). A listener that reads at playback speed
    /// never waits more than a moment; one that paused playback that long has gone.
    #[arg(long, env = "INDEXTTS_STALL_TIMEOUT", default_value_t = 30)]
    pub stall_timeout_seconds: u64,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, env = "INDEXTTS_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Seconds a client may take to send a request's body.
    #[arg(long, env = "INDEXTTS_BODY_TIMEOUT", default_value_t = 10)]
    pub body_timeout_seconds: u64,
    /// Connections open at once (more wait in the listen backlog).
    #[arg(long, env = "INDEXTTS_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Requests one client (IP address) may have queued or running at once; beyond, 429
    /// (0: no limit).
    #[arg(long, env = "INDEXTTS_CLIENT_QUOTA", default_value_t = 4)]
    pub client_quota: usize,
    /// A bearer token that lets a caller ask for `"priority": "high"` (without one, nobody
    /// may: a request asking for it is a 403).
    #[arg(long, env = "INDEXTTS_PRIORITY_TOKEN", hide_env_values = true)]
    pub priority_token: Option<String>,
    /// Seconds of audio one request may make; a synthesis that reaches it ends with an error.
    #[arg(long, env = "INDEXTTS_MAX_AUDIO_SECONDS", default_value_t = 1800)]
    pub max_audio_seconds: u64,
    /// Readers of one task's `/stream` at once; beyond, 429.
    #[arg(long, env = "INDEXTTS_MAX_TASK_READERS", default_value_t = 8)]
    pub max_task_readers: usize,
    /// Also serve the Wyoming protocol (Home Assistant) here: `tcp://HOST:PORT` or
    /// `unix://PATH` (repeat for more).
    #[arg(long = "wyoming", env = "INDEXTTS_WYOMING", value_delimiter = ',')]
    pub wyoming: Vec<wyoming::Endpoint>,
    /// Serve no HTTP, only the `--wyoming` endpoints.
    #[arg(long, env = "INDEXTTS_NO_HTTP")]
    pub no_http: bool,
    /// OpenAI voice names (`alloy`, `nova`, ...) and the voice each stands for, as
    /// `NAME=VOICE`; the others stand for the default voice.
    #[arg(
        long = "openai-voice",
        env = "INDEXTTS_OPENAI_VOICES",
        value_delimiter = ','
    )]
    pub openai_voices: Vec<String>,
    /// Host header values accepted besides the loopback names, as `host` or `host:port`
    /// (`*`: any). A server bound to a loopback address takes only loopback hosts by default,
    /// so a web page cannot reach it through DNS rebinding; one bound elsewhere takes any.
    #[arg(
        long = "allowed-host",
        env = "INDEXTTS_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
}

/// The server's shared state.
#[derive(Debug)]
pub struct App {
    voices: BTreeMap<String, Synthesizer>,
    default_voice: String,
    admission: Arc<Admission>,
    tasks: TaskStore,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    /// The rate limiter's state (pruned of idle clients every second).
    governor: Option<Arc<Governor>>,
    /// This node's place in a cluster (`--node-url`).
    cluster: Option<Arc<cluster::Cluster>>,
}

type Governor = tower_governor::governor::GovernorConfig<
    tower_governor::key_extractor::PeerIpKeyExtractor,
    governor::middleware::NoOpMiddleware,
>;

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
                .sessions(config.workers.clamp(1, 64))
                .grow_first_window_when_busy(true)
                .follow_load(!config.fixed_threads);
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
            if voices.contains_key(&name) {
                return Err(Error::InvalidOption {
                    name: "--voice",
                    value: spec,
                    reason: "two voices have this name; give one NAME=PATH",
                });
            }
            let synth = builder.build()?;
            info!(voice = %name, path = %path.display(), "voice loaded");
            default_voice.get_or_insert_with(|| name.clone());
            voices.insert(name, synth);
        }
        let cluster = match (&config.node_url, &config.redis_url) {
            (None, _) => None,
            (Some(node), None) => {
                return Err(Error::InvalidOption {
                    name: "--node-url",
                    value: node.clone(),
                    reason: "a cluster's nodes share their tasks through Redis: give --redis-url",
                })
            }
            (Some(node), Some(redis)) => {
                let ttl = Duration::from_secs(config.task_ttl_seconds);
                let readers = config.max_task_readers;
                let cluster = cluster::Cluster::new(redis, node, ttl, readers)?;
                // Say so before serving, so other nodes can reach this one's tasks at once.
                if let Err(e) = cluster.heartbeat() {
                    warn!("cluster: {e}; tasks here are found only here until Redis answers");
                }
                info!(node = cluster.node(), "joined the cluster");
                Some(Arc::new(cluster))
            }
        };
        let governor = 1000u64
            .checked_div(config.rate_per_second)
            .and_then(|period_ms| {
                tower_governor::governor::GovernorConfigBuilder::default()
                    .per_millisecond(period_ms.max(1))
                    .burst_size(config.rate_burst.max(1))
                    .finish()
            })
            .map(Arc::new);
        Ok(Arc::new(App {
            voices,
            default_voice: default_voice.unwrap_or_default(),
            admission: Admission::new(
                config
                    .streams
                    .unwrap_or(config.workers.saturating_mul(6))
                    .max(1),
                config.queue_size,
                config.client_quota,
            ),
            tasks: TaskStore::new(
                config.max_tasks,
                Duration::from_secs(config.task_ttl_seconds),
            ),
            metrics: Arc::default(),
            governor,
            cluster,
            config,
        }))
    }

    /// Admit a request from `client`: `high` priority only with the operator's token.
    fn admit(
        &self,
        client: IpAddr,
        headers: &HeaderMap,
        priority: Priority,
    ) -> Result<admission::Ticket, ApiError> {
        if priority == Priority::High {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let trusted = matches!(
                (&self.config.priority_token, bearer),
                (Some(token), Some(given)) if constant_time_eq(token.as_bytes(), given.as_bytes())
            );
            if !trusted {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "priority_not_allowed",
                    "\"priority\": \"high\" needs the operator's token (Authorization: Bearer ...)",
                ));
            }
        }
        self.admission
            .enter(client, priority)
            .map_err(|refused| match refused {
                Refused::QueueFull => {
                    self.metrics.rejected_busy.fetch_add(1, Ordering::Relaxed);
                    ApiError::busy("the synthesis queue is full; retry shortly")
                }
                Refused::ClientQuota => {
                    self.metrics.rejected_quota.fetch_add(1, Ordering::Relaxed);
                    ApiError {
                        retry_after: Some(1),
                        ..ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "client_quota",
                            format!(
                                "this client already has {} requests queued or running",
                                self.config.client_quota
                            ),
                        )
                    }
                }
            })
    }

    /// Samples one request may make at `sample_rate`.
    fn max_samples(&self, sample_rate: u32) -> u64 {
        self.config
            .max_audio_seconds
            .saturating_mul(u64::from(sample_rate))
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
            streams_running: self.voices.values().map(Synthesizer::streams_running).sum(),
            one_thread_sessions: self
                .voices
                .values()
                .map(Synthesizer::one_thread_sessions)
                .sum(),
            tasks: self.tasks.len(),
            cache,
        }
    }
}

/// Equal, in a time that does not depend on where two byte strings first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// An error response: a status and `{"error": {"message", "type", "code"}}` (OpenAI's shape).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The request field at fault, as OpenAI's errors name it.
    param: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            param: None,
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
            Error::Ssml { .. } => (StatusCode::BAD_REQUEST, "invalid_ssml"),
            Error::UnsupportedText { .. } => (StatusCode::BAD_REQUEST, "unsupported_text"),
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
    param: Option<&'static str>,
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
                param: self.param,
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

/// The id the logging layer gives each request (also sent as `x-request-id`, in hex): random,
/// so it tells a client nothing about other clients' traffic.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub u64);

impl RequestId {
    fn random() -> RequestId {
        RequestId(getrandom::u64().unwrap_or_else(|_| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64)
        }))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The body of `POST /v1/audio/speech` (OpenAI's fields).
#[derive(Debug, Deserialize)]
pub struct SpeechRequest {
    /// `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, `indextts` or a voice's name: the voice decides
    /// the model.
    #[serde(default)]
    pub model: Option<String>,
    /// The text to speak.
    pub input: String,
    /// A voice name from `GET /voices`, or OpenAI's (`alloy`, `nova`, ...: see
    /// `--openai-voice`); default: the server's first voice.
    #[serde(default)]
    pub voice: Option<String>,
    /// `wav` (default) or `pcm` (16-bit little-endian mono at the voice's rate); OpenAI's
    /// compressed formats are a 400.
    #[serde(default)]
    pub response_format: Option<String>,
    /// `audio` (default: the audio is the body) or `sse` (OpenAI's `speech.audio.delta` events
    /// with base64 audio, then `speech.audio.done`).
    #[serde(default)]
    pub stream_format: Option<String>,
    /// Accepted and ignored (these voices take no instructions); the response says so in
    /// `x-indextts-ignored`.
    #[serde(default)]
    pub instructions: Option<String>,
    /// 0.25 to 4.0; 1.0 is the voice's pace.
    #[serde(default)]
    pub speed: Option<f32>,
    /// `normal` (default) or `high` (only with the operator's token).
    #[serde(default)]
    pub priority: Priority,
    /// With `stream_format: "sse"`: each `speech.audio.delta` event also carries the chunk's
    /// start and the words that start in it (`{word, start, end, text_start, text_end}`,
    /// seconds and bytes of `input`).
    #[serde(default)]
    pub timestamps: bool,
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
    /// `normal` (default) or `high` (only with the operator's token).
    #[serde(default)]
    pub priority: Priority,
}

/// A JSON body, read within the body timeout and the size cap: a client that trickles its
/// body gets a 408 instead of holding the connection.
struct TimedJson<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S>
    for TimedJson<T>
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let timeout = request
            .extensions()
            .get::<BodyTimeout>()
            .map_or(Duration::from_secs(10), |t| t.0);
        match tokio::time::timeout(timeout, Json::<T>::from_request(request, state)).await {
            Ok(Ok(Json(value))) => Ok(TimedJson(value)),
            Ok(Err(rejection)) => Err(rejection.into()),
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the request body did not arrive within {timeout:?}"),
            )),
        }
    }
}

/// The body timeout, put on each request by the logging layer.
#[derive(Debug, Clone, Copy)]
struct BodyTimeout(Duration);

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
    // The library's own checks (empty text, a script the voice cannot read), now rather than
    // once the task runs.
    synth.check_text(text)?;
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

/// The router with every endpoint, the logging layer, the Host check, the rate limit and a
/// catch-panic layer (a handler that panicked answers 500; the server goes on).
pub fn router(app: Arc<App>) -> Router {
    let mut synthesis = Router::new()
        .route("/v1/audio/speech", post(speech))
        .route("/v1/audio/speech/stream", get(ws::speech_stream))
        .route("/synthesize", post(create_task));
    if let Some(governor) = &app.governor {
        synthesis = synthesis.layer(tower_governor::GovernorLayer::new(Arc::clone(governor)));
    }
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/voices", get(voices))
        .route("/v1/models", get(openai::models))
        .route("/v1/audio/voices", get(openai::voices))
        .route("/status/{id}", get(task_status))
        .route("/stream/{id}", get(task_stream))
        .route("/events/{id}", get(task_events))
        .route("/tasks/{id}", delete(cancel_task))
        .merge(synthesis)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            log_request,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), check_host))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(app)
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    warn!("a request handler panicked; answered 500");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error (logged)",
    )
    .into_response()
}

/// Whether `host` (a Host header: `name`, `name:port`, `[v6]:port`) names this machine's
/// loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuse a Host header this server does not answer to (421): a page on another site that
/// rebinds its DNS name to 127.0.0.1 sends its own name, and gets nothing.
async fn check_host(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let allowed = &app.config.allowed_hosts;
    let open = allowed.iter().any(|h| h == "*")
        || (allowed.is_empty() && !app.config.bind.ip().is_loopback());
    if !open {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let known = is_loopback_host(host)
            || allowed.iter().any(|h| {
                h.eq_ignore_ascii_case(host)
                    || host
                        .rsplit_once(':')
                        .is_some_and(|(name, _)| h.eq_ignore_ascii_case(name))
            });
        if !known {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "unknown_host",
                format!("this server does not answer to Host {host:?} (see --allowed-host)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// One log line per request (id, method, route, status, time to the response head), and the
/// request counters.
async fn log_request(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let id = RequestId::random();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    request.extensions_mut().insert(id);
    request
        .extensions_mut()
        .insert(BodyTimeout(Duration::from_secs(
            app.config.body_timeout_seconds.max(1),
        )));
    let start = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    app.metrics.request(&route, status);
    info!(
        request = %id,
        %method,
        route = %route,
        status,
        head_ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The client a request counts against: its peer's IP address.
#[derive(Debug, Clone, Copy)]
struct Client(IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Client(peer))
    }
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
    Client(client): Client,
    headers: HeaderMap,
    TimedJson(request): TimedJson<SpeechRequest>,
) -> Result<Response, ApiError> {
    openai::check_model(&app, request.model.as_deref())?;
    let wanted = request.voice.as_deref();
    let (synth, speaker) = match app.voice(wanted) {
        Err(unknown) => match wanted.and_then(|name| openai::mapped_voice(&app, name)) {
            Some(mapped) => app.voice(Some(mapped))?,
            None => return Err(unknown),
        },
        found => found?,
    };
    let synth = synth.clone();
    let options = options_for(&app, &synth, &request.input, request.speed, speaker)?;
    let sse = openai::is_sse(request.stream_format.as_deref())?;
    if request.timestamps && !sse {
        return Err(ApiError {
            param: Some("timestamps"),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "timestamps_need_sse",
                "timestamps come in server-sent events: add \"stream_format\": \"sse\"",
            )
        });
    }
    // Events carry raw PCM unless the client asks for WAV pieces.
    let format = request.response_format.as_deref().or(sse.then_some("pcm"));
    let wav = openai::format(format)? == openai::Format::Wav;
    let ticket = app.admit(client, &headers, request.priority)?;
    let start = Instant::now();
    // A client that leaves while waiting drops this future, and with it its place in line.
    let permit = ticket
        .wait()
        .await
        .ok_or_else(|| ApiError::busy("the server is shutting down"))?;
    // The permit rides with the synthesis: the worker is free once the synthesis has stopped.
    let chunks = synth.stream_async_holding(&request.input, &options, permit)?;
    let sample_rate = synth.sample_rate();
    let body = AudioBody {
        chunks,
        header: wav.then(|| wav_header(sample_rate)),
        max_samples: app.max_samples(sample_rate),
        app: Arc::clone(&app),
        request: id,
        start,
        first_audio: None,
        samples: 0,
        sample_rate,
        done: false,
        words: request.timestamps.then(Default::default),
    };
    // Raw PCM is little-endian: not `audio/L16`, which RFC 2586 defines as big-endian.
    let content_type = if sse {
        "text/event-stream".to_owned()
    } else if wav {
        "audio/wav".to_owned()
    } else {
        format!("audio/pcm; rate={sample_rate}; channels=1; format=s16le")
    };
    let body = if sse {
        Body::from_stream(openai::SseAudio::new(body, &request.input, sample_rate))
    } else {
        Body::from_stream(body)
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::HeaderName::from_static("x-sample-rate"),
                sample_rate.to_string(),
            ),
        ],
        body,
    )
        .into_response();
    if request.instructions.is_some() {
        response.headers_mut().insert(
            header::HeaderName::from_static("x-indextts-ignored"),
            HeaderValue::from_static("instructions"),
        );
    }
    Ok(response)
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

/// The error a synthesis ends with when it reaches the audio cap.
/// `samples` at `rate` in seconds, to the millisecond (as every JSON time here is).
fn seconds(samples: u64, rate: u32) -> f64 {
    (samples as f64 / f64::from(rate.max(1)) * 1000.0).round() / 1000.0
}

/// Word marks as JSON: `[{word, start, end, text_start, text_end}]`, times in seconds.
fn words_json(words: &[crate::WordMark], rate: u32) -> serde_json::Value {
    words
        .iter()
        .map(|w| {
            serde_json::json!({
                "word": w.text,
                "start": seconds(w.start_sample, rate),
                "end": seconds(w.end_sample, rate),
                "text_start": w.text_range.start,
                "text_end": w.text_range.end,
            })
        })
        .collect()
}

fn audio_cap_error(app: &App) -> String {
    format!(
        "the audio reached this server's cap of {} s per request (--max-audio-seconds)",
        app.config.max_audio_seconds
    )
}

/// A response body fed by a synthesis: the header comes with the first audio, so the first
/// byte the client sees is audio's; dropping the body (a client that went away, or one cut
/// off for not reading) cancels the synthesis. A failure ends the body with an error, so the
/// client sees a broken transfer, never a short file that looks complete.
struct AudioBody {
    chunks: AsyncAudioStream,
    header: Option<Vec<u8>>,
    max_samples: u64,
    app: Arc<App>,
    request: RequestId,
    start: Instant,
    first_audio: Option<Duration>,
    samples: u64,
    sample_rate: u32,
    done: bool,
    /// When the client asked for timestamps: the last chunk's start and words, taken by the
    /// event that carries the chunk.
    words: Option<(u64, Vec<crate::WordMark>)>,
}

impl AudioBody {
    /// The first sample and the words of the chunk just yielded (none when timestamps were
    /// not asked for).
    pub(crate) fn take_words(&mut self) -> Option<(u64, Vec<crate::WordMark>)> {
        self.words.as_mut().map(std::mem::take)
    }

    fn fail(&mut self, error: String) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.done = true;
        self.app
            .metrics
            .syntheses_failed
            .fetch_add(1, Ordering::Relaxed);
        warn!(request = %self.request, %error, "synthesis failed mid-stream");
        Poll::Ready(Some(Err(std::io::Error::other(error))))
    }
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
                if this.samples + chunk.samples.len() as u64 > this.max_samples {
                    let error = audio_cap_error(&this.app);
                    return this.fail(error);
                }
                let mut bytes = this.header.take().unwrap_or_default();
                if this.first_audio.is_none() {
                    let ttfa = this.start.elapsed();
                    this.first_audio = Some(ttfa);
                    this.app.metrics.time_to_first_audio(ttfa);
                }
                this.samples += chunk.samples.len() as u64;
                if let Some(words) = &mut this.words {
                    *words = (chunk.start_sample, chunk.words);
                }
                pcm_bytes(
                    chunk.samples.iter().map(|&s| crate::sample_to_i16(s)),
                    &mut bytes,
                );
                Poll::Ready(Some(Ok(Bytes::from(bytes))))
            }
            Poll::Ready(Some(Err(error))) => this.fail(error.to_string()),
            Poll::Ready(None) => {
                this.done = true;
                let metrics = &this.app.metrics;
                metrics.streams_completed.fetch_add(1, Ordering::Relaxed);
                let audio = this.samples as f64 / f64::from(this.sample_rate.max(1));
                metrics
                    .audio_micros
                    .fetch_add((audio * 1e6) as u64, Ordering::Relaxed);
                info!(
                    request = %this.request,
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
                request = %self.request,
                after_ms = format_args!("{:.1}", self.start.elapsed().as_secs_f64() * 1e3),
                "client went away: synthesis cancelled"
            );
        }
    }
}

/// `POST /synthesize`: admit a task, then answer at once with its id. A request refused
/// (busy, over quota) creates no task.
async fn create_task(
    State(app): State<Arc<App>>,
    Client(client): Client,
    headers: HeaderMap,
    TimedJson(request): TimedJson<TaskRequest>,
) -> Result<Response, ApiError> {
    let (synth, speaker) = app.voice(request.voice.as_deref())?;
    let synth = synth.clone();
    let options = options_for(&app, &synth, &request.text, request.speed, speaker)?;
    let ticket = app.admit(client, &headers, request.priority)?;
    let task = app.tasks.create(synth.sample_rate()).map_err(|_| {
        app.metrics.rejected_busy.fetch_add(1, Ordering::Relaxed);
        ApiError::busy("the task store is full; retry once finished tasks have expired")
    })?;
    let id = task.id.clone();
    if let Some(cluster) = &app.cluster {
        // Before the answer, so the next request may reach any node.
        let claimed = remote_task::redis(cluster, {
            let id = id.clone();
            move |c| c.claim(&id)
        });
        if let Err(e) = claimed.await {
            warn!(
                "cluster: task {id} is found only on this node: {}",
                e.message
            );
        }
    }
    let worker_app = Arc::clone(&app);
    tokio::spawn(async move {
        let Some(permit) = ticket.wait().await else {
            task.finish(Some("the server is shutting down".into()));
            return;
        };
        let result = tokio::select! {
            result = run_task(&worker_app, &task, &synth, request.text, &options, permit) => result,
            () = task.cancelled() => Err("cancelled (DELETE /tasks/{id})".to_owned()),
        };
        if result.is_err() {
            worker_app
                .metrics
                .syntheses_failed
                .fetch_add(1, Ordering::Relaxed);
        }
        task.finish(result.err());
        if let Some(cluster) = &worker_app.cluster {
            let (status, words, wav) = task.snapshot();
            let published = remote_task::redis(cluster, move |c| c.publish(status, words, &wav));
            if let Err(e) = published.await {
                warn!(
                    "cluster: task {} is kept only on this node: {}",
                    task.id, e.message
                );
            }
        }
    });
    let mut body = serde_json::json!({
        "task_id": id,
        "status_url": format!("/status/{id}"),
        "stream_url": format!("/stream/{id}"),
        "events_url": format!("/events/{id}"),
    });
    if let Some(cluster) = &app.cluster {
        body["node"] = cluster.node().into();
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// A task's synthesis, holding `permit` until it has stopped.
async fn run_task(
    app: &App,
    task: &tasks::Task,
    synth: &Synthesizer,
    text: String,
    options: &SynthesisOptions,
    permit: admission::Permit,
) -> Result<(), String> {
    let counted = {
        let (synth, text) = (synth.clone(), text.clone());
        tokio::task::spawn_blocking(move || synth.phonemize(&text).map(|s| s.len())).await
    };
    let total = match counted {
        Ok(Ok(total)) => total,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(join) => return Err(format!("internal error: {join}")),
    };
    task.start(total);
    let mut chunks = synth
        .stream_async_holding(&text, options, permit)
        .map_err(|e| e.to_string())?;
    let (max_samples, mut samples) = (app.max_samples(synth.sample_rate()), 0u64);
    while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        samples += chunk.samples.len() as u64;
        if samples > max_samples {
            return Err(audio_cap_error(app));
        }
        task.push(&chunk.samples, chunk.words, chunk.sentence_end);
    }
    Ok(())
}

fn unknown_task(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_task",
        format!("no task {id:?} (unknown, or expired)"),
    )
}

/// `GET /status/{id}`: the task's status, wherever in the cluster it is.
async fn task_status(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use remote_task::Found;
    Ok(match remote_task::locate(&app, &id, &headers).await? {
        Found::Here(task) => Json(task.status()).into_response(),
        Found::Finished(finished) => Json(finished.status).into_response(),
        Found::Lost(status) => Json(status).into_response(),
        Found::Elsewhere(cluster, owner) => {
            let path = format!("/status/{id}");
            match remote_task::forward(&cluster, &owner, &id, Method::GET, &path, &headers).await? {
                Ok(response) => response,
                Err(status) => Json(status).into_response(),
            }
        }
    })
}

/// `DELETE /tasks/{id}`: stop the task's synthesis (its worker is free once it has stopped)
/// and forget it; its readers see the stream end with an error.
async fn cancel_task(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use remote_task::Found;
    match remote_task::locate(&app, &id, &headers).await? {
        Found::Here(_) => {
            if let Some(task) = app.tasks.remove(&id) {
                task.cancel();
            }
        }
        // Nothing runs: forget it on every node.
        Found::Finished(_) | Found::Lost(_) => {
            if let Some(cluster) = &app.cluster {
                let id = id.clone();
                remote_task::redis(cluster, move |c| c.forget(&id)).await?;
            }
        }
        Found::Elsewhere(cluster, owner) => {
            let path = format!("/tasks/{id}");
            if let Ok(response) =
                remote_task::forward(&cluster, &owner, &id, Method::DELETE, &path, &headers).await?
            {
                return Ok(response);
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Samples one `/stream` read copies at most (64 KiB of PCM).
const STREAM_SLICE: usize = 32 * 1024;

/// `GET /stream/{id}`: the task's audio as WAV, what is done at once, then the rest as it comes,
/// one bounded slice at a time. A task that fails while it is read ends the body with an error
/// (a broken transfer, not a short WAV; `/events` says why); one that failed before is a 500.
async fn task_stream(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use remote_task::Found;
    let task = match remote_task::locate(&app, &id, &headers).await? {
        Found::Here(task) => task,
        Found::Finished(finished) => {
            let cluster = app.cluster.as_ref().ok_or_else(|| unknown_task(&id))?;
            return remote_task::finished_stream(cluster, *finished, &headers).await;
        }
        Found::Lost(status) => return Err(remote_task::lost_stream(&status)),
        Found::Elsewhere(cluster, owner) => {
            let path = format!("/stream/{id}");
            return match remote_task::forward(&cluster, &owner, &id, Method::GET, &path, &headers)
                .await?
            {
                Ok(response) => Ok(response),
                Err(status) => Err(remote_task::lost_stream(&status)),
            };
        }
    };
    let status = task.status();
    if let Some(error) = status.error.as_ref().filter(|_| status.state.is_final()) {
        // Failed before this reader came: an answer saying so, not a transfer that breaks.
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "synthesis_failed",
            format!("task {id} failed: {error}"),
        ));
    }
    let reader = task
        .reader(app.config.max_task_readers)
        .ok_or_else(|| ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_readers",
                format!(
                    "task {id} already has {} readers",
                    app.config.max_task_readers
                ),
            )
        })?;
    let changes = task.subscribe();
    let header = wav_header(task.sample_rate());
    let state = (reader, changes, 0usize, Some(header), false);
    let body = futures_util::stream::unfold(
        state,
        |(reader, mut changes, sent, header, ended)| async move {
            if ended {
                return None;
            }
            loop {
                // Mark the current version seen before reading, so no change is missed.
                changes.borrow_and_update();
                let (samples, finished, error) = reader.task().samples_from(sent, STREAM_SLICE);
                // What was made first, then the error, if any.
                if !samples.is_empty() || (finished && error.is_none()) {
                    let ended = finished && error.is_none();
                    let mut bytes = header.unwrap_or_default();
                    let sent = sent + samples.len();
                    pcm_bytes(samples, &mut bytes);
                    let item: Result<Bytes, std::io::Error> = Ok(Bytes::from(bytes));
                    return Some((item, (reader, changes, sent, None, ended)));
                }
                if let Some(error) = error {
                    let item = Err(std::io::Error::other(error));
                    return Some((item, (reader, changes, sent, None, true)));
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

/// `GET /events/{id}`: the task's status now and after every change, until it ends, each
/// status after a `words` event with the words whose audio started since the last one
/// (`{"words": [{word, start, end, text_start, text_end}]}`, seconds into the task's audio);
/// a failed task's last event is an `error` event with the message.
async fn task_events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use remote_task::Found;
    let task = match remote_task::locate(&app, &id, &headers).await? {
        Found::Here(task) => task,
        Found::Finished(finished) => {
            return Ok(remote_task::final_events(&finished.status, &finished.words))
        }
        Found::Lost(status) => {
            return Ok(remote_task::final_events(&status, &serde_json::Value::Null))
        }
        Found::Elsewhere(cluster, owner) => {
            let path = format!("/events/{id}");
            return match remote_task::forward(&cluster, &owner, &id, Method::GET, &path, &headers)
                .await?
            {
                Ok(response) => Ok(remote_task::forwarded_events(response, &id, &owner)),
                Err(status) => Ok(remote_task::final_events(&status, &serde_json::Value::Null)),
            };
        }
    };
    let changes = task.subscribe();
    let state = TaskEvents {
        task,
        changes,
        first: true,
        words_sent: 0,
        pending: std::collections::VecDeque::new(),
        ended: false,
    };
    let events = futures_util::stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), state))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// One `/events` client's place in its task.
struct TaskEvents {
    task: Arc<tasks::Task>,
    changes: tokio::sync::watch::Receiver<u64>,
    first: bool,
    words_sent: usize,
    /// Events made and not yet sent (a change gives up to three).
    pending: std::collections::VecDeque<Event>,
    ended: bool,
}

impl TaskEvents {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            if !std::mem::take(&mut self.first) && self.changes.changed().await.is_err() {
                return None;
            }
            self.changes.borrow_and_update();
            let status = self.task.status();
            if let Some(words) = self.task.words_from(self.words_sent) {
                self.words_sent += words.as_array().map_or(0, Vec::len);
                self.pending
                    .push_back(event("words", &serde_json::json!({ "words": words })));
            }
            self.ended = status.state.is_final();
            self.pending.push_back(event("status", &status));
            if let Some(message) = status.error.as_ref().filter(|_| self.ended) {
                self.pending
                    .push_back(event("error", &serde_json::json!({ "message": message })));
            }
        }
    }
}

/// A server-sent event named `name` carrying `data` as JSON.
fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let in-flight
/// requests finish for up to the configured timeout, and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_all(Some(listener), app, shutdown).await
}

/// Serve HTTP on `http` (if given) and the Wyoming protocol on every `--wyoming` endpoint until
/// `shutdown` completes.
pub async fn serve_all(
    http: Option<tokio::net::TcpListener>,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopped_tx, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stopped_tx.send(true);
    };
    let mut wyoming_servers = Vec::new();
    for endpoint in &app.config.wyoming {
        let (endpoint, app, stopped) = (endpoint.clone(), Arc::clone(&app), stopped.clone());
        wyoming_servers.push(tokio::spawn(wyoming::serve(endpoint, app, stopped)));
    }
    let grace = Duration::from_secs(app.config.shutdown_timeout_seconds);
    let app_cluster = app.cluster.clone();
    let reaper = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                app.tasks.expire();
                // The rate limiter keeps a bucket per client address until told to forget
                // the ones that have refilled.
                if let Some(governor) = &app.governor {
                    governor.limiter().retain_recent();
                }
            }
        })
    };
    // A cluster node says it is alive every second; its tasks fail for other nodes' clients
    // within seconds of its death (docs/deploy.md).
    let heartbeat = app.cluster.clone().map(|cluster| {
        tokio::spawn(async move {
            // The first beat was said when the node joined (App::new): the next is due a period on.
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + cluster::HEARTBEAT_EVERY,
                cluster::HEARTBEAT_EVERY,
            );
            let mut failing = false;
            loop {
                tick.tick().await;
                let c = Arc::clone(&cluster);
                match tokio::task::spawn_blocking(move || c.heartbeat()).await {
                    Ok(Ok(())) if failing => {
                        info!("cluster: Redis answers again");
                        failing = false;
                    }
                    Ok(Err(e)) if !failing => {
                        warn!("cluster: cannot say this node is alive: {e}");
                        failing = true;
                    }
                    _ => {}
                }
            }
        })
    });
    let limits = conn::Limits {
        max_connections: app.config.max_connections,
        header_timeout: Duration::from_secs(app.config.header_timeout_seconds.max(1)),
        stall_timeout: Duration::from_secs(app.config.stall_timeout_seconds.max(1)),
    };
    let metrics = Arc::clone(&app.metrics);
    let stop = async move {
        shutdown.await;
        info!(
            grace_s = grace.as_secs(),
            "shutting down: no new connections; in-flight requests may finish"
        );
    };
    let result = match http {
        Some(listener) => conn::serve(listener, router(app), limits, metrics, stop, grace).await,
        None => {
            stop.await;
            Ok(())
        }
    };
    reaper.abort();
    if let (Some(heartbeat), Some(cluster)) = (heartbeat, app_cluster) {
        heartbeat.abort();
        // Gone: what it had not finished fails for every node's clients at once.
        let _ = tokio::task::spawn_blocking(move || cluster.leave()).await;
    }
    for server in wyoming_servers {
        if let Ok(Err(e)) = server.await {
            warn!("wyoming: {e}");
        }
    }
    result
}
