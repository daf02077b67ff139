//! Which word of the text each phoneme says: the map that word timestamps are made from.
//!
//! espeak-ng gives a clause's phonemes with words separated by spaces, but not which word of the
//! text each came from, and the two do not match one to one: it joins unstressed words
//! (`of the` -> `ʌvðə`), expands numbers and symbols (`42` -> `fˈɔːɹɾi tˈuː`) and reads
//! abbreviations. So each word of the clause is phonemized alone as well, and the clause's
//! phonemes are aligned to the words' phonemes laid end to end (an edit-distance alignment:
//! context changes a word's phonemes a little, `ðə` before a vowel is `ðɪ`, never its place).
//! Each phoneme then carries the index of the word it says.

use std::ops::Range;

/// Whether a phoneme character is part of a word (not a space or punctuation).
pub(crate) fn is_word_phoneme(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '.' | ',' | ':' | ';' | '!' | '?' | '¡' | '¿' | '—' | '…' | '"' | '«' | '»' | '“' | '”'
        ))
}

/// The words of `text[span]`: white-space separated tokens with a letter or digit, trimmed of
/// the punctuation around them (`"Hello,"` -> `Hello`), as byte ranges of `text`.
pub(crate) fn text_words(text: &str, span: Range<usize>) -> Vec<Range<usize>> {
    let Some(clause) = text.get(span.clone()) else {
        return Vec::new();
    };
    let mut words = Vec::with_capacity(clause.len() / 4 + 1);
    let mut at = 0;
    for token in clause.split(char::is_whitespace) {
        let start = at;
        at += token.len()
            + clause[at + token.len()..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
        let Some(first) = token.find(char::is_alphanumeric) else {
            continue;
        };
        let last = token
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric())
            .map_or(token.len(), |(i, c)| i + c.len_utf8());
        words.push(span.start + start + first..span.start + start + last);
    }
    words
}

/// Each of `words` phonemized alone by `phonemize` (text -> clauses as (byte span, phonemes)),
/// in one call: the words joined by blank lines, which end a clause, so each word is read as if
/// it stood alone (a word that is itself several clauses, `e.g.`, keeps them all). NFD, as the
/// sentences are.
pub(crate) fn phonemize_alone(
    words: &[&str],
    phonemize: impl FnOnce(&str) -> crate::Result<Vec<(Range<usize>, String)>>,
) -> crate::Result<Vec<Vec<char>>> {
    use unicode_normalization::UnicodeNormalization;
    const BREAK: &str = "\n\n";
    let mut joined = String::with_capacity(words.iter().map(|w| w.len() + BREAK.len()).sum());
    let mut starts = Vec::with_capacity(words.len());
    for w in words {
        starts.push(joined.len());
        joined.push_str(w);
        joined.push_str(BREAK);
    }
    let mut said = vec![Vec::new(); words.len()];
    if words.is_empty() {
        return Ok(said);
    }
    for (span, phonemes) in phonemize(&joined)? {
        // The word whose text (and the break after it) holds the clause's first byte.
        let w = starts
            .partition_point(|&s| s <= span.start)
            .saturating_sub(1);
        let out = &mut said[w];
        // Sized once (NFD rarely adds a character): the frontend runs on the stream's path.
        out.reserve(phonemes.len() + 1);
        if !out.is_empty() && !phonemes.is_empty() {
            out.push(' ');
        }
        out.extend(phonemes.nfd());
    }
    Ok(said)
}

/// `tagged` with the phonemes of each word in `replaced` (word index -> phonemes) put in place
/// of what the phonemizer said for it: from its first phoneme to its last (the spaces within,
/// as in `42` -> `fˈɔːɹɾi tˈuː`, go with them).
pub(crate) fn substitute(
    tagged: Vec<super::Tagged>,
    replaced: &std::collections::HashMap<u32, Vec<char>>,
) -> Vec<super::Tagged> {
    if replaced.is_empty() {
        return tagged;
    }
    let mut out = Vec::with_capacity(tagged.len());
    let mut i = 0;
    while i < tagged.len() {
        let Some((w, ipa)) = tagged[i]
            .1
            .and_then(|w| replaced.get(&w).map(|ipa| (w, ipa)))
        else {
            out.push(tagged[i]);
            i += 1;
            continue;
        };
        let last = tagged.iter().rposition(|&(_, t)| t == Some(w)).unwrap_or(i);
        out.extend(ipa.iter().map(|&c| (c, Some(w))));
        i = last + 1;
    }
    out
}

/// Most cells of one alignment (a clause of 400 phonemes against its words' 400): beyond it a
/// clause's phonemes are given to its words in proportion instead, which costs nothing.
const MAX_ALIGNMENT_CELLS: usize = 1 << 20;

/// For each character of `clause` (a clause's phonemes), the index of the word in `words` (each
/// word's phonemes, phonemized alone) that it says; `None` for spaces and punctuation. Indices
/// never decrease along the clause.
pub(crate) fn tag_phonemes(clause: &[char], words: &[Vec<char>]) -> Vec<Option<u32>> {
    let mut spoken = Vec::with_capacity(clause.len());
    spoken.extend((0..clause.len()).filter(|&i| is_word_phoneme(clause[i])));
    let mut tags = vec![None; clause.len()];
    if words.is_empty() || spoken.is_empty() {
        return tags;
    }
    let letters: usize = words.iter().map(Vec::len).sum();
    let (mut target, mut owner) = (Vec::with_capacity(letters), Vec::with_capacity(letters));
    for (w, ps) in words.iter().enumerate() {
        for &c in ps.iter().filter(|&&c| is_word_phoneme(c)) {
            target.push(c);
            owner.push(w as u32);
        }
    }
    let labels: Vec<u32> = if target.is_empty() || spoken.len() * target.len() > MAX_ALIGNMENT_CELLS
    {
        // In proportion: the k-th of n phonemes goes to word k * words / n.
        (0..spoken.len())
            .map(|k| (k * words.len() / spoken.len()) as u32)
            .collect()
    } else {
        let source: Vec<char> = spoken.iter().map(|&i| clause[i]).collect();
        align(&source, &target, &owner)
    };
    let mut highest = 0;
    for (&i, label) in spoken.iter().zip(labels) {
        highest = highest.max(label);
        tags[i] = Some(highest);
    }
    tags
}

/// The owner of the `target` character each `source` character aligns with (least edits; an
/// inserted character takes the owner of the target character before it, or the first).
fn align(source: &[char], target: &[char], owner: &[u32]) -> Vec<u32> {
    let (n, m) = (source.len(), target.len());
    let width = m + 1;
    let mut cost = vec![0u32; (n + 1) * width];
    for (j, c) in cost.iter_mut().take(width).enumerate() {
        *c = j as u32;
    }
    for i in 1..=n {
        cost[i * width] = i as u32;
        for j in 1..=m {
            let substitute =
                cost[(i - 1) * width + j - 1] + u32::from(source[i - 1] != target[j - 1]);
            let insert = cost[(i - 1) * width + j] + 1;
            let delete = cost[i * width + j - 1] + 1;
            cost[i * width + j] = substitute.min(insert).min(delete);
        }
    }
    let mut labels = vec![0u32; n];
    let (mut i, mut j) = (n, m);
    while i > 0 {
        let here = cost[i * width + j];
        if j > 0
            && here == cost[(i - 1) * width + j - 1] + u32::from(source[i - 1] != target[j - 1])
        {
            labels[i - 1] = owner[j - 1];
            i -= 1;
            j -= 1;
        } else if j > 0 && here == cost[i * width + j - 1] + 1 {
            j -= 1;
        } else {
            labels[i - 1] = owner[j.saturating_sub(1).min(m - 1)];
            i -= 1;
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn words_are_trimmed_of_their_punctuation() {
        let text = "Hello, \"world\" - 42 times!";
        let words: Vec<&str> = text_words(text, 0..text.len())
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(words, ["Hello", "world", "42", "times"]);
        let text = "x  naïve  café.";
        let words: Vec<&str> = text_words(text, 2..text.len())
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(words, ["naïve", "café"]);
    }

    #[test]
    fn joined_and_expanded_words_are_told_apart() {
        // "three of the 42": espeak-ng joins "of the" and reads 42 as two words.
        let clause = chars("θɹˈiː ʌvðə fˈɔːɹɾi tˈuː");
        let words = [
            chars("θɹˈiː"),
            chars("ˈʌv"),
            chars("ðə"),
            chars("fˈɔːɹɾi tˈuː"),
        ];
        let tags = tag_phonemes(&clause, &words);
        let said: Vec<String> = (0..4)
            .map(|w| {
                clause
                    .iter()
                    .zip(&tags)
                    .filter(|(_, t)| **t == Some(w))
                    .map(|(c, _)| *c)
                    .collect()
            })
            .collect();
        assert_eq!(said, ["θɹˈiː", "ʌv", "ðə", "fˈɔːɹɾitˈuː"]);
        assert_eq!(tags[5], None, "a space says no word");
    }

    #[test]
    fn a_replaced_word_takes_its_phonemes_with_the_spaces_inside() {
        // "ab c d, ef": the middle word is said in two pieces ("42" -> "forty two").
        let tags = [0, 0, 9, 1, 9, 1, 9, 9, 2, 2];
        let tagged: Vec<(char, Option<u32>)> = "ab c d, ef"
            .chars()
            .zip(tags)
            .map(|(c, t)| (c, (t != 9).then_some(t)))
            .collect();
        let replaced = [(1, vec!['X', 'Y'])].into_iter().collect();
        let out: String = substitute(tagged, &replaced)
            .iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(out, "ab XY, ef");
    }

    #[test]
    fn tags_never_go_back_and_nothing_aligns_to_nothing() {
        let tags = tag_phonemes(&chars("ab ba ab"), &[chars("ba"), chars("ab")]);
        let seen: Vec<u32> = tags.iter().flatten().copied().collect();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert!(tag_phonemes(&chars("ab"), &[]).iter().all(Option::is_none));
        assert_eq!(tag_phonemes(&chars(", "), &[chars("a")]), [None, None]);
    }
}
