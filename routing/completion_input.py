"""The /api/v1/completion request body: its serializer (which refuses fields it does not declare),
and a fast path giving the serializer's result for a plainly valid body without its per-request
cost."""

from __future__ import annotations

from rest_framework import serializers

ROLES = ("system", "developer", "user", "assistant")
DEFAULT_MODEL = "gpt-3.5-turbo"


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare: a field the API does not carry is a 400, never ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: ["Unknown field: this API does not carry it (see /v1 for the full protocol)."]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class MessageSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.CharField(allow_blank=False, trim_whitespace=False)


class StopField(serializers.ListField):
    """`stop` as one string or a list of up to four."""

    child = serializers.CharField(allow_blank=False, trim_whitespace=False)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        return super().to_internal_value(data)


class CompletionInputSerializer(StrictSerializer):
    messages = MessageSerializer(many=True, allow_empty=False, max_length=1000)
    model = serializers.CharField(default=DEFAULT_MODEL, max_length=200)
    temperature = serializers.FloatField(default=0.7, min_value=0.0, max_value=2.0)
    max_tokens = serializers.IntegerField(default=4000, min_value=1)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    stop = StopField(required=False, allow_null=True, max_length=4)
    user = serializers.CharField(required=False, allow_null=True, max_length=256)
    provider = serializers.CharField(default=None, allow_null=True, max_length=64)
    stream = serializers.BooleanField(default=False)


def _plain_text(value, *, max_length: int | None = None, trimmed: bool = True) -> bool:
    """A string DRF's CharField would take unchanged: not blank, no NUL, already trimmed where
    the field trims, within its length."""
    return (
        type(value) is str and value != "" and "\x00" not in value
        and (not trimmed or value == value.strip()) and (max_length is None or len(value) <= max_length)
    )


def _number(value, low: float, high: float) -> bool:
    return type(value) in (int, float) and low <= value <= high


def completion_input_fast(data) -> dict | None:
    """`CompletionInputSerializer`'s validated data for a plainly valid request, without the
    serializer's pass (a deep copy of its fields per request); None for anything else, which the
    serializer then judges, with its own errors. Accepts a subset of what the serializer accepts
    and returns exactly what it would."""
    if type(data) is not dict or not set(data) <= _INPUT_FIELDS:
        return None
    messages = data.get("messages")
    if type(messages) is not list or not 0 < len(messages) <= 1000:
        return None
    for message in messages:
        if (
            type(message) is not dict or len(message) != 2 or message.get("role") not in ROLES
            or not _plain_text(message.get("content"), trimmed=False)
        ):
            return None
    model = data.get("model", DEFAULT_MODEL)
    temperature = data.get("temperature", 0.7)
    max_tokens = data.get("max_tokens", 4000)
    top_p = data.get("top_p")
    stop = data.get("stop")
    user = data.get("user")
    provider = data.get("provider")
    stream = data.get("stream", False)
    if isinstance(stop, str):
        stop = [stop]
    if not (
        _plain_text(model, max_length=200)
        and _number(temperature, 0.0, 2.0)
        and type(max_tokens) is int and max_tokens >= 1
        and (top_p is None or _number(top_p, 0.0, 1.0))
        and (stop is None or (type(stop) is list and len(stop) <= 4
                              and all(_plain_text(item, trimmed=False) for item in stop)))
        and (user is None or _plain_text(user, max_length=256))
        and (provider is None or _plain_text(provider, max_length=64))
        and type(stream) is bool
    ):
        return None
    validated = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "model": model,
        "temperature": float(temperature),
        "max_tokens": max_tokens,
        "provider": provider,
        "stream": stream,
    }
    for name, value in (("top_p", top_p), ("stop", stop), ("user", user)):
        if name in data:
            validated[name] = float(value) if name == "top_p" and value is not None else value
    return validated


_INPUT_FIELDS = frozenset(CompletionInputSerializer._declared_fields)
