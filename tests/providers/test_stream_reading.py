"""Streams read off the provider's pool by the adapters themselves: what arrived before an error
reaches the caller, each wait for a chunk has its deadline (and only the waits count), a timeout
leaves the caller's task as it found it, and the server-sent events are cut where the spec cuts
them whatever the reads bring."""

from __future__ import annotations

import asyncio
import time

import pytest

from providers.adapters import ProviderError
from providers.adapters.http import sse_batches

from .conftest import EXPECTED_TEXT, PROVIDERS, chat_request

SSE_PROTOCOLS = ["openai", "deepseek", "openai_compatible", "anthropic"]


@pytest.mark.parametrize("name", SSE_PROTOCOLS)
async def test_what_arrived_before_an_in_stream_error_reaches_the_caller_first(name, make_adapter):
    adapter = make_adapter(name)
    received: list[str] = []

    with pytest.raises(ProviderError) as info:
        async for chunk in adapter.stream(
            chat_request(f"{PROVIDERS[name].model}@fault=stream_error"), timeout=5
        ):
            received.append(chunk.delta)

    assert info.value.kind == "unavailable" and info.value.status_code is None
    text = "".join(received)
    # The emulator sends the error right behind the first words, in the same write.
    assert text and EXPECTED_TEXT.startswith(text) and text != EXPECTED_TEXT


@pytest.mark.parametrize("name", SSE_PROTOCOLS)
async def test_a_stream_longer_than_the_deadline_runs_to_its_end_while_chunks_keep_coming(name, make_adapter):
    # Events 80 ms apart (a chunk at most every four events) under a 0.5 s limit per wait: the
    # whole stream takes longer than the limit, each wait stays under it.
    adapter = make_adapter(name, timeout_s=0.5)
    began = time.monotonic()

    chunks = [
        c async for c in adapter.stream(chat_request(f"{PROVIDERS[name].model}@fault=pace:120"), timeout=0.4)
    ]

    assert time.monotonic() - began > 0.8
    assert "".join(c.delta for c in chunks) == EXPECTED_TEXT
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("name", SSE_PROTOCOLS)
async def test_a_stall_between_chunks_is_a_timeout_after_the_limit(name, make_adapter):
    adapter = make_adapter(name, timeout_s=0.3)
    stream = adapter.stream(chat_request(f"{PROVIDERS[name].model}@fault=pace:1500"), timeout=0.3)
    began = time.monotonic()

    with pytest.raises(ProviderError) as info:
        async for _chunk in stream:
            pass

    assert info.value.kind == "timeout"
    assert 0.25 < time.monotonic() - began < 1.4
    # The deadline took its cancellation back: the caller's task goes on undisturbed.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)
    assert "".join(
        [c.delta async for c in adapter.stream(chat_request(PROVIDERS[name].model), timeout=5)]
    ) == (EXPECTED_TEXT)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_the_callers_own_time_between_chunks_does_not_count(name, make_adapter):
    adapter = make_adapter(name, timeout_s=0.2)
    text = ""
    async for chunk in adapter.stream(chat_request(PROVIDERS[name].model), timeout=0.2):
        text += chunk.delta
        await asyncio.sleep(0.25)  # a slow client downstream, longer than the limit

    assert text == EXPECTED_TEXT


async def test_cancelling_the_caller_stays_a_cancellation(make_adapter):
    adapter = make_adapter("openai", timeout_s=30)

    async def consume() -> None:
        async for _chunk in adapter.stream(chat_request("gpt-4.1-mini@fault=pace:2000"), timeout=30):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --------------------------------------------------------------------------- the SSE reader


class _Body:
    """What aiohttp's response hands the reader: the body in the pieces the socket delivered."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def iter_any(self):
        for piece in self._pieces:
            yield piece


class _Response:
    def __init__(self, pieces: list[bytes]) -> None:
        self.content = _Body(pieces)


async def _events(pieces: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [event async for batch in sse_batches(_Response(pieces)) for event in batch]  # type: ignore[arg-type]


async def test_events_are_whole_however_the_reads_split_them():
    body = (
        b'event: message_start\ndata: {"a": 1}\n\n: keep-alive\n\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\n'
    )
    expected = [(b"message_start", b'{"a": 1}'), (b"", b'{"b":\n2}'), (b"", b"[DONE]")]

    assert await _events([body]) == expected
    assert await _events([body[i : i + 1] for i in range(len(body))]) == expected  # a byte a read
    assert await _events([body[:7], body[7:30], body[30:]]) == expected


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr"])
async def test_every_line_ending_the_spec_allows_is_read(ending):
    body = b'event: ping\ndata: {}\n\ndata:{"x": 1}\n\n'.replace(b"\n", ending)

    expected = [(b"ping", b"{}"), (b"", b'{"x": 1}')]
    assert await _events([body]) == expected
    # A CRLF split between two reads is one line end, not two.
    split = body.index(b"\r") + 1
    assert await _events([body[:split], body[split:]]) == expected


async def test_an_event_cut_off_by_the_end_of_the_body_is_dropped():
    assert await _events([b'data: {"a": 1}\n\ndata: {"b": 2']) == [(b"", b'{"a": 1}')]
    assert await _events([b"id: 7\nretry: 100\n\n"]) == []
