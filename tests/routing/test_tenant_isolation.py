"""Client keys are kept apart: one key's cached answers are not another's, and a key's model
allow-list holds when failover reaches for another model."""

import pytest
from asgiref.sync import sync_to_async

from access.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_QUESTION = {"messages": [{"role": "user", "content": "What did tenant A ask yesterday?"}]}


async def _key(**options) -> str:
    _, secret = await sync_to_async(api_key_create)(name="isolation", **options)
    return secret


async def _complete(gateway, secret: str, body: dict):
    return await gateway.client.post(
        "/api/v1/completion", body, content_type="application/json", headers={"Authorization": f"Bearer {secret}"}
    )


async def test_a_cached_answer_of_key_a_is_a_miss_for_key_b(gateway):
    other = await _key()
    first = await _complete(gateway, gateway.api_key, SECRET_QUESTION)
    again = await _complete(gateway, gateway.api_key, SECRET_QUESTION)
    theirs = await _complete(gateway, other, SECRET_QUESTION)
    assert (first["X-Cache"], again["X-Cache"], theirs["X-Cache"]) == ("MISS", "HIT", "MISS")
    assert gateway.calls("openai") == 2  # key B's question went to the provider


async def test_the_cache_is_shared_only_when_the_operator_says_so(gateway, settings):
    settings.RESPONSE_CACHE_SHARED = True
    other = await _key()
    await _complete(gateway, gateway.api_key, SECRET_QUESTION)
    theirs = await _complete(gateway, other, SECRET_QUESTION)
    assert theirs["X-Cache"] == "HIT"
    assert gateway.calls("openai") == 1


async def test_allowed_models_hold_through_failover(gateway):
    limited = await _key(allowed_models=["gpt-4o-mini"])
    gateway.fault("openai", "status:503")
    response = await _complete(gateway, limited, {**SECRET_QUESTION, "model": "gpt-4o-mini"})
    assert response.status_code == 503
    assert {a["provider"] for a in response.json()["context"]["attempts"]} == {"openai"}
    assert gateway.calls("anthropic") == gateway.calls("google") == gateway.calls("deepseek") == 0

    unrestricted = await _complete(gateway, gateway.api_key, {**SECRET_QUESTION, "model": "gpt-4o-mini"})
    assert unrestricted.status_code == 200
    assert unrestricted["X-Provider"] != "openai (emulator)"


async def test_an_allowed_fallback_model_still_answers(gateway):
    limited = await _key(allowed_models=["gpt-4o-mini", "claude-haiku-4-5"])
    gateway.fault("openai", "status:503")
    response = await _complete(gateway, limited, {**SECRET_QUESTION, "model": "gpt-4o-mini"})
    assert response.status_code == 200
    assert response.json()["model"] == "claude-haiku-4-5"
