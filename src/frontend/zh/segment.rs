//! Words in a run of Han characters, cut exactly as jieba-rs 0.8.1's
//! `Jieba::new().cut(text, false)` cuts them (the path of highest probability through the
//! dictionary's words, ties to the longest), from a dictionary that needs no building.
//!
//! jieba-rs builds its dictionary at every start: it inflates 5 MB and inserts ~350,000 words
//! into a double-array trie, ~160 ms of CPU and the last part of the Mandarin voice's load to
//! finish. The same words and frequencies are here as a table compiled into the binary
//! (`jieba_dict.txt`: `total N`, then `word freq` lines sorted by the word's bytes, written by
//! `scripts/jieba_table.py` from jieba-rs's own file, which CI checks), searched in place: a
//! word's prefixes are found by binary search over the lines, so loading is reading one number.

/// The dictionary: lines `word freq`, sorted by the word's bytes, after `total N`.
const TABLE: &str = include_str!("jieba_dict.txt");

/// jieba's segmenter over the compiled-in dictionary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segmenter {
    /// The `word freq` lines.
    lines: &'static [u8],
    /// ln of the sum of every word's frequency.
    log_total: f64,
}

impl Segmenter {
    pub fn new() -> Self {
        let (header, lines) = TABLE.split_once('\n').unwrap_or_default();
        let total: u64 = header
            .strip_prefix("total ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        Segmenter {
            lines: lines.as_bytes(),
            log_total: (total as f64).ln(),
        }
    }

    /// The words of `text`, in order, covering it. A character outside jieba's Han ranges (`〇`)
    /// is a word of its own, as jieba's block splitting makes it.
    pub fn cut<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut words = Vec::with_capacity(text.len() / 3);
        let mut rest = text;
        while !rest.is_empty() {
            let end = rest.find(|c| !jieba_han(c)).unwrap_or(rest.len());
            if end == 0 {
                let c = rest.chars().next().map_or(1, char::len_utf8);
                words.push(&rest[..c]);
                rest = &rest[c..];
            } else {
                self.cut_block(&rest[..end], &mut words);
                rest = &rest[end..];
            }
        }
        words
    }

    /// jieba's `cut_dag_no_hmm` on a block of Han characters: for each start, backwards, the
    /// best of (ln freq - ln total + the best from the word's end) over the dictionary's words
    /// starting there (the last of equals, so the longest), else the character alone at
    /// frequency 1; then the route from the block's start.
    fn cut_block<'a>(&self, block: &'a str, words: &mut Vec<&'a str>) {
        let mut route = vec![(0.0f64, 0usize); block.len() + 1];
        let mut next_start = block.len();
        for (start, _) in block.char_indices().rev() {
            let mut best: Option<(f64, usize)> = None;
            self.prefixes(&block[start..], |len, freq| {
                let end = start + len;
                let score = (freq as f64).ln() - self.log_total + route[end].0;
                // Iterator::max_by keeps the last of equals; a NaN compares equal there.
                if best.is_none_or(|(b, _)| {
                    score.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
                        != std::cmp::Ordering::Less
                }) {
                    best = Some((score, end));
                }
            });
            route[start] = best.unwrap_or_else(|| {
                (
                    (1f64).ln() - self.log_total + route[next_start].0,
                    next_start,
                )
            });
            next_start = start;
        }
        let mut at = 0;
        while at < block.len() {
            let end = route[at].1;
            words.push(&block[at..end]);
            at = end;
        }
    }

    /// Call `found(byte length, frequency)` for each dictionary word that `text` starts with,
    /// shortest first.
    fn prefixes(&self, text: &str, mut found: impl FnMut(usize, u64)) {
        for len in text.char_indices().map(|(i, c)| i + c.len_utf8()) {
            let key = &text.as_bytes()[..len];
            let at = self.lower_bound(key);
            let Some((word, freq)) = self.line(at) else {
                return;
            };
            if word == key {
                found(len, freq);
            } else if !word.starts_with(key) {
                // Every word with this prefix would sort here: there are none, nor longer ones.
                return;
            }
        }
    }

    /// The offset of the first line whose word is not less than `key` (the table's end when
    /// there is none).
    fn lower_bound(&self, key: &[u8]) -> usize {
        let lines = self.lines;
        // Lines before `lo` hold smaller words; lines from `hi` on hold words not smaller.
        // Both are line starts (or the end).
        let (mut lo, mut hi) = (0, lines.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let start = lines[lo..mid]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(lo, |i| lo + i + 1);
            let end = lines[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(lines.len(), |i| start + i + 1);
            if word_of(&lines[start..end]) < key {
                lo = end;
            } else {
                hi = start;
            }
        }
        lo
    }

    /// The word and frequency of the line at `at`.
    fn line(&self, at: usize) -> Option<(&'static [u8], u64)> {
        let rest = self.lines.get(at..).filter(|r| !r.is_empty())?;
        let line = rest.split(|&b| b == b'\n').next()?;
        let space = line.iter().position(|&b| b == b' ')?;
        let freq = std::str::from_utf8(&line[space + 1..]).ok()?.parse().ok()?;
        Some((&line[..space], freq))
    }
}

/// The word of a `word freq\n` line.
fn word_of(line: &[u8]) -> &[u8] {
    line.iter()
        .position(|&b| b == b' ')
        .map_or(line, |space| &line[..space])
}

/// The Han ranges of jieba's block pattern (`RE_HAN_DEFAULT`; its ASCII letters, digits and
/// `+#&._%-` never reach this segmenter, which is given runs of Han characters).
fn jieba_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2B73F}'
        | '\u{2B740}'..='\u{2B81F}'
        | '\u{2B820}'..='\u{2CEAF}'
        | '\u{2CEB0}'..='\u{2EBEF}'
        | '\u{2F800}'..='\u{2FA1F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    /// Han runs of the reference texts, of the phrases that read differently together, and
    /// random strings of dictionary words and characters: every cut is jieba-rs's.
    #[test]
    fn cuts_as_jieba_rs_does() {
        let jieba = jieba_rs::Jieba::new();
        let ours = Segmenter::new();
        let mut texts: Vec<String> = Vec::new();
        for name in ["zh_100.txt", "zh_sentences.txt"] {
            let path = format!("{}/../shared/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
            texts.push(std::fs::read_to_string(&path).expect(&path));
        }
        // Words of the table, to build text the dictionary knows well.
        let words: Vec<&str> = TABLE
            .lines()
            .skip(1)
            .filter_map(|l| l.split(' ').next())
            .filter(|w| w.chars().all(jieba_han))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(rng.next_u32() % 12 + 1) {
                match rng.next_u32() % 8 {
                    0 => text.push('〇'),
                    1 => text.push(char::from_u32(0x4E00 + rng.next_u32() % 0x5200).unwrap()),
                    2 => text.push(char::from_u32(0x3400 + rng.next_u32() % 0x19C0).unwrap()),
                    _ => text.push_str(words[rng.next_u32() as usize % words.len()]),
                }
            }
            texts.push(text);
        }
        let mut cut = 0;
        for text in &texts {
            let mut rest = text.as_str();
            while let Some(start) = rest.find(super::super::is_han) {
                let run = &rest[start..];
                let end = run.find(|c| !super::super::is_han(c)).unwrap_or(run.len());
                let run = &run[..end];
                assert_eq!(ours.cut(run), jieba.cut(run, false), "{run}");
                cut += 1;
                rest = &rest[start + end..];
            }
        }
        assert!(cut > 3000, "{cut} runs compared");
    }

    #[test]
    fn the_table_is_sorted_with_its_total() {
        let (header, lines) = TABLE.split_once('\n').unwrap();
        let mut total = 0u64;
        let mut last: &[u8] = b"";
        for line in lines.lines() {
            let (word, freq) = line.split_once(' ').unwrap();
            assert!(word.as_bytes() > last, "{word} out of order");
            last = word.as_bytes();
            total += freq.parse::<u64>().unwrap();
        }
        assert_eq!(header, format!("total {total}"));
    }

    #[test]
    fn found_and_missing_words() {
        let s = Segmenter::new();
        let at = s.lower_bound("中国".as_bytes());
        assert_eq!(s.line(at).unwrap().0, "中国".as_bytes());
        assert_eq!(s.cut(""), Vec::<&str>::new());
        assert_eq!(s.cut("〇〇"), vec!["〇", "〇"]);
        // Before the first word and after the last.
        assert_eq!(s.lower_bound(b""), 0);
        assert_eq!(s.lower_bound("\u{10FFFF}".as_bytes()), s.lines.len());
    }
}
