"""Each adapter, through its real SDK or HTTP client, against the emulator over loopback HTTP."""

from __future__ import annotations

import dataclasses

import pytest

from providers.adapters import ChatRequest, Message, ProviderError, Usage

from .conftest import EXPECTED_TEXT, PROVIDERS, QUESTION, chat_request

# The path each adapter must hit, as the emulator records it (without the provider prefix).
CHAT_PATHS = {
    "openai": "POST /v1/chat/completions",
    "deepseek": "POST /chat/completions",
    "openai_compatible": "POST /v1/chat/completions",
    "anthropic": "POST /v1/messages",
    "gemini": "POST /v1beta/models/gemini-2.5-flash:generateContent",
}

LISTED_MODELS = {
    "openai": ["gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini"],  # the embedding model is dropped
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "openai_compatible": ["gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini"],
    "anthropic": ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5-20251001"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"],  # two pages, embedding dropped
}


async def test_complete_returns_the_normalised_answer(case, adapter, emulator):
    response = await adapter.complete(chat_request(case.model), timeout=5)

    assert response.content == EXPECTED_TEXT
    assert response.finish_reason == "stop"
    assert response.model == case.model
    assert response.response_id
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert emulator.stats()["providers"][case.name]["paths"] == {CHAT_PATHS[case.name]: 1}


async def test_stream_yields_the_text_in_order_then_one_final_chunk_with_usage(case, adapter):
    complete = await adapter.complete(chat_request(case.model), timeout=5)

    chunks = [chunk async for chunk in adapter.stream(chat_request(case.model), timeout=5)]

    *body, last = chunks
    assert "".join(chunk.delta for chunk in body) == EXPECTED_TEXT
    pieces = [chunk.delta for chunk in body if chunk.delta]
    assert len(pieces) >= 3 and pieces[0].startswith("Emulated")  # really streamed, in order
    assert all(chunk.finish_reason is None and chunk.usage is None for chunk in body)
    assert last.finish_reason == "stop"
    assert last.delta == ""
    assert last.usage == complete.usage  # the emulator counts deterministically
    assert last.model == case.model
    assert last.response_id and all(chunk.response_id == last.response_id for chunk in body)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_token_limit_reports_length(case, adapter, streamed):
    request = chat_request(case.model, max_tokens=4)

    if streamed:
        chunks = [chunk async for chunk in adapter.stream(request, timeout=5)]
        text, finish, usage = "".join(c.delta for c in chunks), chunks[-1].finish_reason, chunks[-1].usage
    else:
        response = await adapter.complete(request, timeout=5)
        text, finish, usage = response.content, response.finish_reason, response.usage

    assert finish == "length"
    assert text == "Emulated reply to:"
    assert usage.completion_tokens - usage.reasoning_tokens == 4


async def test_long_prompts_report_cached_tokens(case, adapter):
    question = "lorem " * 900  # ~1,200 tokens: the emulator caches whole 1,024-token blocks

    response = await adapter.complete(chat_request(case.model, question=question), timeout=5)

    assert response.usage.cached_tokens == 1024
    assert response.usage.prompt_tokens > 1024  # Anthropic's input_tokens alone would be < 1024


async def test_list_models_returns_chat_models_only(case, adapter):
    models = await adapter.list_models()

    assert [model.id for model in models] == LISTED_MODELS[case.name]


async def test_list_models_reports_limits_where_the_provider_does(make_adapter):
    gemini = {m.id: m for m in await make_adapter("gemini").list_models()}
    anthropic = {m.id: m for m in await make_adapter("anthropic").list_models()}

    assert (gemini["gemini-2.0-flash"].context_window, gemini["gemini-2.0-flash"].max_output_tokens) == (
        1048576,
        8192,
    )
    assert anthropic["claude-sonnet-4-6"].context_window == 200000


async def test_probe_succeeds_with_a_good_key_and_calls_the_provider(case, adapter, emulator):
    await adapter.probe()

    assert emulator.emulator.request_count(case.name) >= 1


async def test_probe_fails_with_a_rejected_key(case, make_adapter):
    adapter = make_adapter(case.name, api_key="invalid-key-0123456789")

    with pytest.raises(ProviderError) as info:
        await adapter.probe()

    assert info.value.kind == "authentication"
    assert info.value.retryable is False
    assert "invalid-key-0123456789" not in str(info.value)


async def test_adapter_reuses_one_client_across_requests(case, adapter):
    await adapter.complete(chat_request(case.model), timeout=5)
    client = adapter.client()
    await adapter.complete(chat_request(case.model), timeout=5)

    assert adapter.client() is client
    await adapter.aclose()
    assert adapter.client() is not client


async def test_extra_headers_reach_the_provider(case, make_adapter, emulator):
    adapter = make_adapter(case.name, extra_headers={"X-Team": "payments"})

    await adapter.complete(chat_request(case.model), timeout=5)

    assert emulator.requests(case.name)[-1]["headers"]["x-team"] == "payments"


# ---------------------------------------------------------------- request shapes per protocol

FULL_REQUEST = ChatRequest(
    model="MODEL",
    messages=[
        Message("system", "Be brief."),
        Message("user", "Hi."),
        Message("user", QUESTION),
        Message("assistant", "Paris."),
        Message("user", "And Italy?"),
    ],
    temperature=0.2,
    top_p=0.9,
    stop=["\n\nUser:"],
    user="user-42",
)


def _with_model(request: ChatRequest, model: str, **changes) -> ChatRequest:
    return dataclasses.replace(request, model=model, **changes)


@pytest.mark.parametrize(
    ("name", "limit_field"),
    [("openai", "max_completion_tokens"), ("deepseek", "max_tokens"), ("openai_compatible", "max_tokens")],
)
async def test_openai_protocol_request(name, limit_field, make_adapter, emulator):
    await make_adapter(name).complete(
        _with_model(FULL_REQUEST, PROVIDERS[name].model, max_tokens=99), timeout=5
    )

    sent = emulator.requests(name)[-1]
    body = sent["body"]
    assert sent["headers"]["authorization"] == "***"  # present, and masked in the emulator's log
    assert body[limit_field] == 99
    assert ("max_tokens" in body) != ("max_completion_tokens" in body)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert len(body["messages"]) == 5
    assert (body["temperature"], body["top_p"], body["stop"], body["user"]) == (
        0.2,
        0.9,
        ["\n\nUser:"],
        "user-42",
    )
    assert "stream" not in body or body["stream"] is False


async def test_openai_stream_asks_for_usage(make_adapter, emulator):
    adapter = make_adapter("openai")

    [chunk async for chunk in adapter.stream(chat_request("gpt-4.1-mini"), timeout=5)]

    body = emulator.requests("openai")[-1]["body"]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True, "include_obfuscation": False}


async def test_anthropic_request_lifts_system_merges_turns_and_pins_sampling(make_adapter, emulator):
    await make_adapter("anthropic").complete(_with_model(FULL_REQUEST, "claude-sonnet-4-6"), timeout=5)

    sent = emulator.requests("anthropic")[-1]
    body = sent["body"]
    assert sent["headers"]["anthropic-version"] in ("2023-06-01", "2026-10-21")
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": f"Hi.\n\n{QUESTION}"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And Italy?"},
    ]
    assert body["max_tokens"] == 4096  # required by the API, defaulted
    assert body["stop_sequences"] == ["\n\nUser:"]
    assert body["metadata"] == {"user_id": "user-42"}
    # Sampling parameters are honoured: the request pins the API version that still takes them.
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert not {"top_k", "stop"} & set(body)


async def test_gemini_request_uses_system_instruction_model_role_and_generation_config(
    make_adapter, emulator
):
    await make_adapter("gemini").complete(
        _with_model(FULL_REQUEST, "gemini-2.5-flash", max_tokens=77), timeout=5
    )

    sent = emulator.requests("gemini")[-1]
    body = sent["body"]
    assert sent["headers"]["x-goog-api-key"] == "***"
    assert "authorization" not in sent["headers"]
    assert "key" not in sent["query"]  # the key never travels in the URL
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [{"text": "Hi."}, {"text": QUESTION}]
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 77,
        "stopSequences": ["\n\nUser:"],
    }


async def test_gemini_stream_requests_sse(make_adapter, emulator):
    [c async for c in make_adapter("gemini").stream(chat_request("gemini-2.5-flash"), timeout=5)]

    sent = emulator.requests("gemini")[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent["query"] == {"alt": "sse"}


# ---------------------------------------------------------------- provider specifics


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_deepseek_reasoner_reports_reasoning(make_adapter, streamed):
    adapter = make_adapter("deepseek")
    request = chat_request("deepseek-reasoner")

    if streamed:
        chunks = [chunk async for chunk in adapter.stream(request, timeout=5)]
        text, usage = "".join(c.delta for c in chunks), chunks[-1].usage
    else:
        response = await adapter.complete(request, timeout=5)
        text, usage = response.content, response.usage
        assert response.reasoning_text == f"Thinking about: {QUESTION}"

    assert text == EXPECTED_TEXT  # the chain of thought is not part of the answer
    assert usage.reasoning_tokens > 0
    assert usage.completion_tokens > usage.reasoning_tokens


async def test_gemini_thinking_tokens_count_as_completion(make_adapter):
    response = await make_adapter("gemini").complete(chat_request("gemini-2.5-flash"), timeout=5)
    plain = await make_adapter("gemini").complete(chat_request("gemini-2.0-flash"), timeout=5)

    assert plain.usage.reasoning_tokens == 0
    assert response.usage.reasoning_tokens > 0
    assert response.usage.completion_tokens == plain.usage.completion_tokens + response.usage.reasoning_tokens


CONTENT_FILTER_OUTCOME = {
    "openai": "content_filter",
    "deepseek": "content_filter",
    "openai_compatible": "content_filter",
    "anthropic": "content_filter",  # stop_reason "refusal"
    "gemini": ProviderError,  # a blocked prompt: 200 with promptFeedback.blockReason and no candidates
}


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_filtered_answers(case, make_adapter, streamed):
    adapter = make_adapter(case.name, extra_headers={"X-Emulator-Fault": "content_filter"})
    expected = CONTENT_FILTER_OUTCOME[case.name]

    async def run():
        if streamed:
            chunks = [chunk async for chunk in adapter.stream(chat_request(case.model), timeout=5)]
            return chunks[-1].finish_reason
        return (await adapter.complete(chat_request(case.model), timeout=5)).finish_reason

    if expected is ProviderError:
        with pytest.raises(ProviderError) as info:
            await run()
        assert (info.value.kind, info.value.retryable) == ("content_filtered", False)
    else:
        assert await run() == expected


async def test_usage_total_is_prompt_plus_completion():
    assert Usage(prompt_tokens=3, completion_tokens=4, cached_tokens=2, reasoning_tokens=1).total_tokens == 7


async def test_gemini_probe_is_a_single_request(emulator, make_adapter):
    adapter = make_adapter("gemini")
    before = emulator.emulator.request_count("gemini")
    await adapter.probe()
    assert emulator.emulator.request_count("gemini") == before + 1
