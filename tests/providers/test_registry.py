"""Choosing adapters by kind, and reusing them (and their clients) per event loop."""

from __future__ import annotations

import asyncio

import pytest

from providers.adapters import ADAPTER_CLASSES, AdapterPool, ProviderConfig, adapter_for, adapter_kind
from providers.adapters.anthropic.adapter import AnthropicAdapter
from providers.adapters.gemini.adapter import GeminiAdapter
from providers.adapters.openai.adapter import DeepSeekAdapter, OpenAIAdapter, OpenAICompatibleAdapter
from providers.adapters.registry import config_fingerprint

from .conftest import API_KEY


def config(
    name: str = "openai", kind: str = "openai", base_url: str | None = None, **changes
) -> ProviderConfig:
    return ProviderConfig(
        name=name, kind=kind, base_url=base_url, api_key=changes.pop("api_key", API_KEY), **changes
    )


@pytest.mark.parametrize(
    ("name", "kind", "base_url", "expected"),
    [
        ("openai", "openai", None, OpenAIAdapter),
        ("azure-ish", "openai_compatible", "http://127.0.0.1:1/v1", OpenAICompatibleAdapter),
        ("deepseek", "openai", "https://api.deepseek.com", DeepSeekAdapter),  # the catalogue's DeepSeek
        ("deepseek-backup", "openai", "https://api.deepseek.com/v1", DeepSeekAdapter),  # recognised by host
        (
            "DeepSeek",
            "openai",
            "http://127.0.0.1:9/deepseek",
            DeepSeekAdapter,
        ),  # by name, e.g. on the emulator
        ("anthropic", "anthropic", None, AnthropicAdapter),
        ("gemini", "gemini", None, GeminiAdapter),
    ],
)
def test_adapter_for_chooses_by_kind(name, kind, base_url, expected):
    adapter = adapter_for(config(name, kind, base_url))

    assert type(adapter) is expected
    assert adapter.name == name


def test_deepseek_speaks_max_tokens_and_openai_max_completion_tokens():
    assert adapter_kind(config("deepseek", "openai")) == "deepseek"
    assert DeepSeekAdapter.max_tokens_param == OpenAICompatibleAdapter.max_tokens_param == "max_tokens"
    assert OpenAIAdapter.max_tokens_param == "max_completion_tokens"
    assert issubclass(DeepSeekAdapter, OpenAIAdapter)  # a subclass, not a copy


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown provider kind"):
        adapter_for(config("x", "cohere"))


def test_the_data_model_kinds_are_all_supported():
    assert {"openai", "anthropic", "gemini", "openai_compatible"} <= set(ADAPTER_CLASSES)


def test_fingerprint_is_stable_changes_with_the_key_and_hides_it():
    first = config_fingerprint(config())

    assert first == config_fingerprint(config())
    assert first != config_fingerprint(config(api_key="sk-other"))
    assert first != config_fingerprint(config(timeout_s=5))
    assert API_KEY not in first


def test_config_repr_hides_the_key():
    assert API_KEY not in repr(config())


async def test_pool_reuses_the_adapter_for_the_same_config():
    pool = AdapterPool()

    first = pool.get(config())
    assert pool.get(config()) is first
    assert pool.get(config("anthropic", "anthropic")) is not first
    assert len(pool) == 2
    await pool.aclose_all()
    assert len(pool) == 0


async def test_pool_replaces_and_closes_the_adapter_when_the_config_changes():
    pool = AdapterPool()
    old = pool.get(config())
    client = old.client()

    new = pool.get(config(api_key="sk-rotated"))
    await asyncio.sleep(0)  # the old adapter closes in the background
    await pool.aclose_all()

    assert new is not old
    assert client.closed  # its connection pool
    assert old._client is None


async def test_pool_aclose_all_closes_the_clients():
    pool = AdapterPool()
    adapters = [pool.get(config()), pool.get(config("gemini", "gemini"))]
    clients = [adapter.client() for adapter in adapters]

    await pool.aclose_all()

    assert all(client.closed for client in clients)  # their connection pools
    assert all(adapter._client is None for adapter in adapters)


def test_pool_keeps_one_adapter_per_event_loop():
    pool = AdapterPool()

    async def get():
        adapter = pool.get(config())
        return adapter, adapter.client()

    first_adapter, first_client = asyncio.run(get())
    second_adapter, second_client = asyncio.run(get())

    assert first_adapter is not second_adapter
    assert first_client is not second_client


async def test_adapter_makes_a_new_client_in_a_new_loop():
    adapter = adapter_for(config())
    client = adapter.client()

    def in_other_loop():
        return asyncio.run(_client_of(adapter))

    other = await asyncio.to_thread(in_other_loop)

    assert other is not client
    await adapter.aclose()


async def _client_of(adapter):
    return adapter.client()
