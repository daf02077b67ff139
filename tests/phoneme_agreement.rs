//! Our phoneme ids against the peer's, piper-tts 1.8.0 (pinned in scripts/piper-requirements.txt,
//! installed by scripts/setup.sh into target/piper-venv), on the shared corpus.
//!
//! Target: every sentence of en_sentences.txt and en_paragraph.txt identical. en_long.txt's rate
//! and tests/data/en_tricky.txt are checked too.

mod common;

use std::path::PathBuf;

use common::{corpus_lines, corpus_text, real_voice};

fn piper_python() -> PathBuf {
    let path = std::env::var_os("INDEXTTS_PIPER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/piper-venv/bin/python")
        });
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh, which installs the pinned piper-tts reference",
        path.display()
    );
    path
}

/// piper-tts's ids for each text: per text, per sentence.
fn piper_ids(texts: &[String]) -> Vec<Vec<Vec<i64>>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = [
        root.join("scripts/piper_reference.py").into_os_string(),
        real_voice().voice_paths().model.clone().into_os_string(),
    ];
    common::reference_json(&piper_python(), &args, &texts)
}

/// Print and return the agreement rate on `texts`, labelled `label`.
fn report(label: &str, texts: &[String]) -> (usize, usize) {
    let (same, total) = agreement(texts);
    println!(
        "phoneme agreement with piper-tts 1.8.0 ({label}): {same}/{total} sentences = {:.1}%",
        100.0 * same as f64 / total as f64
    );
    (same, total)
}

/// (identical sentences, all sentences), printing every difference.
fn agreement(texts: &[String]) -> (usize, usize) {
    let reference = piper_ids(texts);
    let (mut same, mut total) = (0, 0);
    for (text, theirs) in texts.iter().zip(&reference) {
        let ours: Vec<Vec<i64>> = real_voice()
            .phonemize(text)
            .unwrap()
            .into_iter()
            .map(|s| s.phoneme_ids)
            .collect();
        total += theirs.len().max(ours.len());
        for (i, t) in theirs.iter().enumerate() {
            if ours.get(i) == Some(t) {
                same += 1;
            } else {
                let ours_i = ours.get(i).map(Vec::len);
                println!("DIFF in {text:?}, sentence {i}: piper {} ids, ours {:?} ids\n  piper {t:?}\n  ours  {:?}", t.len(), ours_i, ours.get(i));
            }
        }
    }
    (same, total)
}

#[test]
fn phoneme_ids_agree_with_piper_tts() {
    let mut texts = corpus_lines("en_sentences.txt");
    texts.push(corpus_text("en_paragraph.txt"));
    let (same, total) = report("en_sentences + en_paragraph", &texts);
    assert_eq!(same, total, "{same}/{total} sentences identical");
}

#[test]
fn phoneme_agreement_on_the_long_story() {
    let texts: Vec<String> = corpus_text("en_long.txt")
        .split("\n\n")
        .map(str::to_owned)
        .collect();
    let (same, total) = report("en_long", &texts);
    assert_eq!(
        same, total,
        "{same}/{total} sentences identical on en_long.txt"
    );
}

/// Harder cases (abbreviations, ellipses, `?!`, quotes, numbers, e-mail) from tests/data.
#[test]
fn phoneme_agreement_on_tricky_text() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/en_tricky.txt");
    let texts: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let (same, total) = report("tests/data/en_tricky.txt", &texts);
    assert_eq!(
        same, total,
        "{same}/{total} sentences identical on en_tricky.txt"
    );
}
