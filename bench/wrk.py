"""wrk as the load generator: a Lua script per scenario, and one JSON line out of it.

The script's `done` hook prints a single `JSON {...}` line, so the figures never depend on wrk's
human-readable summary. With `count_header`, every response's value of that header is tallied
(across wrk's threads) so a run proves what it measured, e.g. that the cache-hit scenario was
answered from the cache.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_JSON_LINE = re.compile(r"^JSON (\{.*\})\s*$", re.MULTILINE)


class WrkError(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read, write and timeouts
    timeouts: int
    non2xx: int
    header_counts: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non2xx

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "non2xx": self.non2xx,
            "header_counts": self.header_counts,
        }


def _lua_string(value: str) -> str:
    # A JSON string literal is a valid Lua string literal for the characters we send.
    return json.dumps(value)


def wrk_script(
    *,
    method: str = "GET",
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    count_header: str | None = None,
) -> str:
    """The Lua script for one scenario."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(json.dumps(body, separators=(',', ':')))}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    lines += [
        "local threads = {}",
        "function setup(thread) table.insert(threads, thread) end",
    ]
    if count_header:
        # wrk keeps header names as the server sent them.
        wanted = {count_header, count_header.lower()}
        lookups = " or ".join(f"headers[{_lua_string(n)}]" for n in sorted(wanted))
        lines += [
            "seen = {}",
            "function response(status, headers, body)",
            f'  local value = {lookups} or "-"',
            "  seen[value] = (seen[value] or 0) + 1",
            "end",
        ]
    lines += [
        "function done(summary, latency, requests)",
        "  local counts = {}",
        "  for _, thread in ipairs(threads) do",
        '    local seen = thread:get("seen")',
        "    if seen then for k, v in pairs(seen) do counts[k] = (counts[k] or 0) + v end end",
        "  end",
        "  local parts = {}",
        '  for k, v in pairs(counts) do table.insert(parts, string.format("%q: %d", k, v)) end',
        "  local e = summary.errors",
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"duration_us\\": %d, '
        '\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"timeout\\": %d, \\"status\\": %d, '
        '\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d, \\"headers\\": {%s}}\\n", '
        "summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, "
        "latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, "
        'table.concat(parts, ", ")))',
        "end",
    ]
    return "\n".join(lines) + "\n"


def wrk_parse(output: str) -> WrkResult:
    """The figures from the script's JSON line in wrk's standard output."""
    match = _JSON_LINE.search(output)
    if match is None:
        tail = output.strip().splitlines()[-5:]
        raise WrkError("wrk printed no JSON summary line: " + " | ".join(tail))
    data = json.loads(match.group(1))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        timeouts=data["timeout"],
        non2xx=data["status"],
        header_counts=dict(data.get("headers") or {}),
    )


def wrk_run(
    url: str,
    script: Path,
    *,
    connections: int,
    duration_s: float,
    threads: int = 2,
    timeout_s: float = 10.0,
) -> WrkResult:
    threads = max(1, min(threads, connections))
    # wrk takes whole seconds only.
    duration_s, timeout_s = max(1, round(duration_s)), max(1, round(timeout_s))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + timeout_s + 60)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-500:]
        raise WrkError(f"wrk exited {done.returncode} for {url}: {said}")
    return wrk_parse(done.stdout)
