"""The LiteLLM proxy that `make bench-compare` measures beside the gateway: its own virtualenv
(bench/.litellm, pinned in bench/config.py), one worker, no database, in front of the same upstream."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.config import LITELLM_REQUIREMENT
from bench.servers import PYTHON, Server, start, wait_http

VENV = Path(__file__).resolve().parent / ".litellm"
MASTER_KEY = (
    "sk-litellm-bench"  # the proxy's own client key: LiteLLM checks it like the gateway checks its keys
)
_MARKER = VENV / ".installed"


def litellm_install() -> str:
    """Create bench/.litellm with the pinned LiteLLM unless it is there already; returns its version."""
    if not (_MARKER.is_file() and _MARKER.read_text().strip() == LITELLM_REQUIREMENT):
        print(f"bench: installing {LITELLM_REQUIREMENT} into {VENV} (once)", flush=True)
        if not (VENV / "bin" / "python").exists():
            subprocess.run([PYTHON, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                LITELLM_REQUIREMENT,
            ],
            check=True,
        )
        _MARKER.write_text(LITELLM_REQUIREMENT + "\n")
    return subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def litellm_config(*, upstream_url: str, model: str) -> str:
    """The proxy's config: one model routed to the upstream's OpenAI-compatible path. JSON is YAML."""
    return json.dumps(
        {
            "model_list": [
                {
                    "model_name": model,
                    "litellm_params": {
                        "model": f"openai/{model}",
                        "api_base": f"{upstream_url}/openai/v1",
                        "api_key": "sk-bench",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
            "litellm_settings": {"drop_params": True, "telemetry": False},
        },
        indent=2,
    )


def start_litellm(*, port: int, upstream_url: str, model: str, work: Path, env: dict) -> Server:
    config = work / "litellm.yaml"
    config.write_text(litellm_config(upstream_url=upstream_url, model=model))
    proxy_env = {
        key: value
        for key, value in env.items()
        # The proxy runs without a database: it must not pick up the gateway's.
        if key not in {"DATABASE_URL", "REDIS_URL"}
    }
    proxy_env.update(
        {
            "LITELLM_LOG": "ERROR",
            # The price map ships with the package: no fetch from the internet at start.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_SCHEMA_UPDATE": "True",
        }
    )
    server = start(
        "litellm",
        [
            str(VENV / "bin" / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        port=port,
        env=proxy_env,
        work=work,
        cwd=work,
    )
    wait_http(f"{server.url}/health/liveliness", proc=server.proc, timeout_s=120)
    return server
