"""DRF authentication by client API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

Sync and cheap on purpose: adrf runs DRF's `initial()` in a thread, and plain DRF views (the API
docs included) cannot use an async authenticator.
"""

import structlog
from rest_framework.authentication import BaseAuthentication

from access.errors import authentication_failed, authentication_unavailable
from access.key_cache import MISSING, KeyStoreUnavailable
from access.selectors import client_key_get, client_key_peek
from access.services import api_key_touch, api_key_touch_due
from access.types import ApiKeyUser, ClientKey


def secret_from_headers(headers) -> str | None:
    """The presented secret, None when the request carries no API key at all.

    `Authorization` with another scheme (Basic, a session-backed client) is not ours to judge: it
    counts as no key. An empty Bearer token is a key, and an invalid one.
    """
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    api_key = headers.get("X-API-Key")
    if api_key is not None:
        return api_key.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to a `ClientKey` and `request.user` to an `ApiKeyUser`.

    No key: returns None (another authenticator, or the permission, decides). A key that is unknown,
    revoked or deleted: 401 `AUTHENTICATION_FAILED`. The database unreachable and the key not cached:
    503 `AUTHENTICATION_UNAVAILABLE`.
    """

    def authenticate(self, request) -> tuple[ApiKeyUser, ClientKey] | None:
        secret = secret_from_headers(request.headers)
        if secret is None:
            return None
        # As DRF does for its own exceptions, a refused request is anonymous from here on.
        try:
            key = client_key_get(secret=secret)
        except KeyStoreUnavailable:
            request._not_authenticated()
            raise authentication_unavailable() from None
        if key is None:
            request._not_authenticated()
            raise authentication_failed(reason="invalid")
        api_key_touch(key_id=key.id)
        structlog.contextvars.bind_contextvars(client_key=key.name)
        return ApiKeyUser(key), key

    def authenticate_without_io(self, request):
        """`authenticate` when it needs no I/O (the key's lookup cached and fresh, its last use
        recorded recently), else `MISSING`: the event loop's path, without a thread hop. A secret
        the per-process set of active keys does not know is refused here too."""
        secret = secret_from_headers(request.headers)
        if secret is None:
            return MISSING  # another authenticator (a session) may apply: it reads the database
        key = client_key_peek(secret=secret)
        if key is MISSING:
            return MISSING
        if key is None:
            raise authentication_failed(reason="invalid")
        if api_key_touch_due(key_id=key.id):
            return MISSING
        structlog.contextvars.bind_contextvars(client_key=key.name)
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        return "Bearer"
