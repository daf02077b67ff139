//! Text that arrives while the audio plays: `en_paragraph.txt` fed token by token at a language
//! model's pace (20 tokens a second; words of more than 6 letters in pieces of 4, punctuation
//! apart, about 1.3 tokens a word) through `text_stream()`, against waiting for the whole text
//! and calling `stream()`. For each: time from the first token to the first audio, and the gaps
//! a listener playing the audio in real time from its first chunk would hear (the audio ran dry
//! before the next chunk came). Medians of `--runs`; writes target/bench/text_stream.json.
//!
//! ```text
//! cargo bench --bench text_stream                   # 3 runs, the paragraph
//! cargo bench --bench text_stream -- --quick        # what CI runs: 1 run, two sentences
//! cargo bench --bench text_stream -- --rate 40      # another token rate
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{median, root, Args};
use indextts::{SynthesisOptions, Synthesizer};

/// When each chunk of `samples` samples arrived, from the first token.
struct Arrivals(Vec<(Duration, usize)>);

impl Arrivals {
    fn first_audio(&self) -> f64 {
        self.0.first().map_or(f64::NAN, |a| a.0.as_secs_f64())
    }

    /// (gaps over 20 ms, their total and the longest, in seconds) for a listener who starts
    /// playing at the first chunk and plays everything in order in real time.
    fn gaps(&self, sample_rate: u32) -> (usize, f64, f64) {
        let mut played_until: Option<f64> = None;
        let (mut count, mut total, mut longest) = (0, 0.0f64, 0.0f64);
        for &(at, samples) in &self.0 {
            let at = at.as_secs_f64();
            let start = match played_until {
                Some(until) if at > until => {
                    let gap = at - until;
                    if gap > 0.020 {
                        count += 1;
                        total += gap;
                        longest = longest.max(gap);
                    }
                    at
                }
                Some(until) => until,
                None => at,
            };
            played_until = Some(start + samples as f64 / f64::from(sample_rate));
        }
        (count, total, longest)
    }
}

/// Feed `tokens` at `rate` a second into a text stream, reading its audio.
fn text_stream(synth: &Synthesizer, tokens: &[String], rate: f64) -> Arrivals {
    let (mut sink, audio) = synth
        .text_stream(&SynthesisOptions::default())
        .expect("text_stream");
    let started = Instant::now();
    let tokens = tokens.to_vec();
    let writer = std::thread::spawn(move || {
        for (i, token) in tokens.iter().enumerate() {
            let due = Duration::from_secs_f64(i as f64 / rate);
            std::thread::sleep(due.saturating_sub(started.elapsed()));
            sink.push(token).expect("push");
        }
        sink.finish().expect("finish");
    });
    let arrivals = audio
        .map(|c| (started.elapsed(), c.expect("chunk").samples.len()))
        .collect();
    writer.join().expect("writer");
    Arrivals(arrivals)
}

/// Wait for all `tokens` at `rate` a second, then `stream()` the text.
fn whole_then_stream(synth: &Synthesizer, tokens: &[String], rate: f64) -> Arrivals {
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64((tokens.len() - 1) as f64 / rate));
    let text: String = tokens.concat();
    let audio = synth
        .stream(&text, &SynthesisOptions::default())
        .expect("stream");
    Arrivals(
        audio
            .map(|c| (started.elapsed(), c.expect("chunk").samples.len()))
            .collect(),
    )
}

fn main() {
    let args = Args::from_env();
    let quick = args.flag("--quick");
    let runs: usize = args.parse("--runs", if quick { 1 } else { 3 });
    let rate: f64 = args.parse("--rate", 20.0);
    let paragraph =
        std::fs::read_to_string(root().join("../shared/corpus/en_paragraph.txt")).expect("corpus");
    let text = if quick {
        paragraph.split_inclusive(". ").take(2).collect::<String>()
    } else {
        paragraph.trim().to_owned()
    };
    let tokens = common::llm_tokens(&text);
    let synth = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .expect("the default voice (scripts/setup.sh)");
    let rate_hz = synth.sample_rate();
    // Warm the sessions so the first run is not a cold start.
    synth
        .synthesize("Warm up.", &SynthesisOptions::default())
        .expect("warm-up");
    let mut rows = Vec::new();
    for (name, run) in [
        (
            "text_stream",
            text_stream as fn(&Synthesizer, &[String], f64) -> Arrivals,
        ),
        ("whole text, then stream()", whole_then_stream),
    ] {
        let (mut first, mut gaps, mut gap_total, mut gap_longest) =
            (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let arrivals = run(&synth, &tokens, rate);
            let (count, total, longest) = arrivals.gaps(rate_hz);
            first.push(arrivals.first_audio());
            gaps.push(count as f64);
            gap_total.push(total);
            gap_longest.push(longest);
        }
        let row = serde_json::json!({
            "mode": name,
            "first_audio_s": median(first),
            "gaps": median(gaps),
            "gap_total_s": median(gap_total),
            "gap_longest_s": median(gap_longest),
        });
        println!(
            "{name:28} first audio {:6.3} s after the first token; gaps over 20 ms: {} (total {:.3} s, longest {:.3} s)",
            row["first_audio_s"].as_f64().unwrap_or(f64::NAN),
            row["gaps"],
            row["gap_total_s"].as_f64().unwrap_or(f64::NAN),
            row["gap_longest_s"].as_f64().unwrap_or(f64::NAN),
        );
        rows.push(row);
    }
    println!(
        "{} tokens at {rate} a second ({:.1} s of text), {runs} run(s), medians",
        tokens.len(),
        (tokens.len() - 1) as f64 / rate
    );
    let out = root().join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("text_stream.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "tokens": tokens.len(), "rate": rate, "runs": runs, "rows": rows,
        }))
        .unwrap_or_default(),
    );
}
