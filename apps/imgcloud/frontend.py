"""The frontend: the web page (plain HTML, CSS and ES modules; no build step).

In the cluster HAProxy sends ``/api`` to the backends and everything else here. For
one-machine use, ``IMGCLOUD_BACKEND_URL`` makes this service forward ``/api`` itself,
so the page is same-origin exactly as behind HAProxy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import httpx
from quart import Quart, Response, jsonify, request, send_from_directory
from werkzeug.datastructures import Headers

from imgcloud import errors
from imgcloud.backend import MULTIPART_OVERHEAD
from imgcloud.config import Settings
from imgcloud.web import create_service_app

STATIC = Path(__file__).resolve().parent / "static"
# Answer headers worth passing back from the backend (hop-by-hop ones are not).
log = logging.getLogger(__name__)
_PASS_BACK = (
    "content-type",
    "cache-control",
    "etag",
    "location",
    "x-content-type-options",
    "content-security-policy",
    "x-served-by",
    "vary",  # variants differ by Accept: a cache in front must keep them apart
    "set-cookie",  # the session (imgcloud.auth)
    "www-authenticate",
    "retry-after",
)  # not X-Request-Id: the frontend answers with its own, which it gave the backend
_PASS_ON = (
    "content-type",
    "content-length",
    "if-none-match",
    "accept",
    "idempotency-key",
    "authorization",
    "cookie",
    "x-csrf-token",
)


def create_app(settings: Settings) -> Quart:
    backend = settings.backend_url
    clients: dict[str, httpx.AsyncClient] = {}

    async def backend_check() -> str | None:
        if not backend:
            return None
        try:
            answer = await clients["api"].get(f"{backend}/healthz", timeout=2.0)
        except httpx.HTTPError as exc:
            return f"the backend at {backend} is not reachable ({type(exc).__name__})"
        return None if answer.status_code == 200 else f"backend answered {answer.status_code}"

    checks = {"backend": backend_check} if backend else {}
    app = create_service_app("frontend", settings, checks, static_folder=STATIC)
    # Quart's default 16 MB cap would refuse uploads the backend accepts; the backend
    # decides, this only bounds what the proxy reads.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD

    @app.before_serving
    async def start() -> None:
        clients["api"] = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=3.0))

    @app.after_serving
    async def stop() -> None:
        await clients["api"].aclose()

    @app.get("/")
    async def index() -> Response:
        # Security headers come from imgcloud.security_headers, like every answer's.
        response = await send_from_directory(STATIC, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/config.json")
    async def page_config() -> Response:
        return jsonify(
            max_upload_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
            variants={v.name: v.size for v in settings.variants},
        )

    if backend:

        @app.route("/api/<path:path>", methods=["GET", "POST", "DELETE", "HEAD"])
        @app.route("/api", methods=["GET"], defaults={"path": ""})
        async def proxy(path: str) -> tuple[Response, int] | Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() in _PASS_ON}
            headers[errors.HEADER] = errors.request_id()  # one id in both services' logs
            content = request.body if request.method == "POST" else None
            try:
                answer = await clients["api"].request(
                    request.method,
                    f"{backend}/api/{path}",
                    params=list(request.args.items(multi=True)),
                    headers=headers,
                    content=_chunks(content) if content is not None else None,
                )
            except httpx.HTTPError as exc:
                log.warning("backend not reachable [request %s]: %r", errors.request_id(), exc)
                return errors.problem(502, "the backend is not reachable; try again", "backend")
            # multi_items: each Set-Cookie on its own, never folded into one.
            kept = Headers(
                [(k, v) for k, v in answer.headers.multi_items() if k.lower() in _PASS_BACK]
            )
            return Response(answer.content, status=answer.status_code, headers=kept)

    return app


async def _chunks(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in body:
        yield chunk
