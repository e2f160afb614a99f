"""The provider admin for operators, through Django's test client: live figures, one-click
enable/disable and priority edits that bump the catalogue version, protocol names, capabilities as
checkboxes writing `lacks`, aliases and a key's allowed models as multi-value fields."""

import asyncio
import re
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from access.models import ApiKey
from analytics.models import UsageRecord
from core.shared_state import shared_state
from providers.catalogue import VERSION_KEY
from providers.models import Provider, ProviderModel
from routing.breaker import breaker_open
from routing.stats import stats_record

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/providers/provider/"


@pytest.fixture
def catalogue():
    call_command("sync_providers", stdout=StringIO())


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def version() -> int:
    async def read() -> str | None:
        # Inside the loop: with Redis, the shared state belongs to the running event loop.
        return await shared_state().get(VERSION_KEY)

    return int(asyncio.run(read()) or 0)


def cell(html: str, provider: str, figure: str) -> str:
    match = re.search(rf'<span data-live="{provider}:{figure}">(.*?)</span>(?=</td>)', html, re.S)
    assert match, f"no {figure} cell for {provider}"
    return re.sub(r"<[^>]+>", " ", match.group(1)).split()


def initial_data(form, prefix: str = "", skip=()) -> dict:
    """What a browser would post for an unchanged form (every field but `skip`)."""
    data = {}
    for name, field in form.fields.items():
        if name in skip:
            continue
        key = f"{prefix}-{name}" if prefix else name
        value = form.initial.get(name, field.initial)
        if callable(value):
            value = value()
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        elif hasattr(value, "pk"):
            data[key] = str(value.pk)
        elif value is not None:
            data[key] = str(value)
    return data


def test_the_list_shows_live_figures_that_follow_traffic(staff, catalogue, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    html = staff.get(CHANGELIST).content.decode()
    assert cell(html, "openai", "requests_1h") == ["0"]
    assert cell(html, "openai", "success_rate") == ["no", "calls"]
    assert cell(html, "openai", "breaker") == ["closed"]
    assert cell(html, "openai", "health") == ["not", "probed"]
    assert cell(html, "google", "health") == ["no", "key"]  # GOOGLE_AI_API_KEY is not set

    async def traffic():
        for ok in (True, True, True, False):
            await stats_record(provider="openai", ok=ok, latency_ms=100)
        await breaker_open(provider="anthropic", until=time.time() + 60)
        await shared_state().hset("health:status", {"openai": "healthy"})

    asyncio.run(traffic())
    for latency in range(1, 21):
        UsageRecord.objects.create(
            request_id=f"r{latency}", provider="openai", model="gpt-4o-mini", status="success",
            latency_ms=latency * 10,
        )
    UsageRecord.objects.create(request_id="e", provider="openai", model="gpt-4o-mini", status="error")

    html = staff.get(CHANGELIST).content.decode()
    assert cell(html, "openai", "requests_1h") == ["21", "1", "errors"]
    assert cell(html, "openai", "p95") == ["190", "ms"]  # nearest rank of 0, 10 ... 200 ms
    assert cell(html, "openai", "success_rate") == ["75.0%", "4", "calls,", "1", "min"]
    assert cell(html, "anthropic", "breaker")[0] == "open"
    # The refresh the page polls returns the same cells.
    live = staff.get(reverse("admin:providers_provider_live")).json()
    assert "75.0%" in live["providers"]["openai"]["success_rate"]
    assert ">open<" in live["providers"]["anthropic"]["breaker"]


def test_the_live_figures_are_for_staff_only(client, catalogue, django_user_model):
    assert client.get(reverse("admin:providers_provider_live")).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert client.get(reverse("admin:providers_provider_live")).status_code == 302


def test_deepseek_is_named_for_its_dialect(staff, catalogue):
    html = staff.get(CHANGELIST).content.decode()
    assert "DeepSeek (OpenAI protocol)" in html
    deepseek = Provider.objects.get(name="deepseek")
    change = staff.get(f"{CHANGELIST}{deepseek.pk}/change/").content.decode()
    assert "adapter dialect &#x27;deepseek&#x27;" in change


def test_one_click_disable_and_enable_bump_the_catalogue_version(staff, catalogue):
    openai = Provider.objects.get(name="openai")
    url = reverse("admin:providers_provider_toggle", args=[openai.pk])
    assert staff.get(url).status_code == 405
    before = version()
    response = staff.post(url)
    assert response.status_code == 302 and response["Location"] == CHANGELIST
    assert not Provider.objects.get(pk=openai.pk).enabled
    assert version() > before
    page = staff.get(CHANGELIST).content.decode()
    assert "Provider openai disabled" in page
    assert re.search(rf'formaction="{url}"[^>]*>Enable</button>', page)
    staff.post(url)
    assert Provider.objects.get(pk=openai.pk).enabled


def test_toggling_needs_change_permission(client, catalogue, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client.force_login(viewer)
    openai = Provider.objects.get(name="openai")
    assert client.post(reverse("admin:providers_provider_toggle", args=[openai.pk])).status_code == 403
    assert Provider.objects.get(pk=openai.pk).enabled


def test_bulk_actions_save_each_provider(staff, catalogue):
    before = version()
    ids = list(Provider.objects.filter(name__in=["google", "deepseek"]).values_list("pk", flat=True))
    staff.post(CHANGELIST, {"action": "disable_providers", "_selected_action": ids})
    assert set(Provider.objects.filter(enabled=False).values_list("name", flat=True)) == {"google", "deepseek"}
    assert version() > before


def test_a_priority_edit_in_the_list_bumps_the_catalogue_version(staff, catalogue):
    providers = list(Provider.objects.order_by("priority", "name"))
    data = {
        "form-TOTAL_FORMS": str(len(providers)), "form-INITIAL_FORMS": str(len(providers)),
        "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000", "_save": "Save",
    }
    for index, provider in enumerate(providers):
        data[f"form-{index}-id"] = str(provider.pk)
        data[f"form-{index}-priority"] = "1" if provider.name == "anthropic" else str(provider.priority)
        data[f"form-{index}-weight"] = str(provider.weight)
    before = version()
    response = staff.post(CHANGELIST, data)
    assert response.status_code == 302, response.content[:3000]
    assert Provider.objects.get(name="anthropic").priority == 1
    assert version() > before


def test_capabilities_are_checkboxes_that_write_lacks(staff, catalogue):
    model = ProviderModel.objects.get(provider__name="deepseek", name="deepseek-chat")
    url = f"/admin/providers/providermodel/{model.pk}/change/"
    page = staff.get(url).content.decode()
    ticked = set(re.findall(r'name="lacks" value="([^"]+)"[^>]*checked', page))
    assert ticked == {"tools", "response_format.json_object", "reasoning_effort"}  # deepseek-chat lacks images
    assert "JSON schema (not in protocol)" in page  # DeepSeek's dialect cannot carry it

    form = initial_data(staff.get(url).context["adminform"].form, skip={"lacks"})
    form.update({
        "aliases": ["deepseek-v3", "ds-chat"], "lacks": ["tools", "image_url"], "lacks__other": ["logprobs"],
        "_save": "Save",
    })
    response = staff.post(url, form)
    assert response.status_code == 302, re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode())
    model.refresh_from_db()
    assert sorted(model.lacks) == ["logprobs", "reasoning_effort", "response_format.json_object"]
    assert model.aliases == ["deepseek-v3", "ds-chat"]
    listing = staff.get("/admin/providers/providermodel/?q=deepseek-chat").content.decode()
    assert 'class="cap cap-no" title="lacks reasoning_effort"' in listing
    assert "no logprobs" in listing


def test_the_provider_page_edits_its_models_capabilities_and_aliases(staff, catalogue):
    openai = Provider.objects.get(name="openai")
    page = staff.get(f"{CHANGELIST}{openai.pk}/change/")
    formset = page.context["inline_admin_formsets"][0].formset
    data = {
        "name": openai.name, "kind": openai.kind, "base_url": openai.base_url, "enabled": "on",
        "api_key_env": openai.api_key_env, "priority": str(openai.priority), "weight": str(openai.weight),
        "timeout_s": str(openai.timeout_s), "max_tokens": str(openai.max_tokens),
        "max_retries": str(openai.max_retries), "_save": "Save",
        f"{formset.prefix}-TOTAL_FORMS": str(len(formset.forms)),
        f"{formset.prefix}-INITIAL_FORMS": str(len(formset.forms)),
        f"{formset.prefix}-MIN_NUM_FORMS": "0", f"{formset.prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, form in enumerate(formset.forms):
        prefix = f"{formset.prefix}-{index}"
        model = form.instance
        data.update(initial_data(form, prefix, skip={"id", "provider", "DELETE", "lacks", "aliases"}))
        data.update({f"{prefix}-id": str(model.pk), f"{prefix}-provider": str(openai.pk)})
        takes = ["tools", "image_url", "response_format.json_schema", "response_format.json_object",
                 "reasoning_effort"]
        if model.name == "gpt-4o-mini":
            data[f"{prefix}-aliases"] = ["chat-default", "mini"]
            takes = ["tools", "image_url"]
        else:
            data[f"{prefix}-aliases"] = list(model.aliases)
        data[f"{prefix}-lacks"] = [t for t in takes if t not in model.lacks]
    response = staff.post(f"{CHANGELIST}{openai.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    mini = ProviderModel.objects.get(provider=openai, name="gpt-4o-mini")
    assert mini.aliases == ["chat-default", "mini"]
    assert sorted(mini.lacks) == ["reasoning_effort", "response_format.json_object", "response_format.json_schema"]
    assert ProviderModel.objects.get(provider=openai, name="gpt-3.5-turbo").lacks == ["image_url"]


def test_a_keys_allowed_models_are_picked_from_the_catalogue(staff, catalogue):
    page = staff.get("/admin/access/apikey/add/").content.decode()
    assert 'class="selectfilter"' in page  # Django's two-list selector
    assert '<option value="claude-haiku">claude-haiku (alias of anthropic/claude-haiku-4-5)</option>' in page
    response = staff.post(
        "/admin/access/apikey/add/",
        {"name": "billing", "active": "on", "allowed_models": ["gpt-4o-mini", "claude-haiku"]},
    )
    assert response.status_code == 200  # the page that shows the secret once
    key = ApiKey.objects.get(name="billing")
    assert key.allowed_models == ["gpt-4o-mini", "claude-haiku"]
    # A name the catalogue no longer has stays selectable (and selected) rather than being dropped.
    ApiKey.objects.filter(pk=key.pk).update(allowed_models=["gpt-4o-mini", "retired-model"])
    change = staff.get(f"/admin/access/apikey/{key.pk}/change/").content.decode()
    assert re.search(r'<option value="retired-model" selected>retired-model \(not in the catalogue\)', change)
