"""Operators set a key's scopes and revoke keys in the admin."""

import re

import pytest

from access.models import ApiKey
from tests.access.conftest import post_gate

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.access.urls")]


def test_scopes_are_chosen_in_the_admin(admin_client, client):
    response = admin_client.post(
        "/admin/access/apikey/add/",
        {"name": "dashboards", "active": "on", "scopes": ["analytics"]},
    )
    assert response.status_code == 200, response.content[:2000]
    secret = re.search(r"aip_[A-Za-z0-9_\-]{43}", response.content.decode()).group(0)
    key = ApiKey.objects.get(name="dashboards")
    assert key.scopes == ["analytics"]
    assert client.get("/api/v1/_test/analytics", HTTP_X_API_KEY=secret).status_code == 200

    change = admin_client.get(f"/admin/access/apikey/{key.pk}/change/").content.decode()
    assert re.search(r'<input[^>]*name="scopes"[^>]*value="analytics"[^>]*checked', change)


def test_a_model_the_catalogue_does_not_have_is_refused(admin_client):
    # Allowed models are picked from the catalogue (access/admin_models.py), not typed as JSON.
    response = admin_client.post(
        "/admin/access/apikey/add/", {"name": "bad", "active": "on", "allowed_models": ["gpt-4o"]}
    )
    assert response.status_code == 200
    assert not ApiKey.objects.filter(name="bad").exists()
    assert "Select a valid choice" in response.content.decode()


def test_unticking_active_in_the_list_revokes_the_key(admin_client, client, make_key):
    api_key, secret = make_key(name="etl")
    assert post_gate(client, secret).status_code == 200
    response = admin_client.post(
        "/admin/access/apikey/",
        {
            "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000", "form-0-id": str(api_key.pk), "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert not ApiKey.objects.get(pk=api_key.pk).active
    assert post_gate(client, secret).status_code == 401
