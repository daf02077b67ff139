//! The compiled-graph cache: a voice's split halves as ONNX Runtime optimized them, saved once
//! and loaded on the next start, so that a cold start neither decodes and splits the model again
//! nor re-runs the graph optimizer.
//!
//! An entry is a directory named by its key: blake3 of the model and of its config, the ONNX
//! Runtime build, the CPU's vector features (an optimized graph may use layouts for the CPU it
//! was made on) and [`FORMAT`]. It holds each part's optimized graph (`prior-0.onnx` ..., `flow.onnx`,
//! `vocoder.onnx`, or `acoustic.onnx` for an acoustic half that runs whole) and `meta.json`, with
//! what the split found and the blake3 of each graph. An entry is written to a temporary
//! directory and renamed into place, so a reader never sees half of one; a file whose hash does
//! not match, or any other surprise, makes the entry a miss, and the voice is split afresh.
//!
//! The directory is bounded: after each new entry, the least recently loaded entries are
//! removed until the total is within the budget ([`DEFAULT_GRAPH_CACHE_BYTES`]), and staging
//! directories a killed writer left are removed after an hour. Everything in it is treated as
//! untrusted input: `meta.json` is size-capped and checked (part names, counts) before anything
//! is allocated from it, and no file is followed through a link.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the entry layout, of the split and of the model checks an entry's model passed; a
/// change makes old entries misses. 3: the checks look into constants, subgraphs, sparse
/// initializers and functions, so a model admitted under the weaker checks is checked again.
/// 4: the prior also gives its durations (word timestamps). 5: a FastSpeech2 voice's graphs are
/// chains of pieces.
pub(crate) const FORMAT: u32 = 5;

/// What the split found, beside the graphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SplitMeta {
    pub frames_tensor: String,
    pub frame_channels: Option<usize>,
    pub samples_per_frame: usize,
    pub vocoder_takes_sid: bool,
    pub takes_sid: bool,
    /// Present when the acoustic half is cut at its flow.
    pub flow: Option<FlowMeta>,
    /// The entry is one graph from ids to samples (`model.onnx`), not a split (Kokoro).
    #[serde(default)]
    pub whole: bool,
    /// The acoustic model as a chain of pieces (`acoustic-0.onnx` ...), when it is one (a
    /// FastSpeech2 voice); else `acoustic.onnx`, or the prior and the flow.
    #[serde(default)]
    pub acoustic_chain: Option<ChainMeta>,
    /// The vocoder as a chain of pieces (`vocoder-0.onnx` ...), when it is one; else
    /// `vocoder.onnx`.
    #[serde(default)]
    pub vocoder_chain: Option<ChainMeta>,
}

/// A graph cut into a chain of pieces run in turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChainMeta {
    pub pieces: usize,
    /// The whole graph's outputs, in its order (the pieces give them among others).
    pub outputs: Vec<String>,
}

impl ChainMeta {
    /// The part names of the chain's pieces (`NAME-0` ...), or why the meta is out of range.
    fn parts(&self, name: &'static str) -> Result<impl Iterator<Item = String>, String> {
        if !(1..=MAX_PIECES).contains(&self.pieces)
            || self.outputs.is_empty()
            || self.outputs.len() > MAX_NAMES_OR_CHANNELS
        {
            return Err(format!(
                "the {name} is {} pieces with {} outputs",
                self.pieces,
                self.outputs.len()
            ));
        }
        Ok((0..self.pieces).map(move |k| piece_part(name, k)))
    }
}

/// The graph cache's name of piece `k` of the graph called `name` (`prior-0`, `acoustic-3`).
pub(crate) fn piece_part(name: &str, k: usize) -> String {
    format!("{name}-{k}")
}

/// The prior/flow cut's names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlowMeta {
    /// The prior's pieces (`prior-0.onnx` ...), run in turn.
    pub prior_pieces: usize,
    pub flow_inputs: Vec<String>,
    /// (flow input, prior output whose shape it takes).
    pub frame_noise: Vec<(String, String)>,
    pub text_noise: Vec<String>,
    /// The prior's output of per-id frame counts, when it has one.
    pub durations: Option<String>,
}

impl SplitMeta {
    /// The graph files an entry with this meta holds, or why the meta is not one the split
    /// makes (a hand-edited or planted `meta.json`).
    fn parts(&self) -> Result<std::collections::BTreeSet<String>, String> {
        if !(1..=MAX_SAMPLES_PER_FRAME).contains(&self.samples_per_frame)
            || self
                .frame_channels
                .is_some_and(|c| c == 0 || c > MAX_NAMES_OR_CHANNELS)
        {
            return Err("frame sizes out of range".into());
        }
        if self.whole {
            return match (&self.flow, &self.acoustic_chain, &self.vocoder_chain) {
                (None, None, None) => Ok(["model".into()].into()),
                _ => Err("a whole graph has no flow and no chains".into()),
            };
        }
        let mut parts = match (&self.flow, &self.acoustic_chain) {
            (Some(_), Some(_)) => return Err("an acoustic chain has no flow".into()),
            (None, Some(chain)) => chain.parts("acoustic")?.collect(),
            (Some(flow), None) => {
                let names = flow.flow_inputs.len() + flow.frame_noise.len() + flow.text_noise.len();
                if !(1..=MAX_PIECES).contains(&flow.prior_pieces) || names > MAX_NAMES_OR_CHANNELS {
                    return Err(format!(
                        "{} prior pieces and {names} tensor names",
                        flow.prior_pieces
                    ));
                }
                let mut parts: std::collections::BTreeSet<String> = (0..flow.prior_pieces)
                    .map(|k| piece_part("prior", k))
                    .collect();
                parts.insert("flow".into());
                parts
            }
            (None, None) => ["acoustic".into()].into(),
        };
        match &self.vocoder_chain {
            Some(chain) => parts.extend(chain.parts("vocoder")?),
            None => {
                parts.insert("vocoder".into());
            }
        }
        Ok(parts)
    }
}

/// Most pieces a graph is cut into (a Piper prior or a FastSpeech2 model makes a handful).
const MAX_PIECES: usize = 64;
/// Most frame channels, and most tensor names in a flow's meta.
const MAX_NAMES_OR_CHANNELS: usize = 4096;
/// Most samples per frame (Piper's hop is 256).
const MAX_SAMPLES_PER_FRAME: usize = 1 << 16;
/// Largest `meta.json` read (a real one is under 1 KiB).
const MAX_META_BYTES: u64 = 64 << 10;
/// Largest graph file read (a Piper half is tens of MB).
const MAX_PART_BYTES: u64 = 2 << 30;
/// Default bound of a compiled-graph cache directory: about eight medium Piper voices.
pub const DEFAULT_GRAPH_CACHE_BYTES: u64 = 512 << 20;

#[derive(Serialize, Deserialize)]
struct EntryFile {
    format: u32,
    meta: SplitMeta,
    /// Part name -> blake3 of its graph file.
    files: BTreeMap<String, String>,
}

/// An entry's `meta.json`, checked: this format, and exactly the parts its split makes, each
/// named once, so nothing else in the file builds a path or sizes an allocation.
fn parse_entry(bytes: &[u8]) -> Result<EntryFile, String> {
    let entry: EntryFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if entry.format != FORMAT {
        return Err(format!("format {}, not {FORMAT}", entry.format));
    }
    if !entry.meta.parts()?.iter().eq(entry.files.keys()) {
        return Err("it lists other parts than its split makes".into());
    }
    Ok(entry)
}

/// The parts a `meta.json` names, or why it is refused (for the fuzzer).
#[cfg(feature = "unstable-internals")]
pub fn check_meta(bytes: &[u8]) -> Result<Vec<String>, String> {
    parse_entry(bytes).map(|entry| entry.files.into_keys().collect())
}

/// A cache directory and the bound of its total size, in bytes.
#[derive(Debug, Clone)]
pub(crate) struct GraphCache {
    root: PathBuf,
    budget: u64,
}

/// The key of a voice's entry.
pub(crate) fn key(model: &blake3::Hash, config: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(model.as_bytes());
    h.update(blake3::hash(config).as_bytes());
    h.update(ort::info().as_bytes());
    h.update(cpu_features().as_bytes());
    h.update(&FORMAT.to_le_bytes());
    h.finalize().to_hex()[..32].to_owned()
}

/// The vector extensions ONNX Runtime's kernels and layouts depend on.
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = String::from("x86_64");
        macro_rules! feature {
            ($($name:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($name) {
                    f.push(' ');
                    f.push_str($name);
                }
            )*};
        }
        feature!(
            "sse4.1",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vnni"
        );
        f
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_owned()
    }
}

/// blake3 of `paths`' bytes one after the other, read as a stream.
pub(crate) fn hash_files(paths: &[&Path]) -> crate::error::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    for path in paths {
        let file = std::fs::File::open(path).map_err(|e| crate::error::Error::io(*path, e))?;
        hasher
            .update_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(|e| crate::error::Error::io(*path, e))?;
    }
    Ok(hasher.finalize())
}

/// What a source file was when it was hashed. A change to a file's bytes sets its ctime to the
/// kernel's clock (no call sets it otherwise), and a file replaced by another has another inode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    len: u64,
    ino: u64,
    dev: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    #[cfg(unix)]
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some(Stamp {
            path: path.to_path_buf(),
            len: meta.len(),
            ino: meta.ino(),
            dev: meta.dev(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn of(_: &Path) -> Option<Stamp> {
        None
    }
}

/// A memo of [`hash_files`] for a list of files: their stamps when they were hashed, and the hash.
#[derive(Serialize, Deserialize)]
struct SourcesMemo {
    stamps: Vec<Stamp>,
    hash: String,
}

impl SourcesMemo {
    /// The memo at `path`, or `None` when it is missing, too large or not a memo.
    fn read(path: &Path) -> Option<SourcesMemo> {
        crate::atomic_file::read_bounded(path, MAX_META_BYTES)
            .ok()
            .flatten()
            .and_then(|(_, bytes)| serde_json::from_slice(&bytes).ok())
    }
}

/// How long a file must have been unchanged for its hash to be kept in a memo: longer than
/// any file system's timestamp tick, so a change in the tick of the hashing is still seen.
const SETTLED_NS: i128 = 2_000_000_000;

impl GraphCache {
    /// [`hash_files`] of `paths` (a voice's model files, for its key), taken from a memo in the
    /// cache directory when every file still has the inode, size, mtime and ctime it had when it
    /// was last hashed; else hashed, and the memo written when the files have been unchanged
    /// for a while. Hashing ~70 MB is a sixth of a cached cold start.
    pub fn hash_sources(&self, paths: &[&Path]) -> crate::error::Result<blake3::Hash> {
        self.hash_sources_settled(paths, SETTLED_NS)
    }

    /// [`GraphCache::hash_sources`], a memo written for files unchanged for `settled_ns`.
    fn hash_sources_settled(
        &self,
        paths: &[&Path],
        settled_ns: i128,
    ) -> crate::error::Result<blake3::Hash> {
        let stamps: Option<Vec<Stamp>> = paths.iter().map(|p| Stamp::of(p)).collect();
        let Some(stamps) = stamps else {
            return hash_files(paths);
        };
        let mut name = blake3::Hasher::new();
        for path in paths {
            name.update(path.as_os_str().as_encoded_bytes());
            name.update(&[0]);
        }
        let memo = self
            .root
            .join(format!(".sources-{}.json", &name.finalize().to_hex()[..32]));
        let remembered = SourcesMemo::read(&memo)
            .filter(|m| m.stamps == stamps)
            .and_then(|m| blake3::Hash::from_hex(m.hash).ok());
        if let Some(hash) = remembered {
            return Ok(hash);
        }
        let hash = hash_files(paths)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let settled = stamps
            .iter()
            .all(|s| s.mtime_ns.max(s.ctime_ns) + settled_ns < now);
        // Unchanged while hashed, too: the bytes hashed are the bytes the stamps describe.
        let after: Option<Vec<Stamp>> = paths.iter().map(|p| Stamp::of(p)).collect();
        if settled && after.as_ref() == Some(&stamps) {
            let memo_file = SourcesMemo {
                stamps,
                hash: hash.to_hex().to_string(),
            };
            if let Ok(json) = serde_json::to_vec(&memo_file) {
                let _ = std::fs::create_dir_all(&self.root)
                    .and_then(|()| crate::atomic_file::write(&memo, &json));
            }
        }
        Ok(hash)
    }
}

impl GraphCache {
    pub fn new(root: PathBuf, budget: u64) -> Self {
        GraphCache { root, budget }
    }

    /// The entry's directory.
    pub fn entry(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The entry for `key`: what the split found, and each part's optimized graph. A damaged
    /// entry is removed (entries are renamed into place whole, so a bad one never heals), and
    /// the caller's fresh split writes it again. A hit marks the entry as recently used.
    pub fn load(&self, key: &str) -> Option<(SplitMeta, BTreeMap<String, Vec<u8>>)> {
        let dir = self.entry(key);
        let (meta_file, entry) = match read_meta(&dir) {
            Ok(Some(read)) => read,
            Ok(None) => return None,
            Err(why) => return self.discard(&dir, &why),
        };
        // Read and check the parts on all cores (hashing ~60 MB is most of a cached load's I/O).
        let files: Vec<(String, String)> = entry.files.into_iter().collect();
        let read = super::parallel_map(&files, |(name, hash)| {
            read_part(&dir, name, hash).map(|bytes| (name.clone(), bytes))
        });
        let mut parts = BTreeMap::new();
        for part in read {
            match part {
                Ok((name, bytes)) => {
                    parts.insert(name, bytes);
                }
                Err(why) => return self.discard(&dir, &why),
            }
        }
        // Least recently loaded entries are evicted first.
        let _ = meta_file.set_modified(std::time::SystemTime::now());
        Some((entry.meta, parts))
    }

    /// The optimized graph of one part of the entry for `key`, checked against the entry's
    /// `meta.json` as a load checks it (for sessions made after the voice loaded); the entry is
    /// left as it is when it fails.
    pub fn load_part(&self, key: &str, part: &str) -> Result<Vec<u8>, String> {
        let dir = self.entry(key);
        let (_, entry) = read_meta(&dir)?.ok_or("the entry is gone")?;
        let hash = entry
            .files
            .get(part)
            .ok_or_else(|| format!("the entry has no {part} part"))?;
        read_part(&dir, part, hash)
    }

    /// What `build` makes of the entry for `key`, or `None` to load afresh: a miss, or an entry
    /// `build` refused (sessions that would not build from it, meta not this voice's), which is
    /// removed with a warning.
    pub fn load_with<T>(
        &self,
        key: &str,
        build: impl FnOnce(SplitMeta, BTreeMap<String, Vec<u8>>) -> crate::Result<T>,
    ) -> Option<T> {
        let (meta, parts) = self.load(key)?;
        match build(meta, parts) {
            Ok(built) => Some(built),
            Err(e) => {
                tracing::warn!("compiled-graph cache entry {key} failed ({e}); loading afresh");
                self.remove(key);
                None
            }
        }
    }

    /// [`GraphCache::staging`], or `None` with a warning when the cache cannot be written (a
    /// voice still loads; it is only not saved).
    pub fn try_staging(&self) -> Option<PathBuf> {
        self.staging()
            .map_err(|e| tracing::warn!("cannot write the graph cache: {e}"))
            .ok()
    }

    /// Remove the entry for `key` (one that loaded but did not work).
    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_dir_all(self.entry(key));
    }

    /// Remove a damaged entry; always a miss.
    fn discard<T>(&self, dir: &Path, why: &str) -> Option<T> {
        tracing::warn!(dir = %dir.display(), "graph cache entry dropped ({why}); splitting afresh");
        let _ = std::fs::remove_dir_all(dir);
        None
    }

    /// A fresh staging directory for an entry being written (ONNX Runtime writes the optimized
    /// graphs into it while building the sessions). Staging directories a killed writer left
    /// an hour or more ago are removed first.
    pub fn staging(&self) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.root)?;
        crate::atomic_file::remove_stale_temporaries(&self.root);
        let dir = crate::atomic_file::temp_path(&self.root, "staging");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Finish an entry whose graphs are in `staging` as `NAME.onnx` for each of `parts`, then
    /// bring the directory back within its budget. Failure is logged, never an error: the cache
    /// only ever saves time.
    pub fn commit(&self, key: &str, staging: &Path, meta: SplitMeta, parts: &[&str]) {
        let result = (|| -> std::io::Result<()> {
            let mut files = BTreeMap::new();
            for part in parts {
                let bytes = std::fs::read(staging.join(format!("{part}.onnx")))?;
                files.insert(
                    (*part).to_owned(),
                    blake3::hash(&bytes).to_hex().to_string(),
                );
            }
            let entry = EntryFile {
                format: FORMAT,
                meta,
                files,
            };
            let json = serde_json::to_vec_pretty(&entry).map_err(std::io::Error::other)?;
            std::fs::write(staging.join("meta.json"), json)?;
            // Another process may have finished the same entry first; then theirs is kept.
            crate::atomic_file::publish_dir(staging, &self.entry(key)).map(drop)
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.root.display(), "cannot write the graph cache: {e}");
            let _ = std::fs::remove_dir_all(staging);
        }
        self.evict(key);
    }

    /// Remove the least recently used entries (by their `meta.json`'s time, which a load
    /// renews) until the directory is within its budget; `keep` (the entry just written) stays
    /// whatever its size. Source-hash memos that no longer describe their files go too.
    fn evict(&self, keep: &str) {
        self.forget_stale_sources();
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = dir
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| {
                let path = e.path();
                let used = path
                    .join("meta.json")
                    .symlink_metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (used, dir_bytes(&path), path)
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort_by_key(|e| e.0);
        for (_, bytes, path) in entries {
            if total <= self.budget {
                break;
            }
            if path.file_name().is_some_and(|n| n == keep) {
                continue;
            }
            if std::fs::remove_dir_all(&path).is_ok() {
                tracing::debug!(entry = %path.display(), bytes, "graph cache entry evicted");
                total = total.saturating_sub(bytes);
            }
        }
    }
}

impl GraphCache {
    /// Remove the `.sources-*.json` memos that can never answer again: unreadable, or a file
    /// they describe gone or changed. What is left is one small memo per set of voice files
    /// in use, however many voices were loaded from places since removed.
    fn forget_stale_sources(&self) {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        for memo in dir.flatten() {
            let name = memo.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(".sources-") && name.ends_with(".json")) {
                continue;
            }
            let path = memo.path();
            let live = SourcesMemo::read(&path).is_some_and(|m| {
                m.stamps
                    .iter()
                    .all(|s| Stamp::of(&s.path).as_ref() == Some(s))
            });
            if !live && std::fs::remove_file(&path).is_ok() {
                tracing::debug!(memo = %path.display(), "stale source-hash memo removed");
            }
        }
    }
}

/// The entry in `dir`: its `meta.json` (opened, for its time of use) and what it says; `None`
/// when there is no entry, or why it is refused.
fn read_meta(dir: &Path) -> Result<Option<(std::fs::File, EntryFile)>, String> {
    let (file, meta) =
        match crate::atomic_file::read_bounded(&dir.join("meta.json"), MAX_META_BYTES) {
            Ok(Some(read)) => read,
            Ok(None) => return Err("meta.json is not a small regular file".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("meta.json: {e}")),
        };
    let entry = parse_entry(&meta).map_err(|why| format!("meta.json: {why}"))?;
    Ok(Some((file, entry)))
}

/// `dir/NAME.onnx`, when it is a regular file whose blake3 is `hash`.
fn read_part(dir: &Path, name: &str, hash: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(format!("{name}.onnx"));
    let bytes = match crate::atomic_file::read_bounded(&path, MAX_PART_BYTES) {
        Ok(Some((_, bytes))) => bytes,
        Ok(None) => return Err(format!("{name}.onnx is not a regular file")),
        Err(e) => return Err(format!("{name}.onnx: {e}")),
    };
    if blake3::hash(&bytes).to_hex().as_str() != hash {
        return Err(format!("{name}.onnx does not match its hash"));
    }
    Ok(bytes)
}

/// Bytes of the regular files directly in `dir` (an entry's layout; links are not followed).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |files| {
        files
            .flatten()
            .filter_map(|f| f.path().symlink_metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(prior_pieces: usize) -> SplitMeta {
        SplitMeta {
            frames_tensor: "z".into(),
            frame_channels: Some(192),
            samples_per_frame: 256,
            vocoder_takes_sid: false,
            takes_sid: false,
            flow: Some(FlowMeta {
                prior_pieces,
                flow_inputs: vec!["m_p".into()],
                frame_noise: vec![("noise".into(), "m_p".into())],
                text_noise: vec![],
                durations: Some("w_ceil".into()),
            }),
            whole: false,
            acoustic_chain: None,
            vocoder_chain: None,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "indextts-graph-cache-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    /// Commit an entry `key` whose three parts hold `size` bytes each.
    fn commit(cache: &GraphCache, key: &str, size: usize) {
        let staging = cache.staging().unwrap();
        for part in ["prior-0", "flow", "vocoder"] {
            std::fs::write(
                staging.join(format!("{part}.onnx")),
                vec![key.as_bytes()[0]; size],
            )
            .unwrap();
        }
        cache.commit(key, &staging, meta(1), &["prior-0", "flow", "vocoder"]);
        assert!(!staging.exists());
    }

    #[test]
    fn an_entry_round_trips_and_a_damaged_one_is_a_miss() {
        let root = scratch("round-trip");
        let cache = GraphCache::new(root.clone(), DEFAULT_GRAPH_CACHE_BYTES);
        commit(&cache, "k1", 100);
        let (loaded, parts) = cache.load("k1").unwrap();
        assert_eq!(loaded, meta(1));
        assert_eq!(parts["vocoder"], vec![b'k'; 100]);
        assert!(cache.load("k2").is_none());
        std::fs::write(cache.entry("k1").join("vocoder.onnx"), b"tampered").unwrap();
        assert!(cache.load("k1").is_none());
        assert!(!cache.entry("k1").exists(), "a damaged entry is removed");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn chains_name_their_pieces_and_are_bounded() {
        let chain = |pieces| ChainMeta {
            pieces,
            outputs: vec!["mel".into()],
        };
        let chained = SplitMeta {
            flow: None,
            acoustic_chain: Some(chain(2)),
            vocoder_chain: Some(chain(3)),
            ..meta(1)
        };
        let parts: Vec<String> = chained.parts().unwrap().into_iter().collect();
        assert_eq!(
            parts,
            [
                "acoustic-0",
                "acoustic-1",
                "vocoder-0",
                "vocoder-1",
                "vocoder-2"
            ]
        );
        for bad in [
            // An acoustic chain and a flow cut are two different splits.
            SplitMeta {
                acoustic_chain: Some(chain(2)),
                ..meta(1)
            },
            SplitMeta {
                flow: None,
                acoustic_chain: Some(chain(0)),
                ..meta(1)
            },
            SplitMeta {
                vocoder_chain: Some(chain(MAX_PIECES + 1)),
                ..meta(1)
            },
            SplitMeta {
                flow: None,
                vocoder_chain: Some(ChainMeta {
                    pieces: 1,
                    outputs: vec![],
                }),
                ..meta(1)
            },
            SplitMeta {
                flow: None,
                whole: true,
                vocoder_chain: Some(chain(1)),
                ..meta(1)
            },
        ] {
            assert!(bad.parts().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_source_hash_is_remembered_until_the_file_changes() {
        let root = scratch("sources");
        let cache = GraphCache::new(root.join("cache"), DEFAULT_GRAPH_CACHE_BYTES);
        std::fs::create_dir_all(&root).unwrap();
        let model = root.join("model.onnx");
        std::fs::write(&model, b"first model").unwrap();
        let memos = || {
            std::fs::read_dir(root.join("cache")).map_or(0, |d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".sources-"))
                    .count()
            })
        };
        // Just written: hashed, and not remembered (a change in the same clock tick would
        // leave the same times).
        let first = cache.hash_sources(&[&model]).unwrap();
        assert_eq!(first, hash_files(&[&model]).unwrap());
        assert_eq!(memos(), 0);
        // Settled (here: at once): remembered, and the memo answers while the file is as it was.
        assert_eq!(
            cache.hash_sources_settled(&[&model], -SETTLED_NS).unwrap(),
            first
        );
        assert_eq!(memos(), 1);
        let memo = std::fs::read_dir(root.join("cache"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let planted = std::fs::read_to_string(&memo)
            .unwrap()
            .replace(&first.to_hex().to_string(), &"7".repeat(64));
        std::fs::write(&memo, planted).unwrap();
        assert_eq!(
            cache.hash_sources(&[&model]).unwrap().to_hex().to_string(),
            "7".repeat(64),
            "the memo is what answers"
        );
        // The same size, new bytes: the file's ctime moved, so it is hashed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&model, b"other model").unwrap();
        let second = cache.hash_sources(&[&model]).unwrap();
        assert_eq!(second, hash_files(&[&model]).unwrap());
        assert_ne!(second, first);
        // A missing file is the error hashing it gives.
        assert!(cache.hash_sources(&[&root.join("gone.onnx")]).is_err());
        // The memo of the file as it was can never answer again: the next eviction removes it,
        // and keeps one that still describes its files.
        assert_eq!(memos(), 1);
        cache.evict("");
        assert_eq!(memos(), 0);
        let other = root.join("other.onnx");
        std::fs::write(&other, b"a third model").unwrap();
        cache.hash_sources_settled(&[&other], -SETTLED_NS).unwrap();
        cache.evict("");
        assert_eq!(memos(), 1);
        std::fs::remove_file(&other).unwrap();
        cache.evict("");
        assert_eq!(memos(), 0, "a memo of a removed file goes");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_whole_graph_entry_has_one_part_and_no_flow() {
        let whole = SplitMeta {
            flow: None,
            whole: true,
            ..meta(1)
        };
        assert_eq!(whole.parts().unwrap(), ["model".to_owned()].into());
        let torn = SplitMeta {
            whole: true,
            ..meta(1)
        };
        assert!(
            torn.parts().is_err(),
            "a whole graph with a flow is not one the loaders write"
        );
        // Entries written before the field existed read as split ones.
        let old = serde_json::to_value(meta(1)).unwrap();
        let mut old = old.as_object().unwrap().clone();
        old.remove("whole");
        let read: SplitMeta = serde_json::from_value(old.into()).unwrap();
        assert!(!read.whole);
    }

    #[test]
    fn the_directory_keeps_within_its_budget_evicting_the_least_recently_loaded() {
        let root = scratch("budget");
        // Three parts of 1,000 bytes: an entry is a little over 3,000 bytes; room for two.
        let cache = GraphCache::new(root.clone(), 8_000);
        commit(&cache, "a", 1000);
        std::thread::sleep(std::time::Duration::from_millis(20));
        commit(&cache, "b", 1000);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(cache.load("a").is_some(), "a is now the most recently used");
        std::thread::sleep(std::time::Duration::from_millis(20));
        commit(&cache, "c", 1000);
        assert!(cache.entry("a").exists() && cache.entry("c").exists());
        assert!(
            !cache.entry("b").exists(),
            "the least recently used entry goes"
        );
        // An entry larger than the whole budget is still kept (it is the one in use).
        commit(&cache, "d", 5000);
        assert!(cache.entry("d").exists());
        assert!(!cache.entry("a").exists() && !cache.entry("c").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn stale_staging_directories_are_removed() {
        let root = scratch("staging");
        let cache = GraphCache::new(root.clone(), DEFAULT_GRAPH_CACHE_BYTES);
        let killed = cache.staging().unwrap();
        std::fs::write(killed.join("vocoder.onnx"), vec![0u8; 4096]).unwrap();
        let hour_ago = std::time::SystemTime::now()
            - crate::atomic_file::STALE_TEMP
            - std::time::Duration::from_secs(1);
        std::fs::File::open(&killed)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let live = cache.staging().unwrap();
        assert!(
            !killed.exists(),
            "a killed writer's staging directory stays"
        );
        assert!(live.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_planted_meta_json_is_checked_before_it_is_used() {
        let root = scratch("planted");
        let cache = GraphCache::new(root.clone(), DEFAULT_GRAPH_CACHE_BYTES);
        let plant = |key: &str, json: String| {
            let dir = cache.entry(key);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("meta.json"), json).unwrap();
            std::fs::write(root.join("secret.onnx"), b"outside the entry").unwrap();
        };
        let entry = |meta: &SplitMeta, files: &[(&str, &str)]| {
            serde_json::to_string(&EntryFile {
                format: FORMAT,
                meta: meta.clone(),
                files: files
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            })
            .unwrap()
        };
        // A prior in 2^64 - 1 pieces used to size a list of part names.
        plant("huge", entry(&meta(usize::MAX), &[]));
        assert!(cache.load("huge").is_none());
        // A part name that climbs out of the entry.
        let hash = blake3::hash(b"outside the entry").to_hex().to_string();
        plant(
            "climb",
            entry(
                &meta(1),
                &[
                    ("prior-0", &hash),
                    ("flow", &hash),
                    ("vocoder", &hash),
                    ("../secret", &hash),
                ],
            ),
        );
        assert!(cache.load("climb").is_none());
        // A meta.json far larger than any real one is not parsed.
        plant("big", format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20)));
        assert!(cache.load("big").is_none());
        for key in ["huge", "climb", "big"] {
            assert!(!cache.entry(key).exists(), "{key} was not removed");
        }
        // A meta.json that is a link to a file elsewhere is not followed.
        #[cfg(unix)]
        {
            commit(&cache, "real", 10);
            let dir = cache.entry("linked");
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(
                cache.entry("real").join("meta.json"),
                dir.join("meta.json"),
            )
            .unwrap();
            assert!(cache.load("linked").is_none());
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
