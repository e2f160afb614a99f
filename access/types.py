"""The authenticated client as the rest of the service sees it: plain, frozen, Django-free."""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ClientKey:
    """An active API key, as `request.auth`. A snapshot: safe to cache and to share across threads."""

    id: int
    name: str
    prefix: str
    rpm_limit: int | None
    tpm_limit: int | None
    monthly_budget_usd: Decimal | None
    allowed_models: tuple[str, ...]
    scopes: frozenset[str]

    def allows_model(self, model_names: set[str]) -> bool:
        """True when the key is unrestricted or any of the names (a model and its aliases) is allowed."""
        if not self.allowed_models:
            return True
        allowed = {name.casefold() for name in self.allowed_models}
        return any(name.casefold() in allowed for name in model_names)


@dataclass(frozen=True, slots=True)
class ApiKeyUser:
    """`request.user` for a request authenticated by an API key. Not a Django user: it has no
    permissions, no staff flag and no row in auth_user."""

    key: ClientKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    @property
    def username(self) -> str:
        return f"api-key:{self.key.name}"

    def __str__(self) -> str:
        return self.username
