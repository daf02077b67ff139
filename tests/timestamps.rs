//! Word timestamps with the real default voice: every word of the text once, in order, inside
//! the audio, where the audio itself says a word is (never inside a long silence; the pause at
//! a full stop between the words around it), the same on the streamed, whole and cached paths;
//! and the `speak` CLI's subtitle files.

mod common;

use common::{corpus_lines, corpus_text, real_voice};
use indextts::{Audio, PhonemeMark, SynthesisOptions, Synthesizer, WordMark};

/// The text's words, as a reader would mark them: white-space separated, trimmed of the
/// punctuation around them, those with a letter or digit.
fn words_of(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Silences of at least `min_ms`: runs of 10 ms frames whose RMS is below 0.3% of full scale
/// (-50 dBFS: a weak fricative such as the /f/ of "fork" is above it), as sample ranges.
fn silences(audio: &Audio, min_ms: u64) -> Vec<std::ops::Range<u64>> {
    let frame = (audio.sample_rate / 100) as usize;
    let quiet: Vec<bool> = audio
        .samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() < 0.003)
        .collect();
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &q) in quiet.iter().chain([&false]).enumerate() {
        match (q, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if (i - s) as u64 * 10 >= min_ms {
                    runs.push(
                        (s * frame) as u64..((i * frame) as u64).min(audio.samples.len() as u64),
                    );
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// How far before the end of a silence a word may start (ms): the worst seen on the corpus
/// was 133 ms ("fierce, but": the comma's pause and the /b/'s closure).
const EARLY_MS: u64 = 160;

/// Check `audio`'s word marks against `text` and against the audio's own energy; returns how
/// far (ms) each word that starts inside a silence starts before its end.
fn check_marks(text: &str, audio: &Audio) -> Vec<u64> {
    let words = &audio.words;
    let said: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    if text.contains(['。', '，']) {
        // Mandarin has no spaces between words: every character that is not punctuation is in
        // exactly one word, in order.
        let spoken: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
        let marked: String = said
            .concat()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        assert_eq!(marked, spoken, "every character once, in order");
    } else {
        assert_eq!(said, words_of(text), "every word once, in order");
    }
    let len = audio.samples.len() as u64;
    for pair in words.windows(2) {
        assert!(
            pair[1].start_sample >= pair[0].end_sample,
            "{pair:?} overlap"
        );
    }
    for w in words {
        assert_eq!(&text[w.text_range.clone()], w.text, "{w:?}: range");
        assert!(
            w.start_sample < w.end_sample && w.end_sample <= len,
            "{w:?} of {len}"
        );
    }
    // Phonemes: in order, without overlap, inside the audio, named, and each word starting
    // where one of its phonemes does (both come from the same durations).
    let phonemes = &audio.phonemes;
    assert!(phonemes.len() >= words.len(), "{} phonemes", phonemes.len());
    for pair in phonemes.windows(2) {
        assert!(
            pair[1].start_sample >= pair[0].end_sample,
            "{pair:?} overlap"
        );
    }
    assert!(phonemes
        .iter()
        .all(|p| !p.phoneme.is_empty() && p.start_sample <= p.end_sample && p.end_sample <= len));
    for w in words {
        assert!(
            phonemes.iter().any(|p| p.start_sample == w.start_sample),
            "{w:?} starts where no phoneme does"
        );
    }
    let rate = u64::from(audio.sample_rate);
    let ms = |samples: u64| samples * 1000 / rate;
    // A word start never falls deep inside a silence of 100 ms or more. VITS's durations give
    // a word's first phoneme part of the pause before it (a plosive's closure is silent too),
    // so a start may lie in a silence's last EARLY_MS; how deep, is the figure returned.
    let mut early = Vec::new();
    for gap in silences(audio, 100) {
        for w in words.iter().filter(|w| gap.contains(&w.start_sample)) {
            let depth = ms(gap.end - w.start_sample);
            assert!(
                depth <= EARLY_MS,
                "{:?} starts at {} ms, {depth} ms before the end of the silence {}..{} ms of {text:?}",
                w.text,
                ms(w.start_sample),
                ms(gap.start),
                ms(gap.end)
            );
            early.push(depth);
        }
    }
    // The pause at each full stop lies between the words around it: after the first one
    // starts (a model may give its last phoneme part of the pause: Kokoro's word before a
    // full stop often runs 300 ms into it) and before the next one starts.
    let gaps = silences(audio, 80);
    for pair in words.windows(2) {
        let between = &text[pair[0].text_range.end..pair[1].text_range.start];
        // A full stop, not an abbreviation's ("Dr. Smith" is read without a pause).
        if !between.contains(['.', '!', '?', '。', '！', '？'])
            || ["Dr", "Mr", "Mrs", "St"].contains(&pair[0].text.as_str())
        {
            continue;
        }
        // A word may start in the pause's last EARLY_MS, as above.
        let slack = rate * EARLY_MS / 1000;
        assert!(
            gaps.iter()
                .any(|g| g.start >= pair[0].start_sample && g.end <= pair[1].start_sample + slack),
            "no pause between {:?} (ends {} ms) and {:?} (starts {} ms); silences {:?}",
            pair[0].text,
            ms(pair[0].end_sample),
            pair[1].text,
            ms(pair[1].start_sample),
            gaps.iter()
                .map(|g| (ms(g.start), ms(g.end)))
                .collect::<Vec<_>>()
        );
    }
    early
}

fn quiet() -> SynthesisOptions {
    SynthesisOptions::default()
}

/// A sentence of numbers, abbreviations, contractions and words espeak-ng joins.
const HARD: &str = "Three of the 42 dogs, Dr. Smith said, weren't well-known. Hello again!";

/// Check the marks of `texts` spoken by `synth`, and print the figures under `label`.
fn check_voice(label: &str, synth: &Synthesizer, texts: &[String]) {
    let (mut words, mut early) = (0, Vec::new());
    for text in texts {
        let audio = synth.synthesize(text, &quiet()).unwrap();
        early.extend(check_marks(text, &audio));
        words += audio.words.len();
    }
    early.sort_unstable();
    println!(
        "{label}: {} texts, {words} words marked; {} start inside a silence of 100 ms or more, \
         at most {} ms (median {} ms) before its end",
        texts.len(),
        early.len(),
        early.last().copied().unwrap_or(0),
        early.get(early.len() / 2).copied().unwrap_or(0)
    );
}

#[test]
fn every_corpus_word_is_marked_where_it_is_said() {
    let mut texts = corpus_lines("en_sentences.txt");
    texts.push(corpus_text("en_paragraph.txt"));
    texts.push(HARD.into());
    check_voice("en_US-joe-medium", real_voice(), &texts);
}

/// Streamed, whole, a memory hit, a disk hit and a cold synthesizer all give the same marks: a
/// cached sentence keeps the durations it was made with.
#[test]
fn streamed_whole_and_cached_marks_are_identical() {
    let text = corpus_text("en_paragraph.txt");
    let dir = common::scratch("timestamps-cache");
    let build = || {
        Synthesizer::builder()
            .threads(2)
            .cache_dir(&dir)
            .build()
            .unwrap()
    };
    let synth = build();
    let (mut streamed, mut phonemes): (Vec<WordMark>, Vec<PhonemeMark>) = Default::default();
    for chunk in synth.stream(&text, &quiet()).unwrap() {
        let chunk = chunk.unwrap();
        streamed.extend(chunk.words);
        phonemes.extend(chunk.phonemes);
    }
    let whole = synth.synthesize(&text, &quiet()).unwrap();
    assert!(synth.cache_stats().memory.hits > 0);
    assert_eq!(streamed, whole.words, "streamed vs a memory hit");
    assert_eq!(
        phonemes, whole.phonemes,
        "streamed phonemes vs a memory hit"
    );
    drop(synth);
    let reopened = build();
    let from_disk = reopened.synthesize(&text, &quiet()).unwrap();
    assert!(reopened.cache_stats().disk.hits > 0);
    assert_eq!(from_disk.words, whole.words, "a disk hit");
    assert_eq!(from_disk.phonemes, whole.phonemes, "a disk hit's phonemes");
    drop(reopened);
    let cold = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();
    let fresh = cold.synthesize(&text, &quiet()).unwrap();
    assert_eq!(fresh.words, whole.words, "no cache");
    assert_eq!(fresh.phonemes, whole.phonemes, "no cache: phonemes");
    assert_eq!(fresh.samples, whole.samples);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn speak_writes_subtitles_and_timestamps() {
    let dir = common::scratch("timestamps-cli");
    let text = "Subtitles, one cue per word. They match the speech!";
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_speak"))
        .args(["--threads", "2", text, "-o"])
        .arg(dir.join("out.wav"))
        .arg("--subtitles")
        .arg(dir.join("out.vtt"))
        .arg("--timestamps")
        .arg(dir.join("out.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let vtt = std::fs::read_to_string(dir.join("out.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT\n"));
    let cues: Vec<&str> = vtt
        .split("\n\n")
        .skip(1)
        .map(|cue| cue.lines().nth(1).unwrap())
        .collect();
    assert_eq!(cues, words_of(text));
    let json: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(json.len(), cues.len());
    let reader = hound::WavReader::open(dir.join("out.wav")).unwrap();
    let seconds = reader.duration() as f64 / f64::from(reader.spec().sample_rate);
    let last_end = json.last().unwrap()["end"].as_f64().unwrap();
    assert!(last_end <= seconds + 1e-3 && last_end > 0.5 * seconds);
    // A subtitle file of an unknown kind is refused before anything is made.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_speak"))
        .args(["--threads", "2", "x", "-o"])
        .arg(dir.join("x.wav"))
        .arg("--subtitles")
        .arg(dir.join("x.txt"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(".vtt"));
    assert!(!dir.join("x.wav").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Kokoro's words come from misaki's tokens and the model's predicted durations (600 samples a
/// unit): the same checks, against the audio Kokoro makes.
#[test]
fn kokoro_marks_every_word_where_it_is_said() {
    let synth = Synthesizer::builder()
        .voice("af_heart")
        .threads(2)
        .build()
        .unwrap();
    let mut texts = corpus_lines("en_sentences.txt");
    texts.truncate(6);
    texts.push(HARD.into());
    check_voice("af_heart", &synth, &texts);
}

/// The Mandarin voice's words come from its own segmentation (jieba), led back through the
/// normalizer to the input (2026年 is one word; its reading 二零二六年 is five syllables).
#[test]
fn mandarin_marks_every_character_where_it_is_said() {
    let synth = Synthesizer::builder()
        .voice("zh_CN-baker-fastspeech2")
        .threads(2)
        .build()
        .unwrap();
    let mut texts = corpus_lines("zh_sentences.txt");
    texts.push(texts.concat());
    check_voice("zh_CN-baker-fastspeech2", &synth, &texts);
}

/// The subtitles of the corpus paragraph opened beside its WAV by a real player: GStreamer's
/// `playbin` (the engine of GNOME's video player) with the file as its `suburi`. Every cue the
/// player hands its subtitle sink comes at the word's time (to the file's millisecond) with the
/// word's text, the audio plays to its end, and each cue's stretch of audio is speech, not
/// silence.
#[test]
fn subtitles_open_in_a_real_player_at_the_times_the_words_are_said() {
    let dir = common::scratch("timestamps-player");
    let text = corpus_text("en_paragraph.txt");
    let (wav, json) = (dir.join("paragraph.wav"), dir.join("paragraph.json"));
    // speak writes one subtitle file a run: the second run is the first's cache hits.
    for kind in ["vtt", "srt"] {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_speak"))
            .args(["--threads", "2", "-q", &text, "-o"])
            .arg(&wav)
            .arg("--subtitles")
            .arg(dir.join(format!("paragraph.{kind}")))
            .arg("--timestamps")
            .arg(&json)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let words: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let rate = reader.spec().sample_rate;
    let audio = Audio {
        samples: reader
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect(),
        sample_rate: rate,
        ..Audio::default()
    };
    let marks: Vec<WordMark> = words
        .iter()
        .map(|w| {
            let at = |k: &str| (w[k].as_f64().unwrap() * f64::from(rate)).round() as u64;
            WordMark {
                text: w["word"].as_str().unwrap().to_owned(),
                text_range: 0..0,
                start_sample: at("start"),
                end_sample: at("end"),
            }
        })
        .collect();
    assert_eq!(words.len(), words_of(&text).len());

    // The player keeps the subtitles' clock (a real-time run, 23 s): both files at once.
    let played: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = ["vtt", "srt"]
            .map(|kind| {
                let (wav, subs) = (&wav, dir.join(format!("paragraph.{kind}")));
                s.spawn(move || (kind, play(wav, &subs)))
            })
            .into_iter()
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (kind, (cues, audio_end)) in played {
        assert_eq!(cues.len(), words.len(), "{kind}: cues the player gave");
        for (cue, word) in cues.iter().zip(&words) {
            let (start, end) = (
                word["start"].as_f64().unwrap(),
                word["end"].as_f64().unwrap(),
            );
            assert!(
                (cue.0 - start).abs() < 0.0015 && (cue.1 - end).abs() < 0.0015,
                "{kind}: {word} played at {:.3}..{:.3} s",
                cue.0,
                cue.1
            );
            assert_eq!(
                cue.2,
                word["word"].as_str().unwrap().len(),
                "{kind}: {word}"
            );
        }
        let seconds = audio.duration_seconds();
        assert!(
            (audio_end - seconds).abs() < 0.05,
            "{kind}: the player's audio ended at {audio_end:.3} s of {seconds:.3} s"
        );
        println!(
            "{kind}: {} cues played at their words' times; audio to {audio_end:.3} s",
            cues.len()
        );
    }
    // Each cue's audio is speech: its RMS is above the silence floor (-50 dBFS) of the checks
    // above, and the quietest is reported.
    let quietest = marks
        .iter()
        .map(|m| {
            let part = &audio.samples
                [m.start_sample as usize..(m.end_sample as usize).min(audio.samples.len())];
            let rms = (part.iter().map(|s| s * s).sum::<f32>() / part.len().max(1) as f32).sqrt();
            (rms, m.text.clone())
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    println!(
        "quietest cue: {:?} at {:.1} dBFS",
        quietest.1,
        20.0 * quietest.0.log10()
    );
    assert!(quietest.0 > 0.003, "{quietest:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Play `wav` with the subtitles `subs` through GStreamer's playbin into fake sinks: each cue the subtitle sink got (start s, end s, bytes), and where the audio ended (s).
fn play(wav: &std::path::Path, subs: &std::path::Path) -> (Vec<(f64, f64, usize)>, f64) {
    let uri = |p: &std::path::Path| format!("uri=file://{}", p.canonicalize().unwrap().display());
    let out = std::process::Command::new("gst-launch-1.0")
        .arg("-v")
        .arg("playbin")
        .arg(uri(wav))
        .arg(format!("sub{}", uri(subs)))
        .args([
            "audio-sink=fakesink name=pcm silent=false sync=false",
            "video-sink=fakesink sync=false",
            "text-sink=fakesink name=subs silent=false sync=false",
        ])
        .output()
        .expect("gst-launch-1.0 (scripts/setup.sh --reference installs GStreamer)");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gst-launch-1.0 failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "... (subs:sink) (5 bytes, dts: none, pts: 0:00:00.035000000, duration: 0:00:00.255000000, ..."
    let clock = |line: &str, key: &str| -> Option<f64> {
        let t = line.split(key).nth(1)?.split(',').next()?.trim();
        let mut parts = t.split(':');
        let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
        Some(
            h.parse::<f64>().ok()? * 3600.0
                + m.parse::<f64>().ok()? * 60.0
                + s.parse::<f64>().ok()?,
        )
    };
    let (mut cues, mut audio_end) = (Vec::new(), 0.0f64);
    for line in log.lines().filter(|l| l.contains("last-message = chain")) {
        let (Some(pts), Some(duration)) = (clock(line, "pts:"), clock(line, "duration:")) else {
            continue;
        };
        if line.contains("(subs:sink)") {
            let bytes = line
                .split("(subs:sink) (")
                .nth(1)
                .and_then(|r| r.split(' ').next());
            cues.push((pts, pts + duration, bytes.unwrap().parse().unwrap()));
        } else if line.contains("(pcm:sink)") {
            audio_end = audio_end.max(pts + duration);
        }
    }
    (cues, audio_end)
}
