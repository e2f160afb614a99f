"""Client API keys: creation and hashing. The secret is returned once and never stored."""

import hashlib
import secrets
from decimal import Decimal

from access.models import ApiKey

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
) -> tuple[ApiKey, str]:
    api_key = ApiKey(
        name=name,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        monthly_budget_usd=monthly_budget_usd,
        allowed_models=allowed_models or [],
    )
    secret = api_key_assign_secret(api_key=api_key)
    api_key.full_clean()
    api_key.save()
    return api_key, secret
