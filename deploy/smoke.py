"""The last step of a deployment: one real upload through the floating IP.

Waits until the service answers at the URL, uploads a generated picture, waits
until the worker has made every variant, fetches each one, and returns the
image's URL. Standard library only, so it runs wherever Ansible does. Uploading and
listing need a token (the deploy's admin token; IMGCLOUD_TOKEN or --token-file here).
Every request checks the site's HTTPS certificate: against `ca` (--ca here; the cluster
CA, deploy.site), else the system's roots. Nothing is sent unverified.

    python -m deploy.smoke https://10.210.0.100/ --ca .lab/imgcloud/secrets/tls/ca.pem \
        --token-file .lab/imgcloud/secrets/api_token
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import DeployError
from deploy.site import tls_context

_TIMEOUT = 10.0


class SmokeError(DeployError):
    """The service did not do what a user needs; the message says what."""


@dataclass(frozen=True)
class SmokeResult:
    image_id: str
    image_url: str
    variants: dict[str, str]
    seconds: float


def png(width: int = 800, height: int = 600) -> bytes:
    """A colour gradient as PNG, big enough that every default variant is real work."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes((x * 255 // width, y * 255 // height, 128))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + chunk(b"IEND", b"")
    )


def _request(
    req: urllib.request.Request, token: str = "", context: ssl.SSLContext | None = None
) -> tuple[int, bytes]:
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(
            req, timeout=_TIMEOUT, context=context or tls_context(None)
        ) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _get(url: str, token: str = "", context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    return _request(urllib.request.Request(url), token, context)


def _json(url: str, context: ssl.SSLContext | None = None) -> dict[str, Any]:
    status, body = _get(url, context=context)
    if status != 200:
        raise SmokeError(f"GET {url} answered {status}: {body[:200]!r}")
    return json.loads(body)


def _post_image(
    base_url: str,
    data: bytes,
    filename: str,
    key: str,
    token: str,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(base_url + "api/images", data=body, method="POST", headers=headers)
    return _request(req, token, context)


def upload(
    base_url: str,
    data: bytes,
    token: str,
    filename: str = "smoke.png",
    context: ssl.SSLContext | None = None,
) -> str:
    """POST the bytes as multipart field ``file``; return the new image's id."""
    status, answer = _post_image(base_url, data, filename, "", token, context)
    if status != 202:
        raise SmokeError(f"upload answered {status}, not 202: {answer[:300]!r}")
    return str(json.loads(answer)["id"])


# Answers of a service that cannot take an upload yet (no backend, S3 or broker).
_NOT_YET = (502, 503, 504)


def upload_when_ready(
    base_url: str,
    data: bytes,
    timeout: float,
    token: str,
    context: ssl.SSLContext | None = None,
) -> str:
    """Upload, trying again while the service cannot take it yet (502, 503, 504, or
    no connection): readiness as a user sees it. Any other refusal ends it at once.
    One Idempotency-Key for every attempt, so an attempt answered too late for us
    leaves no second image."""
    key = f"smoke-{uuid.uuid4().hex}"
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            status, answer = _post_image(base_url, data, "smoke.png", key, token, context)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 202:
                return str(json.loads(answer)["id"])
            last = f"upload answered {status}: {answer[:300]!r}"
            if status not in _NOT_YET:
                raise SmokeError(last)
        time.sleep(0.5)
    raise SmokeError(f"gave up after {timeout:.0f} s waiting for an upload to be taken; {last}")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, SmokeError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise SmokeError(f"gave up after {timeout:.0f} s waiting for {what}; last error: {last}")


def wait_ready(
    base_url: str, timeout: float = 180.0, context: ssl.SSLContext | None = None
) -> None:
    """Until the URL answers /healthz with 200: HAProxy has a live backend to send to.

    The backends' readiness (/readyz, with its checks) is for the VMs' network only;
    whether an upload goes through is what :func:`upload_when_ready` finds out."""
    wait_until(
        lambda: _get(base_url + "healthz", context=context)[0] == 200,
        timeout,
        f"{base_url}healthz",
    )


def wait_done(
    base_url: str, image_id: str, timeout: float = 120.0, context: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """Poll the image until it is done; a failed image or the deadline is an error."""
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            record = _json(f"{base_url}api/images/{image_id}", context)
        except (OSError, ValueError, SmokeError) as exc:  # a blip: ask again
            last = exc
        else:
            if record.get("status") == "failed":
                raise SmokeError(f"image {image_id} failed: {record.get('error')}")
            if record.get("status") == "done":
                return record
        time.sleep(0.5)
    raise SmokeError(
        f"image {image_id} still {record.get('status')!r} after {timeout:.0f} s; last error: {last}"
    )


def absolute(base_url: str, url: str) -> str:
    return url if "://" in url else base_url.rstrip("/") + "/" + url.lstrip("/")


def smoke(
    base_url: str, token: str, ca: Path | None = None, ready_timeout: float = 180.0
) -> SmokeResult:
    """Upload through ``base_url`` and wait for every variant; raise SmokeError if not.
    HTTPS is checked against ``ca`` (None: the system's roots)."""
    base_url = base_url.rstrip("/") + "/"
    context = tls_context(ca)
    started = time.monotonic()
    wait_ready(base_url, ready_timeout, context)
    remaining = max(10.0, ready_timeout - (time.monotonic() - started))
    image_id = upload_when_ready(base_url, png(), remaining, token, context)
    record = wait_done(base_url, image_id, context=context)
    variants = {name: absolute(base_url, url) for name, url in record["variants"].items()}
    for name, url in variants.items():
        status, body = _get(url, context=context)
        if status != 200 or not body:
            raise SmokeError(f"variant {name} at {url} answered {status}")
    return SmokeResult(
        image_id=image_id,
        image_url=f"{base_url}api/images/{image_id}",
        variants=variants,
        seconds=time.monotonic() - started,
    )


def report(base_url: str, token: str, ca: Path | None = None) -> SmokeResult:
    """The deployment's last step: smoke through the URL and say where the image is."""
    print(f"smoke test: uploading a picture through {base_url}", flush=True)
    result = smoke(base_url, token, ca)
    print(f"smoke test: {', '.join(sorted(result.variants))} ready in {result.seconds:.1f} s")
    print(f"smoke test: {result.image_url}")
    return result


def service_problems(base_url: str, token: str, ca: Path | None = None) -> list[str]:
    """Empty when the service answers through the URL right now: alive (/healthz),
    and its stored images readable (a page of the listing, from S3, with ``token``).
    HTTPS is checked against ``ca`` (None: the system's roots)."""
    problems = []
    context = tls_context(ca)
    for path in ("healthz", "api/images?limit=1"):
        url = base_url.rstrip("/") + "/" + path
        try:
            status, _ = _get(url, token, context)
        except OSError as exc:
            problems.append(f"{url}: {exc}")
            continue
        if status != 200:
            problems.append(f"{url} answered {status}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.smoke", description=__doc__)
    parser.add_argument("url", help="the service's base URL, e.g. https://<floating ip>/")
    parser.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="the CA that checks the site's certificate (e.g. the cluster's tls/ca.pem; "
        "default: the system's roots)",
    )
    parser.add_argument("--token-file", help="a file holding an API token (else IMGCLOUD_TOKEN)")
    args = parser.parse_args(argv)
    token = os.environ.get("IMGCLOUD_TOKEN", "")
    if args.token_file:
        with open(args.token_file) as held:
            token = held.read().strip()
    try:
        result = smoke(args.url, token, args.ca)
    except SmokeError as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded {result.image_url} with {', '.join(sorted(result.variants))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
