"""Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio...): the OpenAI wire under its own kind.

Nothing in a request recognises it; it is only ever chosen by its kind (`base_url_for`, tests).
"""

from __future__ import annotations

from typing import Final

from ..emulated import EmulatedProtocol
from .openai import OpenAIWire

EMULATED: Final = EmulatedProtocol(
    kind="openai_compatible", wire=OpenAIWire, model="llama-3.1-8b-instruct", order=40
)
