"""deploy/kubernetes/: the base and the production overlay, rendered (deploy/kubernetes/render.py, the
kustomize subset they use; compared with `kubectl kustomize` where kubectl exists), are valid against
the Kubernetes schemas (kubernetes-validate, strict), and what they run matches the project: image,
commands, port, user, environment variable names, probe paths."""

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
sys.path.insert(0, str(K8S))
import render  # noqa: E402

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
IMAGE = COMPOSE["x-app"]["image"].split(":")[0]  # ai-provider-service


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {
        str(directory.relative_to(K8S)): render.render(directory, example_secrets=True)
        for directory in render.kustomizations()
    }


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_there_is_a_base_and_a_production_overlay(rendered):
    assert set(rendered) == {"base", "overlays/production"}
    kinds = {(r["kind"], r["metadata"]["name"].rsplit("-", 1)[0] if r["kind"] == "Secret" else r["metadata"]["name"])
             for r in rendered["overlays/production"]}
    assert {
        ("Namespace", "ai-provider"), ("ConfigMap", "ai-provider-config"), ("Secret", "ai-provider-secrets"),
        ("Deployment", "ai-provider-web"), ("Deployment", "ai-provider-worker"), ("Deployment", "ai-provider-beat"),
        ("HorizontalPodAutoscaler", "ai-provider-web"), ("PodDisruptionBudget", "ai-provider-web"),
        ("Job", "ai-provider-migrate"), ("Service", "ai-provider-web"), ("Ingress", "ai-provider"),
    } == kinds


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(rendered, name):
    assert render.validate(rendered[name]) == []


def test_every_base_file_is_valid_on_its_own():
    for path in sorted((K8S / "base").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        assert render.validate(render._docs(path)) == [], path


def test_the_schema_check_catches_broken_manifests(rendered):
    broken = copy.deepcopy(by_kind(rendered["base"], "Deployment")["ai-provider-web"])
    broken["spec"]["replicas"] = "three"
    pod_spec(broken)["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health"  # unknown field
    hpa = copy.deepcopy(by_kind(rendered["base"], "HorizontalPodAutoscaler")["ai-provider-web"])
    del hpa["spec"]["maxReplicas"]
    errors = render.validate([broken, hpa])
    assert len(errors) == 2 and any("three" in e for e in errors), errors


def test_the_command_line_check_passes():
    result = subprocess.run(
        [sys.executable, str(K8S / "render.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" valid (Kubernetes") == 2


def test_the_production_overlay_will_not_render_without_its_secrets():
    assert not (K8S / "overlays" / "production" / "secrets.env").exists()
    with pytest.raises(render.RenderError, match="secrets.env does not exist"):
        render.render(K8S / "overlays" / "production")
    assert "deploy/kubernetes/overlays/*/secrets.env" in (ROOT / ".gitignore").read_text()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (nor needed)")
def test_the_renderer_writes_what_kubectl_kustomize_writes(rendered, tmp_path):
    overlay = tmp_path / "kubernetes"
    shutil.copytree(K8S, overlay, ignore=shutil.ignore_patterns("__pycache__"))
    production = overlay / "overlays" / "production"
    shutil.copy(production / "secrets.env.example", production / "secrets.env")
    for name, directory in (("base", overlay / "base"), ("overlays/production", production)):
        out = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        assert [d for d in yaml.safe_load_all(out) if d] == rendered[name], name


# ------------------------------------------------------------------------ matches the project


def env_names_the_project_reads() -> set[str]:
    settings_py = (ROOT / "aiprovider_site" / "settings.py").read_text()
    gunicorn = (ROOT / "gunicorn.conf.py").read_text()
    names = set(re.findall(r'env\.(?:str|int|bool|float|list|db)\(\s*"([A-Z0-9_]+)"', settings_py))
    names |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z0-9_]+)["']""", settings_py + gunicorn))
    catalogue = yaml.safe_load(settings.PROVIDER_CATALOGUE_PATH.read_text())
    names |= {p["api_key_env"] for p in catalogue["providers"].values()}
    names.add("PROMETHEUS_MULTIPROC_DIR")  # read by prometheus-client (analytics/metrics.py)
    return names


def configuration(resources: list[dict]) -> tuple[dict[str, str], set[str]]:
    (config,) = by_kind(resources, "ConfigMap").values()
    (secret,) = by_kind(resources, "Secret").values()
    return config["data"], set(secret["data"])


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_images_commands_and_users_match_the_dockerfile_and_compose(rendered, name):
    resources = rendered[name]
    deployments = by_kind(resources, "Deployment")
    (job,) = by_kind(resources, "Job").values()
    expected_image = IMAGE if name == "base" else "registry.example.com/ai-provider-service"
    uid = int(re.search(r"useradd [^\n]*--uid (\d+)", DOCKERFILE).group(1))
    for workload in [*deployments.values(), job]:
        assert pod_spec(workload)["securityContext"]["runAsUser"] == uid
        for container in containers(workload):
            assert container["image"].rsplit(":", 1)[0] == expected_image, container["name"]

    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    web = deployments["ai-provider-web"]
    assert pod_spec(web)["containers"][0]["command"] == cmd
    compose = COMPOSE["services"]
    assert pod_spec(deployments["ai-provider-worker"])["containers"][0]["command"] == compose["celery-worker"]["command"]
    beat = pod_spec(deployments["ai-provider-beat"])["containers"][0]["command"]
    assert beat[: len(compose["celery-beat"]["command"])] == compose["celery-beat"]["command"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == compose["migrate"]["command"]
    # Every manage.py command a container runs exists.
    commands = get_commands()
    for workload in [*deployments.values(), job]:
        for container in containers(workload):
            for used in re.findall(r"manage\.py (\w+)", " ".join(container["command"])):
                assert used in commands, used


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_environment_names_are_ones_the_project_reads(rendered, name):
    resources = rendered[name]
    config, secret_keys = configuration(resources)
    known = env_names_the_project_reads()
    names = set(config) | secret_keys
    for workload in [*by_kind(resources, "Deployment").values(), *by_kind(resources, "Job").values()]:
        for container in containers(workload):
            names |= {e["name"] for e in container.get("env", [])}
            refs = {(k, v["name"]) for src in container["envFrom"] for k, v in src.items()}
            assert refs == {("configMapRef", "ai-provider-config"),
                            ("secretRef", by_kind(resources, "Secret").popitem()[0])}, container["name"]
    assert names - known == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= secret_keys  # external PostgreSQL and Redis by URL
    assert config["DEVELOPMENT_MODE"] == "false"


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_probes_ports_and_selectors_fit_the_service(rendered, name):
    resources = rendered[name]
    config, _ = configuration(resources)
    web = by_kind(resources, "Deployment")["ai-provider-web"]
    container = pod_spec(web)["containers"][0]
    exposed = int(re.search(r"^EXPOSE (\d+)", DOCKERFILE, re.M).group(1))
    assert container["ports"] == [{"name": "http", "containerPort": exposed}]
    assert int(config["AI_PROVIDER_PORT"]) == exposed
    allowed_hosts = config["ALLOWED_HOSTS"].split(",")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health" and get["port"] == "http"
        assert resolve(get["path"]).url_name == "health"
        host = {h["name"]: h["value"] for h in get["httpHeaders"]}["Host"]
        assert host in allowed_hosts  # else Django answers the probe 400 (DisallowedHost)
    # Plain HTTP from the kubelet is never redirected to HTTPS (production settings).
    assert 'SECURE_REDIRECT_EXEMPT = [r"^health$"' in (ROOT / "aiprovider_site" / "settings.py").read_text()
    # Longer than gunicorn's graceful timeout, so streams finish on shutdown.
    assert pod_spec(web)["terminationGracePeriodSeconds"] > settings.ROUTING_DEADLINE_S + 30
    # Read-only root filesystem: /tmp (AI_PROVIDER_VAR_DIR, Prometheus, gunicorn) is a volume.
    assert "AI_PROVIDER_VAR_DIR=/tmp/" in DOCKERFILE and config["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    for workload in [*by_kind(resources, "Deployment").values(), *by_kind(resources, "Job").values()]:
        for c in containers(workload):
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]

    labels = web["spec"]["template"]["metadata"]["labels"]
    service = by_kind(resources, "Service")["ai-provider-web"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = by_kind(resources, "PodDisruptionBudget")["ai-provider-web"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = by_kind(resources, "HorizontalPodAutoscaler")["ai-provider-web"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-provider-web"}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    beat = by_kind(resources, "Deployment")["ai-provider-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}


def test_the_ingress_routes_to_the_service_and_its_host_is_allowed(rendered):
    resources = rendered["overlays/production"]
    config, _ = configuration(resources)
    ingress = by_kind(resources, "Ingress")["ai-provider"]
    rule = ingress["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "ai-provider-web", "port": {"name": "http"}}
    assert rule["host"] in config["ALLOWED_HOSTS"].split(",")
    assert f"https://{rule['host']}" in config["CSRF_TRUSTED_ORIGINS"].split(",")
    assert all(r["metadata"].get("namespace") == "ai-provider" for r in resources if r["kind"] != "Namespace")
