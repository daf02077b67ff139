//! The sentence cache: a sentence's audio under a key of everything that shapes it, in up to
//! three levels, cheapest first: memory (`memory`), a directory (`disk`), Redis (`remote`,
//! cargo feature `redis`). Each level is a [`Level`]; the key and the seed derived from it are
//! in `key`, the stored format in `entry`.
//!
//! A hit is promoted to the cheaper levels. New entries go to memory at once, and to the
//! levels below on a background writer thread, off the path to the listener's audio.

mod disk;
mod entry;
mod key;
mod memory;
#[cfg(feature = "redis")]
mod remote;
#[cfg(feature = "redis")]
pub(crate) mod resp;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

pub(crate) use entry::Seal;
#[cfg(feature = "unstable-internals")]
#[cfg(feature = "unstable-internals")]
pub use entry::{decode_entry, EntryError};
pub(crate) use key::{CacheKey, SentenceKey};

/// Bumped whenever what the key covers, or how audio is derived from it, changes. 2: entries
/// keep each phoneme id's samples (word timestamps on a hit).
pub const CACHE_FORMAT_VERSION: u32 = 2;

/// One sentence's audio and when each of its phoneme ids is said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentenceAudio {
    /// Samples in `[-1, 1]`.
    pub samples: Box<[f32]>,
    /// Each id's samples, when the model gave its durations.
    pub timing: Option<crate::model::Timing>,
}

/// One sentence's audio, shared between the cache and every caller that hits it.
pub(crate) type Samples = Arc<SentenceAudio>;

/// One level of the cache. Best effort: a level that fails is skipped, never the synthesis;
/// what it did shows in its counters.
trait Level: Send + Sync {
    fn get(&self, key: &CacheKey) -> Option<Samples>;
    fn put(&self, key: &CacheKey, samples: &Samples);
    fn stats(&self) -> LevelStats;
    fn clear(&self);
}

/// Counters of one cache level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Look-ups answered by this level.
    pub hits: u64,
    /// Look-ups this level could not answer.
    pub misses: u64,
    /// Bytes of audio held (for the disk, as this process last counted).
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
    /// Entries dropped to stay within the budget.
    pub evictions: u64,
    /// Entries found corrupt, truncated or foreign, and removed.
    pub rejected: u64,
    /// Reads or writes that failed (the level is skipped, never the synthesis).
    pub errors: u64,
}

/// What the sentence cache did, per level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The in-process LRU.
    pub memory: LevelStats,
    /// The directory of entries.
    pub disk: LevelStats,
    /// The shared Redis level (feature `redis`; bytes and entries are not counted there).
    pub redis: LevelStats,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    /// Count a look-up: a hit or a miss.
    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, bytes: u64, entries: u64) -> LevelStats {
        LevelStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes,
            entries,
            evictions: self.evictions.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

fn bytes_of(audio: &SentenceAudio) -> u64 {
    let timing = audio
        .timing
        .as_ref()
        .map_or(0, |t| 4 * (1 + t.per_id.len()));
    (std::mem::size_of_val(&*audio.samples) + timing) as u64
}

/// Where and how much to cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CacheConfig {
    pub memory_bytes: u64,
    pub dir: Option<PathBuf>,
    pub dir_bytes: u64,
    /// Redis URL of the shared level (feature `redis`).
    pub redis_url: Option<String>,
    /// How long Redis keeps an entry.
    pub redis_ttl: std::time::Duration,
    /// What the shared levels need of the voice and the operator.
    pub sharing: Sharing,
}

/// The voice's place in the shared levels (disk, Redis) and how their entries are sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sharing {
    /// Hex of the voice's fingerprint: its entries' names start with it, so `clear` empties
    /// this voice's entries and no other's.
    pub namespace: String,
    /// Checksum, or the operator's keyed MAC.
    pub seal: Seal,
}

/// Which level below memory, for [`CacheStats`].
#[derive(Clone, Copy)]
enum Below {
    Disk,
    Redis,
}

/// The levels below memory, cheapest first.
type Lower = Arc<[(Below, Arc<dyn Level>)]>;

pub(crate) struct SentenceCache {
    memory: Option<memory::Memory>,
    lower: Lower,
    writer: Option<SyncSender<Job>>,
    /// The writer thread, joined on drop so that no write outlives the cache.
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

/// Writes queued before new ones are dropped (the cache is best effort; audio is not).
const WRITE_QUEUE: usize = 64;

/// Work for the writer thread.
enum Job {
    /// Write to the first `levels` levels below memory.
    Write {
        key: CacheKey,
        samples: Samples,
        levels: usize,
    },
    /// Answer once everything queued before is written.
    Flush(SyncSender<()>),
}

/// The Redis level at `url`, or an error naming the feature this build lacks.
fn open_redis(
    url: &str,
    ttl: std::time::Duration,
    sharing: &Sharing,
    sample_rate: u32,
) -> crate::Result<Arc<dyn Level>> {
    #[cfg(feature = "redis")]
    return Ok(Arc::new(remote::Remote::open(
        url,
        ttl,
        sharing,
        sample_rate,
    )?));
    #[cfg(not(feature = "redis"))]
    {
        let _ = (ttl, sharing, sample_rate);
        Err(crate::Error::InvalidOption {
            name: "redis_url",
            value: url.to_owned(),
            reason: "this build of indextts has no Redis support (cargo feature `redis`)",
        })
    }
}

impl SentenceCache {
    pub fn new(config: &CacheConfig, sample_rate: u32) -> crate::Result<SentenceCache> {
        let mut lower: Vec<(Below, Arc<dyn Level>)> = Vec::new();
        if let Some(dir) = &config.dir {
            let disk = disk::Disk::open(dir, config.dir_bytes, &config.sharing, sample_rate);
            lower.push((Below::Disk, Arc::new(disk)));
        }
        if let Some(url) = &config.redis_url {
            lower.push((
                Below::Redis,
                open_redis(url, config.redis_ttl, &config.sharing, sample_rate)?,
            ));
        }
        let lower: Lower = lower.into();
        let memory = (config.memory_bytes > 0).then(|| memory::Memory::new(config.memory_bytes));
        let writer = (!lower.is_empty()).then(|| Self::start_writer(Arc::clone(&lower)));
        let (writer, writer_thread) = writer.flatten().unzip();
        Ok(SentenceCache {
            memory,
            lower,
            writer,
            writer_thread,
        })
    }

    fn start_writer(lower: Lower) -> Option<(SyncSender<Job>, std::thread::JoinHandle<()>)> {
        let (tx, rx) = sync_channel::<Job>(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("indextts-cache".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Write {
                            key,
                            samples,
                            levels,
                        } => {
                            for (_, level) in &lower[..levels] {
                                level.put(&key, &samples);
                            }
                        }
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|e| tracing::warn!("cache: cannot start its writer: {e}"))
            .ok()
            .map(|thread| (tx, thread))
    }

    pub fn is_enabled(&self) -> bool {
        self.memory.is_some() || !self.lower.is_empty()
    }

    /// The audio under `key` from the cheapest level that has it, copied to the levels above.
    pub fn get(&self, key: &CacheKey) -> Option<Samples> {
        if let Some(found) = self.memory.as_ref().and_then(|m| m.get(key)) {
            return Some(found);
        }
        let (level, found) = self
            .lower
            .iter()
            .enumerate()
            .find_map(|(i, (_, level))| level.get(key).map(|found| (i, found)))?;
        self.store(*key, Arc::clone(&found), level);
        Some(found)
    }

    pub fn put(&self, key: CacheKey, samples: Samples) {
        self.store(key, samples, self.lower.len());
    }

    /// Memory now; the first `levels` levels below it on the writer thread.
    fn store(&self, key: CacheKey, samples: Samples, levels: usize) {
        if let Some(memory) = &self.memory {
            memory.put(&key, &samples);
        }
        if let Some(writer) = self.writer.as_ref().filter(|_| levels > 0) {
            let job = Job::Write {
                key,
                samples,
                levels,
            };
            if let Err(TrySendError::Full(_)) = writer.try_send(job) {
                tracing::debug!("cache: write queue full; entry not written to disk or Redis");
            }
        }
    }

    /// Wait until every write queued so far is done.
    pub fn flush(&self) {
        if let Some(writer) = &self.writer {
            let (done_tx, done_rx) = sync_channel::<()>(1);
            if writer.send(Job::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            memory: self.memory.as_ref().map(Level::stats).unwrap_or_default(),
            ..Default::default()
        };
        for (which, level) in self.lower.iter() {
            match which {
                Below::Disk => stats.disk = level.stats(),
                Below::Redis => stats.redis = level.stats(),
            }
        }
        stats
    }

    pub fn clear(&self) {
        self.flush();
        if let Some(memory) = &self.memory {
            memory.clear();
        }
        for (_, level) in self.lower.iter() {
            level.clear();
        }
    }
}

impl Drop for SentenceCache {
    /// Let the writer finish what is queued, then join it.
    fn drop(&mut self) {
        drop(self.writer.take());
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}
