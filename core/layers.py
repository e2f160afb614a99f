"""The layer contract, checked by reading imports (tests/foundation/test_layers.py runs it in CI).

Each top-level package is a layer and may import only the layers listed for it; a package always
imports itself. Two parts of `providers` are held tighter: the adapters import only `core` and never
Django, and the emulator (a development tool) is imported by no production module, only by the two
commands that start it. docs/architecture.md explains the picture."""

from __future__ import annotations

import ast
from pathlib import Path

LAYERS: dict[str, tuple[str, ...]] = {
    "aiprovider_site": ("operations", "routing", "analytics", "providers", "access", "core"),
    "operations": ("routing", "analytics", "providers", "access", "core"),
    "routing": ("analytics", "providers", "access", "core"),
    "analytics": ("providers", "access", "core"),
    "providers": ("access", "core"),
    "access": ("core",),
    "core": (),
}
ADAPTERS = "providers.adapters"
EMULATOR = "providers.emulator"
# The development commands that start the emulator (`make demo`, `manage.py run_emulator`).
EMULATOR_STARTERS = (
    "aiprovider_site.management.commands.serve",
    "providers.management.commands.run_emulator",
)
DJANGO_FREE = ("core", ADAPTERS)
DJANGO_PACKAGES = ("django", "rest_framework", "adrf", "drf_spectacular", "celery", "django_celery_beat")


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(module: str, is_package: bool, tree: ast.AST):
    """(line, imported module) for every import in the file, relative ones resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violation(module: str, imported: str) -> str | None:
    layer, target = module.split(".")[0], imported.split(".")[0]
    own = ADAPTERS if _within(module, ADAPTERS) else layer
    if own in DJANGO_FREE and target in DJANGO_PACKAGES:
        return f"{own} is Django-free"
    if _within(imported, EMULATOR) and not _within(module, EMULATOR) and module not in EMULATOR_STARTERS:
        return "the emulator is a development tool; production code never imports it"
    if target not in LAYERS or target == layer and own != ADAPTERS:
        return None
    if own == ADAPTERS:
        return None if _within(imported, ADAPTERS) or target == "core" else f"{ADAPTERS} may import only core"
    if target not in LAYERS[layer]:
        return f"{layer} may import only " + ", ".join(LAYERS[layer])
    return None


def layer_violations(root: Path) -> list[str]:
    """Every import in the layers under `root` that the contract forbids, as 'path:line imports x: why'."""
    found = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            module = _module_name(root, path)
            tree = ast.parse(path.read_text(), filename=str(path))
            for line, imported in _imports(module, path.name == "__init__.py", tree):
                why = _violation(module, imported)
                if why:
                    found.append((str(path.relative_to(root)), line, f"imports {imported}: {why}"))
    return [f"{path}:{line} {text}" for path, line, text in sorted(found)]
