"""`manage.py serve [--demo]`: what `make run` and `make demo` start, in one process.

1. Takes its ports first (the gateway's, and the emulator's with --demo): a port already in use
   stops it at once, with the variable that moves it, before any setup runs.
2. Brings the database up to date, skipping what is done: migrations only when some are pending,
   then the catalogue and the periodic tasks (both idempotent, a fraction of a second). In
   production mode (DEBUG off) it also collects the static files when some are not collected yet:
   the admin and the API docs answer 500 without them.
3. Says which providers have a key (and what to do when none has), and prints the development
   key with an example request that works in the mode the service is in.
4. Serves the gateway with uvicorn on the socket it took (one worker, as `make run` always did).

Everything runs in this one process, which also imports the provider SDKs only once: four
`manage.py` commands each paid the start-up again (most of `make demo`'s former minute).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from aiprovider_site.ports import bind, port_in_use_message

DEMO_KEY = "emulator"


def _relative(path) -> Path:
    path = Path(str(path))
    try:
        return path.relative_to(settings.BASE_DIR)
    except ValueError:
        return path


def static_files_uncollected() -> list[str]:
    """Static files the apps provide that the collected manifest does not know."""
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import staticfiles_storage

    collected = getattr(staticfiles_storage, "hashed_files", None) or {}
    found = set()
    for finder in finders.get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            prefix = getattr(storage, "prefix", None)
            found.add(f"{prefix}/{path}" if prefix else path)
    return sorted(found - set(collected))


def port_in_use(host: str, port: int, variable: str, target: str) -> CommandError:
    return CommandError(port_in_use_message(host, port, variable, target))


class Command(BaseCommand):
    # The ports come first: the system checks (which import every provider SDK) run once they are taken.
    requires_system_checks: list[str] = []
    help = (
        "Set up what is missing (migrations, catalogue, periodic tasks, development key) and serve "
        "the gateway with uvicorn. --demo: every provider answered by the local emulator."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("AI_PROVIDER_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=None, help="Default: AI_PROVIDER_PORT (8005).")
        parser.add_argument(
            "--demo", action="store_true", help="Start the provider emulator and point every provider at it."
        )
        parser.add_argument(
            "--emulator-port", type=int, default=int(os.environ.get("EMULATOR_PORT", "8105")),
            help="The emulator's port with --demo (default: EMULATOR_PORT, 8105).",
        )
        parser.add_argument(
            "--setup-only", action="store_true", help="Take the ports and set up, then exit without serving."
        )

    def handle(self, *args, host, port, demo, emulator_port, setup_only, **options):
        port = port or settings.AI_PROVIDER_PORT
        target = "demo" if demo else "run"
        try:
            gateway = bind(host, port)
        except OSError as exc:
            raise port_in_use(host, port, "AI_PROVIDER_PORT", target) from exc
        emulator = None
        try:
            if demo:
                emulator = self._start_emulator(emulator_port)
            self.check(display_num_errors=False)
            self._mode(demo=demo, emulator=emulator)
            self._setup()
            if demo:
                self._point_providers_at(emulator)
            self._provider_keys(demo=demo)
            call_command("ensure_dev_key", stdout=self.stdout, stderr=self.stderr)
            if setup_only:
                return
            self.stdout.write(
                self.style.SUCCESS(f"Serving on http://{host}:{port}")
                + " (API docs /api/docs/, admin /admin/; Ctrl-C stops)"
            )
            self.stdout.flush()
            self._serve(gateway)
        finally:
            gateway.close()
            if emulator is not None:
                emulator.stop()

    # ------------------------------------------------------------------------------------ steps

    def _start_emulator(self, port: int):
        from providers.emulator import EmulatorServer

        server = EmulatorServer(port=port, log_level="warning")
        try:
            return server.start()
        except OSError as exc:
            raise port_in_use("127.0.0.1", port, "EMULATOR_PORT", "demo") from exc

    def _mode(self, *, demo: bool, emulator) -> None:
        mode = "development" if settings.DEVELOPMENT_MODE else "production"
        db = settings.DATABASES["default"]
        if connection.vendor == "sqlite":
            storage = f"SQLite ({_relative(db['NAME'])})"
        else:
            storage = f"{connection.display_name} (database {db.get('NAME')})"  # no host, no password
        shared = "Redis (shared state, Celery broker)" if settings.REDIS_URL else (
            "no Redis: cache, limits and tasks in this process"
        )
        self.stdout.write(f"ai-provider: {mode} mode, {storage}, {shared}")
        if demo:
            self.stdout.write(
                f"  demo: every provider is answered by the provider emulator on {emulator.base_url} "
                '(answers say "openai (emulator)")'
            )

    def _setup(self) -> None:
        from django.db.migrations.executor import MigrationExecutor

        from operations.schedules import periodic_tasks_setup
        from providers.services import CatalogueError, catalogue_sync

        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            call_command("migrate", interactive=False, verbosity=0)
            self._step("database", f"{len(plan)} migration(s) applied")
        else:
            self._step("database", "up to date")

        try:
            report = catalogue_sync()
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        changed = len(report.created) + len(report.updated)
        self._step(
            "catalogue",
            (f"{len(report.created)} created, {len(report.updated)} updated" if changed else "up to date")
            + f" ({_relative(settings.PROVIDER_CATALOGUE_PATH)})",
        )
        for label in report.kept:
            self._step("", f"kept operator change: {label}")

        tasks = periodic_tasks_setup()
        changed = len(tasks.created) + len(tasks.updated)
        self._step(
            "schedules",
            f"{len(tasks.created)} created, {len(tasks.updated)} updated" if changed else "up to date",
        )
        self._static_files()

    def _static_files(self) -> None:
        """Production storage serves only collected, hashed files (a missing one is a 500 on every
        page that names it), so what is not collected yet is collected now."""
        if settings.DEBUG:
            return  # development serves static files straight from the apps
        missing = static_files_uncollected()
        where = _relative(settings.STATIC_ROOT)
        if not missing:
            self._step("static", f"up to date ({where})")
            return
        call_command("collectstatic", interactive=False, verbosity=0)
        self._step("static", f"{len(missing)} file(s) not collected yet: collected into {where}")

    def _point_providers_at(self, emulator) -> None:
        """Every enabled provider's key variable gets a placeholder (the emulator takes any key
        but the invalid ones), so no real key is ever sent, even to the emulator."""
        from providers.models import Provider

        settings.PROVIDER_EMULATOR_URL = emulator.base_url
        for name in Provider.objects.filter(enabled=True).exclude(api_key_env="").values_list(
            "api_key_env", flat=True
        ):
            os.environ[name] = DEMO_KEY

    def _provider_keys(self, *, demo: bool) -> None:
        from providers.selectors import provider_key_status

        status = provider_key_status()
        with_key = [p for p in status if p.configured]
        without = [p for p in status if not p.configured]
        if demo:
            return
        if with_key and without:
            self._step("providers", "with a key: " + ", ".join(p.name for p in with_key))
            self._step("", "no key (skipped by routing): " + ", ".join(
                f"{p.name} ({p.api_key_env})" for p in without
            ))
            return
        if with_key:
            self._step("providers", "with a key: " + ", ".join(p.name for p in with_key))
            return
        width = max((len(p.api_key_env) for p in without), default=0)
        rule = "-" * 78
        lines = [
            rule,
            "No provider API key is set: completions will answer 503 PROVIDER_NOT_CONFIGURED.",
            "Set at least one of these, in the environment or in .env (cp .env.example .env):",
            *(f"    {p.api_key_env.ljust(width)}  {p.name}" for p in without),
            "then start again. Or try everything without keys, every provider answered by the",
            "local emulator:  make demo",
            rule,
        ]
        self.stdout.write(self.style.WARNING("\n".join(lines)))

    def _step(self, name: str, text: str) -> None:
        self.stdout.write(f"  {name:<10} {text}")

    def _serve(self, sock: socket.socket) -> None:
        import uvicorn

        from aiprovider_site.http_server import HTTP_PROTOCOL

        config = uvicorn.Config(
            "aiprovider_site.asgi:application",
            http=HTTP_PROTOCOL,  # headers bounded by HTTP_MAX_HEADER_BYTES, as under gunicorn
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        uvicorn.Server(config).run(sockets=[sock])
