"""The backend: the HTTP API of DESIGN.md (upload, list, status, bytes, delete).

This module assembles the app: the resources (:class:`imgcloud.context.Backend`: S3, the
broker, the idempotency ledger) made in ``before_serving`` and closed in
``after_serving``, readiness checks, the errors every route shares, and the blueprints:
the upload path (:mod:`imgcloud.uploads`), the read side (:mod:`imgcloud.reads`) and
the accounts (:mod:`imgcloud.members`; who may do what is :mod:`imgcloud.auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from quart import Quart, Response
from werkzeug.exceptions import RequestEntityTooLarge

from imgcloud.auth import refused
from imgcloud.config import Settings
from imgcloud.context import Backend, backend_of, current, install
from imgcloud.errors import Refusal, problem, request_id
from imgcloud.members import members
from imgcloud.reads import reads
from imgcloud.storage import StorageUnavailable
from imgcloud.uploads import uploads
from imgcloud.web import create_service_app, metrics_of

MULTIPART_OVERHEAD = 64 * 1024
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Quart:
    checks = {"s3": s3_problem, "broker": broker_problem}
    app = create_service_app("backend", settings, checks, observe_queue)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD
    app.register_blueprint(uploads)
    app.register_blueprint(reads)
    app.register_blueprint(members)
    # A route's refusal (a credential, an account request) answers as itself.
    app.register_error_handler(Refusal, refused)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(StorageUnavailable, storage_down)
    tasks: set[asyncio.Task[None]] = set()

    @app.before_serving
    async def start() -> None:
        backend = Backend.create(settings, metrics_of(app))
        install(app, backend)
        with contextlib.suppress(StorageUnavailable):
            await backend.storage.ensure_bucket()
        tasks.add(asyncio.create_task(backend.broker.keep_connecting()))

    @app.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await backend_of(app).broker.close()

    return app


# Readiness checks and the metrics hook run inside a request, so current() finds the app.
async def s3_problem() -> str | None:
    try:
        await current().storage.ping()
    except StorageUnavailable as exc:
        return str(exc)
    return None


async def broker_problem() -> str | None:
    return None if current().broker.connected else "the message broker is not connected"


async def observe_queue() -> None:
    backend = current()
    depth = await backend.broker.depth()
    if depth is not None:
        backend.metrics.queue_depth.set(depth)


async def too_large(_error: RequestEntityTooLarge) -> tuple[Response, int]:
    backend = current()
    limit = backend.settings.max_upload_bytes / (1024 * 1024)
    return backend.reject(413, "too_large", f"the file is larger than the limit of {limit:.1f} MB")


async def storage_down(error: StorageUnavailable) -> tuple[Response, int]:
    log.warning("the image store failed [request %s]: %s", request_id(), error)
    return problem(503, "the image store is not answering; try again shortly", "s3")
