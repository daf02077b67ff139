//! Helpers for the tests of `indextts-server`: a server on a loopback port, a client, its
//! audio decoded, its metrics read.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use indextts::server::{serve, App, ServerConfig};
use serde_json::Value;

/// A server on 127.0.0.1 with `flags`; stops when dropped.
pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Start a server with the default voice, 2 threads and `flags`.
pub async fn start(flags: &[&str]) -> Server {
    try_start(flags).await.unwrap()
}

/// [`start`], or the error `App::new` gave.
pub async fn try_start(flags: &[&str]) -> indextts::Result<Server> {
    let mut args = vec!["indextts-server", "--bind", "127.0.0.1:0", "--threads", "2"];
    args.extend_from_slice(flags);
    let config = ServerConfig::parse_from(args);
    let listener = tokio::net::TcpListener::bind(config.bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: Arc<App> = tokio::task::spawn_blocking(move || App::new(config))
        .await
        .unwrap()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, async move {
        let _ = stopped.await;
    }));
    Ok(Server {
        base: format!("http://{addr}"),
        addr,
        _stop: stop,
    })
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

// Where the server tests have always found them.
#[allow(unused_imports)]
pub use super::{pcm_audio, wav_audio};

/// `POST /v1/audio/speech` with `body`.
pub async fn speech(base: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/audio/speech"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The body of `GET url`, whatever its status.
pub async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A counter or gauge from `/metrics`.
pub async fn metric(base: &str, name: &str) -> f64 {
    let text = get_text(&format!("{base}/metrics")).await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Wait up to `within` for `metric(name)` to satisfy `ok`; its last value.
pub async fn wait_for_metric(
    base: &str,
    name: &str,
    within: Duration,
    ok: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = metric(base, name).await;
        if ok(value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is still {value} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `indextts-server` binary started with `args` (stderr discarded), once it prints the
/// line naming its address: the child and that address (`http://127.0.0.1:PORT`).
pub fn spawn_server(args: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_indextts-server"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = indextts::testkit::server_address(&mut child).unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{args:?}: {base:?}");
    (child, base)
}
