//! End-to-end tests with the real default voice (en_US-joe-medium): the audio itself is checked.

mod common;

use common::{check_speech, corpus_lines, corpus_text, real_voice, stats, word_count};
use indextts::{Error, SynthesisOptions, Synthesizer, MAX_TEXT_BYTES};

#[test]
fn every_corpus_sentence_gives_plausible_audio() {
    let synth = real_voice();
    for text in corpus_lines("en_sentences.txt") {
        let audio = synth
            .synthesize(&text, &SynthesisOptions::default())
            .unwrap();
        check_speech("en_US-joe-medium", &text, &audio, 22_050);
    }
}

#[test]
fn paragraph_duration_matches_its_words() {
    let text = corpus_text("en_paragraph.txt");
    let audio = real_voice()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    let s = stats(&audio);
    let expected = word_count(&text) as f64 / 2.7;
    println!(
        "paragraph: {:.2} s for {} words",
        s.seconds,
        word_count(&text)
    );
    assert!(s.seconds >= 0.4 * expected && s.seconds <= 2.5 * expected);
    assert!(s.rms > 0.02 && s.non_finite == 0 && s.peak <= 1.0);
}

/// The split graph (acoustic, then vocoder) must give what the unsplit model gives. With
/// noise_scale = noise_w = 0 both are deterministic; the vocoder decodes each sentence in one
/// window here, so any difference would come from the split itself.
#[test]
fn split_graph_equals_whole_graph() {
    let split = Synthesizer::builder()
        .threads(2)
        .stream_options(indextts::StreamOptions {
            first_chunk_frames: Some(1 << 20),
            chunk_frames: Some(1 << 20),
            context_frames: Some(0),
            vocoder_workers: Some(1),
        })
        .build()
        .unwrap();
    assert!(split.is_split(), "the real voice's graph must split");
    assert_eq!(split.samples_per_frame(), 256);
    assert_eq!(split.frame_channels(), 192);
    let whole = Synthesizer::builder()
        .threads(2)
        .graph_split(false)
        .build()
        .unwrap();
    assert!(!whole.is_split());
    let options = SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..Default::default()
    };
    let mut worst = 0.0f32;
    for text in corpus_lines("en_sentences.txt").iter().take(4) {
        let a = split.synthesize(text, &options).unwrap();
        let b = whole.synthesize(text, &options).unwrap();
        assert_eq!(a.samples.len(), b.samples.len(), "{text:?}: lengths differ");
        let diff = a
            .samples
            .iter()
            .zip(&b.samples)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(diff);
    }
    println!("split vs whole: max abs difference {worst:e}");
    assert!(
        worst < 1e-3,
        "max abs difference {worst} between split and whole graph"
    );
}

#[test]
fn empty_and_blank_text_are_errors() {
    let synth = real_voice();
    for text in ["", "   ", "\n\t \n"] {
        let options = SynthesisOptions::default();
        for result in [
            synth.synthesize(text, &options).map(drop),
            synth.stream(text, &options).map(drop),
            synth.phonemize(text).map(drop),
        ] {
            match result {
                Err(Error::EmptyText { len }) => assert_eq!(len, text.len()),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}

#[test]
fn invalid_scales_are_errors() {
    let synth = real_voice();
    for bad in [f32::NAN, 0.0, -1.0, f32::INFINITY, 100.0] {
        let options = SynthesisOptions {
            length_scale: Some(bad),
            ..Default::default()
        };
        match synth.synthesize("Hello.", &options) {
            Err(Error::InvalidOption { name, .. }) => assert_eq!(name, "length_scale"),
            other => panic!("length_scale {bad}: expected InvalidOption, got {other:?}"),
        }
    }
    for bad in [f32::NAN, -0.5] {
        let options = SynthesisOptions {
            noise_scale: Some(bad),
            ..Default::default()
        };
        assert!(matches!(
            synth.synthesize("Hello.", &options),
            Err(Error::InvalidOption {
                name: "noise_scale",
                ..
            })
        ));
    }
    let options = SynthesisOptions {
        speaker: Some("nobody".into()),
        ..Default::default()
    };
    assert!(matches!(
        synth.synthesize("Hello.", &options),
        Err(Error::UnknownSpeaker { .. })
    ));
}

#[test]
fn length_scale_slows_speech_down() {
    let synth = real_voice();
    let text = "Turn left in two hundred meters.";
    let options = |length_scale| SynthesisOptions {
        length_scale: Some(length_scale),
        noise_w: Some(0.0),
        ..Default::default()
    };
    let normal = synth
        .synthesize(text, &options(1.0))
        .unwrap()
        .duration_seconds();
    let slow = synth
        .synthesize(text, &options(1.5))
        .unwrap()
        .duration_seconds();
    println!("length_scale 1.0: {normal:.2} s, 1.5: {slow:.2} s");
    assert!(slow > 1.3 * normal && slow < 1.7 * normal);
}

/// The largest text one call accepts goes through the frontend in bounded pieces: every
/// sentence, including the ones from text with no punctuation at all, stays under the sentence
/// cap. (How the time grows with length is measured in the benchmarks, not asserted here.)
#[test]
fn the_largest_accepted_text_is_phonemized_in_bounded_sentences() {
    let story = corpus_text("en_long.txt");
    // A run of 2,000 words with no punctuation, after as many stories as fit.
    let run = "river stone bridge mill ".repeat(500);
    let mut text = String::with_capacity(MAX_TEXT_BYTES);
    while text.len() + story.len() + 1 + run.len() <= MAX_TEXT_BYTES {
        text.push_str(&story);
        text.push('\n');
    }
    text.push_str(&run);
    assert!(text.len() > MAX_TEXT_BYTES - story.len() - 1);
    let sentences = real_voice().phonemize(&text).unwrap();
    let longest = sentences.iter().map(|s| s.phonemes.len()).max().unwrap();
    println!(
        "{} bytes -> {} sentences, longest {longest} phonemes",
        text.len(),
        sentences.len()
    );
    assert!(longest <= indextts::frontend::MAX_SENTENCE_PHONEMES);
    let story_sentences = real_voice().phonemize(&story).unwrap().len();
    let copies = text.matches("Chapter one.").count();
    assert!(sentences.len() >= copies * story_sentences);
}

#[test]
fn text_over_the_limit_is_an_error() {
    let synth = real_voice();
    for len in [MAX_TEXT_BYTES + 1, 1_000_000] {
        let text = "a ".repeat(len / 2 + 1);
        match synth.synthesize(&text, &SynthesisOptions::default()) {
            Err(Error::TextTooLong { len, max }) => {
                assert_eq!((len, max), (text.len(), MAX_TEXT_BYTES));
            }
            other => panic!("{} bytes gave {other:?}", text.len()),
        }
    }
}

#[test]
fn wav_file_holds_the_audio() {
    let audio = real_voice()
        .synthesize("Battery low.", &SynthesisOptions::default())
        .unwrap();
    let path = std::env::temp_dir().join(format!("indextts-test-{}.wav", std::process::id()));
    audio.write_wav(&path).unwrap();
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.spec().sample_rate, 22_050);
    assert_eq!(reader.spec().channels, 1);
    assert_eq!(reader.len() as usize, audio.samples.len());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn one_synthesizer_serves_many_threads() {
    let synth = real_voice().clone();
    let options = SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..Default::default()
    };
    let lines = corpus_lines("en_sentences.txt");
    let alone: Vec<Vec<f32>> = lines
        .iter()
        .take(4)
        .map(|t| synth.synthesize(t, &options).unwrap().samples)
        .collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .iter()
            .take(4)
            .map(|t| {
                let synth = synth.clone();
                let options = options.clone();
                s.spawn(move || synth.synthesize(t, &options).unwrap().samples)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
}

/// The acoustic half cuts again at the flow. The prior noise (`randn_like(m_p)`) moves to the
/// flow side as an input, so the flow reads `m_p`, `exp(logs_p)`, `noise_scale` and the mask;
/// the duration predictor's draw stays in the prior and reads a 1-D input.
#[test]
fn acoustic_half_cuts_at_the_flow() {
    use prost::Message;
    let bytes = std::fs::read(&real_voice().voice_paths().model).unwrap();
    let model = indextts::model::onnx::ModelProto::decode(bytes.as_slice()).unwrap();
    let split = indextts::model::split::split_vits(&model).unwrap();
    let flow = indextts::model::split::split_flow(&split.acoustic).unwrap();
    println!(
        "flow inputs {:?}, nodes {:?}",
        flow.flow_inputs, flow.node_counts
    );
    assert_eq!(
        flow.flow_inputs,
        vec![
            "/Transpose_3_output_0",
            "/Exp_1_output_0",
            "/Gather_output_0",
            "/Cast_2_output_0"
        ]
    );
    assert_eq!(flow.frame_noise.len(), 1);
    assert_eq!(flow.frame_noise[0].input, "/RandomNormalLike_output_0");
    assert_eq!(flow.frame_noise[0].like, "/Transpose_3_output_0");
    assert_eq!(flow.text_noise.len(), 1);
    let no_draws = |m: &indextts::model::onnx::ModelProto| {
        m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .all(|n| n.op_type() != "RandomNormalLike")
    };
    assert!(
        no_draws(&flow.prior) && no_draws(&flow.flow),
        "every draw is the library's"
    );
}

/// A voice loaded from the compiled-graph cache (the optimized halves saved by the first load)
/// speaks exactly as one split and optimized afresh; a damaged entry is a miss, not an error.
#[test]
fn the_compiled_graph_cache_gives_the_same_audio() {
    let dir = common::scratch("graph-cache");
    let build = || {
        Synthesizer::builder()
            .threads(2)
            .cache_bytes(0)
            .graph_cache_dir(Some(dir.clone()))
            .build()
            .unwrap()
    };
    let text = corpus_text("en_paragraph.txt");
    let fresh = build()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    let entry = &common::only_graph_cache_entry(
        &dir,
        &[
            "meta.json",
            "prior-0.onnx",
            "prior-1.onnx",
            "flow.onnx",
            "vocoder.onnx",
        ],
    );
    let cached = build()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    assert_eq!(
        fresh.samples, cached.samples,
        "cached graphs changed the audio"
    );

    // A damaged graph file: the voice is split afresh, speaks the same, and the entry is
    // written again.
    let good = std::fs::read(entry.join("vocoder.onnx")).unwrap();
    std::fs::write(entry.join("vocoder.onnx"), b"not a graph").unwrap();
    let recovered = build()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    assert_eq!(fresh.samples, recovered.samples);
    assert_eq!(
        std::fs::read(entry.join("vocoder.onnx")).unwrap(),
        good,
        "the damaged entry was not replaced"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
