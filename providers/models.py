from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class ProviderKind(models.TextChoices):
    """The wire protocol a provider speaks."""

    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"


class Provider(models.Model):
    """Someone we can call. The API key is never stored: `api_key_env` names the environment
    variable that holds it."""

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500, blank=True, help_text="Empty: the provider's public endpoint.")
    api_key_env = models.CharField(
        max_length=128,
        blank=True,
        help_text="Name of the environment variable holding the API key (the key itself is never stored).",
    )
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share of traffic among equals.")
    timeout_s = models.FloatField(default=30.0, validators=[MinValueValidator(0.1)])
    max_tokens = models.PositiveIntegerField(
        default=4096, help_text="Largest max_tokens sent to this provider."
    )
    max_retries = models.PositiveSmallIntegerField(default=1)
    fallback_cost_per_token = models.DecimalField(
        max_digits=18,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="USD per token for models of this provider that have no catalogue price.",
    )
    # Values last written by sync_providers: a field whose current value differs was edited by
    # an operator and is kept on the next sync.
    synced = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class ProviderModel(models.Model):
    """A catalogue entry: one model a provider serves, under its wire name, with its prices."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200, help_text="The name sent to the provider.")
    aliases = models.JSONField(default=list, blank=True, help_text="Public names that resolve to this model.")
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    lacks = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Request features this model cannot take although its provider's protocol can, e.g. "
            '["image_url"] for a text-only model, ["tools"]. A request that needs one is sent elsewhere.'
        ),
    )
    input_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    output_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    cached_input_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_source = models.CharField(max_length=32, blank=True, help_text="Where the prices came from.")
    enabled = models.BooleanField(default=True)
    synced = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider__priority", "provider__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="uniq_provider_model_name"),
        ]
        verbose_name = "model"

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNCONFIGURED = "unconfigured"


class HealthCheckResult(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="health_checks")
    status = models.CharField(max_length=16, choices=HealthStatus.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    # UPPER_SNAKE kind of the failure (TIMEOUT, RATE_LIMITED, ...): what reports count by.
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True, help_text="The provider's error, with the API key redacted.")
    checked_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["provider", "checked_at"], name="health_provider_checked")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class HealthReport(models.Model):
    """What the probes and the traffic saw over one window (an hour, written by a periodic task).

    `providers` maps a provider name to its figures: checks, uptime_percent, latency_p50_ms,
    latency_p95_ms, check_errors (by code), requests, errors (by code), failovers.
    `totals` holds the same traffic figures for the whole service.
    """

    window_start = models.DateTimeField(unique=True)
    window_end = models.DateTimeField()
    providers = models.JSONField(default=dict)
    totals = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start"]

    def __str__(self) -> str:
        return f"health {self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%H:%M}"
