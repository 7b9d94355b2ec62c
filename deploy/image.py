"""Build the imgcloud image, tag it with the project version, push it.

The VMs pull ``<imgcloud_registry>/imgcloud:<version>``; the controller pushes
the same image to ``<imgcloud_registry_push>/imgcloud:<version>`` (in the lab,
the provider registry's loopback port on this host, which dockerd trusts
without insecure-registry settings). With no ``imgcloud_registry_push`` in the
inventory nothing is built: the image is expected to come from CI.

    python -m deploy.image [-i INVENTORY] [--version V] [--target unready]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import DeployError
from deploy.ansible import cluster_vars

ROOT = Path(__file__).resolve().parent.parent
IMAGE_NAME = "imgcloud"
# The lab's debootstrapped Debian: no registry is reachable, so it is the base.
LAB_BASE_IMAGE = "imgcloud-lab/base:bookworm"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


class ImageError(DeployError):
    """Building or pushing the image failed; the message says which step and why."""


@dataclass(frozen=True)
class ImagePlan:
    push_repository: str  # e.g. 127.0.0.1:5001/imgcloud
    version: str
    base_image: str | None  # None: the Dockerfile's default (python:3.11-slim)
    target: str | None = None  # None: the default stage

    @property
    def tag(self) -> str:
        return f"{self.push_repository}:{self.version}"


def project_version(root: Path = ROOT) -> str:
    """The version in pyproject.toml: the tag every deployment uses by default."""
    with (root / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def version_from_args(args: Sequence[str]) -> str | None:
    """imgcloud_version given to ansible-playbook as ``-e imgcloud_version=X``."""
    for i, arg in enumerate(args):
        value = None
        if arg in ("-e", "--extra-vars") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--extra-vars="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-e") and len(arg) > 2:
            value = arg[2:]
        if value is None or value.startswith("@"):
            continue
        for word in shlex.split(value):
            match = re.fullmatch(r"imgcloud_version=(\S+)", word)
            if match:
                return match.group(1)
    return None


def plan_from_vars(
    variables: dict[str, Any], version: str | None = None, target: str | None = None
) -> ImagePlan | None:
    """What to build for this inventory; None when it names no registry to push to."""
    push = str(variables.get("imgcloud_registry_push") or "").rstrip("/")
    if not push:
        return None
    base = variables.get("imgcloud_base_image")
    if not base and variables.get("imgcloud_lab"):
        base = LAB_BASE_IMAGE
    name = str(variables.get("imgcloud_image_name") or IMAGE_NAME)
    return ImagePlan(
        push_repository=f"{push}/{name}",
        version=version or project_version(),
        base_image=str(base) if base else None,
        target=target,
    )


def _docker(*args: str) -> None:
    shown = (a if len(a) < 120 else a[:60] + "...(long)" for a in args)
    print("+ docker " + " ".join(shlex.quote(a) for a in shown), flush=True)
    proc = subprocess.run(["docker", *args], check=False)
    if proc.returncode != 0:
        raise ImageError(f"`docker {args[0]}` failed with exit code {proc.returncode}")


def local_ca_certificates(folder: Path = LOCAL_CA_DIR) -> str:
    """PEM text of the CAs this machine added to its trust store (Debian's local folder).

    A build behind a TLS-intercepting proxy needs them to reach PyPI; they are
    public certificates and stay in the build stage of the image.
    """
    if not folder.is_dir():
        return ""
    return "\n".join(p.read_text().strip() for p in sorted(folder.rglob("*.crt")))


def build(plan: ImagePlan, root: Path = ROOT) -> None:
    args = ["build", "--tag", plan.tag, "--build-arg", f"VERSION={plan.version}"]
    extra_ca = local_ca_certificates()
    if extra_ca:
        args += ["--build-arg", f"EXTRA_CA_CERTS={extra_ca}"]
    if plan.base_image:
        args += ["--build-arg", f"BASE_IMAGE={plan.base_image}"]
    if plan.target:
        args += ["--target", plan.target]
    _docker(*args, str(root))


def push(plan: ImagePlan, attempts: int = 3) -> None:
    """Push, retrying a little: a registry that just started may refuse at first."""
    for attempt in range(1, attempts + 1):
        try:
            _docker("push", plan.tag)
            return
        except ImageError:
            if attempt == attempts:
                raise
            time.sleep(2 * attempt)


def build_and_push(
    variables: dict[str, Any], version: str | None = None, target: str | None = None
) -> ImagePlan | None:
    """Build and push the image the inventory's VMs will pull; None if it names no push registry.

    ``variables`` are a cluster host's, as `deploy.ansible.cluster_vars` resolves them.
    """
    plan = plan_from_vars(variables, version, target)
    if plan is None:
        print("no imgcloud_registry_push in the inventory: using the image CI pushed", flush=True)
        return None
    started = time.monotonic()
    build(plan)
    push(plan)
    print(f"pushed {plan.tag} in {time.monotonic() - started:.0f} s", flush=True)
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.image", description=__doc__)
    parser.add_argument("-i", "--inventory", type=Path, help="inventory (default: the lab's)")
    parser.add_argument("--version", help="tag (default: the version in pyproject.toml)")
    parser.add_argument("--target", help="Dockerfile stage, e.g. 'unready' for a broken build")
    args = parser.parse_args(argv)
    inventory = args.inventory or _lab_inventory()
    try:
        build_and_push(cluster_vars(inventory), args.version, args.target)
    except (ImageError, DeployError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _lab_inventory() -> Path:
    path = ROOT / ".lab" / os.environ.get("IMGCLOUD_LAB_NAME", "imgcloud") / "inventory.yml"
    if not path.is_file():
        raise SystemExit(f"no inventory given and no lab at {path}: run `tox -e lab -- up`")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
