"""A provider key planted in the environment never leaves the process: not in a response body or
header, not in a log line, not in an admin page, across success, failover and error paths."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = "sk-PLANTED-7f3a9c1e5b2d4f60-secret"


async def test_planted_provider_key_appears_nowhere(gateway, monkeypatch, json_log_lines, django_user_model):
    monkeypatch.setenv("OPENAI_API_KEY", MARKER)
    answers = []

    answers.append(await gateway.complete())  # success through openai
    gateway.fault("openai", "status:500")
    answers.append(await gateway.complete({"messages": [{"role": "user", "content": "failover"}]}))
    for name in ("anthropic", "google", "deepseek"):
        gateway.fault(name, "status:503")
    answers.append(await gateway.complete({"messages": [{"role": "user", "content": "all fail"}]}))
    gateway.emulator.clear_faults()
    gateway.fault("openai", "status:401")  # the provider rejects the key and quotes part of it
    answers.append(await gateway.complete({"messages": [{"role": "user", "content": "rejected"}]}))
    answers.append(await gateway.complete(path="/api/v1/providers/openai/completion"))
    gateway.emulator.clear_faults()
    answers.append(await gateway.complete({"stream": True, "messages": [{"role": "user", "content": "s"}]}))
    gateway.fault("openai", "stream_error")
    answers.append(await gateway.complete({"stream": True, "messages": [{"role": "user", "content": "t"}]}))
    for path in ("/api/v1/providers", "/api/v1/models", "/v1/models"):
        answers.append(await gateway.get(path))
    answers.append(await gateway.client.get("/health"))
    answers.append(await gateway.client.get("/metrics"))
    answers.append(await gateway.client.get("/api/schema/"))

    statuses = {a.status_code for a in answers}
    assert {200, 503} <= statuses  # success, failover and error paths were all taken
    for answer in answers:
        body = (
            b"".join([part async for part in answer.streaming_content])
            if answer.streaming
            else answer.content
        )
        assert MARKER.encode() not in body
        assert MARKER[-12:].encode() not in body
        assert all(MARKER not in value for value in answer.headers.values())

    def admin_pages() -> list[bytes]:
        user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests")
        admin = Client()
        admin.force_login(user)
        pages = [
            "/admin/providers/provider/",
            "/admin/providers/provider/1/change/",
            "/admin/analytics/usagerecord/",
            "/admin/providers/healthcheckresult/",
        ]
        return [admin.get(page).content for page in pages]

    await gateway.records()  # flush usage records so the admin lists them
    for page in await sync_to_async(admin_pages)():
        assert MARKER.encode() not in page
    assert json_log_lines, "nothing was logged: the test would prove nothing"
    leaked = [line for line in json_log_lines if MARKER in line or MARKER[-12:] in line]
    assert leaked == []
