"""One JSON log line per completion, with what an operator greps for, and no prompt by default."""

import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def completion_lines(lines: list[str]) -> list[dict]:
    return [r for r in map(json.loads, lines) if r.get("event") == "completion"]


async def test_a_completion_logs_one_json_line(gateway, json_log_lines):
    secret_prompt = "my secret prompt 7f3a"
    response = await gateway.complete(
        {"messages": [{"role": "user", "content": secret_prompt}]}, headers={"X-Request-ID": "req-log-42"}
    )
    assert response.status_code == 200
    body = response.json()
    [line] = completion_lines(json_log_lines)
    assert line["request_id"] == "req-log-42"
    assert line["api_key_name"] == "routing-tests"
    assert line["provider"] == "openai"
    assert line["model"] == body["model"]
    assert line["status"] == "success"
    assert line["cache"] == "miss"
    assert line["attempts"] == 1
    assert line["prompt_tokens"] == body["usage"]["prompt_tokens"]
    assert line["completion_tokens"] == body["usage"]["completion_tokens"]
    assert line["cost_usd"] == pytest.approx(body["cost_estimate"])
    assert line["latency_ms"] > 0
    assert line["level"] == "info"
    assert not any(secret_prompt in raw for raw in json_log_lines)

    again = await gateway.complete({"messages": [{"role": "user", "content": secret_prompt}]})
    assert again["X-Cache"] == "HIT"
    assert completion_lines(json_log_lines)[-1]["cache"] == "hit"


async def test_an_error_is_logged_with_its_code(gateway, json_log_lines):
    for provider in ("openai", "anthropic", "google", "deepseek"):
        gateway.fault(provider, "status:503")
    response = await gateway.complete()
    assert response.status_code == 503
    [line] = completion_lines(json_log_lines)
    assert line["status"] == "error"
    assert line["error_code"] == "PROVIDER_UNAVAILABLE"
    assert line["attempts"] > 1


async def test_prompts_are_logged_only_with_log_prompts(gateway, json_log_lines, settings):
    settings.LOG_PROMPTS = True
    response = await gateway.complete({"messages": [{"role": "user", "content": "log this one"}]})
    [line] = completion_lines(json_log_lines)
    assert line["messages"] == [{"role": "user", "content": "log this one"}]
    assert line["output"] == response.json()["content"]
