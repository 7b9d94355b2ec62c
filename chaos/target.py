"""What the suite attacks: the VMs, the floating IP, and how to reach each one.

The lab is described by `python -m lab status --json`; a real cluster by its Ansible
inventory (`--inventory PATH`), read with `ansible-inventory` as every lane reads it
(group_vars and Vault files alike). Either way the target carries the cluster's API
credentials (deploy.credentials), which the health probe hands to the VMs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy import DeployError
from deploy.credentials import Credentials, CredentialsError, for_inventory, load
from deploy.site import site_ca, site_url
from deploy.target import TargetError, cluster_hosts, lab_status

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class VM:
    name: str
    address: str
    container: str | None = None  # the lab's Docker container, None on real VMs


@dataclass(frozen=True)
class Ssh:
    """How to reach a real VM as Ansible does: user, key, extra ssh options."""

    user: str
    key: str | None
    options: tuple[str, ...]


@dataclass(frozen=True)
class ToxiproxyInfo:
    """Toxiproxy in front of the provider's S3 and broker: its API and proxy names."""

    api: str  # http://<provider>:8474
    proxies: tuple[str, ...]  # "s3", "amqp"


@dataclass(frozen=True)
class Target:
    url: str  # https://<vip>/ (or the inventory's imgcloud_url)
    vip: str
    vms: tuple[VM, ...]
    s3: tuple[str, int] | None  # host, port of the object store
    amqp: tuple[str, int] | None  # host, port of the broker
    lab: str | None = None  # lab name when the target is the lab
    ssh: Ssh | None = None  # set for real VMs
    provider_container: str | None = None  # the lab's provider (RabbitMQ, MinIO)
    credentials: Credentials | None = None  # CA and ACL tokens; None: calls go anonymous
    toxiproxy: ToxiproxyInfo | None = None  # None: no slow or flaky provider can be made
    cloud_ip: str | None = None  # the cloud's floating-IP record (GET URL); None: not watched
    # The CA that checks `url`'s certificate (deploy.site): the cluster CA, an operator's
    # own, or None for the system's roots. Every client of `url` verifies against it.
    ca: Path | None = None

    @property
    def api_token(self) -> str:
        """The service's admin token (deploy.credentials); empty without credentials."""
        return self.credentials.api_token if self.credentials else ""

    def vm(self, name: str) -> VM:
        for vm in self.vms:
            if vm.name == name:
                return vm
        raise TargetError(f"no VM named {name!r}; the cluster has {self.names()}")

    def names(self) -> list[str]:
        return [vm.name for vm in self.vms]

    def name_of(self, address: str) -> str | None:
        host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
        return next((vm.name for vm in self.vms if vm.address == host), None)


def _endpoint(url: str | None, default_port: int) -> tuple[str, int] | None:
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or default_port


def _vm_side(provider: dict[str, Any], proxy: str, direct: str | None) -> str | None:
    """Where the VMs reach a provider service: through its Toxiproxy proxy when the lab
    has one (the inventory points the VMs there), else the direct endpoint the status
    gives the controller. Network faults must cut what the VMs use."""
    proxies = (provider.get("toxiproxy") or {}).get("proxies") or {}
    listen = (proxies.get(proxy) or {}).get("listen") if isinstance(proxies, dict) else None
    return str(listen) if listen else direct


def _toxiproxy(value: Any) -> ToxiproxyInfo | None:
    """`provider.toxiproxy` of the lab status (or an inventory's imgcloud_chaos_toxiproxy)."""
    if isinstance(value, str) and value:
        return ToxiproxyInfo(value.rstrip("/"), ("s3", "amqp"))
    if not isinstance(value, dict) or not value.get("api"):
        return None
    proxies = value.get("proxies") or {}
    return ToxiproxyInfo(str(value["api"]).rstrip("/"), tuple(sorted(proxies)) or ("s3", "amqp"))


def from_lab_status(status: dict[str, Any], credentials: Credentials | None = None) -> Target:
    """Build the target from the JSON of `python -m lab status --json`."""
    try:
        vms = tuple(VM(n["name"], n["address"], n["container"]) for n in status["nodes"])
        vip, url = status["vip"], status["url"]
        provider = status.get("provider", {})
    except (KeyError, TypeError) as exc:
        raise TargetError(f"`python -m lab status --json` lacks {exc}; is the lab up?") from exc
    first = vms[0].container or ""
    lab = status.get("name") or (first.rsplit("-", 1)[0] if "-" in first else "imgcloud")
    return Target(
        url=url if url.endswith("/") else url + "/",
        vip=vip,
        vms=vms,
        s3=_endpoint(_vm_side(provider, "s3", provider.get("s3", {}).get("endpoint")), 9000),
        amqp=_endpoint(_vm_side(provider, "amqp", provider.get("rabbitmq", {}).get("url")), 5672),
        lab=lab,
        provider_container=provider.get("container") or f"{lab}-provider",
        credentials=credentials,
        toxiproxy=_toxiproxy(provider.get("toxiproxy")),
        cloud_ip=(provider.get("floating_ip") or {}).get("address_url"),
        ca=Path(status["url_ca"]) if status.get("url_ca") else None,
    )


def lab_target(name: str | None = None) -> Target:
    """Ask the lab package for the shared lab's status."""
    status = lab_status(name)
    try:
        credentials = for_inventory(Path(status["inventory"]))
    except (KeyError, TypeError) as exc:
        raise TargetError(f"`python -m lab status --json` lacks {exc}; is the lab up?") from exc
    except DeployError as exc:
        raise TargetError(f"the lab's API credentials: {exc}") from exc
    return from_lab_status(status, credentials)


def from_inventory(path: Path) -> Target:
    """Build the target from an Ansible inventory: group `cluster`, var `imgcloud_vip`."""
    hosts = cluster_hosts(path)
    first, vip = hosts.first, hosts.vip
    vms = tuple(VM(name, hosts.address(name)) for name in hosts.names)
    options = shlex.split(first.get("ansible_ssh_common_args", ""))
    options += shlex.split(first.get("ansible_ssh_extra_args", ""))
    try:
        credentials = load(first, path)
    except CredentialsError as exc:
        raise TargetError(f"inventory {path}: {exc}") from exc
    port = first.get("ansible_port")
    if port:
        options += ["-p", str(port)]
    ssh = Ssh(
        user=first.get("ansible_user", "debian"),
        key=first.get("ansible_ssh_private_key_file"),
        options=tuple(options),
    )
    url = site_url(first) or f"https://{vip}/"
    return Target(
        url=url,
        vip=vip,
        vms=vms,
        s3=_endpoint(first.get("imgcloud_s3_endpoint"), 443),
        amqp=_endpoint(first.get("imgcloud_amqp_url"), 5672),
        lab=None,  # an inventory is always reached over SSH, even the lab's own
        ssh=ssh,
        credentials=credentials,
        # An operator's own Toxiproxy in front of S3 and the broker, if any (proxies
        # named s3 and amqp): the URL of its API, or a mapping like the lab status'.
        toxiproxy=_toxiproxy(first.get("imgcloud_chaos_toxiproxy")),
        # The cloud's record of the floating IP, when it answers a GET with the
        # lab API's document (chaos/cloudip.py): whom it routes to, every call.
        cloud_ip=first.get("imgcloud_chaos_floating_ip_api") or None,
        ca=site_ca(first, path),
    )
