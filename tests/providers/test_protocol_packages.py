"""The protocol packages of the adapters: Django-free like the rest, and declared where they live."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from providers.adapters.protocols import protocols_all, provider_kind_choices
from providers.adapters.registry import ADAPTER_CLASSES
from providers.models import Provider

ADAPTERS = Path(__file__).resolve().parents[2] / "providers" / "adapters"


@pytest.mark.parametrize(
    "path", sorted(ADAPTERS.glob("*/*.py")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_protocol_package_modules_import_no_django_and_no_other_app(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module)

    assert not {name.split(".")[0] for name in imported} & {"django", "rest_framework", "core", "providers"}


def test_every_declared_protocol_has_its_adapter_and_the_stored_ones_are_the_kind_choices():
    declared = protocols_all()

    assert set(ADAPTER_CLASSES) == set(declared)
    assert all(ADAPTER_CLASSES[kind].kind == kind for kind in declared)
    stored = {kind for kind, protocol in declared.items() if protocol.stored}
    assert {value for value, _ in provider_kind_choices()} == stored
    assert {value for value, _ in Provider._meta.get_field("kind").choices} == stored
    assert all(declared[kind].dialect_of in stored for kind in set(declared) - stored)
