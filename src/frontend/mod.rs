//! Text -> sentences of phonemes -> model symbol ids, following Piper's conventions.
//!
//! Piper (piper-tts 1.8.0, `phonemize_espeak.py` and `phoneme_ids.py`) does, per espeak-ng clause:
//! drop language-switch flags such as `(fr)`, append the clause's punctuation (and a space after
//! `, : ;`), decompose with Unicode NFD, and take every code point as one phoneme. A sentence's
//! ids are `^ _`, then each phoneme's id followed by `_`, then `$`. indextts does the same, cuts a
//! sentence that grows past [`MAX_SENTENCE_PHONEMES`] at a word boundary (text without punctuation
//! must not make one unbounded sentence), and skips symbols the voice lacks, reporting them.

pub mod espeak;
pub(crate) mod kokoro;
pub(crate) mod lexicon;
pub(crate) mod misaki;
mod numbers;
pub(crate) mod words;
#[cfg(feature = "zh")]
pub mod zh;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use unicode_normalization::UnicodeNormalization;

use crate::error::Result;
use crate::voice::{PhonemeSymbols, PhonemeType, BOS, EOS, PAD};
pub use lexicon::Lexicon;
pub(crate) use lexicon::Pronunciations;

/// Longest sentence, in phonemes, before it is cut at a word boundary (about 30 s of speech).
pub const MAX_SENTENCE_PHONEMES: usize = 400;

/// Text is phonemized in segments of about this many bytes, cut where espeak-ng would end a
/// sentence anyway, so that a long text starts speaking at once and its clauses never all sit in
/// memory together.
pub const SEGMENT_BYTES: usize = 2048;

/// One sentence, ready for the acoustic model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Phonemes: for Piper voices one Unicode scalar value each (after NFD), punctuation
    /// included; for Mandarin voices Baker phones (`sil`, `#0`, `zh`, `ong1`, ...).
    pub phonemes: Vec<String>,
    /// Model symbol ids: `^ _ (p _)* $` for Piper voices, `sil ... sil eos` for Baker voices.
    pub phoneme_ids: Vec<i64>,
    /// Phonemes (Piper) or characters of the text (Mandarin) the voice has no symbol for; they
    /// were skipped.
    pub missing: BTreeSet<char>,
    /// Whether anything of the sentence is spoken (a sentence of unknown symbols alone is not).
    pub spoken: bool,
    /// The words of the text the sentence says, in order, with their ids (empty when the
    /// frontend does not know them).
    pub words: Vec<WordSpan>,
}

/// A word of the text and the phoneme ids that say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordSpan {
    /// The word's bytes in the text given to [`TextFrontend::sentences`].
    pub text: std::ops::Range<usize>,
    /// Its ids in [`Sentence::phoneme_ids`].
    pub ids: std::ops::Range<usize>,
}

impl Sentence {
    /// Whether any phoneme of the sentence has an id (a sentence without any is not spoken).
    pub fn has_phonemes(&self) -> bool {
        self.spoken
    }
}

/// Text to sentences of model ids, for one voice. A third voice family brings its own.
pub(crate) trait TextFrontend: Send + Sync + std::fmt::Debug {
    /// Cut `text` into pieces that phonemize exactly as the whole text does, of about
    /// [`SEGMENT_BYTES`] each, so that a long text starts speaking at once.
    fn segments<'a>(&self, text: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a>;

    /// Split one segment into sentences of phonemes and ids. Blank text gives no sentence.
    fn sentences(&self, segment: &str) -> Result<Vec<Sentence>>;

    /// [`TextFrontend::sentences`], the words that `say` names spoken as it says (spans are
    /// byte ranges of `segment`). A frontend whose phonemes are not IPA ignores them.
    fn sentences_with(&self, segment: &str, say: Pronunciations<'_>) -> Result<Vec<Sentence>> {
        if !say.is_empty() {
            tracing::debug!("this voice's frontend takes no IPA; pronunciations are ignored");
        }
        self.sentences(segment)
    }

    /// The phoneme an id of the voice's symbol table stands for (`None` for padding and
    /// sentence boundaries, which say nothing).
    fn symbol(&self, id: i64) -> Option<&str>;

    /// [`Error::UnsupportedText`](crate::Error::UnsupportedText) when `text` holds a script
    /// this frontend cannot read, checked before any audio. Most frontends read anything
    /// (espeak-ng spells out what its language lacks, as Piper does).
    fn check_script(&self, _text: &str) -> Result<()> {
        Ok(())
    }
}

/// A voice's symbol table read backwards: each id's symbol, for phoneme marks.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolNames(HashMap<i64, String>);

impl SymbolNames {
    /// The names of `table`'s ids (symbol -> ids), leaving out the symbols `silent` names.
    pub fn new<'a, I>(
        table: impl IntoIterator<Item = (&'a str, I)>,
        silent: impl Fn(&str) -> bool,
    ) -> Self
    where
        I: IntoIterator<Item = i64>,
    {
        let mut names = HashMap::new();
        for (symbol, ids) in table {
            if !silent(symbol) {
                for id in ids {
                    // Two symbols for one id: keep one, the same one every time.
                    names
                        .entry(id)
                        .and_modify(|s: &mut String| {
                            if symbol < s.as_str() {
                                *s = symbol.to_owned();
                            }
                        })
                        .or_insert_with(|| symbol.to_owned());
                }
            }
        }
        SymbolNames(names)
    }

    /// `id`'s symbol.
    pub fn get(&self, id: i64) -> Option<&str> {
        self.0.get(&id).map(String::as_str)
    }
}

/// Where espeak-ng's library and data live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakPaths {
    /// `libespeak-ng.so`.
    pub library: PathBuf,
    /// The `espeak-ng-data` directory.
    pub data: PathBuf,
}

/// Text to sentences for a Piper voice: espeak-ng's phonemes, or the text's own characters.
#[derive(Debug, Clone)]
pub(crate) struct PiperFrontend {
    espeak: Option<EspeakPaths>,
    linking_glides: bool,
    symbols: PhonemeSymbols,
    names: SymbolNames,
}

impl PiperFrontend {
    /// A frontend for a voice's `symbols`; espeak-ng is loaded and the voice checked now, not
    /// on first use.
    pub fn new(symbols: &PhonemeSymbols, espeak: EspeakPaths) -> Result<Self> {
        let uses_espeak = symbols.phoneme_type == PhonemeType::Espeak;
        if uses_espeak {
            espeak::check(&espeak.library, &espeak.data, &symbols.espeak_voice)?;
        }
        Ok(PiperFrontend {
            espeak: uses_espeak.then_some(espeak),
            linking_glides: symbols.espeak_voice.starts_with("en")
                && symbols.phoneme_id_map.contains_key("\u{2b2}"),
            symbols: symbols.clone(),
            names: SymbolNames::new(
                symbols
                    .phoneme_id_map
                    .iter()
                    .map(|(p, ids)| (p.as_str(), ids.iter().copied())),
                |p| [PAD, BOS, EOS].contains(&p),
            ),
        })
    }
}

impl TextFrontend for PiperFrontend {
    fn symbol(&self, id: i64) -> Option<&str> {
        self.names.get(id)
    }

    fn segments<'a>(&self, text: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        Box::new(segments(text))
    }

    fn sentences(&self, text: &str) -> Result<Vec<Sentence>> {
        self.sentences_with(text, Pronunciations::default())
    }

    fn sentences_with(&self, text: &str, say: Pronunciations<'_>) -> Result<Vec<Sentence>> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut text_words = Vec::with_capacity(text.len() / 4 + 1);
        let phonemes = match (&self.symbols.phoneme_type, &self.espeak) {
            (PhonemeType::Espeak, Some(paths)) => {
                let phonemize = |text: &str| {
                    espeak::phonemize(
                        &paths.library,
                        &paths.data,
                        &self.symbols.espeak_voice,
                        text,
                    )
                };
                let clauses = phonemize(text)?;
                // Each clause's words, phonemized alone, to align the clause's phonemes with:
                // all in one call, a blank line (a paragraph, so a clause) after each word.
                // The lexicon's and the text's own pronunciations replace what espeak-ng says
                // for their words, after the alignment.
                let clause_words: Vec<Vec<(std::ops::Range<usize>, Option<String>)>> = clauses
                    .iter()
                    .map(|c| say.apply(text, words::text_words(text, c.span.clone())))
                    .collect();
                let all: Vec<&str> = clause_words
                    .iter()
                    .flatten()
                    .map(|(w, _)| &text[w.clone()])
                    .collect();
                let alone_said = words::phonemize_alone(&all, |t| {
                    Ok(phonemize(t)?
                        .into_iter()
                        .map(|c| (c.span, strip_language_flags(&c.phonemes)))
                        .collect())
                })?;
                let mut said = alone_said.into_iter();
                let mut alone = Vec::with_capacity(clauses.len());
                let mut replaced: HashMap<u32, Vec<char>> = HashMap::new();
                for words in clause_words {
                    let count = words.len();
                    alone.push((
                        text_words.len() as u32,
                        said.by_ref().take(count).collect::<Vec<_>>(),
                    ));
                    for (word, ipa) in words {
                        if let Some(ipa) = ipa {
                            replaced.insert(text_words.len() as u32, ipa.nfd().collect());
                        }
                        text_words.push(word);
                    }
                }
                tagged_sentences(&clauses, self.linking_glides, |k, phonemes| {
                    let (first, said) = &alone[k];
                    let tagged = phonemes
                        .iter()
                        .copied()
                        .zip(words::tag_phonemes(phonemes, said))
                        .map(|(c, t)| (c, t.map(|w| first + w)))
                        .collect();
                    words::substitute(tagged, &replaced)
                })
            }
            _ => {
                text_words = words::text_words(text, 0..text.len());
                cut_sentence(tag_text(text, &text_words))
            }
        };
        Ok(phonemes
            .into_iter()
            .filter(|p| p.iter().any(|(c, _)| !c.is_whitespace()))
            .map(|p| tagged_sentence(p, &self.symbols.phoneme_id_map, &text_words))
            .collect())
    }
}

/// A phoneme and the word of the text it says (an index into the segment's words).
pub(crate) type Tagged = (char, Option<u32>);

/// The text's own characters (NFD) as phonemes, each tagged with the word it belongs to.
fn tag_text(text: &str, words: &[std::ops::Range<usize>]) -> Vec<Tagged> {
    let mut word = 0;
    let mut out = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        while words.get(word).is_some_and(|w| w.end <= at) {
            word += 1;
        }
        let tag = words
            .get(word)
            .filter(|w| w.contains(&at))
            .map(|_| word as u32);
        out.extend(std::iter::once(c).nfd().map(|d| (d, tag)));
    }
    out
}

/// Cut `text` into segments of about [`SEGMENT_BYTES`] that phonemize exactly as the whole text
/// does: after a blank line, or after `. ? !` and the white space that follows them (before an
/// upper-case letter, for `.`). The white space stays with the segment before the cut, where
/// espeak-ng reads it to tell a paragraph from a sentence. Text with no such place is cut at
/// white space after `4 * SEGMENT_BYTES`.
pub fn segments(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = segment_end(rest);
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

fn segment_end(text: &str) -> usize {
    if text.len() <= SEGMENT_BYTES {
        return text.len();
    }
    let bytes = text.as_bytes();
    let hard_limit = floor_char_boundary(text, 4 * SEGMENT_BYTES);
    let mut i = SEGMENT_BYTES / 2;
    while i < hard_limit {
        let b = bytes[i];
        if matches!(b, b'.' | b'?' | b'!' | b'\n') {
            // End of the white-space run after position i.
            let run_end = i
                + 1
                + text[i + 1..]
                    .find(|c: char| !c.is_whitespace())
                    .unwrap_or(text.len() - i - 1);
            let space = &text[i + 1..run_end];
            let paragraph = space.matches('\n').count() + usize::from(b == b'\n') >= 2;
            let next = text[run_end..].chars().next();
            let sentence = !space.is_empty()
                && match b {
                    b'.' => next.is_some_and(char::is_uppercase),
                    b'?' | b'!' => true,
                    _ => false,
                };
            if paragraph || sentence {
                return run_end;
            }
            i = run_end.max(i + 1);
        } else {
            i += 1;
        }
    }
    // No sentence end: cut after the last white space before the limit (or at the limit).
    text[..hard_limit]
        .rfind(char::is_whitespace)
        .map(|j| j + text[j..].chars().next().map_or(1, char::len_utf8))
        .filter(|&j| j > 0)
        .unwrap_or(hard_limit.max(text.chars().next().map_or(1, char::len_utf8)))
}

/// The largest char boundary at or below `index`.
pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Group espeak-ng clauses into sentences of phonemes, as Piper does.
pub fn sentences_from_clauses(clauses: &[espeak::Clause], linking_glides: bool) -> Vec<Vec<char>> {
    tagged_sentences(clauses, linking_glides, |_, p| {
        p.iter().map(|&c| (c, None)).collect()
    })
    .into_iter()
    .map(|s| s.into_iter().map(|(c, _)| c).collect())
    .collect()
}

/// [`sentences_from_clauses`], each phoneme tagged by `tag` (clause index, the clause's
/// phonemes -> the clause's phonemes, each tagged, some perhaps replaced).
fn tagged_sentences(
    clauses: &[espeak::Clause],
    linking_glides: bool,
    mut tag: impl FnMut(usize, &[char]) -> Vec<Tagged>,
) -> Vec<Vec<Tagged>> {
    let mut sentences = Vec::new();
    let mut current: Vec<Tagged> = Vec::with_capacity(MAX_SENTENCE_PHONEMES);
    for (k, clause) in clauses.iter().enumerate() {
        let mut text = strip_language_flags(&clause.phonemes);
        if linking_glides {
            text = insert_linking_glides(&text);
        }
        if let Some(t) = clause.terminator {
            text.push(t);
            if matches!(t, ',' | ':' | ';') {
                text.push(' ');
            }
        }
        let phonemes: Vec<char> = text.nfd().collect();
        current.extend(tag(k, &phonemes));
        while current.len() > MAX_SENTENCE_PHONEMES {
            let rest = split_at_word(&mut current);
            sentences.push(std::mem::replace(&mut current, rest));
        }
        if clause.sentence_end {
            let next = Vec::with_capacity(MAX_SENTENCE_PHONEMES);
            sentences.push(std::mem::replace(&mut current, next));
        }
    }
    if !current.is_empty() {
        sentences.push(current);
    }
    sentences.retain(|s| !s.is_empty());
    sentences
}

/// One sentence of phonemes, cut into pieces of at most [`MAX_SENTENCE_PHONEMES`].
fn cut_sentence(mut phonemes: Vec<Tagged>) -> Vec<Vec<Tagged>> {
    let mut out = Vec::new();
    while phonemes.len() > MAX_SENTENCE_PHONEMES {
        let rest = split_at_word(&mut phonemes);
        out.push(std::mem::replace(&mut phonemes, rest));
    }
    out.push(phonemes);
    out
}

/// Cut `phonemes` to at most [`MAX_SENTENCE_PHONEMES`], at the last space in its second half if
/// there is one; returns what was cut off, without its leading spaces.
fn split_at_word(phonemes: &mut Vec<Tagged>) -> Vec<Tagged> {
    let limit = MAX_SENTENCE_PHONEMES;
    let cut = phonemes[..limit]
        .iter()
        .rposition(|&(c, _)| c == ' ')
        .filter(|&i| i >= limit / 2)
        .unwrap_or(limit);
    let rest: Vec<Tagged> = phonemes[cut..]
        .iter()
        .copied()
        .skip_while(|&(c, _)| c == ' ')
        .collect();
    phonemes.truncate(cut);
    rest
}

/// Remove espeak-ng's language-switch flags, `(en)`, `(fr)`: Piper's `re.sub(r"\([^)]+\)", "", s)`.
pub fn strip_language_flags(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        match rest[open + 1..].find(')') {
            Some(len) if len > 0 => {
                out.push_str(&rest[..open]);
                rest = &rest[open + 1 + len + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

const VOWELS: &[char] = &[
    'a', 'e', 'i', 'o', 'u', 'æ', 'ɑ', 'ɒ', 'ɔ', 'ə', 'ɛ', 'ɜ', 'ɪ', 'ʊ', 'ʌ', 'ɐ', 'ɚ', 'ɝ',
];

/// Words espeak-ng's English dictionary marks `$pause`: a short pause before them breaks linking.
const PAUSE_WORDS: &[&str] = &["ænd", "ɔːɹ", "ɪf", "ɔːlðoʊ", "ɪnstɛd"];

/// The `ʲ` linking glide that espeak-ng 1.52.0.1 writes between an `i`/`ɪ` and a following vowel
/// ("the old" -> `ðɪʲ ˈoʊld`, "studying" -> `stˈʌdiʲɪŋ`), which the 1.52.0 library lacks.
///
/// Reconstructed from piper-tts 1.8.0's output: not after the second half of a diphthong
/// (`eɪ aɪ ɔɪ`), not into a word-internal `ə` (`iə` is one phoneme), not before a `$pause` word.
pub fn insert_linking_glides(phonemes: &str) -> String {
    let chars: Vec<char> = phonemes.chars().collect();
    let mut out = String::with_capacity(phonemes.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        let after_diphthong = out
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|p| matches!(p, 'e' | 'a' | 'ɔ' | 'o'));
        if !matches!(c, 'i' | 'ɪ') || after_diphthong {
            continue;
        }
        if c == 'i' && chars.get(i) == Some(&'ː') {
            out.push('ː');
            i += 1;
        }
        let mut k = i;
        let boundary = chars.get(k) == Some(&' ');
        if boundary {
            k += 1;
        }
        if matches!(chars.get(k), Some('ˈ' | 'ˌ')) {
            k += 1;
        }
        let Some(&next) = chars.get(k) else { continue };
        if !VOWELS.contains(&next) || (!boundary && next == 'ə') {
            continue;
        }
        if boundary {
            let word: String = chars[i + 1..]
                .iter()
                .take_while(|&&c| c != ' ')
                .filter(|&&c| !matches!(c, 'ˈ' | 'ˌ'))
                .collect();
            if PAUSE_WORDS.contains(&word.as_str()) {
                continue;
            }
        }
        out.push('\u{2b2}');
    }
    out
}

/// Ids for one sentence: `^ _ (p _)* $`, skipping phonemes the voice lacks.
pub fn sentence(phonemes: Vec<char>, map: &HashMap<String, Vec<i64>>) -> Sentence {
    tagged_sentence(phonemes.into_iter().map(|c| (c, None)).collect(), map, &[])
}

/// [`sentence`], with the words of `text_words` that the tagged phonemes say.
fn tagged_sentence(
    tagged: Vec<Tagged>,
    map: &HashMap<String, Vec<i64>>,
    text_words: &[std::ops::Range<usize>],
) -> Sentence {
    let mut words: Vec<WordSpan> = Vec::with_capacity(tagged.len() / 4 + 1);
    let (phonemes, tags): (Vec<char>, Vec<Option<u32>>) = tagged.into_iter().unzip();
    let id = |s: &str| map.get(s).map(Vec::as_slice).unwrap_or(&[]);
    let (pad, bos, eos) = (id(PAD), id(BOS), id(EOS));
    let mut phoneme_ids = Vec::with_capacity(2 * phonemes.len() + 3);
    phoneme_ids.extend_from_slice(bos);
    phoneme_ids.extend_from_slice(pad);
    let mut missing = BTreeSet::new();
    let mut spoken = false;
    let mut buf = [0u8; 4];
    for (&p, &tag) in phonemes.iter().zip(&tags) {
        match map.get(&*p.encode_utf8(&mut buf)) {
            Some(ids) => {
                let start = phoneme_ids.len();
                phoneme_ids.extend_from_slice(ids);
                phoneme_ids.extend_from_slice(pad);
                spoken = true;
                let Some(text) = tag.and_then(|w| text_words.get(w as usize)) else {
                    continue;
                };
                match words.last_mut() {
                    Some(last) if last.text == *text => last.ids.end = phoneme_ids.len(),
                    _ => words.push(WordSpan {
                        text: text.clone(),
                        ids: start..phoneme_ids.len(),
                    }),
                }
            }
            None => {
                missing.insert(p);
            }
        }
    }
    phoneme_ids.extend_from_slice(eos);
    Sentence {
        phonemes: phonemes.into_iter().map(String::from).collect(),
        phoneme_ids,
        missing,
        spoken,
        words,
    }
}

#[cfg(test)]
mod tests {
    use super::espeak::Clause;
    use super::*;

    fn clause(p: &str, t: Option<char>, end: bool) -> Clause {
        Clause {
            phonemes: p.into(),
            terminator: t,
            sentence_end: end,
            span: 0..0,
        }
    }

    #[test]
    fn clauses_group_into_sentences_with_punctuation() {
        let s = sentences_from_clauses(
            &[
                clause("həlˈoʊ", Some(','), false),
                clause("wˈɜːld", Some('.'), true),
                clause("(fr)bɔ̃ʒˈuʁ(en)", None, true),
            ],
            false,
        );
        let text: Vec<String> = s.iter().map(|p| p.iter().collect()).collect();
        assert_eq!(text[0], "həlˈoʊ, wˈɜːld.");
        // NFD splits the nasal vowel into its base and the combining tilde.
        assert_eq!(text[1], "bɔ\u{303}ʒˈuʁ");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn segments_cut_at_sentence_ends_and_rejoin_to_the_text() {
        let sentence = "The river was shallower than it had been. ";
        let text = sentence.repeat(200);
        let parts: Vec<&str> = segments(&text).collect();
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        for p in &parts[..parts.len() - 1] {
            assert!(p.ends_with(". "), "{:?}", &p[p.len() - 10..]);
            assert!(p.len() <= 4 * SEGMENT_BYTES);
        }
        // Paragraphs: the blank line stays with the paragraph before it.
        let para = format!("{}\n\n", "Word word word, word".repeat(60));
        let text = para.repeat(5);
        let parts: Vec<&str> = segments(&text).collect();
        assert_eq!(parts.concat(), text);
        assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with("\n\n")));
        // No sentence end at all, and multi-byte text: cut at white space, on char boundaries.
        let text = "naïve café ".repeat(2000);
        let parts: Vec<&str> = segments(&text).collect();
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.len() <= 4 * SEGMENT_BYTES));
        let text = "é".repeat(10_000);
        assert_eq!(segments(&text).collect::<Vec<_>>().concat(), text);
        assert_eq!(segments("").count(), 0);
    }

    #[test]
    fn language_flags_are_removed() {
        assert_eq!(strip_language_flags("a(en)b(fr)c"), "abc");
        assert_eq!(strip_language_flags("a()b(c"), "a()b(c");
    }

    #[test]
    fn linking_glides_follow_piper() {
        assert_eq!(insert_linking_glides("ðɪ ˈoʊld"), "ðɪʲ ˈoʊld");
        assert_eq!(insert_linking_glides("stˈʌdiɪŋ"), "stˈʌdiʲɪŋ");
        assert_eq!(insert_linking_glides("θɹˈiː ʌvðə"), "θɹˈiːʲ ʌvðə");
        assert_eq!(insert_linking_glides("slˈoʊli ænd"), "slˈoʊli ænd");
        assert_eq!(insert_linking_glides("ɹˈiəli"), "ɹˈiəli");
        assert_eq!(insert_linking_glides("ˌaɪˈiː"), "ˌaɪˈiː");
        assert_eq!(insert_linking_glides("dˈeɪˈoʊld"), "dˈeɪˈoʊld");
    }

    #[test]
    fn ids_pad_every_phoneme_and_skip_unknown_ones() {
        let map: HashMap<String, Vec<i64>> = [("_", 0), ("^", 1), ("$", 2), ("a", 5), ("b", 6)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), vec![v]))
            .collect();
        let s = sentence(vec!['a', 'x', 'b'], &map);
        assert_eq!(s.phoneme_ids, vec![1, 0, 5, 0, 6, 0, 2]);
        assert_eq!(s.missing.into_iter().collect::<Vec<_>>(), vec!['x']);
    }

    #[test]
    fn sentences_without_punctuation_are_cut_at_words() {
        let word = "wˈɜːd ";
        let long: String = word.repeat(200);
        let s = sentences_from_clauses(&[clause(long.trim_end(), None, true)], false);
        assert!(s.len() > 1);
        assert!(s.iter().all(|p| p.len() <= MAX_SENTENCE_PHONEMES));
        let rejoined: usize = s.iter().map(Vec::len).sum::<usize>() + s.len() - 1;
        assert_eq!(rejoined, long.trim_end().chars().count());
        assert!(s[..s.len() - 1].iter().all(|p| p.last() != Some(&' ')));
    }
}
