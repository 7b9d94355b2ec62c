"""After the heal: follow every upload to its end and read back what the cluster stored.

Nothing is judged here: this is the I/O half of the history checker. It writes into
the journal what `history.py` needs to judge a run again without the cluster:

- a `verify` op per image followed: its final status (done, failed, still pending);
- one `listing` event: the whole listing walked page by page (`limit`/`after`), with
  every id listed under each file name this run sent;
- a `readback` event per image found (every acknowledged upload, and every stored
  image of an upload that was not acknowledged): its status, the SHA-256 of the
  original read back and the one its JSON carries, and the decoded size of each
  variant (or why it could not be read or decoded).

The read-back asks the cluster far faster than the steady traffic does (five GETs per
image, eight at a time), through the same per-client abuse limits at HAProxy
(docs/security.md#abuse-limits-at-haproxy). It keeps below them, and a `429` is the
limit answering, not the image lost: it waits the `Retry-After` and asks again.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

if TYPE_CHECKING:
    from chaos.client import SteadyClient

PAGE = 100  # the backend's largest page
MAX_PAGES = 200
CLOCK_SKEW_S = 120.0  # listing entries older than the run by this much end the walk
READ_ATTEMPTS = 3
# Below the lab's limit of 1000 requests per 10 s per client (haproxy_rate_limit_*),
# with room for the steady traffic (5/s) still in its window; a deployment with a
# lower limit gets 429s, which are waited out below.
READ_RATE = 75.0  # requests per second
RATE_LIMITED_WAIT_S = 60.0  # the longest a read waits out 429s in all
RETRY_AFTER_MAX_S = 15.0
LIMITED_POLL_PAUSE_S = 5.0


class Pace:
    """Spaces requests from any number of threads at least 1/rate apart."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._gap
        if slot > now:
            time.sleep(slot - now)


def retry_after(answer: httpx.Response) -> float:
    """How long a 429 asks the client to wait (seconds form only; 1 s if absent)."""
    try:
        return min(RETRY_AFTER_MAX_S, max(0.0, float(answer.headers.get("retry-after", 1))))
    except ValueError:
        return 1.0


def measure(data: bytes) -> list[int] | str:
    """The decoded width and height of an image, or why it does not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return [image.width, image.height]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"does not decode: {type(exc).__name__}"


_pace = Pace(READ_RATE)


def _note_limited(client: SteadyClient, path: str, pause: float) -> None:
    client.journal.event(time.time(), "rate_limited", path=path, wait_s=pause)


def _get(client: SteadyClient, path: str) -> tuple[httpx.Response | None, str | None]:
    """GET with a few attempts (the cluster has just healed), waiting out the abuse
    limit's 429s; the answer or why none."""
    why = "not asked"
    attempt, limited_s = 0, 0.0
    while attempt < READ_ATTEMPTS:
        if attempt:
            time.sleep(1)
        _pace.wait()
        op, answer = client.request("verify", "GET", path)
        if answer is not None and answer.status_code == 429 and limited_s < RATE_LIMITED_WAIT_S:
            pause = retry_after(answer)
            limited_s += pause
            _note_limited(client, path, pause)
            time.sleep(pause)
            continue
        attempt += 1
        if answer is not None and answer.status_code < 500:
            return answer, None
        if answer is None:
            why = op.error or "no answer"
        else:
            why = f"{answer.status_code} {answer.text[:60]}"
    return None, why


def _checked(client: SteadyClient, image: str) -> tuple[Any, str | None]:
    """The image's status, waiting out the abuse limit's 429s."""
    limited_s = 0.0
    while True:
        _pace.wait()
        op, state = client.check_status(image, "verify")
        if op.status != 429 or limited_s >= RATE_LIMITED_WAIT_S:
            return op, state
        pause = LIMITED_POLL_PAUSE_S  # the Op keeps no headers: a fixed pause
        limited_s += pause
        _note_limited(client, f"api/images/{image}", pause)
        time.sleep(pause)


def follow(client: SteadyClient, images: list[str], end: float) -> dict[str, str | None]:
    """Poll each image until done or failed, or `end` (monotonic); one verify op each."""
    states: dict[str, str | None] = {}
    todo = list(images)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="chaos-follow") as pool:
        while todo:
            last = time.monotonic() >= end
            seen = list(pool.map(lambda image: _checked(client, image), todo))
            left = []
            for image, (op, state) in zip(todo, seen, strict=True):
                if state in ("done", "failed") or last:
                    op.ok = state == "done"
                    if not op.ok:
                        op.error = op.error or f"ends {state or 'unknown'}"
                    client.record(op)
                    states[image] = state
                else:
                    left.append(image)
            todo = left
            if todo:
                time.sleep(1)
    return states


def walk_listing(client: SteadyClient, filenames: set[str], since: float) -> dict[str, list[str]]:
    """Every id the listing shows under each of `filenames`; records a `listing` event."""
    found: dict[str, list[str]] = {}
    after, pages, entries, error, complete = "", 0, 0, None, False
    while pages < MAX_PAGES:
        query = f"api/images?limit={PAGE}" + (f"&after={after}" if after else "")
        answer, why = _get(client, query)
        if answer is None or answer.status_code != 200:
            error = why or f"{answer.status_code if answer is not None else '?'} on page {pages}"
            break
        try:
            body = answer.json()
            images, cursor = list(body.get("images") or []), body.get("next")
        except (ValueError, AttributeError):
            error = f"page {pages} is not the listing's JSON"
            break
        pages += 1
        entries += len(images)
        for entry in images:
            if entry.get("filename") in filenames:
                found.setdefault(entry["filename"], []).append(str(entry.get("id")))
        older = [float(e.get("created") or 0) < since - CLOCK_SKEW_S for e in images]
        if not cursor or (older and all(older)):
            complete = True  # the end, or only images older than this run from here on
            break
        after = str(cursor)
    else:
        error = f"more than {MAX_PAGES} pages"
    client.journal.event(
        time.time(),
        "listing",
        complete=complete,
        pages=pages,
        entries=entries,
        error=error,
        found=found,
    )
    return found


def read_back(client: SteadyClient, image: str) -> dict[str, Any]:
    """Read an image's JSON, original and variants; records and returns a `readback` event."""
    detail: dict[str, Any] = {
        "image": image,
        "status": None,
        "json_sha256": None,
        "sizes": {},
        "sha256": None,
        "original": None,
        "variants": {},
        "error": None,
    }
    answer, why = _get(client, f"api/images/{image}")
    body: Any = None
    if answer is not None and answer.status_code == 200:
        try:
            body = answer.json()
        except ValueError:
            why = "the image JSON does not parse"
    else:
        why = why or f"{answer.status_code if answer is not None else '?'} for the image JSON"
    if not isinstance(body, dict):
        detail["error"] = why or "the image JSON is not an object"
        client.journal.event(time.time(), "readback", **detail)
        return detail
    detail["status"] = body.get("status")
    detail["json_sha256"] = body.get("sha256")
    sizes = body.get("sizes")
    sizes = sizes if isinstance(sizes, dict) else {}
    detail["sizes"] = {
        name: [info.get("width"), info.get("height")]
        for name, info in sizes.items()
        if isinstance(info, dict)
    }
    for variant in ("original", *client.config.variants):
        got, why = _get(client, f"api/images/{image}/{variant}")
        if got is None or got.status_code != 200 or not got.content:
            code = got.status_code if got is not None else None
            value: list[int] | str = f"unreadable: {why or code}"
        else:
            value = measure(got.content)
            if variant == "original":
                detail["sha256"] = hashlib.sha256(got.content).hexdigest()
        if variant == "original":
            detail["original"] = value
        else:
            detail["variants"][variant] = value
    client.journal.event(time.time(), "readback", **detail)
    return detail


def verify(client: SteadyClient, deadline_s: float) -> None:
    """Follow every acknowledged upload to its end, walk the listing, follow what it shows
    of unacknowledged uploads, then read back every image found."""
    end = time.monotonic() + deadline_s
    uploads = client.upload_ops()
    acked = [op.image for op in uploads if op.ok and op.image]
    follow(client, acked, end)
    found = walk_listing(client, {op.filename for op in uploads if op.filename}, client.began)
    unacked = {op.filename for op in uploads if not op.ok and op.filename}
    extra = sorted({i for name in unacked for i in found.get(name, []) if i not in set(acked)})
    follow(client, extra, max(end, time.monotonic() + 15))  # a late-stored one may be pending
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="chaos-readback") as pool:
        list(pool.map(lambda image: read_back(client, image), [*acked, *extra]))
