import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np

__version__: str
MAX_TEXT_BYTES: int

class IndexTTSError(Exception): ...
class VoiceNotFoundError(IndexTTSError): ...
class InvalidOptionError(IndexTTSError): ...
class UnknownSpeakerError(IndexTTSError): ...
class EmptyTextError(IndexTTSError): ...
class TextTooLongError(IndexTTSError): ...
class ModelError(IndexTTSError): ...
class StreamClosedError(IndexTTSError): ...

@dataclass(frozen=True)
class WordMark:
    word: str
    start: float
    end: float
    text_start: int
    text_end: int

@dataclass(frozen=True)
class PhonemeMark:
    phoneme: str
    id: int
    start: float
    end: float

@dataclass(frozen=True)
class AudioChunk:
    samples: np.ndarray
    sample_rate: int
    start_sample: int
    sentence: int
    sentence_end: bool
    words: Tuple[WordMark, ...] = ...
    phonemes: Tuple[PhonemeMark, ...] = ...

class AudioStream(Iterator[AudioChunk]):
    def __iter__(self) -> "AudioStream": ...
    def __next__(self) -> AudioChunk: ...
    def close(self) -> None: ...
    def __enter__(self) -> "AudioStream": ...
    def __exit__(self, *exc: object) -> None: ...

class TextSink:
    def push(self, text: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self) -> None: ...

class Synthesizer:
    def __init__(
        self,
        voice: Optional[str] = ...,
        threads: Optional[int] = ...,
        cache_bytes: Optional[int] = ...,
        lexicon: Optional[Union[str, os.PathLike[str]]] = ...,
        follow_load: bool = ...,
    ) -> None: ...
    @property
    def one_thread_sessions(self) -> int: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def speakers(self) -> List[str]: ...
    @property
    def language(self) -> str: ...
    def synthesize(
        self,
        text: str,
        speed: Optional[float] = ...,
        speaker: Optional[str] = ...,
        seed: Optional[int] = ...,
        timestamps: bool = ...,
    ) -> Union[Tuple[np.ndarray, int], Tuple[np.ndarray, int, List[WordMark]]]: ...
    def stream(
        self,
        text: str,
        speed: Optional[float] = ...,
        speaker: Optional[str] = ...,
        seed: Optional[int] = ...,
    ) -> AudioStream: ...
    def text_stream(
        self,
        speed: Optional[float] = ...,
        speaker: Optional[str] = ...,
        seed: Optional[int] = ...,
    ) -> Tuple[TextSink, AudioStream]: ...

def list_voices() -> List[dict]: ...
