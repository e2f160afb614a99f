"""Cost truth: every usage case of every catalogue model costs what genai-prices says it costs.

The provider's raw answer (a JSON body, or the SSE stream of the same usage) is replayed by the
emulator, so the gateway reads it through the real SDKs and adapters; the expected cost comes from
genai-prices' own `extract_usage` + `calc_price` on that raw answer, at the record's timestamp.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from html.parser import HTMLParser
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from genai_prices import calc_price, extract_usage
from genai_prices.types import TieredPrices

from analytics.models import UsageAttempt, UsageRecord
from providers.catalogue import catalogue_invalidate_for_tests
from providers.models import ProviderModel

pytestmark = pytest.mark.django_db(transaction=True)

TOLERANCE = Decimal("0.000001")
GENAI_IDS = {"openai": "openai", "anthropic": "anthropic", "google": "google", "deepseek": "deepseek"}
FLAVOURS = {"openai": "chat", "deepseek": "chat", "anthropic": "default", "google": "default"}

# ------------------------------------------------------------------------- raw provider answers


def openai_usage(prompt, completion, *, cached=0, reasoning=0, cache_write=0, audio_in=0, audio_out=0,
                 deepseek=False):
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio_in},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio_out},
    }
    if cache_write:
        usage["prompt_tokens_details"]["cache_write_tokens"] = cache_write
    if deepseek:
        usage["prompt_cache_hit_tokens"] = cached
        usage["prompt_cache_miss_tokens"] = prompt - cached
    return usage


def anthropic_usage(uncached, output, *, read=0, write_5m=0, write_1h=0, thinking=0):
    usage = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": output,
        "service_tier": "standard",
    }
    if thinking:
        usage["output_tokens_details"] = {"thinking_tokens": thinking}
    return usage


def gemini_usage(prompt, candidates, *, cached=0, thoughts=0, audio=0, cached_audio=0):
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt - audio}],
    }
    if audio:
        usage["promptTokensDetails"].append({"modality": "AUDIO", "tokenCount": audio})
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached - cached_audio}]
        if cached_audio:
            usage["cacheTokensDetails"].append({"modality": "AUDIO", "tokenCount": cached_audio})
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def raw_answer(provider: str, model: str, usage: dict, text: str = "The answer.") -> dict:
    if provider in ("openai", "deepseek"):
        return {
            "id": "chatcmpl-cost", "object": "chat.completion", "created": 1795687200, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }
    if provider == "anthropic":
        return {
            "id": "msg_cost", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": usage,
        }
    return {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": usage, "modelVersion": model, "responseId": "resp-cost",
    }


def _sse(events: list[tuple[str | None, dict | str]]) -> bytes:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


def raw_stream(provider: str, model: str, usage: dict, text: str = "The answer.") -> bytes:
    """The same answer and usage as a stream, laid out as each provider streams it."""
    half = len(text) // 2
    if provider in ("openai", "deepseek"):
        base = {"id": "chatcmpl-cost", "object": "chat.completion.chunk", "created": 1795687200, "model": model}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": text[:half]}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": text[half:]}, "finish_reason": None}]},
        ]
        if provider == "openai":  # the finish chunk, then a usage chunk without choices
            chunks += [{**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
                       {**base, "choices": [], "usage": usage}]
        else:  # DeepSeek: usage rides on the finish chunk
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}],
                           "usage": usage})
        return _sse([(None, c) for c in chunks] + [(None, "[DONE]")])
    if provider == "anthropic":
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"} | {"output_tokens": 1}
        final_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                             "cache_read_input_tokens", "output_tokens")}
        if "output_tokens_details" in usage:
            final_usage["output_tokens_details"] = usage["output_tokens_details"]
        message = {"id": "msg_cost", "type": "message", "role": "assistant", "model": model, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": start_usage}
        return _sse([
            ("message_start", {"type": "message_start", "message": message}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": text[:half]}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": text[half:]}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": final_usage}),
            ("message_stop", {"type": "message_stop"}),
        ])
    partial = {**usage, "candidatesTokenCount": 1}
    first = {"candidates": [{"content": {"parts": [{"text": text[:half]}], "role": "model"}, "index": 0}],
             "usageMetadata": partial, "modelVersion": model, "responseId": "resp-cost"}
    last = {"candidates": [{"content": {"parts": [{"text": text[half:]}], "role": "model"}, "finishReason": "STOP",
                            "index": 0}], "usageMetadata": usage, "modelVersion": model, "responseId": "resp-cost"}
    return _sse([(None, first), (None, last)])


# ---------------------------------------------------------------------------------- usage cases

LONG = 250_000  # above every tiered model's 200K threshold

CASES: dict[str, list[tuple[str, dict]]] = {
    "openai": [
        ("plain", openai_usage(1200, 300)),
        ("cached reads", openai_usage(3000, 200, cached=2048)),
        ("reasoning", openai_usage(2134, 900, cached=1920, reasoning=640)),
        ("cache write and audio", openai_usage(5000, 400, cached=1024, cache_write=2000, audio_in=300,
                                               audio_out=50)),
        ("long prompt", openai_usage(LONG, 1000, cached=100_000)),
    ],
    "deepseek": [
        ("plain", openai_usage(900, 250, deepseek=True)),
        ("cached reads", openai_usage(563, 80, cached=512, deepseek=True)),
        ("reasoning", openai_usage(2400, 1900, cached=1024, reasoning=1500, deepseek=True)),
        ("long prompt", openai_usage(LONG, 1000, cached=64_000, deepseek=True)),
    ],
    "anthropic": [
        ("plain", anthropic_usage(1500, 400)),
        ("cached reads", anthropic_usage(21, 10, read=1824)),
        ("5m cache writes", anthropic_usage(2000, 800, read=1000, write_5m=2000)),
        ("1h cache writes", anthropic_usage(31, 52, write_1h=3799)),
        ("5m and 1h cache writes", anthropic_usage(31, 52, write_5m=2612, write_1h=1187)),
        ("thinking", anthropic_usage(400, 2200, read=3000, thinking=1800)),
        ("long prompt", anthropic_usage(LONG - 50_000, 1000, read=30_000, write_5m=10_000, write_1h=10_000)),
    ],
    "google": [
        ("plain", gemini_usage(1200, 300)),
        ("cached reads", gemini_usage(2050, 8, cached=2010, thoughts=55)),
        ("thoughts", gemini_usage(31, 8, thoughts=41)),
        ("audio", gemini_usage(4000, 200, cached=1000, audio=1500, cached_audio=400)),
        ("long prompt", gemini_usage(LONG, 1000, cached=50_000, thoughts=500)),
    ],
}

CATALOGUE = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-3.5-turbo"), ("openai", "gpt-4.1-mini"), ("openai", "gpt-4.1"),
    ("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-sonnet-4-6"),
    ("google", "gemini-2.5-flash"), ("google", "gemini-2.5-pro"),
    ("deepseek", "deepseek-chat"), ("deepseek", "deepseek-reasoner"),
]
PARAMS = [
    pytest.param(provider, model, name, usage, id=f"{model}-{name.replace(' ', '-')}")
    for provider, model in CATALOGUE
    for name, usage in CASES[provider]
]


def expected_cost(provider: str, model: str, usage: dict, at) -> Decimal:
    """genai-prices' own answer for the raw response: extract_usage, then calc_price."""
    body = raw_answer(provider, model, usage)
    extracted = extract_usage(body, provider_id=GENAI_IDS[provider], api_flavor=FLAVOURS[provider])
    price = calc_price(extracted.usage, model, provider_id=GENAI_IDS[provider], genai_request_timestamp=at)
    return price.total_price


async def _ask(gateway, provider: str, model: str, *, stream: bool):
    body = {
        "model": model, "provider": provider, "stream": stream,
        "messages": [{"role": "user", "content": f"cost case {uuid.uuid4().hex}"}],
    }
    response = await gateway.complete(body)
    assert response.status_code == 200, response.content
    if stream:
        text = b"".join([chunk async for chunk in response.streaming_content]).decode()
        done = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        return done[-1]
    return response.json()


@pytest.mark.parametrize(("provider", "model", "case", "usage"), PARAMS)
async def test_every_usage_case_costs_what_genai_prices_says(gateway, provider, model, case, usage):
    gateway.emulator.emulator.replay(provider, raw_answer(provider, model, usage))
    answer = await _ask(gateway, provider, model, stream=False)
    gateway.emulator.emulator.replay(provider, raw_stream(provider, model, usage), stream=True)
    streamed = await _ask(gateway, provider, model, stream=True)

    plain_record, stream_record = await gateway.records()
    assert (plain_record.streamed, stream_record.streamed) == (False, True)
    expected = expected_cost(provider, model, usage, plain_record.created_at)
    assert expected > 0
    assert abs(plain_record.cost_usd - expected) <= TOLERANCE, (case, plain_record.cost_usd, expected)
    # Streamed or not, the same usage costs the same, and the client is told what was recorded.
    assert stream_record.cost_usd == plain_record.cost_usd
    assert Decimal(str(answer["cost_estimate"])) == plain_record.cost_usd
    assert Decimal(str(streamed["cost_estimate"])) == stream_record.cost_usd
    # Every class the provider reported is kept on the record.
    for record in (plain_record, stream_record):
        assert record.prompt_tokens == plain_record.prompt_tokens > 0
        assert record.cache_write_tokens == plain_record.cache_write_tokens
        assert record.reasoning_tokens == plain_record.reasoning_tokens
        assert record.usage_details == plain_record.usage_details


async def test_the_two_costs_of_the_issue(gateway):
    """claude-haiku-4-5: 1,000 cache reads and 2,000 5-minute cache writes in a 5,000-token prompt
    (800 out); gemini-2.5-pro: a 250,000-token prompt (1,000 out)."""
    gateway.emulator.emulator.replay("anthropic", raw_answer(
        "anthropic", "claude-haiku-4-5", anthropic_usage(2000, 800, read=1000, write_5m=2000)))
    await _ask(gateway, "anthropic", "claude-haiku-4-5", stream=False)
    gateway.emulator.emulator.replay("google", raw_answer("google", "gemini-2.5-pro", gemini_usage(LONG, 1000)))
    await _ask(gateway, "google", "gemini-2.5-pro", stream=False)
    haiku, pro = await gateway.records()
    assert haiku.prompt_tokens == 5000 and haiku.cached_tokens == 1000 and haiku.cache_write_tokens == 2000
    assert haiku.cost_usd == Decimal("0.0086")  # was 0.0081: writes at 1.25x, not the base price
    assert pro.cost_usd == Decimal("0.64")  # was 0.3225: the long-context tier


def test_the_long_prompt_case_crosses_every_tiered_catalogue_model_threshold():
    from datetime import UTC, datetime

    from genai_prices.data_snapshot import get_snapshot

    tiered = []
    for provider, model in CATALOGUE:
        _, info = get_snapshot().find_provider_model(model, None, GENAI_IDS[provider], None)
        prices = info.get_prices(datetime.now(UTC))
        starts = [t.start for v in prices.__dict__.values() if isinstance(v, TieredPrices) for t in v.tiers]
        if starts:
            tiered.append(model)
            assert LONG > max(starts), model
    assert "gemini-2.5-pro" in tiered


# ------------------------------------------------------------------------------ admin overrides


class _FormFields(HTMLParser):
    """The values an admin change form would submit as it is (inputs, checked boxes, selections,
    text areas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((name, a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, self._text.strip("\n")))
            self._textarea = None


def _admin_post_prices(client, entry: ProviderModel, **prices) -> None:
    """Change prices the way an operator does: the model's admin change form, submitted."""
    url = f"/admin/providers/providermodel/{entry.pk}/change/"
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.data:
        data.setdefault(name, []).append(value)
    for name, value in prices.items():
        data[name] = [str(value)]
    data.pop("_addanother", None), data.pop("_continue", None)
    response = client.post(url, data)
    assert response.status_code == 302, re.findall(r'<ul class="errorlist[^>]*>.*?</ul>', response.content.decode())


async def test_an_admin_price_override_changes_only_that_class(gateway, admin_client):
    usage = anthropic_usage(2000, 800, read=1000, write_5m=2000, write_1h=500, thinking=300)
    entry = await ProviderModel.objects.select_related("provider").aget(
        provider__name="anthropic", name="claude-haiku-4-5"
    )
    assert entry.cache_write_price_per_1m == Decimal("1.25")

    async def cost_now() -> Decimal:
        gateway.emulator.emulator.replay("anthropic", raw_answer("anthropic", "claude-haiku-4-5", usage))
        await _ask(gateway, "anthropic", "claude-haiku-4-5", stream=False)
        return (await gateway.records())[-1].cost_usd

    before = await cost_now()
    assert abs(before - expected_cost("anthropic", "claude-haiku-4-5", usage, None)) <= TOLERANCE

    # The operator sets the 5-minute cache write price, through the admin.
    await sync_to_async(_admin_post_prices)(admin_client, entry, cache_write_price_per_1m=Decimal("3.00"))
    catalogue_invalidate_for_tests()
    after = await cost_now()
    # Only the 2,000 five-minute writes change price: 1.25 -> 3.00 per million.
    assert after - before == Decimal(2000) * (Decimal("3.00") - Decimal("1.25")) / 1_000_000

    # The price sync keeps the operator's price (and says so), and the cost stays overridden.
    out = StringIO()
    await sync_to_async(call_command)("sync_providers", stdout=out)
    assert "kept operator change: anthropic/claude-haiku-4-5.cache_write_price_per_1m" in out.getvalue()
    catalogue_invalidate_for_tests()
    assert await cost_now() == after


# ------------------------------------------------------------------------- per-attempt truth


async def test_failed_attempts_that_failover_hid_are_counted(gateway, settings, admin_client, api):
    from prometheus_client.parser import text_string_to_metric_families

    from providers.models import Provider
    from routing.stats import stats_read

    async def scrape_attempts() -> dict[str, float]:
        """openai's attempts by outcome, as GET /metrics exposes them."""
        text = (await gateway.client.get("/metrics")).content.decode()
        return {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "aiprovider_provider_attempts_total" and sample.labels["provider"] == "openai"
            and sample.labels["model"] == "gpt-4o-mini"
        }

    before = await scrape_attempts()
    settings.BREAKER_MIN_REQUESTS = 1000  # the circuit must stay closed: openai keeps being tried first
    await Provider.objects.filter(name="openai").aupdate(max_retries=0)
    catalogue_invalidate_for_tests()

    for i in range(20):
        if i % 2 == 0:
            gateway.fault("openai", "status:503", count=1)
        response = await gateway.complete({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": f"failover {i}"}]})
        assert response.status_code == 200, response.content
    records = await gateway.records()
    # Every request was answered: the request error rate sees nothing.
    assert {r.status for r in records} == {"success"}
    assert sorted({r.provider for r in records}) == ["anthropic", "openai"]
    openai_attempts = [a async for a in UsageAttempt.objects.filter(provider="openai")]
    assert len(openai_attempts) == 20
    assert sum(1 for a in openai_attempts if a.error_code) == 10
    hidden = await UsageRecord.objects.filter(provider="anthropic").afirst()
    detail = [(a.provider, a.error_code) async for a in UsageAttempt.objects.filter(record=hidden).order_by("seq")]
    assert detail == [("openai", "UNAVAILABLE"), ("anthropic", "")]

    # Shared stats (routing's view of every worker) count the attempts too.
    stats = (await stats_read(["openai"]))["openai"]
    assert (stats.requests, stats.failures) == (20, 10)

    # /metrics: the attempts counter by outcome (this process's counters: the change during the test).
    after = await scrape_attempts()
    failed = after.get("unavailable", 0) - before.get("unavailable", 0)
    answered = after.get("success", 0) - before.get("success", 0)
    assert (failed, answered) == (10, 10)
    assert failed / (failed + answered) == 0.5

    # /api/v1/metrics: the provider's attempt error rate.
    body = (await sync_to_async(api)("/api/v1/metrics", window="1h")).json()
    openai = next(p for p in body["providers"] if p["provider"] == "openai")
    assert (openai["attempts"], openai["failed_attempts"], openai["attempt_error_rate"]) == (20, 10, 0.5)
    assert openai["errors"] == 0

    # The dashboard: openai at 50% of its attempts.
    page = (await sync_to_async(admin_client.get)("/admin/analytics/costdashboard/?days=7")).content.decode()
    assert 'data-category="openai (10/20 attempts)" data-value="0.50000000"' in page


async def test_a_stream_keeps_the_attempts_that_failed_before_its_first_chunk(gateway):
    gateway.fault("openai", "status:503", count=1)
    from providers.models import Provider

    await Provider.objects.filter(name="openai").aupdate(max_retries=0)
    catalogue_invalidate_for_tests()
    response = await gateway.complete({"model": "gpt-4o-mini", "stream": True})
    assert response.status_code == 200
    b"".join([chunk async for chunk in response.streaming_content])
    [record] = await gateway.records()
    assert (record.provider, record.status, record.attempts) == ("anthropic", "success", 2)
    detail = [(a.provider, a.error_code) async for a in UsageAttempt.objects.filter(record=record).order_by("seq")]
    assert detail == [("openai", "UNAVAILABLE"), ("anthropic", "")]


def test_queued_events_from_older_and_newer_versions_still_write():
    from analytics.services import UsageEvent

    event = UsageEvent(request_id="r1", status="success", provider="openai", cache_write_tokens=5,
                       usage_details={"cache_write_1h_tokens": 2},
                       attempt_details=[{"provider": "openai", "model": "m", "error_code": "", "latency_ms": 1.0}])
    data = json.loads(event.to_json())
    assert UsageEvent.from_json(json.dumps(data)) == event
    older = {k: v for k, v in data.items() if k not in ("cache_write_tokens", "usage_details", "attempt_details")}
    assert UsageEvent.from_json(json.dumps(older)).attempt_details == []
    newer = {**data, "a_field_from_the_future": 1}
    assert UsageEvent.from_json(json.dumps(newer)) == event


def test_cached_usage_reads_whatever_fields_it_was_stored_with():
    from providers.adapters.results import Usage

    usage = Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=2, cache_write_tokens=3, input_audio_tokens=1)
    assert Usage.from_dict(usage.as_dict()) == usage
    assert Usage.from_dict({"prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 2, "reasoning_tokens": 0,
                            "from_a_newer_version": 7}) == Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=2)
