//! SSML and the pronunciation lexicon with the real voices: what each element asks for is in
//! the audio (a break's silence, a rate's length, a pronunciation's ids), malformed SSML is an
//! error naming its line and column, and the cache keys follow the phonemes.

mod common;

use common::{check_speech, real_voice};
use indextts::{Audio, Error, SynthesisOptions, Synthesizer};

fn quiet() -> SynthesisOptions {
    SynthesisOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..SynthesisOptions::default()
    }
}

fn speak(synth: &Synthesizer, text: &str) -> Audio {
    synth.synthesize(text, &quiet()).unwrap()
}

/// The longest run of samples below 1% of full scale, in ms.
fn longest_silence_ms(audio: &Audio) -> u64 {
    let (mut best, mut run) = (0u64, 0u64);
    for s in &audio.samples {
        run = if s.abs() < 0.01 { run + 1 } else { 0 };
        best = best.max(run);
    }
    best * 1000 / u64::from(audio.sample_rate)
}

fn kokoro() -> Synthesizer {
    Synthesizer::builder()
        .voice("af_heart")
        .threads(2)
        .build()
        .unwrap()
}

fn mandarin() -> Synthesizer {
    Synthesizer::builder()
        .voice("zh_CN-baker-fastspeech2")
        .threads(2)
        .build()
        .unwrap()
}

/// A break's silence and a slower rate show in the audio, for each family.
#[test]
fn breaks_and_rates_are_heard_in_every_family() {
    let cases = [
        (
            real_voice().clone(),
            "Turn left here",
            "then keep right.",
            22_050,
        ),
        (kokoro(), "Turn left here", "then keep right.", 24_000),
        (mandarin(), "前方路口左转", "然后靠右行驶。", 24_000),
    ];
    for (synth, first, second, rate) in cases {
        let plain = speak(&synth, &format!("{first} {second}"));
        let broken = speak(
            &synth,
            &format!("<speak>{first} <break time=\"1200ms\"/> {second}</speak>"),
        );
        // Speech and the break: the words' own length plus the silence asked for.
        let s = common::stats(&broken);
        assert_eq!(broken.sample_rate, rate);
        assert!(s.non_finite == 0 && s.rms > 0.02 && s.peak <= 1.0, "{s:?}");
        assert!(broken.duration_seconds() > plain.duration_seconds() + 1.0);
        let (before, after) = (longest_silence_ms(&plain), longest_silence_ms(&broken));
        println!("{first}: longest silence {before} ms plain, {after} ms with a 1200 ms break");
        // The break, with at most the voice's own pause at a sentence's end on each side of it
        // (a piece ends where the break is; 300 ms at least, for voices that pause only there).
        assert!(
            after >= 1150 && after <= 1200 + 2 * before.max(300) + 200,
            "{after} ms"
        );
        let slow = speak(
            &synth,
            &format!("<speak><prosody rate=\"50%\">{first} {second}</prosody></speak>"),
        );
        let ratio = slow.duration_seconds() / plain.duration_seconds();
        println!("{first}: rate 50% is {ratio:.2}x as long");
        assert!((1.6..=2.4).contains(&ratio), "{ratio}");
        // <s>, <sub>, entities and an unknown element: all spoken.
        let doc = format!(
            "<speak><s>{first}</s><s><sub alias=\"{second}\">x</sub></s><emphasis>&#x20;</emphasis></speak>"
        );
        let audio = speak(&synth, &doc);
        assert!(audio.duration_seconds() > 0.7 * plain.duration_seconds());
    }
}

/// `<phoneme>` and the lexicon change the ids of their word and nothing else; both go through
/// the sentence key (their audio is not the plain text's cache entry).
#[test]
fn pronunciations_change_their_word_only() {
    let dir = common::scratch("ssml-lexicon");
    // Words espeak-ng gets wrong: it reads "nginx" as one syllable ("ɛŋks"-like) and
    // "Kubernetes" with a flapped t; the lexicon says them as their users do.
    let lexicon = dir.join("lexicon.tsv");
    std::fs::write(
        &lexicon,
        "# word<TAB>IPA\nnginx\tˈɛndʒɪnˌɛks\nkubernetes\tkjˌuːbɚnˈɛtiːz\n",
    )
    .unwrap();
    let text = "We run nginx on Kubernetes today.";
    for voice in ["en_US-joe-medium", "af_heart"] {
        let plain = Synthesizer::builder()
            .voice(voice)
            .threads(2)
            .build()
            .unwrap();
        let with = Synthesizer::builder()
            .voice(voice)
            .threads(2)
            .lexicon(&lexicon)
            .build()
            .unwrap();
        let (a, b) = (
            &plain.phonemize(text).unwrap()[0],
            &with.phonemize(text).unwrap()[0],
        );
        assert_eq!(a.words.len(), b.words.len(), "{voice}");
        for (wa, wb) in a.words.iter().zip(&b.words) {
            let word = &text[wa.text.clone()];
            let (ida, idb) = (
                &a.phoneme_ids[wa.ids.clone()],
                &b.phoneme_ids[wb.ids.clone()],
            );
            if word == "nginx" || word == "Kubernetes" {
                assert_ne!(ida, idb, "{voice}: {word} unchanged");
            } else {
                assert_eq!(ida, idb, "{voice}: {word} changed");
            }
        }
        // The ids between and around the words (pauses, punctuation) are the same too.
        let outside = |s: &indextts::Sentence| -> Vec<i64> {
            let mut ids = s.phoneme_ids.clone();
            for w in s.words.iter().rev() {
                ids.drain(w.ids.clone());
            }
            ids
        };
        assert_eq!(outside(a), outside(b), "{voice}");
        // Spoken: the lexicon's audio differs from the plain text's and is plausible speech.
        let heard = speak(&with, text);
        check_speech(voice, text, &heard, with.sample_rate());
        assert_ne!(heard.samples, speak(&plain, text).samples);
        // SSML's <phoneme> does what the lexicon does, for that occurrence.
        let ssml = "<speak>We run <phoneme alphabet=\"ipa\" ph=\"ˈɛndʒɪnˌɛks\">nginx</phoneme> \
                    on Kubernetes today.</speak>";
        // Through the sentence key: the plain sentence is cached, the <phoneme> one is not
        // a hit of it.
        let cached = speak(&plain, text);
        let hits = plain.cache_stats().memory.hits;
        let by_tag = speak(&plain, ssml);
        assert_eq!(
            plain.cache_stats().memory.hits,
            hits,
            "{voice}: a hit across phonemes"
        );
        assert_ne!(by_tag.samples, cached.samples);
        let partly = Synthesizer::builder()
            .voice(voice)
            .threads(2)
            .lexicon({
                let only = dir.join("only-nginx.tsv");
                std::fs::write(&only, "nginx\tˈɛndʒɪnˌɛks\n").unwrap();
                only
            })
            .build()
            .unwrap();
        assert_eq!(by_tag.samples, speak(&partly, text).samples, "{voice}");
        assert_eq!(
            by_tag
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>(),
            ["We", "run", "nginx", "on", "Kubernetes", "today"]
        );
    }
    // A lexicon that cannot be read names its line.
    std::fs::write(&lexicon, "ok\tɔk\nbroken line\n").unwrap();
    let error = Synthesizer::builder()
        .lexicon(&lexicon)
        .build()
        .err()
        .unwrap();
    assert!(matches!(error, Error::Lexicon { line: 2, .. }), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_ssml_is_an_error_before_any_audio() {
    let synth = real_voice();
    let error = synth
        .stream(
            "<speak>\n  Hello <break time=\"soon\"/>\n</speak>",
            &quiet(),
        )
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            Error::Ssml {
                line: 2,
                column: 9,
                ..
            }
        ),
        "{error}"
    );
    let error = synth.stream("<speak>unclosed", &quiet()).err().unwrap();
    assert!(error.to_string().contains("SSML, line 1"), "{error}");
    assert!(matches!(
        synth.synthesize("<speak>  </speak>", &quiet()),
        Err(Error::EmptyText { .. })
    ));
    // Text that merely mentions a tag is plain text.
    let audio = speak(synth, "Type <b> for bold.");
    assert!(audio.duration_seconds() > 0.5);
}

/// `<voice name>` picks a speaker (or a blend) of the loaded voice for its span: the span
/// sounds as that speaker alone does, the rest as the call's speaker, and a name the voice
/// does not have is an error before any audio.
#[test]
fn voice_elements_switch_speakers_of_the_loaded_voice() {
    let synth = kokoro();
    let document =
        "<speak>Hello there. <voice name=\"am_adam\">I am Adam.</voice> Back again.</speak>";
    let mut sentences: Vec<Vec<f32>> = Vec::new();
    for chunk in synth.stream(document, &quiet()).unwrap() {
        let chunk = chunk.unwrap();
        if sentences.len() <= chunk.sentence {
            sentences.resize(chunk.sentence + 1, Vec::new());
        }
        sentences[chunk.sentence].extend_from_slice(&chunk.samples);
    }
    assert_eq!(sentences.len(), 3, "three sentences");
    let alone = |text: &str, speaker: Option<&str>| {
        let options = SynthesisOptions {
            speaker: speaker.map(str::to_owned),
            ..quiet()
        };
        synth.synthesize(text, &options).unwrap().samples
    };
    // Each sentence as spoken alone (a later sentence starts after the voice's gap).
    let ends_with = |got: &[f32], want: &[f32]| {
        got.len() >= want.len() && got[got.len() - want.len()..] == *want
    };
    let adam = alone("I am Adam.", Some("am_adam"));
    assert!(
        ends_with(&sentences[1], &adam),
        "the <voice> span is am_adam's"
    );
    assert!(!ends_with(&sentences[1], &alone("I am Adam.", None)));
    assert!(
        ends_with(&sentences[2], &alone("Back again.", None)),
        "then af_heart again"
    );
    check_speech(
        "voice span",
        "I am Adam.",
        &Audio {
            samples: adam,
            sample_rate: 24_000,
            ..Audio::default()
        },
        24_000,
    );
    // A blend, as the speaker option takes it.
    let blend = "<speak><voice name=\"af_heart:0.5,am_adam:0.5\">Half and half.</voice></speak>";
    assert_eq!(
        synth.synthesize(blend, &quiet()).unwrap().samples,
        alone("Half and half.", Some("af_heart:0.5,am_adam:0.5"))
    );
    // A speaker this voice does not have.
    let error = synth
        .stream(
            "<speak><voice name=\"nobody\">Hi.</voice></speak>",
            &quiet(),
        )
        .err()
        .unwrap();
    assert!(matches!(error, Error::UnknownSpeaker { .. }), "{error}");
    assert!(error.to_string().contains("nobody"), "{error}");
}
