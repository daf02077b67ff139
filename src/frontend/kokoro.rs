//! Text to Kokoro's token ids: sentences, misaki's phonemes (English) or espeak-ng's mapped to
//! misaki's symbols (the other languages Kokoro reads through espeak-ng, as kokoro-onnx does),
//! one token per phoneme character from the model's vocabulary.

use std::collections::{BTreeSet, HashMap};

use super::misaki::{self, Context, Lexicon};
use super::{espeak, EspeakPaths, Pronunciations, Sentence, TextFrontend, WordSpan};
use crate::error::Result;

/// Most tokens in one run of Kokoro: its text encoder has 512 positions, two of them the
/// padding at each end, and a style pack has rows for 0..510 tokens.
pub const MAX_TOKENS: usize = 509;

/// How a Kokoro voice's language becomes phonemes.
#[derive(Debug)]
pub(crate) enum Reader {
    /// misaki's lexicons, espeak-ng (`en-us` or `en-gb`) for the words they lack.
    English { lexicon: Lexicon, british: bool },
    /// espeak-ng alone, with misaki's mapping (Spanish, French, Hindi, Italian, Portuguese).
    Espeak { voice: String },
}

/// A pronunciation the caller gave for a token.
enum Given {
    /// Say the token so (misaki's symbols).
    Say(String),
    /// The token is said with the one before it (both inside one SSML `<phoneme>`).
    Merged,
}

/// A word of a sentence: its bytes in the sentence's text, and the phoneme characters that say it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WordChars {
    text: std::ops::Range<usize>,
    chars: std::ops::Range<usize>,
}

#[derive(Debug)]
pub(crate) struct KokoroFrontend {
    reader: Reader,
    espeak: EspeakPaths,
    vocab: HashMap<char, i64>,
    names: super::SymbolNames,
}

impl KokoroFrontend {
    /// espeak-ng is loaded and its voice checked now, not on first use.
    pub fn new(reader: Reader, espeak: EspeakPaths, vocab: HashMap<char, i64>) -> Result<Self> {
        espeak::check(&espeak.library, &espeak.data, reader.espeak_voice())?;
        // Id 0 pads both ends of a run and is no symbol of the vocabulary.
        let chars: Vec<(String, i64)> = vocab.iter().map(|(c, &id)| (c.to_string(), id)).collect();
        let names =
            super::SymbolNames::new(chars.iter().map(|(c, id)| (c.as_str(), [*id])), |_| false);
        Ok(KokoroFrontend {
            reader,
            espeak,
            vocab,
            names,
        })
    }

    /// The phonemes of one sentence, as misaki writes them, with the words of the sentence
    /// they say: each word's bytes in
    /// `sentence` and the range of phoneme characters that say it (English only: the other
    /// languages' phonemes come from espeak-ng whole, without their words).
    fn tagged_phonemes(
        &self,
        sentence: &str,
        say: Pronunciations<'_>,
    ) -> Result<(String, Vec<WordChars>)> {
        match &self.reader {
            Reader::English { lexicon, british } => self.english(lexicon, *british, sentence, say),
            Reader::Espeak { voice } => {
                let clauses = espeak::phonemize_tied(
                    &self.espeak.library,
                    &self.espeak.data,
                    voice,
                    sentence,
                )?;
                let mut out = String::new();
                for clause in clauses {
                    let ps =
                        misaki::from_espeak_other(&super::strip_language_flags(&clause.phonemes));
                    if ps.is_empty() {
                        continue;
                    }
                    out.push_str(&ps);
                    out.extend(clause.terminator);
                    out.push(' ');
                }
                Ok((out.trim_end().to_owned(), Vec::new()))
            }
        }
    }

    fn english(
        &self,
        lexicon: &Lexicon,
        british: bool,
        sentence: &str,
        say: Pronunciations<'_>,
    ) -> Result<(String, Vec<WordChars>)> {
        let tokens = misaki::tokenize(sentence, &|w| lexicon.is_abbreviation(w));
        // Each token's word (its bytes in the sentence, without punctuation), and what the
        // caller says it is (the lexicon, an SSML <phoneme>: IPA, mapped to misaki's symbols).
        let word_of: Vec<Option<std::ops::Range<usize>>> = tokens
            .iter()
            .map(|t| {
                let at = (t.text.as_ptr() as usize).checked_sub(sentence.as_ptr() as usize)?;
                let text = super::words::text_words(t.text, 0..t.text.len());
                let (first, last) = (text.first()?, text.last()?);
                (at + t.text.len() <= sentence.len()).then(|| at + first.start..at + last.end)
            })
            .collect();
        let said: Vec<(std::ops::Range<usize>, Option<String>)> = if say.is_empty() {
            Vec::new()
        } else {
            say.apply(sentence, word_of.iter().flatten().cloned().collect())
        };
        let given: Vec<Option<Given>> = word_of
            .iter()
            .map(|word| {
                let word = word.as_ref()?;
                let (range, ipa) = said
                    .iter()
                    .find(|(r, _)| r.start <= word.start && word.end <= r.end)?;
                if range.start < word.start {
                    return Some(Given::Merged);
                }
                ipa.as_ref()
                    .map(|ipa| Given::Say(misaki::from_espeak_english(ipa, british)))
            })
            .collect();
        // A currency symbol is read after the amount that follows it (`$3` -> three dollars).
        let mut currency = vec![None; tokens.len()];
        for (i, pair) in tokens.windows(2).enumerate() {
            if pair[0].tag == "$" && misaki::is_number(pair[1].text) {
                currency[i + 1] = pair[0].text.chars().next();
            }
        }
        let mut phonemes = vec![String::new(); tokens.len()];
        let mut ctx = Context::default();
        // Right to left, as misaki reads: a word's reading depends on the next one's first sound.
        for (i, token) in tokens.iter().enumerate().rev() {
            let ps = if let Some(given) = &given[i] {
                match given {
                    Given::Say(ps) => ps.clone(),
                    Given::Merged => String::new(),
                }
            } else if token.tag == "$" {
                match (
                    currency.get(i + 1),
                    misaki::currency_units(token.text.chars().next().unwrap_or(' ')),
                ) {
                    (Some(Some(_)), _) => String::new(),
                    (_, Some((unit, _))) => lexicon.word(unit, "", ctx).unwrap_or_default(),
                    _ => String::new(),
                }
            } else {
                match misaki::punct_phonemes(token) {
                    Some(ps) => ps,
                    None if misaki::is_junk(token.text) => String::new(),
                    None => self.english_word(lexicon, british, token, currency[i], ctx)?,
                }
            };
            ctx = misaki::context_before(ctx, &ps);
            phonemes[i] = ps;
        }
        let mut out = String::new();
        let mut words: Vec<WordChars> = Vec::new();
        let mut chars = 0;
        for (i, (token, ps)) in tokens.iter().zip(&phonemes).enumerate() {
            out.push_str(ps);
            let said = ps.chars().count();
            // A word inside an SSML <phoneme> with the word before it is said with it.
            if let (Some(Given::Merged), Some(last), Some(word)) =
                (&given[i], words.last_mut(), &word_of[i])
            {
                last.text.end = word.end;
            }
            // A token of the sentence's own text (not punctuation) that says something.
            if let Some(word) = word_of[i].as_ref().filter(|_| said > 0) {
                words.push(WordChars {
                    text: word.clone(),
                    chars: chars..chars + said,
                });
            }
            chars += said;
            if token.space {
                out.push(' ');
                chars += 1;
            }
        }
        // The trimmed white space shifts every word's characters.
        let lead = out.chars().take_while(|c| c.is_whitespace()).count();
        for w in &mut words {
            w.chars = w.chars.start.saturating_sub(lead)..w.chars.end.saturating_sub(lead);
        }
        // Kokoro v1.0 has no flap or glottal stop of its own: misaki writes them `T` and `t`
        // (one character for one: the words' character ranges hold).
        Ok((out.trim().replace('ɾ', "T").replace('ʔ', "t"), words))
    }

    fn english_word(
        &self,
        lexicon: &Lexicon,
        british: bool,
        token: &misaki::Token<'_>,
        currency: Option<char>,
        ctx: Context,
    ) -> Result<String> {
        if let Some(ps) = lexicon.word(token.text, token.tag, ctx) {
            return Ok(ps);
        }
        if let Some(ps) = lexicon.number(token.text, currency) {
            return Ok(ps);
        }
        // A word of several pieces (`well-known`, `221B`, `info@example.com`) is read piece by
        // piece when every piece is known, as misaki reads spaCy's subtokens.
        let texts = misaki::subtokens(token.text);
        if texts.len() > 1 {
            let parts: Option<Vec<String>> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if misaki::is_junk(t) {
                        Some(String::new())
                    } else if i == 0 {
                        lexicon
                            .word(t, "", ctx)
                            .or_else(|| lexicon.number(t, currency))
                    } else {
                        lexicon.word(t, "", ctx).or_else(|| lexicon.digits(t))
                    }
                })
                .collect();
            if let Some(mut parts) = parts {
                if misaki::spaced(token.text) {
                    parts.retain(|p| !p.is_empty());
                    return Ok(parts.join(" "));
                }
                misaki::resolve_parts(&mut parts, &texts);
                return Ok(parts.concat());
            }
        }
        let voice = if british { "en" } else { "en-us" };
        let clauses =
            espeak::phonemize_tied(&self.espeak.library, &self.espeak.data, voice, token.text)?;
        let ipa: Vec<String> = clauses
            .iter()
            .map(|c| super::strip_language_flags(&c.phonemes))
            .filter(|p| !p.trim().is_empty())
            .collect();
        Ok(misaki::from_espeak_english(&ipa.join(" "), british))
    }

    /// A piece of phonemes as a sentence of token ids (padding is the model's business); the
    /// piece's characters start at character `first` of the sentence's phonemes, whose words
    /// are `words`, and the sentence's text at byte `offset` of the segment.
    fn sentence(
        &self,
        phonemes: &str,
        first: usize,
        words: &[WordChars],
        offset: usize,
    ) -> Sentence {
        let mut missing = BTreeSet::new();
        let mut ids = Vec::with_capacity(phonemes.len());
        let mut kept = Vec::with_capacity(phonemes.len());
        let mut spans: Vec<WordSpan> = Vec::new();
        let mut word = words.iter().peekable();
        for (k, c) in phonemes.chars().enumerate() {
            match self.vocab.get(&c) {
                Some(&id) => {
                    let at = first + k;
                    while word.peek().is_some_and(|w| w.chars.end <= at) {
                        word.next();
                    }
                    if let Some(w) = word.peek().filter(|w| w.chars.contains(&at)) {
                        let text = offset + w.text.start..offset + w.text.end;
                        match spans.last_mut() {
                            Some(last) if last.text == text => last.ids.end = ids.len() + 1,
                            _ => spans.push(WordSpan {
                                text,
                                ids: ids.len()..ids.len() + 1,
                            }),
                        }
                    }
                    ids.push(id);
                    kept.push(c.to_string());
                }
                None => {
                    missing.insert(c);
                }
            }
        }
        let spoken = phonemes.chars().any(|c| {
            self.vocab.contains_key(&c) && !c.is_whitespace() && !misaki::PUNCTS.contains(c)
        });
        Sentence {
            phonemes: kept,
            phoneme_ids: ids,
            missing,
            spoken,
            words: spans,
        }
    }
}

impl Reader {
    fn espeak_voice(&self) -> &str {
        match self {
            Reader::English { british: true, .. } => "en",
            Reader::English { .. } => "en-us",
            Reader::Espeak { voice } => voice,
        }
    }
}

impl TextFrontend for KokoroFrontend {
    fn symbol(&self, id: i64) -> Option<&str> {
        self.names.get(id)
    }

    /// As every frontend cuts, but the text's first clause is a segment of its own: Kokoro
    /// runs a sentence whole (its decoder normalizes over the whole sentence, so it cannot be
    /// decoded in windows), and a first clause of a few words is first audio after a fraction
    /// of the first sentence's time. The cost is one more run, cut where Kokoro pauses anyway.
    fn segments<'a>(&self, text: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        let head = first_clause(text);
        let rest = &text[head.len()..];
        Box::new(
            std::iter::once(head)
                .filter(|h| !h.is_empty())
                .chain(super::segments(rest)),
        )
    }

    fn sentences(&self, segment: &str) -> Result<Vec<Sentence>> {
        self.sentences_with(segment, Pronunciations::default())
    }

    /// No Kokoro voice indextts installs reads Chinese characters, kana or hangul: misaki
    /// and espeak-ng would spell each one out by name, which no listener wants.
    fn check_script(&self, text: &str) -> Result<()> {
        let Some((offset, character)) = text.char_indices().find(|&(_, c)| cjk_script(c).is_some())
        else {
            return Ok(());
        };
        let hint = match cjk_script(character) {
            Some("Han") => "; the Mandarin voice zh_CN-baker-fastspeech2 reads it",
            Some("kana") => "; indextts has no Japanese voice yet",
            _ => "",
        };
        let language = match &self.reader {
            Reader::English { british: true, .. } => "en-gb",
            reader => reader.espeak_voice(),
        };
        Err(crate::Error::UnsupportedText {
            language: language.to_owned(),
            character,
            offset,
            hint: hint.to_owned(),
        })
    }

    fn sentences_with(&self, segment: &str, say: Pronunciations<'_>) -> Result<Vec<Sentence>> {
        // Text streams and frames reach here without the synthesizer's up-front check.
        self.check_script(segment)?;
        let mut sentences = Vec::new();
        let abbreviation = |w: &str| match &self.reader {
            Reader::English { lexicon, .. } => lexicon.is_abbreviation(w),
            Reader::Espeak { .. } => false,
        };
        for text in split_sentences(segment, &abbreviation) {
            // Sentences and pieces are slices of the segment and of the phonemes.
            let offset = text.as_ptr() as usize - segment.as_ptr() as usize;
            let spans: Vec<(std::ops::Range<usize>, String)> = say
                .spans
                .iter()
                .filter(|(r, _)| r.start >= offset && r.end <= offset + text.len())
                .map(|(r, ipa)| (r.start - offset..r.end - offset, ipa.clone()))
                .collect();
            let say = Pronunciations {
                lexicon: say.lexicon,
                spans: &spans,
            };
            let (phonemes, words) = self.tagged_phonemes(text, say)?;
            for piece in cut(&phonemes, MAX_TOKENS) {
                let at = piece.as_ptr() as usize - phonemes.as_ptr() as usize;
                let first = phonemes[..at].chars().count();
                let sentence = self.sentence(piece, first, &words, offset);
                if !sentence.phoneme_ids.is_empty() {
                    sentences.push(sentence);
                }
            }
        }
        Ok(sentences)
    }
}

/// The East Asian script `c` belongs to, if any: what no Kokoro reader here can say.
fn cjk_script(c: char) -> Option<&'static str> {
    match u32::from(c) {
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => Some("Han"),
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Some("kana"),
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Some("hangul"),
        _ => None,
    }
}

/// Longest first clause cut off a text's first sentence, in bytes.
pub const FIRST_CLAUSE_MAX_BYTES: usize = 80;
/// Shortest first sentence that is cut (in bytes, about 12 words).
pub const MIN_CUT_SENTENCE_BYTES: usize = 60;

/// The text's first clause with the white space after it, when its first sentence goes on past
/// a `, ; : —` after a word, within its first half and [`FIRST_CLAUSE_MAX_BYTES`], and the
/// sentence is at least [`MIN_CUT_SENTENCE_BYTES`] long; else "".
pub fn first_clause(text: &str) -> &str {
    // A run costs about as much as a word's audio plus a fixed part (0.4 s for "Hello," where
    // the whole 6-word sentence took 0.5 s, benches/kokoro_peer.rs): a short first sentence is
    // first audio soonest whole, so only a long one is cut, and only before its second half.
    let sentence = text
        .find(['.', '!', '?', '…', '\n'])
        .map_or(text.len(), |i| i + 1);
    if sentence < MIN_CUT_SENTENCE_BYTES {
        return "";
    }
    let window =
        &text[..super::floor_char_boundary(text, FIRST_CLAUSE_MAX_BYTES.min(sentence / 2))];
    for (i, c) in window.char_indices() {
        if matches!(c, ',' | ';' | ':' | '—') {
            let after = i + c.len_utf8();
            let rest = &text[after..];
            let space = rest.len() - rest.trim_start().len();
            let head = &text[..after];
            if space == 0 || rest.trim().is_empty() || !head.chars().any(char::is_alphabetic) {
                continue;
            }
            return &text[..after + space];
        }
    }
    ""
}

/// Sentences of `text`: cut after `. ! ? …` (with any closing quotes or brackets) before white
/// space, where a `.` is not followed by a lower-case word, and at every line break.
pub fn split_sentences<'a>(text: &'a str, is_abbreviation: &dyn Fn(&str) -> bool) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let mut end = None;
        if c == '\n' {
            end = Some(at + 1);
        } else if matches!(c, '.' | '!' | '?' | '…') {
            let mut j = i + 1;
            while j < chars.len()
                && matches!(
                    chars[j].1,
                    '.' | '!' | '?' | '…' | '"' | '”' | '’' | ')' | ']'
                )
            {
                j += 1;
            }
            let next_space = chars.get(j).is_none_or(|(_, d)| d.is_whitespace());
            let next_word = chars[j..]
                .iter()
                .map(|(_, d)| *d)
                .find(|d| !d.is_whitespace());
            let lower_next = c == '.' && next_word.is_some_and(char::is_lowercase);
            let word_start = text[..at].rfind(char::is_whitespace).map_or(0, |k| k + 1);
            let abbreviation = c == '.' && is_abbreviation(&text[word_start..at + 1]);
            if next_space && !lower_next && !abbreviation {
                end = Some(chars.get(j).map_or(text.len(), |(k, _)| *k));
                i = j.saturating_sub(1);
            }
        }
        if let Some(end) = end {
            if !text[start..end].trim().is_empty() {
                out.push(text[start..end].trim());
            }
            start = end;
        }
        i += 1;
    }
    if !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

/// `phonemes` in pieces of at most `max` characters, cut after a clause's punctuation where
/// there is one within the limit, else at the last space: never inside a word.
pub fn cut(phonemes: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = phonemes.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let head = &rest[..limit];
        let at = head
            .rfind([',', ';', ':', '—', '.', '!', '?'])
            .map(|i| i + head[i..].chars().next().map_or(1, char::len_utf8))
            .filter(|&i| rest[i..].starts_with(' ') && i > limit / 2)
            .or_else(|| head.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(limit);
        out.push(rest[..at].trim());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_their_punctuation() {
        assert_eq!(
            split_sentences(
                "Hello there. How are you? \"Fine!\" she said.\nNext line",
                &|_| false
            ),
            [
                "Hello there.",
                "How are you?",
                "\"Fine!\"",
                "she said.",
                "Next line"
            ]
        );
        assert_eq!(
            split_sentences("e.g. this stays", &|_| false),
            ["e.g. this stays"]
        );
        assert_eq!(
            split_sentences("Dr. Jones came. Then", &|w| w == "Dr."),
            ["Dr. Jones came.", "Then"]
        );
        assert!(split_sentences("  \n ", &|_| false).is_empty());
    }

    #[test]
    fn the_first_clause_is_a_segment_of_its_own() {
        let long = "Every evening, the keeper climbed the spiral staircase to light the lamp.";
        assert_eq!(first_clause(long), "Every evening, ");
        assert_eq!(first_clause("Hello, and welcome to the show."), "");
        assert_eq!(
            first_clause("One sentence. Then, a clause, and more words after it to be long."),
            ""
        );
        assert_eq!(
            first_clause("3,000 people came to see the lighthouse keeper light the lamp"),
            ""
        );
        assert_eq!(first_clause(&format!("{}, late", "word ".repeat(20))), "");
    }

    #[test]
    fn long_phonemes_are_cut_between_words() {
        let text = "wˈʌn tˈu, θɹˈi fˈɔɹ fˈIv sˈɪks";
        let pieces = cut(text, 12);
        assert!(pieces.iter().all(|p| p.chars().count() <= 12), "{pieces:?}");
        assert_eq!(pieces.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(pieces[0], "wˈʌn tˈu,");
        let words: BTreeSet<&str> = text.split(' ').collect();
        for piece in &pieces {
            for word in piece.split(' ') {
                assert!(words.contains(word), "{word} is not a whole word");
            }
        }
        assert_eq!(cut("short", 12), ["short"]);
    }
}
