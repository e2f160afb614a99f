"""create_api_key --scopes, and the development key that `make run` prints (never in production)."""

import os
import re
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from access.models import ApiKey
from access.services import api_key_hash
from tests.access.conftest import post_gate

ROOT = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"aip_[A-Za-z0-9_\-]{43}")

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.access.urls")]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_key_takes_scopes(client):
    secret = SECRET.search(run("create_api_key", "--name", "dash", "--scopes", "analytics")).group(0)
    assert ApiKey.objects.get(name="dash").scopes == ["analytics"]
    assert client.get("/api/v1/_test/analytics", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_create_api_key_refuses_an_unknown_scope():
    with pytest.raises(CommandError, match="Unknown scope"):
        run("create_api_key", "--name", "typo", "--scopes", "analytcs")
    assert not ApiKey.objects.filter(name="typo").exists()


@pytest.fixture
def dev_mode(settings, tmp_path):
    settings.DEVELOPMENT_MODE = True
    settings.VAR_DIR = tmp_path
    return tmp_path / "dev-api-key"


@pytest.fixture
def openai_with_key(monkeypatch):
    from providers.models import Provider

    Provider.objects.create(name="openai", kind="openai", api_key_env="OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def test_dev_key_is_created_once_and_shown_on_every_start(client, dev_mode, openai_with_key):
    first = run("ensure_dev_key")
    secret = SECRET.search(first).group(0)
    assert f'curl -H "Authorization: Bearer {secret}"' in first
    assert "localhost:8005/api/v1/completion" in first
    assert stat.S_IMODE(os.stat(dev_mode).st_mode) == 0o600
    assert ApiKey.objects.get(name="development").secret_sha256 == api_key_hash(secret)
    assert post_gate(client, secret).status_code == 200

    again = run("ensure_dev_key")
    assert secret in again
    assert ApiKey.objects.filter(name="development").count() == 1


def test_without_a_provider_key_the_example_is_one_that_works_without_one(client, dev_mode, monkeypatch):
    from providers.models import Provider

    Provider.objects.create(name="openai", kind="openai", api_key_env="OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    message = run("ensure_dev_key")
    secret = SECRET.search(message).group(0)
    assert f'curl -H "Authorization: Bearer {secret}" localhost:8005/api/v1/models' in message
    assert "/api/v1/completion" not in message
    assert "make demo" in message


def test_dev_key_without_its_file_says_how_to_get_a_new_secret(client, dev_mode):
    old = SECRET.search(run("ensure_dev_key")).group(0)
    dev_mode.unlink()
    message = run("ensure_dev_key")
    assert SECRET.search(message) is None
    assert "cannot be shown" in message
    assert "--rotate" in message

    new = SECRET.search(run("ensure_dev_key", "--rotate")).group(0)
    assert new != old
    assert post_gate(client, new).status_code == 200
    assert post_gate(client, old).status_code == 401


def test_production_mode_never_creates_a_dev_key(settings, tmp_path):
    settings.DEVELOPMENT_MODE = False
    settings.VAR_DIR = tmp_path
    assert "Production mode" in run("ensure_dev_key")
    assert not ApiKey.objects.exists()
    assert list(tmp_path.iterdir()) == []


def test_production_mode_from_the_environment_never_creates_a_dev_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEVELOPMENT_MODE", "SECRET_KEY"}}
    env.update(
        DJANGO_SETTINGS_MODULE="aiprovider_site.settings", AI_PROVIDER_ENV_FILE="/nonexistent",
        DEVELOPMENT_MODE="false", SECRET_KEY="x" * 64, AI_PROVIDER_VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "ensure_dev_key"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Production mode" in result.stdout
    assert SECRET.search(result.stdout) is None
    assert not (tmp_path / "dev-api-key").exists()
