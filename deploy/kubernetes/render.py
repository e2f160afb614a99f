#!/usr/bin/env python3
"""Render a kustomization under deploy/kubernetes/ to plain manifests, and validate them.

`kubectl apply -k` (kubectl's built-in kustomize) is the way to deploy; this is for machines
without kubectl (CI, this project's development machines) and for reviewing what an overlay makes.
It implements the part of kustomize these manifests use, and refuses anything else rather than
rendering it wrongly:

    resources (files and directories), namespace, labels (includeTemplates; not includeSelectors),
    images, replicas, patches (strategic merge, found by kind and name), configMapGenerator and
    secretGenerator (envs, literals; behavior create, merge, replace) with kustomize's name-hash
    suffix and the references to generated names rewritten.

    python deploy/kubernetes/render.py [KUSTOMIZATION_DIR]     # default: overlays/production
    python deploy/kubernetes/render.py --check                   # render base and every overlay,
                                                                 # validate against the schemas

Missing `secrets.env` files (git-ignored) make the render fail as kustomize does, unless
`--example-secrets` (implied by --check) reads `secrets.env.example` instead.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.33.0"

SUPPORTED_KEYS = {
    "apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches",
    "configMapGenerator", "secretGenerator", "generatorOptions",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "StorageClass", "PersistentVolume", "PriorityClass", "IngressClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
# kustomize's default ("legacy") output order.
ORDER_FIRST = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
    "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
    "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
# Strategic merge: the key that identifies an item of these lists (others are replaced whole).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
    "volumeMounts": "mountPath", "imagePullSecrets": "name", "topologySpreadConstraints": "topologyKey",
}
GENERATED = "__generated__"


class RenderError(Exception):
    pass


# --------------------------------------------------------------------------------------- helpers


def _docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _key(resource: dict) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def _find(resources: list[dict], kind: str, name: str) -> dict:
    for resource in resources:
        if _key(resource) == (kind, name):
            return resource
    raise RenderError(f"no {kind} {name!r} to change")


def strategic_merge(target, patch, field: str | None = None):
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(target, list) and isinstance(patch, list) and field in MERGE_KEYS:
        merge_key = MERGE_KEYS[field]
        merged = [copy.deepcopy(item) for item in target]
        for item in patch:
            for index, existing in enumerate(merged):
                if existing.get(merge_key) == item.get(merge_key):
                    merged[index] = strategic_merge(existing, item, None)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _env_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise RenderError(f"{path}: not KEY=VALUE: {line!r}")
        pairs.append((name.strip(), value))
    return pairs


def _env_file(directory: Path, name: str, example_secrets: bool) -> Path:
    path = directory / name
    if path.is_file():
        return path
    example = directory / f"{name}.example"
    if example_secrets and example.is_file():
        return example
    raise RenderError(f"{path} does not exist (copy {example.name} to it and fill it in)")


def _generate(directory: Path, kind: str, spec: dict, options: dict, example_secrets: bool) -> dict:
    unknown = set(spec) - {"name", "envs", "literals", "behavior", "options", "type"}
    if unknown:
        raise RenderError(f"{kind} generator: unsupported {sorted(unknown)}")
    values: dict[str, str] = {}
    for env in spec.get("envs", []):
        values.update(_env_pairs(_env_file(directory, env, example_secrets)))
    for literal in spec.get("literals", []):
        name, _, value = literal.partition("=")
        values[name] = value
    resource = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        resource["type"] = spec.get("type", "Opaque")
        resource["data"] = {k: _base64(v) for k, v in values.items()}
    else:
        resource["data"] = values
    options = {**options, **spec.get("options", {})}
    resource[GENERATED] = {"hash": not options.get("disableNameSuffixHash", False)}
    if options.get("labels"):
        resource["metadata"]["labels"] = dict(options["labels"])
    return resource


def _base64(value: str) -> str:
    """Base64 as kustomize writes Secret data: lines of 70, each ending in a newline once it needs two."""
    encoded = base64.b64encode(value.encode()).decode()
    line = 70
    if len(encoded) // line + 1 == 1:
        return encoded
    return "".join(encoded[i : i + line] + "\n" for i in range(0, len(encoded), line))


def _go_json(value) -> str:
    """Go's json.Marshal of a map: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def name_hash(resource: dict) -> str:
    """kustomize's suffix for a generated ConfigMap or Secret (api/hasher). Its encoding looks the name
    up as one field called "metadata/name", which no resource has: the name is hashed as ""."""
    encoded = {"kind": resource["kind"], "name": "", "data": resource.get("data", {})}
    if resource["kind"] == "Secret":
        encoded["type"] = resource.get("type", "Opaque")
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _pod_specs(resource: dict):
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template")
    if resource["kind"] in WORKLOADS | {"CronJob"} and template:
        yield template.setdefault("spec", {})


def _containers(resource: dict):
    for pod in _pod_specs(resource):
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def _rename_references(resources: list[dict], renamed: dict[tuple[str, str], str]) -> None:
    for resource in resources:
        for pod in _pod_specs(resource):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                for source in container.get("envFrom", []):
                    for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        ref = source.get(field)
                        if ref and (kind, ref.get("name")) in renamed:
                            ref["name"] = renamed[(kind, ref["name"])]
                for env in container.get("env", []):
                    value_from = env.get("valueFrom", {})
                    for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                        ref = value_from.get(field)
                        if ref and (kind, ref.get("name")) in renamed:
                            ref["name"] = renamed[(kind, ref["name"])]
            for volume in pod.get("volumes", []):
                if "configMap" in volume and ("ConfigMap", volume["configMap"].get("name")) in renamed:
                    volume["configMap"]["name"] = renamed[("ConfigMap", volume["configMap"]["name"])]
                if "secret" in volume and ("Secret", volume["secret"].get("secretName")) in renamed:
                    volume["secret"]["secretName"] = renamed[("Secret", volume["secret"]["secretName"])]


def _set_image(container: dict, rules: list[dict]) -> None:
    image = container.get("image", "")
    name, digest = (image.split("@", 1) + [None])[:2]
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    else:
        tag = None
    for rule in rules:
        if rule["name"] != name:
            continue
        unknown = set(rule) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise RenderError(f"images: unsupported {sorted(unknown)}")
        name = rule.get("newName", name)
        if "digest" in rule:
            container["image"] = f"{name}@{rule['digest']}"
            return
        tag = str(rule["newTag"]) if "newTag" in rule else tag
        container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        return


# ------------------------------------------------------------------------------------- the build


def _apply_generators(directory: Path, spec: dict, resources: list[dict], example_secrets: bool) -> None:
    """configMapGenerator and secretGenerator: create, or merge into / replace a generated one."""
    options = spec.get("generatorOptions", {})
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(key, []):
            made = _generate(directory, kind, generator, options, example_secrets)
            behavior = generator.get("behavior", "create")
            existing = next((r for r in resources if _key(r) == _key(made)), None)
            if behavior == "create":
                if existing is not None:
                    raise RenderError(f"{kind} {made['metadata']['name']!r} already exists (use behavior)")
                resources.append(made)
            elif behavior in ("merge", "replace"):
                if existing is None or GENERATED not in existing:
                    raise RenderError(f"no generated {kind} {made['metadata']['name']!r} to {behavior}")
                kept = existing.get("data", {}) if behavior == "merge" else {}
                existing["data"] = {**kept, **made["data"]}
                existing[GENERATED] = made[GENERATED]
            else:
                raise RenderError(f"{kind} generator: unknown behavior {behavior!r}")


def _apply_patches(directory: Path, spec: dict, resources: list[dict]) -> None:
    """Strategic merge patches, then replica counts and image rules."""
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise RenderError(f"patches: only `path` (strategic merge) is supported, got {sorted(patch)}")
        for doc in _docs(directory / patch["path"]):
            target = _find(resources, doc["kind"], doc["metadata"]["name"])
            merged = strategic_merge(target, doc)
            target.clear()
            target.update(merged)
    for rule in spec.get("replicas", []):
        workload = next((r for r in resources if r["metadata"]["name"] == rule["name"]
                         and r["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}), None)
        if workload is None:
            raise RenderError(f"replicas: no workload {rule['name']!r}")
        workload["spec"]["replicas"] = rule["count"]
    for rule in spec.get("images", []):
        for resource in resources:
            for container in _containers(resource):
                _set_image(container, [rule])


def _apply_labels_and_namespace(spec: dict, resources: list[dict]) -> None:
    for labels in spec.get("labels", []):
        if labels.get("includeSelectors"):
            raise RenderError("labels: includeSelectors is not supported (selectors are immutable)")
        pairs = {str(k): str(v) for k, v in labels["pairs"].items()}
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(pairs)
            if labels.get("includeTemplates"):
                template = resource.get("spec", {}).get("template") if resource["kind"] in WORKLOADS else None
                if template is not None:
                    template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    namespace = spec.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace


def _build(directory: Path, example_secrets: bool) -> list[dict]:
    """The resources of one kustomization, its bases built first, in kustomize's order: generators,
    patches, replicas, images, labels, namespace."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory} has no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise RenderError(f"{path}: unsupported by this renderer: {sorted(unknown)} (use kubectl kustomize)")
    resources: list[dict] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        resources += _build(target, example_secrets) if target.is_dir() else _docs(target)
    _apply_generators(directory, spec, resources, example_secrets)
    _apply_patches(directory, spec, resources)
    _apply_labels_and_namespace(spec, resources)
    return resources


def render(directory: Path, *, example_secrets: bool = False) -> list[dict]:
    """The manifests of the kustomization in `directory`, as kustomize would write them."""
    resources = _build(Path(directory).resolve(), example_secrets)
    renamed = {}
    for resource in resources:
        generated = resource.pop(GENERATED, None)
        if generated and generated["hash"]:
            new_name = f"{resource['metadata']['name']}-{name_hash(resource)}"
            renamed[_key(resource)] = new_name
            resource["metadata"]["name"] = new_name
    _rename_references(resources, renamed)

    def order(resource: dict) -> tuple[int, str, str, str]:
        kind = resource["kind"]
        if kind in ORDER_FIRST:
            rank = ORDER_FIRST.index(kind)
        elif kind in ORDER_LAST:
            rank = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
        else:
            rank = len(ORDER_FIRST)
        group, _, version = resource["apiVersion"].rpartition("/")
        gvk = f"{group or '~G'}_{version}_{kind}"
        return rank, gvk, resource["metadata"].get("namespace", ""), resource["metadata"]["name"]

    return sorted(resources, key=order)


def validate(resources: list[dict], version: str = KUBERNETES_VERSION) -> list[str]:
    """Schema errors (strict: unknown fields count) of each manifest; empty when all are valid."""
    import kubernetes_validate

    errors = []
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message} at "
                          f"{'.'.join(str(p) for p in exc.path)}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc}")
    return errors


def kustomizations() -> list[Path]:
    return sorted(path.parent for path in HERE.rglob("kustomization.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=str(HERE / "overlays" / "production"))
    parser.add_argument("--example-secrets", action="store_true", help="read secrets.env.example if needed")
    parser.add_argument("--check", action="store_true", help="render and validate every kustomization here")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    try:
        if not args.check:
            resources = render(Path(args.directory), example_secrets=args.example_secrets)
            sys.stdout.write(yaml.safe_dump_all(resources, sort_keys=False))
            return 0
        failed = False
        for directory in kustomizations():
            resources = render(directory, example_secrets=True)
            errors = validate(resources, args.kubernetes_version)
            name = directory.relative_to(HERE)
            kinds = ", ".join(f"{r['kind']}/{r['metadata']['name']}" for r in resources)
            print(f"{name}: {len(resources)} manifests {'INVALID' if errors else 'valid'} "
                  f"(Kubernetes {args.kubernetes_version}): {kinds}")
            for error in errors:
                print(f"  {error}")
            failed = failed or bool(errors)
        return 1 if failed else 0
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
