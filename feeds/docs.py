"""/docs: Swagger UI served from the installed package, so it works without internet.

FastAPI's own /docs loads Swagger UI (and its favicon) from a CDN and starts it with an
inline script. Here the files come from the fastapi-offline package (a well-kept bundle
of Swagger UI 5, which reads the OpenAPI 3.1 FastAPI writes) under /docs/assets/, and the
start-up script is a file of its own, so the page's Content-Security-Policy allows
scripts from this origin only: nothing is loaded from anywhere else.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"

# The pages' policy (feeds/pages.py), plus what Swagger UI needs from its own origin:
# its script and style files, the schema it fetches, and the data: images of its CSS.
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

# Links are relative to /docs, so the page also works under a path prefix (a proxy).
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""

START = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def add_docs(app: FastAPI) -> None:
    """/docs, its start-up script and Swagger UI's files (the app is made with docs_url and
    redoc_url None: both of FastAPI's pages load from a CDN)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        headers = {"Content-Security-Policy": DOCS_POLICY, "Referrer-Policy": "same-origin"}
        return HTMLResponse(PAGE.format(title=app.title), headers=headers)

    @app.get("/docs/start.js", include_in_schema=False)
    async def docs_start() -> Response:
        return Response(START, media_type="text/javascript")

    app.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")
