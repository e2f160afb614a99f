"""Suite-wide fixtures, and a guard that fails any connection beyond 127.0.0.1."""

import ipaddress
import os
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class ExternalNetworkBlocked(RuntimeError):
    """A test tried to reach beyond the loopback interface."""


def _is_loopback(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise ExternalNetworkBlocked(f"tests may only connect to 127.0.0.1, not {address!r}")


def _guarded_connect(self, address):
    _check(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise ExternalNetworkBlocked(f"tests may only resolve loopback names, not {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (local memory, or the CI Redis database)."""
    from django.core.cache import cache

    from core.shared_state import shared_state_reset_for_tests

    cache.clear()
    shared_state_reset_for_tests()
    yield


def redis_test_url() -> str | None:
    """The Redis the suite may use: REDIS_URL in CI, else a local server if one answers."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/15"
    except OSError:
        return None


@pytest.fixture
def redis_url():
    url = redis_test_url()
    if url is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and REDIS_URL is not set")
    return url


@pytest.fixture
def json_log_lines():
    """Every log record, at every level, rendered by the project's JSON formatter as it would be
    written; the list of lines."""
    import logging

    from django.conf import settings

    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    factory = formatter_config.pop("()")
    formatter = factory(**formatter_config)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(formatter.format(record))

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("django")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield lines
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
