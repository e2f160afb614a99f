"""Clients built on the OpenAI protocol work unchanged against the gateway: langchain-openai's
tool binding and structured output, and litellm's completion with tools."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import BaseModel, Field

# litellm reads its model price map from the network unless told to use the bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytestmark = pytest.mark.django_db(transaction=True)


class GetCurrentWeather(BaseModel):
    """The current weather in a city."""

    city: str = Field(description="The city")
    unit: str = Field(description="celsius or fahrenheit")


class CityFacts(BaseModel):
    name: str
    population: int
    landmarks: list[str]


def chat_model(gateway, model: str):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=f"{gateway.url}/v1", api_key=gateway.api_key, max_retries=0)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash", "deepseek-chat"])
def test_langchain_bind_tools(live_gateway, model):
    llm = chat_model(live_gateway, model).bind_tools([GetCurrentWeather])
    message = llm.invoke("What is the weather in Paris? Use GetCurrentWeather.")
    assert [call["name"] for call in message.tool_calls] == ["GetCurrentWeather"]
    args = message.tool_calls[0]["args"]
    assert isinstance(args["city"], str) and isinstance(args["unit"], str)
    assert message.tool_calls[0]["id"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"])
def test_langchain_with_structured_output(live_gateway, model):
    structured = chat_model(live_gateway, model).with_structured_output(CityFacts)
    facts = structured.invoke("Tell me about Paris.")
    assert isinstance(facts, CityFacts)
    assert isinstance(facts.population, int)


def test_langchain_tool_loop_round_trip(live_gateway):
    from langchain_core.messages import HumanMessage, ToolMessage

    llm = chat_model(live_gateway, "claude-haiku-4-5").bind_tools([GetCurrentWeather])
    history = [HumanMessage("Weather in Paris? Use GetCurrentWeather.")]
    answer = llm.invoke(history)
    history += [answer, ToolMessage('{"temperature": 18}', tool_call_id=answer.tool_calls[0]["id"])]
    final = llm.invoke(history)
    assert final.content.startswith("Emulated reply to tool results:")


def test_litellm_completion_with_tools(live_gateway):
    import litellm

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_local_time",
                "description": "The local time.",
                "parameters": {
                    "type": "object",
                    "properties": {"timezone": {"type": "string"}},
                    "required": ["timezone"],
                },
            },
        }
    ]
    response = litellm.completion(
        model="openai/gemini-2.5-flash",
        api_base=f"{live_gateway.url}/v1",
        api_key=live_gateway.api_key,
        messages=[{"role": "user", "content": "What time is it in Paris?"}],
        tools=tools,
        num_retries=0,
    )
    call = response.choices[0].message.tool_calls[0]
    assert call.function.name == "get_local_time"
    assert isinstance(json.loads(call.function.arguments)["timezone"], str)
    assert response.choices[0].finish_reason == "tool_calls"
