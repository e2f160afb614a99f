"""gunicorn with two uvicorn workers, as deployed: each worker answers completions."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from providers.emulator import EmulatorServer
from tests.deploy.servers import ROOT, free_port, prepare_database, server_env

GUNICORN = Path(sys.executable).parent / "gunicorn"


@pytest.fixture
def served(tmp_path):
    emulator = EmulatorServer().start()
    port = free_port()
    env = server_env(
        tmp_path,
        emulator_url=emulator.base_url,
        AI_PROVIDER_HOST="127.0.0.1",
        AI_PROVIDER_PORT=str(port),
        WEB_CONCURRENCY="2",
        LOG_LEVEL="INFO",
        METRICS_BEARER_TOKEN="scrape-token",  # production: /metrics is closed without one
    )
    key = prepare_database(env)
    log = (tmp_path / "gunicorn.log").open("w+")
    master = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "aiprovider_site.asgi:application"],
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or master.poll() is not None:
            log.seek(0)
            pytest.fail(f"gunicorn did not start:\n{log.read()[-3000:]}")
        time.sleep(0.3)
    yield base, key, log, master
    master.send_signal(signal.SIGTERM)
    master.wait(30)
    emulator.stop()


def completion_pids(log) -> set[int]:
    log.flush()
    log.seek(0)
    pids = set()
    for line in log.read().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "completion":
                pids.add(record["pid"])
    return pids


def test_two_workers_each_answer_completions(served):
    base, key, log, master = served
    workers = {
        int(p)
        for p in subprocess.run(
            ["pgrep", "-P", str(master.pid)], capture_output=True, text=True
        ).stdout.split()
    }
    assert len(workers) == 2
    answered = 0
    for round_ in range(20):
        # Fresh connections, several at once, so that both workers accept some.
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for i in range(8):
                response = client.post(
                    "/api/v1/completion",
                    json={"messages": [{"role": "user", "content": f"smoke {round_} {i}"}]},
                    headers={"Connection": "close"},
                )
                assert response.status_code == 200, response.text
                assert response.json()["provider"] == "openai (emulator)"
                answered += 1
        if completion_pids(log) >= workers:
            break
    assert completion_pids(log) == workers, f"{answered} completions, all answered by one worker"
    metrics = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-token"}, timeout=10).text
    assert "aiprovider_requests_total" in metrics
