//! Counters for `GET /metrics`, in Prometheus's text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the time-to-first-audio histogram, in seconds.
const TTFA_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What the server has done since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    ttfa_buckets: [AtomicU64; TTFA_BUCKETS.len()],
    ttfa_count: AtomicU64,
    ttfa_sum_micros: AtomicU64,
    /// Audio streams that ran to the end.
    pub streams_completed: AtomicU64,
    /// Audio streams whose client went away first (their synthesis was cancelled).
    pub streams_cancelled: AtomicU64,
    /// Syntheses that failed after they started.
    pub syntheses_failed: AtomicU64,
    /// Requests refused because the queue or task store was full.
    pub rejected_busy: AtomicU64,
    /// Requests refused because their client had its quota queued or running.
    pub rejected_quota: AtomicU64,
    /// Connections closed because their client read nothing for the stall timeout.
    pub connections_stalled: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Seconds of audio streamed, in samples at each voice's rate (summed as microseconds).
    pub audio_micros: AtomicU64,
}

/// Gauges read when `/metrics` is asked for.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Requests waiting for a worker.
    pub queue_depth: usize,
    /// Worker slots taken (each is held until its synthesis has stopped).
    pub running: usize,
    /// Synthesis pipelines whose threads are still running, over all voices.
    pub streams_running: usize,
    /// One-thread sessions made for overlapping streams, over all voices.
    pub one_thread_sessions: usize,
    /// Tasks held in the store.
    pub tasks: usize,
    /// Sentence cache hits and misses per level, over all voices.
    pub cache: [(&'static str, u64, u64); 3],
}

impl Metrics {
    /// Count one response to `route` with `status`.
    pub fn request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// Record one stream's time to first audio.
    pub fn time_to_first_audio(&self, ttfa: Duration) {
        let seconds = ttfa.as_secs_f64();
        for (bucket, &bound) in self.ttfa_buckets.iter().zip(&TTFA_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ttfa_count.fetch_add(1, Ordering::Relaxed);
        self.ttfa_sum_micros
            .fetch_add(ttfa.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything, with `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: usize| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP indextts_http_requests_total HTTP responses by route and status.\n\
             # TYPE indextts_http_requests_total counter"
        );
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "indextts_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let errors: u64 = requests
            .iter()
            .filter(|((_, status), _)| *status >= 400)
            .map(|(_, n)| n)
            .sum();
        drop(requests);
        counter(
            &mut out,
            "indextts_http_errors_total",
            "HTTP responses with a 4xx or 5xx status.",
            errors,
        );
        let _ = writeln!(
            out,
            "# HELP indextts_time_to_first_audio_seconds Time from request to first audio byte.\n\
             # TYPE indextts_time_to_first_audio_seconds histogram"
        );
        for (bucket, bound) in self.ttfa_buckets.iter().zip(TTFA_BUCKETS) {
            let _ = writeln!(
                out,
                "indextts_time_to_first_audio_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.ttfa_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "indextts_time_to_first_audio_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             indextts_time_to_first_audio_seconds_sum {}\n\
             indextts_time_to_first_audio_seconds_count {count}",
            self.ttfa_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut out,
            "indextts_streams_completed_total",
            "Audio streams that ran to the end.",
            load(&self.streams_completed),
        );
        counter(
            &mut out,
            "indextts_streams_cancelled_total",
            "Audio streams cancelled because the client went away.",
            load(&self.streams_cancelled),
        );
        counter(
            &mut out,
            "indextts_syntheses_failed_total",
            "Syntheses that failed after starting.",
            load(&self.syntheses_failed),
        );
        counter(
            &mut out,
            "indextts_rejected_busy_total",
            "Requests refused with 503 because the queue or task store was full.",
            load(&self.rejected_busy),
        );
        counter(
            &mut out,
            "indextts_rejected_quota_total",
            "Requests refused with 429 because their client had its quota queued or running.",
            load(&self.rejected_quota),
        );
        counter(
            &mut out,
            "indextts_connections_stalled_total",
            "Connections closed because the client read nothing for the stall timeout.",
            load(&self.connections_stalled),
        );
        gauge(
            &mut out,
            "indextts_connections_open",
            "Connections open now.",
            load(&self.connections_open) as usize,
        );
        let _ = writeln!(
            out,
            "# HELP indextts_audio_seconds_total Seconds of audio streamed.\n\
             # TYPE indextts_audio_seconds_total counter\nindextts_audio_seconds_total {}",
            load(&self.audio_micros) as f64 / 1e6
        );
        gauge(
            &mut out,
            "indextts_queue_depth",
            "Requests waiting for a synthesis worker.",
            gauges.queue_depth,
        );
        gauge(
            &mut out,
            "indextts_syntheses_running",
            "Worker slots taken: syntheses running (a slot is freed once its synthesis stops).",
            gauges.running,
        );
        gauge(
            &mut out,
            "indextts_synthesis_pipelines_running",
            "Synthesis pipelines whose threads are running (never more than --streams).",
            gauges.streams_running,
        );
        gauge(
            &mut out,
            "indextts_one_thread_sessions",
            "One-thread model sessions made so far for overlapping streams (threads follow the load).",
            gauges.one_thread_sessions,
        );
        gauge(
            &mut out,
            "indextts_tasks",
            "Tasks held in the task store.",
            gauges.tasks,
        );
        let _ = writeln!(
            out,
            "# HELP indextts_cache_hits_total Sentence cache hits by level.\n\
             # TYPE indextts_cache_hits_total counter"
        );
        for (level, hits, _) in gauges.cache {
            let _ = writeln!(out, "indextts_cache_hits_total{{level=\"{level}\"}} {hits}");
        }
        let _ = writeln!(
            out,
            "# HELP indextts_cache_misses_total Sentence cache misses by level.\n\
             # TYPE indextts_cache_misses_total counter"
        );
        for (level, _, misses) in gauges.cache {
            let _ = writeln!(
                out,
                "indextts_cache_misses_total{{level=\"{level}\"}} {misses}"
            );
        }
        out
    }
}
