import pytest

from tests.ops.clone import fresh_clone


@pytest.fixture(scope="session")
def clone(tmp_path_factory):
    """One fresh clone for the tests that run `make` in it (see tests/ops/clone.py)."""
    return fresh_clone(tmp_path_factory.mktemp("fresh-clone"))
