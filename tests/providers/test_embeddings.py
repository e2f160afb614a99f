"""Embeddings through the adapters (OpenAI SDK, Gemini REST) against the emulator, and the
emulator's embedding endpoints themselves: deterministic vectors, limits, errors as the real APIs
give them, mapped to ProviderError kinds as for chat."""

from __future__ import annotations

import math

import httpx
import pytest

from providers.adapters import ProviderError
from providers.adapters.messages import EmbeddingRequest
from providers.emulator.embeddings import vector

from .conftest import API_KEY

OPENAI = "text-embedding-3-small"
GEMINI = "gemini-embedding-001"


@pytest.mark.parametrize(("name", "model", "size"), [("openai", OPENAI, 1536), ("gemini", GEMINI, 3072)])
async def test_embed_returns_one_normalised_vector_per_input(make_adapter, emulator, name, model, size):
    adapter = make_adapter(name)
    response = await adapter.embed(EmbeddingRequest(model=model, inputs=["alpha", "beta"]), timeout=5)
    assert len(response.vectors) == 2 and all(len(v) == size for v in response.vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in response.vectors)
    assert all(abs(a - b) < 1e-6 for a, b in zip(response.vectors[1], vector(model, "beta", size), strict=True))
    assert response.usage.prompt_tokens == 3  # "alpha" 2, "beta" 1 (about four characters a token)
    assert response.usage_estimated is (name == "gemini")  # Gemini reports no token count


@pytest.mark.parametrize(("name", "model"), [("openai", OPENAI), ("gemini", GEMINI)])
async def test_embed_honours_dimensions(make_adapter, emulator, name, model):
    response = await make_adapter(name).embed(
        EmbeddingRequest(model=model, inputs=["short"], dimensions=64), timeout=5
    )
    assert len(response.vectors[0]) == 64


async def test_openai_adapter_sends_token_arrays_and_asks_for_base64(make_adapter, emulator):
    response = await make_adapter("openai").embed(EmbeddingRequest(model=OPENAI, inputs=[[1, 2, 3]]), timeout=5)
    assert response.usage.prompt_tokens == 3
    body = emulator.requests("openai")[-1]["body"]
    assert body["input"] == [[1, 2, 3]] and body["encoding_format"] == "base64"


@pytest.mark.parametrize(
    ("name", "model", "inputs", "kind"),
    [
        ("openai", OPENAI, ["x" * 40_000], "context_length_exceeded"),
        ("gemini", GEMINI, ["x" * 9_000], "context_length_exceeded"),
        ("openai", "no-such-embedder", ["x"], "not_found"),
        ("gemini", "no-such-embedder", ["x"], "not_found"),
        ("openai", OPENAI, ["x"] * 2049, "bad_request"),
        ("gemini", GEMINI, ["x"] * 101, "bad_request"),
    ],
)
async def test_embedding_errors_map_to_provider_error_kinds(make_adapter, emulator, name, model, inputs, kind):
    with pytest.raises(ProviderError) as caught:
        await make_adapter(name).embed(EmbeddingRequest(model=model, inputs=inputs), timeout=5)
    assert caught.value.kind == kind


@pytest.mark.parametrize("name", ["openai", "gemini"])
async def test_faults_apply_to_embeddings(make_adapter, emulator, name):
    emulator.set_fault(name, "rate_limit:1", count=1)
    model = OPENAI if name == "openai" else GEMINI
    with pytest.raises(ProviderError) as caught:
        await make_adapter(name).embed(EmbeddingRequest(model=model, inputs=["x"]), timeout=5)
    assert caught.value.kind == "rate_limited" and caught.value.retryable


async def test_protocols_without_embeddings_refuse(make_adapter, emulator):
    for name in ("anthropic", "deepseek"):
        assert make_adapter(name).max_batch == 0
    with pytest.raises(ProviderError) as caught:
        await make_adapter("anthropic").embed(EmbeddingRequest(model="claude-haiku-4-5", inputs=["x"]), timeout=5)
    assert caught.value.kind == "bad_request" and not caught.value.retryable


def test_emulator_gemini_embed_content_and_float_json(emulator):
    with httpx.Client() as http:
        single = http.post(
            f"{emulator.url_for('gemini')}/models/{GEMINI}:embedContent",
            json={"content": {"parts": [{"text": "one"}]}, "outputDimensionality": 8},
            headers={"x-goog-api-key": API_KEY},
        )
        openai = http.post(
            f"{emulator.url_for('openai')}/embeddings",
            json={"model": OPENAI, "input": "one", "encoding_format": "float", "dimensions": 8},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert single.json() == {"embedding": {"values": vector(GEMINI, "one", 8)}}
    data = openai.json()
    assert data["data"][0]["embedding"] == vector(OPENAI, "one", 8)
    assert data["usage"] == {"prompt_tokens": 1, "total_tokens": 1}
