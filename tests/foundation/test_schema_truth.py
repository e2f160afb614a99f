"""The OpenAPI document lists what each operation can answer: the statuses of the shared machinery on
every operation, each door's own errors, and `text/event-stream` where answers stream."""

import pytest
from drf_spectacular.generators import SchemaGenerator

STREAMING = {
    ("post", "/api/v1/completion"),
    ("post", "/api/v1/providers/{provider_name}/completion"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/messages"),
    ("post", "/v1/responses"),
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_every_operation_lists_the_shared_statuses(schema):
    for method, path, operation in operations(schema):
        statuses = set(operation["responses"])
        assert "400" in statuses, (method, path)
        if operation.get("security"):
            assert {"401", "503"} <= statuses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= statuses, (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert "application/json" in response["content"], (method, path, status)


def test_errors_are_in_the_shape_of_the_path(schema):
    def error_ref(path, status="401"):
        operation = next(iter(schema["paths"][path].values()))
        return operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]

    assert error_ref("/v1/chat/completions").endswith("/OpenAIError")
    assert error_ref("/v1/messages").endswith("/AnthropicError")
    assert error_ref("/api/v1/models").endswith("/Error")


def test_streamed_answers_are_documented_as_event_streams(schema):
    for method, path, operation in operations(schema):
        content = operation["responses"]["200"]["content"]
        if (method, path) in STREAMING:
            assert set(content) == {"application/json", "text/event-stream"}, path
        else:
            assert "text/event-stream" not in content, path


@pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/analytics/costs"])
def test_analytics_lists_its_bad_requests_and_missing_scope(schema, path):
    responses = schema["paths"][path]["get"]["responses"]
    assert {"200", "400", "401", "403"} <= set(responses)


def test_the_provider_completion_lists_every_error_of_a_completion(schema):
    forced = set(schema["paths"]["/api/v1/providers/{provider_name}/completion"]["post"]["responses"])
    routed = set(schema["paths"]["/api/v1/completion"]["post"]["responses"])
    assert forced == routed
    assert {"400", "401", "402", "403", "404", "413", "429", "503"} <= forced
