//! Kokoro's English grapheme-to-phoneme: misaki's (misaki 0.9.4, `en.py`, Apache-2.0) lexicon
//! route in Rust, with espeak-ng for the words the lexicons lack, as misaki falls back to it.
//!
//! Kokoro v1.0 was trained on misaki's phonemes: its own symbols for diphthongs and affricates
//! (`A I O W Y ʤ ʧ`, and `T` for the flap), stress marks placed before the stressed vowel, and
//! punctuation kept. A word is looked up in the gold lexicon, then the silver one, with misaki's
//! case rules and its `-s`, `-ed` and `-ing` stemming; what is left goes to espeak-ng and through
//! misaki's mapping from espeak-ng's symbols to its own.
//!
//! misaki tags words with spaCy's `en_core_web_sm` (served only by a model hub). Here, as in the
//! reference the tests compare against (`scripts/misaki_reference.py`), the tags come from rules:
//! punctuation gets its Penn Treebank tag, `a an the` are determiners, `I` a pronoun, `to` and
//! `in` prepositions, and every other word is untagged, so a heteronym that needs its part of
//! speech (`read`, `live`) takes misaki's default reading.

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

const PRIMARY: char = 'ˈ';
const SECONDARY: char = 'ˌ';
const VOWELS: &str = "AIOQWYaiuæɑɒɔəɛɜɪʊʌᵻ";
const CONSONANTS: &str = "bdfhjklmnpstvwzðŋɡɹɾʃʒʤʧθ";
const US_TAUS: &str = "AIOWYiuæɑəɛɪɹʊʌ";
/// Punctuation Kokoro's vocabulary keeps.
pub(crate) const PUNCTS: &str = ";:,.!?—…\"“”";
const NON_QUOTE_PUNCTS: &str = ";:,.!?—…";
const SUBTOKEN_JUNKS: &str = "',-._‘’/";

fn is_vowel(c: char) -> bool {
    VOWELS.contains(c)
}

/// One lexicon entry: a pronunciation, or one per part-of-speech tag (with `DEFAULT`).
#[derive(Debug, Clone)]
enum Entry {
    Plain(String),
    Tagged(HashMap<String, Option<String>>),
}

/// What a word's neighbours to the right tell its reading (misaki's `TokenContext`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    /// Whether the next word starts with a vowel; `None` before punctuation or the end.
    /// (misaki's other field, whether the next word is `to`, matters only to words tagged
    /// as past-tense verbs, which the rule tagger never tags.)
    pub future_vowel: Option<bool>,
}

/// misaki's gold and silver lexicons of one English.
#[derive(Debug)]
pub(crate) struct Lexicon {
    british: bool,
    golds: HashMap<String, Entry>,
    silvers: HashMap<String, Entry>,
}

impl Lexicon {
    /// Read the gold and silver lexicons (misaki's `us_*.json` or `gb_*.json`).
    pub fn load(gold: &Path, silver: &Path, british: bool) -> Result<Self> {
        // The two files at once (each is a few megabytes of JSON).
        let (golds, silvers) = std::thread::scope(|s| {
            let silvers = s.spawn(|| read_lexicon(silver).map(grow));
            let golds = read_lexicon(gold).map(grow);
            let silvers = silvers
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (golds, silvers)
        });
        Ok(Lexicon {
            british,
            golds: golds?,
            silvers: silvers?,
        })
    }

    /// A lexicon from entries given directly (tests).
    #[cfg(test)]
    fn from_plain(golds: &[(&str, &str)], british: bool) -> Self {
        let golds = golds
            .iter()
            .map(|(k, v)| (k.to_string(), Entry::Plain(v.to_string())))
            .collect();
        Lexicon {
            british,
            golds: grow(golds),
            silvers: HashMap::new(),
        }
    }

    fn gold_default(&self, word: &str) -> Option<String> {
        match self.golds.get(word)? {
            Entry::Plain(p) => Some(p.clone()),
            Entry::Tagged(tags) => tags.get("DEFAULT").cloned().flatten(),
        }
    }

    fn get_nnp(&self, word: &str) -> Option<String> {
        let mut ps = String::new();
        for c in word.chars().filter(|c| c.is_alphabetic()) {
            ps.push_str(&self.gold_default(&c.to_uppercase().to_string())?);
        }
        let ps = apply_stress(&ps, Some(0.0));
        // The last secondary stress becomes primary.
        Some(match ps.rfind(SECONDARY) {
            Some(i) => format!("{}{PRIMARY}{}", &ps[..i], &ps[i + SECONDARY.len_utf8()..]),
            None => ps,
        })
    }

    fn special_case(
        &self,
        word: &str,
        tag: &str,
        stress: Option<f64>,
        ctx: Context,
    ) -> Option<String> {
        if let Some(name) = symbol_name(word) {
            return self.lookup(name, "", None, Some(ctx));
        }
        let trimmed = word.trim_matches('.');
        if trimmed.contains('.')
            && is_alpha(&word.replace('.', ""))
            && word
                .split('.')
                .map(|p| p.chars().count())
                .max()
                .unwrap_or(0)
                < 3
        {
            return self.get_nnp(word);
        }
        match word {
            "a" | "A" => Some(if tag == "DT" { "ɐ" } else { "ˈA" }.into()),
            "am" | "Am" | "AM" => {
                if tag.starts_with("NN") {
                    self.get_nnp(word)
                } else if ctx.future_vowel.is_none()
                    || word != "am"
                    || stress.is_some_and(|s| s > 0.0)
                {
                    self.gold_default("am")
                } else {
                    Some("ɐm".into())
                }
            }
            "an" | "An" | "AN" => {
                if word == "AN" && tag.starts_with("NN") {
                    self.get_nnp(word)
                } else {
                    Some("ɐn".into())
                }
            }
            "I" if tag == "PRP" => Some(format!("{SECONDARY}I")),
            "to" | "To" => self.to(ctx),
            "TO" if tag == "TO" || tag == "IN" => self.to(ctx),
            "in" | "In" => Some(self.in_(tag, ctx)),
            "IN" if tag != "NNP" => Some(self.in_(tag, ctx)),
            "the" | "The" => Some(the(ctx)),
            "THE" if tag == "DT" => Some(the(ctx)),
            "used" | "Used" | "USED" => match self.golds.get("used") {
                Some(Entry::Tagged(tags)) => tags.get("DEFAULT").cloned().flatten(),
                _ => None,
            },
            _ => None,
        }
    }

    fn to(&self, ctx: Context) -> Option<String> {
        match ctx.future_vowel {
            None => self.gold_default("to"),
            Some(false) => Some("tə".into()),
            Some(true) => Some("tʊ".into()),
        }
    }

    fn in_(&self, tag: &str, ctx: Context) -> String {
        let stress = if ctx.future_vowel.is_none() || tag != "IN" {
            "ˈ"
        } else {
            ""
        };
        format!("{stress}ɪn")
    }

    fn is_known(&self, word: &str) -> bool {
        if self.golds.contains_key(word)
            || symbol_name(word).is_some()
            || self.silvers.contains_key(word)
        {
            return true;
        }
        if !is_alpha(word) || !word.chars().all(is_lexicon_char) {
            return false;
        }
        let mut chars = word.chars();
        if word.chars().count() == 1 {
            return true;
        }
        if word == word.to_uppercase() && self.golds.contains_key(&word.to_lowercase()) {
            return true;
        }
        chars.next();
        let rest = chars.as_str();
        rest == rest.to_uppercase()
    }

    fn lookup(
        &self,
        word: &str,
        tag: &str,
        stress: Option<f64>,
        ctx: Option<Context>,
    ) -> Option<String> {
        let mut word = word.to_owned();
        let mut is_nnp = false;
        if word == word.to_uppercase() && !self.golds.contains_key(&word) {
            word = word.to_lowercase();
            is_nnp = tag == "NNP";
        }
        let mut entry = self.golds.get(&word);
        if entry.is_none() && !is_nnp {
            entry = self.silvers.get(&word);
        }
        let ps = match entry {
            None => None,
            Some(Entry::Plain(p)) => Some(p.clone()),
            Some(Entry::Tagged(tags)) => {
                let key =
                    if ctx.is_some_and(|c| c.future_vowel.is_none()) && tags.contains_key("None") {
                        "None".to_owned()
                    } else if tags.contains_key(tag) {
                        tag.to_owned()
                    } else {
                        parent_tag(tag).to_owned()
                    };
                match tags.get(&key) {
                    Some(p) => p.clone(),
                    None => tags.get("DEFAULT").cloned().flatten(),
                }
            }
        };
        if ps.is_none() || (is_nnp && !ps.as_deref().is_some_and(|p| p.contains(PRIMARY))) {
            if let Some(nnp) = self.get_nnp(&word) {
                return Some(nnp);
            }
        }
        ps.map(|p| apply_stress(&p, stress))
    }

    fn suffix_s(&self, stem: &str) -> Option<String> {
        let last = stem.chars().next_back()?;
        Some(if "ptkfθ".contains(last) {
            format!("{stem}s")
        } else if "szʃʒʧʤ".contains(last) {
            format!("{stem}{}z", if self.british { 'ɪ' } else { 'ᵻ' })
        } else {
            format!("{stem}z")
        })
    }

    fn stem_s(&self, word: &str, tag: &str, stress: Option<f64>, ctx: Context) -> Option<String> {
        let n = word.chars().count();
        if n < 3 || !word.ends_with('s') {
            return None;
        }
        let stem = if !word.ends_with("ss") && self.is_known(&word[..word.len() - 1]) {
            word[..word.len() - 1].to_owned()
        } else if (word.ends_with("'s")
            || (n > 4 && word.ends_with("es") && !word.ends_with("ies")))
            && self.is_known(&word[..word.len() - 2])
        {
            word[..word.len() - 2].to_owned()
        } else if n > 4
            && word.ends_with("ies")
            && self.is_known(&format!("{}y", &word[..word.len() - 3]))
        {
            format!("{}y", &word[..word.len() - 3])
        } else {
            return None;
        };
        self.suffix_s(&self.lookup(&stem, tag, stress, Some(ctx))?)
    }

    fn suffix_ed(&self, stem: &str) -> Option<String> {
        let chars: Vec<char> = stem.chars().collect();
        let last = *chars.last()?;
        let taus = if self.british { 'ɪ' } else { 'ᵻ' };
        Some(if "pkfθʃsʧ".contains(last) {
            format!("{stem}t")
        } else if last == 'd' {
            format!("{stem}{taus}d")
        } else if last != 't' {
            format!("{stem}d")
        } else if self.british || chars.len() < 2 {
            format!("{stem}ɪd")
        } else if US_TAUS.contains(chars[chars.len() - 2]) {
            format!("{}ɾᵻd", &stem[..stem.len() - 1])
        } else {
            format!("{stem}ᵻd")
        })
    }

    fn stem_ed(&self, word: &str, tag: &str, stress: Option<f64>, ctx: Context) -> Option<String> {
        let n = word.chars().count();
        if n < 4 || !word.ends_with('d') {
            return None;
        }
        let stem = if !word.ends_with("dd") && self.is_known(&word[..word.len() - 1]) {
            &word[..word.len() - 1]
        } else if n > 4
            && word.ends_with("ed")
            && !word.ends_with("eed")
            && self.is_known(&word[..word.len() - 2])
        {
            &word[..word.len() - 2]
        } else {
            return None;
        };
        self.suffix_ed(&self.lookup(stem, tag, stress, Some(ctx))?)
    }

    fn suffix_ing(&self, stem: &str) -> Option<String> {
        let chars: Vec<char> = stem.chars().collect();
        let last = *chars.last()?;
        if self.british {
            if "əː".contains(last) {
                return None;
            }
        } else if chars.len() > 1 && last == 't' && US_TAUS.contains(chars[chars.len() - 2]) {
            return Some(format!("{}ɾɪŋ", &stem[..stem.len() - 1]));
        }
        Some(format!("{stem}ɪŋ"))
    }

    fn stem_ing(&self, word: &str, tag: &str, stress: Option<f64>, ctx: Context) -> Option<String> {
        let n = word.chars().count();
        if n < 5 || !word.ends_with("ing") {
            return None;
        }
        let base = &word[..word.len() - 3];
        let stem = if n > 5 && self.is_known(base) {
            base.to_owned()
        } else if self.is_known(&format!("{base}e")) {
            format!("{base}e")
        } else if n > 5 && doubled_before_ing(word) && self.is_known(&word[..word.len() - 4]) {
            word[..word.len() - 4].to_owned()
        } else {
            return None;
        };
        self.suffix_ing(&self.lookup(&stem, tag, stress, Some(ctx))?)
    }

    fn get_word(&self, word: &str, tag: &str, stress: Option<f64>, ctx: Context) -> Option<String> {
        if let Some(ps) = self.special_case(word, tag, stress, ctx) {
            return Some(ps);
        }
        let lower = word.to_lowercase();
        let mut word = word.to_owned();
        let rest: String = word.chars().skip(1).collect();
        if word.chars().count() > 1
            && is_alpha(&word.replace('\'', ""))
            && word != lower
            && (tag != "NNP" || word.chars().count() > 7)
            && !self.golds.contains_key(&word)
            && !self.silvers.contains_key(&word)
            && (word == word.to_uppercase() || rest == rest.to_lowercase())
            && (self.golds.contains_key(&lower)
                || self.silvers.contains_key(&lower)
                || self.stem_s(&lower, tag, stress, ctx).is_some()
                || self.stem_ed(&lower, tag, stress, ctx).is_some()
                || self.stem_ing(&lower, tag, stress, ctx).is_some())
        {
            word = lower;
        }
        if self.is_known(&word) {
            return self.lookup(&word, tag, stress, Some(ctx));
        }
        if let Some(head) = word.strip_suffix("s'") {
            let possessive = format!("{head}'s");
            if self.is_known(&possessive) {
                return self.lookup(&possessive, tag, stress, Some(ctx));
            }
        }
        if let Some(head) = word.strip_suffix('\'') {
            if self.is_known(head) {
                return self.lookup(head, tag, stress, Some(ctx));
            }
        }
        self.stem_s(&word, tag, stress, ctx)
            .or_else(|| self.stem_ed(&word, tag, stress, ctx))
            .or_else(|| self.stem_ing(&word, tag, Some(stress.unwrap_or(0.5)), ctx))
    }

    /// A word's phonemes from the lexicons, or `None` for espeak-ng to read (misaki's
    /// `Lexicon.__call__`; numbers, which misaki spells with num2words, go to espeak-ng too).
    pub fn word(&self, text: &str, tag: &str, ctx: Context) -> Option<String> {
        let word: String = text.replace(['‘', '’'], "'").nfkc().collect();
        let stress = if word == word.to_lowercase() {
            None
        } else if word == word.to_uppercase() {
            Some(2.0)
        } else {
            Some(0.5)
        };
        self.get_word(&word, tag, stress, ctx)
    }
}

impl Lexicon {
    /// Whether `word` (ending in `.`) is an abbreviation the lexicon reads whole (`Mr.`, `etc.`)
    /// or misaki spells out (`a.m.`, `U.S.`), so that its period ends no sentence.
    pub fn is_abbreviation(&self, word: &str) -> bool {
        if self.golds.contains_key(word) || self.silvers.contains_key(word) {
            return true;
        }
        let trimmed = word.trim_matches('.');
        trimmed.contains('.')
            && is_alpha(&word.replace('.', ""))
            && word
                .split('.')
                .map(|p| p.chars().count())
                .max()
                .unwrap_or(0)
                < 3
    }

    /// A number in words, then phonemes (misaki's `get_number` for a word of its own):
    /// ordinals (`3rd`), years (`2024`), decimals, amounts of a `currency` (`$`, `£`, `€`), and
    /// `-s`, `-ed`, `-ing` after them (`1990s`). `None` when it is not a number it reads.
    pub fn number(&self, word: &str, currency: Option<char>) -> Option<String> {
        if !is_number(word) {
            return None;
        }
        let head = word.trim_end_matches(|c: char| c.is_ascii_lowercase() || c == '\'');
        let suffix = &word[head.len()..];
        let mut word = head;
        let mut result: Vec<String> = Vec::new();
        if let Some(rest) = word.strip_prefix('-') {
            result.push(self.lookup("minus", "", None, None)?);
            word = rest;
        }
        let read = |words: &[&str], result: &mut Vec<String>| -> Option<()> {
            for &w in words.iter().filter(|&&w| w != "and") {
                let stress = (w == "point").then_some(-2.0);
                result.push(self.lookup(w, "", stress, None)?);
            }
            Some(())
        };
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        let ordinal = matches!(suffix, "st" | "nd" | "rd" | "th");
        let units = currency.and_then(currency_units);
        if digits(word) && ordinal {
            let words = super::numbers::ordinal(word.parse().ok()?);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            read(&words, &mut result)?;
        } else if result.is_empty() && word.len() == 4 && units.is_none() && digits(word) {
            read(&super::numbers::year(word.parse().ok()?), &mut result)?;
        } else if word.matches('.').count() > 1 {
            for part in word.replace(',', "").split('.').filter(|p| !p.is_empty()) {
                let digit_by_digit = part.starts_with('0')
                    || (part.len() != 2 && part.chars().skip(1).any(|c| c != '0'));
                if digit_by_digit {
                    for d in part.chars() {
                        read(
                            &super::numbers::cardinal(d.to_digit(10)?.into()),
                            &mut result,
                        )?;
                    }
                } else {
                    read(&super::numbers::cardinal(part.parse().ok()?), &mut result)?;
                }
            }
        } else if let (Some((unit, subunit)), true) = (units, is_currency(word)) {
            let plain = word.replace(',', "");
            let mut pairs: Vec<(u64, &str)> = plain
                .split('.')
                .zip([unit, subunit])
                .map(|(n, u)| Some((if n.is_empty() { 0 } else { n.parse().ok()? }, u)))
                .collect::<Option<_>>()?;
            if pairs.len() > 1 {
                if pairs[1].0 == 0 {
                    pairs.truncate(1);
                } else if pairs[0].0 == 0 {
                    pairs.remove(0);
                }
            }
            for (i, (n, unit)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    result.push(self.lookup("and", "", None, None)?);
                }
                read(&super::numbers::cardinal(n), &mut result)?;
                result.push(if n != 1 && unit != "pence" {
                    self.stem_s(&format!("{unit}s"), "", None, Context::default())?
                } else {
                    self.lookup(unit, "", None, None)?
                });
            }
        } else if digits(word) {
            read(&super::numbers::cardinal(word.parse().ok()?), &mut result)?;
        } else if !word.contains('.') {
            let n: u64 = word.replace(',', "").parse().ok()?;
            if ordinal {
                let words = super::numbers::ordinal(n);
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                read(&words, &mut result)?;
            } else {
                read(&super::numbers::cardinal(n), &mut result)?;
            }
        } else {
            let plain = word.replace(',', "");
            let (whole, fraction) = plain.split_once('.')?;
            if whole.is_empty() {
                result.push(self.lookup("point", "", Some(-2.0), None)?);
                for d in fraction.chars() {
                    read(
                        &super::numbers::cardinal(d.to_digit(10)?.into()),
                        &mut result,
                    )?;
                }
            } else {
                read(
                    &super::numbers::decimal(whole.parse().ok()?, fraction),
                    &mut result,
                )?;
            }
        }
        if result.is_empty() {
            return None;
        }
        let joined = result.join(" ");
        match suffix {
            "s" | "'s" => self.suffix_s(&joined),
            "ed" | "'d" => self.suffix_ed(&joined),
            "ing" => self.suffix_ing(&joined),
            _ => Some(joined),
        }
    }
}

impl Lexicon {
    /// A number that is not a word's first piece, read digit by digit when it starts with 0 or
    /// has more than three digits (misaki's reading of `555-0199`'s second half).
    pub fn digits(&self, piece: &str) -> Option<String> {
        if !piece.chars().all(|c| c.is_ascii_digit()) || piece.is_empty() {
            return None;
        }
        if piece.starts_with('0') || piece.len() > 3 {
            let words: Option<Vec<String>> = piece
                .chars()
                .map(|d| {
                    let n = u64::from(d.to_digit(10)?);
                    self.lookup(super::numbers::cardinal(n)[0], "", None, None)
                })
                .collect();
            return words.map(|w| w.join(" "));
        }
        self.number(piece, None)
    }
}

/// misaki's `is_number` for a word of its own: digits with `,` and `.`, a leading `-`, and one
/// of its suffixes.
pub(crate) fn is_number(word: &str) -> bool {
    if !word.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut w = word;
    for s in ["ing", "'d", "ed", "'s", "st", "nd", "rd", "th", "s"] {
        if let Some(head) = w.strip_suffix(s) {
            w = head;
            break;
        }
    }
    w.char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == ',' || c == '.' || (i == 0 && c == '-'))
}

/// The units misaki reads an amount of a currency in.
pub(crate) fn currency_units(symbol: char) -> Option<(&'static str, &'static str)> {
    match symbol {
        '$' => Some(("dollar", "cent")),
        '£' => Some(("pound", "pence")),
        '€' => Some(("euro", "cent")),
        _ => None,
    }
}

/// An amount with at most two decimals.
fn is_currency(word: &str) -> bool {
    match word.matches('.').count() {
        0 => true,
        1 => word.split('.').nth(1).is_some_and(|cents| cents.len() < 3),
        _ => false,
    }
}

fn the(ctx: Context) -> String {
    if ctx.future_vowel == Some(true) {
        "ði"
    } else {
        "ðə"
    }
    .into()
}

fn symbol_name(word: &str) -> Option<&'static str> {
    Some(match word {
        "%" => "percent",
        "&" => "and",
        "+" => "plus",
        "@" => "at",
        _ => return None,
    })
}

fn parent_tag(tag: &str) -> &str {
    if tag.starts_with("VB") {
        "VERB"
    } else if tag.starts_with("NN") {
        "NOUN"
    } else if tag.starts_with("ADV") || tag.starts_with("RB") {
        "ADV"
    } else if tag.starts_with("ADJ") || tag.starts_with("JJ") {
        "ADJ"
    } else {
        tag
    }
}

/// Python's `str.isalpha`: not empty, every character a letter.
fn is_alpha(word: &str) -> bool {
    !word.is_empty() && word.chars().all(char::is_alphabetic)
}

/// The characters misaki's lexicons spell words with: `'`, `-`, ASCII letters.
fn is_lexicon_char(c: char) -> bool {
    c == '\'' || c == '-' || c.is_ascii_alphabetic()
}

/// `([bcdgklmnprstvxz])\1ing$|cking$`.
fn doubled_before_ing(word: &str) -> bool {
    if word.ends_with("cking") {
        return true;
    }
    let chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    n >= 5 && chars[n - 4] == chars[n - 5] && "bcdgklmnprstvxz".contains(chars[n - 4])
}

fn read_lexicon(path: &Path) -> Result<HashMap<String, Entry>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // Entry by entry into the map (no JSON values in between: the four lexicons are most of a
    // Kokoro voice's start-up).
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde::Deserializer::deserialize_map(&mut de, LexiconVisitor)
        .and_then(|map| de.end().map(|()| map))
        .map_err(|e| Error::VoiceConfig {
            path: path.to_path_buf(),
            reason: format!("not a misaki lexicon: {e}"),
        })
}

/// A misaki lexicon: `{"word": "phonemes" | {"DEFAULT": "phonemes", "TAG": "phonemes" | null}}`.
struct LexiconVisitor;

impl<'de> serde::de::Visitor<'de> for LexiconVisitor {
    type Value = HashMap<String, Entry>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of words to pronunciations")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut words = HashMap::with_capacity(map.size_hint().unwrap_or(0).max(1 << 16));
        while let Some(word) = map.next_key::<String>()? {
            let entry: Entry = map.next_value()?;
            if let Entry::Tagged(tags) = &entry {
                if !tags.contains_key("DEFAULT") {
                    return Err(serde::de::Error::custom(format!(
                        "entry {word:?} has tags but no DEFAULT"
                    )));
                }
            }
            words.insert(word, entry);
        }
        Ok(words)
    }
}

impl<'de> serde::Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> serde::de::Visitor<'de> for EntryVisitor {
            type Value = Entry;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pronunciation, or a map of tags to pronunciations")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Entry, E> {
                Ok(Entry::Plain(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Entry, E> {
                Ok(Entry::Plain(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entry, A::Error> {
                let mut tags = HashMap::new();
                while let Some((tag, said)) = map.next_entry::<String, Option<String>>()? {
                    tags.insert(tag, said);
                }
                Ok(Entry::Tagged(tags))
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

/// misaki's `grow_dictionary`: each lower-case word also under its capitalized form, each
/// capitalized word also in lower case (entries already there win).
fn grow(d: HashMap<String, Entry>) -> HashMap<String, Entry> {
    let mut grown: HashMap<String, Entry> = HashMap::with_capacity(d.len() * 2);
    for (k, v) in &d {
        if k.chars().count() < 2 {
            continue;
        }
        let lower = k.to_lowercase();
        let cap = capitalize(k);
        if *k == lower {
            if *k != cap {
                grown.insert(cap, v.clone());
            }
        } else if *k == capitalize(&lower) {
            grown.insert(lower, v.clone());
        }
    }
    grown.extend(d);
    grown
}

/// Python's `str.capitalize`.
fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// misaki's `apply_stress`: `stress` < -1 removes stress, -1 (or 0 / -0.5 on a stressed word)
/// lowers it, 0..1 adds a secondary stress to an unstressed word, > 1 a primary one.
pub(crate) fn apply_stress(ps: &str, stress: Option<f64>) -> String {
    let Some(stress) = stress else {
        return ps.to_owned();
    };
    let has_primary = ps.contains(PRIMARY);
    let unstressed = !has_primary && !ps.contains(SECONDARY);
    let has_vowel = ps.chars().any(is_vowel);
    if stress < -1.0 {
        ps.replace([PRIMARY, SECONDARY], "")
    } else if stress == -1.0 || ((stress == 0.0 || stress == -0.5) && has_primary) {
        ps.replace(SECONDARY, "")
            .replace(PRIMARY, &SECONDARY.to_string())
    } else if (stress == 0.0 || stress == 0.5 || stress == 1.0) && unstressed {
        if has_vowel {
            restress(&format!("{SECONDARY}{ps}"))
        } else {
            ps.to_owned()
        }
    } else if stress >= 1.0 && !has_primary && ps.contains(SECONDARY) {
        ps.replace(SECONDARY, &PRIMARY.to_string())
    } else if stress > 1.0 && unstressed {
        if has_vowel {
            restress(&format!("{PRIMARY}{ps}"))
        } else {
            ps.to_owned()
        }
    } else {
        ps.to_owned()
    }
}

/// Move each stress mark to just before the vowel it stresses.
fn restress(ps: &str) -> String {
    let chars: Vec<char> = ps.chars().collect();
    let mut placed: Vec<(f64, char)> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c == PRIMARY || c == SECONDARY {
                let vowel = (i..chars.len()).find(|&j| is_vowel(chars[j])).unwrap_or(i);
                (vowel as f64 - 0.5, c)
            } else {
                (i as f64, c)
            }
        })
        .collect();
    placed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    placed.into_iter().map(|(_, c)| c).collect()
}

/// misaki's `EspeakFallback`: espeak-ng's IPA (ties written `^`) in misaki's symbols.
pub(crate) fn from_espeak_english(ipa: &str, british: bool) -> String {
    // Longest first, as misaki sorts them.
    const E2M: [(&str, &str); 21] = [
        ("ʔˌn\u{329}", "ʔn"),
        ("ʔn\u{329}", "ʔn"),
        ("a^ɪ", "I"),
        ("a^ʊ", "W"),
        ("d^ʒ", "ʤ"),
        ("e^ɪ", "A"),
        ("t^ʃ", "ʧ"),
        ("ɔ^ɪ", "Y"),
        ("ə^l", "ᵊl"),
        ("ʲo", "jo"),
        ("ʲə", "jə"),
        ("ʲ", ""),
        ("e", "A"),
        ("ɚ", "əɹ"),
        ("r", "ɹ"),
        ("x", "k"),
        ("ç", "k"),
        ("ɐ", "ə"),
        ("ɬ", "l"),
        ("\u{303}", ""),
        ("", ""),
    ];
    let mut ps = ipa.trim().to_owned();
    for (old, new) in E2M.iter().filter(|(old, _)| !old.is_empty()) {
        ps = ps.replace(old, new);
    }
    // A syllabic consonant (combining U+0329) becomes ᵊ before it.
    let mut out = String::with_capacity(ps.len());
    let chars: Vec<char> = ps.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && chars[i + 1] == '\u{329}' && !chars[i].is_whitespace() {
            out.push('ᵊ');
            out.push(chars[i]);
            i += 2;
        } else {
            if chars[i] != '\u{329}' {
                out.push(chars[i]);
            }
            i += 1;
        }
    }
    let mut ps = out;
    if british {
        ps = ps
            .replace("e^ə", "ɛː")
            .replace("iə", "ɪə")
            .replace("ə^ʊ", "Q");
    } else {
        ps = ps
            .replace("o^ʊ", "O")
            .replace("ɜːɹ", "ɜɹ")
            .replace("ɜː", "ɜɹ")
            .replace("ɪə", "iə")
            .replace('ː', "");
    }
    ps.replace('o', "ɔ")
        .replace('ɾ', "T")
        .replace('ʔ', "t")
        .replace('^', "")
}

/// misaki's `EspeakG2P` mapping, for the languages Kokoro reads through espeak-ng alone.
pub(crate) fn from_espeak_other(ipa: &str) -> String {
    const E2M: [(&str, &str); 11] = [
        ("a^ɪ", "I"),
        ("a^ʊ", "W"),
        ("d^z", "ʣ"),
        ("d^ʒ", "ʤ"),
        ("e^ɪ", "A"),
        ("o^ʊ", "O"),
        ("s^s", "S"),
        ("t^s", "ʦ"),
        ("t^ʃ", "ʧ"),
        ("ɔ^ɪ", "Y"),
        ("ə^ʊ", "Q"),
    ];
    let mut ps = ipa.trim().to_owned();
    for (old, new) in E2M {
        ps = ps.replace(old, new);
    }
    ps.replace(['^', '-'], "")
}

/// One token of a sentence: a word, or punctuation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    /// Penn Treebank tag by rule (see the module docs); empty for untagged words.
    pub tag: &'static str,
    /// Whether white space follows.
    pub space: bool,
}

/// Split a sentence into words and punctuation, as spaCy's English tokenizer does for plain
/// prose: white space separates, and leading and trailing punctuation is split off a word.
pub(crate) fn tokenize<'a>(
    text: &'a str,
    is_abbreviation: &dyn Fn(&str) -> bool,
) -> Vec<Token<'a>> {
    let mut tokens = Vec::new();
    let mut open_quote = true;
    let mut pos = 0;
    for chunk in text.split_whitespace() {
        let start = pos + text[pos..].find(chunk).unwrap_or(0);
        pos = start + chunk.len();
        let space = text[pos..].starts_with(char::is_whitespace);
        let is_edge = |c: char| "\"“”‘(),.!?;:…—–-[]{}*«»$£€".contains(c);
        let core_start = chunk.find(|c: char| !is_edge(c)).unwrap_or(chunk.len());
        let mut core_end = chunk.rfind(|c: char| !is_edge(c)).map_or(core_start, |i| {
            i + chunk[i..].chars().next().map_or(1, char::len_utf8)
        });
        // An abbreviation keeps its period (`Mr.`, `a.m.`), as spaCy's tokenizer keeps it.
        if core_end > core_start
            && chunk[core_end..].starts_with('.')
            && is_abbreviation(&chunk[core_start..core_end + 1])
        {
            core_end += 1;
        }
        let mut pieces: Vec<(&str, bool)> = Vec::new();
        split_punctuation(&chunk[..core_start], &mut pieces);
        if core_end > core_start {
            pieces.push((&chunk[core_start..core_end], true));
        }
        split_punctuation(&chunk[core_end.max(core_start)..], &mut pieces);
        let last = pieces.len().saturating_sub(1);
        for (i, (piece, is_word)) in pieces.into_iter().enumerate() {
            let tag = if is_word {
                word_tag(piece)
            } else {
                punct_tag(
                    piece,
                    &mut open_quote,
                    tokens.last().map(|t: &Token<'_>| t.space).unwrap_or(true),
                )
            };
            tokens.push(Token {
                text: piece,
                tag,
                space: i == last && space,
            });
        }
    }
    tokens
}

/// Punctuation split into runs of one kind (`...` stays together).
fn split_punctuation<'a>(text: &'a str, pieces: &mut Vec<(&'a str, bool)>) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let run = rest.find(|d: char| d != c).unwrap_or(rest.len());
        let n = if c == '.' || c == '-' {
            run
        } else {
            c.len_utf8()
        };
        pieces.push((&rest[..n], false));
        rest = &rest[n..];
    }
}

fn word_tag(word: &str) -> &'static str {
    if word == "I" {
        return "PRP";
    }
    match word.to_lowercase().as_str() {
        "a" | "an" | "the" => "DT",
        "to" => "TO",
        "in" => "IN",
        _ => "",
    }
}

fn punct_tag(p: &str, open_quote: &mut bool, after_space: bool) -> &'static str {
    match p {
        "," => ",",
        "(" | "[" | "{" => "-LRB-",
        ")" | "]" | "}" => "-RRB-",
        ":" | ";" | "-" | "–" | "—" | "…" => ":",
        "$" | "£" | "€" => "$",
        "“" => "``",
        "”" => "''",
        "\"" => {
            let open = after_space && *open_quote;
            *open_quote = !open;
            if open {
                "``"
            } else {
                "''"
            }
        }
        _ if p.chars().all(|c| ".!?".contains(c)) => ".",
        _ => "NFP",
    }
}

/// The phonemes of a punctuation token (misaki's `PUNCT_TAG_PHONEMES`, else the text's own
/// punctuation that Kokoro keeps); `None` for a token that is not punctuation.
pub(crate) fn punct_phonemes(token: &Token<'_>) -> Option<String> {
    match token.tag {
        "-LRB-" => Some("(".into()),
        "-RRB-" => Some(")".into()),
        "``" => Some("“".into()),
        "''" => Some("”".into()),
        ":" if matches!(token.text, "-" | "–") => Some("—".into()),
        "," | ":" | "." | "NFP" => {
            Some(token.text.chars().filter(|c| PUNCTS.contains(*c)).collect())
        }
        _ => None,
    }
}

/// misaki's `token_context`: what a word's reading tells the word before it.
pub(crate) fn context_before(ctx: Context, ps: &str) -> Context {
    let future_vowel = ps
        .chars()
        .find(|&c| is_vowel(c) || CONSONANTS.contains(c) || NON_QUOTE_PUNCTS.contains(c))
        .map_or(ctx.future_vowel, |c| {
            if NON_QUOTE_PUNCTS.contains(c) {
                None
            } else {
                Some(is_vowel(c))
            }
        });
    Context {
        future_vowel: if ps.is_empty() {
            ctx.future_vowel
        } else {
            future_vowel
        },
    }
}

/// A word's pieces as misaki's subtokenizer cuts them: runs of letters (with apostrophes
/// inside), numbers (digits with `,` or `.` between them), and each other character alone.
pub(crate) fn subtokens(word: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let mut j = i + 1;
        if c.is_alphabetic() {
            while j < chars.len()
                && (chars[j].1.is_alphabetic()
                    || (matches!(chars[j].1, '\'' | '’')
                        && chars.get(j + 1).is_some_and(|(_, d)| d.is_alphabetic())))
            {
                j += 1;
            }
        } else if c.is_ascii_digit() {
            while j < chars.len()
                && (chars[j].1.is_ascii_digit()
                    || (matches!(chars[j].1, ',' | '.')
                        && chars.get(j + 1).is_some_and(|(_, d)| d.is_ascii_digit())))
            {
                j += 1;
            }
        }
        let end = chars.get(j).map_or(word.len(), |(k, _)| *k);
        out.push(&word[start..end]);
        i = j;
    }
    out
}

/// misaki's `prespace`: a word whose pieces are of more than one kind (letters, digits,
/// symbols; junk aside) or holds a `/` is read with spaces between its pieces.
pub(crate) fn spaced(word: &str) -> bool {
    let kinds: std::collections::BTreeSet<u8> = word
        .chars()
        .filter(|c| !SUBTOKEN_JUNKS.contains(*c))
        .map(|c| {
            if c.is_alphabetic() {
                0
            } else if c.is_ascii_digit() {
                1
            } else {
                2
            }
        })
        .collect();
    word.contains('/') || kinds.len() > 1
}

/// Whether a word's text is all junk that misaki reads as nothing (`'`, `-`, `.` ...).
pub(crate) fn is_junk(text: &str) -> bool {
    text.chars().all(|c| SUBTOKEN_JUNKS.contains(c))
}

/// misaki's `resolve_tokens` for a hyphenated word read part by part: when more than half of
/// the parts carry a primary stress, the lighter half of them is lowered to secondary.
pub(crate) fn resolve_parts(parts: &mut [String], texts: &[&str]) {
    let indices: Vec<(bool, usize, usize)> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, p)| (p.contains(PRIMARY), stress_weight(p), i))
        .collect();
    if indices.len() == 2 && texts[indices[0].2].chars().count() == 1 {
        let i = indices[1].2;
        parts[i] = apply_stress(&parts[i], Some(-0.5));
        return;
    }
    if indices.len() < 2 || indices.iter().filter(|x| x.0).count() <= indices.len().div_ceil(2) {
        return;
    }
    let mut sorted = indices.clone();
    sorted.sort();
    for &(_, _, i) in &sorted[..indices.len() / 2] {
        parts[i] = apply_stress(&parts[i], Some(-0.5));
    }
}

fn stress_weight(ps: &str) -> usize {
    ps.chars()
        .map(|c| if "AIOQWYʤʧ".contains(c) { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon::from_plain(
            &[
                ("hello", "həlˈO"),
                ("walk", "wˈɔk"),
                ("want", "wˈɑnt"),
                ("box", "bˈɑks"),
                ("wait", "wˈAt"),
                ("to", "tˈu"),
                ("well", "wˈɛl"),
                ("known", "nˈOn"),
            ],
            false,
        )
    }

    #[test]
    fn words_come_from_the_lexicon_with_misaki_stemming() {
        let lex = lexicon();
        let ctx = Context::default();
        assert_eq!(lex.word("hello", "", ctx).as_deref(), Some("həlˈO"));
        assert_eq!(lex.word("walks", "", ctx).as_deref(), Some("wˈɔks"));
        assert_eq!(lex.word("boxes", "", ctx).as_deref(), Some("bˈɑksᵻz"));
        assert_eq!(lex.word("walked", "", ctx).as_deref(), Some("wˈɔkt"));
        assert_eq!(lex.word("wanted", "", ctx).as_deref(), Some("wˈɑntᵻd"));
        assert_eq!(lex.word("waited", "", ctx).as_deref(), Some("wˈAɾᵻd"));
        assert_eq!(lex.word("walking", "", ctx).as_deref(), Some("wˈɔkɪŋ"));
        assert_eq!(lex.word("Hello", "", ctx).as_deref(), Some("həlˈO"));
        assert_eq!(lex.word("zyzzyva", "", ctx), None);
    }

    #[test]
    fn function_words_read_by_what_follows() {
        let lex = lexicon();
        let vowel = Context {
            future_vowel: Some(true),
        };
        let consonant = Context {
            future_vowel: Some(false),
        };
        assert_eq!(lex.word("the", "DT", vowel).as_deref(), Some("ði"));
        assert_eq!(lex.word("the", "DT", consonant).as_deref(), Some("ðə"));
        assert_eq!(lex.word("to", "TO", consonant).as_deref(), Some("tə"));
        assert_eq!(
            lex.word("to", "TO", Context::default()).as_deref(),
            Some("tˈu")
        );
        assert_eq!(lex.word("a", "DT", consonant).as_deref(), Some("ɐ"));
    }

    #[test]
    fn stress_moves_before_its_vowel() {
        assert_eq!(apply_stress("wɛl", Some(0.5)), "wˌɛl");
        assert_eq!(apply_stress("wɛl", Some(2.0)), "wˈɛl");
        assert_eq!(apply_stress("wˈɛl", Some(-0.5)), "wˌɛl");
        assert_eq!(apply_stress("wˈɛl", Some(-2.0)), "wɛl");
        let mut parts = vec!["wˈɛl".to_owned(), String::new(), "nˈOn".to_owned()];
        resolve_parts(&mut parts, &["well", "-", "known"]);
        assert_eq!(parts.concat(), "wˌɛlnˈOn");
    }

    #[test]
    fn espeak_symbols_become_misaki_symbols() {
        assert_eq!(from_espeak_english("hɛlˈo^ʊ", false), "hɛlˈO");
        assert_eq!(from_espeak_english("ɹˈa^ɪt", false), "ɹˈIt");
        assert_eq!(from_espeak_english("bˈʌɾɚ", false), "bˈʌTəɹ");
        assert_eq!(from_espeak_english("bˈɜːd", false), "bˈɜɹd");
        assert_eq!(from_espeak_other("ˈo^ʊla"), "ˈOla");
    }

    #[test]
    fn numbers_and_amounts_are_read_in_words() {
        let lex = Lexicon::from_plain(
            &[
                ("three", "θɹˈi"),
                ("dollar", "dˈɑləɹ"),
                ("cent", "sˈɛnt"),
                ("and", "ænd"),
                ("fifty", "fˈɪfti"),
                ("twenty", "twˈɛnti"),
                ("four", "fˈɔɹ"),
                ("third", "θˈɜɹd"),
            ],
            false,
        );
        assert_eq!(lex.number("3", None).as_deref(), Some("θɹˈi"));
        assert_eq!(lex.number("3rd", None).as_deref(), Some("θˈɜɹd"));
        assert_eq!(
            lex.number("2024", None).as_deref(),
            Some("twˈɛnti twˈɛnti fˈɔɹ")
        );
        assert_eq!(
            lex.number("3.50", Some('$')).as_deref(),
            Some("θɹˈi dˈɑləɹz ænd fˈɪfti sˈɛnts")
        );
        assert_eq!(lex.number("word", None), None);
        assert!(is_number("1990s") && is_number("-4") && !is_number("4-5"));
    }

    #[test]
    fn abbreviations_keep_their_period() {
        let tokens = tokenize("Mr. Smith at 5 p.m.", &|w| w == "Mr." || w == "p.m.");
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        assert_eq!(texts, ["Mr.", "Smith", "at", "5", "p.m."]);
        let tokens = tokenize("costs $3.50,", &|_| false);
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        assert_eq!(texts, ["costs", "$", "3.50", ","]);
        assert_eq!(tokens[1].tag, "$");
    }

    #[test]
    fn punctuation_is_split_off_words() {
        let tokens = tokenize("\"Hello,\" she said... (twice)", &|_| false);
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        assert_eq!(
            texts,
            ["\"", "Hello", ",", "\"", "she", "said", "...", "(", "twice", ")"]
        );
        let phonemes: Vec<Option<String>> = tokens.iter().map(punct_phonemes).collect();
        assert_eq!(phonemes[0].as_deref(), Some("“"));
        assert_eq!(phonemes[3].as_deref(), Some("”"));
        assert_eq!(phonemes[6].as_deref(), Some("..."));
        assert_eq!(phonemes[1], None);
        assert!(tokens[4].space && !tokens[5].space && !tokens[1].space);
    }
}
