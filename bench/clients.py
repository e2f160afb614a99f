"""Load generators the benchmark needs beyond wrk: a burst of simultaneous requests, and streams.

Raw asyncio sockets keep the client's own cost far below the server's, since both share the
machine.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time


def _request(path: str, body: dict, headers: dict[str, str], port: int) -> bytes:
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


async def _one(port: int, raw: bytes, start: asyncio.Event) -> tuple[int, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await start.wait()
    began = time.perf_counter()
    writer.write(raw)
    await writer.drain()
    response = await reader.read()  # Connection: close: the server closes after the answer
    elapsed = time.perf_counter() - began
    writer.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    return status, elapsed


async def burst(*, port: int, path: str, body: dict, headers: dict[str, str], count: int) -> dict:
    """Open `count` connections, then send every request at the same instant."""
    start = asyncio.Event()
    raw = _request(path, body, headers, port)
    tasks = [asyncio.create_task(_one(port, raw, start)) for _ in range(count)]
    await asyncio.sleep(0.5)  # let every connection open first
    began = time.perf_counter()
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - began
    latencies = sorted(r[1] for r in results if not isinstance(r, BaseException) and r[0] == 200)
    failures = sum(1 for r in results if isinstance(r, BaseException) or r[0] != 200)
    return {
        "count": count,
        "ok": len(latencies),
        "failures": failures,
        "wall_s": wall,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "max_s": latencies[-1] if latencies else None,
    }


async def _stream_once(port: int, raw: bytes) -> tuple[float, int, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.perf_counter()
    writer.write(raw)
    await writer.drain()
    first = None
    chunks = 0
    buffer = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if b"data: " in event and b'"content"' in event:
                chunks += 1
                if first is None:
                    first = time.perf_counter() - began
    total = time.perf_counter() - began
    writer.close()
    return first or total, chunks, total


async def streams(
    *, port: int, path: str, body: dict, headers: dict[str, str], count: int, concurrency: int
) -> dict:
    raw = _request(path, body, headers, port)
    semaphore = asyncio.Semaphore(concurrency)

    async def run():
        async with semaphore:
            return await _stream_once(port, raw)

    results = await asyncio.gather(*(run() for _ in range(count)))
    ttfb = sorted(r[0] for r in results)
    rates = [r[1] / r[2] for r in results if r[2] > 0]
    return {
        "count": count,
        "chunks_per_stream": statistics.mean(r[1] for r in results),
        "ttfb_p50_ms": percentile(ttfb, 50) * 1000,
        "ttfb_p99_ms": percentile(ttfb, 99) * 1000,
        "chunks_per_s": statistics.mean(rates) if rates else 0.0,
    }


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    index = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]
