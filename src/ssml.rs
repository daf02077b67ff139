//! SSML input: a `<speak>` document read into the pieces the pipeline speaks in turn.
//!
//! The document is parsed by `roxmltree` (entities and CDATA resolved, no DTD, positions for
//! errors) and flattened into [`Piece`]s: the text to speak, the speaking rate it is spoken at,
//! the pronunciations its `<phoneme>` elements give, and the silence after it. A new piece
//! starts where the rate changes or a `<break>` is; within a piece, sentences are found as in
//! plain text (`<s>` and `<p>` end one).
//!
//! Supported: `<break time strength>`, `<say-as interpret-as="characters|spell-out|cardinal|
//! number|ordinal|digits|date|telephone">`, `<phoneme alphabet="ipa" ph>`, `<sub alias>`,
//! `<prosody rate>`, `<p>`, `<s>`, `<voice name>` (a speaker of the loaded voice, or a blend
//! of its speakers). Other elements (`<emphasis>`, `<audio>`, `<mark>`, ...) have their text
//! spoken and are logged once per name.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::error::{Error, Result};

/// Longest `<break>` accepted (a longer one is an error, not minutes of silence).
pub const MAX_BREAK_MS: u32 = 10_000;
/// Most silence one document may ask for, all its breaks together.
pub const MAX_TOTAL_BREAK_MS: u32 = 60_000;
/// Slowest and fastest speaking rate (of the voice's pace).
const MIN_RATE: f32 = 0.2;
const MAX_RATE: f32 = 5.0;
/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;

/// A stretch of an SSML document spoken the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The text to speak.
    pub text: String,
    /// Speaking rate: 1.0 is the voice's pace, 2.0 twice as fast (divides the length scale).
    pub rate: f32,
    /// Pronunciations from `<phoneme>`: byte ranges of `text` and their IPA.
    pub phonemes: Vec<(Range<usize>, String)>,
    /// Silence after the piece, in milliseconds.
    pub pause_after_ms: u32,
    /// The speaker `<voice name>` asked for (`None`: the call's own).
    pub voice: Option<String>,
}

impl Piece {
    /// Plain text, spoken as it is.
    pub fn plain(text: String) -> Self {
        Piece {
            text,
            ..Piece::new(1.0)
        }
    }

    fn new(rate: f32) -> Self {
        Piece {
            text: String::new(),
            rate,
            phonemes: Vec::new(),
            pause_after_ms: 0,
            voice: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.text.trim().is_empty() && self.pause_after_ms == 0
    }
}

/// Whether `text` is SSML: it starts, after white space, with `<speak` (or an XML declaration).
pub fn is_ssml(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("<speak") || t.starts_with("<?xml")
}

/// Read an SSML document into pieces. Malformed XML, a root that is not `<speak>`, or a value
/// out of range is an error naming its line and column.
pub fn parse(document: &str) -> Result<Vec<Piece>> {
    let doc = roxmltree::Document::parse(document).map_err(|e| {
        let pos = e.pos();
        Error::Ssml {
            line: pos.row,
            column: pos.col,
            reason: e.to_string(),
        }
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "speak" {
        return Err(at(
            &doc,
            root,
            format!(
                "the root element is <{}>, not <speak>",
                root.tag_name().name()
            ),
        ));
    }
    let mut reader = Reader {
        doc: &doc,
        pieces: Vec::new(),
        current: Piece::new(1.0),
        unknown: BTreeSet::new(),
    };
    reader.children(root, 1.0, 0)?;
    reader.finish_piece(None);
    let total: u64 = reader
        .pieces
        .iter()
        .map(|p| u64::from(p.pause_after_ms))
        .sum();
    if total > u64::from(MAX_TOTAL_BREAK_MS) {
        return Err(at(
            &doc,
            root,
            format!(
                "the breaks add up to {total} ms; at most {MAX_TOTAL_BREAK_MS} ms are accepted"
            ),
        ));
    }
    for name in &reader.unknown {
        tracing::warn!(element = %name, "SSML: <{name}> is not supported; its text is spoken");
    }
    Ok(reader.pieces)
}

/// An error at `node`'s position.
fn at(doc: &roxmltree::Document<'_>, node: roxmltree::Node<'_, '_>, reason: String) -> Error {
    let pos = doc.text_pos_at(node.range().start);
    Error::Ssml {
        line: pos.row,
        column: pos.col,
        reason,
    }
}

struct Reader<'a, 'input> {
    doc: &'a roxmltree::Document<'input>,
    pieces: Vec<Piece>,
    current: Piece,
    unknown: BTreeSet<String>,
}

impl<'a, 'input> Reader<'a, 'input> {
    /// End the current piece (with `pause_ms` of silence after it) and start one at `rate`.
    fn finish_piece(&mut self, next: Option<(u32, f32)>) {
        let (pause, rate) = next.unwrap_or((0, self.current.rate));
        self.current.pause_after_ms = self.current.pause_after_ms.saturating_add(pause);
        let next = Piece {
            voice: self.current.voice.clone(),
            ..Piece::new(rate)
        };
        let done = std::mem::replace(&mut self.current, next);
        if !done.is_empty() {
            self.pieces.push(done);
        } else if let Some(last) = self.pieces.last_mut() {
            // A break with nothing since the last one lengthens its pause.
            last.pause_after_ms = last.pause_after_ms.saturating_add(done.pause_after_ms);
        } else if done.pause_after_ms > 0 {
            self.pieces.push(done);
        }
    }

    /// Switch to the speaker `voice` for what follows (a new piece when it differs).
    fn set_voice(&mut self, voice: Option<String>) {
        if voice != self.current.voice {
            self.finish_piece(None);
            self.current.voice = voice;
        }
    }

    /// Switch to `rate` for what follows (a new piece when it differs).
    fn set_rate(&mut self, rate: f32) {
        if (rate - self.current.rate).abs() > f32::EPSILON {
            self.finish_piece(Some((0, rate)));
        }
    }

    fn push_text(&mut self, text: &str) {
        self.current.text.push_str(text);
    }

    fn children(
        &mut self,
        node: roxmltree::Node<'a, 'input>,
        rate: f32,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(at(
                self.doc,
                node,
                format!("elements nested deeper than {MAX_DEPTH}"),
            ));
        }
        for child in node.children() {
            if child.is_text() {
                self.set_rate(rate);
                self.push_text(child.text().unwrap_or(""));
            } else if child.is_element() {
                self.element(child, rate, depth + 1)?;
            }
        }
        Ok(())
    }

    fn element(
        &mut self,
        node: roxmltree::Node<'a, 'input>,
        rate: f32,
        depth: usize,
    ) -> Result<()> {
        let name = node.tag_name().name();
        match name {
            "break" => {
                let ms = break_ms(node).map_err(|reason| at(self.doc, node, reason))?;
                self.finish_piece(Some((ms, rate)));
            }
            "p" | "s" | "paragraph" | "sentence" => {
                self.children(node, rate, depth)?;
                // A sentence ends here, as at a blank line in plain text.
                self.set_rate(rate);
                self.push_text("\n\n");
            }
            "prosody" => {
                let inner = match node.attribute("rate") {
                    // Nested rates multiply, within the range one may ask for.
                    Some(value) => (rate
                        * parse_rate(value).map_err(|reason| at(self.doc, node, reason))?)
                    .clamp(MIN_RATE, MAX_RATE),
                    None => rate,
                };
                self.children(node, inner, depth)?;
                self.set_rate(rate);
            }
            "sub" => {
                self.set_rate(rate);
                match node.attribute("alias") {
                    Some(alias) => self.push_text(alias),
                    None => self.children(node, rate, depth)?,
                }
            }
            "say-as" => {
                self.set_rate(rate);
                let text = inner_text(node);
                let how = node.attribute("interpret-as").unwrap_or("");
                match say_as(how, &text) {
                    Some(spoken) => self.push_text(&spoken),
                    None => {
                        self.unknown
                            .insert(format!("say-as interpret-as=\"{how}\""));
                        self.push_text(&text);
                    }
                }
            }
            "phoneme" => {
                self.set_rate(rate);
                let text = inner_text(node);
                let alphabet = node.attribute("alphabet").unwrap_or("ipa");
                match node.attribute("ph") {
                    Some(ph) if alphabet == "ipa" && !ph.trim().is_empty() => {
                        let start = self.current.text.len();
                        self.push_text(&text);
                        let end = self.current.text.len();
                        if !text.trim().is_empty() {
                            self.current
                                .phonemes
                                .push((start..end, ph.trim().to_owned()));
                        }
                    }
                    Some(_) if alphabet != "ipa" => {
                        self.unknown
                            .insert(format!("phoneme alphabet=\"{alphabet}\""));
                        self.push_text(&text);
                    }
                    _ => return Err(at(self.doc, node, "<phoneme> needs a non-empty ph".into())),
                }
            }
            "voice" => {
                let outer = self.current.voice.clone();
                match node.attribute("name").map(str::trim) {
                    Some(name) if !name.is_empty() => self.set_voice(Some(name.to_owned())),
                    // Gender, age or language alone choose nothing here: the text is spoken as it is.
                    _ => {
                        self.unknown.insert("voice without a name".into());
                    }
                }
                self.children(node, rate, depth)?;
                self.set_voice(outer);
            }
            "speak" => self.children(node, rate, depth)?,
            other => {
                self.unknown.insert(other.to_owned());
                self.children(node, rate, depth)?;
            }
        }
        Ok(())
    }
}

/// The text inside `node`, its elements' text included.
fn inner_text(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// A `<break>`'s length: `time` ("300ms", "1.5s") or `strength` (none 0, x-weak 100, weak 250,
/// medium 400, strong 750, x-strong 1200 ms); medium when neither is given.
fn break_ms(node: roxmltree::Node<'_, '_>) -> std::result::Result<u32, String> {
    if let Some(time) = node.attribute("time") {
        let t = time.trim();
        let (number, scale) = if let Some(ms) = t.strip_suffix("ms") {
            (ms, 1.0)
        } else if let Some(s) = t.strip_suffix('s') {
            (s, 1000.0)
        } else {
            return Err(format!(
                "break time {time:?}: expected e.g. \"300ms\" or \"1.5s\""
            ));
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("break time {time:?} is not a number"))?;
        let ms = value * scale;
        if !(0.0..=f64::from(MAX_BREAK_MS)).contains(&ms) {
            return Err(format!(
                "break time {time:?}: 0 to {MAX_BREAK_MS} ms are accepted"
            ));
        }
        return Ok(ms.round() as u32);
    }
    match node.attribute("strength").unwrap_or("medium") {
        "none" => Ok(0),
        "x-weak" => Ok(100),
        "weak" => Ok(250),
        "medium" => Ok(400),
        "strong" => Ok(750),
        "x-strong" => Ok(1200),
        other => Err(format!(
            "break strength {other:?} is not one of none, x-weak, weak, medium, strong, x-strong"
        )),
    }
}

/// A `<prosody rate>` as a multiplier of the speed: a keyword, a percentage ("150%", "+20%",
/// "-10%") or a number ("1.5").
fn parse_rate(value: &str) -> std::result::Result<f32, String> {
    let v = value.trim();
    let rate = match v {
        "x-slow" => 0.5,
        "slow" => 0.75,
        "medium" | "default" => 1.0,
        "fast" => 1.25,
        "x-fast" => 1.75,
        _ => {
            if let Some(p) = v.strip_suffix('%') {
                let n: f32 = p
                    .parse()
                    .map_err(|_| format!("rate {value:?} is not a percentage"))?;
                if p.starts_with(['+', '-']) {
                    1.0 + n / 100.0
                } else {
                    n / 100.0
                }
            } else {
                v.parse().map_err(|_| {
                    format!("rate {value:?}: expected x-slow..x-fast, a percentage or a number")
                })?
            }
        }
    };
    if !(rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)) {
        return Err(format!("rate {value:?} is outside 20% to 500%"));
    }
    Ok(rate)
}

/// `<say-as>` text as it is to be read; `None` for an unknown `interpret-as`.
fn say_as(how: &str, text: &str) -> Option<String> {
    let spaced = |chars: &mut dyn Iterator<Item = char>| {
        let mut out = String::new();
        for c in chars {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
        }
        out
    };
    Some(match how {
        "characters" | "spell-out" | "verbatim" => {
            format!(
                " {} ",
                spaced(&mut text.chars().filter(|c| !c.is_whitespace()))
            )
        }
        "digits" => format!(
            " {} ",
            spaced(&mut text.chars().filter(char::is_ascii_digit))
        ),
        "cardinal" | "number" => text.replace([',', '_'], ""),
        "ordinal" => {
            let n = text.trim().trim_end_matches('.');
            match n.parse::<u64>() {
                Ok(v) => format!("{n}{}", ordinal_suffix(v)),
                Err(_) => text.to_owned(),
            }
        }
        // Groups of digits read digit by digit, a pause between groups.
        "telephone" => {
            let groups: Vec<String> = text
                .split(|c: char| !c.is_ascii_digit() && c != '+')
                .filter(|g| !g.is_empty())
                .map(|g| spaced(&mut g.chars().filter(char::is_ascii_digit)))
                .collect();
            format!(" {} ", groups.join(", "))
        }
        "date" => text.to_owned(),
        _ => return None,
    })
}

fn ordinal_suffix(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(pieces: &[Piece]) -> Vec<(&str, f32, u32)> {
        pieces
            .iter()
            .map(|p| (p.text.as_str(), p.rate, p.pause_after_ms))
            .collect()
    }

    #[test]
    fn breaks_and_rates_make_pieces() {
        let pieces = parse(
            "<speak>Hello <break time=\"300ms\"/> world. <prosody rate=\"150%\">Quick</prosody> \
             end<break strength=\"strong\"/></speak>",
        )
        .unwrap();
        assert_eq!(
            texts(&pieces),
            [
                ("Hello ", 1.0, 300),
                (" world. ", 1.0, 0),
                ("Quick", 1.5, 0),
                (" end", 1.0, 750)
            ]
        );
    }

    #[test]
    fn say_as_sub_phoneme_and_sentences() {
        let pieces = parse(
            "<speak><s>Call <say-as interpret-as=\"telephone\">555-0123</say-as></s>\
             <p>The <say-as interpret-as=\"ordinal\">3</say-as> <sub alias=\"World Wide Web Consortium\">W3C</sub> \
             spells <say-as interpret-as=\"characters\">SSML</say-as>, says \
             <phoneme alphabet=\"ipa\" ph=\"təˈmɑːtoʊ\">tomato</phoneme>.</p></speak>",
        )
        .unwrap();
        assert_eq!(pieces.len(), 1);
        let p = &pieces[0];
        assert_eq!(
            p.text,
            "Call  5 5 5, 0 1 2 3 \n\nThe 3rd World Wide Web Consortium spells  S S M L , says tomato.\n\n"
        );
        let (range, ipa) = &p.phonemes[0];
        assert_eq!(&p.text[range.clone()], "tomato");
        assert_eq!(ipa, "təˈmɑːtoʊ");
    }

    #[test]
    fn voices_nest_and_come_back() {
        let pieces = parse(
            "<speak>A. <voice name=\"am_adam\">B. <voice name=\"bf_emma\">C.</voice> D.</voice> \
             <voice gender=\"female\">E.</voice></speak>",
        )
        .unwrap();
        let voices: Vec<(&str, Option<&str>)> = pieces
            .iter()
            .map(|p| (p.text.trim(), p.voice.as_deref()))
            .collect();
        assert_eq!(
            voices,
            [
                ("A.", None),
                ("B.", Some("am_adam")),
                ("C.", Some("bf_emma")),
                ("D.", Some("am_adam")),
                ("E.", None)
            ]
        );
    }

    #[test]
    fn entities_cdata_and_unknown_elements_are_text() {
        let pieces = parse(
            "<speak>Fish &amp; chips, <![CDATA[a < b]]>, <emphasis>really</emphasis>.</speak>",
        )
        .unwrap();
        assert_eq!(pieces[0].text, "Fish & chips, a < b, really.");
    }

    #[test]
    fn malformed_ssml_names_line_and_column() {
        let error = parse("<speak>\n  Hello <break time=\"3\"/>\n</speak>").unwrap_err();
        assert!(
            matches!(
                error,
                Error::Ssml {
                    line: 2,
                    column: 9,
                    ..
                }
            ),
            "{error}"
        );
        let error = parse("<speak>\n  <s>unclosed\n</speak>").unwrap_err();
        assert!(matches!(error, Error::Ssml { line: 3, .. }), "{error}");
        let error = parse("<voice>hi</voice>").unwrap_err();
        assert!(error.to_string().contains("not <speak>"), "{error}");
        for bad in [
            "<speak><prosody rate=\"0%\">x</prosody></speak>",
            "<speak><break time=\"1h\"/></speak>",
            "<speak><break time=\"99999s\"/></speak>",
            "<speak><phoneme ph=\"\">x</phoneme></speak>",
            &format!("<speak>{}</speak>", "a<break time=\"10s\"/>".repeat(7)),
            "<!DOCTYPE speak [<!ENTITY a \"aaaa\">]><speak>&a;</speak>",
            "",
            "<speak>",
        ] {
            assert!(matches!(parse(bad), Err(Error::Ssml { .. })), "{bad}");
        }
        let deep = format!(
            "<speak>{}x{}</speak>",
            "<s>".repeat(100),
            "</s>".repeat(100)
        );
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn nested_rates_stay_in_range() {
        let deep = format!(
            "<speak>{}x{}</speak>",
            "<prosody rate=\"x-fast\">".repeat(30),
            "</prosody>".repeat(30)
        );
        assert_eq!(parse(&deep).unwrap()[0].rate, MAX_RATE);
    }

    #[test]
    fn ssml_is_recognized_by_its_root() {
        assert!(is_ssml("  <speak>hi</speak>"));
        assert!(is_ssml("<?xml version=\"1.0\"?><speak>hi</speak>"));
        assert!(!is_ssml("speak <softly>"));
    }
}
