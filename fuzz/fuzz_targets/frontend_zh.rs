//! The Mandarin frontend on arbitrary bytes: normalization of numbers, clause and segment cuts,
//! jieba words, pinyin, Baker phones and ids (the real dictionaries, through the voice's
//! frontend; no synthesis). Must never panic, and every syllable of a sentence must be within
//! the clause limit.
#![no_main]

use std::sync::OnceLock;

use indextts::frontend::zh::{normalize::normalize, MAX_CLAUSE_SYLLABLES};
use indextts::Synthesizer;
use libfuzzer_sys::fuzz_target;

fn synth() -> &'static Synthesizer {
    static SYNTH: OnceLock<Synthesizer> = OnceLock::new();
    SYNTH.get_or_init(|| {
        Synthesizer::builder()
            .voice(indextts::MANDARIN_VOICE)
            .threads(1)
            .build()
            .expect("the Mandarin voice (scripts/fetch_assets.py --zh)")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = normalize(&text);
    if let Ok(sentences) = synth().phonemize(&text) {
        for sentence in sentences {
            // sil, (initial final [er5] #0)*, sil: at most 4 phones a syllable, plus 2.
            assert!(sentence.phonemes.len() <= 4 * MAX_CLAUSE_SYLLABLES + 2);
            assert_eq!(sentence.phoneme_ids.last(), Some(&218), "ends with eos");
        }
    }
});
