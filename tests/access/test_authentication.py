"""Every API endpoint needs a client key; bad, revoked and deleted keys get a 401 envelope."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis import Redis

from access.key_cache import VERSION_KEY
from access.models import ApiKey
from access.services import api_key_hash, api_key_revoke
from tests.access.conftest import bearer, post_gate

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.access.urls")]

ENVELOPE_KEYS = {"error", "error_code", "timestamp", "request_id", "context"}


def assert_401(response, *, reason: str) -> dict:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error_code"] == "AUTHENTICATION_FAILED"
    assert body["context"]["reason"] == reason
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_no_key_is_a_401_envelope_that_says_how_to_send_one(client):
    body = assert_401(post_gate(client, None, path="/api/v1/_test/gate"), reason="missing")
    assert "Authorization: Bearer" in body["error"]
    assert "X-API-Key" in body["error"]


def test_no_key_on_v1_is_a_401_in_openai_shape(client):
    response = post_gate(client, None, path="/v1/_test/gate")
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "authentication_failed")
    assert "Authorization: Bearer" in error["message"]
    assert error["context"]["reason"] == "missing"


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer aip_not-a-key-we-issued-000000000000000000000"},
        {"HTTP_X_API_KEY": "aip_not-a-key-we-issued-000000000000000000000"},
        {"HTTP_AUTHORIZATION": "Bearer "},
    ],
)
def test_unknown_key_is_a_401_that_does_not_echo_the_key(client, make_key, headers):
    make_key()
    response = client.post("/api/v1/_test/gate", {}, content_type="application/json", **headers)
    assert_401(response, reason="invalid")
    assert b"not-a-key-we-issued" not in response.content


@pytest.mark.parametrize(
    "header", [("HTTP_AUTHORIZATION", "Bearer {}"), ("HTTP_AUTHORIZATION", "bearer {}"), ("HTTP_X_API_KEY", "{}")]
)
def test_both_header_styles_authenticate(client, make_key, header):
    api_key, secret = make_key(name="billing")
    name, template = header
    response = client.post("/api/v1/_test/gate", {}, content_type="application/json", **{name: template.format(secret)})
    assert response.status_code == 200, response.content
    assert response.json() == {"key": "billing", "user": "api-key:billing"}


def test_a_plain_sync_drf_view_uses_the_same_defaults(client, make_key):
    _, secret = make_key(name="plain")
    assert_401(client.get("/api/v1/_test/plain"), reason="missing")
    response = client.get("/api/v1/_test/plain", **bearer(secret))
    assert response.status_code == 200
    assert response.json() == {"key": "plain"}


def test_revoked_key_stops_working_at_once(client, make_key, store, settings):
    settings.ACCESS_KEY_CACHE_TTL_S = 300  # the cache is warm and long-lived: revocation must clear it
    api_key, secret = make_key()
    assert post_gate(client, secret).status_code == 200
    api_key_revoke(api_key=api_key)
    assert_401(post_gate(client, secret), reason="invalid")


def test_deleted_key_stops_working_at_once(client, make_key, store, settings):
    settings.ACCESS_KEY_CACHE_TTL_S = 300
    api_key, secret = make_key()
    assert post_gate(client, secret).status_code == 200
    api_key.delete()
    assert_401(post_gate(client, secret), reason="invalid")


def test_revoked_in_the_admin_list_stops_working(admin_client, client, make_key, store):
    api_key, secret = make_key(name="etl")
    assert post_gate(client, secret).status_code == 200
    response = admin_client.post(
        "/admin/access/apikey/", {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )
    assert response.status_code == 302
    assert not ApiKey.objects.get(pk=api_key.pk).active
    assert_401(post_gate(client, secret), reason="invalid")


def test_a_revocation_on_another_worker_reaches_this_one_through_redis(client, make_key, settings, redis_url):
    """Another worker revokes: the row changes under us and that worker bumps the version."""
    settings.REDIS_URL = redis_url
    Redis.from_url(redis_url).flushdb()
    settings.ACCESS_KEY_CACHE_TTL_S = 300
    settings.ACCESS_KEY_VERSION_CHECK_S = 0.2
    api_key, secret = make_key()
    assert post_gate(client, secret).status_code == 200

    ApiKey.objects.filter(pk=api_key.pk).update(active=False)  # no signal in this process
    assert post_gate(client, secret).status_code == 200  # this worker still holds it in memory

    Redis.from_url(redis_url).incr(VERSION_KEY)  # what the other worker's signal does after commit
    time.sleep(0.25)
    assert_401(post_gate(client, secret), reason="invalid")


def test_saving_a_key_bumps_the_shared_version_after_commit(make_key, settings, redis_url,
                                                           django_capture_on_commit_callbacks):
    settings.REDIS_URL = redis_url
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    api_key, _ = make_key()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)
    assert redis.get(VERSION_KEY) == b"1"
    with django_capture_on_commit_callbacks(execute=True):
        api_key.delete()
    assert redis.get(VERSION_KEY) == b"2"


def test_without_the_version_signal_the_cache_ttl_still_bounds_a_revocation(client, make_key, settings):
    """Several processes without Redis, or an UPDATE behind the model's back: the TTL bounds it."""
    settings.REDIS_URL = ""
    settings.ACCESS_KEY_CACHE_TTL_S = 1
    api_key, secret = make_key()
    assert post_gate(client, secret).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(active=False)
    assert post_gate(client, secret).status_code == 200
    time.sleep(1.1)
    assert_401(post_gate(client, secret), reason="invalid")


def test_a_warm_key_costs_no_database_query(client, make_key, store):
    _, secret = make_key()
    assert post_gate(client, secret).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert post_gate(client, secret).status_code == 200
    assert [q["sql"] for q in queries.captured_queries] == []


def test_a_flood_of_one_bad_key_queries_the_database_once(client, make_key, store):
    make_key()
    assert post_gate(client, "aip_flood-of-bad-keys").status_code == 401
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert post_gate(client, "aip_flood-of-bad-keys").status_code == 401
    assert queries.captured_queries == []


def test_a_new_key_works_at_once_even_after_its_secret_was_refused(client, store, db):
    secret = "aip_chosen-secret-for-this-test-0000000000000000"
    assert_401(post_gate(client, secret), reason="invalid")  # now cached as unknown
    ApiKey.objects.create(name="late", prefix=secret[:12], secret_sha256=api_key_hash(secret))
    assert post_gate(client, secret).status_code == 200


def test_last_used_at_is_written_once_a_minute_not_per_request(client, make_key, store):
    api_key, secret = make_key()
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None
    assert post_gate(client, secret).status_code == 200
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    assert first is not None
    assert post_gate(client, secret).status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first


def test_a_staff_session_is_not_a_client_key(admin_client):
    assert_401(post_gate(admin_client, None), reason="missing")


def test_analytics_accept_a_scoped_key_or_a_staff_session(client, admin_client, make_key, django_user_model):
    _, scoped = make_key(scopes=["analytics"])
    _, plain = make_key()
    assert client.get("/api/v1/_test/analytics", **bearer(scoped)).status_code == 200
    refused = client.get("/api/v1/_test/analytics", **bearer(plain))
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "INSUFFICIENT_SCOPE"
    assert refused.json()["context"]["required_scope"] == "analytics"
    assert admin_client.get("/api/v1/_test/analytics").status_code == 200

    user = django_user_model.objects.create_user("viewer", password="pw-for-tests-only")
    client.force_login(user)
    assert client.get("/api/v1/_test/analytics").json()["error_code"] == "PERMISSION_DENIED"
    client.logout()
    assert_401(client.get("/api/v1/_test/analytics"), reason="missing")
