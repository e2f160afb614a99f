"""The official OpenAI SDK works against the gateway with only base_url changed."""

import openai
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.api_key, max_retries=0)


def test_chat_completion(live_gateway):
    completion = sdk(live_gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello to the SDK"}]
    )
    assert "Say hello to the SDK" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_streamed_chat_completion_with_usage(live_gateway):
    stream = sdk(live_gateway).chat.completions.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "Stream to the SDK"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Stream to the SDK" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_models_list(live_gateway):
    ids = {model.id for model in sdk(live_gateway).models.list()}
    assert {"gpt-3.5-turbo", "claude-haiku-4-5", "gemini-2.5-flash", "deepseek-chat", "claude-haiku"} <= ids


def test_sdk_sees_errors_as_api_errors(live_gateway):
    client = sdk(live_gateway)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    bad = openai.OpenAI(base_url=f"{live_gateway.url}/v1", api_key="aip_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
