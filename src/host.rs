//! Settings of the host process that indextts cannot choose for it, offered as calls the host
//! makes on purpose.

/// Cap glibc's malloc arenas at one per core (at least 2), unless `MALLOC_ARENA_MAX` is set in
/// the environment; `true` if the cap was set. Call it at the start of `main`, before other
/// threads start. Does nothing (and returns `false`) off glibc.
///
/// Why: glibc gives each thread that allocates an arena of its own, up to 8 per core, and a
/// stream runs on threads of its own. Freed audio and tensors stay spread over the arenas, so
/// a process synthesizing on many threads creeps upwards: over a 10-minute soak (8 threads)
/// RSS went 429 -> 446 MiB after warm-up, still rising 0.93 MiB a minute at the end; with the
/// cap, 332 -> 334 MiB, 0.12 MiB a minute, at the same throughput (`cargo bench --bench soak`). The server under 16 clients: 316 ->
/// 364 MiB in 4 minutes, against 308 -> 313 MiB capped (`benches/server_load.rs`).
/// `indextts-server` calls this; a library cannot choose its host's allocator, so other
/// hosts decide (C: `indextts_limit_malloc_arenas()`, or `MALLOC_ARENA_MAX=2`).
pub fn limit_malloc_arenas() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter (it takes glibc's arena lock).
        return unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) } == 1;
    }
    false
}
