"""What each tox lane needs from the host, found or installed.

A lane needs programs that come from Debian, not PyPI: RabbitMQ and Chromium for the
apps lane, libvips for the resize benchmark, an SSH client and the Docker engine for
every lane that drives the lab. When one is missing and we are root on Debian, we
install every missing package in one `apt-get` run and say so; otherwise we stop with
one sentence naming what to install. The Go-built binaries (Consul, Nomad, MinIO,
Toxiproxy) come from `gobuild`: PATH or its cache, else built once with Go.

tox calls ``python -m hosttools {env_name}`` before every lane; a lane not listed here
needs nothing from the host.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gobuild

Say = Callable[[str], object]


class MissingTool(RuntimeError):
    """A host tool is missing and we may not install it; the message says what to do."""


@dataclass(frozen=True)
class Need:
    """A Debian package, found by a program on PATH or a file matching `probe`."""

    package: str
    probe: str  # a program name, or an absolute path (a glob) for a library
    why: str

    def present(self) -> bool:
        if self.probe.startswith("/"):
            return bool(glob.glob(self.probe))
        return shutil.which(self.probe, path=_search_path()) is not None


@dataclass(frozen=True)
class GoBinary:
    """A program no registry here carries: PATH or gobuild's cache, else built with Go."""

    name: str
    why: str

    def present(self) -> bool:
        return gobuild.find(self.name) is not None


RABBITMQ = Need("rabbitmq-server", "rabbitmq-server", "the apps run against a real RabbitMQ")
CHROMIUM = Need("chromium", "/usr/bin/chromium", "the browser tests drive Chromium")
CERTUTIL = Need(
    "libnss3-tools", "certutil", "Chromium trusts the cluster CA through an NSS database"
)
LIBVIPS = Need("libvips42", "/usr/lib/*/libvips.so.42", "the resize benchmark's baseline")
SSH = Need("openssh-client", "ssh", "the lab's VMs are reached over SSH via the bastion")
OPENSSL = Need("openssl", "openssl", "the load tests make a TLS certificate")
DOCKER = Need("docker.io", "dockerd", "the lab runs on a Docker engine")
DEBOOTSTRAP = Need("debootstrap", "debootstrap", "the lab's base image is made with debootstrap")

MINIO = GoBinary("minio", "the apps run against a real S3 server")
_LAB: tuple[Need | GoBinary, ...] = (
    DOCKER,
    DEBOOTSTRAP,
    SSH,
    *(GoBinary(name, "the lab's VMs and provider run it") for name in gobuild.names()),
)
LANES: dict[str, tuple[Need | GoBinary, ...]] = {
    "apps": (RABBITMQ, CHROMIUM, MINIO),
    "dev": (RABBITMQ, MINIO),
    "bench-resize": (LIBVIPS,),
    "lab": _LAB,
    "lab-tests": _LAB,
    "deploy": _LAB,
    "infra": _LAB,
    "cluster": (*_LAB, CHROMIUM, CERTUTIL),
    "security": _LAB,
    "chaos": _LAB,
    "load": _LAB,
    "bench": _LAB,
    "load-smoke": (*_LAB, OPENSSL),
}


def _search_path() -> str:
    # Debian puts daemons (rabbitmq-server, dockerd) in sbin, which a non-login PATH
    # may lack; they are found, and so are not installed twice.
    extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"]
    return os.pathsep.join([os.environ.get("PATH", ""), *extra])


def is_debian_root() -> bool:
    """Whether we may install Debian packages: root, on Debian, with apt-get."""
    return (
        os.geteuid() == 0
        and Path("/etc/debian_version").is_file()
        and shutil.which("apt-get") is not None
    )


def missing(needs: Iterable[Need | GoBinary]) -> list[Need | GoBinary]:
    """The needs not met (a Debian package not installed, a binary not built), each once."""
    seen: dict[str, Need | GoBinary] = {}
    for need in needs:
        key = need.package if isinstance(need, Need) else f"go:{need.name}"
        if key not in seen and not need.present():
            seen[key] = need
    return list(seen.values())


def apt_install(needs: Sequence[Need], say: Say = print) -> None:
    """Install the packages of `needs` in one apt-get run, or say what to install."""
    if not needs:
        return
    packages = [n.package for n in needs]
    if not is_debian_root():
        why = "; ".join(f"{n.package}: {n.why}" for n in needs)
        raise MissingTool(f"install {' '.join(packages)} (as root) and run again ({why})")
    say(f"installing Debian's {', '.join(packages)} ({'; '.join(n.why for n in needs)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise MissingTool(f"`{' '.join(args)}` failed: {proc.stderr.strip()[-300:]}")
    still = [n for n in needs if not n.present()]
    if still:
        raise MissingTool(f"{', '.join(n.probe for n in still)} still missing after apt-get")


def go_build(binaries: Sequence[GoBinary], say: Say = print) -> None:
    """Build each of `binaries` with Go, once (gobuild caches them by version)."""
    for binary in binaries:
        say(f"building {binary.name} with Go, once ({binary.why})")
        try:
            gobuild.ensure(binary.name)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            raise MissingTool(f"{binary.name} could not be built: {exc}") from None


def ensure(needs: Iterable[Need | GoBinary], say: Say = print) -> list[Need | GoBinary]:
    """Install or build whatever of `needs` is missing; returns what was missing."""
    absent = missing(needs)
    apt_install([n for n in absent if isinstance(n, Need)], say)
    go_build([n for n in absent if isinstance(n, GoBinary)], say)
    return absent


def ensure_lane(lane: str, say: Say = print) -> list[Need | GoBinary]:
    """Install what the tox lane `lane` needs from the host (nothing for an unknown lane)."""
    return ensure(LANES.get(lane, ()), say)
