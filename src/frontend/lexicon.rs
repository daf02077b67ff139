//! Pronunciations the caller gives: a user lexicon (`word<TAB>ipa` lines) and SSML's
//! `<phoneme>` spans. Both replace the phonemes of the words they name, after the phonemizer
//! ran (so the words around them keep their context) and before the ids are made (so the
//! sentence's key, its phonemes, changes with them and the cache stays honest).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Largest lexicon file read.
const MAX_LEXICON_BYTES: u64 = 16 << 20;

/// A user lexicon: words and how to say them, in IPA.
///
/// The file has one `word<TAB>ipa` entry a line; blank lines and lines starting with `#` are
/// skipped. Case: an entry written in lower case matches the word in any case (`nginx` matches
/// `Nginx` and `NGINX`); an entry with a capital letter matches only that spelling (`US` is not
/// `us`). A word is matched whole, without the punctuation around it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexicon {
    exact: HashMap<String, String>,
    any_case: HashMap<String, String>,
}

impl Lexicon {
    /// Read the lexicon at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fail = |line: usize, reason: String| Error::Lexicon {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if size > MAX_LEXICON_BYTES {
            return Err(fail(
                0,
                format!("{size} bytes; at most {MAX_LEXICON_BYTES} are read"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            fail(line, "not UTF-8".into())
        })?;
        Self::parse(&text).map_err(|(line, reason)| fail(line, reason))
    }

    /// Read a lexicon's text; an error gives the line (from 1) and what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut lexicon = Lexicon::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((word, ipa)) = line.split_once('\t') else {
                return Err((n + 1, "expected `word<TAB>ipa`".into()));
            };
            let (word, ipa) = (word.trim(), ipa.trim());
            if word.is_empty() || word.contains(char::is_whitespace) {
                return Err((n + 1, format!("{word:?} is not one word")));
            }
            if ipa.is_empty() {
                return Err((n + 1, format!("{word:?} has no pronunciation")));
            }
            let ipa: String = ipa.nfc().collect();
            if word.chars().any(char::is_uppercase) {
                lexicon.exact.insert(word.to_owned(), ipa);
            } else {
                lexicon.any_case.insert(word.to_owned(), ipa);
            }
        }
        Ok(lexicon)
    }

    /// How `word` is said, when the lexicon has it.
    pub fn get(&self, word: &str) -> Option<&str> {
        self.exact
            .get(word)
            .or_else(|| self.any_case.get(&word.to_lowercase()))
            .map(String::as_str)
    }

    /// Entries in the lexicon.
    pub fn len(&self) -> usize {
        self.exact.len() + self.any_case.len()
    }

    /// Whether the lexicon has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The pronunciations one text is spoken with: the voice's lexicon and the text's own spans.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pronunciations<'a> {
    pub lexicon: Option<&'a Lexicon>,
    /// Byte ranges of the text and their IPA (SSML `<phoneme>`), in order.
    pub spans: &'a [(Range<usize>, String)],
}

impl Pronunciations<'_> {
    /// The words of `words` (byte ranges of `text`), those inside one span merged into one word
    /// (`<phoneme ph="...">New York</phoneme>` is one word), each with the IPA it is said with,
    /// when it has one.
    pub fn apply(
        &self,
        text: &str,
        words: Vec<Range<usize>>,
    ) -> Vec<(Range<usize>, Option<String>)> {
        let mut out: Vec<(Range<usize>, Option<String>)> = Vec::with_capacity(words.len());
        for word in words {
            let span = self
                .spans
                .iter()
                .find(|(r, _)| r.start <= word.start && word.end <= r.end);
            match (span, out.last_mut()) {
                (Some((r, _)), Some((last, _))) if r.start <= last.start && last.end <= r.end => {
                    last.end = word.end;
                }
                (Some((_, ipa)), _) => out.push((word, Some(ipa.clone()))),
                (None, _) => {
                    let ipa = self
                        .lexicon
                        .and_then(|l| l.get(&text[word.clone()]))
                        .map(str::to_owned);
                    out.push((word, ipa));
                }
            }
        }
        out
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.lexicon.is_none_or(Lexicon::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_the_case_rules() {
        let lexicon = Lexicon::parse("# a comment\n\nnginx\tˈɛndʒɪnˈɛks\nUS\tjuːˈɛs\r\n").unwrap();
        assert_eq!(lexicon.len(), 2);
        assert_eq!(lexicon.get("NGINX"), Some("ˈɛndʒɪnˈɛks"));
        assert_eq!(lexicon.get("Nginx"), Some("ˈɛndʒɪnˈɛks"));
        assert_eq!(lexicon.get("US"), Some("juːˈɛs"));
        assert_eq!(lexicon.get("us"), None);
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(Lexicon::parse("ok\tɔk\nno tab here\n").unwrap_err().0, 2);
        assert_eq!(Lexicon::parse("two words\tx\n").unwrap_err().0, 1);
        assert_eq!(Lexicon::parse("word\t  \n").unwrap_err().0, 1);
    }

    #[test]
    fn spans_merge_their_words_and_win_over_the_lexicon() {
        let lexicon = Lexicon::parse("york\tjɔɹk\ncity\tsɪɾi\n").unwrap();
        let text = "New York city";
        let spans = [(0..8, "nuːjˈɔːk".to_owned())];
        let say = Pronunciations {
            lexicon: Some(&lexicon),
            spans: &spans,
        };
        let words = vec![0..3, 4..8, 9..13];
        assert_eq!(
            say.apply(text, words),
            [
                (0..8, Some("nuːjˈɔːk".into())),
                (9..13, Some("sɪɾi".into()))
            ]
        );
    }
}
