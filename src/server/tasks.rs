//! Background synthesis tasks: `POST /synthesize` makes one, `/status`, `/stream` and `/events`
//! read it. The store is bounded (full is full: only expired tasks make room), finished tasks
//! expire after a TTL, ids are 128 random bits, readers per task are bounded and each read
//! copies a bounded slice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// Synthesizing.
    Running,
    /// All audio is ready.
    Done,
    /// Synthesis failed; see `error`.
    Failed,
}

impl TaskState {
    /// Whether the task will not change again.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Failed)
    }
}

/// A task's public status (the JSON of `/status/{id}` and of each `/events/{id}` event).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task's id.
    pub task_id: String,
    /// Where it is.
    pub state: TaskState,
    /// Sentences done and in all.
    pub progress: Progress,
    /// Seconds of audio made so far.
    pub audio_seconds: f64,
    /// Words whose audio has started (the voice's model gives their times; see `/events`).
    pub words_done: usize,
    /// What went wrong, for a failed task.
    pub error: Option<String>,
}

/// Sentences done out of the text's total (0 until it is known).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Progress {
    /// Sentences whose audio is complete.
    pub sentences_done: usize,
    /// Sentences in the text.
    pub sentences_total: usize,
}

/// One task's audio and progress, shared by its worker and its readers.
#[derive(Debug)]
pub struct Task {
    /// Its id.
    pub id: String,
    inner: Mutex<TaskInner>,
    changed: watch::Sender<u64>,
    /// Set by `DELETE /tasks/{id}`: the worker stops at its next chunk.
    cancelled: tokio::sync::Notify,
    readers: AtomicUsize,
}

/// One of a task's bounded reader places; dropping it frees the place.
#[derive(Debug)]
pub struct Reader(Arc<Task>);

impl Reader {
    /// The task read.
    pub fn task(&self) -> &Arc<Task> {
        &self.0
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct TaskInner {
    state: TaskState,
    sentences_done: usize,
    sentences_total: usize,
    error: Option<String>,
    samples: Vec<i16>,
    sample_rate: u32,
    /// The words that start in the audio so far (at most as many as the text has).
    words: Vec<crate::WordMark>,
    finished: Option<Instant>,
}

impl Task {
    fn lock(&self) -> MutexGuard<'_, TaskInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the task, then wake its readers.
    fn update(&self, f: impl FnOnce(&mut TaskInner)) {
        f(&mut self.lock());
        self.changed.send_modify(|version| *version += 1);
    }

    /// The task is running, with `sentences_total` sentences.
    pub fn start(&self, sentences_total: usize) {
        self.update(|t| {
            t.state = TaskState::Running;
            t.sentences_total = sentences_total;
        });
    }

    /// More audio and the words that start in it; `sentence_end` if it completes a sentence.
    pub fn push(&self, samples: &[f32], words: Vec<crate::WordMark>, sentence_end: bool) {
        self.update(|t| {
            t.samples
                .extend(samples.iter().map(|&s| crate::sample_to_i16(s)));
            t.words.extend(words);
            t.sentences_done += usize::from(sentence_end);
        });
    }

    /// The words from the `from`th on, as JSON (see `words_json`).
    pub fn words_from(&self, from: usize) -> Option<serde_json::Value> {
        let t = self.lock();
        let words = t.words.get(from..).filter(|w| !w.is_empty())?;
        Some(super::words_json(words, t.sample_rate))
    }

    /// Everything a finished task is: its status, all its words (as `words_from`) and its
    /// audio as the WAV `/stream` serves.
    pub fn snapshot(&self) -> (TaskStatus, serde_json::Value, Vec<u8>) {
        let t = self.lock();
        // One lock: the status, words and audio are of the same moment.
        let status = self.status_of(&t);
        let words = super::words_json(&t.words, t.sample_rate);
        let mut wav = super::wav_header(t.sample_rate);
        wav.reserve(t.samples.len() * 2);
        super::pcm_bytes(t.samples.iter().copied(), &mut wav);
        (status, words, wav)
    }

    /// The task ended: done, or failed with `error`.
    pub fn finish(&self, error: Option<String>) {
        self.update(|t| {
            t.state = if error.is_some() {
                TaskState::Failed
            } else {
                TaskState::Done
            };
            t.error = error;
            t.finished = Some(Instant::now());
        });
    }

    /// Its status now.
    pub fn status(&self) -> TaskStatus {
        self.status_of(&self.lock())
    }

    fn status_of(&self, t: &TaskInner) -> TaskStatus {
        TaskStatus {
            task_id: self.id.clone(),
            state: t.state,
            progress: Progress {
                sentences_done: t.sentences_done,
                sentences_total: t.sentences_total,
            },
            audio_seconds: t.samples.len() as f64 / f64::from(t.sample_rate.max(1)),
            words_done: t.words.len(),
            error: t.error.clone(),
        }
    }

    /// At most `max` 16-bit samples from `from` on, whether the task has ended, and its error
    /// if it failed. A reader copies one bounded slice at a time, never all the audio so far.
    pub fn samples_from(&self, from: usize, max: usize) -> (Vec<i16>, bool, Option<String>) {
        let t = self.lock();
        let tail = t.samples.get(from..).unwrap_or_default();
        let slice = tail[..tail.len().min(max)].to_vec();
        let ended = t.state.is_final() && slice.len() == tail.len();
        (slice, ended, t.error.clone().filter(|_| ended))
    }

    /// A reader's place, if fewer than `max` are taken.
    pub fn reader(self: &Arc<Self>, max: usize) -> Option<Reader> {
        let taken = self.readers.fetch_add(1, Ordering::Relaxed);
        let reader = Reader(Arc::clone(self));
        (taken < max).then_some(reader)
    }

    /// Ask the worker to stop (it does at its next chunk, and the task fails as cancelled).
    pub fn cancel(&self) {
        self.cancelled.notify_one();
    }

    /// Resolves once the task is cancelled.
    pub async fn cancelled(&self) {
        self.cancelled.notified().await;
    }

    /// The task's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.lock().sample_rate
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn expired(&self, ttl: Duration, now: Instant) -> bool {
        self.lock()
            .finished
            .is_some_and(|at| now.duration_since(at) >= ttl)
    }
}

/// The store is full of unfinished tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFull;

/// All tasks, bounded in number; finished ones expire after `ttl`.
#[derive(Debug)]
pub struct TaskStore {
    tasks: Mutex<HashMap<String, Arc<Task>>>,
    max_tasks: usize,
    ttl: Duration,
}

/// A task id: 128 bits from the operating system's random source, in hex. An id is the only
/// thing that lets a client read a task, so it must not be guessable from another.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (not seen on a supported system): hash what is unique here and now
        // with a process-wide keyed hash rather than fail every request.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = [
            now.to_le_bytes(),
            u128::from(std::process::id()).to_le_bytes(),
        ]
        .concat();
        bytes.copy_from_slice(&blake3::hash(&seed).as_bytes()[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TaskStore {
    /// At most `max_tasks` tasks; finished ones kept for `ttl`.
    pub fn new(max_tasks: usize, ttl: Duration) -> TaskStore {
        TaskStore {
            tasks: Mutex::new(HashMap::new()),
            max_tasks: max_tasks.max(1),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Task>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new queued task for audio at `sample_rate`. When the store is full, expired tasks
    /// make room; a task within its TTL is never evicted for another client's: `StoreFull`.
    pub fn create(&self, sample_rate: u32) -> Result<Arc<Task>, StoreFull> {
        let mut tasks = self.lock();
        if tasks.len() >= self.max_tasks {
            let now = Instant::now();
            tasks.retain(|_, t| !t.expired(self.ttl, now));
            if tasks.len() >= self.max_tasks {
                return Err(StoreFull);
            }
        }
        let id = random_id();
        let task = Arc::new(Task {
            id: id.clone(),
            inner: Mutex::new(TaskInner {
                state: TaskState::Queued,
                sentences_done: 0,
                sentences_total: 0,
                error: None,
                samples: Vec::new(),
                words: Vec::new(),
                sample_rate,
                finished: None,
            }),
            changed: watch::channel(0).0,
            cancelled: tokio::sync::Notify::new(),
            readers: AtomicUsize::new(0),
        });
        tasks.insert(id, Arc::clone(&task));
        Ok(task)
    }

    /// The task with `id`, if it exists and has not expired.
    pub fn get(&self, id: &str) -> Option<Arc<Task>> {
        self.lock().get(id).cloned()
    }

    /// Forget `id`, and return it if it was held.
    pub fn remove(&self, id: &str) -> Option<Arc<Task>> {
        self.lock().remove(id)
    }

    /// Drop finished tasks older than the TTL; returns how many remain.
    pub fn expire(&self) -> usize {
        let now = Instant::now();
        let mut tasks = self.lock();
        tasks.retain(|_, t| !t.expired(self.ttl, now));
        tasks.len()
    }

    /// Tasks held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no task is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_bounded_and_finished_tasks_expire() {
        let store = TaskStore::new(2, Duration::from_millis(0));
        let a = store.create(22_050).unwrap();
        let b = store.create(22_050).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(store.create(22_050).err(), Some(StoreFull));
        a.push(&[0.5, -0.5], Vec::new(), true);
        a.finish(None);
        // An expired task makes room for a new one.
        let c = store.create(22_050).unwrap();
        assert!(store.get(&a.id).is_none());
        assert!(store.get(&c.id).is_some());
        b.finish(Some("failed".into()));
        assert_eq!(store.expire(), 1);
        assert_eq!(b.status().state, TaskState::Failed);
    }

    #[test]
    fn a_full_store_refuses_rather_than_evict_a_task_within_its_ttl() {
        let store = TaskStore::new(1, Duration::from_secs(600));
        let done = store.create(22_050).unwrap();
        done.finish(None);
        assert_eq!(store.create(22_050).err(), Some(StoreFull));
        assert!(store.get(&done.id).is_some());
    }

    #[test]
    fn ids_are_128_random_bits_and_readers_are_bounded() {
        let store = TaskStore::new(64, Duration::from_secs(60));
        let ids: std::collections::HashSet<String> = (0..64)
            .map(|_| store.create(16_000).unwrap().id.clone())
            .collect();
        assert_eq!(ids.len(), 64);
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        let task = store.create(16_000).err();
        assert_eq!(task, Some(StoreFull));
        let task = store.get(ids.iter().next().unwrap()).unwrap();
        let readers: Vec<_> = (0..3).filter_map(|_| task.reader(2)).collect();
        assert_eq!(readers.len(), 2);
        drop(readers);
        assert!(task.reader(2).is_some());
    }

    #[test]
    fn readers_see_audio_as_it_comes() {
        let store = TaskStore::new(4, Duration::from_secs(60));
        let task = store.create(16_000).unwrap();
        let changes = task.subscribe();
        task.start(2);
        task.push(&[0.25; 4], Vec::new(), false);
        assert!(changes.has_changed().unwrap());
        let (samples, done, _) = task.samples_from(0, 1024);
        assert_eq!((samples.len(), done), (4, false));
        task.push(&[0.25; 4], Vec::new(), true);
        task.finish(Some("cut short".into()));
        // Bounded slices: the end (and the error) only with the last one.
        let (samples, done, error) = task.samples_from(4, 3);
        assert_eq!((samples.len(), done, error), (3, false, None));
        let (samples, done, error) = task.samples_from(7, 3);
        assert_eq!((samples.len(), done), (1, true));
        assert_eq!(error.as_deref(), Some("cut short"));
        let status = task.status();
        assert_eq!(status.progress.sentences_done, 1);
        assert_eq!(status.progress.sentences_total, 2);
        assert_eq!(status.state, TaskState::Failed);
    }
}
