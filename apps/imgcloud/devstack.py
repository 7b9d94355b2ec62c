"""Real RabbitMQ, MinIO and imgcloud processes on loopback, for ``imgcloud dev`` and tests.

Each part is a process this module starts in a folder of its own (data, logs), bound
to 127.0.0.1 on a free port, waited for with a deadline, and stopped by its own
process group. Nothing here is a mock: the tests and the dev mode talk to the same
broker and S3 server software the cluster uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_RABBITMQ = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# `imgcloud dev` sets this: its children get SIGTERM if it is killed outright. Off by
# default because the kernel ties it to the spawning *thread*, and tests spawn from
# thread pools whose threads end long before the processes should.
DIE_WITH_PARENT = False
_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    """A part did not come up in time; the message points at its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    """Poll ``condition`` until true, or raise naming ``what`` and its log's tail."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise StartError(f"{what} did not come up within {timeout:.0f}s; log {log}:\n{tail}")


@dataclass
class Process:
    """A child process in its own process group, with its output in ``log``."""

    name: str
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self, argv: list[str], env: Mapping[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if DIE_WITH_PARENT else None,
            )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        # Children (Erlang's beam under the rabbitmq-server script) share the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class RabbitMQ:
    """A private RabbitMQ node (Debian's ``rabbitmq-server``) on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    node: str = field(default_factory=lambda: f"imgcloud-{secrets.token_hex(4)}@localhost")

    def __post_init__(self) -> None:
        self._process = Process("rabbitmq", self.root)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 90.0) -> RabbitMQ:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        env = {
            **os.environ,
            "HOME": str(self.root),  # its Erlang cookie lives here, not in ours
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self._env = env
        self._process.spawn([str(_rabbitmq_server())], env)
        wait_for(self._speaks_amqp, timeout, f"RabbitMQ on port {self.port}", self._process.log)
        return self

    def ctl(self, *args: str) -> str:
        """Run ``rabbitmqctl`` against this node (users, permissions, queues)."""
        ctl = _rabbitmq_server().with_name("rabbitmqctl")
        command = [str(ctl if ctl.exists() else "rabbitmqctl"), "--node", self.node, *args]
        done = subprocess.run(command, env=self._env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise StartError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()[-500:]}")
        return done.stdout

    def url_for(self, user: str, password: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self._process.stop()

    def restart(self, timeout: float = 90.0) -> None:
        self.stop()
        self.start(timeout)

    def _speaks_amqp(self) -> bool:
        if not self._process.running:
            raise StartError(f"RabbitMQ exited; log {self._process.log}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                return sock.recv(1) == b"\x01"  # a method frame: Connection.Start
        except OSError:
            return False


@dataclass
class MinIO:
    """A MinIO server (built by gobuild when not on PATH) on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: f"imgcloud-{secrets.token_hex(4)}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        self._process = Process("minio", self.root)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> MinIO:
        from gobuild import ensure

        binary = ensure("minio")
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        argv = [str(binary), "server", str(self.root / "data"), "--quiet"]
        argv += ["--address", f"127.0.0.1:{self.port}"]
        argv += ["--console-address", f"127.0.0.1:{self.console_port}"]
        self._process.spawn(argv, env)
        wait_for(self._ready, timeout, f"MinIO on port {self.port}", self._process.log)
        return self

    def stop(self) -> None:
        self._process.stop()

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def _ready(self) -> bool:
        if not self._process.running:
            raise StartError(f"MinIO exited; log {self._process.log}")
        return http_ok(f"{self.endpoint}/minio/health/ready")


@dataclass
class Service:
    """One ``imgcloud backend|worker|frontend`` process."""

    role: str
    root: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._process = Process(self.role, self.root)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def log(self) -> Path:
        return self._process.log

    def start(self, timeout: float = 30.0, *, ready: bool = True) -> Service:
        env = {**os.environ, **self.env, "IMGCLOUD_BIND": f"127.0.0.1:{self.port}"}
        self._process.spawn([sys.executable, "-m", "imgcloud", self.role], env)
        path = "/readyz" if ready else "/healthz"
        wait_for(self._answers(path), timeout, f"imgcloud {self.role}", self._process.log)
        return self

    def stop(self) -> None:
        self._process.stop()

    def _answers(self, path: str) -> Callable[[], bool]:
        def check() -> bool:
            if not self._process.running:
                raise StartError(f"imgcloud {self.role} exited; log {self._process.log}")
            return http_ok(self.url + path)

        return check


def service_env(
    rabbitmq_url: str,
    minio: MinIO,
    *,
    bucket: str = "imgcloud",
    queue: str = "imgcloud.jobs",
    node_name: str = "dev",
) -> dict[str, str]:
    """The IMGCLOUD_* variables that point the services at a broker and a MinIO."""
    return {
        "IMGCLOUD_NODE_NAME": node_name,
        "IMGCLOUD_AMQP_URL": rabbitmq_url,
        "IMGCLOUD_QUEUE": queue,
        "IMGCLOUD_S3_ENDPOINT": minio.endpoint,
        "IMGCLOUD_S3_ACCESS_KEY": minio.access_key,
        "IMGCLOUD_S3_SECRET_KEY": minio.secret_key,
        "IMGCLOUD_S3_BUCKET": bucket,
    }


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _die_with_parent() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _rabbitmq_server() -> Path:
    # Debian's /usr/sbin wrapper switches to the rabbitmq user; the real script does not.
    if DEBIAN_RABBITMQ.exists():
        return DEBIAN_RABBITMQ
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise StartError("rabbitmq-server is not installed (Debian: apt install rabbitmq-server)")
    return Path(found)
