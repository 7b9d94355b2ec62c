"""What the load goes to: an explicit URL, an inventory's floating IP, or the lab's.

The order is the one every imgcloud lane uses: what the operator names wins, the lab is
the default. Load only ever goes to the address found here, over HTTPS checked against
the CA found with it (deploy.site): the lab's cluster CA, the inventory's site CA, or for
a URL given alone the file IMGCLOUD_CA names (else the system's roots).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from deploy.credentials import CredentialsError, load
from deploy.site import site_ca, site_url, tls_context
from deploy.target import TargetError, cluster_hosts, lab_status

__all__ = ["Node", "Target", "TargetError", "from_inventory", "from_lab", "resolve"]


@dataclass(frozen=True)
class Node:
    """One VM of the cluster: its inventory name, private address, lab container if any."""

    name: str
    address: str
    container: str | None = None


@dataclass(frozen=True)
class Target:
    """Where to send load, what it runs on, and how we know."""

    url: str
    source: str  # "url", "inventory <path>" or "lab <name>"
    nodes: tuple[Node, ...] = field(default=())
    lab: bool = False
    inventory: Path | None = None  # where the cluster's API credentials come from
    token: str = field(default="", repr=False)  # the service's API token (Bearer)
    ca: Path | None = None  # the CA that checks `url`'s certificate; None: the system's roots

    @property
    def auth(self) -> dict[str, str]:
        """The header every request to the service carries."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def env(self) -> dict[str, str]:
        """What Locust's users read the token and the CA file from (tests/load/locustfile.py)."""
        env = {"IMGCLOUD_TOKEN": self.token} if self.token else {}
        if self.ca:
            env["IMGCLOUD_CA"] = str(self.ca)
        return env

    @property
    def tls(self) -> ssl.SSLContext:
        """The context every urllib call to `url` is made with: the certificate checked."""
        return tls_context(self.ca)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def on_this_host(self) -> bool:
        """A bare URL on loopback: the service (e.g. `imgcloud dev`) runs on this machine."""
        return not self.nodes and self.host in ("127.0.0.1", "localhost", "::1")


def normalise_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{url!r} is not an http(s) URL such as https://10.77.0.100/")
    return url if url.endswith("/") else url + "/"


def resolve(url: str | None = None, inventory: str | None = None) -> Target:
    """The target from `url`, else `inventory`, else IMGCLOUD_LOAD_URL, else the lab;
    with the API token IMGCLOUD_TOKEN gives, else the deploy's admin token.

    With both, the load goes to `url` (e.g. a tunnel to the floating IP) and the
    inventory still names the VMs. A URL given explicitly (`url`, IMGCLOUD_LOAD_URL) is
    checked against the CA file IMGCLOUD_CA names, when set.
    """
    found = _resolve(url, inventory)
    given = os.environ.get("IMGCLOUD_TOKEN", "").strip()
    return replace(found, token=given) if given else found


def _given_ca() -> Path | None:
    """IMGCLOUD_CA: the CA that checks an explicitly given URL's certificate."""
    given = os.environ.get("IMGCLOUD_CA", "").strip()
    return Path(given).expanduser() if given else None


def _resolve(url: str | None, inventory: str | None) -> Target:
    if inventory:
        found = from_inventory(Path(inventory))
        if url:
            return replace(
                found,
                url=normalise_url(url),
                source=f"{found.source} via {url}",
                ca=_given_ca() or found.ca,
            )
        return found
    if url:
        return Target(normalise_url(url), "url", ca=_given_ca())
    if os.environ.get("IMGCLOUD_LOAD_URL"):
        return Target(
            normalise_url(os.environ["IMGCLOUD_LOAD_URL"]), "IMGCLOUD_LOAD_URL", ca=_given_ca()
        )
    return from_lab()


def from_lab() -> Target:
    status = lab_status(timeout=60)
    if not status.get("url"):
        raise TargetError("the lab status has no url: is the service deployed (`tox -e deploy`)?")
    nodes = tuple(
        Node(node["name"], node["address"], node.get("container"))
        for node in status.get("nodes", [])
    )
    name = os.environ.get("IMGCLOUD_LAB_NAME", "imgcloud")
    inventory = Path(status["inventory"]) if status.get("inventory") else None
    token_file = Path((status.get("secrets") or {}).get("api_token") or "/nonexistent")
    token = token_file.read_text().strip() if token_file.is_file() else ""
    ca = Path(status["url_ca"]) if status.get("url_ca") else None
    return Target(
        normalise_url(status["url"]), f"lab {name}", nodes, lab=True, inventory=inventory,
        token=token, ca=ca,
    )  # fmt: skip


def from_inventory(path: Path) -> Target:
    """The floating IP and cluster hosts of an Ansible inventory, as Ansible resolves
    them (a file or a folder with group_vars and Vault files alike)."""
    hosts = cluster_hosts(path)
    nodes = tuple(Node(name, hosts.address(name)) for name in hosts.names)
    lab = bool(hosts.first.get("imgcloud_lab", False))
    try:
        token = load(hosts.first, path).api_token
    except CredentialsError:
        token = ""  # not deployed yet, or a URL-only run: IMGCLOUD_TOKEN may give one
    url = site_url(hosts.first) or f"https://{hosts.vip}/"
    return Target(
        url, f"inventory {path}", nodes, lab=lab, inventory=path, token=token,
        ca=site_ca(hosts.first, path),
    )  # fmt: skip
