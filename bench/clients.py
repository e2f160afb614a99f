"""The stream client of the benchmark (wrk measures whole responses only).

Raw asyncio sockets keep the client's own cost far below the server's, since both share the
machine. A chunk is a Server-Sent Event that carries non-empty text: `{"content": "..."}` on the
gateway's native door, `"delta": {"content": "..."}` in OpenAI's format (the upstream, LiteLLM).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import statistics
import time
from collections import Counter

_TEXT_CHUNK = re.compile(rb'"content":\s*"[^"]')


def http_request(path: str, body: dict, headers: dict[str, str], port: int) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-type"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def count_text_chunks(data: bytes) -> int:
    """Events with text in an SSE body (or part of one that ends on an event boundary)."""
    # `in`, not startswith: with chunked transfer encoding a chunk-size line precedes the event.
    return sum(1 for event in data.split(b"\n\n") if b"data:" in event and _TEXT_CHUNK.search(event))


async def stream_once(port: int, raw: bytes) -> dict:
    """One stream: status, time to the first text chunk, chunks, total time (request sent to close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.perf_counter()
    writer.write(raw)
    await writer.drain()
    first = None
    chunks = 0
    buffer = b""
    head = None
    while True:
        data = await reader.read(65536)
        if not data:
            break
        buffer += data
        if head is None:
            if b"\r\n\r\n" not in buffer:
                continue
            head, buffer = buffer.split(b"\r\n\r\n", 1)
        # Complete events only; a partial one waits for the next read.
        complete, _, buffer = buffer.rpartition(b"\n\n")
        found = count_text_chunks(complete)
        if found and first is None:
            first = time.perf_counter() - began
        chunks += found
    total = time.perf_counter() - began
    writer.close()
    status = int(head.split(b" ", 2)[1]) if head and head.startswith(b"HTTP/") else 0
    return {"status": status, "ttfc_s": first, "chunks": chunks, "total_s": total}


async def streams(*, port: int, path: str, body: dict, headers: dict[str, str], count: int) -> dict:
    """`count` streams one after the other (so time to first chunk is latency, not queueing)."""
    raw = http_request(path, body, headers, port)
    results = [await stream_once(port, raw) for _ in range(count)]
    return stream_summary(results)


def stream_summary(results: list[dict]) -> dict:
    good = [r for r in results if r["status"] == 200 and r["ttfc_s"] is not None and r["chunks"]]
    ttfc = sorted(r["ttfc_s"] * 1000 for r in good)
    return {
        "count": len(results),
        "errors": len(results) - len(good),
        "chunks_per_stream": statistics.mean(r["chunks"] for r in good) if good else 0.0,
        "ttfc_p50_ms": percentile(ttfc, 50),
        "ttfc_p99_ms": percentile(ttfc, 99),
        "chunks_per_s": statistics.median(r["chunks"] / r["total_s"] for r in good) if good else 0.0,
    }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return None
    index = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
    return values[index]


async def _answer_once(port: int, raw: bytes, go: asyncio.Event) -> tuple[int, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await go.wait()
        began = time.perf_counter()
        writer.write(raw)
        await writer.drain()
        response = await reader.read()  # Connection: close: the server closes after the answer
        elapsed = time.perf_counter() - began
    finally:
        writer.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    return status, elapsed


async def burst(
    *, port: int, path: str, body: dict, headers: dict[str, str], count: int, timeout_s: float
) -> dict:
    """`count` connections opened first, then every request sent at the same instant; each must be
    answered (200) within `timeout_s`."""
    raw = http_request(path, body, headers, port)
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(asyncio.wait_for(_answer_once(port, raw, go), timeout_s)) for _ in range(count)
    ]
    await asyncio.sleep(min(5.0, 0.5 + count / 500))  # let every connection open first
    began = time.perf_counter()
    go.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - began
    latencies = sorted(r[1] for r in results if not isinstance(r, BaseException) and r[0] == 200)
    # What the failures were: HTTP statuses, or the exception that ended the request.
    outcomes = Counter(type(r).__name__ if isinstance(r, BaseException) else str(r[0]) for r in results)
    return {
        "count": count,
        "outcomes": dict(outcomes.most_common()),
        "answered": len(latencies),
        "failures": count - len(latencies),
        "timeouts": sum(1 for r in results if isinstance(r, TimeoutError)),
        "wall_s": wall,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "max_s": latencies[-1] if latencies else None,
    }
