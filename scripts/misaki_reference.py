#!/usr/bin/env python3
"""Phonemes from misaki 0.9.4 (Kokoro's own G2P), as JSON: the reference for tests/kokoro_g2p.rs.

    target/misaki-venv/bin/python scripts/misaki_reference.py [--british] < texts.json > phonemes.json

Reads a JSON list of texts; writes a JSON list of misaki's phoneme strings, one per text, as
kokoro-onnx gets them (misaki.en.G2P with espeak-ng as the fallback, version 1.0 symbols).

misaki tags words with spaCy's en_core_web_sm, which only a model hub serves. Here spaCy's
blank English tokenizer runs with a rule tagger instead (the same rules as indextts's frontend,
src/frontend/misaki.rs): punctuation and currency symbols get their Penn Treebank tags, numbers are CD, `a an the` are determiners,
`I` a pronoun, `to` and `in` prepositions, and every other word is untagged, so a heteronym
that needs its part of speech takes misaki's default reading.
"""

import json
import sys

import spacy
from spacy.language import Language
from misaki import en, espeak

PUNCT = {",": ",", "(": "-LRB-", "[": "-LRB-", "{": "-LRB-", ")": "-RRB-", "]": "-RRB-", "}": "-RRB-",
         ":": ":", ";": ":", "-": ":", "–": ":", "—": ":", "…": ":", "“": "``", "”": "''"}
WORDS = {"a": "DT", "an": "DT", "the": "DT", "I": "PRP", "to": "TO", "in": "IN"}


@Language.component("rule_tagger")
def rule_tagger(doc):
    open_quote = True
    for i, tk in enumerate(doc):
        text = tk.text
        if text in PUNCT:
            # A hyphen inside a word (no space on either side) is spaCy's HYPH, not a dash.
            inside = text == "-" and i > 0 and not doc[i - 1].whitespace_ and not tk.whitespace_
            tk.tag_ = "HYPH" if inside else PUNCT[text]
        elif text == '"':
            after_space = i == 0 or bool(doc[i - 1].whitespace_)
            opening = after_space and open_quote
            open_quote = not opening
            tk.tag_ = "``" if opening else "''"
        elif text and all(c in ".!?" for c in text):
            tk.tag_ = "."
        elif text in ("$", "£", "€"):
            tk.tag_ = "$"
        elif text[:1].isdigit():
            tk.tag_ = "CD"
        elif text in WORDS:
            tk.tag_ = WORDS[text]
        elif text.lower() in WORDS and text.lower() != "i":
            tk.tag_ = WORDS[text.lower()]
    return doc


class RuleTaggedG2P(en.G2P):
    def __init__(self, british):
        self.version = None
        self.british = british
        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("rule_tagger")
        self.lexicon = en.Lexicon(british)
        self.fallback = espeak.EspeakFallback(british=british)
        self.unk = "❓"


def main() -> None:
    g2p = RuleTaggedG2P(british="--british" in sys.argv[1:])
    texts = json.load(sys.stdin)
    json.dump([g2p(text)[0] for text in texts], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
