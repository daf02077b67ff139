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
        reason: format!(
            "{e} (`speak --fetch VOICE` installs it with a voice, or set ORT_DYLIB_PATH)"
        ),
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
    if let Err(reason) = register_shared_arena(&env) {
        tracing::warn!("one shared CPU arena for all sessions is unavailable: {reason}");
    }
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

/// Register one CPU arena with the environment, for every session to share (each asks for it
/// with `session.use_env_allocators`). A voice is a chain of sessions run in turn (the prior's
/// pieces, the flow, the vocoder); with an arena each, every one held the peak of its own largest
/// input for good, and RSS crept up as longer sentences arrived. Extensions are the size asked
/// for (`arena_extend_strategy` 1), not the next power of two.
fn register_shared_arena(env: &Environment) -> std::result::Result<(), String> {
    use ort::sys::{OrtAllocatorType, OrtMemType, OrtStatusPtr};
    use ort::AsPointer;

    let api = ort::api();
    // The message of a failed call, its status released.
    let check = |status: OrtStatusPtr| -> std::result::Result<(), String> {
        if status.0.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null status from the API; its message is read before it is released.
        let message = unsafe {
            let text = std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0))
                .to_string_lossy()
                .into_owned();
            (api.ReleaseStatus)(status.0);
            text
        };
        Err(message)
    };
    let mut info = std::ptr::null_mut();
    // SAFETY: `info` is a valid out-pointer; the enums are the API's own.
    check(unsafe {
        (api.CreateCpuMemoryInfo)(
            OrtAllocatorType::OrtArenaAllocator,
            OrtMemType::OrtMemTypeDefault,
            &mut info,
        )
    })?;
    let keys = [c"arena_extend_strategy".as_ptr()];
    let values = [1usize];
    let mut arena = std::ptr::null_mut();
    // SAFETY: one key and one value, both arrays alive for the call; `arena` a valid out-pointer.
    let made = check(unsafe {
        (api.CreateArenaCfgV2)(keys.as_ptr(), values.as_ptr(), keys.len(), &mut arena)
    });
    let registered = made.and_then(|()| {
        // SAFETY: the environment outlives every session (it lives in a static); `info` and
        // `arena` were created above and are only read by the call.
        check(unsafe { (api.CreateAndRegisterAllocator)(env.ptr().cast_mut(), info, arena) })
    });
    // SAFETY: each was created above (or is null), and the API copies what it keeps.
    unsafe {
        if !arena.is_null() {
            (api.ReleaseArenaCfg)(arena);
        }
        (api.ReleaseMemoryInfo)(info);
    }
    registered
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
        .map_err(fail)?
        // The environment's one arena (see `register_shared_arena`), when it has one.
        .with_env_allocators()
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
