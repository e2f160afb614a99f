"""/v1/embeddings through the official `openai` SDK against a live gateway whose providers are the
emulator: OpenAI and Gemini, single inputs and batches above a provider's per-request limit,
dimensions, float and base64, with usage records and costs; failover only within a vector space."""

from __future__ import annotations

import base64
import math
import struct
from decimal import Decimal

import openai
import pytest
from openai.types import CreateEmbeddingResponse

from access.services import api_key_create
from analytics.models import UsageRecord
from analytics.services import usage_flush
from providers.emulator.embeddings import vector
from providers.models import ModelKind, Provider, ProviderModel

pytestmark = pytest.mark.django_db(transaction=True)

OPENAI = "text-embedding-3-small"
GEMINI = "gemini-embedding-001"


def sdk(gateway, api_key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_key or gateway.api_key, max_retries=0)


def records() -> list[UsageRecord]:
    usage_flush()
    return list(UsageRecord.objects.order_by("created_at"))


def calls(gateway, provider: str) -> list[dict]:
    return [r for r in gateway.emulator.emulator.requests(provider) if "mbed" in r["path"]]


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b, strict=True))


def texts(n: int) -> list[str]:
    return [f"document number {i} about topic {i % 7}" for i in range(n)]


# ------------------------------------------------------------------------------------ OpenAI


def test_single_input_on_openai_with_usage_record_and_cost(live_gateway):
    raw = sdk(live_gateway).embeddings.with_raw_response.create(model=OPENAI, input="hello embeddings")
    assert raw.headers["x-provider"].startswith("openai") and raw.headers["x-cache"] == "MISS"
    result = raw.parse()
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)  # the SDK asked for base64
    [item] = result.data
    assert item.index == 0 and item.object == "embedding"
    assert len(item.embedding) == 1536
    assert close(item.embedding, vector(OPENAI, "hello embeddings", 1536))  # float32 round trip
    assert abs(math.sqrt(sum(v * v for v in item.embedding)) - 1) < 1e-5
    assert result.model == OPENAI and result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens

    [record] = records()
    assert record.status == "success" and record.provider == "openai" and record.model == OPENAI
    assert record.prompt_tokens == result.usage.prompt_tokens and record.completion_tokens == 0
    # genai-prices: text-embedding-3-small is $0.02 per million input tokens.
    assert record.cost_usd == (Decimal(record.prompt_tokens) * Decimal("0.02") / 1_000_000).quantize(
        Decimal("1e-8")
    )
    assert record.cost_usd > 0


def test_float_and_base64_encodings(live_gateway):
    client = sdk(live_gateway)
    floats = client.embeddings.with_raw_response.create(model=OPENAI, input=["a", "b"], encoding_format="float")
    CreateEmbeddingResponse.model_validate(floats.http_response.json())  # every field as the SDK types it
    floats = floats.parse()
    packed = client.embeddings.create(model=OPENAI, input=["a", "b"], encoding_format="base64")
    for as_float, as_b64 in zip(floats.data, packed.data, strict=True):
        assert isinstance(as_float.embedding, list) and isinstance(as_b64.embedding, str)
        raw = base64.b64decode(as_b64.embedding)
        decoded = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        assert close(decoded, as_float.embedding)


@pytest.mark.parametrize(("model", "provider", "field"), [(OPENAI, "openai", "dimensions"), (GEMINI, "google", None)])
def test_dimensions(live_gateway, model, provider, field):
    result = sdk(live_gateway).embeddings.create(model=model, input=["short vectors"], dimensions=256)
    values = result.data[0].embedding
    assert len(values) == 256 and close(values, vector(model, "short vectors", 256))
    [sent] = calls(live_gateway, provider)
    if field:
        assert sent["body"]["dimensions"] == 256
    else:
        assert sent["body"]["requests"][0]["outputDimensionality"] == 256


def test_dimensions_beyond_the_model_are_a_400(live_gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).embeddings.create(model=OPENAI, input="x", dimensions=4096)
    assert caught.value.param == "dimensions"
    assert calls(live_gateway, "openai") == []


def test_openai_batch_above_its_limit_is_split_and_reassembled(live_gateway):
    inputs = texts(2500)
    result = sdk(live_gateway).embeddings.create(model=OPENAI, input=inputs, dimensions=16)
    assert [item.index for item in result.data] == list(range(2500))
    for i in (0, 1, 2047, 2048, 2499):
        assert close(result.data[i].embedding, vector(OPENAI, inputs[i], 16))
    sent = calls(live_gateway, "openai")
    assert [len(r["body"]["input"]) for r in sent] == [2048, 452]
    [record] = records()
    assert record.prompt_tokens == result.usage.prompt_tokens and record.attempts == 1


def test_token_arrays_on_openai_and_not_on_gemini(live_gateway):
    client = sdk(live_gateway)
    result = client.embeddings.create(model=OPENAI, input=[[1, 2, 3], [4, 5]])
    assert len(result.data) == 2 and result.usage.prompt_tokens == 5
    assert calls(live_gateway, "openai")[0]["body"]["input"] == [[1, 2, 3], [4, 5]]
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=GEMINI, input=[[1, 2, 3]])
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "input"


# ------------------------------------------------------------------------------------ Gemini


def test_gemini_batch_above_its_limit_with_estimated_usage(live_gateway):
    inputs = texts(250)
    raw = sdk(live_gateway).embeddings.with_raw_response.create(model=GEMINI, input=inputs)
    result = raw.parse()
    assert raw.headers["x-provider"].startswith("google")
    assert raw.headers["x-usage-estimated"] == "true"  # Gemini reports no token count for embeddings
    assert len(result.data) == 250 and len(result.data[0].embedding) == 3072
    for i in (0, 99, 100, 249):
        assert close(result.data[i].embedding, vector(GEMINI, inputs[i], 3072))
    # The three batches go out together: they may arrive in any order.
    sent = sorted(calls(live_gateway, "google"), key=lambda r: inputs.index(r["body"]["requests"][0]["content"]["parts"][0]["text"]))
    assert [len(r["body"]["requests"]) for r in sent] == [100, 100, 50]
    assert all(r["path"].endswith("gemini-embedding-001:batchEmbedContents") for r in sent)
    assert sent[0]["body"]["requests"][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": inputs[0]}]},
    }
    [record] = records()
    assert record.provider == "google" and record.model == GEMINI
    assert record.prompt_tokens == result.usage.prompt_tokens > 0
    assert record.cost_usd == (Decimal(record.prompt_tokens) * Decimal("0.15") / 1_000_000).quantize(
        Decimal("1e-8")
    )


@pytest.mark.parametrize(("model", "provider"), [(OPENAI, "openai"), (GEMINI, "google")])
def test_a_thousand_inputs_come_back_in_order(live_gateway, model, provider):
    inputs = texts(1000)
    result = sdk(live_gateway).embeddings.create(model=model, input=inputs, dimensions=8)
    assert [item.index for item in result.data] == list(range(1000))
    assert all(close(item.embedding, vector(model, inputs[item.index], 8)) for item in result.data)
    assert len(calls(live_gateway, provider)) == (1 if provider == "openai" else 10)


@pytest.mark.parametrize(("model", "chars", "limit"), [(OPENAI, 40_000, 8192), (GEMINI, 9_000, 2048)])
def test_an_input_over_the_model_limit_is_a_400_naming_it(live_gateway, model, chars, limit):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).embeddings.create(model=model, input=["fine", "also fine", "x" * chars])
    assert caught.value.param == "input[2]"
    assert caught.value.code == "context_length_exceeded"
    assert "input[2]" in caught.value.message and f"{limit:,}" in caught.value.message
    assert calls(live_gateway, "openai") == [] and calls(live_gateway, "google") == []


# ------------------------------------------------------------------------------------ catalogue and routing


def test_models_list_has_the_embedding_models(live_gateway):
    ids = {model.id for model in sdk(live_gateway).models.list()}
    assert {OPENAI, "text-embedding-3-large", GEMINI, "gpt-4o-mini"} <= ids


def test_chat_and_embedding_models_never_mix(live_gateway):
    client = sdk(live_gateway)
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="gpt-4o-mini", input="x")
    assert "chat model" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=OPENAI, messages=[{"role": "user", "content": "x"}])


def _backup(model: str, space: str = "") -> None:
    """A second OpenAI-protocol provider serving an embedding model (an Azure-like deployment)."""
    provider = Provider.objects.create(
        name="openai-backup", kind="openai_compatible", api_key_env="OPENAI_API_KEY", priority=50
    )
    ProviderModel.objects.create(
        provider=provider, name=model, kind=ModelKind.EMBEDDING, dimensions=1536, context_window=8192,
        embedding_space=space, input_price_per_1m=Decimal("0.05"), output_price_per_1m=Decimal("0"),
        price_source="catalogue",
    )


def test_fails_over_to_the_same_model_elsewhere(live_gateway):
    _backup(OPENAI)
    live_gateway.fault("openai", "status:503")
    raw = sdk(live_gateway).embeddings.with_raw_response.create(model=OPENAI, input=["fail over"])
    assert raw.headers["x-provider"].startswith("openai-backup")
    assert close(raw.parse().data[0].embedding, vector(OPENAI, "fail over", 1536))
    [record] = records()
    assert record.provider == "openai-backup" and record.attempts >= 2
    rows = list(record.attempt_rows.order_by("seq"))
    assert [(r.provider, r.error_code) for r in rows][-1] == ("openai-backup", "")
    assert {r.error_code for r in rows[:-1]} == {"UNAVAILABLE"}
    assert record.cost_usd > 0  # at the backup's own price


def test_fails_over_within_a_declared_space_only(live_gateway):
    ProviderModel.objects.filter(name=OPENAI).update(embedding_space="openai/te3-small")
    _backup("text-embedding-3-small-eu", space="openai/te3-small")
    live_gateway.fault("openai", "status:503")
    result = sdk(live_gateway).embeddings.create(model=OPENAI, input="same space")
    assert result.model == "text-embedding-3-small-eu"


def test_never_fails_over_to_a_different_model(live_gateway):
    live_gateway.fault("openai", "status:503")
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(live_gateway).embeddings.create(model=OPENAI, input="no other model")
    assert caught.value.status_code == 503
    assert {a["provider"] for a in caught.value.body["context"]["attempts"]} == {"openai"}
    assert calls(live_gateway, "google") == []
    [record] = records()
    assert record.status == "error" and record.error_code == "PROVIDER_UNAVAILABLE"


# ------------------------------------------------------------------------------------ cache, keys, limits


def test_a_repeat_is_served_from_the_cache(live_gateway):
    client = sdk(live_gateway)
    first = client.embeddings.create(model=OPENAI, input=["cache me"], dimensions=32)
    again = client.embeddings.with_raw_response.create(model=OPENAI, input=["cache me"], dimensions=32)
    assert again.headers["x-cache"] == "HIT"
    assert close(again.parse().data[0].embedding, first.data[0].embedding)
    assert len(calls(live_gateway, "openai")) == 1
    statuses = [r.status for r in records()]
    assert statuses == ["success", "cache_hit"]
    assert records()[1].cost_usd == 0


def test_tokens_count_against_the_key_limits(live_gateway):
    _, secret = api_key_create(name="embedding-tpm", tpm_limit=200)
    client = sdk(live_gateway, api_key=secret)
    first = client.embeddings.with_raw_response.create(model=OPENAI, input=texts(30))
    assert first.headers["x-ratelimit-limit-tokens"] == "200"
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model=OPENAI, input=texts(30))
    assert caught.value.body["context"]["limit"] == "tokens_per_minute"


def test_a_key_limited_to_other_models_and_a_spent_budget(live_gateway):
    _, secret = api_key_create(name="chat-only", allowed_models=["gpt-4o-mini"])
    with pytest.raises(openai.PermissionDeniedError):
        sdk(live_gateway, api_key=secret).embeddings.create(model=OPENAI, input="x")
    _, secret = api_key_create(name="no-budget", monthly_budget_usd=Decimal("0"))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(live_gateway, api_key=secret).embeddings.create(model=OPENAI, input="over budget")
    assert caught.value.status_code == 402
    assert calls(live_gateway, "openai") == []


def test_bad_requests_name_the_parameter(live_gateway):
    client = sdk(live_gateway)
    for kwargs, param in (
        ({"input": ""}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            client.embeddings.create(model=OPENAI, **kwargs)
        assert caught.value.param == param
