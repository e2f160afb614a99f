"""Input no provider could accept is the client's fault: a 400 before any upstream call, and no
provider's circuit pays for it."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDERS = ("openai", "anthropic", "google", "deepseek")


async def _post(gateway, path: str, raw: str):
    return await gateway.client.post(
        path, raw, content_type="application/json", headers={"Authorization": f"Bearer {gateway.api_key}"}
    )


@pytest.mark.parametrize("path", ["/api/v1/completion", "/v1/chat/completions", "/v1/messages"])
async def test_a_lone_surrogate_is_a_400_and_opens_no_circuit(gateway, path):
    raw = '{"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi \\ud800"}]}'
    for _ in range(12):
        response = await _post(gateway, path, raw)
        assert response.status_code == 400
    assert "surrogate" in response.content.decode()
    assert sum(gateway.calls(p) for p in PROVIDERS) == 0
    healthy = await gateway.complete({"model": "gpt-4o-mini"})
    assert healthy.status_code == 200 and healthy["X-Provider"] == "openai (emulator)"


@pytest.mark.parametrize("depth", [65, 100_000])
async def test_deep_nesting_is_a_400(gateway, depth):
    raw = '{"model": "gpt-4o-mini", "messages": ' + "[" * depth + "]" * depth + "}"
    response = await _post(gateway, "/v1/chat/completions", raw)
    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["error"]["message"]
    assert sum(gateway.calls(p) for p in PROVIDERS) == 0


async def test_tool_schemas_of_ordinary_depth_are_accepted(gateway):
    schema: dict = {"type": "string"}
    for _ in range(12):
        schema = {"type": "object", "properties": {"inner": schema}}
    response = await gateway.complete(
        {
            "model": "gpt-4o-mini",
            "tools": [{"type": "function", "function": {"name": "deep", "parameters": schema}}],
        },
        path="/v1/chat/completions",
    )
    assert response.status_code == 200
