"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs on these
machines): the compose file against the Compose Specification's JSON schema, and every command a
container runs against what the project actually has."""

import copy
import json
import re
import shlex
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = {"ai-provider", "celery-worker", "celery-beat", "postgres", "redis"}


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    # The Compose Specification's schema, as vendored (with its licence and checksum) by the
    # check-jsonschema package: no network needed.
    source = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(source.read_text())


def validate(document: dict, schema: dict) -> list[str]:
    validator_cls = jsonschema.validators.validator_for(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator_cls(schema).iter_errors(document)]


def test_compose_file_is_valid_against_the_compose_specification(compose_schema):
    assert validate(COMPOSE, compose_schema) == []


def test_the_schema_check_catches_a_broken_file(compose_schema):
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["ai-provider"]["restart"] = ["sometimes"]
    broken["services"]["redis"]["healthcheck"]["interval"] = {"seconds": 5}
    assert len(validate(broken, compose_schema)) >= 2


def test_the_stack_has_its_services_on_the_shared_network():
    services = COMPOSE["services"]
    assert SERVICES <= set(services)
    assert COMPOSE["networks"]["trading-microservices"]["name"] == "trading-microservices"
    for name in SERVICES:
        assert "trading-microservices" in services[name]["networks"], name


def test_the_gateway_service_is_healthchecked_and_restarts_on_failure():
    gateway = COMPOSE["services"]["ai-provider"]
    assert gateway["healthcheck"]["start_period"] == "45s"
    assert "/health" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["restart"] == "on-failure"
    assert any(port.endswith(":${AI_PROVIDER_PORT:-8005}") for port in gateway["ports"])
    # Migrations and the catalogue run once, before the gateway and the workers start.
    for name in ("ai-provider", "celery-worker", "celery-beat"):
        assert (
            COMPOSE["services"][name]["depends_on"]["migrate"]["condition"]
            == "service_completed_successfully"
        )


def commands_of(service: dict) -> list[list[str]]:
    command = service.get("command")
    if command is None:
        return []
    if isinstance(command, str):
        command = shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in command[2].split("&&")]
    return [command]


@pytest.mark.parametrize("name", sorted(set(COMPOSE["services"]) - {"postgres", "redis"}))
def test_every_service_command_exists_in_the_project(name):
    django_commands = get_commands()
    commands = commands_of(COMPOSE["services"][name])
    assert commands, f"{name} has no command"
    for argv in commands:
        program = argv[0]
        if program == "python" and argv[1] == "manage.py":
            assert argv[2] in django_commands, f"{name}: no management command {argv[2]!r}"
        elif program == "gunicorn":
            config = argv[argv.index("-c") + 1]
            assert (ROOT / config).is_file(), config
            module, _, attribute = argv[-1].partition(":")
            assert hasattr(__import__(module, fromlist=[attribute]), attribute)
        elif program == "celery":
            app_module = argv[argv.index("-A") + 1]
            assert hasattr(__import__(app_module), "celery_app")
            assert argv[3] in {"worker", "beat"}
        else:
            pytest.fail(f"{name}: unexpected program {program!r}")


def test_dockerfile_is_multi_stage_non_root_and_healthchecked():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) == 2
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    assert "collectstatic" in dockerfile
    assert re.search(r"^HEALTHCHECK .*", dockerfile, re.MULTILINE)
    assert "/health" in dockerfile
    assert re.search(r"^EXPOSE 8005$", dockerfile, re.MULTILINE)
    for copied in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.MULTILINE):
        assert (ROOT / copied).exists(), f"the Dockerfile copies {copied}, which is not in the project"
