//! A small pool of ONNX Runtime sessions of one model.
//!
//! `ort`'s `Session::run` takes `&mut self`, so a session serves one run at a time. A shared
//! synthesizer keeps a few sessions of each half and lends them out; callers beyond the pool size
//! wait for one to come back.

use std::sync::{Condvar, Mutex};

use ort::session::Session;

pub(crate) struct SessionPool {
    idle: Mutex<Vec<Session>>,
    returned: Condvar,
}

impl SessionPool {
    pub fn new(sessions: Vec<Session>) -> Self {
        SessionPool {
            idle: Mutex::new(sessions),
            returned: Condvar::new(),
        }
    }

    /// Run `f` with a session of the pool, waiting for one if all are lent out.
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        let mut lent = Lent {
            pool: self,
            session: Some(self.take()),
        };
        let session = lent
            .session
            .as_mut()
            .unwrap_or_else(|| unreachable!("set above"));
        f(session)
    }

    fn take(&self) -> Session {
        // A poisoned lock only means a panic elsewhere; the sessions in it are still valid.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(session) = idle.pop() {
                return session;
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Gives the session back when dropped, even if `f` panicked.
struct Lent<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(session);
            self.pool.returned.notify_one();
        }
    }
}
