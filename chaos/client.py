"""The steady client: uploads, status polls and variant reads through the floating IP
at a fixed rate, every one of them recorded as an `Op` in the journal.

Open loop: an operation starts on schedule whether or not the previous ones have
answered, so a stalled cluster shows as many slow operations, not as silence. Each
operation uses a fresh connection, like independent users, so a connection to a
dead VIP holder fails that operation only.
"""

from __future__ import annotations

import io
import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from PIL import Image, ImageDraw

from chaos.journal import Journal, Op

DEFAULT_VARIANTS = ("thumb", "medium", "large")


@dataclass(frozen=True)
class ClientConfig:
    rate: float = 5.0  # operations per second
    mix: tuple[str, ...] = ("upload", "status", "read", "status", "read")
    timeout: float = 10.0
    variants: tuple[str, ...] = DEFAULT_VARIANTS


def make_image(seq: int, size: tuple[int, int] = (480, 360)) -> bytes:
    """A small, distinct JPEG: a gradient with a band whose place depends on `seq`."""
    image = Image.new("RGB", size, (seq * 37 % 256, 90, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 8):
        draw.line([(x, 0), (x, size[1])], fill=(x % 256, seq * 13 % 256, 255 - x % 256), width=4)
    band = seq * 11 % size[1]
    draw.rectangle([0, band, size[0], band + 20], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        text = str(body.get("error", body)) if isinstance(body, dict) else str(body)
    except ValueError:
        text = answer.text.strip().replace("\n", " ")
    return f"{answer.status_code} {text[:80]}".strip()


class SteadyClient:
    def __init__(self, url: str, journal: Journal, config: ClientConfig | None = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.config = config or ClientConfig()
        self._journal = journal
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout, connect=min(5.0, self.config.timeout)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=0),
        )
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="chaos-op")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._random = random.Random(7)
        self.acked: dict[str, float] = {}  # image id -> time of the 202
        self.done: dict[str, float] = {}  # image id -> first time seen done
        self._polled: dict[str, float] = {}

    # -- the schedule ---------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-client")
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling and wait for the operations in flight."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._pool.shutdown(wait=True)

    def close(self) -> None:
        self._http.close()

    def _run(self) -> None:
        began = time.monotonic()
        for tick in itertools.count():
            due = began + tick / self.config.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            kind = self.config.mix[tick % len(self.config.mix)]
            self._pool.submit(getattr(self, f"_{kind}"))

    # -- operations -------------------------------------------------------------------
    def _record(self, op: Op) -> Op:
        self._journal.op(op)
        return op

    def _request(
        self, kind: str, method: str, path: str, image: str | None = None, **kw: object
    ) -> tuple[Op, httpx.Response | None]:
        start = time.time()
        try:
            answer = self._http.request(method, self.url + path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            return Op(kind, start, time.time(), False, error=type(exc).__name__, image=image), None
        op = Op(
            kind,
            start,
            time.time(),
            False,
            status=answer.status_code,
            node=answer.headers.get("x-served-by"),
            image=image,
        )
        return op, answer

    def _upload(self) -> None:
        seq = next(self._seq)
        files = {"file": (f"chaos-{seq}.jpg", make_image(seq), "image/jpeg")}
        op, answer = self._request("upload", "POST", "api/images", files=files)
        if answer is not None:
            if answer.status_code == 202:
                image = answer.json().get("id")
                op.ok, op.image = bool(image), image
                if image:
                    with self._lock:
                        self.acked[image] = op.end
            else:
                op.error = _reason(answer)
        self._record(op)

    def _pick_for_status(self) -> str | None:
        now = time.time()
        with self._lock:
            pending = [i for i in self.acked if i not in self.done]
            fresh = [i for i in pending if now - self._polled.get(i, 0) > 0.5]
            choice = fresh[0] if fresh else None
            if choice is None and self.done:
                choice = self._random.choice(list(self.done))
            if choice:
                self._polled[choice] = now
            return choice

    def _status(self) -> None:
        image = self._pick_for_status()
        if image is None:
            self._list()
            return
        op, _ = self.check_status(image, "status")
        self._record(op)

    def check_status(self, image: str, kind: str) -> tuple[Op, str | None]:
        """GET the image's status; marks it done when every variant is listed."""
        op, answer = self._request(kind, "GET", f"api/images/{image}", image=image)
        if answer is None:
            return op, None
        if answer.status_code != 200:
            op.error = _reason(answer)
            return op, None
        state = answer.json().get("status")
        variants = answer.json().get("variants") or {}
        op.ok, op.detail = state in ("pending", "done", "failed"), state
        if state == "done" and all(v in variants for v in self.config.variants):
            with self._lock:
                self.done.setdefault(image, op.end)
        elif state == "done":
            op.detail = "done-incomplete"
        return op, op.detail

    def _list(self) -> None:
        op, answer = self._request("status", "GET", "api/images")
        if answer is not None:
            op.ok = answer.status_code == 200
            op.detail = "list"
            if not op.ok:
                op.error = _reason(answer)
        self._record(op)

    def _read(self) -> None:
        with self._lock:
            done = list(self.done)
            acked = list(self.acked)
        if done:
            image = self._random.choice(done)
            variant = self._random.choice(("original", *self.config.variants))
        elif acked:
            image, variant = acked[-1], "original"
        else:
            self._list()
            return
        self._record(self.read_variant(image, variant, "read"))

    def read_variant(self, image: str, variant: str, kind: str) -> Op:
        op, answer = self._request(kind, "GET", f"api/images/{image}/{variant}", image=image)
        op.detail = variant
        if answer is not None:
            op.ok = answer.status_code == 200 and len(answer.content) > 0
            if not op.ok:
                op.error = _reason(answer)
        return op

    # -- after the experiment ---------------------------------------------------------
    def verify(self, deadline_s: float) -> None:
        """Follow every acknowledged upload to `done` with all its variants readable.

        One `verify` op per image: ok when its status is done and every variant
        (and the original) reads back; failed with the reason otherwise.
        """
        end = time.monotonic() + deadline_s
        with self._lock:
            todo = list(self.acked)
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="chaos-verify") as pool:
            while todo:
                last = time.monotonic() >= end
                settled = list(pool.map(self._verify_one, todo, [last] * len(todo)))
                todo = [image for image, done in zip(todo, settled, strict=True) if not done]
                if todo:
                    time.sleep(1)

    def _verify_one(self, image: str, last: bool) -> bool:
        """Check one upload; True once its verdict is recorded."""
        start = time.time()
        op, state = self.check_status(image, "verify")
        if state == "done":
            reads = [
                self.read_variant(image, v, "verify") for v in ("original", *self.config.variants)
            ]
            bad = [r for r in reads if not r.ok]
            if bad and not last:
                return False  # a read failed: try again until the deadline
            error = f"{bad[0].detail}: {bad[0].error}" if bad else None
            self._record(
                Op(
                    "verify",
                    start,
                    time.time(),
                    not bad,
                    status=200,
                    image=image,
                    node=op.node,
                    detail="done",
                    error=error,
                )
            )
            return True
        if state == "failed" or last:
            op.ok = False
            op.error = op.error or f"ends {state or 'unknown'}"
            self._record(op)
            return True
        return False
