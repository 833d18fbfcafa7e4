"""The HTTP service: one FastAPI app made of routers, each in its own module.

- feeds/routes_feeds.py: the Atom feeds (/feeds/...)
- feeds/api/: the JSON API (/api/...), /healthz and /metrics, a module per resource
- feeds/pages.py: the HTML pages (/, /items/{id}, /sources)
- feeds/images.py: a picture of each edit (/items/{id}/changes/{change}.png)
- feeds/hot_pages.py: the newest feed pages, kept built in memory
- feeds/deps.py: what the routes depend on (session, settings), imported by the routers
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from feeds import api, images, pages, routes_feeds
from feeds.docs import add_docs
from feeds.hot_pages import HotPages
from feeds.http import ResponseBasics
from feeds.settings import ServiceSettings
from tracker import __version__

# How `redline serve --workers N` hands each worker process what it serves: the
# database, its pool and the settings, as JSON (the workers are new processes).
WORKER_ENV = "REDLINE_SERVE_WORKER"


def worker_app() -> FastAPI:
    """The app of one worker of `redline serve --workers N` (uvicorn's app factory)."""
    import json

    from storage import make_engine
    from storage.db import PoolSettings

    given = json.loads(os.environ[WORKER_ENV])
    engine = make_engine(given["db"], PoolSettings(**given["pool"]))
    return create_app(engine, ServiceSettings(**given["settings"]))


def create_app(engine: Engine, settings: ServiceSettings | None = None) -> FastAPI:
    """The app serving this database; routers find the engine and settings on app.state."""
    app = FastAPI(
        title="redline",
        version=__version__,
        description="Edited news items: every version, word-level diffs, Atom feeds of edits.",
        docs_url=None,  # FastAPI's /docs and /redoc load from a CDN; feeds/docs.py's does not
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings or ServiceSettings()
    app.state.hot_pages = HotPages(engine)
    for router in (routes_feeds.router, *api.routers, pages.router, images.router):
        app.include_router(router)
    api.install_validation_errors(app)  # 422s: a one-line `detail`, as every error has
    add_docs(app)
    # nosniff everywhere, the pages' CSP on any HTML, HEAD and OPTIONS on every path.
    app.add_middleware(
        ResponseBasics, routes=lambda: app.router.routes, html_policy=pages.CONTENT_SECURITY_POLICY
    )
    app.add_middleware(RefuseNul)
    return app


class RefuseNul:
    """400 for a NUL character anywhere in the path or query string.

    No parameter of any route may hold one, and PostgreSQL refuses NUL in text: without
    this, a search, tag or URL with %00 would reach a query and fail there (500). Pure
    ASGI, so the check costs a substring search per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            refusal = JSONResponse({"detail": "NUL characters are not allowed in URLs"}, 400)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query
