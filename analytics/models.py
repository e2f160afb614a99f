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
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
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
