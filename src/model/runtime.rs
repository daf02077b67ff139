//! Loading ONNX Runtime's shared library once per process and building sessions from memory.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{Error, Result};

/// The process's one ONNX Runtime: the file it was loaded from and its environment.
struct Loaded {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: OnceLock<Loaded> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The environment of the ONNX Runtime library at `path`, loading it on first use.
///
/// A process holds one ONNX Runtime: asking for a different file afterwards is
/// [`Error::RuntimeConflict`], never a silent use of the other one.
pub(crate) fn environment(path: &Path) -> Result<&'static Environment> {
    let requested = std::fs::canonicalize(path).map_err(|e| Error::RuntimeLoad {
        path: path.to_path_buf(),
        reason: format!("{e} (fetch it with scripts/fetch_assets.py, or set ORT_DYLIB_PATH)"),
    })?;
    if let Some(loaded) = RUNTIME.get() {
        return same_library(loaded, requested);
    }
    // A poisoned lock only means another thread panicked while loading; the OnceLock is still sound.
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(loaded) = RUNTIME.get() {
        return same_library(loaded, requested);
    }
    if !requested.is_file() {
        return Err(Error::RuntimeLoad {
            path: requested,
            reason: "not a file".into(),
        });
    }
    let builder = ort::init_from(&requested).map_err(|e| Error::RuntimeLoad {
        path: requested.clone(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("indextts")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::RuntimeLoad {
            path: requested.clone(),
            reason: e.to_string(),
        })?;
    tracing::debug!(path = %requested.display(), "loaded ONNX Runtime");
    let loaded = RUNTIME.get_or_init(|| Loaded {
        path: requested,
        env,
    });
    Ok(&loaded.env)
}

fn same_library(loaded: &'static Loaded, requested: PathBuf) -> Result<&'static Environment> {
    if loaded.path == requested {
        Ok(&loaded.env)
    } else {
        Err(Error::RuntimeConflict {
            loaded: loaded.path.clone(),
            requested,
        })
    }
}

/// Where a session's graph comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Graph<'a> {
    /// As split: ONNX Runtime optimizes it fully, and writes the optimized graph to the path
    /// when one is given (for the compiled-graph cache).
    Fresh { save_optimized: Option<&'a Path> },
    /// Already optimized by ONNX Runtime (from the compiled-graph cache): not optimized again.
    Optimized,
}

/// A session for the serialized model `bytes` on `threads` intra-op threads.
pub(crate) fn session_from_memory(
    env: &Environment,
    bytes: &[u8],
    threads: usize,
    graph: Graph<'_>,
    context: &'static str,
) -> Result<Session> {
    let fail = |e: ort::Error<_>| Error::runtime(context, e);
    let level = match graph {
        Graph::Fresh { .. } => GraphOptimizationLevel::All,
        Graph::Optimized => GraphOptimizationLevel::Disable,
    };
    let mut builder = Session::builder(env)
        .map_err(|e| Error::runtime(context, e))?
        .with_optimization_level(level)
        .map_err(fail)?
        .with_intra_threads(threads)
        .map_err(fail)?
        .with_inter_threads(1)
        .map_err(fail)?
        // Measured: the two halves run at once on a stream's two threads; spinning threads of an
        // idle session steal the cores the busy one needs (0.61x -> 0.51x piper-tts's TTFA).
        .with_intra_op_spinning(false)
        .map_err(fail)?
        // Measured: every run has new shapes (sentence lengths), and ORT's memory pattern keeps
        // a plan and block per shape seen; off, the story's peak RSS fell 245 -> 213 MB and
        // synthesis was no slower (5.11 -> 4.95 s).
        .with_memory_pattern(false)
        .map_err(fail)?;
    if let Graph::Fresh {
        save_optimized: Some(path),
    } = graph
    {
        builder = builder.with_optimized_model_path(path).map_err(fail)?;
    }
    builder
        .commit_from_memory(bytes)
        .map_err(|e| Error::runtime(context, e))
}
