//! The bounded work queue: at most `streams` syntheses run at once, at most `capacity` wait,
//! and each client may have at most `per_client` of its requests queued or running. `high`
//! priority (given only to trusted callers) goes first; among the rest, a freed worker goes to
//! the waiting client with the fewest running, so one client's flood cannot hold the line in
//! front of another's request. A request beyond a limit is refused at once, never left to hang.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How urgently a request wants a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served after every waiting `high` request.
    #[default]
    Normal,
    /// Served first (the server grants it only to callers with the operator's token).
    High,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: come back later.
    QueueFull,
    /// This client already has its quota of requests queued or running.
    ClientQuota,
}

/// Admission to the synthesis workers.
#[derive(Debug)]
pub struct Admission {
    streams: usize,
    capacity: usize,
    per_client: usize,
    state: Mutex<Waiting>,
}

#[derive(Debug)]
struct Waiter {
    client: IpAddr,
    tx: oneshot::Sender<Permit>,
}

#[derive(Debug, Default)]
struct Waiting {
    running: usize,
    /// Running syntheses per client (entries removed at 0).
    by_client: HashMap<IpAddr, usize>,
    high: VecDeque<Waiter>,
    normal: VecDeque<Waiter>,
}

impl Waiting {
    fn run(&mut self, client: IpAddr) {
        *self.by_client.entry(client).or_default() += 1;
    }

    fn stop(&mut self, client: IpAddr) {
        if let Some(n) = self.by_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.by_client.remove(&client);
            }
        }
    }

    /// Forget waiters that gave up (their ticket was dropped).
    fn prune(&mut self) {
        self.high.retain(|w| !w.tx.is_closed());
        self.normal.retain(|w| !w.tx.is_closed());
    }

    /// The next waiter to get a worker: the first `high` one, else the first `normal` one of
    /// the clients with the fewest syntheses running.
    fn next(&mut self) -> Option<Waiter> {
        if let Some(waiter) = self.high.pop_front() {
            return Some(waiter);
        }
        let by_client = &self.by_client;
        let index = self
            .normal
            .iter()
            .enumerate()
            .min_by_key(|(i, w)| (by_client.get(&w.client).copied().unwrap_or(0), *i))
            .map(|(i, _)| i)?;
        self.normal.remove(index)
    }
}

/// A worker slot, held while a synthesis runs; dropping it hands the slot to the next waiter.
#[derive(Debug)]
pub struct Permit {
    /// `None` once the slot has been given back.
    admission: Option<Arc<Admission>>,
    client: IpAddr,
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
    /// `streams` syntheses at once, `capacity` more waiting, `per_client` queued or running
    /// for any one client (0: no per-client limit).
    pub fn new(streams: usize, capacity: usize, per_client: usize) -> Arc<Admission> {
        Arc::new(Admission {
            streams: streams.max(1),
            capacity,
            per_client: if per_client == 0 {
                usize::MAX
            } else {
                per_client
            },
            state: Mutex::new(Waiting::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The state stays consistent across a panic (each change is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a worker now, or a place in line, or say why not.
    pub fn enter(self: &Arc<Self>, client: IpAddr, priority: Priority) -> Result<Ticket, Refused> {
        let mut state = self.lock();
        state.prune();
        let queued = state
            .high
            .iter()
            .chain(&state.normal)
            .filter(|w| w.client == client)
            .count();
        let running = state.by_client.get(&client).copied().unwrap_or(0);
        if queued + running >= self.per_client {
            return Err(Refused::ClientQuota);
        }
        if state.running < self.streams {
            state.running += 1;
            state.run(client);
            return Ok(Ticket::Ready(Permit {
                admission: Some(Arc::clone(self)),
                client,
            }));
        }
        if state.high.len() + state.normal.len() >= self.capacity {
            return Err(Refused::QueueFull);
        }
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter { client, tx };
        match priority {
            Priority::High => state.high.push_back(waiter),
            Priority::Normal => state.normal.push_back(waiter),
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
            .filter(|w| !w.tx.is_closed())
            .count()
    }

    /// Syntheses running.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    fn release(self: &Arc<Self>, client: IpAddr) {
        let mut state = self.lock();
        state.stop(client);
        state.prune();
        while let Some(waiter) = state.next() {
            let permit = Permit {
                admission: Some(Arc::clone(self)),
                client: waiter.client,
            };
            state.run(waiter.client);
            // The slot passes to the waiter; `running` is unchanged.
            match waiter.tx.send(permit) {
                Ok(()) => return,
                // That waiter left: take the slot back and offer it to the next one.
                Err(mut back) => {
                    back.admission = None;
                    state.stop(waiter.client);
                }
            }
        }
        state.running -= 1;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.release(self.client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    async fn permit(admission: &Arc<Admission>, client: IpAddr) -> Permit {
        let ticket = admission.enter(client, Priority::Normal).unwrap();
        ticket.wait().await.unwrap()
    }

    #[tokio::test]
    async fn slots_pass_to_high_priority_first_and_a_full_queue_refuses() {
        let admission = Admission::new(1, 2, 0);
        let first = permit(&admission, A).await;
        let normal = admission.enter(A, Priority::Normal).unwrap();
        let high = admission.enter(A, Priority::High).unwrap();
        assert_eq!(
            admission.enter(A, Priority::High).err(),
            Some(Refused::QueueFull)
        );
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
        let admission = Admission::new(1, 1, 0);
        let first = permit(&admission, A).await;
        let gone = admission.enter(A, Priority::Normal).unwrap();
        drop(gone);
        // Its place is free again, and the slot goes to the one still waiting.
        let waiting = admission.enter(A, Priority::Normal).unwrap();
        drop(first);
        drop(waiting.wait().await.unwrap());
        assert_eq!((admission.running(), admission.queued()), (0, 0));
        assert!(admission.lock().by_client.is_empty());
    }

    #[tokio::test]
    async fn one_client_has_a_quota_and_cannot_stand_in_front_of_another() {
        let admission = Admission::new(2, 16, 4);
        let (a1, a2) = (permit(&admission, A).await, permit(&admission, A).await);
        let a3 = admission.enter(A, Priority::Normal).unwrap();
        let a4 = admission.enter(A, Priority::Normal).unwrap();
        assert_eq!(
            admission.enter(A, Priority::Normal).err(),
            Some(Refused::ClientQuota)
        );
        // B came last, but A has two running and B none: the next free worker is B's.
        let b = admission.enter(B, Priority::Normal).unwrap();
        drop(a1);
        let b = b.wait().await.unwrap();
        assert_eq!(admission.lock().by_client.get(&B), Some(&1));
        drop(a2);
        let a3 = a3.wait().await.unwrap();
        drop((b, a3));
        drop(a4.wait().await.unwrap());
        assert_eq!((admission.running(), admission.queued()), (0, 0));
        assert!(admission.lock().by_client.is_empty());
    }
}
