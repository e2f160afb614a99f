"""The embeddings door's pure functions and the batch splitting, checked against the SDK's types."""

from __future__ import annotations

import base64
import struct

import pytest
from openai.types import CreateEmbeddingResponse

from providers.adapters.results import Usage, estimate_text_tokens
from routing.doors.common import DoorError
from routing.doors.openai_embeddings import embeddings_render, embeddings_request_parse
from routing.embedding_plan import batches


def parse(**body):
    return embeddings_request_parse({"model": "text-embedding-3-small", **body})


@pytest.mark.parametrize(
    ("value", "inputs"),
    [
        ("one", ("one",)),
        (["a", "b"], ("a", "b")),
        ([1, 2, 3], ((1, 2, 3),)),
        ([[1, 2], [3]], ((1, 2), (3,))),
        (["a", [7]], ("a", (7,))),
    ],
)
def test_input_forms(value, inputs):
    assert parse(input=value).inputs == inputs


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["x", ""]}, "input[1]"),
        ({"input": ["x", 3.5]}, "input[1]"),
        ({"input": [[1, -2]]}, "input[0]"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "task": "retrieval"}, "task"),
        ({}, "input"),
    ],
)
def test_bad_bodies_name_the_parameter(body, param):
    with pytest.raises(DoorError) as caught:
        parse(**body)
    assert caught.value.param == param


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_render_is_an_sdk_create_embedding_response(encoding):
    vectors = [[0.5, -0.25, 0.125], [1.0, 0.0, 0.0]]
    body = embeddings_render(
        vectors, model="m", usage=Usage(prompt_tokens=7), encoding_format=encoding, provider="openai"
    )
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    if encoding == "float":
        response = CreateEmbeddingResponse.model_validate(body)
        assert [d.embedding for d in response.data] == vectors
    else:
        raw = base64.b64decode(body["data"][1]["embedding"])
        assert list(struct.unpack("<3f", raw)) == vectors[1]


def test_batches_respect_count_and_tokens_and_keep_order():
    estimates = [10] * 7
    assert batches(range(7), estimates, 3, None) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches(range(7), estimates, 100, 25) == [[0, 1], [2, 3], [4, 5], [6]]
    assert batches([1, 4, 6], estimates, 2, None) == [[1, 4], [6]]
    assert batches([0], [1000], 2, 25) == [[0]]  # one input larger than the budget still goes alone


def test_token_estimate():
    assert estimate_text_tokens("abcd" * 10) == 10
    assert estimate_text_tokens("日本語") == 3
    assert estimate_text_tokens("") == 1
