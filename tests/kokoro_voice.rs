//! End-to-end tests with the real Kokoro-82M voices (`af_heart` and others, fetched by
//! scripts/setup.sh --reference): the audio itself is checked.

mod common;

use std::sync::OnceLock;

use common::{check_speech, corpus_lines, corpus_text, scratch};
use indextts::{Error, SynthesisOptions, Synthesizer};

fn kokoro(name: &str) -> Synthesizer {
    Synthesizer::builder()
        .voice(name)
        .threads(2)
        .build()
        .unwrap_or_else(|e| panic!("cannot load {name} ({e}); run scripts/setup.sh --reference"))
}

fn heart() -> &'static Synthesizer {
    static SYNTH: OnceLock<Synthesizer> = OnceLock::new();
    SYNTH.get_or_init(|| kokoro("af_heart"))
}

/// Plausible speech at Kokoro's 24 kHz (tests/common's check_speech).
fn check_audio(label: &str, text: &str, audio: &indextts::Audio) {
    check_speech(label, text, audio, 24_000);
}

#[test]
fn every_corpus_sentence_gives_plausible_audio() {
    for text in corpus_lines("en_sentences.txt") {
        let audio = heart()
            .synthesize(&text, &SynthesisOptions::default())
            .unwrap();
        check_audio("af_heart", &text, &audio);
    }
}

/// The paragraph, streamed, equals the paragraph synthesized whole, sample for sample (Kokoro
/// runs a sentence at a time, so a stream's chunks are the sentences' audio); the WAV is kept
/// under target/ for a listener.
#[test]
fn the_paragraph_streams_as_it_synthesizes() {
    let text = corpus_text("en_paragraph.txt");
    let whole = heart()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    check_audio("paragraph", &text, &whole);
    let mut streamed = Vec::new();
    let mut chunks = 0;
    for chunk in heart().stream(&text, &SynthesisOptions::default()).unwrap() {
        streamed.extend_from_slice(&chunk.unwrap().samples);
        chunks += 1;
    }
    assert!(chunks >= 4, "{chunks} chunks for four sentences");
    assert_eq!(streamed.len(), whole.samples.len());
    let max_diff = streamed
        .iter()
        .zip(&whole.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff <= 1e-6,
        "stream and whole differ by up to {max_diff}"
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/kokoro-af_heart-paragraph.wav");
    whole.write_wav(&out).unwrap();
}

#[test]
fn british_spanish_and_french_voices_speak() {
    for (voice, text) in [
        (
            "bf_emma",
            "The weather in London was rather grey this morning.",
        ),
        ("ef_dora", "El faro antiguo estaba al borde del acantilado."),
        (
            "ff_siwis",
            "Le vieux phare se dressait au bord de la falaise.",
        ),
    ] {
        let synth = kokoro(voice);
        let audio = synth
            .synthesize(text, &SynthesisOptions::default())
            .unwrap();
        check_audio(voice, text, &audio);
    }
}

#[test]
fn a_slower_pace_gives_longer_audio() {
    let text = "Ships passing in the night relied on its steady beam.";
    let normal = heart()
        .synthesize(text, &SynthesisOptions::default())
        .unwrap();
    let slow = heart()
        .synthesize(
            text,
            &SynthesisOptions {
                length_scale: Some(1.5),
                ..Default::default()
            },
        )
        .unwrap();
    let ratio = slow.duration_seconds() / normal.duration_seconds();
    assert!(
        (1.3..=1.7).contains(&ratio),
        "length_scale 1.5 gave {ratio:.2}x the duration"
    );
}

fn rms_difference(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    (a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt()
}

/// `speaker` picks another voice pack; a blend mixes the packs' styles; a blend of one pack is
/// that pack.
#[test]
fn speakers_and_blends() {
    let text = "Every evening, the keeper climbed the spiral staircase.";
    let with = |speaker: &str| {
        heart()
            .synthesize(
                text,
                &SynthesisOptions {
                    speaker: Some(speaker.into()),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let heart_audio = heart()
        .synthesize(text, &SynthesisOptions::default())
        .unwrap();
    assert_eq!(with("af_heart").samples, heart_audio.samples);
    assert_eq!(with("af_heart:1").samples, heart_audio.samples);
    let adam = with("am_adam");
    check_audio("am_adam", text, &adam);
    let blend = with("af_heart:0.5,am_adam:0.5");
    check_audio("blend", text, &blend);
    assert!(rms_difference(&blend.samples, &heart_audio.samples) > 1e-3);
    assert!(rms_difference(&blend.samples, &adam.samples) > 1e-3);
    // The weights are scaled to sum to 1.
    assert_eq!(with("af_heart:2,am_adam:2").samples, blend.samples);
}

#[test]
fn bad_speakers_and_blends_are_clear_errors() {
    let options = |speaker: &str| SynthesisOptions {
        speaker: Some(speaker.into()),
        ..Default::default()
    };
    let error = heart()
        .synthesize("Hello.", &options("af_nobody"))
        .unwrap_err();
    assert!(matches!(error, Error::UnknownSpeaker { .. }), "{error}");
    assert!(error.to_string().contains("am_adam"), "{error}");
    let error = heart()
        .synthesize("Hello.", &options("af_heart:0.5,af_nobody:0.5"))
        .unwrap_err();
    assert!(matches!(error, Error::UnknownSpeaker { .. }), "{error}");
    for bad in [
        "af_heart:x",
        "af_heart:-1",
        "af_heart:NaN",
        "a:1,b:1,c:1,d:1,e:1",
    ] {
        let error = heart().synthesize("Hello.", &options(bad)).unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidOption { .. } | Error::UnknownSpeaker { .. }
            ),
            "{bad}: {error}"
        );
    }
    let error = heart()
        .synthesize(
            "Hello.",
            &SynthesisOptions {
                length_scale: Some(f32::NAN),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(error, Error::InvalidOption { .. }), "{error}");
}

/// A voice whose language has no frontend yet refuses to load, naming the language.
#[test]
fn a_japanese_voice_is_refused_by_name() {
    let dir = scratch("kokoro-ja");
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/assets/voices/af_heart/kokoro.json");
    let spec = std::fs::read_to_string(&base)
        .unwrap()
        .replace("\"speaker\": \"af_heart\"", "\"speaker\": \"jf_alpha\"");
    let assets = base.parent().unwrap().to_path_buf();
    let spec = spec.replace(
        "\"../kokoro-v1.0",
        &format!("\"{}/../kokoro-v1.0", assets.display()),
    );
    std::fs::write(dir.join("kokoro.json"), spec).unwrap();
    let error = Synthesizer::builder().voice(&dir).build().err().unwrap();
    assert!(error.to_string().contains("Japanese"), "{error}");
}

/// Mandarin or Japanese text given to an English Kokoro voice is refused before any audio,
/// naming the character and the voice that reads it, on every path; accented Latin is fine.
#[test]
fn text_in_a_script_the_voice_cannot_read_is_refused_before_any_audio() {
    let synth = heart();
    let options = SynthesisOptions::default();
    let unsupported = |error: indextts::Error, character: char| {
        let message = error.to_string();
        match error {
            indextts::Error::UnsupportedText {
                character: c,
                language,
                ..
            } => {
                assert_eq!((c, language.as_str()), (character, "en-us"), "{message}");
            }
            other => panic!("not UnsupportedText: {other}"),
        }
        message
    };
    let zh = "Welcome. 你好，欢迎收听。";
    let message = unsupported(synth.stream(zh, &options).err().unwrap(), '你');
    assert!(
        message.contains("U+4F60")
            && message.contains("byte 9")
            && message.contains("zh_CN-baker-fastspeech2"),
        "{message}"
    );
    unsupported(synth.synthesize(zh, &options).unwrap_err(), '你');
    unsupported(synth.phonemize(zh).unwrap_err(), '你');
    unsupported(synth.check_text("カタカナ").unwrap_err(), 'カ');
    unsupported(
        synth
            .stream("<speak>Hi <break time=\"1s\"/> 안녕</speak>", &options)
            .err()
            .unwrap(),
        '안',
    );
    // A text stream: the audio ends in that error, having said nothing of that sentence.
    let (mut sink, audio) = synth.text_stream(&options).unwrap();
    sink.push("你好。").unwrap();
    sink.finish().unwrap();
    let results: Vec<_> = audio.collect();
    assert!(results
        .iter()
        .all(|r| r.as_ref().map_or(true, |c| c.samples.is_empty())));
    unsupported(results.into_iter().find_map(Result::err).unwrap(), '你');
    // Latin with accents, dashes and curly quotes is read.
    synth.check_text("Café, naïve — “fine”.").unwrap();
    // The same text through British English names its own language.
    let emma = kokoro("bf_emma");
    let error = emma.check_text("你好").unwrap_err().to_string();
    assert!(error.contains("reads en-gb"), "{error}");
}

/// A sentence longer than the model's 509 tokens is cut between words, and each piece speaks.
#[test]
fn a_very_long_sentence_is_cut_between_words() {
    let text = "the keeper climbed the spiral staircase and lit the lamp ".repeat(14);
    let sentences = heart().phonemize(&text).unwrap();
    assert!(sentences.len() >= 2, "{} pieces", sentences.len());
    for s in &sentences {
        assert!(s.phoneme_ids.len() <= 509, "{} tokens", s.phoneme_ids.len());
    }
    let ours: String = sentences
        .iter()
        .map(|s| s.phonemes.concat())
        .collect::<Vec<_>>()
        .join(" ");
    let whole = heart()
        .phonemize("the keeper climbed the spiral staircase and lit the lamp")
        .unwrap();
    let words: std::collections::BTreeSet<String> = whole[0]
        .phonemes
        .concat()
        .split(' ')
        .map(str::to_owned)
        .collect();
    for word in ours.split(' ') {
        assert!(words.contains(word), "{word:?} is not a whole word");
    }
    let audio = heart()
        .synthesize(&text, &SynthesisOptions::default())
        .unwrap();
    check_audio("long", &text, &audio);
}

/// The same sentence twice: the second comes from the cache, identical.
#[test]
fn a_repeated_sentence_comes_from_the_cache() {
    let synth = kokoro("am_michael");
    let text = "Nobody remembered when the last storm had been this fierce.";
    let first = synth
        .synthesize(text, &SynthesisOptions::default())
        .unwrap();
    let hits = synth.cache_stats().memory.hits;
    let second = synth
        .synthesize(text, &SynthesisOptions::default())
        .unwrap();
    assert_eq!(first.samples, second.samples);
    assert!(synth.cache_stats().memory.hits > hits, "no cache hit");
}

/// The Kokoro graph from the compiled-graph cache (as ONNX Runtime optimized it, its durations
/// output added) speaks bit for bit as one loaded afresh and one loaded with no graph cache,
/// with the same word marks; a damaged entry is a miss that is written again.
#[test]
fn the_compiled_graph_cache_serves_kokoro_with_the_same_audio() {
    let dir = scratch("kokoro-graph-cache");
    let build = |cache: Option<std::path::PathBuf>| {
        Synthesizer::builder()
            .voice("af_heart")
            .threads(2)
            .cache_bytes(0)
            .graph_cache_dir(cache)
            .build()
            .unwrap()
    };
    let text = "Hello, and welcome to the show. The cache keeps the optimized graph.";
    let options = SynthesisOptions::default();
    let uncached = build(None).synthesize(text, &options).unwrap();
    let fresh = build(Some(dir.clone())).synthesize(text, &options).unwrap();
    let entry = &common::only_graph_cache_entry(&dir, &["meta.json", "model.onnx"]);
    let cached = build(Some(dir.clone())).synthesize(text, &options).unwrap();
    assert_eq!(
        fresh.samples, uncached.samples,
        "saving the graph changed the audio"
    );
    assert_eq!(
        cached.samples, fresh.samples,
        "the cached graph changed the audio"
    );
    assert_eq!(cached.words, fresh.words);
    assert!(
        !cached.words.is_empty(),
        "the cached graph keeps its durations output"
    );
    std::fs::write(entry.join("model.onnx"), b"not a graph").unwrap();
    let recovered = build(Some(dir.clone())).synthesize(text, &options).unwrap();
    assert_eq!(recovered.samples, fresh.samples);
    assert!(std::fs::metadata(entry.join("model.onnx")).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}
