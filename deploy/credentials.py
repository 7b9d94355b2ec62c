"""How tools reach the hardened Consul and Nomad APIs (the cluster CA and the ACL
tokens) and the service's own API (the admin token made at deploy).

The roles write them once per cluster into the inventory's secrets folder on the
controller (`imgcloud_secrets_dir`, else `<inventory dir>/secrets`); a real inventory
may set the tokens from Ansible Vault instead, and a set hostvar wins over the file.
See docs/cluster.md and issue #8 for the contract.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import DeployError
from deploy.ansible import cluster_vars

# On every VM: the CA certificate and the agents' HTTPS APIs on loopback.
VM_CA_FILE = "/etc/imgcloud/tls/ca.pem"
CONSUL_API = "https://127.0.0.1:8501"
NOMAD_API = "https://127.0.0.1:4646"
CONSUL_HTTPS_PORT = 8501
NOMAD_HTTP_PORT = 4646

# Files of the secrets folder, relative to it.
CA_FILE = "tls/ca.pem"
CONSUL_TOKEN_FILE = "consul-management.token"
NOMAD_TOKEN_FILE = "nomad-management.token"
NOMAD_DEPLOY_TOKEN_FILE = "nomad-deploy.token"
API_TOKEN_FILE = "api_token"  # roles/imgcloud: the service's admin token

# Template expansion gives up after this many rounds (a variable naming itself).
_MAX_ROUNDS = 8


class CredentialsError(DeployError):
    """A secret the tools need is missing; the message names the file or variable."""


@dataclass(frozen=True)
class Credentials:
    """The cluster CA on the controller and the tokens tools call the APIs with.

    Tokens stay out of repr() so they never land in a test report or a traceback.
    """

    ca_file: Path
    consul_token: str = field(repr=False)
    nomad_token: str = field(repr=False)  # management
    nomad_deploy_token: str = field(repr=False)  # submit, read and scale jobs only
    api_token: str = field(default="", repr=False)  # the service's admin token (Bearer)

    @property
    def api_headers(self) -> dict[str, str]:
        """What a client of the service's API sends to act as the admin."""
        return {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the cluster CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def inventory_dir(inventory: Path) -> Path:
    """What Ansible calls `inventory_dir`: the folder given, or the file's folder."""
    return inventory if inventory.is_dir() else inventory.parent


def _render(value: str, context: Mapping[str, Any], name: str) -> str:
    """Expand the Jinja in a raw hostvar (`ansible-inventory --list` leaves it as written)."""
    import jinja2  # ships with ansible-core; only needed when a value is a template

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = value
    for _ in range(_MAX_ROUNDS):
        if "{{" not in text and "{%" not in text:
            return text
        try:
            text = env.from_string(text).render(context)
        except jinja2.TemplateError as exc:
            raise CredentialsError(f"cannot resolve {name} = {value!r}: {exc}") from exc
    raise CredentialsError(f"cannot resolve {name} = {value!r}: it keeps expanding")


def hostvar(hostvars: Mapping[str, Any], inventory: Path, name: str) -> str:
    """A hostvar as a string, templates expanded; empty when unset."""
    value = hostvars.get(name)
    if value is None:
        return ""
    context = {**hostvars, "inventory_dir": str(inventory_dir(inventory))}
    return _render(str(value), context, name).strip()


def secrets_dir(hostvars: Mapping[str, Any], inventory: Path) -> Path:
    """The controller's secrets folder of this inventory."""
    given = hostvar(hostvars, inventory, "imgcloud_secrets_dir")
    return Path(given).expanduser() if given else inventory_dir(inventory) / "secrets"


def _token(hostvars: Mapping[str, Any], inventory: Path, var: str, path: Path) -> str:
    """The hostvar when set and non-empty, else the one line of the secrets file."""
    given = hostvar(hostvars, inventory, var)
    if given:
        return given
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise CredentialsError(
            f"{path} does not exist and {var} is not set: the first deployment writes it "
            "(`tox -e deploy -- -i INVENTORY`), or set the variable (Ansible Vault)"
        ) from None
    if not token:
        raise CredentialsError(f"{path} is empty: delete it and deploy again, or set {var}")
    return token


def load(hostvars: Mapping[str, Any], inventory: Path) -> Credentials:
    """The credentials of the cluster whose (raw, as listed) hostvars are given."""
    folder = secrets_dir(hostvars, inventory)
    ca_file = folder / CA_FILE
    if not ca_file.is_file():
        raise CredentialsError(
            f"{ca_file} does not exist: the first deployment writes the cluster CA there "
            "(`tox -e deploy -- -i INVENTORY`)"
        )
    return Credentials(
        ca_file=ca_file,
        consul_token=_token(
            hostvars, inventory, "consul_acl_management_token", folder / CONSUL_TOKEN_FILE
        ),
        nomad_token=_token(
            hostvars, inventory, "nomad_acl_management_token", folder / NOMAD_TOKEN_FILE
        ),
        nomad_deploy_token=_token(
            hostvars, inventory, "imgcloud_nomad_token", folder / NOMAD_DEPLOY_TOKEN_FILE
        ),
        api_token=_token(hostvars, inventory, "imgcloud_admin_token", folder / API_TOKEN_FILE),
    )


def for_inventory(inventory: Path) -> Credentials:
    """Read the inventory with ansible-inventory and load its cluster's credentials."""
    return load(cluster_vars(inventory), inventory)
