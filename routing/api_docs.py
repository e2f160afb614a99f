"""OpenAPI helpers the routing views document themselves with: streamed answers and request
examples that work against the default catalogue."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse


def event_stream(description: str) -> OpenApiResponse:
    """A streamed answer (`text/event-stream`, Server-Sent Events), for a view's `responses` under
    the key `(200, "text/event-stream")`."""
    return OpenApiResponse(OpenApiTypes.STR, description=description)


HELLO = [{"role": "user", "content": "Hello"}]


def request_examples(**examples: dict) -> list[OpenApiExample]:
    """Request bodies that work against the default catalogue, for a view's `examples`: the docs show
    them, and a schema-driven fuzzer starts from them (random model names only ever reach a 404)."""
    return [
        OpenApiExample(name.replace("_", " ").capitalize(), value=value, request_only=True)
        for name, value in examples.items()
    ]
