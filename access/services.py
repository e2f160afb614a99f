"""Client API keys: creation, hashing, revocation. The secret is returned once and never stored."""

import hashlib
import secrets
import threading
import time
from decimal import Decimal

import redis
import structlog
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from access.key_cache import REDIS_TIMEOUT_S
from access.models import ApiKey
from core.shared_state import shared_state_spans_processes, shared_state_sync_set

logger = structlog.get_logger(__name__)

KEY_PREFIX = "aip_"
VISIBLE_PREFIX_LENGTH = 12


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_assign_secret(*, api_key: ApiKey) -> str:
    """Give an unsaved or existing key a new secret; returns the secret (shown once)."""
    secret = api_key_generate()
    api_key.prefix = secret[:VISIBLE_PREFIX_LENGTH]
    api_key.secret_sha256 = api_key_hash(secret)
    return secret


def api_key_create(
    *,
    name: str,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    monthly_budget_usd: Decimal | None = None,
    allowed_models: list[str] | None = None,
    scopes: list[str] | None = None,
) -> tuple[ApiKey, str]:
    api_key = ApiKey(
        name=name,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        monthly_budget_usd=monthly_budget_usd,
        allowed_models=allowed_models or [],
        scopes=scopes or [],
    )
    secret = api_key_assign_secret(api_key=api_key)
    api_key.full_clean()
    api_key.save()
    return api_key, secret


def api_key_rotate(*, api_key: ApiKey) -> str:
    """A new secret for an existing key; the old one stops working. Returns the new secret."""
    secret = api_key_assign_secret(api_key=api_key)
    api_key.save(update_fields=["prefix", "secret_sha256"])
    return secret


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Deactivate a key; every worker refuses it within about a second (see `access.key_cache`)."""
    api_key.active = False
    api_key.save(update_fields=["active"])


_touched: dict[int, float] = {}
_touched_lock = threading.Lock()


def api_key_touch(*, key_id: int) -> None:
    """Record that a key was used: at most one UPDATE per key and `ACCESS_LAST_USED_INTERVAL_S`,
    fleet-wide when Redis is configured (a SET NX lock), per process otherwise.

    Runs in the authentication thread, never on the event loop; `update()` sends no signal, so it
    does not invalidate the key cache.
    """
    interval = settings.ACCESS_LAST_USED_INTERVAL_S
    now = time.monotonic()
    with _touched_lock:
        if now - _touched.get(key_id, float("-inf")) < interval:
            return
        _touched[key_id] = now
    # Without Redis the process's own record above is the whole fleet's.
    if shared_state_spans_processes():
        try:
            claimed = shared_state_sync_set(
                f"access:last-used:{key_id}", "1", ttl_s=max(1, int(interval)), only_new=True,
                timeout_s=REDIS_TIMEOUT_S,
            )
        except redis.RedisError:
            claimed = True  # without the lock, each worker writes once a minute: still cheap
        if not claimed:
            return
    try:
        ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
    except DatabaseError as exc:
        logger.warning("api_key_touch_failed", api_key_id=key_id, error=str(exc))


def api_key_touch_due(*, key_id: int) -> bool:
    """Whether `api_key_touch` would write now (it does I/O then, so it runs in a thread)."""
    return time.monotonic() - _touched.get(key_id, float("-inf")) >= settings.ACCESS_LAST_USED_INTERVAL_S


def api_key_touch_reset_for_tests() -> None:
    with _touched_lock:
        _touched.clear()
