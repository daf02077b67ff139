//! The asynchronous face of [`Synthesizer::stream`] (cargo feature `async`): a
//! `futures::Stream` of chunks for tokio programs.

use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::stream::AudioChunk;
use crate::{SynthesisOptions, Synthesizer};

/// Chunks queued between the blocking reader and the async consumer.
const ASYNC_QUEUE: usize = 4;

/// Streamed audio for async code: a [`futures_core::Stream`] of [`AudioChunk`]s in order. The
/// synthesis runs on indextts's own threads, read on tokio's blocking pool, so no async worker
/// thread ever blocks; the bounded channel between them is the backpressure. Dropping the
/// stream cancels the synthesis (within one model run).
#[derive(Debug)]
pub struct AsyncAudioStream {
    rx: tokio::sync::mpsc::Receiver<Result<AudioChunk>>,
}

impl futures_core::Stream for AsyncAudioStream {
    type Item = Result<AudioChunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Synthesizer {
    /// [`Synthesizer::stream`] for async code. Must be called within a tokio runtime (any
    /// flavour; outside one it is [`Error::NoAsyncRuntime`]). Text and options are checked
    /// now, as in `stream`.
    pub fn stream_async(&self, text: &str, options: &SynthesisOptions) -> Result<AsyncAudioStream> {
        self.stream_async_holding(text, options, ())
    }

    /// `stream_async`, holding `guard` until the synthesis has stopped: its threads joined,
    /// after the last chunk or a cancel. The server's worker permit rides here, so a client
    /// that leaves frees its worker only once the work it started has really ended.
    pub(crate) fn stream_async_holding<G: Send + 'static>(
        &self,
        text: &str,
        options: &SynthesisOptions,
        guard: G,
    ) -> Result<AsyncAudioStream> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoAsyncRuntime {
            what: "Synthesizer::stream_async",
        })?;
        // Starting a stream only checks its input and spawns its threads: it does not block.
        let stream = self.stream(text, options)?;
        Ok(read_on_blocking_pool(&runtime, stream, guard))
    }

    /// [`Synthesizer::text_stream`] for async code: the sink is the same (pushing never
    /// blocks), the audio an [`AsyncAudioStream`]. Must be called within a tokio runtime.
    pub fn text_stream_async(
        &self,
        options: &SynthesisOptions,
    ) -> Result<(crate::TextSink, AsyncAudioStream)> {
        self.text_stream_async_holding(options, ())
    }

    /// `text_stream_async`, holding `guard` until the synthesis has stopped (see
    /// `stream_async_holding`).
    pub(crate) fn text_stream_async_holding<G: Send + 'static>(
        &self,
        options: &SynthesisOptions,
        guard: G,
    ) -> Result<(crate::TextSink, AsyncAudioStream)> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoAsyncRuntime {
            what: "Synthesizer::text_stream_async",
        })?;
        let (sink, stream) = self.text_stream(options)?;
        Ok((sink, read_on_blocking_pool(&runtime, stream, guard)))
    }
}

/// Read `stream` on tokio's blocking pool into a bounded channel; `guard` is dropped once the
/// stream's threads are joined.
fn read_on_blocking_pool<G: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    stream: crate::AudioStream,
    guard: G,
) -> AsyncAudioStream {
    {
        let (tx, rx) = tokio::sync::mpsc::channel(ASYNC_QUEUE);
        runtime.spawn_blocking(move || {
            let mut stream = stream;
            for chunk in stream.by_ref() {
                // A closed channel means the consumer is gone: dropping `stream` cancels.
                if tx.blocking_send(chunk).is_err() {
                    break;
                }
            }
            // Cancels what is left and joins the stage threads; only then the guard goes.
            drop(stream);
            drop(guard);
        });
        AsyncAudioStream { rx }
    }
}
