//! How far each stream's audio is ahead of its listener, and so which stream's model run is the
//! most urgent when several wait for a session.
//!
//! Every stream counts the samples it hands on in a [`Playhead`]; its threads (both stages and
//! the vocoder's window workers) [`enter`] it. A thread that waits for a model session waits in
//! the order of its stream's deadline: the moment a listener playing in real time would run out
//! of audio (for a stream that has given none yet, the moment it was asked for). So a new
//! stream's first window goes before the next window of a stream that is seconds ahead, and a
//! busy server starts every listener soon instead of finishing one request before the next.
//! Threads of no stream (a whole-text `synthesize`) wait as of the moment they ask.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A stream's audio handed on so far; the clock starts with the first sample.
#[derive(Debug)]
pub(crate) struct Playhead {
    asked: Instant,
    sample_rate: u32,
    samples: AtomicU64,
    first: OnceLock<Instant>,
}

impl Playhead {
    /// A stream of audio at `sample_rate`, asked for now.
    pub fn new(sample_rate: u32) -> Playhead {
        Playhead {
            asked: Instant::now(),
            sample_rate: sample_rate.max(1),
            samples: AtomicU64::new(0),
            first: OnceLock::new(),
        }
    }

    /// `n` more samples were handed to the listener.
    pub fn advance(&self, n: usize) {
        self.first.get_or_init(Instant::now);
        self.samples.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Whether any audio has been handed to the listener.
    pub fn started(&self) -> bool {
        self.first.get().is_some()
    }

    fn made(&self) -> Duration {
        let samples = self.samples.load(Ordering::Relaxed);
        Duration::from_secs_f64(samples as f64 / f64::from(self.sample_rate))
    }

    /// Audio made but not yet heard by a listener playing it in real time.
    pub fn ahead(&self) -> Duration {
        match self.first.get() {
            Some(first) => self.made().saturating_sub(first.elapsed()),
            None => Duration::ZERO,
        }
    }

    /// When a listener playing in real time runs out of this stream's audio.
    pub fn deadline(&self) -> Instant {
        match self.first.get() {
            Some(first) => *first + self.made(),
            None => self.asked,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Playhead>>> = const { RefCell::new(None) };
}

/// This thread works for the stream of `playhead` until the guard is dropped.
pub(crate) fn enter(playhead: Option<Arc<Playhead>>) -> Entered {
    let previous = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), playhead));
    Entered(previous)
}

/// The playhead of the stream this thread works for, to hand to threads it starts.
pub(crate) fn current() -> Option<Arc<Playhead>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The deadline of this thread's next model run: its stream's, else now.
pub(crate) fn deadline() -> Instant {
    CURRENT
        .with(|c| c.borrow().as_ref().map(|p| p.deadline()))
        .unwrap_or_else(Instant::now)
}

/// Restores the thread's previous stream when dropped.
pub(crate) struct Entered(Option<Arc<Playhead>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ahead_of_its_listener_is_less_urgent_than_a_new_one() {
        let ahead = Arc::new(Playhead::new(1000));
        ahead.advance(5000); // five seconds of audio handed on
        let new = Arc::new(Playhead::new(1000));
        assert!(new.deadline() < ahead.deadline());
        assert!(ahead.ahead() > Duration::from_secs(4));
        assert_eq!(new.ahead(), Duration::ZERO);
        {
            let _in = enter(Some(Arc::clone(&ahead)));
            assert_eq!(deadline(), ahead.deadline());
            {
                let _nested = enter(Some(Arc::clone(&new)));
                assert_eq!(deadline(), new.deadline());
            }
            assert!(Arc::ptr_eq(&current().unwrap(), &ahead));
        }
        assert!(current().is_none());
        // No stream: as of now, so after a new stream asked earlier.
        assert!(deadline() >= new.deadline());
    }
}
