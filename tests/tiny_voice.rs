//! Loading, splitting and validating voices, on tiny Piper-shaped models generated in Rust
//! (indextts::testkit): no real voice needed for the model half; espeak-ng is still real.

mod common;

use common::{scratch, tiny_synth};
use indextts::model::onnx::ModelProto;
use indextts::model::split::split_vits;
use indextts::testkit::{TinyVoice, TINY_CHANNELS, TINY_HOP, TINY_SAMPLE_RATE};
use indextts::{Error, SynthesisOptions, Synthesizer};
use prost::Message;

fn quiet() -> SynthesisOptions {
    SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..Default::default()
    }
}

#[test]
fn tiny_voice_splits_and_speaks() {
    let (dir, synth) = tiny_synth(&TinyVoice::default(), "single");
    let model = dir.join("tiny.onnx");
    assert!(synth.is_split());
    assert_eq!(synth.samples_per_frame(), TINY_HOP);
    assert_eq!(synth.frame_channels(), TINY_CHANNELS);
    assert_eq!(synth.voice_paths().model, model);
    let text = "Hello, world.";
    let audio = synth.synthesize(text, &quiet()).unwrap();
    let ids: usize = synth
        .phonemize(text)
        .unwrap()
        .iter()
        .map(|s| s.phoneme_ids.len())
        .sum();
    assert_eq!(audio.sample_rate, TINY_SAMPLE_RATE);
    // The tiny model makes one frame per id.
    assert_eq!(audio.samples.len(), ids * TINY_HOP);
    assert!(audio.samples.iter().any(|&s| s.abs() > 1e-3));
}

#[test]
fn split_finds_the_frames_tensor_by_structure() {
    let model = TinyVoice::default().model();
    let split = split_vits(&model).unwrap();
    assert_eq!(split.frames_tensor, "/Mul_7_output_0");
    assert_eq!(split.frame_channels, Some(TINY_CHANNELS));
    assert_eq!(split.samples_per_frame, TINY_HOP);
    assert!(split.vocoder_extra_inputs.is_empty());
    let acoustic = split.acoustic.graph.as_ref().unwrap();
    let vocoder = split.vocoder.graph.as_ref().unwrap();
    // Noise stays on the acoustic side; the decoder has only decoder nodes.
    assert!(acoustic
        .node
        .iter()
        .any(|n| n.op_type() == "RandomNormalLike"));
    assert!(vocoder.node.iter().all(|n| n.name().starts_with("/dec/")));
    assert_eq!(vocoder.input.len(), 1);
    // A decode/encode round trip of the whole model is lossless.
    let bytes = model.encode_to_vec();
    assert_eq!(
        ModelProto::decode(bytes.as_slice())
            .unwrap()
            .encode_to_vec(),
        bytes
    );
}

#[test]
fn multi_speaker_voice_conditions_the_vocoder() {
    let voice = TinyVoice {
        speakers: 3,
        ..Default::default()
    };
    let split = split_vits(&voice.model()).unwrap();
    assert_eq!(split.vocoder_extra_inputs, vec!["sid".to_string()]);

    let dir = scratch("multi");
    voice.write(&dir, "tiny-multi").unwrap();
    let synth = Synthesizer::builder()
        .voice(&dir)
        .threads(1)
        .build()
        .unwrap();
    assert!(synth.is_split());
    let whole = Synthesizer::builder()
        .voice(&dir)
        .threads(1)
        .graph_split(false)
        .build()
        .unwrap();
    let mut outputs = Vec::new();
    for speaker in ["speaker_0", "speaker_2", "1"] {
        let options = SynthesisOptions {
            speaker: Some(speaker.into()),
            ..quiet()
        };
        let a = synth.synthesize("Hello.", &options).unwrap();
        let b = whole.synthesize("Hello.", &options).unwrap();
        assert_eq!(
            a.samples, b.samples,
            "speaker {speaker}: split differs from whole"
        );
        outputs.push(a.samples);
    }
    assert_ne!(outputs[0], outputs[1], "speakers must sound different");
    let bad = SynthesisOptions {
        speaker: Some("speaker_9".into()),
        ..quiet()
    };
    assert!(matches!(
        synth.synthesize("Hello.", &bad),
        Err(Error::UnknownSpeaker { .. })
    ));
}

#[test]
fn text_made_only_of_missing_symbols_gives_no_audio() {
    let voice = TinyVoice {
        symbols: "xyz".into(),
        ..Default::default()
    };
    let (_, synth) = tiny_synth(&voice, "nosymbols");
    let sentences = synth.phonemize("Hello.").unwrap();
    assert!(!sentences.is_empty());
    assert!(sentences[0].missing.contains(&'h'));
    let audio = synth.synthesize("Hello.", &quiet()).unwrap();
    assert!(audio.is_empty());
}

#[test]
fn missing_model_is_an_error() {
    let dir = scratch("missing");
    match Synthesizer::builder().voice(dir.join("nope.onnx")).build() {
        Err(Error::VoiceNotFound { .. }) => {}
        other => panic!("expected VoiceNotFound, got {other:?}"),
    }
    // An empty directory has no model either.
    assert!(matches!(
        Synthesizer::builder().voice(&dir).build(),
        Err(Error::VoiceNotFound { .. })
    ));
    // A model without its config.
    std::fs::write(dir.join("lonely.onnx"), TinyVoice::default().model_bytes()).unwrap();
    assert!(matches!(
        Synthesizer::builder()
            .voice(dir.join("lonely.onnx"))
            .build(),
        Err(Error::VoiceNotFound { .. })
    ));
}

#[test]
fn truncated_model_is_an_error() {
    let dir = scratch("truncated");
    let model = TinyVoice::default().write(&dir, "tiny").unwrap();
    let bytes = std::fs::read(&model).unwrap();
    for len in [bytes.len() / 2, bytes.len() - 3, 10] {
        std::fs::write(&model, &bytes[..len]).unwrap();
        match Synthesizer::builder().voice(&model).build() {
            Err(Error::ModelFormat { .. } | Error::Runtime { .. } | Error::ModelInput { .. }) => {}
            other => panic!("truncated to {len} bytes: expected a model error, got {other:?}"),
        }
    }
    std::fs::write(&model, b"this is not a model").unwrap();
    assert!(Synthesizer::builder().voice(&model).build().is_err());
}

#[test]
fn config_that_does_not_match_the_model_is_an_error() {
    let dir = scratch("mismatch");
    // The config has more symbols than the model's embedding.
    TinyVoice {
        model_symbols: Some(10),
        ..Default::default()
    }
    .write(&dir, "tiny")
    .unwrap();
    match Synthesizer::builder().voice(&dir).build() {
        Err(Error::VoiceMismatch { reason, .. }) => assert!(reason.contains("symbols"), "{reason}"),
        other => panic!("expected VoiceMismatch, got {other:?}"),
    }
    // A multi-speaker config for a single-speaker model.
    let single = TinyVoice::default();
    let multi = TinyVoice {
        speakers: 2,
        ..Default::default()
    };
    std::fs::write(dir.join("tiny.onnx"), single.model_bytes()).unwrap();
    std::fs::write(dir.join("tiny.onnx.json"), multi.config_json()).unwrap();
    assert!(matches!(
        Synthesizer::builder().voice(&dir).build(),
        Err(Error::VoiceMismatch { .. })
    ));
    // And the reverse.
    std::fs::write(dir.join("tiny.onnx"), multi.model_bytes()).unwrap();
    std::fs::write(dir.join("tiny.onnx.json"), single.config_json()).unwrap();
    assert!(matches!(
        Synthesizer::builder().voice(&dir).build(),
        Err(Error::VoiceMismatch { .. })
    ));
}

#[test]
fn malformed_configs_are_errors() {
    let dir = scratch("badjson");
    let model = TinyVoice::default().write(&dir, "tiny").unwrap();
    let config = dir.join("tiny.onnx.json");
    let good: serde_json::Value =
        serde_json::from_str(&TinyVoice::default().config_json()).unwrap();
    let mut cases: Vec<(String, String)> = vec![
        ("not json".into(), "{".into()),
        (
            "no map".into(),
            r#"{"audio": {"sample_rate": 16000}}"#.into(),
        ),
    ];
    let mut no_pad = good.clone();
    no_pad["phoneme_id_map"]
        .as_object_mut()
        .unwrap()
        .remove("_");
    cases.push(("no pad".into(), no_pad.to_string()));
    let mut big_id = good.clone();
    big_id["phoneme_id_map"]["a"] = serde_json::json!([100000]);
    cases.push(("id beyond num_symbols".into(), big_id.to_string()));
    let mut rate = good.clone();
    rate["audio"]["sample_rate"] = serde_json::json!(0);
    cases.push(("zero sample rate".into(), rate.to_string()));
    let mut kind = good.clone();
    kind["phoneme_type"] = serde_json::json!("klingon");
    cases.push(("unknown phoneme type".into(), kind.to_string()));
    for (what, json) in cases {
        std::fs::write(&config, json).unwrap();
        match Synthesizer::builder().voice(&model).build() {
            Err(Error::VoiceConfig { .. }) => {}
            other => panic!("{what}: expected VoiceConfig, got {other:?}"),
        }
    }
}

/// Every numeric option at its extremes is an error naming it, before anything is loaded.
#[test]
fn out_of_range_numeric_options_are_errors() {
    use indextts::StreamOptions;
    let dir = scratch("threads");
    TinyVoice::default().write(&dir, "tiny").unwrap();
    let builder = || Synthesizer::builder().voice(&dir);
    let windows = |first, chunk| StreamOptions {
        first_chunk_frames: Some(first),
        chunk_frames: Some(chunk),
        ..Default::default()
    };
    let cases = [
        ("threads", builder().threads(0)),
        ("threads", builder().threads(usize::MAX)),
        ("sessions", builder().sessions(0)),
        ("sessions", builder().sessions(u32::MAX as usize)),
        ("redis_ttl", builder().redis_ttl(std::time::Duration::ZERO)),
        ("redis_ttl", builder().redis_ttl(std::time::Duration::MAX)),
        (
            "first_chunk_frames",
            builder().stream_options(windows(0, 128)),
        ),
        ("chunk_frames", builder().stream_options(windows(8, 0))),
    ];
    for (field, builder) in cases {
        match builder.build() {
            Err(Error::InvalidOption { name, .. }) if name == field => {}
            other => panic!("{field}: {other:?}"),
        }
    }
    // The largest windows (with the most context) still stream: the window arithmetic
    // saturates rather than wrapping.
    let (_, synth) = tiny_synth(&TinyVoice::default(), "widest");
    let widest = Synthesizer::builder()
        .voice(synth.voice_paths().model.parent().unwrap())
        .stream_options(StreamOptions {
            context_frames: Some(1024),
            ..windows(usize::MAX, usize::MAX)
        })
        .build()
        .unwrap();
    let whole = synth.synthesize("Hello, world.", &quiet()).unwrap();
    let streamed: Vec<f32> = widest
        .stream("Hello, world.", &quiet())
        .unwrap()
        .flat_map(|c| c.unwrap().samples)
        .collect();
    assert_eq!(streamed, whole.samples);
}

/// Frames handed to `vocode` by the caller: a shape the vocoder cannot take is an error, not
/// an abort (a frame count times the hop used to size an allocation unchecked).
#[test]
fn vocode_refuses_frames_of_the_wrong_shape() {
    let (_, synth) = tiny_synth(&TinyVoice::default(), "vocode-shape");
    let frames = |channels: usize, count: usize| indextts::Frames {
        sentence: 0,
        data: ndarray::Array2::zeros((channels, count)),
        speaker: None,
    };
    assert_eq!(
        synth
            .vocode(&frames(TINY_CHANNELS, 7))
            .unwrap()
            .samples
            .len(),
        7 * TINY_HOP
    );
    for (channels, count) in [
        (TINY_CHANNELS + 1, 7),
        (0, usize::MAX / 2),
        (TINY_CHANNELS, indextts::MAX_SENTENCE_FRAMES + 1),
    ] {
        match synth.vocode(&frames(channels, count)) {
            Err(Error::InvalidOption { name: "frames", .. }) => {}
            other => panic!("[{channels}, {count}]: {other:?}"),
        }
    }
}
