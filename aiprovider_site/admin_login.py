"""Admin login throttling: failed logins lock a username, and an address, out for a while.

Counters live in the cache (Redis when REDIS_URL is set, so every worker sees the same counts).
Each counter's window starts at its first failure and lasts ADMIN_LOGIN_LOCKOUT_S; once a username
has ADMIN_LOGIN_MAX_FAILURES failures in it, or an address ADMIN_LOGIN_ADDRESS_MAX_FAILURES, every
login for it is refused, the right password included, until the window ends. A successful login
clears its username's count (not its address's: one known account must not reset an address that
is guessing others).

The address is REMOTE_ADDR: behind a proxy that is the proxy's, so the address limit then counts
every client of that proxy together (raise it, or rely on the username limit).
"""

from __future__ import annotations

import hashlib

import structlog
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

logger = structlog.get_logger(__name__)

_PREFIX = "admin-login-failures"


def _key(kind: str, value: str) -> str:
    # Hashed: usernames and addresses are arbitrary text, and cache keys must stay short and plain.
    return f"{_PREFIX}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _keys(*, username: str, address: str) -> list[tuple[str, int]]:
    return [
        (_key("user", username.strip().lower()), settings.ADMIN_LOGIN_MAX_FAILURES),
        (_key("address", address), settings.ADMIN_LOGIN_ADDRESS_MAX_FAILURES),
    ]


def admin_login_locked(*, username: str, address: str) -> bool:
    """True while the username or the address has used up its failed logins."""
    keys = _keys(username=username, address=address)
    try:
        counts = cache.get_many([key for key, _ in keys])
    except Exception:  # cache down: operators can still log in (passwords are still checked)
        logger.warning("admin_login_throttle_unavailable")
        return False
    return any(counts.get(key, 0) >= limit for key, limit in keys)


def admin_login_failure_record(*, username: str, address: str) -> None:
    try:
        for key, _limit in _keys(username=username, address=address):
            # add() starts the window at the first failure; incr() is atomic in Redis and in memory.
            cache.add(key, 0, timeout=settings.ADMIN_LOGIN_LOCKOUT_S)
            try:
                cache.incr(key)
            except ValueError:  # the window ended between add() and incr(): this failure opens a new one
                cache.add(key, 1, timeout=settings.ADMIN_LOGIN_LOCKOUT_S)
    except Exception:
        logger.warning("admin_login_throttle_unavailable")


def admin_login_success_record(*, username: str) -> None:
    try:
        cache.delete(_key("user", username.strip().lower()))
    except Exception:
        logger.warning("admin_login_throttle_unavailable")


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, refusing a locked-out username or address before checking anything."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": (
            "Too many failed logins for this account or from this address. Try again in %(minutes)s "
            "minutes."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = (self.request.META.get("REMOTE_ADDR") if self.request else None) or "unknown"
        if admin_login_locked(username=username, address=address):
            logger.warning("admin_login_throttled", address=address)
            raise ValidationError(
                self.error_messages["throttled"], code="throttled",
                params={"minutes": max(1, round(settings.ADMIN_LOGIN_LOCKOUT_S / 60))},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            admin_login_failure_record(username=username, address=address)
            raise
        admin_login_success_record(username=username)
        return cleaned
