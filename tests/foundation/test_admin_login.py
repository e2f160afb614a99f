"""Admin login throttling: repeated failures lock a username or an address out for a while, and an
operator who types the right password is not affected."""

import time

import pytest

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "right-password-for-tests"


@pytest.fixture
def operators(django_user_model):
    for name in ("operator", "colleague", "third"):
        django_user_model.objects.create_superuser(name, f"{name}@example.com", PASSWORD)


def login(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_a_normal_login_works(client, operators):
    assert logged_in(login(client, "operator", PASSWORD))
    assert client.get("/admin/").status_code == 200


def test_the_nth_failure_locks_the_username_even_with_the_right_password(client, operators, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    for _ in range(5):
        response = login(client, "operator", "wrong")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    refused = login(client, "operator", PASSWORD)
    assert not logged_in(refused)
    assert "Too many failed logins" in refused.content.decode()
    assert client.get("/admin/").status_code == 302  # not logged in
    # Another address does not help: the username itself is locked.
    assert not logged_in(login(client, "OPERATOR", PASSWORD, address="10.0.0.7"))
    # A colleague from the same address logs in as usual.
    assert logged_in(login(client, "colleague", PASSWORD))


def test_the_lock_ends_with_its_window(client, operators, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    settings.ADMIN_LOGIN_LOCKOUT_S = 6  # the window starts at the first failure
    login(client, "operator", "wrong")
    first_failure_recorded = time.monotonic()
    for _ in range(2):
        login(client, "operator", "wrong")
    assert not logged_in(login(client, "operator", PASSWORD))
    time.sleep(max(0.0, first_failure_recorded + 6.3 - time.monotonic()))
    assert logged_in(login(client, "operator", PASSWORD))


def test_an_address_guessing_many_usernames_is_locked_out(client, operators, settings):
    settings.ADMIN_LOGIN_ADDRESS_MAX_FAILURES = 6
    for index in range(6):
        login(client, f"guess-{index}", "wrong", address="203.0.113.9")
    refused = login(client, "third", PASSWORD, address="203.0.113.9")
    assert not logged_in(refused)
    assert "Too many failed logins" in refused.content.decode()
    assert logged_in(login(client, "third", PASSWORD, address="127.0.0.1"))


def test_a_success_clears_the_usernames_count(client, operators, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    login(client, "operator", "wrong")
    login(client, "operator", "wrong")
    assert logged_in(login(client, "operator", PASSWORD))
    client.logout()
    login(client, "operator", "wrong")
    login(client, "operator", "wrong")
    assert logged_in(login(client, "operator", PASSWORD))
