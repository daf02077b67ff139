//! The Wyoming protocol (Home Assistant's voice services), as a text-to-speech server:
//! `indextts-server --wyoming tcp://127.0.0.1:10200` (or `unix:///run/indextts.sock`), beside or
//! instead of HTTP.
//!
//! An event is a JSON header line (`type`, `data_length`, `payload_length`, and optionally
//! `data` inline), then `data_length` bytes of JSON data merged into the header's, then
//! `payload_length` bytes of payload (`wyoming==1.10.2`'s `event.py`). Served:
//! - `describe` -> `info`: one `tts` program listing every voice (languages, speakers),
//!   `supports_synthesize_streaming: true`;
//! - `synthesize` (text, voice by name, else by language, and speaker) -> `audio-start`,
//!   `audio-chunk`s (16-bit mono PCM payloads), `audio-stop`; the text is spoken as a text
//!   stream given all of it at once (its first clause alone, then sentence by sentence);
//! - `synthesize-start`, `synthesize-chunk`s, `synthesize-stop` -> the audio of each sentence
//!   (or clause: the text-stream rule of `crate::text_stream`) as soon as it is complete, then
//!   `synthesize-stopped`; a `synthesize` inside such a stream is the compatibility copy and is
//!   dropped, as the protocol asks;
//! - `ping` -> `pong`; other types are dropped (the protocol's rule for unknown events).
//!
//! Limits are HTTP's: the worker pool and its queue, the per-client quota, the text size and
//! audio caps, the stall timeout on every write; a client that disconnects cancels its
//! synthesis; a malformed or oversize event is an `error` event, then the connection closes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{info, warn};

use super::admission::Priority;
use super::{ApiError, App};
use crate::{AsyncAudioStream, SynthesisOptions, Synthesizer};

/// Longest header line read.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest payload read (a text-to-speech client sends none; it is read and dropped).
const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Samples in one `audio-chunk` at most.
const CHUNK_SAMPLES: usize = 4096;
/// Time a connection may sit between events.
const IDLE: Duration = Duration::from_secs(300);

/// Where to listen: `tcp://HOST:PORT` or `unix://PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(String),
    /// A Unix socket path (removed and made again at start).
    Unix(std::path::PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = uri.strip_prefix("tcp://") {
            Ok(Endpoint::Tcp(addr.to_owned()))
        } else if let Some(path) = uri.strip_prefix("unix://") {
            Ok(Endpoint::Unix(path.into()))
        } else {
            Err(format!(
                "{uri:?}: a Wyoming endpoint is tcp://HOST:PORT or unix://PATH"
            ))
        }
    }
}

/// Accept Wyoming clients on `endpoint` until `stop` turns true. Prints the address it listens
/// on (scripts read it: the port may have been 0).
pub async fn serve(
    endpoint: Endpoint,
    app: Arc<App>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!(
                "indextts-server listening on tcp://{}",
                listener.local_addr()?
            );
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, peer)) = accepted else { continue };
                        let _ = socket.set_nodelay(true);
                        tokio::spawn(connection(socket, peer.ip(), Arc::clone(&app)));
                    }
                    _ = stop.changed() => return Ok(()),
                }
            }
        }
        Endpoint::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path)?;
            println!("indextts-server listening on unix://{}", path.display());
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        // Every local client counts as one, as loopback HTTP clients do.
                        let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
                        tokio::spawn(connection(socket, client, Arc::clone(&app)));
                    }
                    _ = stop.changed() => return Ok(()),
                }
            }
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its type (`synthesize`, `audio-chunk`, ...).
    pub kind: String,
    /// Its data (an object).
    pub data: Map<String, Value>,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Event {
    fn new(kind: &str, data: Value) -> Event {
        Event {
            kind: kind.to_owned(),
            data: match data {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            payload: Vec::new(),
        }
    }

    /// The event on the wire: the header line, then the data, then the payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let data = (!self.data.is_empty()).then(|| Value::Object(self.data.clone()).to_string());
        let mut header = json!({ "type": self.kind, "version": "1.10.2" });
        if let Some(data) = &data {
            header["data_length"] = data.len().into();
        }
        if !self.payload.is_empty() {
            header["payload_length"] = self.payload.len().into();
        }
        let mut bytes = header.to_string().into_bytes();
        bytes.push(b'\n');
        if let Some(data) = data {
            bytes.extend_from_slice(data.as_bytes());
        }
        bytes.extend_from_slice(&self.payload);
        bytes
    }
}

/// Why a connection's events cannot be read on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection.
    #[error("the client closed the connection")]
    Closed,
    /// An event that is not one.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The socket failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Read one event, with `max_data` bytes of data at most; `Closed` at a clean end between
/// events.
pub async fn read_event<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max_data: usize,
) -> Result<Event, ReadError> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_HEADER_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if line.last() != Some(&b'\n') {
        return Err(ReadError::Malformed(if line.len() > MAX_HEADER_BYTES {
            format!("a header line longer than {MAX_HEADER_BYTES} bytes")
        } else {
            "the connection closed inside a header line".into()
        }));
    }
    let header: Value = serde_json::from_slice(&line)
        .map_err(|e| ReadError::Malformed(format!("the header is not JSON: {e}")))?;
    let kind = header
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ReadError::Malformed("the header has no \"type\"".into()))?
        .to_owned();
    let length = |key: &str, max: usize| -> Result<usize, ReadError> {
        match header.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= max)
                .ok_or_else(|| {
                    ReadError::Malformed(format!("{key} {v} is not a length up to {max} bytes"))
                }),
        }
    };
    let data_length = length("data_length", max_data)?;
    let payload_length = length("payload_length", MAX_PAYLOAD_BYTES)?;
    let mut data = match header.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ReadError::Malformed("\"data\" is not an object".into())),
    };
    if data_length > 0 {
        let mut bytes = vec![0u8; data_length];
        reader.read_exact(&mut bytes).await?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(more)) => data.extend(more),
            _ => return Err(ReadError::Malformed("the data is not a JSON object".into())),
        }
    }
    let mut payload = vec![0u8; payload_length];
    reader.read_exact(&mut payload).await?;
    Ok(Event {
        kind,
        data,
        payload,
    })
}

/// The espeak-ng style tag of a voice as Wyoming's (Home Assistant's) `en_US`: `cmn` is
/// `zh_CN`.
fn wyoming_language(tag: &str) -> String {
    match tag {
        "cmn" | "zh" => "zh_CN".into(),
        _ => match tag.split_once('-') {
            Some((language, region)) => format!("{language}_{}", region.to_ascii_uppercase()),
            None => tag.to_owned(),
        },
    }
}

/// `info` for `describe`: one text-to-speech program with every voice.
fn info(app: &App) -> Event {
    let attribution = json!({ "name": "indextts", "url": "https://github.com/indextts/indextts" });
    let voices: Vec<Value> = app
        .voices
        .iter()
        .map(|(name, synth)| {
            let config = synth.config();
            let mut speakers: Vec<&String> = config.speaker_id_map.keys().collect();
            speakers.sort();
            json!({
                "name": name,
                "attribution": attribution,
                "installed": true,
                "description": format!("{name} ({:?}, {} Hz)", config.family, synth.sample_rate()),
                "version": env!("CARGO_PKG_VERSION"),
                "languages": [wyoming_language(config.language())],
                "speakers": (!speakers.is_empty())
                    .then(|| speakers.iter().map(|s| json!({ "name": s })).collect::<Vec<_>>()),
            })
        })
        .collect();
    Event::new(
        "info",
        json!({
            "tts": [{
                "name": "indextts",
                "attribution": attribution,
                "installed": true,
                "description": "indextts: low-latency neural text-to-speech on CPU",
                "version": env!("CARGO_PKG_VERSION"),
                "voices": voices,
                "supports_synthesize_streaming": true,
            }],
        }),
    )
}

/// The voice a request's `voice` object asks for (by name, else by language, else the
/// default), and the speaker to give it.
fn choose_voice(
    app: &App,
    voice: Option<&Value>,
) -> Result<(Synthesizer, Option<String>), ApiError> {
    let field = |key: &str| voice.and_then(|v| v.get(key)).and_then(Value::as_str);
    let speaker = field("speaker").map(str::to_owned);
    if let Some(name) = field("name") {
        let (synth, named_speaker) = app.voice(Some(name))?;
        return Ok((synth.clone(), named_speaker.or(speaker)));
    }
    if let Some(language) = field("language") {
        let wanted = language.replace('-', "_").to_ascii_lowercase();
        let of =
            |synth: &Synthesizer| wyoming_language(synth.config().language()).to_ascii_lowercase();
        let exact = app.voices.values().find(|s| of(s) == wanted);
        let primary = wanted.split('_').next().unwrap_or_default().to_owned();
        let same_language = || {
            app.voices
                .values()
                .find(|s| of(s).split('_').next() == Some(primary.as_str()))
        };
        if let Some(synth) = exact.or_else(same_language) {
            return Ok((synth.clone(), speaker));
        }
    }
    let (synth, _) = app.voice(None)?;
    Ok((synth.clone(), speaker))
}

/// A connection's writer: every write within the stall timeout.
struct Writer<W> {
    inner: W,
    stall: Duration,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    async fn send(&mut self, event: &Event) -> std::io::Result<()> {
        let bytes = event.to_bytes();
        match tokio::time::timeout(self.stall, self.inner.write_all(&bytes)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for the stall timeout",
            )),
        }
    }

    async fn error(&mut self, text: &str, code: &str) -> std::io::Result<()> {
        self.send(&Event::new("error", json!({ "text": text, "code": code })))
            .await
    }
}

/// What a connection is doing between events.
enum Session {
    Idle,
    /// A streaming synthesis: text goes to `sink`; `audio` runs until it ends.
    Streaming {
        sink: Option<crate::TextSink>,
        audio: AudioEvents,
        text_bytes: usize,
        stopped: bool,
    },
}

/// A synthesis's audio as Wyoming events.
struct AudioEvents {
    chunks: AsyncAudioStream,
    sample_rate: u32,
    started: bool,
    samples: u64,
    max_samples: u64,
    request_start: Instant,
}

impl AudioEvents {
    fn new(chunks: AsyncAudioStream, synth: &Synthesizer, app: &App) -> Self {
        AudioEvents {
            chunks,
            sample_rate: synth.sample_rate(),
            started: false,
            samples: 0,
            max_samples: app.max_samples(synth.sample_rate()),
            request_start: Instant::now(),
        }
    }

    fn format(&self) -> Value {
        json!({ "rate": self.sample_rate, "width": 2, "channels": 1 })
    }

    /// Send one chunk's events (`audio-start` first); an error text if the synthesis must end.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        chunk: crate::AudioChunk,
        out: &mut Writer<W>,
        app: &App,
    ) -> std::io::Result<Option<String>> {
        if !self.started {
            self.started = true;
            app.metrics
                .time_to_first_audio(self.request_start.elapsed());
            out.send(&Event::new("audio-start", self.format())).await?;
        }
        self.samples += chunk.samples.len() as u64;
        if self.samples > self.max_samples {
            return Ok(Some(super::audio_cap_error(app)));
        }
        for piece in chunk.samples.chunks(CHUNK_SAMPLES) {
            let mut event = Event::new("audio-chunk", self.format());
            super::pcm_bytes(
                piece.iter().map(|&s| crate::sample_to_i16(s)),
                &mut event.payload,
            );
            out.send(&event).await?;
        }
        Ok(None)
    }

    /// The end of the audio: `audio-stop` (after an `audio-start`, even for silence).
    async fn finish<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut Writer<W>,
        app: &App,
    ) -> std::io::Result<()> {
        if !self.started {
            out.send(&Event::new("audio-start", self.format())).await?;
        }
        out.send(&Event::new("audio-stop", json!({}))).await?;
        app.metrics
            .streams_completed
            .fetch_add(1, Ordering::Relaxed);
        let seconds = self.samples as f64 / f64::from(self.sample_rate.max(1));
        app.metrics
            .audio_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Wait for a worker for `client`; the error text and code to send when refused.
async fn admit(
    app: &App,
    client: IpAddr,
) -> Result<super::admission::Permit, (String, &'static str)> {
    let ticket = app
        .admit(client, &axum::http::HeaderMap::new(), Priority::Normal)
        .map_err(|e| (e.message.clone(), e.code))?;
    ticket
        .wait()
        .await
        .ok_or_else(|| ("the server is shutting down".to_owned(), "busy"))
}

/// Serve one client until it leaves (or breaks the protocol). A task of its own reads the
/// client's events into a channel, so reading never stops halfway through an event while audio
/// is being sent.
async fn connection<S>(socket: S, client: IpAddr, app: Arc<App>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read, write) = tokio::io::split(socket);
    let max_data = app.config.max_text_bytes + 4096;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(read);
        loop {
            let event = read_event(&mut reader, max_data).await;
            let end = event.is_err();
            if tx.send(event).await.is_err() || end {
                return;
            }
        }
    });
    let mut out = Writer {
        inner: write,
        stall: Duration::from_secs(app.config.stall_timeout_seconds.max(1)),
    };
    app.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let result = events(&mut rx, &mut out, client, &app).await;
    app.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
    reader.abort();
    match result {
        Ok(()) | Err(ReadError::Closed) => {}
        Err(ReadError::Malformed(why)) => {
            warn!(%client, %why, "wyoming: malformed event; closing");
            let _ = out.error(&why, "malformed_event").await;
        }
        Err(ReadError::Io(e)) => {
            if e.kind() == std::io::ErrorKind::TimedOut {
                app.metrics
                    .connections_stalled
                    .fetch_add(1, Ordering::Relaxed);
            }
            info!(%client, error = %e, "wyoming: connection ended");
        }
    }
    let _ = out.inner.shutdown().await;
}

/// What a connection does next.
enum Step {
    Event(Event),
    Chunk(Option<crate::Result<crate::AudioChunk>>),
}

/// The event loop of one connection. Dropping it (the client left, or broke the protocol)
/// drops any synthesis running, which cancels it.
async fn events<W: AsyncWrite + Unpin>(
    rx: &mut tokio::sync::mpsc::Receiver<Result<Event, ReadError>>,
    out: &mut Writer<W>,
    client: IpAddr,
    app: &Arc<App>,
) -> Result<(), ReadError> {
    let mut session = Session::Idle;
    loop {
        let step = match &mut session {
            Session::Idle => match tokio::time::timeout(IDLE, rx.recv()).await {
                Ok(Some(event)) => Step::Event(event?),
                Ok(None) | Err(_) => return Ok(()),
            },
            Session::Streaming { audio, .. } => tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => Step::Event(event?),
                    None => return Ok(()),
                },
                chunk = next_chunk(&mut audio.chunks) => Step::Chunk(chunk),
            },
        };
        match step {
            Step::Event(event) => handle(event, &mut session, out, client, app).await?,
            Step::Chunk(chunk) => {
                if stream_chunk(chunk, &mut session, out, app).await? {
                    session = Session::Idle;
                }
            }
        }
    }
}

/// Send a streaming session's chunk (or its end, or its failure); true when the session is
/// over.
async fn stream_chunk<W: AsyncWrite + Unpin>(
    chunk: Option<crate::Result<crate::AudioChunk>>,
    session: &mut Session,
    out: &mut Writer<W>,
    app: &App,
) -> std::io::Result<bool> {
    let Session::Streaming { audio, stopped, .. } = session else {
        return Ok(true);
    };
    match chunk {
        Some(Ok(chunk)) => match audio.forward(chunk, out, app).await? {
            Some(error) => {
                out.error(&error, "audio_cap").await?;
                Ok(true)
            }
            None => Ok(false),
        },
        Some(Err(e)) => {
            app.metrics.syntheses_failed.fetch_add(1, Ordering::Relaxed);
            out.error(&e.to_string(), "synthesis_failed").await?;
            Ok(true)
        }
        None => {
            // The audio ends only after the text has (synthesize-stop finished the sink).
            audio.finish(out, app).await?;
            if *stopped {
                out.send(&Event::new("synthesize-stopped", json!({})))
                    .await?;
            }
            Ok(true)
        }
    }
}

/// The next chunk of a stream (`None` once it has ended).
async fn next_chunk(chunks: &mut AsyncAudioStream) -> Option<crate::Result<crate::AudioChunk>> {
    use futures_core::Stream as _;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *chunks).poll_next(cx)).await
}

/// One client event.
async fn handle<W: AsyncWrite + Unpin>(
    event: Event,
    session: &mut Session,
    out: &mut Writer<W>,
    client: IpAddr,
    app: &Arc<App>,
) -> Result<(), ReadError> {
    let text = event.data.get("text").and_then(Value::as_str);
    match (event.kind.as_str(), &mut *session) {
        ("describe", _) => out.send(&info(app)).await?,
        ("ping", _) => {
            let data = event
                .data
                .get("text")
                .map_or(json!({}), |t| json!({ "text": t }));
            out.send(&Event::new("pong", data)).await?;
        }
        ("synthesize", Session::Idle) => {
            let Some(text) = text else {
                return Ok(out
                    .error("synthesize needs \"text\"", "invalid_request")
                    .await?);
            };
            let (synth, options) = match request(app, event.data.get("voice"), Some(text)) {
                Ok(chosen) => chosen,
                Err(e) => return Ok(out.error(&e.message, e.code).await?),
            };
            let permit = match admit(app, client).await {
                Ok(permit) => permit,
                Err((why, code)) => return Ok(out.error(&why, code).await?),
            };
            // Spoken as a text stream given all its text at once: the first clause alone,
            // then sentence by sentence, so a voice assistant's reply starts sooner.
            let chunks = match synth.text_stream_async_holding(&options, permit) {
                Ok((mut sink, chunks)) => {
                    if let Err(e) = sink.push(text).and_then(|()| sink.finish()) {
                        return Ok(out.error(&e.to_string(), "synthesis_failed").await?);
                    }
                    chunks
                }
                Err(e) => return Ok(out.error(&e.to_string(), "invalid_request").await?),
            };
            let mut audio = AudioEvents::new(chunks, &synth, app);
            while let Some(chunk) = next_chunk(&mut audio.chunks).await {
                match chunk {
                    Ok(chunk) => {
                        if let Some(error) = audio.forward(chunk, out, app).await? {
                            return Ok(out.error(&error, "audio_cap").await?);
                        }
                    }
                    Err(e) => {
                        app.metrics.syntheses_failed.fetch_add(1, Ordering::Relaxed);
                        return Ok(out.error(&e.to_string(), "synthesis_failed").await?);
                    }
                }
            }
            audio.finish(out, app).await?;
        }
        // The compatibility copy a streaming client sends of its whole text.
        ("synthesize", Session::Streaming { .. }) => {}
        ("synthesize-start", Session::Idle) => {
            let (synth, options) = match request(app, event.data.get("voice"), None) {
                Ok(chosen) => chosen,
                Err(e) => return Ok(out.error(&e.message, e.code).await?),
            };
            let permit = match admit(app, client).await {
                Ok(permit) => permit,
                Err((why, code)) => return Ok(out.error(&why, code).await?),
            };
            match synth.text_stream_async_holding(&options, permit) {
                Ok((sink, chunks)) => {
                    *session = Session::Streaming {
                        sink: Some(sink),
                        audio: AudioEvents::new(chunks, &synth, app),
                        text_bytes: 0,
                        stopped: false,
                    };
                }
                Err(e) => out.error(&e.to_string(), "invalid_request").await?,
            }
        }
        (
            "synthesize-chunk",
            Session::Streaming {
                sink: Some(sink),
                text_bytes,
                ..
            },
        ) => {
            let text = text.unwrap_or_default();
            *text_bytes += text.len();
            if *text_bytes > app.config.max_text_bytes {
                let why = format!(
                    "the streamed text passed this server's {} bytes per request",
                    app.config.max_text_bytes
                );
                *session = Session::Idle;
                return Ok(out.error(&why, "text_too_long").await?);
            }
            if sink.push(text).is_err() {
                // The synthesis ended (it failed and said so): the text has nowhere to go.
                *session = Session::Idle;
            }
        }
        ("synthesize-stop", Session::Streaming { sink, stopped, .. }) => {
            if let Some(sink) = sink.take() {
                let _ = sink.finish();
            }
            *stopped = true;
        }
        ("synthesize-chunk" | "synthesize-stop", Session::Idle) => {
            out.error(
                &format!(
                    "{} outside a synthesize-start ... synthesize-stop stream",
                    event.kind
                ),
                "invalid_request",
            )
            .await?;
        }
        ("synthesize-start", Session::Streaming { .. }) => {
            out.error(
                "a stream is already running on this connection",
                "invalid_request",
            )
            .await?;
        }
        // Unknown events are dropped, as the protocol asks of servers.
        _ => {}
    }
    Ok(())
}

/// The voice and options of a request (its text checked when given).
fn request(
    app: &App,
    voice: Option<&Value>,
    text: Option<&str>,
) -> Result<(Synthesizer, SynthesisOptions), ApiError> {
    let (synth, speaker) = choose_voice(app, voice)?;
    let options = match text {
        Some(text) => super::options_for(app, &synth, text, None, speaker)?,
        None => SynthesisOptions {
            speaker,
            ..SynthesisOptions::default()
        },
    };
    Ok((synth, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_round_trip_and_bad_ones_are_refused() {
        let mut event = Event::new(
            "audio-chunk",
            json!({ "rate": 22050, "width": 2, "channels": 1 }),
        );
        event.payload = vec![1, 2, 3, 4];
        let bytes = event.to_bytes();
        let mut reader = BufReader::new(&bytes[..]);
        assert_eq!(read_event(&mut reader, 1024).await.unwrap(), event);
        assert!(matches!(
            read_event(&mut reader, 1024).await,
            Err(ReadError::Closed)
        ));

        // Inline data merges with the data section, as wyoming's reader does.
        let inline = b"{\"type\": \"synthesize\", \"data\": {\"text\": \"a\"}, \"data_length\": 15}\n{\"voice\": null}";
        let read = read_event(&mut BufReader::new(&inline[..]), 1024)
            .await
            .unwrap();
        assert_eq!(read.data.get("text"), Some(&json!("a")));

        for (bad, why) in [
            (&b"not json\n"[..], "not JSON"),
            (b"{\"data_length\": 2}\n{}", "no \"type\""),
            (b"{\"type\": \"x\", \"data_length\": 99999999}\n", "up to"),
            (b"{\"type\": \"x\", \"payload_length\": -1}\n", "up to"),
            (
                b"{\"type\": \"x\", \"data_length\": 2}\n[]",
                "not a JSON object",
            ),
            (b"{\"type\": \"x\"", "inside a header"),
        ] {
            match read_event(&mut BufReader::new(bad), 1024).await {
                Err(ReadError::Malformed(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let long = vec![b'x'; MAX_HEADER_BYTES + 10];
        assert!(matches!(
            read_event(&mut BufReader::new(&long[..]), 1024).await,
            Err(ReadError::Malformed(_))
        ));
    }

    #[test]
    fn languages_in_home_assistants_form() {
        assert_eq!(wyoming_language("en-us"), "en_US");
        assert_eq!(wyoming_language("en-gb"), "en_GB");
        assert_eq!(wyoming_language("cmn"), "zh_CN");
        assert_eq!(wyoming_language("es"), "es");
        assert_eq!(
            "tcp://127.0.0.1:10200".parse::<Endpoint>(),
            Ok(Endpoint::Tcp("127.0.0.1:10200".into()))
        );
        assert!("http://x".parse::<Endpoint>().is_err());
    }
}
