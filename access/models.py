from django.db import models


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
    allowed_models = models.JSONField(default=list, blank=True, help_text="Model names; empty: all.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
