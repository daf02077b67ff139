"""The `indextts` Python package, as installed from its wheel into a fresh venv: real audio,
stream equals whole, cancelling, threads sharing one synthesizer, text streams, errors mapped
to exceptions, and Ctrl-C during a stream."""

import _thread
import signal
import threading
import time

import numpy as np
import pytest

import indextts
from conftest import check_speech, corpus_lines

SENTENCES = corpus_lines("en_sentences.txt")


@pytest.fixture(scope="module")
def synth():
    return indextts.Synthesizer(voice="en_US-joe-medium", threads=2)


def test_synthesize_gives_speech(synth):
    audio, rate = synth.synthesize(SENTENCES[0])
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32
    assert rate == synth.sample_rate == 22050
    assert np.isfinite(audio).all()
    check_speech("python", SENTENCES[0], audio.tolist(), rate)


def test_stream_equals_whole(synth):
    text = " ".join(SENTENCES[:3])
    whole, _ = synth.synthesize(text, seed=7)
    chunks = list(synth.stream(text, seed=7))
    assert len(chunks) >= 2
    assert chunks[0].start_sample == 0 and chunks[-1].sentence_end
    streamed = np.concatenate([c.samples for c in chunks])
    assert streamed.shape == whole.shape
    assert np.max(np.abs(streamed - whole)) <= 1e-4


def test_breaking_out_of_the_loop_cancels(synth):
    text = " ".join(SENTENCES)
    started = time.monotonic()
    with synth.stream(text) as stream:
        for chunk in stream:
            break
    # Closing returned once the synthesis had stopped: far sooner than the whole text.
    assert time.monotonic() - started < 2.0
    audio, _ = synth.synthesize(SENTENCES[1])
    assert len(audio) > 0


def test_threads_share_one_synthesizer(synth):
    results = {}

    def speak(i):
        audio, rate = synth.synthesize(SENTENCES[i], seed=i)
        results[i] = (audio, rate)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        audio, rate = results[i]
        check_speech(f"thread {i}", SENTENCES[i], audio.tolist(), rate)
        again, _ = synth.synthesize(SENTENCES[i], seed=i)
        assert np.array_equal(audio, again), "a thread got another's audio"


def test_threads_that_follow_the_load():
    """Four threads at once on a synthesizer whose threads follow the load: one-thread sessions
    are made, and each thread's audio is within 1e-6 of what it is alone."""
    synth = indextts.Synthesizer(
        voice="en_US-joe-medium", threads=2, cache_bytes=0, follow_load=True
    )
    alone = [synth.synthesize(SENTENCES[i], seed=i)[0] for i in range(4)]
    assert synth.one_thread_sessions == 0
    results = {}

    def speak(i):
        results[i] = synth.synthesize(SENTENCES[i], seed=i)[0]

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert synth.one_thread_sessions > 0
    for i in range(4):
        assert results[i].shape == alone[i].shape
        assert np.max(np.abs(results[i] - alone[i])) <= 1e-6


def test_text_stream(synth):
    text = " ".join(SENTENCES[:2])
    sink, audio = synth.text_stream()
    words = text.split(" ")

    def feed():
        for i, word in enumerate(words):
            sink.push(word if i == 0 else " " + word)
            time.sleep(0.03)
        sink.finish()

    writer = threading.Thread(target=feed)
    writer.start()
    samples = np.concatenate([c.samples for c in audio])
    writer.join()
    check_speech("python text stream", text, samples.tolist(), synth.sample_rate)
    with pytest.raises(indextts.StreamClosedError):
        sink.push("More.")


def test_bad_input_raises_the_right_exception(synth):
    with pytest.raises(indextts.EmptyTextError):
        synth.synthesize("   ")
    with pytest.raises(indextts.TextTooLongError):
        synth.synthesize("a" * (indextts.MAX_TEXT_BYTES + 1))
    with pytest.raises(indextts.InvalidOptionError):
        synth.synthesize("Hello.", speed=float("nan"))
    with pytest.raises(indextts.InvalidOptionError):
        synth.stream("Hello.", speed=-1.0)
    with pytest.raises(indextts.UnknownSpeakerError):
        synth.synthesize("Hello.", speaker="nobody")
    with pytest.raises(indextts.VoiceNotFoundError) as missing:
        indextts.Synthesizer(voice="no-such-voice")
    assert "no-such-voice" in str(missing.value)
    assert issubclass(indextts.VoiceNotFoundError, indextts.IndexTTSError)


def test_keyboard_interrupt_during_a_stream(synth):
    # Long enough that the loop (50 ms a chunk) outlasts the timer even when every sentence is
    # a cache hit from an earlier test (a whole sentence a chunk).
    text = " ".join(SENTENCES * 6)
    # Python's own Ctrl-C handler, whatever an earlier test's event loop left installed
    # (interrupt_main does nothing when SIGINT is not handled by Python).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    chunks = 0
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in synth.stream(text):
                chunks += 1
                time.sleep(0.05)
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    # The interpreter and the synthesizer go on.
    audio, rate = synth.synthesize(SENTENCES[0])
    check_speech("after ctrl-c", SENTENCES[0], audio.tolist(), rate)


def test_list_voices():
    voices = {v["name"]: v for v in indextts.list_voices()}
    joe = voices["en_US-joe-medium"]
    assert joe["installed"] and joe["sample_rate"] == 22050 and joe["language"] == "en-us"


def test_word_timestamps(synth):
    text = "Three of the 42 dogs, Dr. Smith said, weren't well-known."
    audio, rate, words = synth.synthesize(text, timestamps=True)
    assert [w.word for w in words] == ["Three", "of", "the", "42", "dogs", "Dr", "Smith", "said", "weren't", "well-known"]
    raw = text.encode()
    for w in words:
        assert raw[w.text_start : w.text_end].decode() == w.word
        assert 0 <= w.start < w.end <= len(audio) / rate + 1e-6
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    # The stream's chunks carry the same marks.
    chunks = list(synth.stream(text))
    streamed = [w for chunk in chunks for w in chunk.words]
    assert streamed == words
    # And the phonemes: in order, each word starting where one does.
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    assert len(phonemes) > 3 * len(words)
    assert all(p.phoneme and isinstance(p.id, int) for p in phonemes)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(phonemes, phonemes[1:]))
    starts = {p.start for p in phonemes}
    assert all(w.start in starts for w in words)
    # Without the flag, the two-tuple as before.
    assert len(synth.synthesize(text)) == 2


def test_lexicon(tmp_path):
    """A lexicon entry replaces the word's phonemes: its phoneme marks spell the entry."""
    ipa = "təmˈɑːtoʊ"
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text(f"tomato\t{ipa}\n", encoding="utf-8")
    synth = indextts.Synthesizer(threads=2, lexicon=lexicon)
    chunks = list(synth.stream("tomato"))
    (word,) = [w for c in chunks for w in c.words]
    said = "".join(p.phoneme for c in chunks for p in c.phonemes if word.start <= p.start < word.end)
    assert said == ipa
    lexicon.write_text("tomato\n", encoding="utf-8")
    with pytest.raises(indextts.IndexTTSError, match="line 1"):
        indextts.Synthesizer(threads=2, lexicon=lexicon)
    with pytest.raises(indextts.IndexTTSError, match="missing"):
        indextts.Synthesizer(threads=2, lexicon=tmp_path / "missing.tsv")
