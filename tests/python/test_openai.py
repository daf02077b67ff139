"""The official `openai` Python package, unchanged, against a real indextts-server: the calls
existing code makes (model and voice names, formats, streaming, server-sent events) work or
fail the way OpenAI's clients expect."""

import base64
import json
import time

import openai
import pytest

from conftest import check_speech, corpus_lines, pcm16, wav_pcm

TEXT = corpus_lines("en_sentences.txt")[0]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="not-needed", max_retries=0)


def test_wav_with_openai_names(client):
    # What existing code sends: an OpenAI model and voice.
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav")
    rate, pcm = wav_pcm(audio.content)
    assert rate == 22050
    check_speech("wav alloy", TEXT, pcm16(pcm), rate)


def test_streamed_pcm_arrives_before_the_end(client):
    started = time.monotonic()
    first = None
    data = b""
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="en_US-joe-medium", input=TEXT, response_format="pcm"
    ) as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        for piece in response.iter_bytes():
            if first is None:
                first = time.monotonic() - started
            data += piece
    total = time.monotonic() - started
    print(f"pcm: first bytes after {first * 1e3:.0f} ms, all after {total * 1e3:.0f} ms")
    assert first < total
    check_speech("pcm", TEXT, pcm16(data), 22050)


def test_speed_and_mapped_voice(client):
    normal = client.audio.speech.create(model="tts-1-hd", voice="nova", input=TEXT, response_format="pcm")
    fast = client.audio.speech.create(
        model="indextts", voice="nova", input=TEXT, response_format="pcm", speed=1.5
    )
    ratio = len(fast.content) / len(normal.content)
    print(f"speed 1.5: {ratio:.2f} of the length")
    assert 0.55 < ratio < 0.8, ratio


def test_compressed_formats_are_refused_as_openai_clients_expect(client):
    for fmt in ["mp3", "opus", "aac", "flac"]:
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
        error = refused.value.body
        assert error["code"] == "unsupported_format", error
        assert error["param"] == "response_format", error
        assert "wav" in error["message"] and fmt in error["message"], error


def test_unknown_model_and_voice_are_refused(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="whisper-1", voice="alloy", input=TEXT)
    assert refused.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="nobody", input=TEXT)
    assert refused.value.body["code"] == "unknown_voice"


def test_instructions_are_accepted_and_said_to_be_ignored(client):
    response = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=TEXT, response_format="wav",
        instructions="Speak cheerfully.",
    )
    assert response.headers["x-indextts-ignored"] == "instructions"
    rate, pcm = wav_pcm(response.content)
    check_speech("instructions", TEXT, pcm16(pcm), rate)


def test_server_sent_events(client):
    # A sentence no other test spoke: not a cache hit, so it streams in several pieces.
    text = corpus_lines("en_sentences.txt")[4]
    deltas = []
    done = None
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=text, stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            if event["type"] == "speech.audio.delta":
                deltas.append(base64.b64decode(event["audio"]))
            elif event["type"] == "speech.audio.done":
                done = event
    assert done is not None and done["usage"]["input_tokens"] == len(text.split()), done
    assert len(deltas) >= 2, len(deltas)
    check_speech("sse", text, pcm16(b"".join(deltas)), 22050)


def test_listings(client, server):
    ids = [m.id for m in client.models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "indextts"} <= set(ids), ids
    voices = server.get_json("/v1/audio/voices")
    assert "en_US-joe-medium" in voices["voices"] and "alloy" in voices["voices"], voices
    nova = next(v for v in voices["data"] if v["id"] == "nova")
    assert nova["maps_to"] == "en_US-joe-medium", nova
