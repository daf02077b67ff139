//! The asynchronous face of [`Synthesizer::stream`] (cargo feature `async`): a
//! `futures::Stream` of chunks for tokio programs.

use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Result;
use crate::stream::AudioChunk;
use crate::{SynthesisOptions, Synthesizer};

/// Chunks queued between the blocking reader and the async consumer.
const ASYNC_QUEUE: usize = 4;

/// Streamed audio for async code: a [`futures_core::Stream`] of [`AudioChunk`]s in order. The
/// synthesis runs on indextts's own threads, read on tokio's blocking pool, so no async worker
/// thread ever blocks; the bounded channel between them is the backpressure. Dropping the
/// stream cancels the synthesis (within one chunk).
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
    /// flavour). Text and options are checked now, as in `stream`.
    pub fn stream_async(&self, text: &str, options: &SynthesisOptions) -> Result<AsyncAudioStream> {
        // Starting a stream only checks its input and spawns its threads: it does not block.
        let stream = self.stream(text, options)?;
        let (tx, rx) = tokio::sync::mpsc::channel(ASYNC_QUEUE);
        tokio::task::spawn_blocking(move || {
            for chunk in stream {
                // A closed channel means the consumer is gone: dropping `stream` here cancels.
                if tx.blocking_send(chunk).is_err() {
                    break;
                }
            }
        });
        Ok(AsyncAudioStream { rx })
    }
}
