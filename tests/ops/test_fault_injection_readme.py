"""The README's fault injection walk-through, run as written against `make demo` in a fresh clone
(only its ports changed to free ones)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.clone import Make, free_ports, newcomer_env, wait_for_port

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_block(heading: str) -> str:
    section = README[README.index(heading):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readmes_fault_injection_commands_work_through_the_gateway(clone):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the README's commands use it)")
    block = readme_block("### Fault injection in the demo")
    assert "_emulator/faults" in block
    port, emulator_port = free_ports(2)
    script = block.replace("localhost:8105", f"localhost:{emulator_port}").replace(
        "localhost:8005", f"localhost:{port}"
    )
    demo = Make(clone, "demo", newcomer_env(AI_PROVIDER_PORT=str(port), EMULATOR_PORT=str(emulator_port)))
    try:
        demo.wait_for_line("Serving on", timeout=180)
        wait_for_port(port)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=clone, capture_output=True, text=True, timeout=120
        )
    finally:
        demo.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # What the README's comments promise.
    assert re.search(r"(?im)^x-provider: anthropic \(emulator\)\r?$", out), out
    assert re.search(r"(?im)^x-attempts: 3\r?$", out), out
    assert '"openai"' in out and '"requests"' in out  # the stats: openai was called (twice)
    assert out.rstrip().endswith("{}")  # every fault cleared
