"""Settings come from the environment; production refuses to start without a SECRET_KEY."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'cache': s.CACHES['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.CELERY_BROKER_URL, 'db': s.DATABASES['default']['ENGINE'], 'debug': s.DEBUG, "
    "'port': s.AI_PROVIDER_PORT, 'max_tokens': s.PROVIDER_MAX_TOKENS, "
    "'cost': {k: str(v) for k, v in s.PROVIDER_COST_PER_TOKEN.items()}}))"
)


def run_python(code: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEVELOPMENT_MODE", "AI_PROVIDER_PORT"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "aiprovider_site.settings", "AI_PROVIDER_ENV_FILE": "/nonexistent"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_without_secret_key_refuses_with_one_line_naming_it():
    result = run_python(PRINT_SETTINGS, DEVELOPMENT_MODE="false")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0]
    assert "Traceback" not in result.stderr


def test_production_with_secret_key_starts_without_debug():
    result = run_python(PRINT_SETTINGS, DEVELOPMENT_MODE="false", SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


def test_embedded_default_is_sqlite_local_memory_and_eager_tasks(tmp_path):
    result = run_python(PRINT_SETTINGS, AI_PROVIDER_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["cache"].endswith("LocMemCache")
    assert values["eager"] is True
    assert values["port"] == 8005


def test_redis_url_switches_cache_and_broker():
    result = run_python(PRINT_SETTINGS, REDIS_URL="redis://127.0.0.1:6379/5")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["cache"] == "django_redis.cache.RedisCache"
    assert values["broker"] == "redis://127.0.0.1:6379/5"
    assert values["eager"] is False


def test_provider_overrides_and_port_are_read_from_the_environment():
    result = run_python(
        PRINT_SETTINGS, OPENAI_MAX_TOKENS="2048", DEEPSEEK_COST_PER_TOKEN="0.0000011", AI_PROVIDER_PORT="9100"
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["max_tokens"]["openai"] == 2048
    assert values["cost"]["deepseek"] == "0.0000011"
    assert values["port"] == 9100


def test_env_file_is_read_and_process_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("AI_PROVIDER_PORT=9200\nANTHROPIC_MAX_TOKENS=1000\n")
    result = run_python(PRINT_SETTINGS, AI_PROVIDER_ENV_FILE=str(env_file), ANTHROPIC_MAX_TOKENS="3000")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["port"] == 9200
    assert values["max_tokens"]["anthropic"] == 3000


def test_env_example_documents_every_variable_the_settings_read():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    required = {
        "AI_PROVIDER_PORT", "LOG_LEVEL", "DEVELOPMENT_MODE", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
        "GOOGLE_AI_API_KEY", "DEEPSEEK_API_KEY", "REDIS_URL", "LANGFUSE_HOST", "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "OPENAI_MAX_TOKENS",
        "OPENAI_COST_PER_TOKEN",
    }
    settings_source = (ROOT / "aiprovider_site" / "settings.py").read_text()
    read_by_settings = {
        part.split('"')[1] for part in settings_source.split("env.")[1:] if part.split("(")[0] in
        {"str", "bool", "int", "list", "db"} and '"' in part
    }
    missing = (required | read_by_settings) - documented
    assert not missing, f".env.example does not document {sorted(missing)}"
