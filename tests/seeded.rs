//! Seeded synthesis: the model's random draws come from a seed, so a sentence sounds the same
//! every time, a given seed gives the same samples bit for bit, and the audio is drawn from the
//! same distribution as with ONNX Runtime's own random draws.

mod common;

use common::{real_voice, stats};
use indextts::{SynthesisOptions, Synthesizer};

fn seeded(seed: Option<u64>) -> SynthesisOptions {
    SynthesisOptions {
        seed,
        ..Default::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_samples() {
    let synth = real_voice();
    assert!(synth.is_seeded());
    let text = "Your order has shipped and should arrive on Thursday.";
    let a = synth.synthesize(text, &seeded(Some(42))).unwrap();
    let b = synth.synthesize(text, &seeded(Some(42))).unwrap();
    assert_eq!(a.samples, b.samples, "same seed, same call");
    // Another synthesizer of the same voice, as another process would load it. Bit-identity
    // holds for the same ONNX Runtime thread count (reductions split across threads round
    // differently), so it has the same 2 threads.
    let other = Synthesizer::builder().threads(2).build().unwrap();
    let c = other.synthesize(text, &seeded(Some(42))).unwrap();
    assert_eq!(a.samples, c.samples, "same seed, another synthesizer");
    // Streamed: the same samples again.
    let streamed: Vec<f32> = synth
        .stream(text, &seeded(Some(42)))
        .unwrap()
        .flat_map(|c| c.unwrap().samples)
        .collect();
    assert_eq!(a.samples, streamed, "same seed, streamed");
    let d = synth.synthesize(text, &seeded(Some(43))).unwrap();
    assert_ne!(a.samples, d.samples, "another seed must change the audio");
}

#[test]
fn without_a_seed_a_sentence_sounds_the_same_every_time_and_in_any_text() {
    let synth = real_voice();
    let text = "Please hold while I connect you to the next available agent.";
    let a = synth.synthesize(text, &seeded(None)).unwrap();
    let b = synth.synthesize(text, &seeded(None)).unwrap();
    assert_eq!(a.samples, b.samples);
    // The seed belongs to the sentence: after a different first sentence, it is the same audio.
    let second = |first: &str| -> Vec<f32> {
        synth
            .stream(&format!("{first} {text}"), &seeded(None))
            .unwrap()
            .map(Result::unwrap)
            .filter(|c| c.sentence == 1)
            .flat_map(|c| c.samples)
            .collect()
    };
    assert_eq!(second("Hello."), second("Battery low."));
}

/// Seeded draws must not change the audio in kind: over many draws, durations and loudness
/// match the unsplit graph, where ONNX Runtime draws (`RandomNormalLike`) itself.
#[test]
fn seeded_draws_match_onnx_runtime_draws_in_distribution() {
    let text = "The quick brown fox jumps over the lazy dog.";
    let runs = 24;
    let ours: Vec<(f64, f64)> = (0..runs)
        .map(|seed| {
            let s = stats(&real_voice().synthesize(text, &seeded(Some(seed))).unwrap());
            (s.seconds, s.rms)
        })
        .collect();
    let whole = Synthesizer::builder()
        .threads(2)
        .graph_split(false)
        .build()
        .unwrap();
    assert!(!whole.is_seeded());
    let theirs: Vec<(f64, f64)> = (0..runs)
        .map(|_| {
            let s = stats(&whole.synthesize(text, &seeded(None)).unwrap());
            (s.seconds, s.rms)
        })
        .collect();
    let mean_sd = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        let m = v.iter().map(f).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (f(x) - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        (m, var.sqrt())
    };
    for (what, f) in [
        ("duration", (|x: &(f64, f64)| x.0) as fn(&(f64, f64)) -> f64),
        ("rms", |x: &(f64, f64)| x.1),
    ] {
        let (m1, s1) = mean_sd(&ours, f);
        let (m2, s2) = mean_sd(&theirs, f);
        println!("{what}: seeded {m1:.4} ± {s1:.4}, ONNX Runtime draws {m2:.4} ± {s2:.4} ({runs} runs each)");
        // Means within 4 standard errors of each other; spreads within a factor of 3. The
        // spread of 24 unseeded runs is itself noisy: ONNX Runtime's rms spread measured
        // 0.0008 to 0.0015 across runs of this test (ours, seeded, is 0.0017 every time), so a
        // factor of 2 failed by chance (CI, 2026-12-04); 3 still catches a change in kind
        // (noise off: no spread; a doubled noise scale).
        let se = (s1 * s1 / runs as f64 + s2 * s2 / runs as f64).sqrt();
        assert!(
            (m1 - m2).abs() <= 4.0 * se + 1e-9,
            "{what}: means differ: {m1} vs {m2}"
        );
        assert!(
            s1 > 0.0 && s2 > 0.0 && s1 / s2 < 3.0 && s2 / s1 < 3.0,
            "{what}: spreads differ: {s1} vs {s2}"
        );
    }
}
