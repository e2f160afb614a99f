"""The API documentation pages (Swagger UI, Redoc): every asset from this server, nothing from outside.

The assets come from drf-spectacular-sidecar; the Redoc template (templates/drf_spectacular/redoc.html)
drops the Google Fonts links and keeps Redoc's credits logo off cdn.redoc.ly. A Content-Security-Policy
makes it a rule for the browser as well: a page that tried to load anything from another origin
(a future Redoc release, a schema's image) is refused by the browser rather than leaking the visit.
"""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Scripts and styles inline or from here (the UIs ship inline bootstrap code); Redoc's search runs in
# a blob: worker. Nothing may be fetched from another origin.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


class _LocalOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerDocsView(_LocalOnly, SpectacularSwaggerView):
    pass


class RedocDocsView(_LocalOnly, SpectacularRedocView):
    pass


# ------------------------------------------------------------------------------ schema truth


# What the shared machinery answers on any operation, whatever its view does: the JSON parser,
# the query-parameter limit, key authentication and the body limit. Documented on every operation
# it applies to, so the schema lists every status a client can get (views document their own).
_MALFORMED = (
    "Malformed request: invalid JSON, text with a lone surrogate, JSON nested deeper than "
    "API_MAX_JSON_DEPTH, an invalid parameter, or more query parameters than the server accepts."
)
_UNAUTHENTICATED = "No client API key, or one that is unknown or revoked."
_KEY_STORE_DOWN = "The client key cannot be checked right now (database unreachable); retry shortly."
_TOO_LARGE = "The request body is larger than API_MAX_BODY_BYTES."
_MEDIA_TYPE = "The request body is not JSON (`Content-Type` other than `application/json`)."


def _error_schema(path: str, schemas: dict) -> dict:
    """The error body in the protocol the path speaks (aiprovider_site.errors.shaped_error_body)."""
    if path.startswith("/v1/messages"):
        name = "AnthropicError"
    elif path.startswith("/v1/"):
        name = "OpenAIError"
    else:
        name = "Error"
    if name not in schemas:
        return {"type": "object"}
    return {"$ref": f"#/components/schemas/{name}"}


def _common_statuses(operation: dict) -> list[tuple[int, str]]:
    statuses = [(400, _MALFORMED)]
    if operation.get("security"):
        statuses += [(401, _UNAUTHENTICATED), (503, _KEY_STORE_DOWN)]
    if "requestBody" in operation:
        statuses += [(413, _TOO_LARGE), (415, _MEDIA_TYPE)]
    return statuses


def schema_common_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: adds the statuses above where a view left them out,
    and gives an error a view documents by its description alone the body of the path's protocol."""
    schemas = result.get("components", {}).get("schemas", {})
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _common_statuses(operation):
                responses.setdefault(str(status), {"description": description})
            for status, response in responses.items():
                if int(status) >= 400 and not response.get("content"):
                    response["content"] = {"application/json": {"schema": _error_schema(path, schemas)}}
            operation["responses"] = dict(sorted(responses.items()))
    return result
