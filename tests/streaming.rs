//! Streaming with the real voice: the stream equals a one-window decode of the same frames,
//! chunks butt together, errors end a stream, and many streams at once give the same audio.

mod common;

use common::{corpus_lines, corpus_text, real_voice, tiny_synth};
use indextts::testkit::TinyVoice;
use indextts::{AudioChunk, Error, StreamOptions, SynthesisOptions, Synthesizer};

fn quiet() -> SynthesisOptions {
    SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..Default::default()
    }
}

fn voice_with(options: StreamOptions) -> Synthesizer {
    Synthesizer::builder()
        .threads(2)
        .stream_options(options)
        .build()
        .unwrap()
}

/// Signal-to-noise ratio of `x` against `reference`, in dB, and the max abs difference.
fn snr(reference: &[f32], x: &[f32]) -> (f64, f32) {
    let max = reference
        .iter()
        .zip(x)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    (indextts::testkit::snr_db(reference, x), max)
}

fn texts() -> Vec<String> {
    let mut t = corpus_lines("en_sentences.txt");
    t.push(corpus_text("en_paragraph.txt"));
    t
}

#[test]
fn stream_equals_one_window_decode() {
    // The reference: frames decoded in one window (chunk larger than any sentence, no context).
    let whole = voice_with(StreamOptions {
        first_chunk_frames: Some(1 << 20),
        chunk_frames: Some(1 << 20),
        context_frames: Some(0),
        vocoder_workers: Some(1),
    });
    let configs = [
        ("default", StreamOptions::default()),
        (
            "1-frame chunks",
            StreamOptions {
                first_chunk_frames: Some(1),
                chunk_frames: Some(1),
                context_frames: Some(16),
                vocoder_workers: Some(1),
            },
        ),
        (
            "8/32 frames, 2 workers",
            StreamOptions {
                first_chunk_frames: Some(8),
                chunk_frames: Some(32),
                context_frames: Some(16),
                vocoder_workers: Some(2),
            },
        ),
        (
            "chunk larger than the sentence",
            StreamOptions {
                first_chunk_frames: Some(4096),
                chunk_frames: Some(4096),
                context_frames: Some(16),
                vocoder_workers: Some(1),
            },
        ),
    ];
    for (name, options) in configs {
        let streamed = voice_with(options);
        let (mut worst_snr, mut worst_diff) = (f64::INFINITY, 0.0f32);
        // One-frame windows decode 33 frames per frame kept: two sentences are enough there.
        let texts = if options.chunk_frames == Some(1) {
            texts()[..2].to_vec()
        } else {
            texts()
        };
        for text in texts {
            let mut reference = Vec::new();
            for frames in whole.frames(&text, &quiet()).unwrap() {
                reference.extend(whole.vocode(&frames.unwrap()).unwrap().samples);
            }
            let chunks: Vec<AudioChunk> = streamed
                .stream(&text, &quiet())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let samples: Vec<f32> = chunks
                .iter()
                .flat_map(|c| c.samples.iter().copied())
                .collect();
            assert_eq!(
                samples.len(),
                reference.len(),
                "{name}: {text:?}: gap or duplicated samples"
            );
            let (s, d) = snr(&reference, &samples);
            worst_snr = worst_snr.min(s);
            worst_diff = worst_diff.max(d);
        }
        println!("{name:32} worst SNR {worst_snr:6.1} dB, max abs difference {worst_diff:.2e}");
        assert!(worst_snr >= 45.0, "{name}: SNR {worst_snr:.1} dB < 45 dB");
    }
}

#[test]
fn chunks_butt_together_and_mark_sentences() {
    let synth = real_voice();
    let text = corpus_text("en_paragraph.txt");
    let chunks: Vec<AudioChunk> = synth
        .stream(&text, &quiet())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let hop = synth.samples_per_frame() as u64;
    let mut position = 0u64;
    let mut sentence = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.start_sample, position, "chunk {i}");
        assert_eq!(chunk.sample_rate, 22_050);
        assert_eq!(chunk.sentence, sentence, "chunk {i}");
        assert_eq!(
            chunk.samples.len() as u64 % hop,
            0,
            "a chunk is whole frames"
        );
        position += chunk.samples.len() as u64;
        if chunk.sentence_end {
            sentence += 1;
        }
    }
    assert_eq!(sentence, 4, "en_paragraph.txt has four sentences");
    assert!(chunks.last().unwrap().sentence_end);
    // The first chunk is the small first window.
    let first = synth.stream_options().first_chunk_frames as u64 * hop;
    assert_eq!(chunks[0].samples.len() as u64, first);
    // And synthesize() is the same pipeline, collected.
    let whole = synth.synthesize(&text, &quiet()).unwrap();
    assert_eq!(whole.samples.len() as u64, position);
}

#[test]
fn frames_are_latent_frames_and_vocode_back() {
    let synth = real_voice();
    let frames: Vec<_> = synth
        .frames("Hello. Battery low.", &quiet())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(frames.len(), 2);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.sentence, i);
        assert_eq!(f.data.nrows(), 192);
        assert!(f.data.ncols() > 10);
        let audio = synth.vocode(f).unwrap();
        assert_eq!(audio.samples.len(), f.data.ncols() * 256);
    }
}

#[test]
fn a_failing_sentence_ends_the_stream_with_one_error() {
    let voice = TinyVoice {
        nan_symbol: Some('z'),
        ..Default::default()
    };
    let (dir, synth) = tiny_synth(&voice, "stream-nan");
    // "zoo" phonemizes with a z: the second sentence fails.
    let mut stream = synth
        .stream("Hello there. The zoo. Good night.", &quiet())
        .unwrap();
    let mut sentences_before = 0;
    let error = loop {
        match stream.next() {
            Some(Ok(chunk)) => {
                assert_eq!(chunk.sentence, 0);
                sentences_before += usize::from(chunk.sentence_end);
            }
            Some(Err(e)) => break e,
            None => panic!("the stream ended without the error"),
        }
    };
    assert!(matches!(error, Error::ModelOutput { .. }), "{error:?}");
    assert_eq!(sentences_before, 1);
    assert!(stream.next().is_none(), "nothing after the error");
    assert!(stream.next().is_none());
    assert!(matches!(
        synth.synthesize("The zoo.", &quiet()),
        Err(Error::ModelOutput { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn eight_concurrent_streams_equal_streams_one_at_a_time() {
    let synth = Synthesizer::builder()
        .threads(1)
        .sessions(2)
        .build()
        .unwrap();
    let mut texts = corpus_lines("en_sentences.txt");
    texts.truncate(8);
    let collect = |text: &str| -> Vec<f32> {
        synth
            .stream(text, &quiet())
            .unwrap()
            .flat_map(|c| c.unwrap().samples)
            .collect()
    };
    let alone: Vec<Vec<f32>> = texts.iter().map(|t| collect(t)).collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = texts.iter().map(|t| s.spawn(|| collect(t))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a, b, "text {i} differs when streamed concurrently");
    }
}

/// Each stream's samples as they were alone, but for ONNX Runtime's summing order on one
/// thread: within 1e-6 (-120 dB), and 16-bit samples at most one step apart.
fn close(streams: &[Vec<f32>], alone: &[Vec<f32>]) {
    assert_eq!(streams.len(), alone.len());
    for (i, (a, b)) in streams.iter().zip(alone).enumerate() {
        assert_eq!(a.len(), b.len(), "stream {i}'s length");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-6,
            "stream {i}: a sample {worst} away from alone"
        );
        let step = |x: f32| (x * 32767.0).round() as i32;
        assert!(a
            .iter()
            .zip(b)
            .all(|(x, y)| (step(*x) - step(*y)).abs() <= 1));
    }
}

/// Threads follow the load: four streams at once on 2-thread sessions run on one-thread
/// sessions made from the graph cache, at most one per core for each graph (prior pieces, flow,
/// vocoder), and every stream's audio is what it is alone. Then the entry's graphs are damaged:
/// a fresh voice still speaks, its overlapping streams on its own sessions.
#[test]
fn overlapping_streams_take_one_thread_sessions_and_keep_their_audio() {
    let cache = std::env::temp_dir().join(format!("indextts-follow-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let build = || {
        Synthesizer::builder()
            .threads(2)
            .follow_load(true)
            .cache_bytes(0)
            .graph_cache_dir(Some(cache.clone()))
            .build()
            .unwrap()
    };
    let mut texts = corpus_lines("en_sentences.txt");
    texts.truncate(4);
    let collect = |synth: &Synthesizer, text: &str| -> Vec<f32> {
        synth
            .stream(text, &quiet())
            .unwrap()
            .flat_map(|c| c.unwrap().samples)
            .collect()
    };
    let together = |synth: &Synthesizer| -> Vec<Vec<f32>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .iter()
                .map(|t| s.spawn(|| collect(synth, t)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let synth = build();
    let alone: Vec<Vec<f32>> = texts.iter().map(|t| collect(&synth, t)).collect();
    assert_eq!(
        synth.one_thread_sessions(),
        0,
        "a lone stream made sessions"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return; // one core: there is nothing to follow
    }
    close(&together(&synth), &alone);
    let made = synth.one_thread_sessions();
    // The graphs: prior piece(s), flow and vocoder; each makes at most one per core.
    assert!(
        made >= 2,
        "{made} one-thread sessions for four streams at once"
    );
    let parts = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .filter(|f| f.path().extension().is_some_and(|x| x == "onnx"))
        .map(|f| f.path())
        .collect::<Vec<_>>();
    assert!(
        made <= parts.len() * cores,
        "{made} made for {} graphs",
        parts.len()
    );
    // A second round reuses them (and may make those of graphs that ran alone before).
    close(&together(&synth), &alone);
    let again = synth.one_thread_sessions();
    assert!(
        (made..=parts.len() * cores).contains(&again),
        "{made}, then {again}"
    );

    // A voice loaded from the entry, whose graphs are then damaged on disk: the one-thread
    // sessions cannot be made (each graph is checked against its hash), and the streams share
    // the voice's own sessions, with the same audio.
    let damaged = build();
    for part in &parts {
        std::fs::write(part, b"not a graph").unwrap();
    }
    close(&together(&damaged), &alone);
    assert_eq!(damaged.one_thread_sessions(), 0);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn stream_checks_its_arguments_before_starting() {
    let synth = real_voice();
    let bad = SynthesisOptions {
        length_scale: Some(f32::NAN),
        ..Default::default()
    };
    assert!(matches!(
        synth.stream("Hello.", &bad),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        synth.stream("", &quiet()),
        Err(indextts::Error::EmptyText { len: 0 })
    ));
    assert!(Synthesizer::builder()
        .stream_options(StreamOptions {
            chunk_frames: Some(0),
            ..Default::default()
        })
        .build()
        .is_err());
}
