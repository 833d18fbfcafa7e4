"""The raw-ASGI floor of bench_serve.py: an ASGI app with no framework and no database
that answers every request with the same small body.

Served by uvicorn as `redline serve` is (the same event loop and HTTP parser, uvloop and
httptools when installed), it measures what the server alone costs a request on this
machine: redline's rows are read against it.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
