"""gunicorn for AI Provider Service: uvicorn workers serving the ASGI app.

Everything comes from the environment, like the rest of the settings:
AI_PROVIDER_HOST (0.0.0.0), AI_PROVIDER_PORT (8005), WEB_CONCURRENCY (workers, default: CPUs),
GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_MAX_REQUESTS, PROMETHEUS_MULTIPROC_DIR.
"""

import os
import shutil
from pathlib import Path

bind = f"{os.environ.get('AI_PROVIDER_HOST', '0.0.0.0')}:{os.environ.get('AI_PROVIDER_PORT', '8005')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# uvicorn's worker with a bound on request headers (HTTP_MAX_HEADER_BYTES, aiprovider_site/http_server.py).
worker_class = "aiprovider_site.http_server.GatewayUvicornWorker"

# A request may stream for up to the routing deadline (ROUTING_DEADLINE_S, 120 s by default): a
# worker that is asked to stop finishes its streams first, and is only killed after that.
_deadline = float(os.environ.get("ROUTING_DEADLINE_S", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", _deadline + 30))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", _deadline + 60))
keepalive = 5

# Recycle workers now and then so slow leaks cannot grow forever; jitter keeps them from all
# restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10

# gunicorn 27 opens a control socket at one fixed path per user: two instances on one host would
# fight over it. The gateway does not use it.
control_socket_disable = True

accesslog = None  # the service logs one JSON line per completion itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def on_starting(server):
    """Prometheus multiprocess mode: counters of a previous run must not leak into this one."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
