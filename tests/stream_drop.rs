//! Dropping a stream at any point: no panic, and no thread of it outlives it. Its own test binary
//! (one test) so that no other test's streams run while threads are counted.

mod common;

use std::time::{Duration, Instant};

use common::{corpus_text, real_voice};
use indextts::SynthesisOptions;

/// Threads of this process that belong to streams (named indextts-*).
fn stream_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("indextts-"))
        .count()
}

#[test]
fn dropping_a_stream_anywhere_stops_and_joins_its_work() {
    let synth = real_voice();
    let text = corpus_text("en_long.txt");
    let options = SynthesisOptions::default();
    assert_eq!(stream_threads(), 0);

    // Before the first next().
    let stream = synth.stream(&text, &options).unwrap();
    // A new thread names itself once it runs: give it a moment.
    let started = Instant::now();
    while stream_threads() < 2 && started.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        stream_threads(),
        2,
        "a stream runs an acoustic and a vocoder thread"
    );
    drop(stream);
    assert_eq!(stream_threads(), 0, "dropped before next()");

    // After the first chunk: the drop returns within about one model run.
    let mut stream = synth.stream(&text, &options).unwrap();
    stream.next().unwrap().unwrap();
    let started = Instant::now();
    drop(stream);
    let took = started.elapsed();
    println!("drop after the first chunk took {took:?}");
    assert!(took < Duration::from_secs(5), "drop took {took:?}");
    assert_eq!(stream_threads(), 0, "dropped after the first chunk");

    // Mid-stream, on another thread.
    let mut stream = synth.stream(&text, &options).unwrap();
    for _ in 0..5 {
        stream.next().unwrap().unwrap();
    }
    std::thread::spawn(move || drop(stream)).join().unwrap();
    assert_eq!(stream_threads(), 0, "dropped on another thread");

    // A frame stream, dropped after one sentence.
    let mut frames = synth.frames(&text, &options).unwrap();
    frames.next().unwrap().unwrap();
    drop(frames);
    assert_eq!(stream_threads(), 0, "frame stream dropped");

    // A finished stream leaves nothing either.
    let stream = synth.stream("Hello.", &options).unwrap();
    assert!(stream.map(Result::unwrap).count() >= 1);
    assert_eq!(stream_threads(), 0, "finished stream");
}
