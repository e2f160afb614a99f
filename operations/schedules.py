"""Every periodic task of the project, declared once, and the idempotent setup of their schedules.

`manage.py setup_periodic_tasks` (run by `make run` after migrate, and in deployment) writes these
as django-celery-beat rows, matched by name: a missing task is created with the interval below; an
existing one gets its target (task, args, kwargs) and description refreshed and keeps whatever
schedule, expiry and enabled flag an operator set in the admin. Add new periodic work here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction


@dataclass(frozen=True)
class PeriodicSchedule:
    """One periodic task as django-celery-beat stores it."""

    name: str  # the PeriodicTask row's name (unique)
    # The registered Celery task name. Stored in the beat rows: renaming a task means refreshing
    # them, which periodic_tasks_setup does for every row it declares.
    task: str
    every: int
    period: str  # django_celery_beat IntervalSchedule period: seconds, minutes, hours, days
    description: str = ""
    # Drop a run not started within this many seconds (a backlog of stale probes is useless).
    expire_seconds: int | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


def periodic_schedules() -> list[PeriodicSchedule]:
    """Every periodic task of the project, with the interval it gets when first created."""
    probe_every = settings.HEALTH_PROBE_INTERVAL_S
    return [
        PeriodicSchedule(
            name="providers.health_probe",
            task="providers.health_probe",
            every=probe_every,
            period="seconds",
            description="Probe every enabled provider; cache and publish their health.",
            expire_seconds=probe_every,
        ),
        PeriodicSchedule(
            name="providers.health_report",
            task="providers.health_report",
            every=1,
            period="hours",
            description="Write the health report of the last full hour.",
        ),
        PeriodicSchedule(
            name="providers.health_prune",
            task="providers.health_prune",
            every=1,
            period="days",
            description="Delete probe results older than HEALTH_RETENTION_DAYS.",
        ),
        PeriodicSchedule(
            name="analytics.usage_flush",
            task="analytics.usage_flush",
            every=5,
            period="seconds",
            description="Write queued usage records to the database in batches.",
            expire_seconds=5,
        ),
        PeriodicSchedule(
            name="analytics.usage_rollup",
            task="analytics.usage_rollup",
            every=5,
            period="minutes",
            description="Recompute yesterday's and today's daily usage rollups (cost analytics).",
            expire_seconds=300,
        ),
    ]


@dataclass
class ScheduleReport:
    """The names periodic_tasks_setup created, updated and left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@transaction.atomic
def periodic_tasks_setup(schedules: list[PeriodicSchedule] | None = None) -> ScheduleReport:
    """Create missing periodic tasks, refresh the target of existing ones; never touch a schedule
    that exists (an operator may have changed it)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    report = ScheduleReport()
    for item in periodic_schedules() if schedules is None else schedules:
        args, kwargs = json.dumps(item.args), json.dumps(item.kwargs)
        existing = PeriodicTask.objects.filter(name=item.name).first()
        if existing is None:
            interval, _ = IntervalSchedule.objects.get_or_create(every=item.every, period=item.period)
            PeriodicTask.objects.create(
                name=item.name,
                task=item.task,
                interval=interval,
                args=args,
                kwargs=kwargs,
                description=item.description,
                expire_seconds=item.expire_seconds,
            )
            report.created.append(item.name)
            continue
        target = {"task": item.task, "args": args, "kwargs": kwargs, "description": item.description}
        changed = {k: v for k, v in target.items() if getattr(existing, k) != v}
        if not changed:
            report.unchanged.append(item.name)
            continue
        for key, value in changed.items():
            setattr(existing, key, value)
        existing.save()  # its signal tells beat that the schedule changed
        report.updated.append(item.name)
    return report
