"""Production mode passes Django's deployment checks with no warning."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_deploy(*extra: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DEVELOPMENT_MODE", "SECRET_KEY", "DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="aiprovider_site.settings", AI_PROVIDER_ENV_FILE="/nonexistent",
        DEVELOPMENT_MODE="false", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="gateway.example.com",
        AI_PROVIDER_VAR_DIR=str(tmp_path), STATIC_ROOT=str(tmp_path / "static"),
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_security_settings_pass_check_deploy(tmp_path):
    result = check_deploy("--tag", "security", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_passes_the_whole_check_deploy(tmp_path):
    result = check_deploy(tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
