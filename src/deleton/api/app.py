"""The FastAPI app: its routes, and errors as JSON.

Every error is a ``Problem`` (status and detail) with the right 4xx: a malformed parameter is
400 with the parameter named, an unknown id 404. The database away is 503 with
``Retry-After``; anything unforeseen is a 500 that says nothing of its cause (the traceback
goes to the log, never to the caller). Nothing a request carries reaches SQL but as a
parameter.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from swagger_ui_bundle import swagger_ui_path

from ..errors import TransientError
from . import fleet, leaderboard, riders, rides
from .access import SECURITY_SCHEMES
from .data import ApiData

log = logging.getLogger(__name__)

RETRY_AFTER = "5"  # seconds a caller should wait when the database is away

DESCRIPTION = """\
Rides, riders and the fleet of Deleton's connected bikes.

A ride is the same wherever it is kept: in progress, ended today, or summarised months ago.

Every route but `/health` needs a key in the `X-API-Key` header (`deleton api-key create`),
with a scope: `read` for rides, riders and the fleet; `personal` also shows riders' email,
address and birth date; `erase` allows deleting rides and erasing riders. `personal` and
`erase` include `read`; their every use is audited. A missing or unknown key is 401, a key
without the scope 403, and more requests a second than the key's rate limit 429 with
`Retry-After`. Lists take `limit` and `offset` and say where the next page starts. Errors
are JSON: `status` and `detail`.
"""


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status, headers=headers)


def _field(error: dict[str, Any]) -> str:
    """The parameter a validation error is about, without its location prefix."""
    location = [str(part) for part in error.get("loc", ())]
    return ".".join(location[1:] or location) or "request"


def allowed(app: FastAPI, request: Request) -> set[str]:
    """Every method some route serves at the request's path."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


def with_closing(app: FastAPI, close: Callable[[], None]) -> FastAPI:
    """``app``, calling ``close`` once its server stops (a worker process's pool)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            close()

    app.router.lifespan_context = lifespan
    return app


# /docs is where a data client pastes their key: its scripts and stylesheet are Swagger UI's
# files from a package pinned in the lock (swagger-ui-bundle-v2), served from here, never from
# a CDN, and the page's Content-Security-Policy runs no other script (its one inline script by
# its hash) and connects nowhere but here.
DOCS = "/docs"
DOCS_ASSETS = {  # served at DOCS/assets/NAME
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def _docs_page(title: str) -> tuple[bytes, str]:
    """The documentation page, and its Content-Security-Policy."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{title} - documentation",
        swagger_js_url=f"{DOCS}/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS}/assets/swagger-ui.css",
        swagger_favicon_url=f"{DOCS}/assets/favicon-32x32.png",
    ).body
    inline = re.findall(rb"<script>(.*?)</script>", page, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in inline
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    )
    return bytes(page), policy


def _serve_docs(app: FastAPI) -> None:
    page, policy = _docs_page(app.title)
    headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}

    @app.get(DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    for name, media_type in DOCS_ASSETS.items():
        app.add_api_route(f"{DOCS}/assets/{name}", _asset(name, media_type),
                          include_in_schema=False)  # fmt: skip


def _asset(name: str, media_type: str) -> Callable[[], FileResponse]:
    """The route serving Swagger UI's file ``name``: it takes no parameter."""
    path = str(swagger_ui_path / name)

    def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type,
                            headers={"X-Content-Type-Options": "nosniff"})  # fmt: skip

    return asset


def create_app(data: ApiData) -> FastAPI:
    app = FastAPI(
        title="Deleton API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,  # served below, from the pinned package
        redoc_url=None,
    )
    app.state.data = data
    for module in (rides, riders, fleet, leaderboard):
        app.include_router(module.router)
    _serve_docs(app)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette's Allow names only the first route of the path; GET and DELETE of a
            # ride are two routes, and a client must learn of both
            headers = {"Allow": ", ".join(sorted(allowed(app, request)))}
        return problem(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the message names the parameter and the rule, never echoes the value sent
        details = "; ".join(f"{_field(e)}: {e.get('msg', 'invalid')}" for e in exc.errors()[:5])
        return problem(400, details or "malformed request")

    @app.exception_handler(TransientError)
    async def unavailable(request: Request, exc: TransientError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem(503, "the database is not answering; try again shortly",
                       {"Retry-After": RETRY_AFTER})  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(500, "internal error")

    def openapi() -> dict[str, Any]:
        """FastAPI's document, less the 422 it adds to every route: validation errors are
        400 here, each route says so; with the key's scheme, which the routes name."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            )  # fmt: skip
            for path in schema["paths"].values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
