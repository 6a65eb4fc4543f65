"""The raw ASGI application: ``Hello Docker!!`` for everything, ``ok`` on ``GET /healthz``.

The hot path is a handful of dict look-ups, two pre-built ``send`` messages and one
log line; no framework, no routing table, no per-request allocation of headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter, time
from typing import Any
from urllib.parse import parse_qsl

from echo_app.logging import access_line, stdout_writer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO_BODY = b"Hello Docker!!"
HEALTH_BODY = b"ok"
HEALTH_PATH = "/healthz"
HEALTH_METHODS = frozenset({"GET", "HEAD"})


def _response(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


def requested_delay_ms(query_string: bytes, max_delay_ms: int) -> int:
    """The ``delay_ms`` query parameter clamped to ``max_delay_ms``; 0 if absent or invalid."""
    if max_delay_ms <= 0 or b"delay_ms=" not in query_string:
        return 0
    for key, value in parse_qsl(query_string.decode("latin-1")):
        if key == "delay_ms" and value.isascii() and value.isdigit():
            return min(int(value), max_delay_ms)
    return 0


def create_app(
    max_delay_ms: int = 0,
    write_line: Callable[[bytes], None] | None = None,
) -> ASGIApp:
    """Build the ASGI app.

    ``max_delay_ms`` > 0 turns on the ``delay_ms`` query parameter (tests of graceful
    shutdown only); 0 (the default) ignores it so nobody can make the service hold
    connections open. ``write_line`` receives each JSON access-log line (stdout by default).
    """
    log = write_line or stdout_writer()
    hello_start, hello_body = _response(HELLO_BODY)
    health_start, health_body = _response(HEALTH_BODY)
    sleep = asyncio.sleep

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Only HTTP: websockets are off ("ws=none") and so is lifespan.
        if scope["type"] != "http":
            return
        started = perf_counter()
        wall = time()
        path = scope["path"]
        method = scope["method"]
        if path == HEALTH_PATH and method in HEALTH_METHODS:
            start, body = health_start, health_body
        else:
            start, body = hello_start, hello_body
        if max_delay_ms:
            delay = requested_delay_ms(scope["query_string"], max_delay_ms)
            if delay:
                await sleep(delay / 1000)
        # The request body, if any, is never read: uvicorn discards it once the
        # response is complete, and keep-alive still works.
        await send(start)
        await send(body)

        request_id = forwarded_for = user_agent = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        client = scope.get("client")
        log(
            access_line(
                wall,
                method,
                path,
                200,
                (perf_counter() - started) * 1000,
                request_id,
                client[0] if client else None,
                forwarded_for,
                user_agent,
            )
        )

    return app
