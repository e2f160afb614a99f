"""What only a real server shows: chunked request bodies are read and limited, request heads are
bounded, and `make run`'s server in production mode serves the admin and the docs with their static
files (collected at start). Against gunicorn as deployed and `manage.py serve` as `make run` starts."""

import json
import re
import socket
import time

import httpx
import pytest

from tests.deploy.live_gateway import live_gateway

LIMIT = 2 * 1024 * 1024  # API_MAX_BODY_BYTES for these servers
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def gunicorn_gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gunicorn"), API_MAX_BODY_BYTES=str(LIMIT)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def serve_gateway(tmp_path_factory):
    # Nothing collected: STATIC_ROOT is a new, empty directory.
    with live_gateway(tmp_path_factory.mktemp("serve"), kind="serve") as gateway:
        yield gateway


def chunks(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_json_body_is_read(gunicorn_gateway):
    body = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "sent in chunks"}]}
    ).encode()
    with httpx.Client(base_url=gunicorn_gateway.base, timeout=30) as client:
        response = client.post(
            "/v1/chat/completions", content=chunks(body, 7),
            headers={"Authorization": f"Bearer {gunicorn_gateway.key}", "Content-Type": "application/json"},
        )
        assert response.request.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.request.headers
        assert response.status_code == 200, response.text
        assert "sent in chunks" in response.json()["choices"][0]["message"]["content"]

        native = client.post(
            "/api/v1/completion",
            content=chunks(json.dumps({"messages": [{"role": "user", "content": "native chunks"}]}).encode(), 5),
            headers={"Authorization": f"Bearer {gunicorn_gateway.key}", "Content-Type": "application/json"},
        )
        assert native.status_code == 200, native.text
        assert "native chunks" in native.json()["content"]


def test_a_chunked_body_just_under_the_limit_is_accepted(gunicorn_gateway):
    padding = "x" * (LIMIT - 200)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": padding}]}).encode()
    assert len(body) <= LIMIT
    response = httpx.post(
        f"{gunicorn_gateway.base}/v1/chat/completions", content=chunks(body, 64 * 1024), timeout=30,
        headers={"Authorization": f"Bearer {gunicorn_gateway.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "code_of"),
    [
        ("/v1/chat/completions", lambda body: body["error"]["code"]),
        ("/api/v1/completion", lambda body: body["error_code"]),
    ],
)
def test_a_huge_chunked_body_is_refused_before_it_is_read(gunicorn_gateway, path, code_of):
    sent = 0

    def huge():
        nonlocal sent
        block = b"x" * MiB
        for _ in range(300):  # 300 MiB, if the server read it all
            sent += len(block)
            yield block

    started = time.monotonic()
    response = httpx.post(
        f"{gunicorn_gateway.base}{path}", content=huge(), timeout=60,
        headers={"Authorization": f"Bearer {gunicorn_gateway.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert code_of(response.json()).lower() == "payload_too_large"
    assert response.headers["Connection"] == "close"
    # The answer came once the limit was passed: the rest was never read (nor sent).
    assert sent < 64 * MiB, f"{sent / MiB:.0f} MiB sent before the answer"
    assert time.monotonic() - started < 20


def raw_exchange(port: int, head: bytes, *, then: bytes = b"", timeout: float = 10) -> tuple[bytes, int]:
    """Send `head`, then `then` in 64 KiB pieces until the server answers or closes; returns the
    first bytes of the answer and how many bytes were sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        sent += len(head)
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        for start in range(0, len(then), 64 * 1024):
            try:
                answer = sock.recv(65536)
                if answer or answer == b"":
                    return answer, sent
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sock.sendall(then[start:start + 64 * 1024])
                sent += min(64 * 1024, len(then) - start)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
            if time.monotonic() > deadline:
                break
        sock.setblocking(True)
        sock.settimeout(max(0.5, deadline - time.monotonic()))
        try:
            return sock.recv(65536), sent
        except OSError:
            return b"", sent


def test_a_declared_length_above_the_limit_is_answered_without_waiting_for_the_body(gunicorn_gateway):
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {gunicorn_gateway.key}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n{\"model\": "
    )
    started = time.monotonic()
    answer, _ = raw_exchange(gunicorn_gateway.port, head, timeout=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


HUGE_HEADER = b"a" * (64 * MiB)


@pytest.mark.parametrize("server", ["gunicorn_gateway", "serve_gateway"])
def test_a_64_mib_header_is_refused(request, server):
    gateway = request.getfixturevalue(server)
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
    answer, sent = raw_exchange(gateway.port, head, then=HUGE_HEADER + b"\r\n\r\n", timeout=20)
    assert re.match(rb"HTTP/1\.1 (431|400)", answer), answer[:200]
    assert sent < 8 * MiB, f"{sent / MiB:.0f} MiB of header sent before the refusal"
    # The server is unharmed, and an ordinary large header (16 KiB of cookies) still passes.
    ok = httpx.get(f"{gateway.base}/health", headers={"Cookie": "c=" + "v" * 16 * 1024}, timeout=10)
    assert ok.status_code == 200


def test_make_run_in_production_serves_the_admin_and_docs_with_their_static_files(serve_gateway):
    log = serve_gateway.log_text()
    assert "production mode" in log
    with httpx.Client(base_url=serve_gateway.base, timeout=30) as client:
        for page in ("/admin/login/", "/api/docs/", "/api/redoc/"):
            response = client.get(page)
            assert response.status_code == 200, f"{page}: {response.status_code}\n{log[-2000:]}"
            assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', response.text)
            assert assets, page
            for asset in assets:
                assert client.get(asset).status_code == 200, asset
