"""Every error answer alike: JSON with what the user can act on, and the request's id.

Each request has an id: the one HAProxy (or the dev frontend) put in ``X-Request-Id``
when it looks like one, else a new one. It goes back in the answer's header and in
every error body as ``request_id``, and the service logs an error's details (an S3 or
broker exception, a traceback) under the same id, so the body never needs to carry
internal text (addresses, library messages) for an operator to find what happened.
"""

from __future__ import annotations

import re
import secrets

from quart import Quart, Response, g, jsonify, request

HEADER = "X-Request-Id"
# What we take from upstream: short, and nothing a log line could be forged with.
_GIVEN = re.compile(r"[A-Za-z0-9._:-]{8,64}")


class Refusal(Exception):
    """A request refused with an answer the user can act on: status, reason, message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def request_id() -> str:
    """The id of the request being served ("-" outside one)."""
    return g.get("request_id", "-") if g else "-"


def problem(status: int, message: str, reason: str | None = None) -> tuple[Response, int]:
    """An error answer: ``{"error": message, "reason": reason, "request_id": ...}``."""
    body: dict[str, str] = {"error": message}
    if reason is not None:
        body["reason"] = reason
    body["request_id"] = request_id()
    return jsonify(body), status


def install(app: Quart) -> None:
    """Give every request of ``app`` an id, and every answer its header."""

    @app.before_request
    async def name_the_request() -> None:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _GIVEN.fullmatch(given) else secrets.token_hex(8)

    @app.after_request
    async def answer_with_the_id(response: Response) -> Response:
        response.headers.setdefault(HEADER, request_id())
        return response
