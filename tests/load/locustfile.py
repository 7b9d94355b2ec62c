"""imgcloud under load: people who upload photos and people who browse them.

Run with `tox -e load` (web UI on http://127.0.0.1:8089, aimed at the floating IP) or
headless through `python -m loadbench bench`. Besides Locust's per-URL statistics, every
upload reports one `FLOW upload-to-done` entry: the time from the start of the upload to
the first answer saying every variant is available.

Settings (environment): IMGCLOUD_LOAD_MIX ("2mp=3,12mp=1": the weights of the two upload
tasks), IMGCLOUD_LOAD_DONE_TIMEOUT (s, default 120), IMGCLOUD_VARIANTS (the variants to
expect, as the service's own setting), IMGCLOUD_LOAD_KEEP=1 to keep uploaded images,
IMGCLOUD_TOKEN (the API token every user sends: uploads and the listing need one),
IMGCLOUD_CA (the CA that checks the site's HTTPS certificate; unset: the system's roots).
"""

from __future__ import annotations

import io
import os
import random
import time
import uuid
from typing import Any

import gevent
from locust import HttpUser, between, events, task
from locust.runners import STATE_STOPPED, STATE_STOPPING
from PIL import Image

from loadbench import images

FLOW = "FLOW"
UPLOAD_TO_DONE = "upload-to-done"
DONE_TIMEOUT = float(os.environ.get("IMGCLOUD_LOAD_DONE_TIMEOUT", "120"))
KEEP_IMAGES = os.environ.get("IMGCLOUD_LOAD_KEEP", "") == "1"
TOKEN = os.environ.get("IMGCLOUD_TOKEN", "")
CA_FILE = os.environ.get("IMGCLOUD_CA", "")


def carry_token(user: HttpUser) -> None:
    """Every request of ``user`` with the API token, as a script of the team's sends it."""
    if TOKEN:
        user.client.headers["Authorization"] = f"Bearer {TOKEN}"


def check_certificate(user: HttpUser) -> None:
    """HTTPS of ``user`` checked against the site's CA (loadbench.target), never unchecked."""
    user.client.verify = CA_FILE or True


POLL_FIRST, POLL_MAX = 0.1, 0.5


def expected_variants() -> dict[str, int]:
    """Variant name -> bounding box in px, from IMGCLOUD_VARIANTS like the service reads it."""
    spec = os.environ.get("IMGCLOUD_VARIANTS", "thumb=160,medium=640,large=1280")
    variants: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, px = item.partition("=")
        if not px.isdigit():
            raise ValueError(f"IMGCLOUD_VARIANTS: {item!r} is not name=pixels")
        variants[name.strip()] = int(px)
    return variants


def upload_mix() -> dict[str, int]:
    """Weights of the 2 MP and 12 MP upload tasks, from IMGCLOUD_LOAD_MIX."""
    spec = os.environ.get("IMGCLOUD_LOAD_MIX", "2mp=3,12mp=1")
    mix = {label: 0 for label in images.SIZES}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        label, _, weight = item.partition("=")
        if label not in mix or not weight.isdigit():
            raise ValueError(f"IMGCLOUD_LOAD_MIX: {item!r} is not one of {sorted(mix)}=weight")
        mix[label] = int(weight)
    return mix


VARIANTS = expected_variants()
MIX = upload_mix()
_photos: dict[str, list[images.Photo]] = {}


def photos(label: str) -> list[images.Photo]:
    """A few distinct photos of one size class, generated once per process."""
    if label not in _photos:
        _photos[label] = images.pool({label: 1})
    return _photos[label]


@events.test_start.add_listener
def _prepare_photos(environment: Any, **_: Any) -> None:
    # Generate (or read from cache) before users start, so no upload waits on numpy.
    for label, weight in MIX.items():
        if weight:
            photos(label)


def fire_flow(user: HttpUser, started: float, exception: Exception | None) -> None:
    """Report the upload-to-done time of one image as its own Locust entry."""
    user.environment.events.request.fire(
        request_type=FLOW,
        name=UPLOAD_TO_DONE,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=0,
        response=None,
        context={},
        exception=exception,
    )


class FlowFailed(Exception):
    """An upload that did not reach `done` with every variant, and why."""


def stopping(user: HttpUser) -> bool:
    runner = user.environment.runner
    return runner is not None and runner.state in (STATE_STOPPING, STATE_STOPPED)


def check_variant_bytes(content: bytes, bound: int, original: tuple[int, int]) -> str | None:
    """Why a variant's bytes are wrong (None when right): an image fitting its box, no upscale."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
    except Exception as error:  # Pillow raises several types for bad bytes
        return f"not an image ({error})"
    want = min(bound, max(original))
    if max(width, height) != want:
        return f"{width}x{height} does not fit a {bound}px box from {original[0]}x{original[1]}"
    return None


class Uploader(HttpUser):
    """Uploads a photo, waits until every variant exists, then looks at the variants."""

    weight = 4
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        carry_token(self)
        check_certificate(self)
        self.uploaded: list[str] = []

    def on_stop(self) -> None:
        # Leave the shared lab as found: delete what this user uploaded.
        if KEEP_IMAGES:
            return
        for image_id in self.uploaded:
            with self.client.delete(
                f"/api/images/{image_id}", name="/api/images/[id]", catch_response=True
            ) as response:
                if response.status_code not in (200, 202, 204, 404):
                    response.failure(f"delete: expected 2xx, got {_got(response)}")

    @task(MIX["2mp"])
    def upload_2mp(self) -> None:
        self.upload_flow(random.choice(photos("2mp")))

    @task(MIX["12mp"])
    def upload_12mp(self) -> None:
        self.upload_flow(random.choice(photos("12mp")))

    def upload_flow(self, photo: images.Photo) -> None:
        started = time.perf_counter()
        try:
            image_id = self.upload(photo)
            self.uploaded.append(image_id)
            variants = self.wait_done(image_id)
        except FlowFailed as error:
            fire_flow(self, started, error)
            return
        fire_flow(self, started, None)
        for name, url in variants.items():
            if name in VARIANTS:
                self.fetch_variant(url, name, photo.size)

    def upload(self, photo: images.Photo) -> str:
        files = {"file": (photo.filename, photo.data, "image/jpeg")}
        with self.client.post(
            "/api/images",
            files=files,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name=f"/api/images [{photo.label}]",
            catch_response=True,
        ) as response:
            body = _json(response)
            if response.status_code != 202:
                reason = f"upload: expected 202, got {_got(response)}{_error(response)}"
            elif not isinstance(body, dict) or not isinstance(body.get("id"), str):
                reason = f"upload: answer has no string id: {response.text[:200]!r}"
            elif body.get("status") != "pending":
                reason = f"upload: expected status pending, got {body.get('status')!r}"
            else:
                return body["id"]
            response.failure(reason)
        raise FlowFailed(reason)

    def wait_done(self, image_id: str) -> dict[str, str]:
        """Poll the image until `done`; its variant URLs, or FlowFailed with the reason."""
        deadline = time.monotonic() + DONE_TIMEOUT
        pause = POLL_FIRST
        while True:
            body = self.get_image(image_id)
            if body["status"] == "done":
                return body["variants"]
            if time.monotonic() > deadline:
                raise FlowFailed(f"not done after {DONE_TIMEOUT:.0f} s (status {body['status']})")
            gevent.sleep(pause)
            pause = min(pause * 1.5, POLL_MAX)

    def get_image(self, image_id: str) -> dict[str, Any]:
        with self.client.get(
            f"/api/images/{image_id}", name="/api/images/[id]", catch_response=True
        ) as response:
            body = _json(response)
            reason = _image_problem(response.status_code, _got(response), body, image_id)
            if reason is None:
                return body
            response.failure(reason)
        raise FlowFailed(reason)

    def fetch_variant(self, url: str, name: str, original: tuple[int, int]) -> None:
        with self.client.get(url, name=f"/api/images/[id]/{name}", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{name}: expected 200, got {_got(response)}")
                return
            problem = check_variant_bytes(response.content, VARIANTS[name], original)
            if problem:
                response.failure(f"{name}: {problem}")


class Viewer(HttpUser):
    """Opens the web page, browses the gallery and looks at a few images."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        carry_token(self)
        check_certificate(self)

    @task(1)
    def front_page(self) -> None:
        with self.client.get("/", name="/", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"page: expected 200, got {_got(response)}")
            elif "html" not in response.headers.get("Content-Type", ""):
                response.failure(f"page: not HTML ({response.headers.get('Content-Type')})")

    @task(4)
    def gallery(self) -> None:
        for item in self.list_images()[:6]:
            thumb = (item.get("variants") or {}).get("thumb")
            if item.get("status") == "done" and thumb:
                self.look(thumb, "thumb")

    @task(2)
    def open_one(self) -> None:
        done = [item for item in self.list_images() if item.get("status") == "done"]
        if not done:
            return
        variants = random.choice(done).get("variants") or {}
        name = "large" if "large" in variants else next(iter(variants), None)
        if name:
            self.look(variants[name], name)

    def list_images(self) -> list[dict[str, Any]]:
        with self.client.get("/api/images", name="/api/images", catch_response=True) as response:
            body = _json(response)
            items = body.get("images") if isinstance(body, dict) else body
            if response.status_code != 200:
                response.failure(f"gallery: expected 200, got {_got(response)}")
            elif not isinstance(items, list):
                response.failure(f"gallery: no list of images in {response.text[:200]!r}")
            else:
                return [item for item in items if isinstance(item, dict)]
        return []

    def look(self, url: str, name: str) -> None:
        with self.client.get(url, name=f"/api/images/[id]/{name}", catch_response=True) as response:
            if response.status_code == 404 and stopping(self):
                response.success()  # deleted by an Uploader's clean-up as the run ends
            elif response.status_code != 200:
                response.failure(f"{name}: expected 200, got {_got(response)}")
            elif not response.headers.get("Content-Type", "").startswith("image/"):
                response.failure(f"{name}: not an image ({response.headers.get('Content-Type')})")


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _got(response: Any) -> str:
    """The status code, or why there was none (connection refused, reset, timed out)."""
    if response.status_code:
        return str(response.status_code)
    error = getattr(response, "error", None)
    return f"no answer ({type(error).__name__}: {str(error)[:160]})" if error else "no answer"


def _error(response: Any) -> str:
    """`: <the service's error message>` of a failed answer; nothing when there was none."""
    if not response.status_code:
        return ""
    body = _json(response)
    if isinstance(body, dict) and "error" in body:
        return f": {body['error']}"
    return f": {response.text[:200]!r}"


def _image_problem(status: int, got: str, body: Any, image_id: str) -> str | None:
    """Why an image status answer is wrong, or None when it is a valid answer."""
    if status != 200:
        return f"status: expected 200, got {got}"
    if not isinstance(body, dict) or body.get("id") != image_id:
        return f"status: answer is not about {image_id}"
    state = body.get("status")
    if state == "failed":
        return f"resize failed: {body.get('error', 'no reason given')}"
    if state == "pending":
        return None
    if state != "done":
        return f"status: unknown status {state!r}"
    variants = body.get("variants")
    missing = sorted(set(VARIANTS) - set(variants or {}))
    if missing:
        return f"done without variants {', '.join(missing)}"
    return None
