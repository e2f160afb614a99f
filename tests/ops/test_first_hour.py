"""A newcomer's first hour, run for real: `make run` and `make demo` in a fresh clone (the virtualenv
reused, everything else as git hands it out), with the commands and examples they print executed."""

import json
import shutil
import socket
import subprocess
import time

import pytest

from tests.ops.clone import Make, free_ports, newcomer_env, printed_example, wait_for_port

PROVIDER_KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY", "DEEPSEEK_API_KEY")


def run_example(command: str) -> tuple[int, dict]:
    assert command.startswith("curl "), command
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the printed examples are curl commands)")
    result = subprocess.run(
        ["bash", "-c", f"{command} --silent --show-error --max-time 30 --write-out '\\n%{{http_code}}'"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_make_run_without_keys_says_so_and_its_example_works(clone):
    port, = free_ports(1)
    make = Make(clone, "run", newcomer_env(AI_PROVIDER_PORT=str(port)))
    try:
        ready = make.wait_for_line("Serving on", timeout=180)
        wait_for_port(port)
        output = make.output
        # One block says what is missing and the ways out.
        assert "No provider API key is set" in output
        block = output[output.index("-" * 78): output.rindex("-" * 78)]
        for variable in PROVIDER_KEY_VARIABLES:
            assert variable in block
        assert ".env" in block and "make demo" in block
        # The example is one that works without a key: the catalogue.
        example = printed_example(output)
        assert "/api/v1/models" in example
        status, body = run_example(example)
        assert status == 200, body
        assert {"gpt-4o-mini", "claude-haiku-4-5"} <= {m["name"] for m in body["models"]}
        print(f"make run, fresh clone (venv reused): serving after {ready:.1f}s")
    finally:
        make.stop()


def test_make_demo_second_start_skips_setup_and_its_example_answers_from_the_emulator(clone):
    port, emulator_port = free_ports(2)
    env = newcomer_env(AI_PROVIDER_PORT=str(port), EMULATOR_PORT=str(emulator_port))
    first = Make(clone, "demo", env)
    try:
        first.wait_for_line("Serving on", timeout=180)
    finally:
        first.stop()
    second = Make(clone, "demo", env)
    try:
        ready = second.wait_for_line("Serving on", timeout=60)
        wait_for_port(port)
        output = second.output
        for step in ("database", "catalogue", "schedules"):
            assert any(line.split()[:1] == [step] and "up to date" in line for line in output.splitlines()), output
        assert f"provider emulator on http://127.0.0.1:{emulator_port}" in output
        assert "No provider API key" not in output
        example = printed_example(output)
        assert "/api/v1/completion" in example
        status, body = run_example(example)
        assert status == 200, body
        assert body["provider"].endswith("(emulator)")
        print(f"make demo, second start: serving after {ready:.1f}s")
        assert ready < 30
    finally:
        second.stop()


@pytest.mark.parametrize("taken", ["EMULATOR_PORT", "AI_PROVIDER_PORT"])
def test_make_demo_fails_fast_when_a_port_is_taken(clone, taken):
    port, emulator_port = free_ports(2)
    ports = {"AI_PROVIDER_PORT": port, "EMULATOR_PORT": emulator_port}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[taken]))
        squatter.listen()
        started = time.monotonic()
        result = subprocess.run(
            ["make", "--no-print-directory", "demo"], cwd=clone,
            env=newcomer_env(**{k: str(v) for k, v in ports.items()}),
            capture_output=True, text=True, timeout=60,
        )
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5, elapsed
    message = result.stderr
    assert f"port {ports[taken]} on 127.0.0.1 is already in use ({taken}" in message
    assert f"make demo {taken}={ports[taken] + 1}" in message
    # It stopped before any setup step.
    assert "database" not in result.stdout and "Serving on" not in result.stdout
