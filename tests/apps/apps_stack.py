"""Helpers the service tests share: start the stack, upload, wait for a status, read S3."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config
from imgcloud.devstack import MinIO, RabbitMQ, Service, service_env

DEADLINE = 60.0


@dataclass
class Stack:
    rabbitmq: RabbitMQ
    minio: MinIO
    env: dict[str, str]
    backend: Service
    worker: Service
    frontend: Service
    admin_token: str  # the deploy's admin token, as `imgcloud dev` makes one

    @property
    def auth(self) -> dict[str, str]:
        """Headers that carry the admin token."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def client(self, role: str = "backend", timeout: float = 30, **kwargs: Any) -> httpx.Client:
        """An HTTP client of ``role``'s service, signed in with the admin token."""
        url = getattr(self, role).url
        return httpx.Client(base_url=url, timeout=timeout, headers=self.auth, **kwargs)

    @property
    def bucket(self) -> str:
        return self.env["IMGCLOUD_S3_BUCKET"]

    @property
    def queue(self) -> str:
        return self.env["IMGCLOUD_QUEUE"]

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.minio.endpoint,
            aws_access_key_id=self.minio.access_key,
            aws_secret_access_key=self.minio.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def keys(self, prefix: str = "") -> set[str]:
        pages = (
            self.s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def upload_keys(self) -> set[str]:
        """Keys only an accepted upload creates: index entries and originals."""
        return {k for k in self.keys() if k.startswith("index/") or k.endswith("/original")}

    def stop(self) -> None:
        for service in (self.frontend, self.worker, self.backend):
            service.stop()


def start_infra(root: Path) -> tuple[RabbitMQ, MinIO]:
    """RabbitMQ and MinIO, started side by side to save time."""
    with ThreadPoolExecutor(2) as pool:
        rabbit = pool.submit(RabbitMQ(root / "rabbitmq").start)
        minio = pool.submit(MinIO(root / "minio").start)
        return rabbit.result(), minio.result()


def start_stack(root: Path, rabbitmq: RabbitMQ, minio: MinIO, name: str, **extra: str) -> Stack:
    token = secrets.token_hex(3)
    env = service_env(
        rabbitmq.url,
        minio,
        bucket=f"test-{name}-{token}",
        queue=f"imgcloud.test.{name}.{token}",
        node_name=f"node-{name}",
    )
    env["IMGCLOUD_PREFETCH"] = "4"
    admin_token = secrets.token_urlsafe(32)
    env["IMGCLOUD_ADMIN_TOKEN_SHA256"] = hashlib.sha256(admin_token.encode()).hexdigest()
    env.update({f"IMGCLOUD_{key.upper()}": value for key, value in extra.items()})
    backend = Service("backend", root, env)
    worker = Service("worker", root, {**env, "IMGCLOUD_NODE_NAME": f"worker-{name}"})
    frontend = Service(
        "frontend",
        root,
        {**env, "IMGCLOUD_BACKEND_URL": backend.url, "IMGCLOUD_NODE_NAME": f"front-{name}"},
    )
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda s: s.start(), (backend, worker, frontend)))
    return Stack(rabbitmq, minio, env, backend, worker, frontend, admin_token)


def upload(
    client: httpx.Client, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"
) -> httpx.Response:
    return client.post("/api/images", files={"file": (filename, data, content_type)})


def keyed_upload(
    client: httpx.Client, data: bytes, key: str | bytes, filename: str = "photo.jpg"
) -> httpx.Response:
    """An upload with an ``Idempotency-Key`` header, as a retrying client sends it."""
    return client.post(
        "/api/images",
        files={"file": (filename, data, "image/jpeg")},
        headers={"Idempotency-Key": key},
    )


def eventually(check: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f}s: {what or check} (last: {last!r})")


def finished(client: httpx.Client, image_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
    """The image's view once its status is no longer pending."""

    def check() -> dict[str, Any] | None:
        view = client.get(f"/api/images/{image_id}").json()
        return view if view.get("status") != "pending" else None

    return eventually(check, timeout, f"image {image_id} finishes")


def metric(url: str, name: str, labels: str = "") -> float:
    """The value of one sample on a /metrics page (0 when absent)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
