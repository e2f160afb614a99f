"""A burst through each provider adapter: N simultaneous completions against an upstream that takes
1 s, per protocol (OpenAI, Anthropic, Gemini), p50/p99/total and errors.

The upstream is the project's emulator (`manage.py run_emulator`) in its own process, with its
`latency` fault; the adapters run in this process on one event loop, as in one gateway worker. Each
adapter gets two bursts: the first opens its connections (a cold pool), the second reuses what the
pool kept (a warm pool). The same burst sent straight to the emulator with bare aiohttp is the floor.

    .venv/bin/python bench/pool_burst.py [--port 18702] [--count 1000] [--delay-ms 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.adapters import ChatRequest, Message, ProviderConfig, adapter_for  # noqa: E402
from providers.emulator.protocols import base_url_for  # noqa: E402

# provider name (the emulator's path prefix) -> (kind, model)
CASES = {
    "openai": ("openai", "gpt-4.1-mini"),
    "anthropic": ("anthropic", "claude-sonnet-4-6"),
    "gemini": ("gemini", "gemini-2.5-flash"),
}
API_KEY = "sk-bench-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def burst(call, count: int, upstream_pid: int) -> dict:
    """`count` calls started at the same instant; latency of each, wall time of all, and the CPU
    time this process and the upstream spent (on a shared machine, wall time includes waiting)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one() -> None:
        began = time.perf_counter()
        try:
            await call()
        except Exception as exc:
            name = f"{type(exc).__name__}: {getattr(exc, 'kind', '')}".rstrip(": ")
            errors[name] = errors.get(name, 0) + 1
        else:
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    cpu = time.process_time()
    upstream_cpu = cpu_seconds(upstream_pid)
    await asyncio.gather(*(one() for _ in range(count)))
    return {
        "ok": len(latencies),
        "errors": errors,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "total_s": time.perf_counter() - began,
        "client_cpu_s": time.process_time() - cpu,
        "upstream_cpu_s": cpu_seconds(upstream_pid) - upstream_cpu,
    }


async def run(root: str, count: int, kinds: list[str], upstream_pid: int) -> dict:
    results: dict[str, dict] = {}
    body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Say something."}]}
    url = f"{base_url_for(root, 'openai', 'openai')}/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def straight() -> None:
            async with session.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
                resp.raise_for_status()
                await resp.read()

        results["upstream straight (aiohttp)"] = await burst(straight, count, upstream_pid)
    for name in kinds:
        kind, model = CASES[name]
        config = ProviderConfig(
            name=name, kind=kind, base_url=base_url_for(root, name, kind), api_key=API_KEY, timeout_s=60
        )
        adapter = adapter_for(config)
        request = ChatRequest(model=model, messages=[Message("user", "Say something.")], max_tokens=50)

        async def call(adapter=adapter, request=request) -> None:
            await adapter.complete(request, timeout=60)

        try:
            results[f"{name} adapter, cold pool"] = await burst(call, count, upstream_pid)
            results[f"{name} adapter, warm pool"] = await burst(call, count, upstream_pid)
        finally:
            await adapter.aclose()
    return results


def table(results: dict, *, count: int, delay_ms: int) -> str:
    lines = [
        f"{count} simultaneous completions, upstream latency {delay_ms} ms, one event loop:",
        "",
        "| | ok | errors | p50 s | p99 s | total s | client CPU s | upstream CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        errors = sum(r["errors"].values())
        lines.append(
            f"| {name} | {r['ok']} | {errors} | {r['p50_s'] or 0:.2f} | {r['p99_s'] or 0:.2f} | "
            f"{r['total_s']:.2f} | {r['client_cpu_s']:.2f} | {r['upstream_cpu_s']:.2f} |"
        )
    for name, r in results.items():
        if r["errors"]:
            lines.append(f"\n{name}: {r['errors']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="the emulator's port (default: a free one)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--delay-ms", type=int, default=1000)
    parser.add_argument("--kinds", default=",".join(CASES), help="comma-separated: openai,anthropic,gemini")
    parser.add_argument(
        "--emulator-pid",
        type=int,
        default=0,
        help="use the emulator already serving on --port (this process id) instead of starting one",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    port = args.port or free_port()
    root = f"http://127.0.0.1:{port}"
    emulator = None
    if not args.emulator_pid:
        emulator = subprocess.Popen(
            [sys.executable, "manage.py", "run_emulator", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings"},
        )
    try:
        asyncio.run(_wait_and_configure(root, args.delay_ms))
        pid = args.emulator_pid or emulator.pid
        results = asyncio.run(run(root, args.count, args.kinds.split(","), pid))
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results, count=args.count, delay_ms=args.delay_ms))
    return 0


async def _wait_and_configure(root: str, delay_ms: int) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with session.get(f"{root}/_emulator/health") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)
        for name in CASES:
            fault = {"provider": name, "fault": f"latency:{delay_ms}"}
            async with session.post(f"{root}/_emulator/faults", json=fault) as resp:
                resp.raise_for_status()


if __name__ == "__main__":
    raise SystemExit(main())
