"""Reads of client API keys."""

from decimal import Decimal

from access.key_cache import key_cache
from access.models import ApiKey
from access.services import api_key_hash
from access.types import ClientKey

# Secrets we issue are 47 characters; anything far longer is not worth hashing.
MAX_SECRET_LENGTH = 256

_LOOKUP_FIELDS = (
    "id", "name", "prefix", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "allowed_models",
    "scopes",
)


def client_key_from_model(api_key: ApiKey) -> ClientKey:
    budget = api_key.monthly_budget_usd
    return ClientKey(
        id=api_key.pk,
        name=api_key.name,
        prefix=api_key.prefix,
        rpm_limit=api_key.rpm_limit,
        tpm_limit=api_key.tpm_limit,
        monthly_budget_usd=Decimal(budget) if budget is not None else None,
        allowed_models=tuple(str(m) for m in api_key.allowed_models or ()),
        scopes=frozenset(str(s) for s in api_key.scopes or ()),
    )


def client_key_get(*, secret: str) -> ClientKey | None:
    """The active key with this secret, or None (unknown, revoked or deleted).

    Sync (authentication runs in DRF's sync `initial()`); served from the in-process cache, so a warm
    lookup makes no database query and an unknown secret none either. See `access.key_cache` for how
    changes reach every worker and what happens while the database is unreachable
    (`KeyStoreUnavailable`).
    """
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return key_cache.lookup(api_key_hash(secret), load_active=_active_digests, load_key=_key_by_digest)


def client_key_peek(*, secret: str):
    """`client_key_get` when the answer needs no I/O now (for the event loop), else
    `access.key_cache.MISSING`."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return key_cache.peek(api_key_hash(secret))


def _active_digests() -> list[str]:
    return list(ApiKey.objects.filter(active=True).values_list("secret_sha256", flat=True))


def _key_by_digest(digest: str) -> ClientKey | None:
    api_key = ApiKey.objects.filter(secret_sha256=digest).only(*_LOOKUP_FIELDS).first()
    return client_key_from_model(api_key) if api_key is not None and api_key.active else None
