from celery import shared_task

from analytics.rollups import usage_rollup_recent
from analytics.services import usage_flush


@shared_task(name="analytics.usage_flush", ignore_result=True)
def usage_flush_task() -> int:
    return usage_flush()


@shared_task(name="analytics.usage_rollup", ignore_result=True)
def usage_rollup_task() -> dict[str, int]:
    """Recompute yesterday's and today's daily rollups (idempotent; scheduled in
    operations/schedules.py)."""
    return usage_rollup_recent()
