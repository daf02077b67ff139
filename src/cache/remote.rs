//! The shared level: Redis, for many nodes (cargo feature `redis`). Short timeouts and a
//! breaker: a dead or slow Redis costs one timeout, then is skipped (backing off from 1 s to
//! 30 s) until it answers again.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use super::entry::{decode_sealed, encode_sealed, Seal};
use super::{CacheKey, Counters, Level, LevelStats, Samples, Sharing, CACHE_FORMAT_VERSION};

pub(super) struct Remote {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    prefix: String,
    seal: Seal,
    ttl_seconds: u64,
    sample_rate: u32,
    /// When the level may be tried again, and the next back-off.
    breaker: Mutex<(Option<std::time::Instant>, std::time::Duration)>,
    counters: Counters,
}

/// Connect, read and write timeout of the Redis level.
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

impl Remote {
    pub fn open(
        url: &str,
        ttl: std::time::Duration,
        sharing: &Sharing,
        sample_rate: u32,
    ) -> crate::Result<Remote> {
        let client = redis::Client::open(url).map_err(|e| crate::Error::InvalidOption {
            name: "redis_url",
            value: format!("{url} ({e})"),
            reason: "must be a Redis URL such as redis://127.0.0.1:6379/",
        })?;
        Ok(Remote {
            client,
            idle: Mutex::new(Vec::new()),
            prefix: format!("indextts:v{CACHE_FORMAT_VERSION}:{}:", sharing.namespace),
            seal: sharing.seal.clone(),
            ttl_seconds: ttl.as_secs().max(1),
            sample_rate,
            breaker: Mutex::new((None, std::time::Duration::from_secs(1))),
            counters: Counters::default(),
        })
    }

    fn connection(&self) -> Option<redis::Connection> {
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
        let connected = self
            .client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .and_then(|c| {
                c.set_read_timeout(Some(REDIS_TIMEOUT))?;
                c.set_write_timeout(Some(REDIS_TIMEOUT))?;
                Ok(c)
            });
        match connected {
            Ok(c) => Some(c),
            Err(e) => {
                self.trip(&e);
                None
            }
        }
    }

    /// A command failed: count it, open the breaker, log once per outage.
    fn trip(&self, e: &dyn std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if breaker.0.is_none() {
            tracing::warn!("redis cache: {e}; skipping it for {:?}", breaker.1);
        }
        breaker.0 = Some(std::time::Instant::now() + breaker.1);
        breaker.1 = (breaker.1 * 2).min(std::time::Duration::from_secs(30));
    }

    /// A command succeeded: close the breaker and keep the connection.
    fn done(&self, c: redis::Connection) {
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if breaker.0.take().is_some() {
            tracing::info!("redis cache: answering again");
        }
        breaker.1 = std::time::Duration::from_secs(1);
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
        let value: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET").arg(&name).query(&mut c);
        match value {
            Ok(Some(bytes)) => match decode_sealed(&bytes, &self.seal, key, self.sample_rate) {
                Ok(samples) => {
                    self.done(c);
                    self.counters.count(true);
                    Some(samples.into())
                }
                Err(why) => {
                    tracing::debug!("redis cache: bad value for {name} ({why:?}); removed");
                    match redis::cmd("DEL").arg(&name).query::<()>(&mut c) {
                        Ok(()) => self.done(c),
                        // Dropped, not pooled: its replies may be out of step.
                        Err(e) => self.trip(&e),
                    }
                    self.counters.count(false);
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
            Ok(None) => {
                self.done(c);
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
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&name)
            .arg(encode_sealed(&self.seal, key, self.sample_rate, samples))
            .arg("EX")
            .arg(self.ttl_seconds)
            .query(&mut c);
        match set {
            Ok(()) => self.done(c),
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
        let mut cursor: u64 = 0;
        loop {
            let batch: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query(&mut c);
            let unlinked = batch.and_then(|(next, keys)| {
                if !keys.is_empty() {
                    redis::cmd("UNLINK").arg(&keys).query::<()>(&mut c)?;
                }
                Ok(next)
            });
            match unlinked {
                Ok(0) => break,
                Ok(next) => cursor = next,
                Err(e) => return self.trip(&e),
            }
        }
        self.done(c);
    }
}
