import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone


class UsageStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    CACHE_HIT = "cache_hit"


class UsageRecord(models.Model):
    """One completion request and what it cost. Provider and model are kept as names so the
    record outlives catalogue changes."""

    # Written once per accepted request; a replayed queue entry hits this unique key and is skipped.
    record_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request_id = models.CharField(max_length=128, db_index=True)
    api_key = models.ForeignKey(
        "access.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    error_code = models.CharField(max_length=64, blank=True)
    # All input (cached and cache-written parts included) and all output (reasoning included).
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(
        default=0, help_text="Part of the prompt read from the cache."
    )
    cache_write_tokens = models.PositiveIntegerField(
        default=0, help_text="Part of the prompt written to the cache."
    )
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Part of the completion.")
    # The other token classes the provider reported, by Usage field name (cache_write_1h_tokens,
    # input_audio_tokens, input_image_tokens, output_audio_tokens, ...), zeros left out.
    usage_details = models.JSONField(default=dict, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    latency_ms = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    streamed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["provider", "created_at"], name="usage_provider_created"),
            models.Index(fields=["api_key", "created_at"], name="usage_key_created"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.provider}/{self.model} {self.status}"


class UsageAttempt(models.Model):
    """One upstream call made for a usage record: the one that answered and every one that failed
    before it (retries and failover included), so per-provider error rates count what failover
    hid. Written with its record; a replayed queue entry is skipped by (record, seq)."""

    record = models.ForeignKey(
        UsageRecord, to_field="record_id", on_delete=models.CASCADE, related_name="attempt_rows"
    )
    seq = models.PositiveSmallIntegerField(help_text="Order within the request, from 0.")
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=64, blank=True, help_text="Empty: the provider answered.")
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(db_index=True, help_text="The record's time.")

    class Meta:
        ordering = ["record", "seq"]
        constraints = [models.UniqueConstraint(fields=["record", "seq"], name="uniq_usage_attempt_seq")]
        indexes = [models.Index(fields=["provider", "created_at"], name="attempt_provider_created")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.error_code or 'ok'}"

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


class UsageDeadLetter(models.Model):
    """A queued usage record the database refused (a value out of range, an unreadable entry).

    Kept here with the error and the payload exactly as queued, so the records queued behind it are
    written and nothing is lost silently; an operator reads it in the admin, fixes the cause and can
    replay the payload. A replayed dead letter is skipped by the payload's hash."""

    payload_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    record_id = models.CharField(max_length=64, blank=True, db_index=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    error = models.TextField()
    payload = models.TextField(help_text="The queued record as JSON, as the writer read it.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "usage dead letter"

    def __str__(self) -> str:
        return f"{self.request_id or self.record_id or '?'}: {self.error[:80]}"


class UsageDailyRollup(models.Model):
    """Sums of one UTC day's usage records per provider, model, API key and status.

    Recomputed wholesale for a day by `usage_rollup_day` (delete + insert in one transaction), so
    running it again is harmless. `api_key_id` is a plain id, not a foreign key: a deleted key's past
    spend stays attributed to it (0 means no key)."""

    day = models.DateField()
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True)
    api_key_id = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    requests = models.PositiveIntegerField(default=0)
    failovers = models.PositiveIntegerField(
        default=0, help_text="Requests that needed more than one attempt."
    )
    streamed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))
    latency_ms_sum = models.FloatField(default=0)

    class Meta:
        ordering = ["-day", "provider", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "model", "api_key_id", "status"], name="uniq_usage_rollup_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider}/{self.model} key={self.api_key_id} {self.status}"


class UsageAttemptDailyRollup(models.Model):
    """Upstream attempts of one UTC day per provider, model and error code ("" answered), computed
    with the day's usage rollup (same marker, same transaction)."""

    day = models.DateField()
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)

    class Meta:
        ordering = ["-day", "provider", "model", "error_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "model", "error_code"], name="uniq_attempt_rollup_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider}/{self.model} {self.error_code or 'ok'} x{self.attempts}"


class UsageRollupDay(models.Model):
    """When a day's rollup was last computed. A day whose rollup ran after the day ended is
    complete and is read from the rollups; any other day is read from the raw records."""

    day = models.DateField(primary_key=True)
    computed_at = models.DateTimeField()
    records = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day} (computed {self.computed_at:%Y-%m-%d %H:%M:%S})"


class CostDashboard(UsageRecord):
    """No table: the admin's entry for the cost dashboard, so it is listed on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "cost dashboard"
        verbose_name_plural = "cost dashboard"
