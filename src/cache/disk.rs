//! The disk level: one content-addressed file per entry in a directory that several processes
//! may share. Writes are atomic (`crate::atomic_file`); reads check everything; a bad entry is
//! a miss, removed; any I/O failure skips the level for that call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::entry::{decode_sealed, encode_sealed, Seal};
use super::{CacheKey, Counters, Level, LevelStats, Samples, Sharing};

pub(super) struct Disk {
    dir: PathBuf,
    /// This voice's entries' name prefix (the budget and eviction span every voice's).
    namespace: String,
    seal: Seal,
    budget: u64,
    sample_rate: u32,
    /// Bytes and entries this process believes the directory holds: counted as it writes and
    /// evicts, recounted when evicting, so `stats` (every `/metrics` scrape) reads no directory.
    bytes: AtomicU64,
    entries: AtomicU64,
    counters: Counters,
    logged: Mutex<std::collections::HashSet<String>>,
}

impl Disk {
    pub fn open(dir: &Path, budget: u64, sharing: &Sharing, sample_rate: u32) -> Disk {
        let disk = Disk {
            dir: dir.to_path_buf(),
            namespace: sharing.namespace.clone(),
            seal: sharing.seal.clone(),
            budget,
            sample_rate,
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            counters: Counters::default(),
            logged: Mutex::new(Default::default()),
        };
        if let Err(e) = std::fs::create_dir_all(dir) {
            disk.fail("create", &e);
        }
        crate::atomic_file::remove_stale_temporaries(dir);
        let entries = disk.scan();
        disk.bytes
            .store(entries.iter().map(|e| e.1).sum(), Ordering::Relaxed);
        disk.entries.store(entries.len() as u64, Ordering::Relaxed);
        disk
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir
            .join(format!("{}-{}.pcm", self.namespace, key.hex()))
    }

    /// Log once per kind of trouble; `true` the first time.
    fn first(&self, what: String) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        logged.insert(what)
    }

    /// Count a failure; log it once per kind.
    fn fail(&self, what: &str, e: &dyn std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if self.first(what.to_owned()) {
            tracing::warn!(dir = %self.dir.display(), "disk cache: cannot {what}: {e}; going on without it");
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
        let mut count = entries.len() as u64;
        let target = self.budget / 10 * 9;
        for (path, size, _) in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
            total = total.saturating_sub(size);
            count = count.saturating_sub(1);
        }
        self.bytes.store(total, Ordering::Relaxed);
        self.entries.store(count, Ordering::Relaxed);
    }
}

/// Largest entry read: one sentence at [`crate::MAX_SENTENCE_FRAMES`] frames of a 300-sample
/// hop is 14.4 M samples, 57.6 MB as f32; a bigger file is not an entry.
const MAX_ENTRY_BYTES: u64 = 64 << 20;

impl Level for Disk {
    fn get(&self, key: &CacheKey) -> Option<Samples> {
        let path = self.path(key);
        let (file, bytes) = match crate::atomic_file::read_bounded(&path, MAX_ENTRY_BYTES) {
            Ok(Some(read)) => read,
            Ok(None) => {
                // A link, FIFO, device or oversize file where an entry should be: not ours.
                self.counters.count(false);
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                if self.first("reject non-entry".into()) {
                    tracing::warn!(file = %path.display(), "disk cache: removed a file that is not an entry");
                }
                return None;
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    self.fail("read", &e);
                }
                self.counters.count(false);
                return None;
            }
        };
        let decoded = decode_sealed(&bytes, &self.seal, key, self.sample_rate);
        self.counters.count(decoded.is_ok());
        match decoded {
            Ok(samples) => {
                // Recently used entries are evicted last.
                let _ = file.set_modified(std::time::SystemTime::now());
                Some(samples.into())
            }
            Err(why) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                if self.first(format!("reject {why:?}")) {
                    tracing::warn!(file = %path.display(), "disk cache: removed a bad entry ({why:?})");
                }
                None
            }
        }
    }

    fn put(&self, key: &CacheKey, samples: &Samples) {
        let bytes = encode_sealed(&self.seal, key, self.sample_rate, samples);
        if let Err(e) = crate::atomic_file::write(&self.path(key), &bytes) {
            self.fail("write", &e);
            return;
        }
        self.entries.fetch_add(1, Ordering::Relaxed);
        let total =
            self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
        if total > self.budget {
            self.evict();
        }
    }

    fn stats(&self) -> LevelStats {
        self.counters.snapshot(
            self.bytes.load(Ordering::Relaxed),
            self.entries.load(Ordering::Relaxed),
        )
    }

    fn clear(&self) {
        // This voice's entries only: the directory may serve other voices and processes.
        let ours = format!("{}-", self.namespace);
        let mut kept = (0, 0);
        for (path, size, _) in self.scan() {
            let mine = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&ours));
            if !(mine && std::fs::remove_file(&path).is_ok()) {
                kept = (kept.0 + size, kept.1 + 1);
            }
        }
        self.bytes.store(kept.0, Ordering::Relaxed);
        self.entries.store(kept.1, Ordering::Relaxed);
    }
}
