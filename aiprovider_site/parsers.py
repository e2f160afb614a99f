"""The API's JSON parser: refuses, with a 400, input that no provider could accept.

A lone surrogate (`"\\ud800"`) is valid JSON but not encodable as UTF-8, so every provider call
would fail on it and count against the provider; JSON nested deeper than any request needs is a
recursion hazard. Both are the client's fault and are answered before any routing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _check(value: Any, depth: int, limit: int, path: str) -> None:
    if depth > limit:
        raise ParseError(f"JSON nested deeper than {limit} levels (at {path or 'the top'}).")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError(
                f"Invalid text at {path or 'the top'}: a lone surrogate is not valid Unicode."
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1, limit, path)
            _check(item, depth + 1, limit, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, depth + 1, limit, f"{path}[{index}]")


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {settings.API_MAX_JSON_DEPTH} levels.") from None
        _check(data, 0, settings.API_MAX_JSON_DEPTH, "")
        return data
