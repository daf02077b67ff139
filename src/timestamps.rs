//! When each word is said: word marks from the model's own durations, and the subtitle files
//! (WebVTT, SubRip, JSON) made from them.
//!
//! Every voice family's model predicts how many frames (or samples) each phoneme id lasts
//! (Piper's `w_ceil` after `length_scale`, FastSpeech2's length regulator, Kokoro's `pred_dur`);
//! the frontend knows which ids say which word of the text. A word's start is the first sample
//! of its first id, its end the last sample of its last id, so the marks are exactly where the
//! model put the word, on the cached and streamed paths alike.

use std::fmt::Write as _;
use std::ops::Range;

use crate::frontend::Sentence;
use crate::model::Timing;

/// A word of the input text and when it is said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordMark {
    /// The word as written in the input.
    pub text: String,
    /// Its bytes in the input text (for a text stream, in everything pushed so far), so a
    /// caller can highlight it.
    pub text_range: Range<usize>,
    /// Its first sample, counted from the start of the audio.
    pub start_sample: u64,
    /// One past its last sample.
    pub end_sample: u64,
}

impl WordMark {
    /// Start in seconds at `sample_rate`.
    pub fn start_seconds(&self, sample_rate: u32) -> f64 {
        self.start_sample as f64 / f64::from(sample_rate.max(1))
    }

    /// End in seconds at `sample_rate`.
    pub fn end_seconds(&self, sample_rate: u32) -> f64 {
        self.end_sample as f64 / f64::from(sample_rate.max(1))
    }
}

/// A word or phoneme mark: what a stream places and hands out with its chunks.
pub(crate) trait Mark {
    /// Its first sample.
    fn start(&self) -> u64;
    /// Move it `by` samples later.
    fn shift(&mut self, by: u64);
}

impl Mark for WordMark {
    fn start(&self) -> u64 {
        self.start_sample
    }

    fn shift(&mut self, by: u64) {
        self.start_sample += by;
        self.end_sample += by;
    }
}

impl Mark for PhonemeMark {
    fn start(&self) -> u64 {
        self.start_sample
    }

    fn shift(&mut self, by: u64) {
        self.start_sample += by;
        self.end_sample += by;
    }
}

/// A phoneme the model says and when: one of its symbol ids (padding and boundary ids are
/// left out; pauses the model says, such as punctuation or the Mandarin voice's `sil`, are in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonemeMark {
    /// The symbol: IPA for Piper and Kokoro voices (one character, or a few for a symbol such
    /// as a tie), a Baker phone (`zh`, `ong1`, `sil`) for the Mandarin voice.
    pub phoneme: String,
    /// Its id in the voice's symbol table (what the model was given).
    pub id: i64,
    /// Its first sample, counted from the start of the audio.
    pub start_sample: u64,
    /// One past its last sample.
    pub end_sample: u64,
}

/// The phonemes of `sentence` placed by `timing`, in samples from the sentence's first sample;
/// `symbol` names an id (`None` for padding and boundaries). Empty when the timing does not
/// cover the sentence's ids.
pub(crate) fn sentence_phonemes<'s>(
    sentence: &Sentence,
    timing: &Timing,
    symbol: impl Fn(i64) -> Option<&'s str>,
) -> Vec<PhonemeMark> {
    if timing.per_id.len() != sentence.phoneme_ids.len() {
        return Vec::new();
    }
    let starts = timing.starts();
    let mut marks = Vec::with_capacity(sentence.phoneme_ids.len());
    for (k, &id) in sentence.phoneme_ids.iter().enumerate() {
        if let Some(phoneme) = symbol(id) {
            marks.push(PhonemeMark {
                phoneme: phoneme.to_owned(),
                id,
                start_sample: starts[k],
                end_sample: starts[k + 1],
            });
        }
    }
    marks
}

/// The words of `sentence` placed by `timing`, in samples from the sentence's first sample.
/// `text` is what the frontend was given, found at byte `offset` of the input. Empty when the
/// timing does not cover the sentence's ids (a model that gives no durations).
pub(crate) fn sentence_marks(
    sentence: &Sentence,
    timing: &Timing,
    text: &str,
    offset: usize,
) -> Vec<WordMark> {
    if timing.per_id.len() != sentence.phoneme_ids.len() {
        return Vec::new();
    }
    let starts = timing.starts();
    let mut marks = Vec::with_capacity(sentence.words.len());
    marks.extend(sentence.words.iter().filter_map(|w| {
        Some(WordMark {
            text: text.get(w.text.clone())?.to_owned(),
            text_range: offset + w.text.start..offset + w.text.end,
            start_sample: *starts.get(w.ids.start)?,
            end_sample: *starts.get(w.ids.end)?,
        })
    }));
    marks
}

/// Subtitle formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtitleFormat {
    /// WebVTT (`.vtt`), one cue per word.
    WebVtt,
    /// SubRip (`.srt`), one cue per word.
    SubRip,
    /// A JSON list of `{"word", "start", "end"}` in seconds (and the word's byte range).
    Json,
}

impl SubtitleFormat {
    /// The format a file name's extension names (`.vtt`, `.srt`, `.json`).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "vtt" => Some(SubtitleFormat::WebVtt),
            "srt" => Some(SubtitleFormat::SubRip),
            "json" => Some(SubtitleFormat::Json),
            _ => None,
        }
    }
}

/// `words` (at `sample_rate`) as a subtitle file of `format`.
pub fn subtitles(words: &[WordMark], sample_rate: u32, format: SubtitleFormat) -> String {
    let mut out = String::new();
    match format {
        SubtitleFormat::WebVtt => {
            out.push_str("WEBVTT\n");
            for w in words {
                let _ = write!(
                    out,
                    "\n{} --> {}\n{}\n",
                    clock(w.start_seconds(sample_rate), '.'),
                    clock(w.end_seconds(sample_rate), '.'),
                    cue_text(&w.text)
                );
            }
        }
        SubtitleFormat::SubRip => {
            for (n, w) in words.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}\n{} --> {}\n{}\n\n",
                    n + 1,
                    clock(w.start_seconds(sample_rate), ','),
                    clock(w.end_seconds(sample_rate), ','),
                    cue_text(&w.text)
                );
            }
        }
        SubtitleFormat::Json => {
            let list: Vec<serde_json::Value> = words
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "word": w.text,
                        "start": round_ms(w.start_seconds(sample_rate)),
                        "end": round_ms(w.end_seconds(sample_rate)),
                        "text_range": [w.text_range.start, w.text_range.end],
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&list).unwrap_or_default();
            out.push('\n');
        }
    }
    out
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// `HH:MM:SS.mmm` (WebVTT) or `HH:MM:SS,mmm` (SubRip).
fn clock(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A word as cue text: the characters that would end or mark up a cue escaped.
fn cue_text(word: &str) -> String {
    word.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("-->", "--&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::WordSpan;

    fn mark(text: &str, start: u64, end: u64) -> WordMark {
        WordMark {
            text: text.into(),
            text_range: 0..text.len(),
            start_sample: start,
            end_sample: end,
        }
    }

    #[test]
    fn marks_come_from_the_ids_durations() {
        let sentence = Sentence {
            phonemes: vec![],
            phoneme_ids: vec![1, 0, 5, 0, 6, 0, 7, 0, 2],
            missing: Default::default(),
            spoken: true,
            words: vec![
                WordSpan {
                    text: 0..2,
                    ids: 2..4,
                },
                WordSpan {
                    text: 3..5,
                    ids: 4..8,
                },
            ],
        };
        let timing = Timing {
            lead: 0,
            per_id: vec![256, 0, 512, 256, 256, 0, 768, 0, 256],
        };
        let marks = sentence_marks(&sentence, &timing, "ab cd", 100);
        assert_eq!(
            marks,
            [
                WordMark {
                    text: "ab".into(),
                    text_range: 100..102,
                    start_sample: 256,
                    end_sample: 1024
                },
                WordMark {
                    text: "cd".into(),
                    text_range: 103..105,
                    start_sample: 1024,
                    end_sample: 2048
                }
            ]
        );
        let short = Timing {
            lead: 0,
            per_id: vec![1; 3],
        };
        assert!(sentence_marks(&sentence, &short, "ab cd", 0).is_empty());
    }

    #[test]
    fn subtitle_files_follow_their_formats() {
        let words = [mark("Hello", 0, 11_025), mark("<you>", 11_025, 66_150)];
        let vtt = subtitles(&words, 22_050, SubtitleFormat::WebVtt);
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:00.000 --> 00:00:00.500\nHello\n\n\
             00:00:00.500 --> 00:00:03.000\n&lt;you&gt;\n"
        );
        let srt = subtitles(&words, 22_050, SubtitleFormat::SubRip);
        assert!(srt.starts_with("1\n00:00:00,000 --> 00:00:00,500\nHello\n\n2\n"));
        let json: serde_json::Value =
            serde_json::from_str(&subtitles(&words, 22_050, SubtitleFormat::Json)).unwrap();
        assert_eq!(json[1]["start"], 0.5);
        assert_eq!(json[1]["end"], 3.0);
        assert_eq!(clock(3725.5, ','), "01:02:05,500");
    }
}
