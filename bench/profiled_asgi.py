"""The gateway's ASGI app with a CPU sampler that the benchmark switches on and off.

Served instead of `aiprovider_site.asgi:application` in the profile pass only (BENCH_PROFILE=1, the
default): `GET /__bench__/profile/start` starts sampling this worker, `GET /__bench__/profile/stop`
stops it and answers the summary as JSON. Everything else goes to the gateway unchanged.
"""

import json

from aiprovider_site.asgi import application as gateway
from bench.sampler import CpuSampler

_PREFIX = "/__bench__/profile/"
_sampler = CpuSampler()


async def _answer(send, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": payload})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith(_PREFIX):
        action = scope["path"][len(_PREFIX) :]
        if action == "start":
            _sampler.start()
            return await _answer(send, {"sampling": True})
        if action == "stop":
            return await _answer(send, _sampler.stop())
    return await gateway(scope, receive, send)
