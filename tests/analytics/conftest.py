"""Fixtures for analytics: a small priced catalogue, crafted usage records, an analytics key, and
the routing suite's gateway (the app wired to the provider emulator over real HTTP)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from access.services import api_key_create
from analytics.models import UsageAttempt, UsageRecord
from analytics.tracing import tracing_reset_for_tests
from providers.models import Provider, ProviderModel
from tests.routing.conftest import (  # noqa: F401 - fixtures shared with the routing suite
    emulator_server,
    gateway,
    gateway_settings,
    live_gateway,
)

# USD per million tokens: (input, output).
PRICES = {
    ("openai", "gpt-test"): ("1.00", "2.00"),
    ("anthropic", "claude-test"): ("3.00", "15.00"),
    ("google", "gemini-test"): ("0.10", "0.40"),
}


@pytest.fixture(autouse=True)
def _fresh_tracer():
    yield
    tracing_reset_for_tests()


@pytest.fixture
def priced_catalogue(db):
    """Three providers with one model each, at the prices above (no genai-prices lookup)."""
    for (provider_name, model_name), (price_in, price_out) in PRICES.items():
        provider, _ = Provider.objects.get_or_create(
            name=provider_name, defaults={"kind": "openai", "api_key_env": f"{provider_name.upper()}_KEY"}
        )
        ProviderModel.objects.create(
            provider=provider,
            name=model_name,
            input_price_per_1m=Decimal(price_in),
            output_price_per_1m=Decimal(price_out),
        )
    return PRICES


@pytest.fixture
def make_record(db):
    """`make_record(provider=..., ago=timedelta(...), failed_before=[(provider, model, code)], **fields)`
    -> a stored UsageRecord with its upstream attempts: the ones in `failed_before`, then the
    record's own provider (failed with the record's error code when it is an error). Cache hits
    and records without a provider have no attempt of their own."""

    def make(*, ago: timedelta = timedelta(minutes=5), at=None, failed_before=(), **fields) -> UsageRecord:
        fields.setdefault("request_id", uuid.uuid4().hex)
        fields.setdefault("status", "success")
        if "cost_usd" in fields:
            fields["cost_usd"] = Decimal(str(fields["cost_usd"]))
        record = UsageRecord.objects.create(created_at=at or timezone.now() - ago, **fields)
        attempts = list(failed_before)
        if record.status != "cache_hit" and record.provider:
            attempts.append((record.provider, record.model, record.error_code if record.status == "error" else ""))
        UsageAttempt.objects.bulk_create(
            UsageAttempt(record=record, seq=seq, provider=provider, model=model, error_code=code,
                         created_at=record.created_at)
            for seq, (provider, model, code) in enumerate(attempts)
        )
        return record

    return make


@pytest.fixture
def analytics_key(db):
    key, secret = api_key_create(name="analyst", scopes=["analytics"])
    return key, secret


@pytest.fixture
def api(client, analytics_key):
    """GET with the analytics key."""
    _, secret = analytics_key

    def get(path: str, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {secret}")

    return get


# ------------------------------------------------------------------ the browser (headless Chromium)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.environ.get("CI"):
        pytest.fail("chromium and chromium-driver must be installed in CI (see .ci/run)")
    pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path):
    browser_path, driver_path = _chromium()
    os.environ["SE_AVOID_STATS"] = "true"  # never let Selenium's manager phone home
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,2200", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def login_browser(browser, live_server, client, user) -> None:
    """The browser takes `user`'s admin session."""
    client.force_login(user)
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})


def screenshot(browser, name: str, *, width: int = 1400) -> Path:
    """Saved under artifacts/screenshots/ (kept by CI), full height of the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(900, min(int(height) + 40, 4000)))
    path = SCREENSHOTS / f"{name}.png"
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return path
