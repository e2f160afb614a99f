"""A bug in our own code while reading a provider's answer is not the provider's fault: the API
answers 500 INTERNAL_ERROR in the standard envelope, no other provider is tried, and the
provider's circuit stays closed. An answer the provider got wrong is still a retryable
invalid_response (see test_completion's "malformed" failover)."""

import pytest
from asgiref.sync import sync_to_async

from providers.adapters.openai.adapter import OpenAIAdapter
from providers.adapters.registry import ADAPTER_CLASSES
from providers.models import Provider
from routing import breaker

pytestmark = pytest.mark.django_db(transaction=True)

BUGGY_KIND = "openai_buggy_for_tests"


class BuggyAdapter(OpenAIAdapter):
    """The OpenAI adapter with a bug after a good answer: a field of ours that is not there."""

    kind = BUGGY_KIND

    async def _complete(self, request, *, timeout):
        response = await super()._complete(request, timeout=timeout)
        return response.provider_details["a detail no one ever set"]  # KeyError: our bug


@pytest.fixture
def buggy_openai(gateway, monkeypatch):
    monkeypatch.setitem(ADAPTER_CLASSES, BUGGY_KIND, BuggyAdapter)
    Provider.objects.filter(name="openai").update(kind=BUGGY_KIND)
    return gateway


async def test_a_bug_in_our_adapter_code_is_a_500_without_failover_or_circuit(buggy_openai, caplog):
    gateway = buggy_openai
    for attempt in range(3):  # more than enough failures to open a circuit if they counted
        response = await gateway.complete({"messages": [{"role": "user", "content": f"q{attempt}"}]})

        assert response.status_code == 500, response.content
        body = response.json()
        assert body["error_code"] == "INTERNAL_ERROR"
        assert body["error"] == "Internal server error."
        assert body["request_id"] and body["context"] == {}

    assert gateway.calls("openai") == 3  # the provider answered each time, once (no retry)
    assert sum(gateway.calls(name) for name in ("anthropic", "google", "deepseek")) == 0
    states, _ = await breaker.breaker_read()
    assert "openai" not in states or states["openai"].state == "closed"
    assert "unhandled_api_exception" in caplog.text  # logged with its stack by the API's handler


async def test_an_answer_the_provider_got_wrong_still_fails_over(buggy_openai):
    # The same adapter, but the emulator's answer is not JSON: the provider's fault, not ours.
    gateway = buggy_openai
    gateway.fault("openai", "malformed")
    response = await gateway.complete()
    assert response.status_code == 200, response.content
    assert response.json()["provider"] != "openai (emulator)"
    kinds = await sync_to_async(lambda: set(Provider.objects.values_list("kind", flat=True)))()
    assert BUGGY_KIND in kinds
