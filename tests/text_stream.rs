//! Text that arrives while the audio plays, with the real voices: whole sentences pushed at once
//! give exactly `stream()`'s audio; text pushed a few bytes at a time is spoken before it is
//! complete and checks out as speech; the sink and the stream end each other cleanly.

mod common;

use std::time::{Duration, Instant};

use common::{check_speech, corpus_lines, corpus_text, real_voice};
use indextts::{Audio, Error, SynthesisOptions, Synthesizer, TextSink};

fn collect(stream: impl Iterator<Item = indextts::Result<indextts::AudioChunk>>) -> Vec<f32> {
    stream.flat_map(|c| c.unwrap().samples).collect()
}

/// Push `text` in pieces of `piece` bytes (never inside a character), `pause` apart, then
/// finish; on another thread.
fn feed(
    mut sink: TextSink,
    text: String,
    piece: usize,
    pause: Duration,
) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        let mut at = 0;
        while at < text.len() {
            let mut end = (at + piece).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            sink.push(&text[at..end]).unwrap();
            at = end;
            std::thread::sleep(pause);
        }
        sink.finish().unwrap();
        Instant::now()
    })
}

/// The whole text pushed at once: its first clause is spoken alone (sooner first audio), and
/// from the second sentence on it is cut where `stream()` cuts it, so the audio from there is
/// the same, sample for sample.
#[test]
fn after_the_first_clause_a_whole_text_is_exactly_stream() {
    let synth = real_voice();
    let text = corpus_text("en_paragraph.txt");
    let options = SynthesisOptions::default();
    let chunks = |stream: indextts::AudioStream| -> Vec<indextts::AudioChunk> {
        stream.map(Result::unwrap).collect()
    };
    let reference = chunks(synth.stream(&text, &options).unwrap());
    let (mut sink, audio) = synth.text_stream(&options).unwrap();
    sink.push(&text).unwrap();
    sink.finish().unwrap();
    let streamed = chunks(audio);
    // From the second sentence of stream() (the third unit of text_stream: clause, rest of
    // the first sentence, second sentence) to the end.
    let from = |chunks: &[indextts::AudioChunk], sentence: usize| -> (u64, Vec<f32>) {
        let start = chunks
            .iter()
            .find(|c| c.sentence == sentence)
            .map(|c| c.start_sample)
            .unwrap();
        let tail = chunks
            .iter()
            .filter(|c| c.sentence >= sentence)
            .flat_map(|c| c.samples.iter().copied())
            .collect();
        (start, tail)
    };
    let (reference_start, reference_tail) = from(&reference, 1);
    let (streamed_start, streamed_tail) = from(&streamed, 2);
    let first_clause_end = streamed
        .iter()
        .find(|c| c.sentence == 0 && c.sentence_end)
        .map(|c| c.start_sample + c.samples.len() as u64)
        .unwrap();
    println!(
        "first clause alone: {first_clause_end} samples; second sentence at {reference_start} \
         (stream) and {streamed_start} (text stream)"
    );
    assert!(
        first_clause_end < reference_start * 3 / 4,
        "the first unit was not a clause"
    );
    assert_eq!(streamed_tail.len(), reference_tail.len());
    assert!(
        streamed_tail == reference_tail,
        "text_stream differs from stream() after the first sentence"
    );
}

/// The paragraph, 4 bytes every 10 ms (about 100 tokens a second, split mid-word): the first
/// audio comes long before the text is complete, and all of it is plausible speech.
#[test]
fn text_pushed_in_pieces_is_spoken_before_it_is_complete() {
    let synth = real_voice();
    let text = corpus_text("en_paragraph.txt").trim().to_owned();
    let (sink, audio) = synth.text_stream(&SynthesisOptions::default()).unwrap();
    let started = Instant::now();
    let writer = feed(sink, text.clone(), 4, Duration::from_millis(10));
    let mut first = None;
    let mut samples = Vec::new();
    for chunk in audio {
        first.get_or_insert_with(Instant::now);
        samples.extend(chunk.unwrap().samples);
    }
    let text_done = writer.join().unwrap();
    let first = first.unwrap();
    println!(
        "first audio {:?} after the first piece; the text took {:?} to arrive",
        first - started,
        text_done - started
    );
    assert!(first < text_done, "no audio before the text was complete");
    let audio = Audio {
        samples,
        sample_rate: synth.sample_rate(),
        ..Audio::default()
    };
    check_speech("pieces", &text, &audio, synth.sample_rate());
}

/// Dropping the audio ends the text: the next push is `StreamClosed`. Dropping the sink ends
/// the audio once what was pushed is spoken.
#[test]
fn the_sink_and_the_stream_end_each_other() {
    let synth = real_voice();
    let (mut sink, audio) = synth.text_stream(&SynthesisOptions::default()).unwrap();
    sink.push("One sentence. And another").unwrap();
    drop(audio);
    let refused = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(10));
        sink.push(" more").err()
    });
    assert!(matches!(refused, Some(Error::StreamClosed)), "{refused:?}");

    let (mut sink, audio) = synth.text_stream(&SynthesisOptions::default()).unwrap();
    let text = "Dropped, not finished";
    sink.push(text).unwrap();
    drop(sink);
    let audio = Audio {
        samples: collect(audio),
        sample_rate: synth.sample_rate(),
        ..Audio::default()
    };
    check_speech("dropped sink", text, &audio, synth.sample_rate());
}

/// Bad options are refused when the stream starts; blank text makes an empty stream.
#[test]
fn options_are_checked_at_once_and_blank_text_is_silence() {
    let synth = real_voice();
    let bad = SynthesisOptions {
        length_scale: Some(f32::NAN),
        ..Default::default()
    };
    assert!(matches!(
        synth.text_stream(&bad),
        Err(Error::InvalidOption { .. })
    ));
    let (mut sink, audio) = synth.text_stream(&SynthesisOptions::default()).unwrap();
    sink.push("   \n  ").unwrap();
    sink.finish().unwrap();
    assert!(collect(audio).is_empty());
}

/// The other families take text streams too: Mandarin a few characters at a time (its
/// sentences end in 。 with no space), Kokoro word by word.
#[test]
fn every_family_speaks_a_text_stream() {
    for (voice, text, piece) in [
        (
            indextts::MANDARIN_VOICE,
            corpus_lines("zh_sentences.txt")[..3].join(""),
            6,
        ),
        (
            "af_heart",
            corpus_lines("en_sentences.txt")[..2].join(" "),
            5,
        ),
    ] {
        let synth = Synthesizer::builder()
            .voice(voice)
            .threads(2)
            .build()
            .unwrap();
        let (sink, audio) = synth.text_stream(&SynthesisOptions::default()).unwrap();
        let writer = feed(sink, text.clone(), piece, Duration::from_millis(5));
        let audio = Audio {
            samples: collect(audio),
            sample_rate: synth.sample_rate(),
            ..Audio::default()
        };
        writer.join().unwrap();
        let seconds = audio.duration_seconds();
        println!("{voice}: {seconds:.2} s for {text}");
        if voice == "af_heart" {
            check_speech(voice, &text, &audio, synth.sample_rate());
        } else {
            // About 4 characters a second; check_speech counts words, which Chinese lacks.
            let chars = text.chars().filter(|c| c.is_alphanumeric()).count() as f64;
            assert!(
                seconds > chars / 8.0 && seconds < chars / 2.0,
                "{seconds} s"
            );
            let rms = (audio.samples.iter().map(|s| s * s).sum::<f32>()
                / audio.samples.len() as f32)
                .sqrt();
            assert!(rms > 0.02 && audio.samples.iter().all(|s| s.is_finite()));
        }
    }
}
