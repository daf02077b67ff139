//! The bounded work queue: at most `workers` syntheses run at once, at most `capacity` wait,
//! `high` priority before `normal`; a request beyond that is refused at once (503), never
//! left to hang.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How urgently a request wants a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served after every waiting `high` request.
    #[default]
    Normal,
    /// Served first.
    High,
}

/// The queue is full: come back later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Admission to the synthesis workers.
#[derive(Debug)]
pub struct Admission {
    workers: usize,
    capacity: usize,
    state: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    running: usize,
    high: VecDeque<oneshot::Sender<Permit>>,
    normal: VecDeque<oneshot::Sender<Permit>>,
}

/// A worker slot, held while a synthesis runs; dropping it hands the slot to the next waiter.
#[derive(Debug)]
pub struct Permit {
    /// `None` once the slot has been given back.
    admission: Option<Arc<Admission>>,
}

/// A place in line: either a slot now, or one to wait for.
#[derive(Debug)]
pub enum Ticket {
    /// A worker was free.
    Ready(Permit),
    /// Wait for a worker; dropping the ticket leaves the line.
    Waiting(oneshot::Receiver<Permit>),
}

impl Ticket {
    /// The permit, once a worker is free (`None` only if the server is going away).
    pub async fn wait(self) -> Option<Permit> {
        match self {
            Ticket::Ready(permit) => Some(permit),
            Ticket::Waiting(rx) => rx.await.ok(),
        }
    }
}

impl Admission {
    /// `workers` syntheses at once, `capacity` more waiting.
    pub fn new(workers: usize, capacity: usize) -> Arc<Admission> {
        Arc::new(Admission {
            workers: workers.max(1),
            capacity,
            state: Mutex::new(Waiting::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The state stays consistent across a panic (each change is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a worker now, or a place in line, or `QueueFull`.
    pub fn enter(self: &Arc<Self>, priority: Priority) -> Result<Ticket, QueueFull> {
        let mut state = self.lock();
        if state.running < self.workers {
            state.running += 1;
            return Ok(Ticket::Ready(Permit {
                admission: Some(Arc::clone(self)),
            }));
        }
        // Waiters that gave up still hold a place until a release skips them; drop them now.
        state.high.retain(|tx| !tx.is_closed());
        state.normal.retain(|tx| !tx.is_closed());
        if state.high.len() + state.normal.len() >= self.capacity {
            return Err(QueueFull);
        }
        let (tx, rx) = oneshot::channel();
        match priority {
            Priority::High => state.high.push_back(tx),
            Priority::Normal => state.normal.push_back(tx),
        }
        Ok(Ticket::Waiting(rx))
    }

    /// Requests waiting for a worker.
    pub fn queued(&self) -> usize {
        let state = self.lock();
        state
            .high
            .iter()
            .chain(&state.normal)
            .filter(|tx| !tx.is_closed())
            .count()
    }

    /// Syntheses running.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        let mut permit = Permit {
            admission: Some(Arc::clone(self)),
        };
        loop {
            let next = match state.high.pop_front() {
                Some(tx) => Some(tx),
                None => state.normal.pop_front(),
            };
            match next {
                // The slot passes to the waiter; `running` is unchanged.
                Some(tx) => match tx.send(permit) {
                    Ok(()) => return,
                    // That waiter left: offer the slot to the next one.
                    Err(back) => permit = back,
                },
                None => {
                    state.running -= 1;
                    // The slot is back: this permit must not release it again when dropped.
                    permit.admission = None;
                    return;
                }
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_pass_to_high_priority_first_and_a_full_queue_refuses() {
        let admission = Admission::new(1, 2);
        let first = admission
            .enter(Priority::Normal)
            .unwrap()
            .wait()
            .await
            .unwrap();
        let normal = admission.enter(Priority::Normal).unwrap();
        let high = admission.enter(Priority::High).unwrap();
        assert_eq!(admission.enter(Priority::High).err(), Some(QueueFull));
        assert_eq!((admission.running(), admission.queued()), (1, 2));
        drop(first);
        let high = high.wait().await.unwrap();
        assert_eq!((admission.running(), admission.queued()), (1, 1));
        drop(high);
        let normal = normal.wait().await.unwrap();
        drop(normal);
        assert_eq!((admission.running(), admission.queued()), (0, 0));
        // Every permit gave its reference back (an earlier version leaked one per release).
        assert_eq!(Arc::strong_count(&admission), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_gives_its_place_away() {
        let admission = Admission::new(1, 1);
        let first = admission
            .enter(Priority::Normal)
            .unwrap()
            .wait()
            .await
            .unwrap();
        let gone = admission.enter(Priority::Normal).unwrap();
        drop(gone);
        // Its place is free again, and the slot goes to the one still waiting.
        let waiting = admission.enter(Priority::Normal).unwrap();
        drop(first);
        drop(waiting.wait().await.unwrap());
        assert_eq!((admission.running(), admission.queued()), (0, 0));
    }
}
