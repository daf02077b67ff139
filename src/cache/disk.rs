//! The disk level: one content-addressed file per entry in a directory that several processes
//! may share. Writes are atomic (`crate::atomic_file`); reads check everything; a bad entry is
//! a miss, removed; any I/O failure skips the level for that call.
//!
//! The budget is the directory's, not a process's: every process sharing the directory keeps one
//! account of its bytes and entries in [`USAGE_FILE`], updated under an exclusive `flock` at each
//! write, and the process whose write takes the total over the budget evicts (also under the
//! lock). Counts that drift (entries removed as bad, a crashed writer) only ever overstate the
//! total, and the next eviction recounts the directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::entry::{decode_sealed, encode_sealed, Seal};
use super::{CacheKey, Counters, Level, LevelStats, Samples, Sharing};

pub(super) struct Disk {
    dir: PathBuf,
    /// This voice's entries' name prefix (the budget and eviction span every voice's).
    namespace: String,
    seal: Seal,
    budget: u64,
    sample_rate: u32,
    /// Bytes and entries the directory held at this process's last write, eviction or clear
    /// (from the shared account), so `stats` (every `/metrics` scrape) reads no directory.
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
        disk.update_account(|_| None);
        disk
    }

    /// Change the directory's shared account under its lock: `change` gets the account as it
    /// stands (`None` if there is none yet, or it is unreadable) and returns the new one, or
    /// `None` to recount the directory. A total over the budget is then evicted. Without a
    /// usable account file (a read-only directory, say) this process counts alone.
    fn update_account(&self, change: impl FnOnce(Option<(u64, u64)>) -> Option<(u64, u64)>) {
        let file = open_account(&self.dir.join(USAGE_FILE));
        let stood = file.as_ref().ok().and_then(read_account);
        let stood = if file.is_ok() {
            stood
        } else {
            Some((
                self.bytes.load(Ordering::Relaxed),
                self.entries.load(Ordering::Relaxed),
            ))
        };
        let (bytes, entries) = change(stood).unwrap_or_else(|| self.recount());
        let (bytes, entries) = if bytes > self.budget {
            self.evict()
        } else {
            (bytes, entries)
        };
        if let Ok(file) = &file {
            if let Err(e) = write_account(file, bytes, entries) {
                self.fail("update the usage account", &e);
            }
        }
        self.bytes.store(bytes, Ordering::Relaxed);
        self.entries.store(entries, Ordering::Relaxed);
    }

    /// The directory's bytes and entries, counted.
    fn recount(&self) -> (u64, u64) {
        let entries = self.scan();
        (entries.iter().map(|e| e.1).sum(), entries.len() as u64)
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

    /// Remove the least recently used entries until the directory is under 90% of its budget;
    /// its bytes and entries after.
    fn evict(&self) -> (u64, u64) {
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
        (total, count)
    }
}

/// The shared account's file in the cache directory: `BYTES ENTRIES`, in decimal.
const USAGE_FILE: &str = ".usage";

/// The account file, open and locked (`flock`, exclusive) until the handle is dropped; never
/// through a link.
fn open_account(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::File::options();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd as _;
        // SAFETY: flock on a descriptor this function owns; the lock goes with the descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// The account as it stands; `None` if it is empty or not one.
fn read_account(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::io::Read as _;
    let mut text = String::new();
    file.take(64).read_to_string(&mut text).ok()?;
    let (bytes, entries) = text.trim().split_once(' ')?;
    Some((bytes.parse().ok()?, entries.parse().ok()?))
}

fn write_account(mut file: &std::fs::File, bytes: u64, entries: u64) -> std::io::Result<()> {
    use std::io::{Seek as _, Write as _};
    file.set_len(0)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(format!("{bytes} {entries}\n").as_bytes())
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
                Some(Arc::new(samples))
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
        let added = bytes.len() as u64;
        self.update_account(|stood| stood.map(|(b, e)| (b.saturating_add(added), e + 1)));
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
        self.update_account(|_| {
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
            Some(kept)
        });
    }
}
