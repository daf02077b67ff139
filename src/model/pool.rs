//! A small pool of ONNX Runtime sessions of one model.
//!
//! `ort`'s `Session::run` takes `&mut self`, so a session serves one run at a time. A shared
//! synthesizer keeps a few sessions of each half and lends them out; callers beyond the pool size
//! wait for one to come back, and a returned session goes to the waiter whose stream's listener
//! runs out of audio first ([`crate::playhead`]), the earliest asked among equals.
//!
//! Threads follow the load ([`SessionPool::follow_load`]): while one stream speaks, its runs take
//! the pool's sessions, which use every core; while several do, they take one-thread sessions,
//! made the first time they are needed (a lone stream's memory is unchanged), as many as there
//! are cores. Two one-thread runs side by side make more audio per second on two cores than two
//! two-thread runs taking turns.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use ort::session::Session;

pub(crate) struct SessionPool<S = Session> {
    state: Mutex<PoolState<S>>,
    returned: Condvar,
    narrow: Option<Narrow<S>>,
}

/// How a pool makes one-thread sessions, how many, and what says the load.
pub(crate) struct Narrow<S> {
    /// A new one-thread session of the pool's graph.
    pub make: Box<dyn Fn() -> crate::Result<S> + Send + Sync>,
    /// The most to make.
    pub most: usize,
    /// The voice's streams running now (above one, runs take one-thread sessions), and the
    /// count of those made.
    pub load: Arc<super::VoiceLoad>,
}

struct PoolState<S> {
    /// The sessions built with the voice (every core each).
    idle: Vec<S>,
    /// One-thread sessions made under load, not lent out.
    idle_narrow: Vec<S>,
    /// One-thread sessions made or being made.
    narrow_made: usize,
    /// Making one failed: the pool keeps to its own sessions.
    narrow_failed: bool,
    /// Who waits: (deadline, ticket), earliest first.
    waiting: BTreeSet<(Instant, u64)>,
    tickets: u64,
}

/// What a caller is lent, and where it goes back.
enum Kind {
    Wide,
    Narrow,
}

/// What a waiter at the head of the queue does next.
enum Next<S> {
    Take(S, Kind),
    Make,
    Wait,
}

impl<S> SessionPool<S> {
    pub fn new(sessions: Vec<S>) -> Self {
        SessionPool {
            state: Mutex::new(PoolState {
                idle: sessions,
                idle_narrow: Vec::new(),
                narrow_made: 0,
                narrow_failed: false,
                waiting: BTreeSet::new(),
                tickets: 0,
            }),
            returned: Condvar::new(),
            narrow: None,
        }
    }

    /// Let runs under load take one-thread sessions that `narrow` makes.
    pub fn follow_load(&mut self, narrow: Narrow<S>) {
        self.narrow = Some(narrow);
    }

    /// One-thread sessions made so far.
    #[cfg(test)]
    fn narrow_made(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .narrow_made
    }

    /// Run `f` with a session of the pool, waiting for one if all are lent out.
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let (session, kind) = self.take(crate::playhead::deadline());
        let mut lent = Lent {
            pool: self,
            session: Some(session),
            kind,
        };
        let session = lent
            .session
            .as_mut()
            .unwrap_or_else(|| unreachable!("set above"));
        f(session)
    }

    /// Whether a run starting now should take a one-thread session.
    fn under_load(&self, state: &PoolState<S>) -> bool {
        self.narrow
            .as_ref()
            .is_some_and(|n| !state.narrow_failed && n.load.streams.load(Ordering::Relaxed) > 1)
    }

    /// What the caller at the head of the queue may do now.
    fn next(&self, state: &mut PoolState<S>) -> Next<S> {
        if self.under_load(state) {
            let most = self.narrow.as_ref().map_or(0, |n| n.most);
            if let Some(session) = state.idle_narrow.pop() {
                Next::Take(session, Kind::Narrow)
            } else if state.narrow_made < most {
                state.narrow_made += 1;
                Next::Make
            } else {
                Next::Wait
            }
        } else if let Some(session) = state.idle.pop() {
            Next::Take(session, Kind::Wide)
        } else if let Some(session) = state.idle_narrow.pop() {
            // Better than waiting for a wide one to come back.
            Next::Take(session, Kind::Narrow)
        } else {
            Next::Wait
        }
    }

    fn take(&self, deadline: Instant) -> (S, Kind) {
        // A poisoned lock only means a panic elsewhere; the sessions in it are still valid.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let me = (deadline, state.tickets);
        state.tickets += 1;
        state.waiting.insert(me);
        loop {
            if state.waiting.first() == Some(&me) {
                match self.next(&mut state) {
                    Next::Take(session, kind) => {
                        state.waiting.remove(&me);
                        if !state.waiting.is_empty() {
                            // Another session may be idle or makeable: the next waiter looks.
                            self.returned.notify_all();
                        }
                        return (session, kind);
                    }
                    Next::Make => {
                        state.waiting.remove(&me);
                        if !state.waiting.is_empty() {
                            self.returned.notify_all();
                        }
                        drop(state);
                        match self.make_narrow() {
                            Some(session) => return (session, Kind::Narrow),
                            None => {
                                state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                                state.narrow_made -= 1;
                                state.narrow_failed = true;
                                state.waiting.insert(me);
                                self.returned.notify_all();
                                continue;
                            }
                        }
                    }
                    Next::Wait => {}
                }
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A new one-thread session, or `None` (logged) when it cannot be made.
    fn make_narrow(&self) -> Option<S> {
        let narrow = self.narrow.as_ref()?;
        let started = Instant::now();
        match (narrow.make)() {
            Ok(session) => {
                narrow
                    .load
                    .one_thread_sessions
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    "one-thread session made for overlapping streams"
                );
                Some(session)
            }
            Err(e) => {
                tracing::warn!(
                    "cannot make a one-thread session ({e}); overlapping streams share the \
                     voice's sessions"
                );
                None
            }
        }
    }
}

/// Gives the session back when dropped, even if `f` panicked.
struct Lent<'a, S> {
    pool: &'a SessionPool<S>,
    session: Option<S>,
    kind: Kind,
}

impl<S> Drop for Lent<'_, S> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
            match self.kind {
                Kind::Wide => state.idle.push(session),
                Kind::Narrow => state.idle_narrow.push(session),
            }
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

    use crate::model::VoiceLoad;
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

    fn streams(n: usize) -> Arc<VoiceLoad> {
        let load = VoiceLoad::default();
        load.streams.store(n, Ordering::Relaxed);
        Arc::new(load)
    }

    /// A pool of one wide session (0) that makes narrow ones (1) under load, counting them.
    fn following(load: &Arc<VoiceLoad>, fail: bool) -> Arc<SessionPool<u32>> {
        let mut pool = SessionPool::new(vec![0u32]);
        pool.follow_load(Narrow {
            make: Box::new(move || {
                if fail {
                    Err(crate::Error::runtime("making a test session", "refused"))
                } else {
                    Ok(1)
                }
            }),
            most: 2,
            load: Arc::clone(load),
        });
        Arc::new(pool)
    }

    /// Runs of `threads` threads at once, each `runs` times; which kinds of session they got.
    fn kinds(pool: &Arc<SessionPool<u32>>, threads: usize, runs: usize) -> Vec<u32> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, seen) = (Arc::clone(pool), Arc::clone(&seen));
                std::thread::spawn(move || {
                    for _ in 0..runs {
                        pool.with(|kind| {
                            std::thread::sleep(Duration::from_millis(2));
                            seen.lock().unwrap().push(*kind);
                        });
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
    }

    #[test]
    fn a_lone_stream_uses_the_voice_sessions_and_makes_none() {
        let load = streams(1);
        let pool = following(&load, false);
        assert!(kinds(&pool, 1, 20).iter().all(|&k| k == 0));
        assert_eq!(pool.narrow_made(), 0);
    }

    #[test]
    fn overlapping_streams_take_one_thread_sessions_made_once_up_to_the_bound() {
        let load = streams(4);
        let pool = following(&load, false);
        let seen = kinds(&pool, 4, 25);
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|&k| k == 1), "{seen:?}");
        assert_eq!(pool.narrow_made(), 2);
        assert_eq!(load.one_thread_sessions.load(Ordering::Relaxed), 2);
        // The load falls: the voice's own session again, and a narrow one when it is lent out.
        load.streams.store(1, Ordering::Relaxed);
        assert_eq!(kinds(&pool, 1, 5), [0; 5]);
        assert_eq!(pool.narrow_made(), 2);
        let state = pool.state.lock().unwrap();
        assert_eq!((state.idle.len(), state.idle_narrow.len()), (1, 2));
        assert!(state.waiting.is_empty());
    }

    #[test]
    fn a_session_that_cannot_be_made_leaves_the_voice_sessions_serving_everyone() {
        let load = streams(3);
        let pool = following(&load, true);
        let seen = kinds(&pool, 3, 20);
        assert_eq!(seen.len(), 60);
        assert!(seen.iter().all(|&k| k == 0));
        assert_eq!(pool.narrow_made(), 0);
        assert!(pool.state.lock().unwrap().narrow_failed);
    }
}
