"""The lab's machines as Docker containers: created, given their files, started.

VMs and the provider boot systemd with the flags verified on these hosts
(DESIGN.md); the bastion runs sshd alone. Per-lab files (authorized_keys, the
address SSH is allowed from, provider credentials) are copied in between
`docker create` and `docker start`, so images stay free of any lab's secrets.
A machine that exists and is attached where it should be is reused as it is:
`up` never throws away what Ansible installed on a VM.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab import floating_ip, toxiproxy
from lab.engine import LabError, docker
from lab.images import PREFIX, SUITE
from lab.state import LabState
from lab.topology import Node

LABEL = "org.imgcloud.lab"
_DEBIAN_UID = 1000  # the first user made in the images: `debian`

SYSTEMD_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    # A terminal for PID 1, so systemd's console (boot errors) shows in `docker logs`.
    "--tty",
]  # fmt: skip


@dataclass
class Payload:
    """Files to copy into a container before its first start."""

    files: list[tuple[str, bytes, int, int]] = field(default_factory=list)  # path, data, mode, uid
    dirs: list[tuple[str, int, int]] = field(default_factory=list)  # path, mode, uid

    def add(self, path: str, data: str, mode: int = 0o644, uid: int = 0) -> None:
        self.files.append((path, data.encode(), mode, uid))

    def tar(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for path, mode, uid in self.dirs:
                info = tarfile.TarInfo(path)
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
                archive.addfile(info)
            for path, data, mode, uid in self.files:
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


@dataclass(frozen=True)
class Machine:
    node: Node
    image: str
    run_args: list[str]
    payload: Payload


def _authorized_keys(state: LabState) -> Payload:
    payload = Payload(dirs=[("home/debian/.ssh", 0o700, _DEBIAN_UID)])
    payload.add("home/debian/.ssh/authorized_keys", state.public_key + "\n", 0o600, _DEBIAN_UID)
    return payload


def _common(state: LabState, node: Node) -> list[str]:
    topo = state.topology
    return [
        "--name", node.container, "--hostname", node.name,
        "--network", topo.network, "--ip", node.address, "--network-alias", node.name,
        "--label", f"{LABEL}={topo.name}", "--label", f"{LABEL}.node={node.name}",
    ]  # fmt: skip


def bastion(state: LabState) -> Machine:
    node = state.topology.bastion
    return Machine(node, f"{PREFIX}/bastion:{SUITE}", _common(state, node), _authorized_keys(state))


def vm(state: LabState, node: Node) -> Machine:
    topo = state.topology
    payload = _authorized_keys(state)
    payload.dirs += [("etc/lab", 0o755, 0), ("etc/docker", 0o755, 0)]
    payload.add("etc/lab/ssh-allow-from", topo.bastion.address + "\n")
    # The VMs share the host's cgroup v1 tree: each engine gets its own parent.
    daemon = {"cgroup-parent": f"{topo.name}-{node.name}-docker"}
    payload.add("etc/docker/daemon.json", json.dumps(daemon, indent=2) + "\n")
    volume = ["--volume", f"{topo.volume(node)}:/var/lib/docker", "--label", f"{LABEL}.vm=1"]
    args = _common(state, node) + SYSTEMD_FLAGS + volume
    return Machine(node, f"{PREFIX}/vm:{SUITE}", args, payload)


def provider(state: LabState) -> Machine:
    node = state.topology.provider
    creds = state.credentials
    payload = Payload(dirs=[("etc/lab", 0o755, 0)])
    payload.add(
        "etc/lab/minio.env",
        f"MINIO_ROOT_USER={creds.s3_access_key}\nMINIO_ROOT_PASSWORD={creds.s3_secret_key}\n",
        0o600,
    )
    payload.add(
        "etc/lab/rabbitmq.env",
        f"RABBITMQ_USER={creds.rabbitmq_user}\nRABBITMQ_PASSWORD={creds.rabbitmq_password}\n",
        0o600,
    )
    for path, text in toxiproxy.files(state).items():
        payload.add(path, text)
    for path, text in floating_ip.files(state).items():
        payload.add(path, text, 0o600)
    publish = ["--publish", f"127.0.0.1:{state.registry_port}:5000"]
    args = _common(state, node) + SYSTEMD_FLAGS + publish
    return Machine(node, f"{PREFIX}/provider:{SUITE}", args, payload)


@dataclass(frozen=True)
class Found:
    running: bool
    paused: bool
    address: str
    image: str


def inspect(container: str, network: str) -> Found | None:
    # The configured static address: unlike .IPAddress it survives a stop.
    static = "{{with .IPAMConfig}}{{.IPv4Address}}{{end}}"
    fmt = (
        "{{.State.Running}} {{.State.Paused}} {{.Image}} "
        f'{{{{with index .NetworkSettings.Networks "{network}"}}}}{static}{{{{end}}}}'
    )
    out = docker("container", "inspect", "--format", fmt, container, check=False)
    if not out:
        return None
    words = out.split()
    address = words[3] if len(words) > 3 else ""
    return Found(words[0] == "true", words[1] == "true", address, words[2])


def create_and_start(machine: Machine) -> None:
    docker("create", *machine.run_args, machine.image)
    copied = subprocess.run(
        ["docker", "cp", "-", f"{machine.node.container}:/"],
        input=machine.payload.tar(),
        capture_output=True,
        check=False,
    )
    if copied.returncode != 0:
        raise LabError(
            f"copying the lab's files into {machine.node.container} failed: "
            + copied.stderr.decode(errors="replace").strip()
        )
    docker("start", machine.node.container)


def ensure_running(machine: Machine, network: str, image_id: str | None) -> str:
    """Create, start or keep the machine; return what was done, for the summary."""
    found = inspect(machine.node.container, network)
    if found is not None and found.address != machine.node.address:
        docker("rm", "--force", "--volumes", machine.node.container)
        found = None
    if found is None:
        create_and_start(machine)
        return "created"
    if not found.running:
        docker("start", machine.node.container)
        return "started"
    if found.paused:  # a chaos experiment left it frozen
        docker("unpause", machine.node.container)
        return "unpaused"
    if image_id and found.image != image_id:
        return "kept (older image: `down` then `up` to rebuild)"
    return "kept"


def wait_for(
    what: str, check: Callable[[], bool], deadline_s: float, interval_s: float = 0.5
) -> None:
    """Poll `check()` until it returns True, or fail naming `what`."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            if check():
                return
        except (LabError, OSError, subprocess.SubprocessError) as exc:
            last = exc
        time.sleep(interval_s)
    detail = f" (last error: {last})" if last else ""
    raise LabError(f"{what} did not happen within {deadline_s:.0f} s{detail}")
