"""Who is asking: a bearer token or the page's session cookie, checked on every request.

Scripts send ``Authorization: Bearer imgc_...``; the page signs in and holds a session
cookie (Secure, HttpOnly, SameSite=Strict). A write made with the cookie must also
carry the session's CSRF token in ``X-CSRF-Token``: another site's page can make a
browser send the cookie, but cannot read the token (the same-origin policy keeps it
in our page).

Viewing an image by its id needs nothing (ids are unguessable, as a link is meant to
be shared); listing needs a credential, uploading the ``upload`` scope, deleting
``delete`` and the image's ownership, or ``admin``.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from quart import g, request

from imgcloud.accounts import Principal
from imgcloud.errors import Refusal, problem

COOKIE = "imgcloud_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Refused(Refusal):
    """The request's credential is missing, unknown, or short of what it needs."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(status, reason, message)


async def principal() -> Principal | None:
    """Who sent the current request (read once per request), or None for no one.

    A credential that was sent and is not valid is refused (401) rather than taken as
    no credential: a script with a revoked token must hear so, not see a smaller listing.
    """
    if "principal" in g:
        return g.principal
    from imgcloud.context import current  # the backend's resources

    accounts = current().accounts
    found: Principal | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "send the token as 'Authorization: Bearer <token>'", "bad_token")
        found = await accounts.bearer(token.strip())
        if found is None:
            raise Refused(401, "this token is not valid (revoked, or never made)", "bad_token")
    elif cookie := request.cookies.get(COOKIE):
        found = await accounts.session(cookie)
        if found is None:
            raise Refused(401, "your session has ended; sign in again", "session_ended")
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), found.csrf
        ):
            raise Refused(403, f"a write from the page must carry {CSRF_HEADER}", "csrf")
    g.principal = found
    return found


async def signed_in(scope: str | None = None) -> Principal:
    """The current principal, holding ``scope`` when one is named; else :class:`Refused`."""
    who = await principal()
    if who is None:
        raise Refused(401, "sign in, or send an API token", "sign_in")
    if scope is not None and scope not in who.scopes and not who.is_admin:
        raise Refused(403, f"this credential does not allow {scope}", "forbidden")
    return who


async def refused(error: Refusal) -> Any:
    """The answer to any :class:`~imgcloud.errors.Refusal` a route raises."""
    answer, status = problem(error.status, error.message, error.reason)
    if status == 401:
        answer.headers["WWW-Authenticate"] = 'Bearer realm="imgcloud"'
    return answer, status


class AttemptLimiter:
    """Failed sign-ins per (name, address) in a sliding window: past ``limit``, wait.

    In memory, per backend process: N backends let a guesser try N times as often,
    which still holds a 10-character password far beyond reach. HAProxy limits the
    sign-in requests of each address across the VM holding the floating IP too
    (``haproxy_rate_limit_signins``).
    """

    def __init__(
        self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def wait(self, name: str, address: str) -> float:
        """Seconds until ``name`` may be tried from ``address`` again (0: now)."""
        failures = self._recent(name, address)
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, failures[0] + self.window - self._clock())

    def failed(self, name: str, address: str) -> None:
        self._recent(name, address).append(self._clock())

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name, address), None)

    def _recent(self, name: str, address: str) -> deque[float]:
        if len(self._failures) > 10_000:  # forget the oldest tries of a spray of names
            self._failures = dict(list(self._failures.items())[5_000:])
        failures = self._failures.setdefault((name, address), deque())
        while failures and failures[0] <= self._clock() - self.window:
            failures.popleft()
        return failures


def client_address() -> str:
    """The user's address: the last X-Forwarded-For entry (HAProxy's), else the peer."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.rsplit(",", 1)[-1].strip() or (request.remote_addr or "-")
