"""setup_periodic_tasks declares every schedule idempotently; the tasks call their services."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from operations.schedules import periodic_schedules
from providers.models import HealthCheckResult, Provider
from tests.health.conftest import DEFAULT_PROVIDERS, calls

EXPECTED = {
    "providers.health_probe": (30, "seconds"),
    "providers.health_report": (1, "hours"),
    "providers.health_prune": (1, "days"),
    "analytics.usage_flush": (5, "seconds"),
}


def setup_tasks() -> str:
    out = StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    return out.getvalue()


def rows():
    return sorted(
        PeriodicTask.objects.exclude(name="celery.backend_cleanup").values_list(
            "id", "name", "task", "interval_id", "interval__every", "interval__period", "enabled", "args"
        )
    )


@pytest.mark.django_db
def test_every_periodic_task_is_declared_with_its_interval():
    output = setup_tasks()

    assert f"{len(periodic_schedules())} created" in output
    declared = {
        task.name: (task.interval.every, task.interval.period)
        for task in PeriodicTask.objects.select_related("interval")
    }
    assert EXPECTED.items() <= declared.items()  # later work (rollups...) adds its own
    assert set(declared) == {schedule.name for schedule in periodic_schedules()}
    assert all(task.task == task.name for task in PeriodicTask.objects.all())


@pytest.mark.django_db
def test_running_it_twice_leaves_the_same_rows():
    setup_tasks()
    first = rows()
    intervals = IntervalSchedule.objects.count()

    output = setup_tasks()

    assert rows() == first
    assert IntervalSchedule.objects.count() == intervals
    assert f"0 created, 0 updated, {len(periodic_schedules())} unchanged" in output


@pytest.mark.django_db
def test_an_interval_an_operator_changed_is_kept_and_the_target_is_refreshed():
    setup_tasks()
    probe = PeriodicTask.objects.get(name="providers.health_probe")
    probe.interval = IntervalSchedule.objects.create(every=2, period="minutes")
    probe.enabled = False
    probe.task = "providers.renamed_by_hand"
    probe.save()

    output = setup_tasks()

    probe.refresh_from_db()
    assert (probe.interval.every, probe.interval.period) == (2, "minutes")
    assert probe.enabled is False
    assert probe.task == "providers.health_probe"
    assert "updated providers.health_probe" in output


def test_every_declared_task_is_registered_with_celery():
    from aiprovider_site.celery import app

    app.loader.import_default_modules()
    assert {schedule.task for schedule in periodic_schedules()} <= set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_probe_task_runs_a_round_from_a_worker(health):
    from providers.tasks import health_probe_task

    health_probe_task.apply()  # runs here, as a worker would, with no loop running

    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 1)
    assert HealthCheckResult.objects.filter(status="healthy").count() == 4


@pytest.mark.django_db(transaction=True)
async def test_probe_task_run_eagerly_inside_a_running_loop(health):
    from providers.tasks import health_probe_task

    health_probe_task.apply()  # asyncio.run would refuse here: the round gets a thread and loop

    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 1)
    assert await HealthCheckResult.objects.filter(status="healthy").acount() == 4


@pytest.mark.django_db(transaction=True)
async def test_probe_task_skips_while_another_round_holds_the_lock(health):
    from core.shared_state import shared_state
    from providers.health import PROBE_LOCK_KEY
    from providers.tasks import health_probe_task

    await shared_state().set(PROBE_LOCK_KEY, "1", ttl_s=30)

    health_probe_task.apply()

    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 0)


@pytest.mark.django_db
def test_prune_task_deletes_checks_older_than_the_retention(settings):
    from providers.tasks import health_prune_task

    settings.HEALTH_RETENTION_DAYS = 7
    provider = Provider.objects.create(name="p", kind="openai")
    now = timezone.now()
    for age in (timedelta(days=8), timedelta(days=7, minutes=1), timedelta(days=6), timedelta(minutes=1)):
        HealthCheckResult.objects.create(provider=provider, status="healthy", latency_ms=1, checked_at=now - age)

    deleted = health_prune_task.apply().get()

    assert deleted == 2
    remaining = sorted(now - r.checked_at for r in HealthCheckResult.objects.all())
    assert [round(age.total_seconds() / 86400) for age in remaining] == [0, 6]
