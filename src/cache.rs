//! What identifies a sentence's audio: the key of the sentence cache, and the seed of the
//! model's random draws, which is derived from it, so that a sentence sounds the same every time
//! and a cached sentence equals a fresh one.

use crate::model::Voicing;

/// Bumped whenever what the key covers, or how audio is derived from it, changes.
pub const CACHE_FORMAT_VERSION: u32 = 1;

/// A strong hash of everything that determines a sentence's audio: format version, voice
/// fingerprint (model and config content), phoneme ids, speaker, scales and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SentenceKey(blake3::Hash);

impl SentenceKey {
    pub fn new(voice: &blake3::Hash, phoneme_ids: &[i64], voicing: &Voicing) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"indextts sentence");
        h.update(&CACHE_FORMAT_VERSION.to_le_bytes());
        h.update(voice.as_bytes());
        h.update(&(phoneme_ids.len() as u64).to_le_bytes());
        for id in phoneme_ids {
            h.update(&id.to_le_bytes());
        }
        match voicing.sid {
            Some(sid) => h.update(&[1]).update(&sid.to_le_bytes()),
            None => h.update(&[0]),
        };
        let s = voicing.scales;
        for v in [s.noise_scale, s.length_scale, s.noise_w] {
            h.update(&v.to_bits().to_le_bytes());
        }
        match voicing.seed {
            Some(seed) => h.update(&[1]).update(&seed.to_le_bytes()),
            None => h.update(&[0]),
        };
        SentenceKey(h.finalize())
    }

    /// The seed of this sentence's random draws.
    pub fn seed(&self) -> u64 {
        let derived = blake3::keyed_hash(self.0.as_bytes(), b"indextts seed");
        let mut first = [0u8; 8];
        first.copy_from_slice(&derived.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use lru::LruCache;

/// One sentence's audio, shared between the cache and every caller that hits it.
pub(crate) type Samples = Arc<[f32]>;

/// The key of a sentence's cached audio: the sentence key plus how its vocoder windows were
/// cut, since a stream's first sentence is decoded in smaller windows (for first audio) and
/// windows change the samples in the last bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey(blake3::Hash);

impl CacheKey {
    pub fn new(sentence: &SentenceKey, plan: &[u64]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"indextts cache");
        h.update(sentence.0.as_bytes());
        for p in plan {
            h.update(&p.to_le_bytes());
        }
        CacheKey(h.finalize())
    }

    fn hex(&self) -> String {
        self.0.to_hex().to_string()
    }
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

/// The in-process level: an LRU bounded in bytes of audio. One lock, held only for the map
/// operation (microseconds); values are shared, never copied.
struct Memory {
    map: Mutex<(LruCache<CacheKey, Samples>, u64)>,
    budget: u64,
    counters: Counters,
}

impl Memory {
    fn get(&self, key: &CacheKey) -> Option<Samples> {
        let found = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(key)
            .cloned();
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, key: CacheKey, samples: Samples) {
        let size = bytes_of(&samples);
        if size > self.budget {
            return;
        }
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (map, bytes) = &mut *guard;
        if let Some(old) = map.put(key, samples) {
            *bytes -= bytes_of(&old);
        }
        *bytes += size;
        while *bytes > self.budget {
            match map.pop_lru() {
                Some((_, old)) => {
                    *bytes -= bytes_of(&old);
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }

    fn stats(&self) -> LevelStats {
        let guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        self.counters.snapshot(guard.1, guard.0.len() as u64)
    }

    fn clear(&self) {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.clear();
        guard.1 = 0;
    }
}

fn bytes_of(samples: &[f32]) -> u64 {
    std::mem::size_of_val(samples) as u64
}

/// Magic of a disk entry.
const MAGIC: &[u8; 8] = b"IXTTSPCM";
/// magic, format version, sample rate, sample count, blake3 of the samples.
const HEADER_BYTES: usize = 8 + 4 + 4 + 8 + 32;

/// A disk entry: header, then the samples as little-endian f32.
pub(crate) fn encode_entry(sample_rate: u32, samples: &[f32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(samples.len() * 4);
    for s in samples {
        body.extend_from_slice(&s.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    out.extend_from_slice(&body);
    out
}

/// Why a disk entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// Its length does not match its header.
    Truncated,
    /// Not an indextts entry.
    Foreign,
    /// Written by another format version.
    Version(u32),
    /// For another sample rate.
    SampleRate(u32),
    /// The samples do not match their checksum.
    Checksum,
    /// A sample is not finite audio in [-1, 1] (the checksum is no signature: an entry from a
    /// shared directory or Redis is checked like any input).
    NotAudio,
}

/// Read a disk entry written by [`encode_entry`], checking everything; never panics on any input.
pub fn decode_entry(bytes: &[u8], sample_rate: u32) -> Result<Vec<f32>, EntryError> {
    if bytes.len() < HEADER_BYTES {
        return Err(if bytes.starts_with(&MAGIC[..bytes.len().min(8)]) {
            EntryError::Truncated
        } else {
            EntryError::Foreign
        });
    }
    let (header, body) = bytes.split_at(HEADER_BYTES);
    if &header[..8] != MAGIC {
        return Err(EntryError::Foreign);
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let version = u32_at(8);
    if version != CACHE_FORMAT_VERSION {
        return Err(EntryError::Version(version));
    }
    let rate = u32_at(12);
    if rate != sample_rate {
        return Err(EntryError::SampleRate(rate));
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&header[16..24]);
    let count = u64::from_le_bytes(count);
    if count.checked_mul(4) != Some(body.len() as u64) {
        return Err(EntryError::Truncated);
    }
    if blake3::hash(body).as_bytes() != &header[24..56] {
        return Err(EntryError::Checksum);
    }
    let samples: Vec<f32> = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // NaN fails this test too.
    if !samples.iter().all(|s| (-1.0..=1.0).contains(s)) {
        return Err(EntryError::NotAudio);
    }
    Ok(samples)
}

/// The disk level: one content-addressed file per entry in a directory that several processes
/// may share. Writes are atomic (temporary file, then rename); reads check everything; a bad
/// entry is a miss, removed; any I/O failure skips the level for that call.
struct Disk {
    dir: PathBuf,
    budget: u64,
    sample_rate: u32,
    /// Bytes this process believes the directory holds (recounted when evicting).
    bytes: AtomicU64,
    counters: Counters,
    logged: Mutex<std::collections::HashSet<String>>,
}

impl Disk {
    fn open(dir: &Path, budget: u64, sample_rate: u32) -> Disk {
        let disk = Disk {
            dir: dir.to_path_buf(),
            budget,
            sample_rate,
            bytes: AtomicU64::new(0),
            counters: Counters::default(),
            logged: Mutex::new(Default::default()),
        };
        if let Err(e) = std::fs::create_dir_all(dir) {
            disk.fail("create", &e);
        }
        disk.bytes
            .store(disk.scan().iter().map(|e| e.1).sum(), Ordering::Relaxed);
        disk
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.pcm", key.hex()))
    }

    /// Log a failure once per kind; count it.
    fn fail(&self, what: &str, e: &dyn std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.insert(what.to_owned()) {
            tracing::warn!(dir = %self.dir.display(), "disk cache: cannot {what}: {e}; going on without it");
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Vec<f32>> {
        let path = self.path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    self.fail("read", &e);
                }
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match decode_entry(&bytes, self.sample_rate) {
            Ok(samples) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                // Recently used entries are evicted last.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(samples)
            }
            Err(why) => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
                if logged.insert(format!("reject {why:?}")) {
                    tracing::warn!(file = %path.display(), "disk cache: removed a bad entry ({why:?})");
                }
                None
            }
        }
    }

    fn put(&self, key: &CacheKey, samples: &[f32]) {
        let bytes = encode_entry(self.sample_rate, samples);
        let path = self.path(key);
        let tmp = self.dir.join(format!(
            ".{}.{}.{:?}.tmp",
            key.hex(),
            std::process::id(),
            std::thread::current().id()
        ));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            self.fail("write", &e);
            return;
        }
        let total =
            self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
        if total > self.budget {
            self.evict();
        }
    }

    /// Entries (path, size, modified) in the directory.
    fn scan(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "pcm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((e.path(), meta.len(), meta.modified().ok()?))
            })
            .collect()
    }

    /// Remove the least recently used entries until the directory is under 90% of its budget.
    fn evict(&self) {
        let mut entries = self.scan();
        entries.sort_by_key(|e| e.2);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let target = self.budget / 10 * 9;
        for (path, size, _) in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
            total = total.saturating_sub(size);
        }
        self.bytes.store(total, Ordering::Relaxed);
    }

    fn stats(&self) -> LevelStats {
        let entries = self.scan();
        self.counters
            .snapshot(entries.iter().map(|e| e.1).sum(), entries.len() as u64)
    }

    fn clear(&self) {
        for (path, _, _) in self.scan() {
            let _ = std::fs::remove_file(path);
        }
        self.bytes.store(0, Ordering::Relaxed);
    }
}

/// The shared level: Redis, for many nodes. Short timeouts and a breaker: a dead or slow Redis
/// costs one timeout, then is skipped (backing off from 1 s to 30 s) until it answers again.
#[cfg(feature = "redis")]
struct Remote {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    prefix: String,
    ttl_seconds: u64,
    sample_rate: u32,
    /// When the level may be tried again, and the next back-off.
    breaker: Mutex<(Option<std::time::Instant>, std::time::Duration)>,
    counters: Counters,
}

/// Connect, read and write timeout of the Redis level.
#[cfg(feature = "redis")]
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(feature = "redis")]
impl Remote {
    fn open(url: &str, ttl: std::time::Duration, sample_rate: u32) -> crate::Result<Remote> {
        let client = redis::Client::open(url).map_err(|e| crate::Error::InvalidOption {
            name: "redis_url",
            value: format!("{url} ({e})"),
            reason: "must be a Redis URL such as redis://127.0.0.1:6379/",
        })?;
        Ok(Remote {
            client,
            idle: Mutex::new(Vec::new()),
            prefix: format!("indextts:v{CACHE_FORMAT_VERSION}:"),
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

    fn get(&self, key: &CacheKey) -> Option<Vec<f32>> {
        let Some(mut c) = self.connection() else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let name = format!("{}{}", self.prefix, key.hex());
        let value: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET").arg(&name).query(&mut c);
        match value {
            Ok(Some(bytes)) => match decode_entry(&bytes, self.sample_rate) {
                Ok(samples) => {
                    self.done(c);
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    Some(samples)
                }
                Err(why) => {
                    tracing::debug!("redis cache: bad value for {name} ({why:?}); removed");
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&name).query(&mut c);
                    self.done(c);
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
            Ok(None) => {
                self.done(c);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                self.trip(&e);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn put(&self, key: &CacheKey, samples: &[f32]) {
        let Some(mut c) = self.connection() else {
            return;
        };
        let name = format!("{}{}", self.prefix, key.hex());
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&name)
            .arg(encode_entry(self.sample_rate, samples))
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

    fn clear(&self) {
        let Some(mut c) = self.connection() else {
            return;
        };
        let keys: redis::RedisResult<Vec<String>> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut c);
        if let Ok(keys) = keys {
            for k in keys {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(k).query(&mut c);
            }
        }
        self.done(c);
    }
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
}

/// The sentence cache: memory first, then disk, then Redis (cheapest first: a local file read
/// beats a network round trip). A hit is promoted to the cheaper levels. New entries go to
/// memory at once, and to disk and Redis on a background thread, off the path to the
/// listener's audio.
pub(crate) struct SentenceCache {
    memory: Option<Memory>,
    disk: Option<Arc<Disk>>,
    #[cfg(feature = "redis")]
    remote: Option<Arc<Remote>>,
    writer: Option<SyncSender<Job>>,
    /// The writer thread, joined on drop so that no write outlives the cache.
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

/// Disk writes queued before new ones are dropped (the cache is best effort; audio is not).
const WRITE_QUEUE: usize = 64;

/// Work for the disk writer thread.
enum Job {
    /// Write to disk, and to Redis when `remote` is set.
    Write {
        key: CacheKey,
        samples: Samples,
        remote: bool,
    },
    /// Answer once everything queued before is written.
    Flush(SyncSender<()>),
}

impl SentenceCache {
    pub fn new(config: &CacheConfig, sample_rate: u32) -> crate::Result<SentenceCache> {
        #[cfg(feature = "redis")]
        let remote = match &config.redis_url {
            Some(url) => Some(Arc::new(Remote::open(url, config.redis_ttl, sample_rate)?)),
            None => None,
        };
        #[cfg(not(feature = "redis"))]
        if let Some(url) = &config.redis_url {
            return Err(crate::Error::InvalidOption {
                name: "redis_url",
                value: url.clone(),
                reason: "this build of indextts has no Redis support (cargo feature `redis`)",
            });
        }
        let memory = (config.memory_bytes > 0).then(|| Memory {
            map: Mutex::new((LruCache::unbounded(), 0)),
            budget: config.memory_bytes,
            counters: Counters::default(),
        });
        let disk = config
            .dir
            .as_ref()
            .map(|dir| Arc::new(Disk::open(dir, config.dir_bytes, sample_rate)));
        #[cfg(feature = "redis")]
        let has_remote = remote.is_some();
        #[cfg(not(feature = "redis"))]
        let has_remote = false;
        let writer = (disk.is_some() || has_remote).then(|| {
            let (tx, rx) = sync_channel::<Job>(WRITE_QUEUE);
            let disk = disk.clone();
            #[cfg(feature = "redis")]
            let remote = remote.clone();
            std::thread::Builder::new()
                .name("indextts-cache".into())
                .spawn(move || {
                    for job in rx {
                        match job {
                            Job::Write {
                                key,
                                samples,
                                remote: to_remote,
                            } => {
                                if let Some(disk) = &disk {
                                    disk.put(&key, &samples);
                                }
                                #[cfg(feature = "redis")]
                                if let Some(remote) = remote.as_ref().filter(|_| to_remote) {
                                    remote.put(&key, &samples);
                                }
                                #[cfg(not(feature = "redis"))]
                                let _ = to_remote;
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
        });
        let (writer, writer_thread) = writer.flatten().unzip();
        Ok(SentenceCache {
            memory,
            disk,
            #[cfg(feature = "redis")]
            remote,
            writer,
            writer_thread,
        })
    }

    pub fn is_enabled(&self) -> bool {
        #[cfg(feature = "redis")]
        if self.remote.is_some() {
            return true;
        }
        self.memory.is_some() || self.disk.is_some()
    }

    pub fn get(&self, key: &CacheKey) -> Option<Samples> {
        if let Some(found) = self.memory.as_ref().and_then(|m| m.get(key)) {
            return Some(found);
        }
        if let Some(found) = self.disk.as_ref().and_then(|d| d.get(key)) {
            let found: Samples = found.into();
            if let Some(memory) = &self.memory {
                memory.put(*key, Arc::clone(&found));
            }
            return Some(found);
        }
        #[cfg(feature = "redis")]
        if let Some(found) = self.remote.as_ref().and_then(|r| r.get(key)) {
            let found: Samples = found.into();
            self.store(*key, Arc::clone(&found), false);
            return Some(found);
        }
        None
    }

    pub fn put(&self, key: CacheKey, samples: Samples) {
        self.store(key, samples, true);
    }

    /// Memory now; disk (and Redis when `remote`) on the writer thread.
    fn store(&self, key: CacheKey, samples: Samples, remote: bool) {
        if let Some(memory) = &self.memory {
            memory.put(key, Arc::clone(&samples));
        }
        if let Some(writer) = &self.writer {
            let job = Job::Write {
                key,
                samples,
                remote,
            };
            if let Err(TrySendError::Full(_)) = writer.try_send(job) {
                tracing::debug!("cache: write queue full; entry not written to disk or Redis");
            }
        }
    }

    /// Wait until every disk write queued so far is done.
    pub fn flush(&self) {
        if let Some(writer) = &self.writer {
            let (done_tx, done_rx) = sync_channel::<()>(1);
            if writer.send(Job::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory: self.memory.as_ref().map(Memory::stats).unwrap_or_default(),
            disk: self.disk.as_ref().map(|d| d.stats()).unwrap_or_default(),
            #[cfg(feature = "redis")]
            redis: self.remote.as_ref().map(|r| r.stats()).unwrap_or_default(),
            #[cfg(not(feature = "redis"))]
            redis: LevelStats::default(),
        }
    }

    pub fn clear(&self) {
        self.flush();
        if let Some(memory) = &self.memory {
            memory.clear();
        }
        if let Some(disk) = &self.disk {
            disk.clear();
        }
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            remote.clear();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scales;

    fn voicing(seed: Option<u64>) -> Voicing {
        Voicing {
            scales: Scales {
                noise_scale: 0.667,
                length_scale: 1.0,
                noise_w: 0.8,
            },
            sid: None,
            seed,
        }
    }

    #[test]
    fn keys_cover_everything_that_shapes_the_audio() {
        let voice = blake3::hash(b"voice");
        let base = SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None));
        assert_eq!(
            base,
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&blake3::hash(b"other"), &[1, 0, 5, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&voice, &[1, 0, 6, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(Some(0)))
        );
        let mut slower = voicing(None);
        slower.scales.length_scale = 1.1;
        assert_ne!(base, SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &slower));
        let mut speaker = voicing(None);
        speaker.sid = Some(0);
        assert_ne!(base, SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &speaker));
        assert_eq!(
            base.seed(),
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None)).seed()
        );
        assert_ne!(
            base.seed(),
            SentenceKey::new(&voice, &[1, 0, 6, 0, 2], &voicing(None)).seed()
        );
    }

    fn memory(budget: u64) -> Memory {
        Memory {
            map: Mutex::new((LruCache::unbounded(), 0)),
            budget,
            counters: Counters::default(),
        }
    }

    fn key(i: u64) -> CacheKey {
        CacheKey(blake3::hash(&i.to_le_bytes()))
    }

    #[test]
    fn memory_never_exceeds_its_byte_budget() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let budget = 100_000;
        let m = memory(budget);
        for i in 0..2_000 {
            let len = (rng.next_u32() % 12_000) as usize;
            m.put(key(i % 300), Arc::from(vec![0.5f32; len]));
            let stats = m.stats();
            assert!(
                stats.bytes <= budget,
                "{} bytes after {i} puts",
                stats.bytes
            );
            let (map, bytes) = &*m.map.lock().unwrap();
            assert_eq!(*bytes, map.iter().map(|(_, v)| bytes_of(v)).sum::<u64>());
        }
        assert!(m.stats().evictions > 0);
        // An entry larger than the whole budget is not kept (and evicts nothing).
        let before = m.stats();
        m.put(key(9_999), Arc::from(vec![0.0f32; 30_000]));
        assert!(m.get(&key(9_999)).is_none());
        assert_eq!(m.stats().entries, before.entries);
    }

    #[test]
    fn memory_evicts_the_least_recently_used() {
        let m = memory(3 * 400);
        for i in 0..3 {
            m.put(key(i), Arc::from(vec![0.0f32; 100]));
        }
        assert!(m.get(&key(0)).is_some()); // 0 is now the most recent
        m.put(key(3), Arc::from(vec![0.0f32; 100]));
        assert!(m.get(&key(1)).is_none(), "1 was least recently used");
        assert!(m.get(&key(0)).is_some() && m.get(&key(2)).is_some() && m.get(&key(3)).is_some());
        let shared = m.get(&key(3)).unwrap();
        assert!(
            Arc::ptr_eq(&shared, &m.get(&key(3)).unwrap()),
            "values are shared, not copied"
        );
    }

    #[test]
    fn disk_entries_round_trip_and_every_corruption_is_rejected() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
        let entry = encode_entry(22_050, &samples);
        assert_eq!(decode_entry(&entry, 22_050).unwrap(), samples);
        assert_eq!(
            decode_entry(&entry, 16_000),
            Err(EntryError::SampleRate(22_050))
        );
        for len in 0..entry.len() {
            assert!(
                decode_entry(&entry[..len], 22_050).is_err(),
                "truncated to {len}"
            );
        }
        for at in (0..entry.len()).step_by(7) {
            let mut bad = entry.clone();
            bad[at] ^= 1;
            assert!(decode_entry(&bad, 22_050).is_err(), "flipped byte {at}");
        }
        let mut longer = entry.clone();
        longer.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_entry(&longer, 22_050), Err(EntryError::Truncated));
        // Well formed, checksum right, but not audio: a hostile or broken writer's entry.
        for bad in [f32::NAN, f32::INFINITY, 3.5] {
            let mut poisoned = samples.clone();
            poisoned[500] = bad;
            let entry = encode_entry(22_050, &poisoned);
            assert_eq!(decode_entry(&entry, 22_050), Err(EntryError::NotAudio));
        }
    }
}
