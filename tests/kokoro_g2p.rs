//! Kokoro's English phonemes (src/frontend/misaki.rs) against misaki 0.9.4's own, on the shared
//! corpus. misaki runs in its pinned venv (scripts/misaki-requirements.txt, installed by
//! scripts/setup.sh --reference into target/misaki-venv) with spaCy's blank tokenizer and the
//! rule tagger of scripts/misaki_reference.py, the tagger indextts uses too.
//!
//! The rate is words whose phonemes are identical (longest common subsequence of the two
//! phoneme strings' words, over the longer one's count). Where they differ, the cause is
//! printed: mostly numbers (misaki spells them with num2words, indextts lets espeak-ng read them)
//! and spaCy's tokenizer on rare punctuation.

mod common;

use std::path::PathBuf;

use common::{corpus_lines, corpus_text};
use indextts::Synthesizer;

fn misaki_python() -> PathBuf {
    let path = std::env::var_os("INDEXTTS_MISAKI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/misaki-venv/bin/python")
        });
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh --reference, which installs the pinned misaki reference",
        path.display()
    );
    path
}

/// misaki's phonemes of each text.
fn misaki(texts: &[String], british: bool) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![root.join("scripts/misaki_reference.py").into_os_string()];
    if british {
        args.push("--british".into());
    }
    common::reference_json(&misaki_python(), &args, &texts)
}

fn voice(name: &str) -> Synthesizer {
    Synthesizer::builder()
        .voice(name)
        .threads(1)
        .build()
        .unwrap_or_else(|e| panic!("cannot load {name} ({e}); run scripts/setup.sh --reference"))
}

/// Our phonemes of `text`: its sentences' phonemes, joined by spaces as misaki joins words.
fn ours(synth: &Synthesizer, text: &str) -> String {
    let sentences = synth.phonemize(text).unwrap();
    let pieces: Vec<String> = sentences.iter().map(|s| s.phonemes.concat()).collect();
    pieces.join(" ")
}

/// Length of the longest common subsequence of `a` and `b`.
fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diagonal + 1 } else { up.max(row[j]) };
            diagonal = up;
        }
    }
    row[b.len()]
}

/// (identical words, words), printing each text that differs.
fn agreement(voice_name: &str, british: bool, texts: &[String]) -> (usize, usize) {
    let synth = voice(voice_name);
    let reference = misaki(texts, british);
    let (mut same, mut total) = (0, 0);
    for (text, theirs) in texts.iter().zip(&reference) {
        let mine = ours(&synth, text);
        let a: Vec<&str> = theirs.split_whitespace().collect();
        let b: Vec<&str> = mine.split_whitespace().collect();
        let common = lcs(&a, &b);
        same += common;
        total += a.len().max(b.len());
        if common != a.len().max(b.len()) {
            let differ: Vec<(&str, &str)> = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x != y)
                .map(|(x, y)| (*x, *y))
                .take(8)
                .collect();
            println!("DIFF in {text:?}:\n  misaki {theirs}\n  ours   {mine}\n  first differences (misaki, ours): {differ:?}");
        }
    }
    println!(
        "word agreement with misaki 0.9.4 ({voice_name}): {same}/{total} = {:.1}%",
        100.0 * same as f64 / total as f64
    );
    (same, total)
}

fn english_corpus() -> Vec<String> {
    let mut texts = corpus_lines("en_sentences.txt");
    texts.push(corpus_text("en_paragraph.txt"));
    texts.extend(corpus_text("en_long.txt").split("\n\n").map(str::to_owned));
    texts
}

/// American English (`af_heart`): at least 97% of the corpus's words read exactly as misaki.
#[test]
fn american_phonemes_agree_with_misaki() {
    let (same, total) = agreement("af_heart", false, &english_corpus());
    assert!(
        same as f64 >= 0.97 * total as f64,
        "{same}/{total} words agree with misaki"
    );
}

/// British English (`bf_emma`, misaki's gb lexicons): at least 95%.
#[test]
fn british_phonemes_agree_with_misaki() {
    let (same, total) = agreement("bf_emma", true, &corpus_lines("en_sentences.txt"));
    assert!(
        same as f64 >= 0.95 * total as f64,
        "{same}/{total} words agree with misaki"
    );
}

/// Harder text (abbreviations, ellipses, `?!`, quotes, numbers, e-mail: tests/data/en_tricky.txt),
/// where numbers read by espeak-ng instead of num2words make most of the difference.
#[test]
fn phoneme_agreement_on_tricky_text() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/en_tricky.txt");
    let texts: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let (same, total) = agreement("af_heart", false, &texts);
    assert!(
        same as f64 >= 0.93 * total as f64,
        "{same}/{total} words agree with misaki"
    );
}
