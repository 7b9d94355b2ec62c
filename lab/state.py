"""The lab's state folder: choices made once, the SSH key pair, credentials.

Everything generated for a lab lives in `.lab/<name>/` (git-ignored) so a second
`up` reuses it and `down` can forget it. Secrets are written owner-only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.engine import LabError, docker, run
from lab.topology import DEFAULT_NAME, Topology

DEFAULT_VMS = 3
BUCKET = "imgcloud"
_SUBNET_POOL = ipaddress.IPv4Network("10.210.0.0/16")
_DEFAULT_REGISTRY_PORT = 5050


@dataclass(frozen=True)
class Credentials:
    rabbitmq_user: str
    rabbitmq_password: str
    s3_access_key: str
    s3_secret_key: str


@dataclass(frozen=True)
class LabState:
    folder: Path
    topology: Topology
    registry_port: int
    credentials: Credentials

    @property
    def key(self) -> Path:
        return self.folder / "id_ed25519"

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text().strip()

    @property
    def inventory(self) -> Path:
        return self.folder / "inventory.yml"

    @property
    def ssh_config(self) -> Path:
        return self.folder / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        """The machines' SSH host keys, read through Docker (lab/hostkeys.py)."""
        return self.folder / "known_hosts"

    @property
    def status_file(self) -> Path:
        return self.folder / "status.json"

    @property
    def s3_credentials(self) -> Path:
        return self.folder / "s3.json"

    @property
    def secrets_dir(self) -> Path:
        return self.folder / "secrets"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created with that mode, no window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _used_subnets() -> list[ipaddress.IPv4Network]:
    ids = docker("network", "ls", "--quiet").split()
    if not ids:
        return []
    out = docker(
        "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids
    )
    nets = []
    for word in out.split():
        net = ipaddress.ip_network(word, strict=False)
        if isinstance(net, ipaddress.IPv4Network):
            nets.append(net)
    return nets


def _host_routes() -> list[ipaddress.IPv4Network]:
    """Networks the host routes already (its own LAN, VPNs): not for the lab."""
    nets = []
    route_table = Path("/proc/net/route")
    lines = route_table.read_text().splitlines()[1:] if route_table.is_file() else []
    for line in lines:
        fields = line.split()
        dest, mask = (socket.ntohl(int(f, 16)) for f in (fields[1], fields[7]))
        if mask:  # skip the default route
            prefix = bin(mask).count("1")
            nets.append(ipaddress.IPv4Network((dest, prefix), strict=False))
    return nets


def _pick_subnet(name: str) -> ipaddress.IPv4Network:
    """10.210.0.0/24 for the default lab; a stable, free /24 for any other."""
    candidates = list(_SUBNET_POOL.subnets(new_prefix=24))
    start = 0 if name == DEFAULT_NAME else 1 + zlib.crc32(name.encode()) % (len(candidates) - 1)
    used = _used_subnets() + _host_routes()
    for offset in range(len(candidates)):
        net = candidates[(start + offset) % len(candidates)]
        if not any(net.overlaps(other) for other in used):
            return net
    raise LabError(f"no free /24 left in {_SUBNET_POOL} for the lab network")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_registry_port(name: str) -> int:
    if name == DEFAULT_NAME and _port_free(_DEFAULT_REGISTRY_PORT):
        return _DEFAULT_REGISTRY_PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _new_credentials(name: str) -> Credentials:
    return Credentials(
        rabbitmq_user=f"{name}-lab",
        rabbitmq_password=secrets.token_hex(16),
        s3_access_key=f"lab{secrets.token_hex(8)}",
        s3_secret_key=secrets.token_hex(20),
    )


def _ensure_key(key: Path, name: str) -> None:
    if key.is_file() and key.with_suffix(".pub").is_file():
        return
    key.unlink(missing_ok=True)
    key.with_suffix(".pub").unlink(missing_ok=True)
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"imgcloud-lab-{name}",
            "-f",
            str(key),
        ]
    )


def load(folder: Path) -> dict[str, Any] | None:
    path = folder / "lab.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def ensure_state(name: str, folder: Path, vms: int | None) -> LabState:
    """Load the lab's state, creating what is missing; `vms` overrides the count."""
    saved = load(folder) or {}
    subnet = ipaddress.IPv4Network(saved["subnet"]) if "subnet" in saved else _pick_subnet(name)
    count = vms if vms is not None else saved.get("vms", DEFAULT_VMS)
    topology = Topology(name, subnet, count)
    port = saved.get("registry_port") or _pick_registry_port(name)
    creds = (
        Credentials(**saved["credentials"]) if "credentials" in saved else _new_credentials(name)
    )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    record = {
        "name": name,
        "subnet": str(subnet),
        "vms": count,
        "registry_port": port,
        "credentials": creds.__dict__,
    }
    write_private(folder / "lab.json", json.dumps(record, indent=2) + "\n")
    state = LabState(folder, topology, port, creds)
    _ensure_key(state.key, name)
    state.secrets_dir.mkdir(mode=0o700, exist_ok=True)
    return state


def existing_state(name: str, folder: Path) -> LabState | None:
    """The lab's state when it was brought up before, without creating anything."""
    saved = load(folder)
    if saved is None:
        return None
    topology = Topology(name, ipaddress.IPv4Network(saved["subnet"]), saved["vms"])
    return LabState(folder, topology, saved["registry_port"], Credentials(**saved["credentials"]))
