"""The layer contract (docs/architecture.md): arrows point one way, and a forbidden import fails CI.

The check reads every production module's imports (module level and inside functions) with `ast`,
so a lazy import cannot hide an arrow pointing the wrong way."""

from pathlib import Path

from core.layers import LAYERS, layer_violations

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_keeps_its_layers():
    assert layer_violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_an_upward_import_is_a_violation(tmp_path):
    root = _tree(tmp_path, {
        "access/limits.py": "from routing.services import completion_create\n",
        "routing/services.py": "from access.limits import access_admit\n",
    })
    assert layer_violations(root) == [
        "access/limits.py:1 imports routing.services: access may import only "
        + ", ".join(LAYERS["access"]),
    ]


def test_core_imports_neither_django_nor_the_apps(tmp_path):
    root = _tree(tmp_path, {
        "core/errors.py": "def f():\n    from django.conf import settings\n    return settings\n",
        "core/money.py": "import providers.models\n",
    })
    found = layer_violations(root)
    assert [line.split(" imports ")[0] for line in found] == ["core/errors.py:2", "core/money.py:1"]
    assert "django.conf" in found[0] and "providers.models" in found[1]


def test_adapters_import_core_only_and_production_never_imports_the_emulator(tmp_path):
    root = _tree(tmp_path, {
        "providers/adapters/openai.py": "from providers.models import Provider\nimport django\n",
        "providers/catalogue.py": "from providers.emulator.server import base_url_for\n",
        "providers/emulator/app.py": "from core.errors import ApiError\n",
    })
    found = layer_violations(root)
    assert [line.split(" imports ")[0] for line in found] == [
        "providers/adapters/openai.py:1", "providers/adapters/openai.py:2", "providers/catalogue.py:1",
    ]


def test_relative_imports_are_resolved(tmp_path):
    root = _tree(tmp_path, {
        "analytics/__init__.py": "",
        "analytics/services.py": "from ..routing import services\n",
    })
    assert layer_violations(root) == [
        "analytics/services.py:1 imports routing: analytics may import only "
        + ", ".join(LAYERS["analytics"]),
    ]
