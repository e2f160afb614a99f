"""Prices kept current without the network: the price model stored per catalogue model, sync_prices from
the installed package or a data file, what changed shown in the admin, unknown models flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from genai_prices.data_snapshot import get_snapshot

from providers.adapters.results import Usage
from providers.models import PriceChange, PriceSync, Provider, ProviderModel
from providers.price_classes import PRICE_COLUMNS
from providers.price_data import describe_price_data, model_info_from_data, model_price_data
from providers.price_sources import installed_source, source_from_path
from providers.pricing import pricing_of

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_every_bundled_price_model_survives_the_round_trip_through_the_database():
    """What is stored (JSON) prices exactly like genai-prices' own model, at any date and context."""
    moments = [datetime(2025, 6, 1, 3, tzinfo=UTC), datetime(2026, 3, 20, 12, tzinfo=UTC), datetime.now(UTC)]
    checked = 0
    for provider in get_snapshot().providers:
        for info in provider.models:
            stored = json.loads(json.dumps(model_price_data(info, source="test")))
            again = model_info_from_data(stored)
            for at in moments:
                assert again.get_prices(at) == info.get_prices(at), info.id
                for variant in info.price_variants or []:
                    assert again.get_prices(at, variant.when) == info.get_prices(at, variant.when), info.id
            checked += 1
    assert checked > 500


def test_sync_stores_the_full_price_model_and_list_prices():
    run("sync_providers")
    pro = ProviderModel.objects.get(name="gemini-2.5-pro")
    lines = describe_price_data(pro.price_data)
    assert lines["input"] == "1.25" and lines["input above 200,000 prompt tokens"] == "2.5"
    assert pro.input_price_per_1m == Decimal("1.25")  # the list price: the base tier
    haiku = ProviderModel.objects.get(name="claude-haiku-4-5")
    assert (haiku.cache_write_price_per_1m, haiku.cache_write_1h_price_per_1m) == (Decimal("1.25"), Decimal("2"))
    assert pricing_of(haiku, None).overridden == ()


def test_sync_prices_from_the_installed_package_changes_nothing_after_sync_providers():
    run("sync_providers")
    output = run("sync_prices")
    assert "0 model(s) changed" in output
    sync = PriceSync.objects.get(command="sync_prices")
    assert sync.source.startswith("genai-prices ") and sync.models_changed == 0 and sync.data is None


def _newer_data(tmp_path, *, haiku_input: str) -> str:
    """A genai-prices data.json in which claude-haiku-4-5 costs more and gpt-4o-mini is gone."""
    source = installed_source()
    # Every entry that would answer for gpt-4o-mini, wherever genai-prices would look.
    matching = {m.id for p in source.providers for m in p.models if m.is_match("gpt-4o-mini")}
    raw = source.raw()
    for provider in raw:
        if provider["id"] == "anthropic":
            for model in provider["models"]:
                if model["id"] == "claude-haiku-4-5":
                    model["prices"]["input_mtok"] = haiku_input
        provider["models"] = [m for m in provider["models"] if m["id"] not in matching]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(raw))
    return str(path)


def test_sync_prices_from_a_data_file_shows_what_changed_and_flags_unknown_models(tmp_path, admin_client):
    run("sync_providers")
    output = run("sync_prices", "--data", _newer_data(tmp_path, haiku_input="1.5"))
    assert "anthropic/claude-haiku-4-5:" in output
    assert "    input: 1 -> 1.5" in output
    assert "not priced (costs are recorded as 0): openai/gpt-4o-mini" in output

    haiku = ProviderModel.objects.get(name="claude-haiku-4-5")
    assert haiku.input_price_per_1m == Decimal("1.5")
    usage = Usage(prompt_tokens=1_000_000)
    assert pricing_of(haiku, None).cost(usage) == Decimal("1.5")
    mini = ProviderModel.objects.select_related("provider").get(name="gpt-4o-mini")
    assert mini.price_source == "unknown" and mini.price_data == {}

    change = PriceChange.objects.get(model=haiku, sync__command="sync_prices")
    assert change.changes == {"input": ["1", "1.5"]}
    assert change.sync.source.startswith("data.json (sha256 ")

    # The admin shows the sync, what it changed, and flags the model nothing prices.
    page = admin_client.get(f"/admin/providers/pricesync/{change.sync.pk}/change/").content.decode()
    assert "input: 1 &rarr; 1.5" in page and "openai/gpt-4o-mini" in page
    listing = admin_client.get("/admin/providers/pricechange/").content.decode()
    assert "claude-haiku-4-5" in listing
    models_page = admin_client.get("/admin/providers/providermodel/").content.decode()
    assert "NOT PRICED (cost 0)" in models_page
    assert "Not priced, their cost is recorded as 0: openai/gpt-4o-mini" in models_page

    # Later catalogue syncs keep pricing from that file (no silent revert to the package's data).
    assert "prices changed" not in run("sync_providers")
    assert ProviderModel.objects.get(name="claude-haiku-4-5").input_price_per_1m == Decimal("1.5")

    # Back to the installed package: the price returns, and so does gpt-4o-mini.
    run("sync_prices")
    assert ProviderModel.objects.get(name="claude-haiku-4-5").input_price_per_1m == Decimal("1")
    assert ProviderModel.objects.get(name="gpt-4o-mini").price_source == "genai-prices"


def test_sync_prices_keeps_an_operator_price_unless_forced(tmp_path):
    run("sync_providers")
    ProviderModel.objects.filter(name="claude-haiku-4-5").update(output_price_per_1m=Decimal("4"))
    output = run("sync_prices", "--data", _newer_data(tmp_path, haiku_input="1.5"))
    assert "kept operator price: anthropic/claude-haiku-4-5.output_price_per_1m" in output
    haiku = ProviderModel.objects.get(name="claude-haiku-4-5")
    assert haiku.output_price_per_1m == Decimal("4") and haiku.input_price_per_1m == Decimal("1.5")
    assert pricing_of(haiku, None).overridden == ("output",)
    run("sync_prices", "--force")
    assert ProviderModel.objects.get(name="claude-haiku-4-5").output_price_per_1m == Decimal("5")


def test_sync_prices_dry_run_writes_nothing(tmp_path):
    run("sync_providers")
    output = run("sync_prices", "--dry-run", "--data", _newer_data(tmp_path, haiku_input="2"))
    assert "1 model(s) would change" in output or "model(s) would change" in output
    assert ProviderModel.objects.get(name="claude-haiku-4-5").input_price_per_1m == Decimal("1")
    assert not PriceSync.objects.filter(command="sync_prices").exists()


def test_a_package_data_module_and_a_wheel_are_read_too(tmp_path):
    import zipfile
    from pathlib import Path

    import genai_prices

    data_py = Path(genai_prices.__file__).parent / "data.py"
    assert len(source_from_path(data_py).providers) == len(get_snapshot().providers)
    wheel = tmp_path / "genai_prices-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(data_py, "genai_prices/data.py")
    source = source_from_path(wheel)
    assert source.find(provider_name="anthropic", kind="anthropic", model_name="claude-haiku-4-5") is not None
    with pytest.raises(ValueError):
        source_from_path(tmp_path / "missing.json")


def test_a_model_genai_prices_does_not_know_is_flagged_not_silently_free(tmp_path):
    catalogue = tmp_path / "catalogue.yml"
    catalogue.write_text(
        "providers:\n  localllm:\n    kind: openai_compatible\n    base_url: http://127.0.0.1:11434/v1\n"
        "    models:\n      - name: house-model-7b\n"
    )
    output = run("sync_providers", "--file", str(catalogue))
    assert "not priced (costs are recorded as 0): localllm/house-model-7b" in output
    entry = ProviderModel.objects.select_related("provider").get(name="house-model-7b")
    assert not pricing_of(entry, None).priced
    # An operator sets its prices in the admin: now it is priced, flat.
    ProviderModel.objects.filter(pk=entry.pk).update(input_price_per_1m=Decimal("0.2"), output_price_per_1m=1)
    entry.refresh_from_db()
    assert pricing_of(entry, None).cost(Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)) == Decimal("1.2")


def test_every_price_column_is_a_price_class():
    assert set(PRICE_COLUMNS) <= {f.name for f in ProviderModel._meta.get_fields()}


def test_prices_in_force_follow_the_date():
    """claude-sonnet-4-6 had long-context tiers until 2026-03-13, flat prices since."""
    run("sync_providers")
    sonnet = ProviderModel.objects.get(name="claude-sonnet-4-6")
    pricing = pricing_of(sonnet, None)
    usage = Usage(prompt_tokens=300_000, completion_tokens=1000)
    before = pricing.cost(usage, at=datetime(2026, 3, 1, tzinfo=UTC))
    since = pricing.cost(usage, at=datetime(2026, 3, 13, tzinfo=UTC) + timedelta(days=1))
    assert before == Decimal("1.8225")  # 300K at $6 + 1K at $22.5 per million
    assert since == Decimal("0.915")  # 300K at $3 + 1K at $15


def test_a_provider_fallback_cost_prices_every_token(tmp_path, settings):
    settings.PROVIDER_COST_PER_TOKEN = {"localllm": Decimal("0.000002")}
    catalogue = tmp_path / "catalogue.yml"
    catalogue.write_text(
        "providers:\n  localllm:\n    kind: openai_compatible\n    models:\n      - name: house-model-7b\n"
    )
    run("sync_providers", "--file", str(catalogue))
    entry = ProviderModel.objects.get(name="house-model-7b")
    provider = Provider.objects.get(name="localllm")
    cost = pricing_of(entry, provider.fallback_cost_per_token).cost(Usage(prompt_tokens=100, completion_tokens=50))
    assert cost == Decimal("0.0003")
