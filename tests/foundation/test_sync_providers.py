"""The catalogue file seeds the database idempotently and respects an operator's edits."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from genai_prices.data_snapshot import get_snapshot

from providers.models import Provider, ProviderModel
from providers.services import catalogue_sync

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync_providers", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    rows = [tuple(p.values()) for p in Provider.objects.order_by("name").values()]
    rows += [tuple(m.values()) for m in ProviderModel.objects.order_by("provider__name", "name").values()]
    return rows


def test_first_sync_creates_the_four_providers_with_their_key_variable_names():
    output = sync()
    assert "created" in output
    providers = {p.name: p for p in Provider.objects.all()}
    assert set(providers) >= {"openai", "anthropic", "google", "deepseek"}
    assert providers["google"].kind == "gemini"
    assert providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert providers["google"].api_key_env == "GOOGLE_AI_API_KEY"
    assert ProviderModel.objects.filter(provider__name="openai", name="gpt-3.5-turbo").exists()


def test_second_sync_changes_nothing():
    sync()
    before = snapshot()
    output = sync()
    assert "0 created, 0 updated" in output
    assert snapshot() == before


def test_operator_edit_is_kept_unless_forced():
    sync()
    Provider.objects.filter(name="openai").update(priority=999, weight=7)
    ProviderModel.objects.filter(name="gpt-4o-mini").update(input_price_per_1m=Decimal("9.99"))

    output = sync()
    assert "kept operator change: openai.priority" in output
    assert Provider.objects.get(name="openai").priority == 999
    assert Provider.objects.get(name="openai").weight == 7
    assert ProviderModel.objects.get(name="gpt-4o-mini").input_price_per_1m == Decimal("9.99")

    sync("--force")
    assert Provider.objects.get(name="openai").priority != 999
    assert ProviderModel.objects.get(name="gpt-4o-mini").input_price_per_1m != Decimal("9.99")


def test_config_change_reaches_fields_the_operator_did_not_touch(tmp_path, settings):
    source = settings.PROVIDER_CATALOGUE_PATH.read_text()
    sync()
    changed = tmp_path / "catalogue.yml"
    changed.write_text(source.replace("priority: 10\n", "priority: 15\n", 1))
    catalogue_sync(path=changed)
    assert Provider.objects.get(name="openai").priority == 15


@pytest.mark.parametrize(
    ("provider_name", "genai_provider", "model_name"),
    [
        ("openai", "openai", "gpt-4o-mini"),
        ("anthropic", "anthropic", "claude-haiku-4-5"),
        ("google", "google", "gemini-2.5-flash"),
        ("deepseek", "deepseek", "deepseek-chat"),
    ],
)
def test_prices_are_seeded_from_genai_prices(provider_name, genai_provider, model_name):
    sync()
    entry = ProviderModel.objects.get(provider__name=provider_name, name=model_name)
    _, info = get_snapshot().find_provider_model(model_name, None, genai_provider, None)
    expected = info.get_prices(datetime.now(UTC))
    expected_input = Decimal(str(getattr(expected.input_mtok, "base", expected.input_mtok)))
    expected_output = Decimal(str(getattr(expected.output_mtok, "base", expected.output_mtok)))
    assert entry.price_source == "genai-prices"
    assert entry.input_price_per_1m == expected_input
    assert entry.output_price_per_1m == expected_output
    assert entry.input_price_per_1m > 0


def test_cost_per_token_env_prices_models_genai_prices_does_not_know(tmp_path, settings):
    settings.PROVIDER_COST_PER_TOKEN = {"localllm": Decimal("0.000002")}
    settings.PROVIDER_MAX_TOKENS = {"localllm": 1234}
    catalogue = tmp_path / "catalogue.yml"
    catalogue.write_text(
        "providers:\n"
        "  localllm:\n"
        "    kind: openai_compatible\n"
        "    base_url: http://127.0.0.1:11434/v1\n"
        "    models:\n"
        "      - name: house-model-7b\n"
    )
    catalogue_sync(path=catalogue)
    provider = Provider.objects.get(name="localllm")
    assert provider.max_tokens == 1234
    assert provider.fallback_cost_per_token == Decimal("0.000002")
    entry = ProviderModel.objects.get(name="house-model-7b")
    assert entry.price_source == "env"
    assert entry.input_price_per_1m == Decimal("2")
    assert entry.output_price_per_1m == Decimal("2")


def test_malformed_catalogue_is_a_clear_command_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("providers:\n  x:\n    kind: telepathy\n")
    with pytest.raises(Exception, match="kind"):
        call_command("sync_providers", "--file", str(bad), stdout=StringIO())
