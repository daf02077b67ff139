//! A small pool of ONNX Runtime sessions of one model.
//!
//! `ort`'s `Session::run` takes `&mut self`, so a session serves one run at a time. A shared
//! synthesizer keeps a few sessions of each half and lends them out; callers beyond the pool size
//! wait for one to come back, and a returned session goes to the waiter whose stream's listener
//! runs out of audio first ([`crate::playhead`]), the earliest asked among equals.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use ort::session::Session;

pub(crate) struct SessionPool<S = Session> {
    state: Mutex<PoolState<S>>,
    returned: Condvar,
}

struct PoolState<S> {
    idle: Vec<S>,
    /// Who waits: (deadline, ticket), earliest first.
    waiting: BTreeSet<(Instant, u64)>,
    tickets: u64,
}

impl<S> SessionPool<S> {
    pub fn new(sessions: Vec<S>) -> Self {
        SessionPool {
            state: Mutex::new(PoolState {
                idle: sessions,
                waiting: BTreeSet::new(),
                tickets: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Run `f` with a session of the pool, waiting for one if all are lent out.
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let mut lent = Lent {
            pool: self,
            session: Some(self.take(crate::playhead::deadline())),
        };
        let session = lent
            .session
            .as_mut()
            .unwrap_or_else(|| unreachable!("set above"));
        f(session)
    }

    fn take(&self, deadline: Instant) -> S {
        // A poisoned lock only means a panic elsewhere; the sessions in it are still valid.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.waiting.is_empty() {
            if let Some(session) = state.idle.pop() {
                return session;
            }
        }
        let me = (deadline, state.tickets);
        state.tickets += 1;
        state.waiting.insert(me);
        loop {
            if state.waiting.first() == Some(&me) {
                if let Some(session) = state.idle.pop() {
                    state.waiting.remove(&me);
                    if !state.idle.is_empty() && !state.waiting.is_empty() {
                        // Another session is idle: the next waiter may take it.
                        self.returned.notify_all();
                    }
                    return session;
                }
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Gives the session back when dropped, even if `f` panicked.
struct Lent<'a, S> {
    pool: &'a SessionPool<S>,
    session: Option<S>,
}

impl<S> Drop for Lent<'_, S> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
            state.idle.push(session);
            if !state.waiting.is_empty() {
                // Every waiter looks; only the earliest takes it.
                self.pool.returned.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::playhead::{self, Playhead};

    /// One session, lent out; three streams queue for it in the order new, far ahead, nearly
    /// dry. It goes to the nearly dry one, then the new one, then the one far ahead.
    #[test]
    fn a_returned_session_goes_to_the_stream_that_runs_dry_first() {
        let pool = Arc::new(SessionPool::new(vec![0u32]));
        let order = Arc::new(Mutex::new(Vec::new()));
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.with(|_| hold_rx.recv().ok()))
        };
        while pool.state.lock().unwrap().idle.len() == 1 {
            std::thread::yield_now();
        }
        // Handed a millisecond of audio 10 ms ago: its listener is waiting.
        let dry = Arc::new(Playhead::new(1000));
        dry.advance(1);
        std::thread::sleep(Duration::from_millis(10));
        let new = Arc::new(Playhead::new(1000));
        let ahead = Arc::new(Playhead::new(1000));
        ahead.advance(60_000); // a minute of audio handed on
        let mut waiters = Vec::new();
        for (name, stream) in [("new", new), ("ahead", ahead), ("dry", dry)] {
            let (lender, order) = (Arc::clone(&pool), Arc::clone(&order));
            waiters.push(std::thread::spawn(move || {
                let _stream = playhead::enter(Some(stream));
                lender.with(|_| order.lock().unwrap().push(name));
            }));
            // Each is waiting before the next comes.
            let queued = waiters.len();
            while pool.state.lock().unwrap().waiting.len() < queued {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        hold_tx.send(()).unwrap();
        holder.join().unwrap();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["dry", "new", "ahead"]);
    }

    #[test]
    fn an_idle_session_is_taken_at_once_and_every_waiter_is_served() {
        let pool = Arc::new(SessionPool::new(vec![0u32, 0]));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        pool.with(|n| *n += 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let state = pool.state.lock().unwrap();
        assert_eq!(state.idle.iter().sum::<u32>(), 800);
        assert!(state.waiting.is_empty());
    }
}
