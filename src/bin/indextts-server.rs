//! The HTTP server: speech streamed while it is made.
//!
//!   cargo run --release --features server --bin indextts-server
//!   # then open http://127.0.0.1:8080/ or:
//!   curl -N http://127.0.0.1:8080/v1/audio/speech -H 'content-type: application/json' \
//!        -d '{"input": "Hello from the server.", "response_format": "wav"}' > hello.wav

use std::process::ExitCode;

use clap::Parser;
use indextts::server::{serve_all, App, ServerConfig};

fn main() -> ExitCode {
    indextts::limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("indextts-server: cannot start its runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let config = ServerConfig::parse();
    if config.no_http && config.wyoming.is_empty() {
        eprintln!("indextts-server: --no-http needs a --wyoming endpoint");
        return ExitCode::FAILURE;
    }
    let listener = if config.no_http {
        None
    } else {
        match tokio::net::TcpListener::bind(config.bind).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("indextts-server: cannot listen on {}: {e}", config.bind);
                return ExitCode::FAILURE;
            }
        }
    };
    let app = match tokio::task::spawn_blocking(move || App::new(config)).await {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => {
            eprintln!("indextts-server: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("indextts-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.as_ref().map(tokio::net::TcpListener::local_addr) {
        // Scripts read the address from this line (the port may have been 0).
        Some(Ok(addr)) => println!("indextts-server listening on http://{addr}"),
        Some(Err(e)) => eprintln!("indextts-server: {e}"),
        None => {}
    }
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(term) => { term.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    };
    match serve_all(listener, app, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("indextts-server: {e}");
            ExitCode::FAILURE
        }
    }
}
