"""GET /status: version, uptime and the answers of the database, Redis and Celery, without secrets."""

import pytest

pytestmark = pytest.mark.django_db


def test_status_without_redis_reports_db_ok_and_eager_tasks(client, settings):
    settings.REDIS_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True  # as settings.py derives it when REDIS_URL is unset

    response = client.get("/status")  # no API key

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == settings.SERVICE_VERSION
    assert body["uptime_s"] >= 0
    assert body["started_at"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["redis"] == {"status": "not configured"}
    assert body["checks"]["celery"] == {"status": "in-process (eager)"}


def test_status_with_redis_reports_redis_ok_and_no_url(client, settings, redis_url):
    settings.REDIS_URL = redis_url

    response = client.get("/status")

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert "redis://" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()


def test_status_reports_an_unreachable_redis_as_an_error_quickly(client, settings):
    settings.REDIS_URL = "redis://:s3cret-password@127.0.0.1:1/0"  # nothing listens there

    response = client.get("/status")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["redis"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    assert "s3cret-password" not in response.content.decode()


def test_status_with_a_broker_and_no_worker_says_so(client, settings, monkeypatch):
    from aiprovider_site.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # a broker is configured
    monkeypatch.setattr(app.control, "ping", lambda timeout: [])

    body = client.get("/status").json()

    assert body["checks"]["celery"] == {"status": "error", "error": "no worker answered"}
    assert body["status"] == "degraded"
