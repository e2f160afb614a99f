"""The benchmark harness's own pieces: wrk's script and its parsing, the stream client's chunk
counting, the targets and ratios of the report, the knobs, the profiler. No timing is asserted."""

import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.clients import count_text_chunks, percentile, stream_summary
from bench.config import BenchConfig
from bench.report import render
from bench.sampler import CpuSampler, frame_label, is_root_frame, package_of
from bench.targets import evaluate_targets
from bench.wrk import WrkError, wrk_parse, wrk_run, wrk_script

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:18601/api/v1/completion
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   150.07ms   40.12ms 451.23ms   70.00%
  1820 requests in 10.01s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    181.82
JSON {"requests": 1820, "duration_us": 10010000, "connect": 0, "read": 2, "write": 0, "timeout": 3, \
"status": 4, "p50_us": 140712, "p90_us": 359300, "p99_us": 450900, "max_us": 451230, \
"headers": {"HIT": 1800, "MISS": 20}}
"""


def test_wrk_summary_line_gives_rates_latencies_in_ms_and_all_errors():
    result = wrk_parse(WRK_OUTPUT)
    assert result.requests == 1820
    assert result.rps == pytest.approx(181.82, abs=0.01)
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (140.712, 450.9, 451.23)
    assert result.socket_errors == 5 and result.timeouts == 3 and result.non2xx == 4
    assert result.errors == 9
    assert result.header_counts == {"HIT": 1800, "MISS": 20}


def test_wrk_output_without_the_summary_line_is_an_error_that_shows_what_wrk_said():
    with pytest.raises(WrkError, match="unable to connect"):
        wrk_parse("unable to connect to 127.0.0.1:9 Connection refused\n")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        payload = b'{"ok": true}'
        self.send_response(200 if body == {"model": "m"} and self.headers["X-Bench"] == "yes" else 400)
        self.send_header("X-Cache", "HIT")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_the_wrk_script_sends_the_body_and_headers_and_tallies_a_response_header(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = tmp_path / "s.lua"
        script.write_text(
            wrk_script(method="POST", body={"model": "m"}, headers={"X-Bench": "yes"}, count_header="X-Cache")
        )
        result = wrk_run(f"http://127.0.0.1:{server.server_port}/", script, connections=2, duration_s=1)
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    assert result.non2xx == 0  # the server answers 400 unless body and header arrived as scripted
    assert result.header_counts == {"HIT": result.requests}


def test_stream_chunks_are_events_with_text_in_either_format_even_inside_chunked_encoding():
    native = (
        b'1a\r\ndata: {"content":"Hel"}\n\n\r\n1a\r\ndata: {"content":"lo"}\n\n\r\ndata: {"done":true}\n\n'
    )
    openai = (
        b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"piece 0 "}}]}\n\n'
        b"data: [DONE]\n\n"
    )
    assert count_text_chunks(native) == 2
    assert count_text_chunks(openai) == 1  # the empty role event carries no text


def test_stream_summary_counts_failed_streams_apart():
    results = [
        {"status": 200, "ttfc_s": 0.002, "chunks": 20, "total_s": 0.004},
        {"status": 200, "ttfc_s": 0.004, "chunks": 20, "total_s": 0.010},
        {"status": 503, "ttfc_s": None, "chunks": 0, "total_s": 0.001},
    ]
    summary = stream_summary(results)
    assert summary["errors"] == 1 and summary["count"] == 3
    assert summary["ttfc_p50_ms"] == pytest.approx(2.0)
    assert summary["chunks_per_s"] == pytest.approx((5000 + 2000) / 2)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) is None


def _wrk(rps: float, p50_ms: float, errors: int = 0, **extra) -> dict:
    return {
        "rps": rps,
        "p50_ms": p50_ms,
        "p99_ms": p50_ms * 3,
        "errors": errors,
        "header_counts": {},
        **extra,
    }


def _stream(ttfc: float, rate: float) -> dict:
    return {"count": 10, "errors": 0, "ttfc_p50_ms": ttfc, "ttfc_p99_ms": ttfc * 2, "chunks_per_s": rate}


def _results(*, compare: bool = True) -> dict:
    rounds = []
    # Round 1: gateway 500 vs LiteLLM 100 req/s (5x); round 2: 600 vs 200 (3x); median ratio 4x.
    for gateway_rps, litellm_rps, upstream_p50 in ((500, 100, 0.2), (600, 200, 0.4)):
        round_ = {
            "upstream": {
                "c1": _wrk(9000, upstream_p50),
                "cN": _wrk(20000, 1.0),
                "stream": _stream(1.0, 10000),
            },
            "gateway": {
                "miss_c1": _wrk(300, upstream_p50 + 1.5),
                "miss_cN": _wrk(gateway_rps, 50),
                "hit_c1": _wrk(900, upstream_p50 + 0.5),
                "hit_cN": _wrk(gateway_rps * 4, 10, header_counts={"HIT": 100}),
                "stream": _stream(4.0, 4000),
            },
        }
        if compare:
            round_["litellm"] = {
                "miss_c1": _wrk(50, 20),
                "miss_cN": _wrk(litellm_rps, 300),
                "stream": _stream(25.0, 800),
            }
        rounds.append(round_)
    once = {"count": 1000, "answered": 1000, "failures": 0, "timeouts": 0, "wall_s": 1.5}
    return {
        "meta": {
            "command": "make bench-compare",
            "date": "2026-11-30 12:00 UTC",
            "machine": "test",
            "commit": "abc",
            "database": "PostgreSQL",
            "redis": "Redis",
            "litellm_version": "1.108.7",
            "connections": 32,
            "duration_s": 10,
            "rounds": 2,
            "streams": 10,
            "burst_delay_s": 1.0,
            "profile_duration_s": 5,
            "quick": False,
        },
        "rounds": rounds,
        "burst": {
            "connections": 1000,
            "duration_s": 15,
            "delay_s": 1.0,
            "workers": 2,
            "gateway_at_once": {**once, "p50_s": 1.1, "p99_s": 1.4, "max_s": 1.45},
            "upstream_at_once": {**once, "p50_s": 1.01, "p99_s": 1.05, "max_s": 1.06},
            "gateway": {**_wrk(700, 1200), "max_ms": 1900, "requests": 9000, "timeouts": 0, "non2xx": 0},
            "upstream": {**_wrk(900, 1010), "max_ms": 1100, "requests": 13000, "timeouts": 0, "non2xx": 0},
        },
        "memory": {
            "start_kib": 100_000,
            "checkpoints": [
                {"requests": 10_000, "rss_kib": 110_000},
                {"requests": 100_000, "rss_kib": 125_000},
            ],
            "errors": 0,
        },
        "litellm_rss_kib": 350_000,
        "profiles": {
            "cache hit": {
                "seconds": 5.0,
                "samples": 4000,
                "cpu_s": {"MainThread": 4.2, "ThreadPoolExecutor-0_0": 0.3},
                "cumulative": [["routing/apis.py:post", 0.6]],
                "self": [["uuid.py:uuid4", 0.05]],
            }
        },
    }


def test_targets_take_the_median_of_per_round_ratios_and_added_latency_over_the_upstream():
    verdicts = [(row.target, row.measured, row.verdict) for row in evaluate_targets(_results())]
    assert verdicts[0][1:] == ("4.00x", "missed")  # cache miss >= 5x LiteLLM: median of 5x and 3x
    assert verdicts[1][1:] == ("1.50 ms", "met")  # cache miss added < 2 ms
    assert verdicts[2][1:] == ("16.00x", "met")  # cache hit >= 10x: median of 20x and 12x
    assert verdicts[3][1:] == ("0.50 ms", "met")  # cache hit added < 1 ms
    assert verdicts[4][1:] == ("1,000 answered, p99 1.40 s", "met")
    assert verdicts[5][1:] == ("128 MB", "missed")  # 125,000 KiB is 128 MB: over 120
    assert verdicts[6][1:] == ("+13.6%", "missed")  # 110,000 -> 125,000 KiB
    assert verdicts[7][1:] == ("+3.00 ms", "missed")  # stream TTFC within 2 ms
    assert verdicts[8][1:] == ("40%", "missed")  # 4,000 of 10,000 chunks/s
    assert len(verdicts) == 9


def test_a_burst_with_an_unanswered_request_misses_its_target_whatever_the_p99():
    results = _results()
    results["burst"]["gateway_at_once"].update(answered=999, failures=1)
    burst = next(row for row in evaluate_targets(results) if row.target.startswith("burst"))
    assert burst.verdict == "missed"


def test_without_litellm_the_ratio_targets_are_not_judged():
    rows = evaluate_targets(_results(compare=False))
    assert [row.verdict for row in rows[:4]] == ["n/a", "met", "n/a", "met"]
    assert "make bench-compare" in rows[0].measured


def test_the_page_shows_both_systems_the_ratios_and_the_profile():
    page = render(_results())
    assert "| LiteLLM proxy (`/v1/chat/completions`) | 20.00 | 19.60-19.80 | 100-200 | 0 | 1x |" in page
    assert (
        "| gateway, cache miss (`/api/v1/completion`, `no-cache, no-store`) | 1.70-1.90 | 1.50 | 500-600 | 0 "
        "| 4.00x (3.00-5.00) |" in page
    )
    assert "Cache-hit scenario: 200 of 200 answers carried `X-Cache: HIT`." in page
    assert "LiteLLM's worker after its scenarios: 358.4 MB." in page
    assert "| 60% | `routing/apis.py:post` | 5% | `uuid.py:uuid4` |" in page
    assert "MainThread 4.20 s" in page


def test_quick_mode_shrinks_the_run_and_every_knob_can_be_set():
    quick = BenchConfig.from_env({"BENCH_QUICK": "1"})
    full = BenchConfig.from_env({})
    assert quick.duration_s < full.duration_s and quick.memory_checkpoints < full.memory_checkpoints
    assert full.memory_checkpoints == (10_000, 100_000) and full.burst_connections == 1000
    tuned = BenchConfig.from_env({"BENCH_DURATION": "15s", "BENCH_PROFILE": "0", "BENCH_PORT_BASE": "19000"})
    assert (tuned.duration_s, tuned.profile, tuned.port_base) == (15, False, 19000)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"BENCH_DURATION": "ten"}, "BENCH_DURATION must be a whole number"),
        ({"BENCH_QUICK": "maybe"}, "BENCH_QUICK must be 1 or 0"),
        ({"BENCH_MEMORY_FIRST": "5000", "BENCH_MEMORY_REQUESTS": "5000"}, "must exceed BENCH_MEMORY_FIRST"),
    ],
)
def test_a_bad_knob_stops_the_run_with_one_clear_line(environ, message):
    with pytest.raises(SystemExit, match=message):
        BenchConfig.from_env(environ)


def _busy_work():
    total = 0
    for i in range(3_000_000):
        total += i * i
    return total


def test_the_profiler_finds_the_function_that_burns_the_cpu():
    sampler = CpuSampler()
    sampler.start()
    try:
        _busy_work()
    finally:
        profile = sampler.stop()
    assert profile["samples"] > 10
    top_self = dict(profile["self"])
    assert top_self.get("tests/bench/test_harness.py:_busy_work", 0) > 0.5
    assert profile["cpu_s"]["MainThread"] > 0
    assert dict(profile["packages"]).get("tests", 0) > 0.5


def test_frame_labels_drop_the_install_prefix():
    assert frame_label("/x/.venv/lib/python3.11/site-packages/django/core/handlers/asgi.py", "handle") == (
        "django/core/handlers/asgi.py:handle"
    )


def test_packages_and_the_frames_left_out_of_the_cumulative_list():
    assert package_of("rest_framework/fields.py:__init__") == "rest_framework"
    assert package_of("uuid.py:uuid4") == "uuid"
    assert package_of("<string>:__init__") == "(generated code)"
    assert is_root_frame("django/core/handlers/base.py:get_response_async")
    assert is_root_frame("asyncio/runners.py:run")
    assert not is_root_frame("routing/services.py:completion_create")


def test_a_port_in_use_or_a_database_that_is_not_postgresql_is_one_clear_line(tmp_path, monkeypatch):
    from bench.gateway_setup import database_url
    from bench.servers import MissingService, start

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MissingService) as refused:
            start("upstream", ["true"], port=port, env={}, work=tmp_path)
    assert refused.value.message == (
        f"bench: port {port} (upstream) is in use; set BENCH_PORT_BASE to a free range"
    )
    monkeypatch.setenv("DATABASE_URL", "sqlite:///bench.sqlite3")
    with pytest.raises(MissingService) as refused:
        database_url()
    assert "DATABASE_URL must point at PostgreSQL" in refused.value.message


def test_the_log_summary_counts_warnings_by_event_and_gunicorn_errors():
    from bench.servers import log_events

    log = "\n".join(
        [
            '{"event": "usage_queue_redis_unavailable", "level": "warning", "request_id": "a"}',
            '{"event": "usage_queue_redis_unavailable", "level": "warning", "request_id": "b"}',
            '{"event": "completion", "level": "info"}',
            "[2026-11-30 04:11:06 +0000] [123] [ERROR] Worker (pid:124) was sent SIGKILL! Perhaps out of memory?",
            "[2026-11-30 04:11:06 +0000] [123] [INFO] Booting worker with pid: 125",
        ]
    )
    assert log_events(log) == {
        "warning: usage_queue_redis_unavailable": 2,
        "gunicorn: Worker (pid:124) was sent SIGKILL! Perhaps out of memory?": 1,
    }
    assert "no warning or error" in render({**_results(), "log_events": {}})
    page = render({**_results(), "log_events": {"burst": log_events(log)}})
    assert "| burst | `warning: usage_queue_redis_unavailable` | 2 |" in page
