"""What every imgcloud service answers alike: X-Served-By, security headers, JSON errors,
health and metrics.

``/healthz`` says the process is alive (503 naming the problem when one of the
service's liveness checks fails: Nomad restarts it then); ``/readyz`` runs the
service's own checks (S3, broker, backend) and answers 503 naming what is down;
``/metrics`` is Prometheus text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from imgcloud import errors, security_headers
from imgcloud.bodylimit import LimitedRequest
from imgcloud.config import Settings
from imgcloud.metrics import CONTENT_TYPE, Metrics

# A readiness check returns None when fine, else a sentence saying what is wrong.
Check = Callable[[], Awaitable[str | None]]
log = logging.getLogger(__name__)


def create_service_app(
    name: str,
    settings: Settings,
    checks: Mapping[str, Check] | None = None,
    before_metrics: Callable[[], Awaitable[None]] | None = None,
    static_folder: Path | None = None,
    liveness: Mapping[str, Check] | None = None,
    facts: Callable[[], Mapping[str, object]] | None = None,
) -> Quart:
    """A Quart app with the common endpoints and headers of service ``name``."""
    app = Quart(
        f"imgcloud.{name}",
        static_folder=str(static_folder) if static_folder else None,
        root_path=str(Path(__file__).resolve().parent),
    )
    # The body limit (MAX_CONTENT_LENGTH, set by the backend and the frontend) holds
    # while a chunked body streams in, not only against a declared Content-Length.
    app.request_class = LimitedRequest
    app.config["IMGCLOUD_SETTINGS"] = settings
    metrics = Metrics(name)
    app.extensions["imgcloud_metrics"] = metrics
    readiness = checks or {}
    security_headers.install(app)
    errors.install(app)

    @app.after_request
    async def served_by(response: Response) -> Response:
        # A proxied answer keeps the header of the node that really served it.
        response.headers.setdefault("X-Served-By", settings.node_name)
        metrics.requests.labels(name, request.method, str(response.status_code)).inc()
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[Response, int]:
        return errors.problem(error.code or 500, _describe(error))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception(
            "unhandled error on %s %s [request %s]",
            request.method,
            request.path,
            errors.request_id(),
        )
        return errors.problem(500, "internal error; the service log has it under this request_id")

    @app.get("/healthz")
    async def healthz() -> tuple[Response, int]:
        problems = {}
        for check, check_fn in (liveness or {}).items():
            why = await check_fn()
            if why:
                problems[check] = why
        if problems:
            body = {"status": "failing", "service": name, "node": settings.node_name}
            return jsonify(body | {"checks": problems}), 503
        return jsonify(status="ok", service=name, node=settings.node_name), 200

    @app.get("/readyz")
    async def readyz() -> tuple[Response, int]:
        results: dict[str, str | None] = {}
        for check, check_fn in readiness.items():
            results[check] = await check_fn()
        problems = {check: why for check, why in results.items() if why}
        body = {
            "status": "not ready" if problems else "ready",
            "service": name,
            "node": settings.node_name,
            "checks": {check: why or "ok" for check, why in results.items()},
            **(facts() if facts is not None else {}),
        }
        return jsonify(body), 503 if problems else 200

    @app.get("/metrics")
    async def prometheus() -> Response:
        if before_metrics is not None:
            await before_metrics()
        return Response(metrics.render(), content_type=CONTENT_TYPE)

    return app


def metrics_of(app: Quart) -> Metrics:
    return app.extensions["imgcloud_metrics"]


def settings_of(app: Quart) -> Settings:
    return app.config["IMGCLOUD_SETTINGS"]


def _describe(error: HTTPException) -> str:
    if error.code == 413:
        return "the request is too large"
    if error.code == 404:
        return "not found"
    if error.code == 405:
        return "method not allowed"
    return error.description or error.name
