"""Periodic operations work. Thin: each task calls one service (schedules: operations.schedules)."""

from __future__ import annotations

from celery import shared_task

from operations.reports import health_report_create_last_hour


# The registered name predates this module and is stored in django-celery-beat rows: it stays.
@shared_task(name="providers.health_report", ignore_result=True)
def health_report_task() -> int:
    """The report of the last full hour."""
    return health_report_create_last_hour().pk
