"""A local server speaking the OpenAI, DeepSeek, Anthropic and Gemini wire protocols, with faults.

`Emulator` is the ASGI app and its state; `EmulatorServer` runs it on a loopback port in a
background thread; `python manage.py run_emulator --port N` serves it standalone.
"""

from .app import Emulator, create_app
from .faults import Fault, FaultSpecError, parse_fault
from .protocols import kind_for_provider
from .server import EmulatorServer

__all__ = [
    "Emulator",
    "EmulatorServer",
    "Fault",
    "FaultSpecError",
    "create_app",
    "kind_for_provider",
    "parse_fault",
]
