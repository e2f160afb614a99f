"""The per-worker scenarios: the wrk scripts, the paths each scenario requests, one measurement,
the streams, the warm-up and a round of every scenario on every system."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import clients
from bench.config import BenchConfig
from bench.servers import Server
from bench.wrk import WrkResult, wrk_run, wrk_script

MODEL = "gpt-4o-mini"
SLOW_MODEL = "deepseek-chat"  # the catalogue's DeepSeek entry: the upstream answers it after the burst delay
MESSAGES = [{"role": "user", "content": "Benchmark question"}]
NO_CACHE = {"Cache-Control": "no-cache, no-store"}


class Scripts:
    """The wrk scripts of a run, written once into the work directory."""

    def __init__(self, work: Path, key: str, litellm_key: str | None) -> None:
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = {"messages": MESSAGES, "model": MODEL}
        slow = {"messages": MESSAGES, "model": SLOW_MODEL}
        specs = {
            "upstream": {"body": body, "headers": {"Authorization": "Bearer sk-bench"}},
            "upstream_slow": {"body": slow, "headers": {"Authorization": "Bearer sk-bench-slow"}},
            "miss": {"body": body, "headers": {**auth, **NO_CACHE}, "count_header": "X-Cache"},
            "hit": {"body": body, "headers": auth, "count_header": "X-Cache"},
            "openai": {"body": body, "headers": {**auth, **NO_CACHE}, "count_header": "X-Cache"},
            "burst": {"body": slow, "headers": {**auth, **NO_CACHE}},
        }
        if litellm_key:
            specs["litellm"] = {
                "body": body,
                "headers": {"Authorization": f"Bearer {litellm_key}", "Content-Type": "application/json"},
            }
        self.paths = {}
        for name, spec in specs.items():
            path = work / f"{name}.lua"
            path.write_text(wrk_script(method="POST", **spec))
            self.paths[name] = path
        self.paths["noop"] = work / "noop.lua"
        self.paths["noop"].write_text(wrk_script(method="GET"))
        self.gateway_auth = auth
        self.litellm_key = litellm_key


PATHS = {
    "upstream": "/openai/v1/chat/completions",
    "upstream_slow": "/deepseek/chat/completions",
    "miss": "/api/v1/completion",
    "hit": "/api/v1/completion",
    "openai": "/v1/chat/completions",
    "burst": "/api/v1/providers/deepseek/completion",
    "litellm": "/v1/chat/completions",
    "noop": "/api/v1/bench/noop",
}


def measure(server: Server, scripts: Scripts, name: str, *, connections: int, duration_s: int, **kw) -> dict:
    """One wrk measurement of a scenario on a system, printed as it ends."""
    result: WrkResult = wrk_run(
        server.url + PATHS[name], scripts.paths[name], connections=connections, duration_s=duration_s, **kw
    )
    figures = result.as_dict()
    print(
        f"  {server.name:8} {name:13} c={connections:<4} {figures['rps']:9.0f} req/s  "
        f"p50 {figures['p50_ms']:8.2f} ms"
        f"  p99 {figures['p99_ms']:8.2f} ms  errors {figures['errors']}",
        flush=True,
    )
    return figures


def stream_run(server: Server, path: str, headers: dict, count: int) -> dict:
    """`count` streams, one at a time, read as a client reads them."""
    body = {"messages": MESSAGES, "model": MODEL, "stream": True}
    summary = asyncio.run(
        clients.streams(port=server.port, path=path, body=body, headers=headers, count=count)
    )
    print(
        f"  {server.name:8} stream        n={count:<4} first chunk p50 {summary['ttfc_p50_ms'] or 0:.2f} ms, "
        f"{summary['chunks_per_s']:.0f} chunks/s, errors {summary['errors']}",
        flush=True,
    )
    return summary


def stream_targets(servers: dict[str, Server], scripts: Scripts) -> dict[str, tuple[Server, str, dict]]:
    """Each system's (server, path, headers) for the stream scenario."""
    targets = {
        "upstream": (servers["upstream"], PATHS["upstream"], {"Authorization": "Bearer sk-bench"}),
        "gateway": (servers["gateway"], PATHS["miss"], {**scripts.gateway_auth, **NO_CACHE}),
    }
    if "litellm" in servers:
        targets["litellm"] = (
            servers["litellm"],
            PATHS["litellm"],
            {"Authorization": f"Bearer {scripts.litellm_key}"},
        )
    return targets


def warm_up(servers: dict[str, Server], scripts: Scripts) -> None:
    """Catalogue snapshot, key cache, provider clients, the cached answer: all loaded before measuring."""
    for name in ("noop", "miss", "hit", "openai"):
        wrk_run(servers["gateway"].url + PATHS[name], scripts.paths[name], connections=2, duration_s=2)
    if "litellm" in servers:
        wrk_run(
            servers["litellm"].url + PATHS["litellm"], scripts.paths["litellm"], connections=2, duration_s=2
        )
    for server, path, headers in stream_targets(servers, scripts).values():
        asyncio.run(
            clients.streams(
                port=server.port,
                path=path,
                body={"messages": MESSAGES, "model": MODEL, "stream": True},
                headers=headers,
                count=5,
            )
        )


def per_worker_round(index: int, cfg: BenchConfig, servers: dict[str, Server], scripts: Scripts) -> dict:
    """One round: every scenario once per system; gateway and LiteLLM take turns going first."""
    n, d = cfg.connections, cfg.duration_s
    figures: dict[str, dict] = {"upstream": {}, "gateway": {}}
    up = servers["upstream"]
    figures["upstream"]["c1"] = measure(up, scripts, "upstream", connections=1, duration_s=d)
    figures["upstream"]["cN"] = measure(up, scripts, "upstream", connections=n, duration_s=d)
    gateway_first = index % 2 == 0
    for key in ("noop", "miss", "hit", "openai"):
        turns = [("gateway", key)]
        if "litellm" in servers and key == "miss":
            figures.setdefault("litellm", {})
            turns = turns + [("litellm", "litellm")] if gateway_first else [("litellm", "litellm"), *turns]
        for system, script in turns:
            for suffix, connections in (("c1", 1), ("cN", n)):
                figures[system][f"{'miss' if system == 'litellm' else key}_{suffix}"] = measure(
                    servers[system], scripts, script, connections=connections, duration_s=d
                )
    order = list(stream_targets(servers, scripts).items())
    if not gateway_first:
        order.reverse()
    for system, (server, path, headers) in order:
        figures[system]["stream"] = stream_run(server, path, headers, cfg.streams)
    return figures


def at_once(server: Server, scripts: Scripts, name: str, count: int, body: dict) -> dict:
    """`count` requests sent at the same instant, each on its own connection."""
    headers = scripts.gateway_auth if server.name != "upstream" else {"Authorization": "Bearer sk-bench-slow"}
    if server.name != "upstream":
        headers = {**headers, **NO_CACHE}
    summary = asyncio.run(
        clients.burst(
            port=server.port, path=PATHS[name], body=body, headers=headers, count=count, timeout_s=60
        )
    )
    print(
        f"  {server.name:8} {name:13} {count} at once: {summary['answered']} answered, p50 "
        f"{summary['p50_s'] or 0:.2f} s, p99 {summary['p99_s'] or 0:.2f} s, wall {summary['wall_s']:.2f} s",
        flush=True,
    )
    return summary
