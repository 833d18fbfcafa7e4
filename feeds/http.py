"""What every response of the service gets, whatever route made it (an ASGI middleware):

- `X-Content-Type-Options: nosniff` on every response, and the pages' Content-Security-
  Policy on any HTML that has no policy of its own (the diff fragments of the API);
- HEAD wherever GET is allowed (FastAPI routes answer only the methods they declare): the
  GET is run and its body dropped, its headers kept;
- OPTIONS, and the `Allow` header of a 405, list every method the path has, across all its
  routes (Starlette names only those of the first route whose path matches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ResponseBasics:
    def __init__(
        self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]], html_policy: str
    ) -> None:
        self.app, self.routes, self.html_policy = app, routes, html_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS" and (allowed := self.allowed_methods(scope)):
            await self._options(allowed, send)
            return
        head = method == "HEAD"
        if head:  # answered as the GET, without its body
            scope = {**scope, "method": "GET"}

        async def send_with_basics(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add_headers(message, scope)
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_basics)

    def allowed_methods(self, scope: Scope) -> list[str]:
        """Every method some route of this path answers; [] for a path no route has.

        Asked of each route through Starlette's own matching (FastAPI nests the routes of
        included routers in one route each); a Mount (static files) is left to itself.
        """
        methods = {
            method
            for method in PROBED_METHODS
            for route in self.routes()
            if not isinstance(route, Mount)
            and route.matches({**scope, "method": method})[0] == Match.FULL
        }
        if not methods:
            return []
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})

    def _add_headers(self, message: Message, scope: Scope) -> None:
        headers = MutableHeaders(scope=message)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if headers.get("content-type", "").startswith("text/html"):
            headers.setdefault("Content-Security-Policy", self.html_policy)
        if message["status"] == 405 and (allowed := self.allowed_methods(scope)):
            headers["Allow"] = ", ".join(allowed)

    async def _options(self, allowed: list[str], send: Send) -> None:
        headers = [
            (b"allow", ", ".join(allowed).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
