"""The benchmark: the gateway under one uvicorn worker against a fixed-response upstream, each
scenario measured with wrk beside a no-op Django async view on the same server, in the same run.

    make bench            (or: .venv/bin/python bench/run.py)

Writes docs/benchmarks.md. Ratios within one run are the result; absolute numbers depend on the
machine and are only context.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import clients  # noqa: E402

PYTHON = sys.executable
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "200"))
BURST = int(os.environ.get("BENCH_BURST", "1000"))
MEMORY_REQUESTS = int(os.environ.get("BENCH_MEMORY_REQUESTS", "100000"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def redis_url() -> str:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    if url == "none":
        return ""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return url
    except OSError:
        return ""


def lua_script(path: Path, *, method: str, body: dict | None, headers: dict[str, str]) -> Path:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    lines.append(
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, '
        '\\"non2xx\\": %d, \\"p50_ms\\": %.3f, \\"p90_ms\\": %.3f, \\"p99_ms\\": %.3f}\\n", '
        "summary.requests, summary.duration, summary.errors.connect + summary.errors.read + "
        "summary.errors.write + summary.errors.timeout, summary.errors.status, "
        "latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))\n"
        "end"
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, script: Path, *, connections: int = CONNECTIONS, duration: str = DURATION) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{connections}",
            f"-d{duration}",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^JSON (.*)$", out, re.MULTILINE)
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package 'wrk'; `make bench` installs it)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="aip-bench-"))
    upstream_port, gateway_port = free_port(), free_port()
    redis = redis_url()
    env = {
        **os.environ,
        "DEVELOPMENT_MODE": "false",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "AI_PROVIDER_VAR_DIR": str(work),
        "REDIS_URL": redis,
        "PROVIDER_EMULATOR_URL": f"http://127.0.0.1:{upstream_port}",
        "OPENAI_API_KEY": "sk-bench",
        "DEEPSEEK_API_KEY": "sk-bench-slow",
        "BENCHMARK_NOOP_VIEW": "true",
        "RESPONSE_CACHE_TTL_S": "3600",
        "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings",
    }
    if redis:
        import redis as redis_lib

        redis_lib.Redis.from_url(redis).flushdb()
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "sync_providers"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    key = (
        subprocess.run(
            [*manage, "create_api_key", "--name", "bench"],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    procs = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "bench.upstream:app",
                "--port",
                str(upstream_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "aiprovider_site.asgi:application",
                "--port",
                str(gateway_port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    base = f"http://127.0.0.1:{gateway_port}"
    rows = []
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/openai/v1/models")
        wait_for(f"{base}/api/v1/bench/noop")
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        messages = [{"role": "user", "content": "Benchmark question"}]
        scripts = {
            "noop": lua_script(work / "noop.lua", method="GET", body=None, headers={}),
            "miss": lua_script(
                work / "miss.lua",
                method="POST",
                body={"messages": messages, "model": "gpt-4o-mini"},
                headers={**auth, "Cache-Control": "no-cache, no-store"},
            ),
            "hit": lua_script(
                work / "hit.lua",
                method="POST",
                body={"messages": messages, "model": "gpt-4o-mini"},
                headers=auth,
            ),
            "openai": lua_script(
                work / "openai.lua",
                method="POST",
                body={"messages": messages, "model": "gpt-4o-mini"},
                headers={**auth, "Cache-Control": "no-cache, no-store"},
            ),
        }
        # Warm up every path once (catalogue snapshot, key cache, clients, the cached answer).
        for name, path in (
            ("miss", "/api/v1/completion"),
            ("hit", "/api/v1/completion"),
            ("openai", "/v1/chat/completions"),
        ):
            wrk(base + path, scripts[name], connections=2, duration="1s")
        wrk(base + "/api/v1/bench/noop", scripts["noop"], connections=2, duration="1s")

        scenarios = [
            ("completion, cache miss, full path", "/api/v1/completion", "miss", 0.50),
            ("completion, cache hit", "/api/v1/completion", "hit", 0.80),
            ("/v1/chat/completions (OpenAI format), cache miss", "/v1/chat/completions", "openai", 0.50),
        ]
        for title, path, script, target in scenarios:
            noop = wrk(base + "/api/v1/bench/noop", scripts["noop"])
            measured = wrk(base + path, scripts[script])
            ratio = measured["rps"] / noop["rps"]
            rows.append((title, noop, measured, ratio, target))
            print(f"{title}: {measured['rps']:.0f} req/s vs no-op {noop['rps']:.0f} req/s -> {ratio:.2f}")

        no_cache = {**auth, "Cache-Control": "no-cache, no-store"}
        body = {"messages": messages, "model": "gpt-4o-mini", "stream": True}
        streaming = {
            "gateway": asyncio.run(
                clients.streams(
                    port=gateway_port,
                    path="/api/v1/completion",
                    body=body,
                    headers=no_cache,
                    count=STREAMS,
                    concurrency=8,
                )
            ),
            "upstream": asyncio.run(
                clients.streams(
                    port=upstream_port,
                    path="/openai/v1/chat/completions",
                    body=body,
                    headers={"Authorization": "Bearer sk-bench"},
                    count=STREAMS,
                    concurrency=8,
                )
            ),
        }
        print(f"streaming: {streaming}")

        slow_body = {"messages": messages, "model": "deepseek-chat"}
        asyncio.run(
            clients.burst(
                port=gateway_port,
                path="/api/v1/providers/deepseek/completion",
                body=slow_body,
                headers=no_cache,
                count=20,
            )
        )  # warm the slow provider
        concurrency = asyncio.run(
            clients.burst(
                port=gateway_port,
                path="/api/v1/providers/deepseek/completion",
                body=slow_body,
                headers=no_cache,
                count=BURST,
            )
        )
        print(f"concurrency: {concurrency}")

        memory = measure_memory(procs[1].pid, base + "/api/v1/completion", scripts["miss"])
        print(f"memory: {memory}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    write_report(rows, streaming, concurrency, memory, redis=bool(redis))
    shutil.rmtree(work, ignore_errors=True)
    met = all(r[3] >= r[4] for r in rows) and concurrency_met(concurrency) and memory_met(memory)
    return 0 if met else 1


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def measure_memory(pid: int, url: str, script: Path) -> dict:
    """Resident size of the worker after 10,000 and after MEMORY_REQUESTS requests (full path)."""
    done = 0
    checkpoints = {}
    for target in (10_000, MEMORY_REQUESTS):
        while done < target:
            done += wrk(url, script, duration="10s")["requests"]
        checkpoints[target] = {"requests": done, "rss_kib": rss_kib(pid)}
    return checkpoints


def concurrency_met(result: dict) -> bool:
    return result["failures"] == 0 and result["p99_s"] is not None and result["p99_s"] < 1.5


def memory_met(memory: dict) -> bool:
    first, last = memory[10_000]["rss_kib"], memory[MEMORY_REQUESTS]["rss_kib"]
    return last <= first * 1.10


def machine() -> str:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return f"{platform.node() or 'host'}: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def write_report(rows, streaming, concurrency, memory, *, redis: bool) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, by `make bench` (bench/run.py).",
        f"One uvicorn worker; wrk with {THREADS} threads and {CONNECTIONS} connections for {DURATION} per "
        f"measurement; shared state in {'Redis' if redis else 'process memory (no Redis)'}; SQLite; the "
        "upstream is bench/upstream.py (a fixed OpenAI-format answer, no delay) in its own process.",
        "Each scenario is measured right after the no-op Django async view on the same server, and the "
        "ratio of the two is the result: absolute numbers vary with the machine and its load.",
        "",
        "| scenario | no-op req/s | scenario req/s | ratio | target | p50 ms | p90 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for title, noop, measured, ratio, target in rows:
        verdict = "met" if ratio >= target else "missed"
        lines.append(
            f"| {title} | {noop['rps']:.0f} | {measured['rps']:.0f} | {ratio:.2f} "
            f"| >= {target:.2f} ({verdict}) | "
            f"{measured['p50_ms']:.1f} | {measured['p90_ms']:.1f} | {measured['p99_ms']:.1f} | "
            f"{measured['errors'] + measured['non2xx']} |"
        )
    gateway, upstream = streaming["gateway"], streaming["upstream"]
    lines += [
        "",
        f"Streaming ({gateway['count']} streams of {gateway['chunks_per_stream']:.0f} chunks, 8 at a time, "
        "through the gateway and straight to the upstream):",
        "",
        "| path | time to first chunk p50 ms | p99 ms | chunks/s per stream |",
        "| --- | ---: | ---: | ---: |",
        f"| gateway /api/v1/completion | {gateway['ttfb_p50_ms']:.1f} | {gateway['ttfb_p99_ms']:.1f} | "
        f"{gateway['chunks_per_s']:.0f} |",
        f"| upstream direct | {upstream['ttfb_p50_ms']:.1f} | {upstream['ttfb_p99_ms']:.1f} | "
        f"{upstream['chunks_per_s']:.0f} |",
        "",
        f"Concurrency: {concurrency['count']} simultaneous completions against an upstream that takes "
        f"1 s each, one worker: {concurrency['ok']} answered, {concurrency['failures']} failed, p50 "
        f"{concurrency['p50_s']:.2f} s, p99 {concurrency['p99_s']:.2f} s, "
        f"slowest {concurrency['max_s']:.2f} s "
        f"(target p99 < 1.5 s: {'met' if concurrency_met(concurrency) else 'missed'}).",
        "",
    ]
    first, last = memory[10_000], memory[MEMORY_REQUESTS]
    growth = (last["rss_kib"] / first["rss_kib"] - 1) * 100
    lines += [
        f"Memory (the worker's resident size, full path): {first['rss_kib'] / 1024:.1f} MiB after "
        f"{first['requests']:,} requests, {last['rss_kib'] / 1024:.1f} MiB after {last['requests']:,} "
        f"({growth:+.1f}%; target within 10%: {'met' if memory_met(memory) else 'missed'}).",
    ]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
