"""/api/docs: Swagger UI from files this server ships (no CDN), under a strict CSP; and the
API's response headers (secrets in responses must never be cached)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from twofold.web.api.deps import API_PREFIX

DOCS = "/api/docs"
ASSETS = f"{DOCS}/assets"
# Swagger UI is React: it sets style attributes, hence 'unsafe-inline' for styles only.
# Scripts come only from this server; the page talks only to this server.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Twofold API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{DOCS}/init.js"></script>
</body>
</html>
"""

# A file, not an inline script, so the CSP needs no 'unsafe-inline' for scripts.
_INIT = f"""window.ui = SwaggerUIBundle({{
  url: "{API_PREFIX}/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true
}});
"""


def install_docs(app: FastAPI) -> None:
    """Serve the docs page, its start script and Swagger UI's own files."""

    @app.get(DOCS, include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(_PAGE, headers={"content-security-policy": DOCS_CSP})

    @app.get(f"{DOCS}/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")


class ApiHeaders:
    """`Cache-Control: no-store` on every API response (tokens, TOTP secrets and QR codes,
    recovery codes travel in them; errors too, for a uniform rule), and `nosniff`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(ASSETS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"pragma", b"x-content-type-options")
                ]
                headers += [
                    (b"cache-control", b"no-store"),
                    (b"pragma", b"no-cache"),
                    (b"x-content-type-options", b"nosniff"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
