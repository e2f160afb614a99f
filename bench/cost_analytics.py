"""Cost analytics on a million usage records: how fast GET /api/v1/analytics/costs answers.

Against the PostgreSQL at DATABASE_URL: migrates, loads the catalogue, COPYs `--rows` usage records
spread over the last `--days` days (request ids prefixed `bench-`, removed first and, unless
`--keep`, at the end), builds the daily rollups, then times the endpoint through the whole Django
stack (middleware, key authentication, DRF) several times and prints the figures. Not a test:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aiprovider_bench .venv/bin/python bench/cost_analytics.py
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TARGET_MS = 200.0
BENCH_PREFIX = "bench-"
MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4.1"],
    "anthropic": ["claude-haiku-4-5", "claude-sonnet-4-6"],
    "google": ["gemini-2.5-flash", "gemini-2.5-pro"],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
}
COLUMNS = (
    "record_id, request_id, api_key_id, provider, model, status, error_code, prompt_tokens, "
    "completion_tokens, cached_tokens, cost_usd, latency_ms, attempts, streamed, created_at"
)


def _setup(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench/cost_analytics.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    call_command("sync_providers", verbosity=0)


def _keys(count: int) -> tuple[list[int], str]:
    from access.models import ApiKey
    from access.services import api_key_assign_secret, api_key_create

    ids = []
    for i in range(count):
        key = ApiKey.objects.filter(name=f"{BENCH_PREFIX}team-{i}").first()
        if key is None:
            key, _ = api_key_create(name=f"{BENCH_PREFIX}team-{i}")
        ids.append(key.id)
    analyst = ApiKey.objects.filter(name=f"{BENCH_PREFIX}analyst").first()
    if analyst is None:
        _, secret = api_key_create(name=f"{BENCH_PREFIX}analyst", scopes=["analytics"])
    else:
        secret = api_key_assign_secret(api_key=analyst)
        analyst.save()
    return ids, secret


def _delete_bench_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_usagerecord WHERE request_id LIKE %s", [BENCH_PREFIX + "%"])
        return cursor.rowcount


def _insert(rows: int, days: int, key_ids: list[int], seed: int) -> float:
    """COPY `rows` records, spread evenly over the last `days` days (today up to now)."""
    from django.db import connection

    from providers.models import ProviderModel

    prices = {
        (m.provider.name, m.name): (float(m.input_price_per_1m), float(m.output_price_per_1m))
        for m in ProviderModel.objects.select_related("provider")
    }
    rng = random.Random(seed)
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    pairs = [(p, m) for p, models in MODELS.items() for m in models]
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    per_day = rows // days
    with raw.cursor() as cursor, cursor.copy(f"COPY analytics_usagerecord ({COLUMNS}) FROM STDIN") as copy:
        written = 0
        for back in range(days - 1, -1, -1):
            day_start = today - timedelta(days=back)
            span_s = (now - day_start).total_seconds() if back == 0 else 86_400
            count = per_day if back else rows - written
            buffer = io.StringIO()
            for _ in range(count):
                provider, model = pairs[int(rng.paretovariate(1.2)) % len(pairs)]
                roll = rng.random()
                status = "success" if roll < 0.9 else ("error" if roll < 0.95 else "cache_hit")
                prompt, completion = rng.randint(20, 4000), rng.randint(10, 1500)
                price_in, price_out = prices.get((provider, model), (1.0, 2.0))
                cost = 0.0 if status != "success" else (prompt * price_in + completion * price_out) / 1e6
                if status == "error":
                    prompt = completion = 0
                attempts = 0 if status == "cache_hit" else (2 if rng.random() < 0.04 else 1)
                created = day_start + timedelta(seconds=rng.random() * span_s)
                buffer.write(
                    f"{uuid.uuid4()}\t{BENCH_PREFIX}{uuid.uuid4().hex[:20]}\t{rng.choice(key_ids)}\t"
                    f"{provider}\t{model}\t{status}\t{'UNAVAILABLE' if status == 'error' else ''}\t"
                    f"{prompt}\t{completion}\t"
                    f"0\t{cost:.8f}\t{rng.lognormvariate(6.3, 0.6):.2f}\t{attempts}\t"
                    f"{'t' if rng.random() < 0.3 else 'f'}\t{created.isoformat()}\n"
                )
            copy.write(buffer.getvalue())
            written += count
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE analytics_usagerecord")
    return time.perf_counter() - started


def _time_get(client, path: str, secret: str, runs: int) -> tuple[list[float], dict]:
    timings = []
    body: dict = {}
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
        body = response.json()
    return timings, body


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keys", type=int, default=25)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the bench rows in the database")
    return parser.parse_args()


def _fill(args: argparse.Namespace, key_ids: list[int], today: date) -> None:
    """The usage records (COPY), then their rollups, timed; and the periodic rollup task once."""
    from django.db import connection

    from analytics.models import UsageDailyRollup, UsageRecord
    from analytics.rollups import usage_rollup_rebuild, usage_rollup_recent

    removed = _delete_bench_rows()
    print(
        f"database: {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']} "
        f"(PostgreSQL {connection.cursor().connection.info.server_version})"
    )
    if removed:
        print(f"removed {removed:,} rows of an earlier run")
    insert_s = _insert(args.rows, args.days, key_ids, args.seed)
    total = UsageRecord.objects.count()
    print(
        f"inserted {args.rows:,} usage records over {args.days} days with COPY in {insert_s:.1f} s "
        f"({total:,} in the table)"
    )
    started = time.perf_counter()
    covered = usage_rollup_rebuild(start=today - timedelta(days=args.days), end=today)
    rollup_s = time.perf_counter() - started
    print(f"rollups: {UsageDailyRollup.objects.count():,} rows for {covered:,} records in {rollup_s:.1f} s")
    started = time.perf_counter()
    usage_rollup_recent()
    print(f"periodic rollup task (yesterday + today): {(time.perf_counter() - started) * 1000:.0f} ms")


def _scenarios(today: date, days: int) -> list[tuple[str, str, bool]]:
    """(label, path, held to the cost target) of each timed request."""
    costs = "/api/v1/analytics/costs"
    return [
        ("costs, default (30 days, every breakdown)", "/api/v1/analytics/costs", True),
        (
            f"costs, {days} days, every breakdown",
            f"/api/v1/analytics/costs?from={(today - timedelta(days=days - 1)).isoformat()}",
            True,
        ),
        (
            "costs, 7 days, group_by=provider,model",
            f"{costs}?from={(today - timedelta(days=6)).isoformat()}&group_by=provider,model",
            True,
        ),
        ("costs, today only, group_by=api_key", f"{costs}?from={today.isoformat()}&group_by=api_key", True),
        ("metrics JSON, window=1h", "/api/v1/metrics?window=1h", False),
        ("metrics JSON, window=24h (raw records, percentiles)", "/api/v1/metrics?window=24h", False),
    ]


def _time_scenarios(scenarios: list[tuple[str, str, bool]], secret: str, runs: int) -> int:
    """Each scenario `runs` times, printed; returns how many missed the cost target."""
    from django.test import Client

    client = Client()
    _time_get(client, scenarios[0][1], secret, 1)  # warm: catalogue, key cache, connections
    print(f"\n{'scenario':58} {'min ms':>8} {'median':>8} {'max ms':>8}  target")
    failures = 0
    for label, path, is_cost in scenarios:
        timings, body = _time_get(client, path, secret, runs)
        median = statistics.median(timings)
        verdict = ""
        if is_cost:
            ok = median < TARGET_MS
            failures += not ok
            verdict = f"< {TARGET_MS:.0f} ms {'met' if ok else 'MISSED'}"
        print(f"{label:58} {min(timings):8.1f} {median:8.1f} {max(timings):8.1f}  {verdict}")
        if is_cost and path.endswith("costs"):
            sources, totals = body["sources"], body["totals"]
            print(
                f"{'':58} requests={totals['requests']:,} cost=${float(totals['cost_usd']):,.2f} "
                f"rollup_days={sources['rollup_days']} raw_days={sources['raw_days']}"
            )
    return failures


def main() -> None:
    """Fill, roll up, time every scenario, and clean up (unless --keep); exit 1 when a target is missed."""
    args = _parse_args()
    _setup(args)
    from django.utils import timezone

    from analytics.rollups import usage_rollup_rebuild

    key_ids, secret = _keys(args.keys)
    today = timezone.now().date()
    _fill(args, key_ids, today)
    failures = _time_scenarios(_scenarios(today, args.days), secret, args.runs)
    if not args.keep:
        removed = _delete_bench_rows()
        usage_rollup_rebuild(start=today - timedelta(days=args.days), end=today)
        print(f"\nremoved the {removed:,} bench rows and rebuilt the rollups (--keep to leave them)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
