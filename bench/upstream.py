"""A fixed-response upstream for benchmarks: OpenAI's chat completion format, answered instantly
(or after UPSTREAM_DELAY_S), so the gateway's own cost is what the benchmark measures."""

import asyncio
import json
import os

DELAY_S = float(os.environ.get("UPSTREAM_DELAY_S", "0"))
# Requests under this path prefix (one provider of the catalogue) take UPSTREAM_SLOW_DELAY_S.
SLOW_PREFIX = os.environ.get("UPSTREAM_SLOW_PREFIX", "/deepseek/")
SLOW_DELAY_S = float(os.environ.get("UPSTREAM_SLOW_DELAY_S", "1.0"))

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1764115200,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "A fixed answer for benchmarking.",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_bench",
    }
).encode()

CHUNKS = [
    {"role": "assistant", "content": ""},
    *({"content": f"piece {i} "} for i in range(20)),
]


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1764115200,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if choices
        else [],
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    delay = SLOW_DELAY_S if scope["path"].startswith(SLOW_PREFIX) else DELAY_S
    if delay and not scope["path"].endswith("/models"):
        await asyncio.sleep(delay)
    if scope["path"].endswith("/models"):
        payload = (
            b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"bench"}]}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return
    if b'"stream":true' in body.replace(b" ", b""):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for delta in CHUNKS:
            await send({"type": "http.response.body", "body": _chunk(delta), "more_body": True})
        await send({"type": "http.response.body", "body": _chunk({}, "stop"), "more_body": True})
        usage = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
        await send(
            {"type": "http.response.body", "body": _chunk({}, usage=usage, choices=False), "more_body": True}
        )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(COMPLETION)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": COMPLETION})
