//! Pinyin from pypinyin's dictionaries (the pinned `pypinyin` wheel's `pinyin_dict.json` and
//! `phrases_dict.json`, fetched with the voice): a character's most common reading, and the
//! readings of the words whose characters read differently together (polyphones by phrase).
//! Readings are kept as pypinyin's `Style.TONE3` with neutral tones as `5` (`zhong1`, `lv4`,
//! `ma5`), the form the Baker processor takes.

use std::collections::HashMap;
use std::path::Path;

use std::borrow::Cow;

use serde::de::{Deserializer as _, Error as _, MapAccess, Visitor};

use crate::error::{Error, Result};

/// Characters and phrases with their readings.
#[derive(Debug)]
pub(crate) struct PinyinDict {
    chars: HashMap<char, Box<str>>,
    phrases: HashMap<Box<str>, Box<[Box<str>]>>,
    /// Characters in the longest phrase.
    longest_phrase: usize,
}

/// pypinyin's phrase dictionary, `{"phrase": [["reading", ...], ...]}`, read into the map the
/// dictionary keeps (each character's first reading, in TONE3), with the longest phrase's
/// length; a phrase whose readings do not match its characters is an error.
struct PhrasesVisitor;

/// A JSON string, borrowed from the input when it has no escapes (pypinyin's files have none).
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

type Phrases = HashMap<Box<str>, Box<[Box<str>]>>;

impl<'de> Visitor<'de> for PhrasesVisitor {
    type Value = (Phrases, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of phrases to their readings")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut phrases = HashMap::with_capacity(map.size_hint().unwrap_or(0).max(1 << 16));
        let mut longest = 1;
        while let Some(Text(phrase)) = map.next_key::<Text<'de>>()? {
            let readings: Vec<Vec<Text<'de>>> = map.next_value()?;
            let count = phrase.chars().count();
            if count != readings.len() || readings.iter().any(Vec::is_empty) {
                return Err(A::Error::custom(format!(
                    "{phrase:?} has {} readings for {count} characters",
                    readings.len()
                )));
            }
            longest = longest.max(count);
            let readings: Box<[Box<str>]> = readings
                .iter()
                .map(|r| tone3(&r[0].0).into_boxed_str())
                .collect();
            phrases.insert(phrase.into_owned().into_boxed_str(), readings);
        }
        Ok((phrases, longest))
    }
}

impl PinyinDict {
    /// Read pypinyin's two JSON dictionaries.
    pub fn load(chars_path: &Path, phrases_path: &Path) -> Result<Self> {
        let read = |path: &Path| std::fs::read(path).map_err(|e| Error::io(path, e));
        Self::from_json(&read(chars_path)?, &read(phrases_path)?).map_err(|(which, reason)| {
            Error::VoiceConfig {
                path: [chars_path, phrases_path][which].to_path_buf(),
                reason,
            }
        })
    }

    /// Parse pypinyin's dictionaries: `chars` maps code points to readings, `phrases` phrases
    /// to one list of readings per character. An error names which (0: `chars`, 1: `phrases`)
    /// and why.
    pub fn from_json(chars: &[u8], phrases: &[u8]) -> std::result::Result<Self, (usize, String)> {
        let raw_chars: HashMap<String, String> =
            serde_json::from_slice(chars).map_err(|e| (0, e.to_string()))?;
        let mut chars = HashMap::with_capacity(raw_chars.len());
        for (code, readings) in raw_chars {
            let c = code
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| (0, format!("{code:?} is not a code point")))?;
            let first = readings.split(',').next().unwrap_or_default();
            chars.insert(c, tone3(first).into_boxed_str());
        }
        // Read entry by entry into the final map: no map of owned strings in between (the
        // phrase dictionary is most of a Mandarin voice's start-up).
        let mut de = serde_json::Deserializer::from_slice(phrases);
        let (phrases, longest_phrase) = de
            .deserialize_map(PhrasesVisitor)
            .and_then(|read| de.end().map(|()| read))
            .map_err(|e| (1, e.to_string()))?;
        Ok(PinyinDict {
            chars,
            phrases,
            longest_phrase,
        })
    }

    /// The readings of a word of Han characters: pypinyin's way, forward maximum matching over
    /// the phrase dictionary within the word, single characters by their first reading.
    /// `None` for a character with no reading.
    pub fn word(&self, word: &str) -> Vec<Option<&str>> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        let mut out = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let longest = (chars.len() - i).min(self.longest_phrase);
            let found = (2..=longest).rev().find_map(|n| {
                let start = chars[i].0;
                let end = chars.get(i + n).map_or(word.len(), |&(b, _)| b);
                self.phrases.get(&word[start..end]).map(|r| (n, r))
            });
            match found {
                Some((n, readings)) => {
                    out.extend(readings.iter().map(|r| Some(&**r)));
                    i += n;
                }
                None => {
                    out.push(self.chars.get(&chars[i].1).map(|r| &**r));
                    i += 1;
                }
            }
        }
        out
    }
}

/// A reading with tone marks to `TONE3` with neutral tone `5`: `zhōng` -> `zhong1`, `lǜ` ->
/// `lv4`, `ma` -> `ma5`, `ń` -> `n2`.
pub fn tone3(marked: &str) -> String {
    let mut base = String::with_capacity(marked.len() + 1);
    let mut tone = 5;
    for c in marked.chars() {
        let (plain, t) = match c {
            'ā' => ('a', 1),
            'á' => ('a', 2),
            'ǎ' => ('a', 3),
            'à' => ('a', 4),
            'ē' => ('e', 1),
            'é' => ('e', 2),
            'ě' => ('e', 3),
            'è' => ('e', 4),
            'ī' => ('i', 1),
            'í' => ('i', 2),
            'ǐ' => ('i', 3),
            'ì' => ('i', 4),
            'ō' => ('o', 1),
            'ó' => ('o', 2),
            'ǒ' => ('o', 3),
            'ò' => ('o', 4),
            'ū' => ('u', 1),
            'ú' => ('u', 2),
            'ǔ' => ('u', 3),
            'ù' => ('u', 4),
            'ǖ' => ('v', 1),
            'ǘ' => ('v', 2),
            'ǚ' => ('v', 3),
            'ǜ' => ('v', 4),
            'ü' => ('v', 0),
            'ḿ' => ('m', 2),
            'ń' => ('n', 2),
            'ň' => ('n', 3),
            'ǹ' => ('n', 4),
            other => (other, 0),
        };
        base.push(plain);
        if t != 0 {
            tone = t;
        }
    }
    base.push(char::from(b'0' + tone));
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_marks_become_numbers() {
        for (marked, numbered) in [
            ("zhōng", "zhong1"),
            ("wén", "wen2"),
            ("lǜ", "lv4"),
            ("lüe", "lve5"),
            ("ma", "ma5"),
            ("ń", "n2"),
            ("ér", "er2"),
        ] {
            assert_eq!(tone3(marked), numbered);
        }
    }

    #[test]
    fn phrases_win_over_single_characters() {
        let dict = PinyinDict {
            chars: [
                ('银', "yin2"),
                ('行', "xing2"),
                ('长', "chang2"),
                ('大', "da4"),
            ]
            .into_iter()
            .map(|(c, r)| (c, r.into()))
            .collect(),
            phrases: [("银行", ["yin2", "hang2"]), ("长大", ["zhang3", "da4"])]
                .into_iter()
                .map(|(p, r)| (p.into(), r.iter().map(|&s| s.into()).collect()))
                .collect(),
            longest_phrase: 2,
        };
        assert_eq!(
            dict.word("银行行长"),
            vec![Some("yin2"), Some("hang2"), Some("xing2"), Some("chang2")]
        );
        assert_eq!(dict.word("长大"), vec![Some("zhang3"), Some("da4")]);
        assert_eq!(dict.word("大长"), vec![Some("da4"), Some("chang2")]);
        assert_eq!(dict.word("大长猫"), vec![Some("da4"), Some("chang2"), None]);
    }
}
