//! Text that arrives while the audio plays: a [`TextSink`] takes pieces of text of any size (a
//! language model's tokens, half words) and the [`AudioStream`] made with it speaks each unit as
//! soon as it is complete, so a voice assistant speaks an answer while it is being written.
//!
//! The rule (measured in `benches/text_stream.rs`):
//! - the stream's **first clause** is spoken alone as soon as it is complete (`, ; : —` and
//!   white space and more text, before the first sentence ends), so the first audio comes
//!   sooner;
//! - a **sentence** is spoken as soon as it is complete: it ends in `. ? ! …` (and any closing
//!   quotes or brackets) and the text after it has begun a new sentence (white space, then a
//!   letter that is not lower case, a digit or an opening quote), or in `。！？`, or a blank
//!   line follows it;
//! - a **clause** (up to `, ; : —` and white space, or `，；：、`) is spoken early when the
//!   listener would otherwise wait: while less than [`LOW_WATER`] of audio is ahead of a
//!   real-time listener (so the stream's first clause starts at once, and playback does not run
//!   dry while a long sentence is still being written), or when no text has come for
//!   [`PAUSE`];
//! - `flush()` speaks everything buffered now, and `finish()` (or dropping the sink) speaks the
//!   rest and ends the stream;
//! - nothing is cut inside a word: text only breaks at those punctuation marks, except that
//!   [`MAX_PENDING_BYTES`] of text with none is cut at its last white space.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::playhead::Playhead;

/// Audio ahead of a real-time listener below which a clause is spoken without waiting for the
/// rest of its sentence.
pub const LOW_WATER: Duration = Duration::from_millis(1500);
/// Time without new text after which what is complete up to a clause is spoken.
pub const PAUSE: Duration = Duration::from_millis(250);
/// Text with no place to break that is held before it is cut at white space anyway.
pub const MAX_PENDING_BYTES: usize = 8 * 1024;

/// What the sink sends the stream's acoustic stage.
pub(crate) enum Piece {
    Text(String),
    Flush,
}

/// The writing end of a text stream (see [`Synthesizer::text_stream`](crate::Synthesizer::text_stream)):
/// push text as it arrives, then [`finish`](TextSink::finish). `Send`, so text can come from
/// another thread than the one reading the audio. Dropping it finishes the text too.
#[derive(Debug)]
pub struct TextSink {
    tx: Option<Sender<Piece>>,
    /// Bytes pushed so far.
    bytes: usize,
}

impl TextSink {
    pub(crate) fn new(tx: Sender<Piece>) -> TextSink {
        TextSink {
            tx: Some(tx),
            bytes: 0,
        }
    }

    fn send(&self, piece: Piece) -> Result<()> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(piece).ok())
            .ok_or(Error::StreamClosed)
    }

    /// Add `text` (any piece: a token, half a word, many sentences). Returns
    /// [`Error::StreamClosed`] once the audio stream has ended (dropped, or failed).
    pub fn push(&mut self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.bytes += text.len();
        self.send(Piece::Text(text.to_owned()))
    }

    /// Speak everything pushed so far now, complete or not (a pause the caller knows about).
    pub fn flush(&mut self) -> Result<()> {
        self.send(Piece::Flush)
    }

    /// The text is complete: speak the rest, then the audio stream ends.
    pub fn finish(mut self) -> Result<()> {
        let open = self.tx.take().is_some();
        if open {
            Ok(())
        } else {
            Err(Error::StreamClosed)
        }
    }

    /// Bytes of text pushed so far.
    pub fn bytes_pushed(&self) -> usize {
        self.bytes
    }
}

/// The units of an incremental text, as the acoustic stage takes them: an iterator that
/// blocks for text, applies the rule above, and ends when the sink is finished (or dropped) or
/// the stream is cancelled.
pub(crate) struct Units {
    rx: Receiver<Piece>,
    splitter: Splitter,
    playhead: Arc<Playhead>,
    cancel: Arc<AtomicBool>,
    last_text: Instant,
    finished: bool,
}

/// How often a waiting stage looks at the cancel flag and the listener's buffer.
const POLL: Duration = Duration::from_millis(20);

impl Units {
    pub fn new(rx: Receiver<Piece>, playhead: Arc<Playhead>, cancel: Arc<AtomicBool>) -> Units {
        Units {
            rx,
            splitter: Splitter::default(),
            playhead,
            cancel,
            last_text: Instant::now(),
            finished: false,
        }
    }
}

impl Iterator for Units {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return None;
            }
            // Nothing heard yet: the first clause alone, the sooner to start.
            if !self.playhead.started() {
                if let Some(clause) = self.splitter.first_clause() {
                    return Some(clause);
                }
            }
            if let Some(sentence) = self.splitter.sentence() {
                return Some(sentence);
            }
            if self.finished {
                return self.splitter.rest();
            }
            let starved = self.playhead.ahead() < LOW_WATER;
            if starved || self.last_text.elapsed() >= PAUSE {
                if let Some(clause) = self.splitter.clause(self.last_text.elapsed() >= PAUSE) {
                    return Some(clause);
                }
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Piece::Text(text)) => {
                    self.splitter.push(&text);
                    self.last_text = Instant::now();
                }
                Ok(Piece::Flush) => {
                    if let Some(rest) = self.splitter.rest() {
                        return Some(rest);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.finished = true,
            }
        }
    }
}

/// Finds the speakable units of a text that grows at its end.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    buf: String,
}

/// Marks that end a sentence.
fn ends_sentence(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | '…')
}

/// Marks that end a sentence with no white space after them (Chinese and Japanese).
fn ends_sentence_cjk(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// Marks that end a clause (before white space), or that end one by themselves (CJK).
fn ends_clause(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '—' | '–')
}

fn ends_clause_cjk(c: char) -> bool {
    matches!(c, '，' | '；' | '：' | '、')
}

/// Closing quotes and brackets that stay with the sentence they close.
fn closes(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '」' | '』' | '）'
    )
}

/// Whether `c` can begin a new sentence after a full stop ("e.g. this" cannot).
fn begins_sentence(c: char) -> bool {
    (c.is_alphabetic() && !c.is_lowercase())
        || c.is_ascii_digit()
        || matches!(
            c,
            '"' | '\'' | '“' | '‘' | '(' | '[' | '«' | '¿' | '¡' | '-'
        )
}

impl Splitter {
    pub fn push(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Byte offset just past a sentence end at `i` (a sentence mark) and the closing marks
    /// after it.
    fn after_closers(&self, i: usize) -> usize {
        let mut end = i + self.buf[i..].chars().next().map_or(0, char::len_utf8);
        while let Some(c) = self.buf[end..].chars().next().filter(|&c| closes(c)) {
            end += c.len_utf8();
        }
        end
    }

    /// Take the buffer up to `end` and the white space after it as a unit, if it says
    /// anything. The white space stays with the unit, as `stream()`'s segments keep it: espeak-ng
    /// reads it to tell a sentence's end from a paragraph's.
    fn take(&mut self, end: usize) -> Option<String> {
        let rest_start = self.buf[end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(self.buf.len(), |k| end + k);
        let unit: String = self.buf.drain(..rest_start).collect();
        if unit.trim().is_empty() {
            None
        } else {
            Some(unit)
        }
    }

    /// The first complete sentence, taken from the buffer: one whose end the text after it
    /// confirms. Also a cut of an over-long buffer that has no end at all.
    pub fn sentence(&mut self) -> Option<String> {
        loop {
            let end = self.confirmed_end()?;
            if let Some(unit) = self.take(end) {
                return Some(unit);
            }
        }
    }

    /// Where the first confirmed sentence ends. Only the first [`MAX_PENDING_BYTES`] are
    /// looked at, so a huge push costs each call that much, not its whole length.
    fn confirmed_end(&self) -> Option<usize> {
        let text = &self.buf;
        for (i, c) in text
            .char_indices()
            .take_while(|&(i, _)| i < MAX_PENDING_BYTES)
        {
            if ends_sentence_cjk(c) {
                return Some(self.after_closers(i));
            }
            if c == '\n' && text[i + 1..].starts_with('\n') {
                return Some(i);
            }
            if !ends_sentence(c) {
                continue;
            }
            let end = self.after_closers(i);
            let after = &text[end..];
            let space = after.len() - after.trim_start().len();
            let next = after.trim_start().chars().next();
            if space > 0 && next.is_some_and(begins_sentence) {
                return Some(end);
            }
        }
        if text.len() > MAX_PENDING_BYTES {
            // No end in a long run of text: cut at its last white space (inside a word only if
            // it has none).
            let limit = floor_char_boundary(text, MAX_PENDING_BYTES);
            let cut = text[..limit]
                .rfind(char::is_whitespace)
                .filter(|&k| k > 0)
                .unwrap_or(limit);
            return Some(cut);
        }
        None
    }

    /// Take everything up to the last clause or sentence end that is followed by white space
    /// (CJK marks need none); with `at_end`, a sentence or clause mark that ends the buffer
    /// (the writer paused right after it) counts too.
    pub fn clause(&mut self, at_end: bool) -> Option<String> {
        let text = self.buf.trim_end();
        let mut cut = None;
        for (i, c) in text
            .char_indices()
            .take_while(|&(i, _)| i < MAX_PENDING_BYTES)
        {
            if ends_clause_cjk(c) || ends_sentence_cjk(c) {
                cut = Some(self.after_closers(i));
            } else if ends_clause(c) || ends_sentence(c) {
                let end = self.after_closers(i);
                let followed_by_space = self.buf[end..].starts_with(char::is_whitespace);
                if followed_by_space || (at_end && end == text.len()) {
                    cut = Some(end);
                }
            }
        }
        self.take(cut?)
    }

    /// The buffer's first clause, taken, if one ends (its mark followed by white space, or a
    /// CJK clause mark) before the first sentence does and text follows it.
    pub fn first_clause(&mut self) -> Option<String> {
        let text = &self.buf;
        let mut cut = None;
        for (i, c) in text
            .char_indices()
            .take_while(|&(i, _)| i < MAX_PENDING_BYTES)
        {
            if ends_sentence(c) || ends_sentence_cjk(c) || c == '\n' {
                break;
            }
            if ends_clause_cjk(c) || ends_clause(c) {
                let end = self.after_closers(i);
                let rest = &text[end..];
                let followed = if ends_clause_cjk(c) {
                    !rest.is_empty()
                } else {
                    rest.starts_with(char::is_whitespace) && !rest.trim_start().is_empty()
                };
                if followed {
                    cut = Some(end);
                    break;
                }
            }
        }
        self.take(cut?)
    }

    /// Everything left, if it says anything.
    pub fn rest(&mut self) -> Option<String> {
        let end = self.buf.len();
        self.take(end)
    }
}

/// The largest char boundary at or below `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit without the white space it carries.
    fn trimmed(unit: Option<String>) -> Option<String> {
        unit.map(|u| u.trim().to_owned())
    }

    /// Feed `pieces` one at a time; the sentences that become complete after each.
    fn sentences(pieces: &[&str]) -> Vec<Vec<String>> {
        let mut s = Splitter::default();
        pieces
            .iter()
            .map(|p| {
                s.push(p);
                std::iter::from_fn(|| s.sentence())
                    .map(|u| u.trim().to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_sentence_is_complete_once_the_next_one_begins() {
        let got = sentences(&["Hel", "lo there", ". ", "How", " are you? ", "fine"]);
        assert_eq!(
            got,
            [
                vec![],
                vec![],
                vec![],
                vec!["Hello there.".to_owned()],
                vec![],
                vec![],
            ]
        );
        // Lower case after a full stop is not a new sentence ("e.g. this"), a number is.
        let got = sentences(&["Use e.g. this one. 42 is next. "]);
        assert_eq!(got, [vec!["Use e.g. this one.".to_owned()]]);
        // Closing quotes stay with their sentence; a blank line ends a paragraph.
        let got = sentences(&["He said \"stop.\" Then", " left\n\nAfter"]);
        assert_eq!(
            got,
            [
                vec!["He said \"stop.\"".to_owned()],
                vec!["Then left".to_owned()]
            ]
        );
        let got = sentences(&["你好。今天", "天气很好！"]);
        assert_eq!(
            got,
            [vec!["你好。".to_owned()], vec!["今天天气很好！".to_owned()]]
        );
    }

    #[test]
    fn clauses_break_only_after_their_mark_and_never_inside_a_word() {
        let mut s = Splitter::default();
        s.push("Well, if you turn left at the lights");
        assert_eq!(trimmed(s.clause(false)).as_deref(), Some("Well,"));
        assert_eq!(s.clause(true), None, "no mark: nothing to take");
        s.push(";");
        assert_eq!(
            s.clause(false),
            None,
            "a mark not yet followed by white space"
        );
        assert_eq!(
            trimmed(s.clause(true)).as_deref(),
            Some("if you turn left at the lights;"),
            "after a pause, a mark at the end counts"
        );
        s.push(" then");
        assert_eq!(trimmed(s.rest()).as_deref(), Some("then"));
        assert_eq!(s.rest(), None);
    }

    #[test]
    fn the_first_clause_ends_before_the_first_sentence() {
        let mut s = Splitter::default();
        s.push("Hello, and welcome. Next, please");
        assert_eq!(trimmed(s.first_clause()).as_deref(), Some("Hello,"));
        assert_eq!(trimmed(s.sentence()).as_deref(), Some("and welcome."));
        // A sentence that ends before any clause does: no first clause.
        let mut s = Splitter::default();
        s.push("Stop. Then, go");
        assert_eq!(s.first_clause(), None);
        // Nothing after the mark yet: not a clause to speak alone.
        let mut s = Splitter::default();
        s.push("Well, ");
        assert_eq!(s.first_clause(), None);
        s.push("then");
        assert_eq!(trimmed(s.first_clause()).as_deref(), Some("Well,"));
    }

    #[test]
    fn a_long_run_without_marks_is_cut_at_white_space() {
        let mut s = Splitter::default();
        let words = "word ".repeat(MAX_PENDING_BYTES / 4);
        s.push(&words);
        let unit = s.sentence().unwrap();
        let unit = unit.trim_end();
        assert!(
            unit.len() <= MAX_PENDING_BYTES && unit.ends_with("word"),
            "{}",
            unit.len()
        );
        assert!(s.buf.starts_with("word"));
    }

    #[test]
    fn units_follow_the_rule_and_end_with_the_sink() {
        let (tx, rx) = std::sync::mpsc::channel();
        let playhead = Arc::new(Playhead::new(22_050));
        let mut units = Units::new(rx, Arc::clone(&playhead), Arc::default());
        let mut sink = TextSink::new(tx);
        // Nothing heard yet: the first clause goes alone, even with its sentence complete.
        sink.push("First, the ").unwrap();
        assert_eq!(trimmed(units.next()).as_deref(), Some("First,"));
        // Plenty ahead: the clause waits for its sentence, then the pause.
        playhead.advance(22_050 * 10);
        sink.push("second clause, and more").unwrap();
        let started = Instant::now();
        sink.push(". Next").unwrap();
        assert_eq!(
            trimmed(units.next()).as_deref(),
            Some("the second clause, and more.")
        );
        assert!(
            started.elapsed() < PAUSE,
            "a complete sentence does not wait"
        );
        sink.push(" words, then").unwrap();
        let started = Instant::now();
        assert_eq!(trimmed(units.next()).as_deref(), Some("Next words,"));
        assert!(
            started.elapsed() >= PAUSE,
            "a clause waits for a pause when audio is ahead"
        );
        sink.flush().unwrap();
        assert_eq!(trimmed(units.next()).as_deref(), Some("then"));
        sink.push("The end").unwrap();
        sink.finish().unwrap();
        assert_eq!(trimmed(units.next()).as_deref(), Some("The end"));
        assert_eq!(units.next(), None);
    }
}
