"""The host's tools: the Docker engine and debootstrap, found or installed.

The lab needs a running Docker engine and, to build its base image, debootstrap.
When one is missing and we are root on Debian, `hosttools` installs Debian's package
(and we start dockerd in the background, since the host may have no systemd) and say
so; otherwise we stop with one sentence saying what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import hosttools

from lab.progress import say


class LabError(RuntimeError):
    """A problem the user must fix; its message says how."""


def run(
    args: list[str],
    *,
    check: bool = True,
    input: bytes | str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output as text, raise LabError on failure."""
    data = input.decode() if isinstance(input, bytes) else input
    try:
        proc = subprocess.run(
            args, input=data, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(args[:6])}` did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LabError(f"`{' '.join(args[:6])}` failed: " + " / ".join(detail))
    return proc


def docker(*args: str, check: bool = True, timeout: float | None = None) -> str:
    """Run the docker CLI and return its standard output, stripped."""
    return run(["docker", *args], check=check, timeout=timeout).stdout.strip()


def _install(need: hosttools.Need) -> None:
    try:
        hosttools.ensure([need], say)
    except hosttools.MissingTool as exc:
        raise LabError(str(exc)) from None


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return run(["docker", "info"], check=False, timeout=30).returncode == 0
    except LabError:
        return False


def ensure_docker(deadline_s: float = 60.0) -> None:
    """Make sure a Docker engine answers, installing/starting it when we may."""
    if _docker_answers():
        return
    _install(hosttools.DOCKER)
    if not hosttools.is_debian_root():
        raise LabError(
            "the Docker engine does not answer (`docker info` fails): start dockerd, "
            "or run as root so the lab can start it"
        )
    log = Path("/var/log/dockerd.log")
    say(f"starting dockerd in the background (log: {log})")
    with log.open("ab") as out:
        subprocess.Popen(
            ["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if _docker_answers():
            return
        time.sleep(0.5)
    raise LabError(f"dockerd did not answer within {deadline_s:.0f} s; see {log}")


def ensure_debootstrap() -> str:
    """Path of debootstrap, installing Debian's package when we may."""
    _install(hosttools.DEBOOTSTRAP)
    found = shutil.which("debootstrap")
    if found is None:
        raise LabError("debootstrap is still not on PATH after installing it")
    if os.geteuid() != 0:
        raise LabError("debootstrap must run as root to build the base image: run `up` as root")
    return found


# Every systemd (and containerd, dockerd) in every lab machine takes inotify
# instances from one per-user pool on the host; Linux's default of 128 runs out
# at about two labs, and systemd then dies at boot with "Too many open files".
INOTIFY_LIMITS = {"max_user_instances": 1024, "max_user_watches": 524288}
_INOTIFY = Path("/proc/sys/fs/inotify")


def ensure_inotify_limits() -> None:
    """Raise the host's inotify limits to what a few labs need, when we may."""
    for name, wanted in INOTIFY_LIMITS.items():
        path = _INOTIFY / name
        if not path.is_file() or int(path.read_text()) >= wanted:
            continue
        current = int(path.read_text())
        try:
            path.write_text(f"{wanted}\n")
        except OSError as exc:
            raise LabError(
                f"fs.inotify.{name} is {current}, too few for the lab's systemd machines: "
                f"run `sysctl -w fs.inotify.{name}={wanted}` as root"
            ) from exc
        say(f"raised fs.inotify.{name} from {current} to {wanted} (every lab machine takes some)")
