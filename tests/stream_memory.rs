//! A slow listener on a long text: memory stays flat, because the stream holds only a few
//! sentences between its stages whatever the text's length. Measured with a counting allocator
//! (live bytes of this process's Rust heap; ONNX Runtime's own arena is not included), not timing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::corpus_text;
use indextts::{SynthesisOptions, Synthesizer, MAX_TEXT_BYTES};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_slow_listener_on_the_longest_text_keeps_memory_flat() {
    // The sentence cache is off: it is bounded by its own budget (tests/cache.rs); here the
    // stream's own buffers are measured.
    let synth = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();
    let story = corpus_text("en_long.txt");
    let mut text = String::new();
    // The longest text one call takes (about two and a half hours of speech).
    while text.len() + story.len() + 2 <= MAX_TEXT_BYTES {
        text.push_str(&story);
        text.push_str("\n\n");
    }
    let before = LIVE.load(Ordering::Relaxed);
    let mut stream = synth.stream(&text, &SynthesisOptions::default()).unwrap();
    let mut samples = Vec::new();
    let mut sentences = 0;
    while sentences < 24 {
        let chunk = stream.next().unwrap().unwrap();
        sentences += usize::from(chunk.sentence_end);
        // A slow listener: the stages run ahead until their queues are full.
        std::thread::sleep(std::time::Duration::from_millis(15));
        if sentences >= 4 {
            samples.push(LIVE.load(Ordering::Relaxed) - before);
        }
    }
    drop(stream);
    let (lo, hi) = (
        *samples.iter().min().unwrap(),
        *samples.iter().max().unwrap(),
    );
    println!(
        "live heap while streaming sentences 4..24 of {} bytes: {:.1} to {:.1} MiB above the start",
        text.len(),
        lo as f64 / (1 << 20) as f64,
        hi as f64 / (1 << 20) as f64
    );
    // Bounded: the text itself (1 MiB, copied once) plus a few sentences in flight, each the
    // prior's outputs and frame noise (5 x 192 x frames floats, ~2 MB), frames and audio chunks.
    assert!(hi < 12 << 20, "{hi} bytes live while streaming");
    // Flat: how much is live swings with where each stage is, but it does not trend upwards.
    let third = samples.len() / 3;
    let mean = |s: &[isize]| s.iter().sum::<isize>() / s.len() as isize;
    let (early, late) = (
        mean(&samples[..third]),
        mean(&samples[samples.len() - third..]),
    );
    println!(
        "mean live heap, first third {:.1} MiB, last third {:.1} MiB",
        early as f64 / (1 << 20) as f64,
        late as f64 / (1 << 20) as f64
    );
    assert!(
        late - early < 2 << 20,
        "memory trends upwards while streaming: {early} -> {late} bytes"
    );
}
