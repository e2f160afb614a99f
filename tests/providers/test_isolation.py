"""The adapters (and the emulator) stay Django-free, as the design requires."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"aiprovider_site", "routing", "access", "analytics"}


@pytest.mark.parametrize("package", ["providers.adapters", "providers.emulator"])
def test_importing_loads_no_django_and_no_project_app(package):
    code = (
        f"import json, sys; import {package}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(PROJECT_PACKAGES | {'django', 'rest_framework'})!r} "
        "or (m.startswith('providers.') and not m.startswith(('providers.adapters', 'providers.emulator'))))))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "providers" / "adapters").glob("*.py"))
    + sorted((ROOT / "providers" / "emulator").glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_no_module_imports_django_or_the_apps(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module)

    roots = {name.split(".")[0] for name in imported}
    assert not roots & (PROJECT_PACKAGES | {"django", "rest_framework"})
    assert not {name for name in imported if name.startswith("providers.")} - {
        "providers.adapters",
        "providers.emulator",
    }
