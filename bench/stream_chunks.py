"""Chunk throughput and time to first chunk of one stream: straight from a fast upstream, and
through one provider adapter (OpenAI protocol, Anthropic protocol).

The upstream runs in its own process and sends each chunk as its own write, flushed, as a
provider streaming tokens does, as fast as the socket takes them. "Straight" is a bare aiohttp
client reading the SSE lines and decoding each event with orjson: what any client must do at
least. "Adapter" is the project's adapter `stream()` yielding its ChatChunks.

    .venv/bin/python bench/stream_chunks.py [--port 18960] [--chunks 2000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.adapters import ChatRequest, Message, ProviderConfig, adapter_for  # noqa: E402

API_KEY = "sk-bench-0123456789abcdef"


# --------------------------------------------------------------------------- the upstream


def _openai_events(count: int) -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1764115200,
            "model": "gpt-4.1-mini-2025-04-14",
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {"prompt_tokens": 12, "completion_tokens": count, "total_tokens": count + 12}
    return [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        *(chunk({"content": f" word{i}"}) for i in range(count)),
        chunk({}, "stop", usage),
        b"data: [DONE]\n\n",
    ]


def _anthropic_events(count: int) -> list[bytes]:
    def event(name: str, body: dict) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **body}) + b"\n\n"

    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    return [
        event("message_start", {"message": message}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
        *(
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}})
            for i in range(count)
        ),
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": count}},
        ),
        event("message_stop", {}),
    ]


async def _serve(port: int, count: int) -> None:
    bodies = {b"openai": _openai_events(count), b"anthropic": _anthropic_events(count)}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                events = bodies[b"anthropic" if b"/v1/messages" in head.split(b"\r\n", 1)[0] else b"openai"]
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for event in events:  # one write per chunk, flushed: a provider streaming tokens
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- the clients


async def _read_events(response: aiohttp.ClientResponse, started: float) -> tuple[float, int, float]:
    """Time to the first event, events read (each decoded, as a client does), seconds for the whole
    stream."""
    first = None
    count = 0
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                orjson.loads(line[6:])
                count += 1
                if first is None:
                    first = time.perf_counter() - started
    return first or 0.0, count, time.perf_counter() - started


def _summary(rows: dict[str, list[tuple[float, int, float]]], *, measured: str) -> dict:
    """Medians per system, and `measured`'s rate and first-chunk delay against the straight stream."""
    summary: dict = {}
    for name, runs in rows.items():
        summary[name] = {
            "chunks": runs[0][1],
            "chunks_per_s": round(statistics.median(n / total for _, n, total in runs)),
            "first_chunk_ms": round(statistics.median(first for first, _, _ in runs) * 1000, 3),
        }
    summary["throughput_ratio"] = round(
        summary[measured]["chunks_per_s"] / summary["straight"]["chunks_per_s"], 3
    )
    summary["first_chunk_gap_ms"] = round(
        summary[measured]["first_chunk_ms"] - summary["straight"]["first_chunk_ms"], 3
    )
    return summary


async def straight(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float, int, float]:
    """Time to the first event, events read, seconds for the whole stream."""
    started = time.perf_counter()
    async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
        return await _read_events(response, started)


async def through(adapter, request: ChatRequest) -> tuple[float, int, float]:
    """The same stream through the provider adapter: time to first chunk, chunks, total seconds."""
    started = time.perf_counter()
    first = None
    count = 0
    async for _chunk in adapter.stream(request, timeout=30):
        count += 1
        if first is None:
            first = time.perf_counter() - started
    return first or 0.0, count, time.perf_counter() - started


async def measure(port: int, rounds: int) -> dict:
    """Each protocol's stream straight and through its adapter, rounds alternating."""
    base = f"http://127.0.0.1:{port}"
    results: dict = {}
    async with aiohttp.ClientSession() as session:
        for protocol, kind, path, model in (
            ("openai", "openai_compatible", "/v1/chat/completions", "gpt-4.1-mini"),
            ("anthropic", "anthropic", "/v1/messages", "claude-sonnet-4-6"),
        ):
            config = ProviderConfig(
                name=f"bench-{protocol}",
                kind=kind,
                base_url=f"{base}/v1" if protocol == "openai" else base,
                api_key=API_KEY,
            )
            adapter = adapter_for(config)
            request = ChatRequest(model=model, messages=[Message(role="user", content="Hi")], max_tokens=64)
            body = json.dumps(
                {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
            )
            rows: dict[str, list[tuple[float, int, float]]] = {"straight": [], "adapter": []}
            await straight(session, base + path, body.encode())  # warm both connections
            await through(adapter, request)
            for _ in range(rounds):  # alternating, so both see the same machine
                rows["straight"].append(await straight(session, base + path, body.encode()))
                rows["adapter"].append(await through(adapter, request))
            await adapter.aclose()
            results[protocol] = _summary(rows, measured="adapter")
    return results


async def measure_gateway(upstream_port: int, gateway_url: str, key: str, rounds: int) -> dict:
    """The same stream straight and through the whole gateway (gunicorn, one worker), as a client
    reads it: events decoded."""
    body = json.dumps(
        {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    straight_url = f"http://127.0.0.1:{upstream_port}/openai/v1/chat/completions"
    gateway_headers = {"Authorization": f"Bearer {key}", "Cache-Control": "no-cache, no-store"}
    rows: dict[str, list[tuple[float, int, float]]] = {"straight": [], "gateway": []}
    async with aiohttp.ClientSession() as session:

        async def through_gateway() -> tuple[float, int, float]:
            started = time.perf_counter()
            async with session.post(
                gateway_url + "/v1/chat/completions",
                data=body,
                headers={**gateway_headers, "content-type": "application/json"},
            ) as response:
                if response.status != 200:
                    raise SystemExit(f"gateway answered {response.status}: {(await response.text())[:300]}")
                return await _read_events(response, started)

        await straight(session, straight_url, body)
        await through_gateway()
        for _ in range(rounds):
            rows["straight"].append(await straight(session, straight_url, body))
            rows["gateway"].append(await through_gateway())
    return _summary(rows, measured="gateway")


def run_gateway(upstream_port: int, gateway_port: int, rounds: int) -> dict:
    """The gateway as bench/run.py starts it (gunicorn, PostgreSQL, Redis from DATABASE_URL and
    REDIS_URL), one worker, its OpenAI provider pointed at this script's upstream."""
    import os
    import tempfile

    from bench.gateway_setup import gateway_env, prepare_database
    from bench.servers import start_gateway

    database, redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database or not redis:
        raise SystemExit("bench: --gateway needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    work = Path(tempfile.mkdtemp(prefix="stream-chunks-"))
    env = gateway_env(
        database=database, redis=redis, upstream_url=f"http://127.0.0.1:{upstream_port}", work=work
    )
    key = prepare_database(env)
    gateway = start_gateway("gateway", port=gateway_port, env=env, work=work, workers=1)
    try:
        return asyncio.run(measure_gateway(upstream_port, gateway.url, key, rounds))
    finally:
        gateway.stop()


def main() -> None:
    """Start the upstream, measure, print the figures (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18960)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--gateway", action="store_true", help="also through the whole gateway (gunicorn, port + 2)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.port, args.chunks))
        return
    upstream = subprocess.Popen(  # noqa: S603 - this very script, as the upstream
        [sys.executable, __file__, "--serve", "--port", str(args.port), "--chunks", str(args.chunks)]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                import socket

                socket.create_connection(("127.0.0.1", args.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        results = asyncio.run(measure(args.port, args.rounds))
        if args.gateway:
            results["gateway"] = run_gateway(args.port, args.port + 2, args.rounds)
    finally:
        upstream.terminate()
        upstream.wait()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for protocol, summary in results.items():
        for name in ("straight", "adapter", "gateway"):
            if name not in summary:
                continue
            row = summary[name]
            print(
                f"{protocol:9} {name:8} {row['chunks']:6} chunks {row['chunks_per_s']:8} chunks/s "
                f"first chunk {row['first_chunk_ms']:7.3f} ms"
            )
        through = "gateway" if "gateway" in summary else "adapter"
        print(
            f"{protocol:9} {through}/straight throughput {summary['throughput_ratio']:.2f}, "
            f"first chunk +{summary['first_chunk_gap_ms']:.3f} ms"
        )


if __name__ == "__main__":
    main()
