from django.core.exceptions import ValidationError
from django.db import models


class ApiKeyScope(models.TextChoices):
    """What a key may do beyond completions (which every active key may request)."""

    ANALYTICS = "analytics", "Analytics and metrics endpoints"


def _validate_names(value, *, field: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError({field: "Must be a JSON list of non-empty strings."})


class ApiKey(models.Model):
    """A client key. Only a visible prefix and the SHA-256 of the secret are stored."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    secret_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(default=True)
    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty: none."
    )
    tpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens per minute; empty: none."
    )
    monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="USD per calendar month; empty: none.",
    )
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        help_text="Model names or aliases from the catalogue, as a JSON list; empty: all models.",
    )
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text='Extra permissions, as a JSON list, e.g. ["analytics"]; empty: completions only.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        _validate_names(self.allowed_models, field="allowed_models")
        _validate_names(self.scopes, field="scopes")
        unknown = sorted(set(self.scopes) - set(ApiKeyScope.values))
        if unknown:
            raise ValidationError(
                {"scopes": f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(ApiKeyScope.values)}."}
            )
