"""Taking the ports `make run` and `make demo` serve on, or saying at once why not.

Standard library only, so the Makefile runs it as a script before anything else starts
(`python aiprovider_site/ports.py demo 127.0.0.1 AI_PROVIDER_PORT=8005 EMULATOR_PORT=8105`, a few
milliseconds); `manage.py serve` then binds the same ports for real and keeps them.
"""

from __future__ import annotations

import socket
import sys

WHAT = {"AI_PROVIDER_PORT": "the gateway", "EMULATOR_PORT": "the provider emulator"}


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Reuse a port left in TIME_WAIT by a previous run; a live listener still refuses the bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_in_use_message(host: str, port: int, variable: str, target: str) -> str:
    return (
        f"port {port} on {host} is already in use ({variable}, {WHAT.get(variable, variable)}).\n"
        f"  Stop whatever holds it (`ss -ltnp 'sport = :{port}'` shows it), or pick another port:\n"
        f"    make {target} {variable}={port + 1}"
    )


def main(argv: list[str]) -> int:
    target, host, *ports = argv
    for item in ports:
        variable, _, value = item.partition("=")
        try:
            bind(host, int(value)).close()
        except OSError:
            print(f"ai-provider: {port_in_use_message(host, int(value), variable, target)}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
