"""``imgcloud dev``: the whole service on this machine, on loopback, until Ctrl-C.

Starts what is missing (RabbitMQ unless IMGCLOUD_AMQP_URL is set, MinIO unless
IMGCLOUD_S3_ENDPOINT is set), then the backend, the worker and the frontend, which
forwards /api to the backend as HAProxy does in the cluster, on 127.0.0.1:8080
(IMGCLOUD_DEV_PORT to change it). Data and logs live in a temporary folder that goes
away with it.

The admin token (what a deploy makes; see imgcloud.accounts) is IMGCLOUD_ADMIN_TOKEN
when set, else a new one written to ``admin_token`` in that folder, whose path is
printed: `imgcloud users add` and scripts use it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from imgcloud import devstack
from imgcloud.devstack import MinIO, RabbitMQ, Service, StartError

DEFAULT_PORT = 8080


def frontend_port() -> int:
    """8080, or IMGCLOUD_DEV_PORT (say, when 8080 is taken)."""
    raw = os.environ.get("IMGCLOUD_DEV_PORT", str(DEFAULT_PORT))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StartError(f"IMGCLOUD_DEV_PORT={raw!r} is not a port number")
    return int(raw)


def main() -> int:
    devstack.DIE_WITH_PARENT = True  # all spawned from this thread, which lives longest
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="imgcloud-dev-") as tmp, ExitStack() as parts:
        try:
            services = _start(Path(tmp), parts)
        except StartError as exc:
            print(f"imgcloud dev: {exc}", file=sys.stderr)
            return 1
        print(f"\nimgcloud is up: {services[2].url}", flush=True)
        print(f"admin token: {_token_note(Path(tmp))}", flush=True)
        print(
            f"(backend {services[0].url}, worker {services[1].url}; logs in {tmp}; "
            "Ctrl-C stops everything)",
            flush=True,
        )
        while not stop.wait(1.0):
            dead = [s.role for s in services if not s.running]
            if dead:
                print(f"imgcloud dev: {', '.join(dead)} stopped; see {tmp}", file=sys.stderr)
                return 1
        print("\nstopping…", flush=True)
    return 0


def admin_token(root: Path) -> str:
    """IMGCLOUD_ADMIN_TOKEN, or a new token kept in ``root/admin_token`` (mode 0600)."""
    given = os.environ.get("IMGCLOUD_ADMIN_TOKEN", "").strip()
    if given:
        return given
    path = root / "admin_token"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _token_note(root: Path) -> str:
    if os.environ.get("IMGCLOUD_ADMIN_TOKEN", "").strip():
        return "IMGCLOUD_ADMIN_TOKEN"
    path = root / "admin_token"
    return f"{path} (export IMGCLOUD_TOKEN=$(cat {path}); imgcloud users add NAME)"


def _start(root: Path, parts: ExitStack) -> list[Service]:
    env = {
        "IMGCLOUD_NODE_NAME": os.environ.get("IMGCLOUD_NODE_NAME", "dev"),
        "IMGCLOUD_ADMIN_TOKEN_SHA256": hashlib.sha256(admin_token(root).encode()).hexdigest(),
    }
    if not os.environ.get("IMGCLOUD_AMQP_URL"):
        rabbit = RabbitMQ(root / "rabbitmq")
        print(f"starting RabbitMQ on 127.0.0.1:{rabbit.port}…", flush=True)
        parts.callback(rabbit.stop)
        env["IMGCLOUD_AMQP_URL"] = rabbit.start().url
    if not os.environ.get("IMGCLOUD_S3_ENDPOINT"):
        minio = MinIO(root / "minio")
        print(f"starting MinIO on 127.0.0.1:{minio.port}…", flush=True)
        parts.callback(minio.stop)
        minio.start()
        env.update(
            IMGCLOUD_S3_ENDPOINT=minio.endpoint,
            IMGCLOUD_S3_ACCESS_KEY=minio.access_key,
            IMGCLOUD_S3_SECRET_KEY=minio.secret_key,
        )
    backend = Service("backend", root, env)
    worker = Service("worker", root, env)
    frontend = Service(
        "frontend", root, {**env, "IMGCLOUD_BACKEND_URL": backend.url}, port=frontend_port()
    )
    for service in (backend, worker, frontend):
        print(f"starting the {service.role} on {service.url}…", flush=True)
        parts.callback(service.stop)
        service.start()
    return [backend, worker, frontend]
