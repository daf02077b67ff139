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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the entry layout, of the split and of the model checks an entry's model passed; a
/// change makes old entries misses. 3: the checks look into constants, subgraphs, sparse
/// initializers and functions, so a model admitted under the weaker checks is checked again.
pub(crate) const FORMAT: u32 = 3;

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
}

#[derive(Serialize, Deserialize)]
struct EntryFile {
    format: u32,
    meta: SplitMeta,
    /// Part name -> blake3 of its graph file.
    files: BTreeMap<String, String>,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub(crate) struct GraphCache {
    root: PathBuf,
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

impl GraphCache {
    pub fn new(root: PathBuf) -> Self {
        GraphCache { root }
    }

    /// The entry's directory.
    pub fn entry(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The entry for `key`: what the split found, and each part's optimized graph. A damaged
    /// entry is removed (entries are renamed into place whole, so a bad one never heals), and
    /// the caller's fresh split writes it again.
    pub fn load(&self, key: &str) -> Option<(SplitMeta, BTreeMap<String, Vec<u8>>)> {
        let dir = self.entry(key);
        let meta = match std::fs::read(dir.join("meta.json")) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return self.discard(&dir, &format!("meta.json: {e}")),
        };
        let entry: EntryFile = match serde_json::from_slice(&meta) {
            Ok(entry) => entry,
            Err(e) => return self.discard(&dir, &format!("meta.json: {e}")),
        };
        if entry.format != FORMAT {
            return self.discard(&dir, "an older format");
        }
        // Read and check the parts on all cores (hashing ~60 MB is most of a cached load's I/O).
        let files: Vec<(String, String)> = entry.files.into_iter().collect();
        let read = super::parallel_map(&files, |(name, hash)| {
            let bytes = std::fs::read(dir.join(format!("{name}.onnx")))
                .map_err(|e| format!("{name}.onnx: {e}"))?;
            if blake3::hash(&bytes).to_hex().as_str() != hash {
                return Err(format!("{name}.onnx does not match its hash"));
            }
            Ok((name.clone(), bytes))
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
        Some((entry.meta, parts))
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
    /// graphs into it while building the sessions).
    pub fn staging(&self) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.root)?;
        let dir = crate::atomic_file::temp_path(&self.root, "staging");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Finish an entry whose graphs are in `staging` as `NAME.onnx` for each of `parts`.
    /// Failure is logged, never an error: the cache only ever saves time.
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_a_damaged_one_is_a_miss() {
        let root =
            std::env::temp_dir().join(format!("indextts-graph-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cache = GraphCache::new(root.clone());
        let meta = SplitMeta {
            frames_tensor: "z".into(),
            frame_channels: Some(192),
            samples_per_frame: 256,
            vocoder_takes_sid: false,
            takes_sid: false,
            flow: Some(FlowMeta {
                prior_pieces: 1,
                flow_inputs: vec!["m_p".into()],
                frame_noise: vec![("noise".into(), "m_p".into())],
                text_noise: vec![],
            }),
        };
        let staging = cache.staging().unwrap();
        std::fs::write(staging.join("prior.onnx"), b"prior graph").unwrap();
        std::fs::write(staging.join("vocoder.onnx"), b"vocoder graph").unwrap();
        cache.commit("k1", &staging, meta.clone(), &["prior", "vocoder"]);
        assert!(!staging.exists());
        let (loaded, parts) = cache.load("k1").unwrap();
        assert_eq!(loaded, meta);
        assert_eq!(parts["prior"], b"prior graph");
        assert!(cache.load("k2").is_none());
        std::fs::write(cache.entry("k1").join("vocoder.onnx"), b"tampered").unwrap();
        assert!(cache.load("k1").is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
