"""indextts: low-latency neural text-to-speech on CPU, streamed while it is made.

>>> import indextts
>>> synth = indextts.Synthesizer(voice="en_US-joe-medium", threads=2)
>>> audio, rate = synth.synthesize("Hello from Python.")       # numpy float32, Hz
>>> for chunk in synth.stream("A longer text, spoken as it is made."):
...     play(chunk.samples)                                      # first chunk in ~60 ms

Voices are found by name in the assets directory (``$INDEXTTS_ASSETS``, else
``$XDG_DATA_HOME/indextts``, else the checkout the wheel was built from); ``list_voices()``
lists them. Errors are ``IndexTTSError`` and its subclasses, with indextts's messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np

from . import _native
from ._native import (
    MAX_TEXT_BYTES,
    EmptyTextError,
    IndexTTSError,
    InvalidOptionError,
    ModelError,
    StreamClosedError,
    TextTooLongError,
    UnknownSpeakerError,
    VoiceNotFoundError,
)

__version__ = _native.__version__

__all__ = [
    "WordMark",
    "PhonemeMark",
    "AudioChunk",
    "AudioStream",
    "EmptyTextError",
    "IndexTTSError",
    "InvalidOptionError",
    "MAX_TEXT_BYTES",
    "ModelError",
    "StreamClosedError",
    "Synthesizer",
    "TextSink",
    "TextTooLongError",
    "UnknownSpeakerError",
    "VoiceNotFoundError",
    "list_voices",
]


def _samples(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4")


@dataclass(frozen=True)
class WordMark:
    """A word of the text and when it is said."""

    word: str
    """The word as written."""
    start: float
    """Seconds from the start of the audio."""
    end: float
    """Seconds from the start of the audio."""
    text_start: int
    """Its first byte in the text (UTF-8)."""
    text_end: int
    """One past its last byte in the text (UTF-8)."""


@dataclass(frozen=True)
class PhonemeMark:
    """A phoneme the model says, its id in the voice's symbol table, and when."""

    phoneme: str
    """IPA for Piper and Kokoro voices, a Baker phone (``zh``, ``ong1``, ``sil``) for the
    Mandarin voice."""
    id: int
    """The id the model was given."""
    start: float
    """Seconds from the start of the audio."""
    end: float
    """Seconds from the start of the audio."""


@dataclass(frozen=True)
class AudioChunk:
    """A piece of streamed audio."""

    samples: np.ndarray
    """Mono float32 samples in [-1, 1]."""
    sample_rate: int
    """Samples per second."""
    start_sample: int
    """Position of the first sample in the stream."""
    sentence: int
    """Index of the sentence the chunk belongs to."""
    sentence_end: bool
    """Whether the chunk ends its sentence."""
    words: Tuple[WordMark, ...] = ()
    """The words that start in this chunk."""
    phonemes: Tuple[PhonemeMark, ...] = ()
    """The phonemes that start in this chunk."""


class AudioStream:
    """An iterator of ``AudioChunk``s in order, made while you read them. Breaking out of the
    loop, ``close()``, leaving a ``with`` block or dropping the stream cancels the synthesis.
    The GIL is released while the next chunk is made."""

    def __init__(self, native: "_native.Stream") -> None:
        self._native = native

    def __iter__(self) -> "AudioStream":
        return self

    def __next__(self) -> AudioChunk:
        item = self._native.__next__()
        if item is None:
            raise StopIteration
        raw, rate, start, sentence, end, words, phonemes = item
        return AudioChunk(
            _samples(raw),
            rate,
            start,
            sentence,
            end,
            tuple(WordMark(*w) for w in words),
            tuple(PhonemeMark(*p) for p in phonemes),
        )

    def close(self) -> None:
        """Cancel the synthesis; returns once its threads have stopped."""
        self._native.close()

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class TextSink:
    """The writing end of ``Synthesizer.text_stream()``: push text as it arrives (a language
    model's tokens, half words), then ``finish()``."""

    def __init__(self, native: "_native.TextSink") -> None:
        self._native = native

    def push(self, text: str) -> None:
        """Add text; ``StreamClosedError`` once the audio stream has ended."""
        self._native.push(text)

    def flush(self) -> None:
        """Speak everything pushed so far now, complete or not."""
        self._native.flush()

    def finish(self) -> None:
        """The text is complete: the rest is spoken, then the audio stream ends."""
        self._native.finish()


class Synthesizer:
    """A loaded voice. One synthesizer may be shared by many threads: each call releases the
    GIL while it synthesizes.

    :param voice: a voice's name (``list_voices()``) or a path; default ``en_US-joe-medium``.
    :param threads: ONNX Runtime threads per session (default: every core).
    :param cache_bytes: bytes of audio in the in-memory sentence cache (0: off).
    :param lexicon: a pronunciation lexicon file (``word<TAB>ipa`` lines) for voices whose
        phonemes are IPA; a file that cannot be read, or a malformed line, raises
        ``IndexTTSError`` naming it.
    :param follow_load: threads that follow the load: while several threads synthesize at
        once, their model runs take one-thread sessions (more audio per second on a busy
        machine; a sample may differ from a lone call's by about 1e-7). Default off.
    """

    def __init__(
        self,
        voice: Optional[str] = None,
        threads: Optional[int] = None,
        cache_bytes: Optional[int] = None,
        lexicon: Optional[Union[str, os.PathLike[str]]] = None,
        follow_load: bool = False,
    ) -> None:
        self._native = _native.Synthesizer(voice, threads, cache_bytes, lexicon, follow_load)

    @property
    def one_thread_sessions(self) -> int:
        """One-thread sessions made so far for calls that overlapped (``follow_load``)."""
        return self._native.one_thread_sessions

    @property
    def sample_rate(self) -> int:
        """The voice's sample rate in Hz."""
        return self._native.sample_rate

    @property
    def speakers(self) -> List[str]:
        """The voice's speakers (empty for a single-speaker voice)."""
        return self._native.speakers

    @property
    def language(self) -> str:
        """The voice's language, as an espeak-ng style tag (``en-us``, ``cmn``, ...)."""
        return self._native.language

    def synthesize(
        self,
        text: str,
        speed: Optional[float] = None,
        speaker: Optional[str] = None,
        seed: Optional[int] = None,
        timestamps: bool = False,
    ) -> Union[Tuple[np.ndarray, int], Tuple[np.ndarray, int, List[WordMark]]]:
        """Speak ``text``: (mono float32 samples, sample rate), and with ``timestamps=True``
        the word marks too: (samples, sample rate, [WordMark, ...]).

        :param speed: 1.0 is the voice's pace, 2.0 twice as fast.
        :param speaker: a speaker of a multi-speaker voice, or a blend (``"af_heart:0.7,am_adam:0.3"``).
        :param seed: the random draws' seed (default: each sentence seeds itself).
        """
        raw, rate, words = self._native.synthesize(text, speed, speaker, seed)
        if timestamps:
            return _samples(raw), rate, [WordMark(*w) for w in words]
        return _samples(raw), rate

    def stream(
        self,
        text: str,
        speed: Optional[float] = None,
        speaker: Optional[str] = None,
        seed: Optional[int] = None,
    ) -> AudioStream:
        """Speak ``text`` as a stream of ``AudioChunk``s, the first long before the text is
        done. Text and options are checked now."""
        return AudioStream(self._native.stream(text, speed, speaker, seed))

    def text_stream(
        self,
        speed: Optional[float] = None,
        speaker: Optional[str] = None,
        seed: Optional[int] = None,
    ) -> Tuple[TextSink, AudioStream]:
        """Speak text that arrives while the audio plays: push into the sink (from any
        thread), read the stream. Each sentence is spoken as soon as it is complete, a clause
        sooner while the listener would otherwise wait."""
        sink, stream = self._native.text_stream(speed, speaker, seed)
        return TextSink(sink), AudioStream(stream)


def list_voices() -> List[dict]:
    """Every voice indextts knows of: dicts with name, family, language, sample_rate,
    installed, bytes and note."""
    return _native.list_voices()
