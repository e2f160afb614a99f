"""Anthropic's wire format at /v1: POST /v1/messages (streaming included) and
POST /v1/messages/count_tokens, so the official anthropic SDKs (and the agents built on them) work
with only `base_url` changed, whichever provider answers.

Parsing and rendering are the pure functions of `routing.doors.anthropic_messages`; this module wires
them to admission, routing and charging, as `routing.openai_compat` does for OpenAI's protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from providers.adapters.errors import ProviderError
from providers.catalogue import Catalogue, catalogue_current
from routing.admission import Admitted, completion_admit, completion_answer, completion_stream_answer
from routing.api_docs import HELLO, request_examples
from routing.api_support import (
    DROP_PARAMS_HEADER,
    DROPPED_PARAMS_HEADER,
    answer_headers,
    answer_schema,
    chat_command,
    door_error,
    dropped_headers,
    stream_response,
)
from routing.doors.anthropic_messages.render import (
    STREAM_ERROR_TYPES,
    messages_response_render,
    stream_error_event,
)
from routing.doors.anthropic_messages.request import (
    PASSED_HEADERS,
    MessagesInput,
    messages_request_parse,
    snapshot_base,
)
from routing.doors.anthropic_messages.stream import MessagesStreamRenderer
from routing.doors.anthropic_messages.validation import MessagesError
from routing.streams import CompletionStream
from routing.token_count import input_tokens_count

TOKEN_COUNT_SOURCE_HEADER = "X-Token-Count-Source"


class MessagesInputSerializer(serializers.Serializer):
    """The documented request (validation is `routing.doors.anthropic_messages.request`, which refuses any
    field it does not know)."""

    model = serializers.CharField(
        help_text="A Claude model (`claude-sonnet-4-6`, a dated snapshot such as "
        "`claude-haiku-4-5-20251001`), any catalogue model or alias (`gpt-4o-mini`, `gemini-flash`), "
        "or `provider/model` to pin a provider."
    )
    max_tokens = serializers.IntegerField(min_value=0)
    messages = serializers.ListField(
        child=serializers.DictField(),
        help_text="user and assistant turns: a string or content blocks (text, image, tool_use, tool_result, "
        "thinking, redacted_thinking; documents and server-tool blocks reach Anthropic only).",
    )
    system = serializers.JSONField(required=False, help_text="A string or a list of text blocks.")
    tools = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Client tools (`name`, `description`, `input_schema`); Anthropic's versioned tools "
        "(`web_search_20250305`, `bash_20250124`, ...) make the request Anthropic's.",
    )
    tool_choice = serializers.DictField(required=False, help_text="auto, any, tool (with `name`) or none.")
    thinking = serializers.DictField(
        required=False, help_text="enabled (`budget_tokens`), adaptive or disabled."
    )
    output_config = serializers.DictField(required=False, help_text="`format` (a JSON schema) and `effort`.")
    metadata = serializers.DictField(required=False, help_text="`user_id`.")
    stop_sequences = serializers.ListField(child=serializers.CharField(), required=False)
    stream = serializers.BooleanField(required=False)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    top_p = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    top_k = serializers.IntegerField(required=False, min_value=0)
    cache_control = serializers.DictField(required=False, help_text="Top-level prompt-caching mark.")
    service_tier = serializers.CharField(required=False)
    provider = serializers.DictField(
        required=False,
        help_text="Routing controls, as at /v1/chat/completions: `order`, `only`, `ignore`, "
        "`allow_fallbacks`, `sort`.",
    )


class CountTokensInputSerializer(serializers.Serializer):
    model = serializers.CharField()
    messages = serializers.ListField(child=serializers.DictField())
    system = serializers.JSONField(required=False)
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    tool_choice = serializers.DictField(required=False)
    thinking = serializers.DictField(required=False)


class AnthropicErrorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`error`")
    error = inline_serializer(
        "AnthropicErrorObject",
        {
            "type": serializers.CharField(help_text="invalid_request_error, authentication_error, ..."),
            "message": serializers.CharField(),
            "details": serializers.DictField(required=False, help_text="`error_code`: the gateway's code."),
        },
    )
    request_id = serializers.CharField()


_ERRORS = {status: AnthropicErrorSerializer for status in (400, 401, 402, 403, 404, 429, 503)}
_HEADERS = [
    OpenApiParameter(
        "anthropic-version",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Accepted (any version).",
    ),
    OpenApiParameter(
        "anthropic-beta",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Passed on to Anthropic; other providers ignore it.",
    ),
]


def _message_id(request) -> str:
    return f"msg_{request.request_id}"


def _resolve_snapshot(parsed: MessagesInput, catalogue: Catalogue) -> str:
    """The model name to route by: a dated snapshot of a catalogue model (`claude-haiku-4-5-20251001`,
    `anthropic/claude-sonnet-4-6-latest`) routes as that model, and Anthropic still gets the snapshot."""
    model = parsed.model
    if catalogue.models_named(model):
        return model
    prefix, slash, rest = model.partition("/")
    prefixed = bool(slash) and prefix in catalogue.providers
    name = rest if prefixed else model
    base = snapshot_base(name)
    if base is None or not catalogue.models_named(base):
        return model
    parsed.native["snapshot"] = {"base": base, "model": name}
    return f"{prefix}/{base}" if prefixed else base


async def _parse(request, *, count: bool = False) -> tuple[MessagesInput, str]:
    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    try:
        parsed = messages_request_parse(
            request.data,
            headers=headers,
            beta=request.query_params.get("beta") == "true",
            count=count,
        )
    except MessagesError as error:
        raise door_error(error) from None
    return parsed, _resolve_snapshot(parsed, await catalogue_current())


class _AnthropicApi(ClientKeyApiView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        request_id = getattr(request, "request_id", None)
        if request_id:
            response["request-id"] = request_id  # where the anthropic SDK reads `e.request_id`
        return response


class MessagesApi(_AnthropicApi):
    """Anthropic-compatible Messages: every provider answers, in Anthropic's shapes."""

    @extend_schema(
        request=MessagesInputSerializer,
        responses=answer_schema(
            "AnthropicMessage",
            stream=(
                "With `stream: true`: Anthropic's events (`message_start`, `content_block_start`, "
                "`content_block_delta`, `content_block_stop`, `message_delta`, `message_stop`; `error` "
                "on a failure mid-stream)."
            ),
            errors=_ERRORS,
            id=str, type=str, role=str, model=str, content=list,
            stop_reason=str, stop_sequence=None, usage=dict,
        ),
        examples=request_examples(
            answer={"model": "claude-haiku-4-5", "max_tokens": 256, "messages": HELLO},
            streamed={"model": "claude-haiku-4-5", "max_tokens": 256, "messages": HELLO, "stream": True},
        ),
        parameters=[
            *_HEADERS,
            OpenApiParameter(
                "beta",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="`true`: the beta Messages API.",
            ),
            OpenApiParameter(
                DROP_PARAMS_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="`true`: what a provider cannot honour (Anthropic-only blocks, tools or fields) "
                f"is left out for it instead of refused; the answer names it in {DROPPED_PARAMS_HEADER}.",
            ),
        ],
        tags=["anthropic-compatible"],
        description=(
            "Anthropic's Messages API, answered by any provider. To Anthropic the body passes through "
            "unchanged (`cache_control`, `thinking`, tool blocks, `metadata`, `anthropic-beta`); to the "
            "others it is translated, and the answer translated back (stop reasons, usage with cache "
            "reads and writes). `stream: true` answers Anthropic's event sequence. Errors come in "
            'Anthropic\'s shape (`{"type": "error", "error": {"type", "message"}}`); unknown fields '
            "are a 400.\n\nWith the official SDK (only the base URL changes, without `/v1`):\n\n"
            "```python\n"
            "import anthropic\n\n"
            'client = anthropic.Anthropic(base_url="http://localhost:8005", api_key="<client key>")\n'
            "message = client.messages.create(\n"
            '    model="claude-sonnet-4-6",  # or gpt-4o-mini, google/gemini-2.5-flash, ...\n'
            "    max_tokens=1024,\n"
            '    messages=[{"role": "user", "content": "Hello"}],\n'
            ")\n"
            'with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=[...]) as s:\n'
            "    print(s.get_final_text())\n"
            "```"
        ),
    )
    async def post(self, request):
        parsed, model = await _parse(request)
        cmd = chat_command(request, parsed, model=model)
        if parsed.stream:
            return _stream(await completion_stream_answer(key=request.auth, cmd=cmd), request, parsed)
        admitted = await completion_answer(key=request.auth, cmd=cmd)
        body = messages_response_render(
            admitted.answer, message_id=_message_id(request), thinking_omitted=parsed.thinking_omitted
        )
        return Response(body, headers=answer_headers(admitted.answer, admitted.limit_headers))


def _stream(admitted: Admitted[CompletionStream], request, parsed: MessagesInput):
    """Anthropic's event stream."""
    stream = admitted.answer
    renderer = MessagesStreamRenderer(
        message_id=_message_id(request), model=stream.model, thinking_omitted=parsed.thinking_omitted
    )

    async def events() -> AsyncIterator[bytes]:
        try:
            async for piece in stream.chunks():
                for event in renderer.chunk(piece):
                    yield event
        except ProviderError as error:
            yield stream_error_event(
                STREAM_ERROR_TYPES.get(error.kind, "api_error"),
                f"The provider failed mid-stream: {error.message}",
                request.request_id,
            )
            return
        for event in renderer.finish(
            finish_reason=stream.finish_reason, usage=stream.usage, reasoning_parts=stream.reasoning_parts
        ):
            yield event

    headers = {**admitted.limit_headers, **dropped_headers(stream.dropped), "request-id": request.request_id}
    return stream_response(stream, events(), headers)


class CountTokensApi(_AnthropicApi):
    """Anthropic-compatible token counting."""

    @extend_schema(
        request=CountTokensInputSerializer,
        responses={
            200: inline_serializer(
                "AnthropicTokenCount",
                {
                    "input_tokens": serializers.IntegerField(),
                    "estimated": serializers.BooleanField(
                        help_text="false: Anthropic counted; true: the gateway's estimate (about four "
                        "characters a token, 1,600 per image or document, 4 per message)."
                    ),
                },
            ),
            **_ERRORS,
        },
        examples=request_examples(
            count={"model": "claude-haiku-4-5", "messages": HELLO},
        ),
        parameters=_HEADERS,
        tags=["anthropic-compatible"],
        description=(
            "Anthropic's own count when an Anthropic provider serves the model; otherwise a documented "
            f"estimate. `estimated` and the `{TOKEN_COUNT_SOURCE_HEADER}` header (`anthropic` or "
            "`estimate`) say which."
        ),
    )
    async def post(self, request):
        parsed, model = await _parse(request, count=True)
        cmd = replace(chat_command(request, parsed, model=model), max_tokens=None)
        _, limit_headers = await completion_admit(key=request.auth, cmd=cmd, reserve=False)
        tokens, provider = await input_tokens_count(cmd)
        headers = {**limit_headers, TOKEN_COUNT_SOURCE_HEADER: "anthropic" if provider else "estimate"}
        if provider:
            headers["X-Provider"] = provider
        return Response({"input_tokens": tokens, "estimated": provider is None}, headers=headers)
