//! What streaming allocates on the Rust heap, counted by a global allocator (ONNX Runtime's own
//! buffers come from its arenas, not from here). A window's samples should be allocated once,
//! not copied again on their way out, and nothing should grow element by element.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use indextts::{SynthesisOptions, Synthesizer};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static REALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's allocations, reallocations and bytes: what a path that runs on the
    /// calling thread costs, without what other threads (libtest's own, which allocates its
    /// "running for over 60 seconds" notice) do meanwhile.
    static HERE: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
}

/// Add to this thread's counters (nothing during thread teardown, when they are gone).
fn count_here(allocations: u64, reallocations: u64, bytes: u64) {
    let _ = HERE.try_with(|c| {
        let (a, r, b) = c.get();
        c.set((a + allocations, r + reallocations, b + bytes));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        count_here(1, 0, layout.size() as u64);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        let grown = new_size.saturating_sub(layout.size()) as u64;
        BYTES.fetch_add(grown, Ordering::Relaxed);
        count_here(0, 1, grown);
        // SAFETY: `ptr` came from this allocator with `layout`, as GlobalAlloc requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counters() -> (u64, u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        REALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

fn story() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/en_long.txt"),
    )
    .expect("../shared/corpus/en_long.txt")
}

/// This thread's counter deltas over `f`.
fn counted_here<R>(f: impl FnOnce() -> R) -> (R, u64, u64, u64) {
    let before = HERE.with(Cell::get);
    let result = f();
    let after = HERE.with(Cell::get);
    (
        result,
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
    )
}

/// Counter deltas over `f`, on every thread.
fn counted<R>(f: impl FnOnce() -> R) -> (R, u64, u64, u64) {
    let before = counters();
    let result = f();
    let after = counters();
    (
        result,
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
    )
}

/// One test, so that no other test's allocations land in the counters.
#[test]
fn the_hot_path_allocates_each_window_once_and_never_grows_a_buffer() {
    let synth = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .expect("the default voice; run scripts/setup.sh first");
    let text = story();
    let options = SynthesisOptions::default();
    // Warm: first runs size ONNX Runtime's arenas and the thread pools.
    for chunk in synth.stream(&text, &options).unwrap() {
        chunk.unwrap();
    }

    // The vocoder alone, over frames made beforehand: windows of 128 frames with 8 frames of
    // context decoded and dropped on each side.
    let frames: Vec<_> = synth
        .frames(&text, &options)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let frame_bytes: u64 = frames.iter().map(|f| f.data.len() as u64 * 4).sum();
    // One vocoder worker: the whole path runs on this thread.
    assert_eq!(synth.stream_options().vocoder_workers, 1);
    let (samples, allocations, reallocations, bytes) = counted_here(|| {
        frames
            .iter()
            .map(|f| synth.vocode(f).unwrap().samples.len() as u64)
            .sum::<u64>()
    });
    let audio_bytes = samples * 4;
    // Per window: its frames copied once into the model's input and its samples allocated
    // once by the model (each with the context's share: 16 of every 128 frames); then vocode()
    // gathers a sentence's windows into the one buffer it returns. Any further copy of the
    // audio (as the old trimming by `to_vec` made) would pass 1.25x.
    let budget = frame_bytes + 2 * audio_bytes;
    println!(
        "vocoder: {} sentences, {allocations} allocations, {reallocations} reallocations, \
         {bytes} bytes = {:.2}x (frames + audio out of the model + audio returned)",
        frames.len(),
        bytes as f64 / budget as f64
    );
    assert_eq!(reallocations, 0, "a buffer grew on the vocoder's path");
    assert!(
        (bytes as f64) < 1.25 * budget as f64,
        "{bytes} bytes allocated to decode {frame_bytes} bytes of frames into {audio_bytes} of audio"
    );

    // The whole stream: text to chunks.
    let ((chunks, samples), allocations, reallocations, bytes) = counted(|| {
        let (mut chunks, mut samples) = (0u64, 0u64);
        for chunk in synth.stream(&text, &options).unwrap() {
            chunks += 1;
            samples += chunk.unwrap().samples.len() as u64;
        }
        (chunks, samples)
    });
    println!(
        "stream: {chunks} chunks, {samples} samples: {allocations} allocations ({:.1} per \
         chunk), {reallocations} reallocations, {bytes} bytes ({:.2}x the audio)",
        allocations as f64 / chunks as f64,
        bytes as f64 / (samples * 4) as f64
    );
    assert!(chunks > 20, "the story should stream in many chunks");
    // What still grows is the frontend's text processing (ids and phonemes per sentence), not
    // the per-chunk path: fewer reallocations than chunks (932 before the buffers were sized).
    assert!(
        reallocations < chunks * 3,
        "{reallocations} reallocations for {chunks} chunks"
    );
}
