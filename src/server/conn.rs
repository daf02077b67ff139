//! The connection loop: what axum's `serve` does, plus what a server facing the open network
//! needs and `serve` does not give: a cap on open connections, hyper's header read timeout
//! (which needs a timer, and `serve` installs none), and a write-stall timeout, so a client
//! that stops reading loses its connection (and with it its synthesis and its worker) instead
//! of holding them forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tracing::{debug, warn};

use super::Metrics;

/// Bytes asked for a connection's kernel send buffer (Linux doubles it, for its bookkeeping,
/// to 256 KiB: about 3 s of 22,050 Hz 16-bit audio), far more than a reader at playback speed
/// needs queued.
const SEND_BUFFER: usize = 128 * 1024;

/// Limits of each connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Time a write may wait for the client to read before the connection is closed.
    pub stall_timeout: Duration,
}

/// A connection whose writes fail once they have made no progress for `stall`: a client that
/// reads nothing for that long (its receive window and our send buffer full) is cut off.
struct StallGuard {
    io: TcpStream,
    stall: Duration,
    /// Running while a write is pending; reset by any progress.
    waiting: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl StallGuard {
    /// What a write returned: progress clears the clock, a pending write starts or checks it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.waiting = None;
            return poll;
        }
        let stall = self.stall;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        ready!(waiting.as_mut().poll(cx));
        self.metrics
            .connections_stalled
            .fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {stall:?}"),
        )))
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accept and serve connections on `listener` until `stop` resolves; then stop accepting and
/// wait up to `grace` for the open connections' requests to finish.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    // HTTP/1.1 only, as axum's `serve` gave us (its `http2` feature was never on).
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    // Graceful shutdown by hand: hyper-util's `GracefulShutdown` takes no connection that may
    // upgrade (to a WebSocket). Each connection task holds a clone of `live`.
    let (shutting_down, shutdown) = tokio::sync::watch::channel(false);
    let live = Arc::new(());
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&open).acquire_owned() => slot,
            () = &mut stop => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        // A fixed send buffer, not the kernel's autotuned one (up to 4 MiB on loopback): a
        // client that stops reading is noticed after SEND_BUFFER of audio, not half a minute
        // of it, and 1,024 stalled clients pin at most 256 MiB of kernel memory.
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let io = TokioIo::new(StallGuard {
            io: stream,
            stall: limits.stall_timeout,
            waiting: None,
            metrics: Arc::clone(&metrics),
        });
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(service);
        let connection = builder.serve_connection(io, service).with_upgrades();
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        let metrics = Arc::clone(&metrics);
        let (mut shutdown, live) = (shutdown.clone(), Arc::clone(&live));
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = shutdown.changed() => {
                    // Finish the request in flight, take no other.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                debug!(%peer, "connection ended: {e}");
            }
            metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop((slot, live));
        });
    }
    drop(listener);
    let _ = shutting_down.send(true);
    let deadline = tokio::time::Instant::now() + grace;
    while Arc::strong_count(&live) > 1 {
        if tokio::time::Instant::now() >= deadline {
            warn!("requests still running after {grace:?}; stopping anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
