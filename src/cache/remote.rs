//! The shared level: Redis, for many nodes (cargo feature `redis`). Short timeouts and a
//! breaker: a dead or slow Redis costs one timeout, then is skipped (backing off from 1 s to
//! 30 s) until it answers again. Commands go through [`super::resp`], whose deadline covers
//! the whole reply, not each read.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::entry::{decode_sealed, encode_sealed, Seal};
use super::resp::{Connection, Reply, RespError, Target};
use super::{CacheKey, Counters, Level, LevelStats, Samples, Sharing, CACHE_FORMAT_VERSION};

pub(super) struct Remote {
    target: Target,
    idle: Mutex<Vec<Connection>>,
    prefix: String,
    seal: Seal,
    ttl_seconds: u64,
    sample_rate: u32,
    /// When the level may be tried again, and the next back-off.
    breaker: Mutex<(Option<std::time::Instant>, Duration)>,
    counters: Counters,
}

/// Connect timeout of the Redis level.
const REDIS_TIMEOUT: Duration = Duration::from_millis(50);
/// Deadline of one whole command, request and reply: a sentence's entry (a few hundred KB) takes
/// a few milliseconds on a LAN; the largest possible (64 MiB) about half a second at 1 Gb/s.
const REDIS_COMMAND_DEADLINE: Duration = Duration::from_millis(250);

impl Remote {
    pub fn open(
        url: &str,
        ttl: Duration,
        sharing: &Sharing,
        sample_rate: u32,
    ) -> crate::Result<Remote> {
        let target = Target::parse(url).map_err(|e| crate::Error::InvalidOption {
            name: "redis_url",
            value: format!("{url} ({e})"),
            reason: "must be a Redis URL such as redis://127.0.0.1:6379/",
        })?;
        Ok(Remote {
            target,
            idle: Mutex::new(Vec::new()),
            prefix: format!("indextts:v{CACHE_FORMAT_VERSION}:{}:", sharing.namespace),
            seal: sharing.seal.clone(),
            ttl_seconds: ttl.as_secs().max(1),
            sample_rate,
            breaker: Mutex::new((None, Duration::from_secs(1))),
            counters: Counters::default(),
        })
    }

    fn connection(&self) -> Option<Connection> {
        {
            let breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
            if breaker
                .0
                .is_some_and(|until| std::time::Instant::now() < until)
            {
                return None;
            }
        }
        if let Some(c) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Some(c);
        }
        match Connection::open(&self.target, REDIS_TIMEOUT, REDIS_COMMAND_DEADLINE) {
            Ok(c) => Some(c),
            Err(e) => {
                self.trip(&e);
                None
            }
        }
    }

    /// Run one command on `c`.
    fn run(c: &mut Connection, args: &[&[u8]]) -> Result<Reply, RespError> {
        c.command(args, REDIS_COMMAND_DEADLINE)
    }

    /// A command failed: count it, open the breaker, log once per outage. The connection it
    /// failed on is dropped, not pooled: its replies may be out of step.
    fn trip(&self, e: &dyn std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if breaker.0.is_none() {
            tracing::warn!("redis cache: {e}; skipping it for {:?}", breaker.1);
        }
        breaker.0 = Some(std::time::Instant::now() + breaker.1);
        breaker.1 = (breaker.1 * 2).min(Duration::from_secs(30));
    }

    /// A command succeeded: close the breaker and keep the connection.
    fn done(&self, c: Connection) {
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if breaker.0.take().is_some() {
            tracing::info!("redis cache: answering again");
        }
        breaker.1 = Duration::from_secs(1);
        drop(breaker);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }
}

impl Level for Remote {
    fn get(&self, key: &CacheKey) -> Option<Samples> {
        let Some(mut c) = self.connection() else {
            self.counters.count(false);
            return None;
        };
        let name = format!("{}{}", self.prefix, key.hex());
        match Self::run(&mut c, &[b"GET", name.as_bytes()]) {
            Ok(Reply::Bulk(Some(bytes))) => {
                match decode_sealed(&bytes, &self.seal, key, self.sample_rate) {
                    Ok(samples) => {
                        self.done(c);
                        self.counters.count(true);
                        Some(Arc::new(samples))
                    }
                    Err(why) => {
                        tracing::debug!("redis cache: bad value for {name} ({why:?}); removed");
                        match Self::run(&mut c, &[b"DEL", name.as_bytes()]) {
                            Ok(_) => self.done(c),
                            Err(e) => self.trip(&e),
                        }
                        self.counters.count(false);
                        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
            Ok(Reply::Bulk(None)) => {
                self.done(c);
                self.counters.count(false);
                None
            }
            Ok(other) => {
                self.trip(&format!("GET answered {other:?}"));
                self.counters.count(false);
                None
            }
            Err(e) => {
                self.trip(&e);
                self.counters.count(false);
                None
            }
        }
    }

    fn put(&self, key: &CacheKey, samples: &Samples) {
        let Some(mut c) = self.connection() else {
            return;
        };
        let name = format!("{}{}", self.prefix, key.hex());
        let value = encode_sealed(&self.seal, key, self.sample_rate, samples);
        let ttl = self.ttl_seconds.to_string();
        match Self::run(
            &mut c,
            &[b"SET", name.as_bytes(), &value, b"EX", ttl.as_bytes()],
        ) {
            Ok(_) => self.done(c),
            Err(e) => self.trip(&e),
        }
    }

    fn stats(&self) -> LevelStats {
        self.counters.snapshot(0, 0)
    }

    /// This voice's entries only, a batch at a time: `SCAN` (which, unlike `KEYS`, never
    /// blocks Redis for the whole keyspace) and `UNLINK` (freed in the background). A failure
    /// drops the connection (its reply stream may be out of step) and trips the breaker.
    fn clear(&self) {
        let Some(mut c) = self.connection() else {
            return;
        };
        let pattern = format!("{}*", self.prefix);
        let mut cursor = b"0".to_vec();
        loop {
            let batch = Self::run(
                &mut c,
                &[
                    b"SCAN",
                    &cursor,
                    b"MATCH",
                    pattern.as_bytes(),
                    b"COUNT",
                    b"500",
                ],
            );
            let unlinked = batch.and_then(|reply| {
                let Reply::Array(mut parts) = reply else {
                    return Err(RespError::Protocol("SCAN answered no array"));
                };
                let (Some(Reply::Array(keys)), Some(Reply::Bulk(Some(next)))) =
                    (parts.pop(), parts.pop())
                else {
                    return Err(RespError::Protocol("SCAN answered no cursor and keys"));
                };
                let keys: Vec<Vec<u8>> = keys
                    .into_iter()
                    .filter_map(|k| match k {
                        Reply::Bulk(Some(k)) => Some(k),
                        _ => None,
                    })
                    .collect();
                if !keys.is_empty() {
                    let mut args: Vec<&[u8]> = vec![b"UNLINK"];
                    args.extend(keys.iter().map(Vec::as_slice));
                    Self::run(&mut c, &args)?;
                }
                Ok(next)
            });
            match unlinked {
                Ok(next) if next == b"0" => break,
                Ok(next) => cursor = next,
                Err(e) => return self.trip(&e),
            }
        }
        self.done(c);
    }
}
