from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from providers.adapters.protocols import provider_kind_choices


class ModelKind(models.TextChoices):
    """What a catalogue model answers."""

    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class Provider(models.Model):
    """Someone we can call. The API key is never stored: `api_key_env` names the environment
    variable that holds it."""

    name = models.SlugField(max_length=64, unique=True)
    # The wire protocol it speaks: the choices are the protocols the adapters declare, read when
    # asked for, so a new protocol needs no migration.
    kind = models.CharField(max_length=32, choices=provider_kind_choices)
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


_PRICE_HELP = (
    "USD per million tokens. Changing it overrides this price class only; the price sync keeps "
    "your value (sync_prices --force restores the list price)."
)


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
    # What the model does: chat models answer completions and responses, embedding models
    # /v1/embeddings; routing never mixes them.
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.CHAT)
    dimensions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Embedding models: the length of their vectors (the default output)."
    )
    embedding_space = models.CharField(
        max_length=200,
        blank=True,
        help_text="Embedding models: models with the same space produce comparable vectors (the same model "
        "at another provider or deployment), so a request may fail over between them. Empty: only models "
        "of the same name.",
    )
    # USD per million tokens, one column per price class an operator can set (providers.pricing.
    # PRICE_CLASSES). Written by the price sync with the model's base prices; a value an operator
    # changes in the admin overrides that class only (genai-prices' model prices the others).
    input_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), help_text=_PRICE_HELP
    )
    output_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), help_text=_PRICE_HELP
    )
    cached_input_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Cache reads. " + _PRICE_HELP + " Empty: billed as input.",
    )
    cache_write_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Cache writes (5-minute TTL, and every write without a TTL). " + _PRICE_HELP
        + " Empty: billed as input.",
    )
    cache_write_1h_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Cache writes with a 1-hour TTL (Anthropic). " + _PRICE_HELP
        + " Empty: billed as other cache writes.",
    )
    price_source = models.CharField(
        max_length=32, blank=True,
        help_text="Where the prices came from: genai-prices, catalogue (the catalogue file), env "
        "(<PROVIDER>_COST_PER_TOKEN) or unknown (not priced: costs are recorded as 0).",
    )
    # genai-prices' price model of this model (tiers, cache writes, modalities, price changes by
    # date), copied by the price sync so that nothing is fetched at run time. Empty: none.
    price_data = models.JSONField(default=dict, blank=True, editable=False)
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


class PriceSync(models.Model):
    """One run of the price sync (`sync_prices`, or `sync_providers` pricing new models): where
    the prices came from and what changed."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=300, help_text="The genai-prices data the prices came from.")
    command = models.CharField(max_length=32, default="sync_prices")
    models_checked = models.PositiveIntegerField(default=0)
    models_changed = models.PositiveIntegerField(default=0)
    unknown_models = models.JSONField(
        default=list, blank=True, help_text="provider/model names with no price (their cost is 0)."
    )
    # The data itself when it came from a file, so that later syncs (sync_providers) keep using it.
    data = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-ran_at"]
        verbose_name = "price sync"

    def __str__(self) -> str:
        return f"{self.ran_at:%Y-%m-%d %H:%M} {self.source}"


class PriceChange(models.Model):
    """What a price sync changed for one model: every price line that moved (USD per million tokens
    unless the line says otherwise)."""

    sync = models.ForeignKey(PriceSync, on_delete=models.CASCADE, related_name="changes")
    model = models.ForeignKey(
        ProviderModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="price_changes"
    )
    provider_name = models.CharField(max_length=64)
    model_name = models.CharField(max_length=200)
    # {line: [old, new]}, None where the line is absent on that side.
    changes = models.JSONField(default=dict)
    old_source = models.CharField(max_length=300, blank=True)
    new_source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-sync__ran_at", "provider_name", "model_name"]

    def __str__(self) -> str:
        return f"{self.provider_name}/{self.model_name} ({len(self.changes)} price lines)"

