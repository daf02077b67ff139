"""indextts-server's Wyoming protocol through the real client library (`wyoming==1.10.2`,
as Home Assistant uses it): describe, a whole synthesis, a streaming synthesis fed word by word,
voices chosen by name and by language, and clients that misbehave."""

import asyncio
import json
import socket
import time

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from conftest import Server, check_speech, corpus_lines, free_port, pcm16

SENTENCES = corpus_lines("en_sentences.txt")


@pytest.fixture(scope="module")
def wyoming():
    port = free_port()
    server = Server(["--wyoming", f"tcp://127.0.0.1:{port}", "--rate-per-second", "0"])
    server.wyoming_port = port
    yield server
    server.stop()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=120))


async def collect(client, until):
    """Audio events until an event of type `until`: (start, samples, events seen)."""
    start, samples, kinds = None, [], []
    while True:
        event = await client.read_event()
        assert event is not None, "the server closed the connection"
        kinds.append(event.type)
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            assert (chunk.rate, chunk.width, chunk.channels) == (start.rate, 2, 1)
            samples.extend(pcm16(chunk.audio))
        elif Error.is_type(event.type):
            raise AssertionError(f"error event: {event.data}")
        if event.type == until:
            return start, samples, kinds


def test_describe_lists_every_voice(wyoming):
    async def go():
        async with AsyncTcpClient("127.0.0.1", wyoming.wyoming_port) as client:
            await client.write_event(Describe().event())
            return Info.from_event(await client.read_event())

    info = run(go())
    (tts,) = info.tts
    assert tts.supports_synthesize_streaming
    voice = next(v for v in tts.voices if v.name == "en_US-joe-medium")
    assert voice.languages == ["en_US"] and voice.installed


def test_whole_synthesis(wyoming):
    text = SENTENCES[1]

    async def go():
        async with AsyncTcpClient("127.0.0.1", wyoming.wyoming_port) as client:
            voice = SynthesizeVoice(name="en_US-joe-medium")
            await client.write_event(Synthesize(text=text, voice=voice).event())
            return await collect(client, AudioStop().event().type)

    start, samples, kinds = run(go())
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    assert kinds[0] == "audio-start" and kinds[-1] == "audio-stop"
    check_speech("wyoming whole", text, samples, start.rate)


def test_voice_by_language(wyoming):
    text = SENTENCES[2]

    async def go():
        async with AsyncTcpClient("127.0.0.1", wyoming.wyoming_port) as client:
            voice = SynthesizeVoice(language="en-US")
            await client.write_event(Synthesize(text=text, voice=voice).event())
            return await collect(client, "audio-stop")

    start, samples, _ = run(go())
    check_speech("wyoming by language", text, samples, start.rate)


def test_streaming_synthesis_word_by_word(wyoming):
    text = " ".join(SENTENCES[:2])
    words = text.split(" ")

    async def go():
        async with AsyncTcpClient("127.0.0.1", wyoming.wyoming_port) as client:
            voice = SynthesizeVoice(name="en_US-joe-medium")
            await client.write_event(SynthesizeStart(voice=voice).event())
            first_audio = None
            sent_all = None

            async def feed():
                nonlocal sent_all
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    await client.write_event(SynthesizeChunk(text=piece).event())
                    await asyncio.sleep(0.05)
                # The compatibility copy Home Assistant also sends, then the end.
                await client.write_event(Synthesize(text=text, voice=voice).event())
                await client.write_event(SynthesizeStop().event())
                sent_all = time.monotonic()

            feeder = asyncio.create_task(feed())
            start, samples = None, []
            while True:
                event = await client.read_event()
                assert event is not None
                if AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                elif AudioChunk.is_type(event.type):
                    if first_audio is None:
                        first_audio = time.monotonic()
                    samples.extend(pcm16(AudioChunk.from_event(event).audio))
                elif Error.is_type(event.type):
                    raise AssertionError(event.data)
                elif SynthesizeStopped.is_type(event.type):
                    break
            await feeder
            return start, samples, first_audio, sent_all

    start, samples, first_audio, sent_all = run(go())
    print(f"first audio {sent_all - first_audio:.2f} s before the last word was sent")
    assert first_audio < sent_all, "no audio before the text was complete"
    check_speech("wyoming streaming", text, samples, start.rate)


def raw_events(port, lines, read_for=5.0):
    """Send raw bytes; the events the server answers until it closes (or `read_for` s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as s:
        s.sendall(lines)
        data = b""
        try:
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                data += piece
        except socket.timeout:
            pass
    # Each event: a header line, then data_length bytes of data, then payload_length bytes.
    headers, at = [], 0
    while at < len(data):
        end = data.index(b"\n", at)
        header = json.loads(data[at:end])
        at = end + 1 + header.get("data_length", 0) + header.get("payload_length", 0)
        headers.append(header)
    return headers


def test_malformed_and_unknown_events(wyoming):
    # An unknown event is dropped (the protocol's rule); a ping is answered; a malformed
    # header is an error event, then the connection closes.
    headers = raw_events(
        wyoming.wyoming_port,
        b'{"type": "no-such-event"}\n{"type": "ping", "data": {"text": "hi"}}\nnot json\n',
    )
    kinds = [h.get("type") for h in headers]
    assert kinds[:2] == ["pong", "error"], headers
    # An oversize data section is refused before it is read.
    headers = raw_events(wyoming.wyoming_port, b'{"type": "synthesize", "data_length": 99999999}\n')
    assert [h.get("type") for h in headers] == ["error"], headers


def test_a_client_that_leaves_mid_stream_stops_its_synthesis(wyoming):
    paragraph = " ".join(SENTENCES)
    with socket.create_connection(("127.0.0.1", wyoming.wyoming_port)) as s:
        data = json.dumps({"text": paragraph}).encode()
        s.sendall(json.dumps({"type": "synthesize", "data_length": len(data)}).encode() + b"\n" + data)
        s.recv(1024)  # audio-start: the synthesis runs
    # Its pipeline stops: the gauge returns to 0 (the HTTP side serves /metrics).
    deadline = time.monotonic() + 20
    while True:
        with socket.create_connection(("127.0.0.1", wyoming.port)) as h:
            h.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            body = b""
            while piece := h.recv(65536):
                body += piece
        running = next(
            float(l.split()[-1])
            for l in body.decode().splitlines()
            if l.startswith("indextts_synthesis_pipelines_running ")
        )
        if running == 0:
            break
        assert time.monotonic() < deadline, f"{running} pipelines still running 20 s later"
        time.sleep(0.2)
