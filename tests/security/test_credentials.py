"""Finding the cluster CA and the ACL tokens on the controller (pure: files in tmp_path)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.credentials import (
    CredentialsError,
    inventory_dir,
    load,
    secrets_dir,
)

FILES = {
    "tls/ca.pem": "-----BEGIN CERTIFICATE-----\n",
    "consul-management.token": "c0000000-0000-4000-8000-000000000001\n",
    "nomad-management.token": "n0000000-0000-4000-8000-000000000002\n",
    "nomad-deploy.token": "d0000000-0000-4000-8000-000000000003\n",
    "api_token": "imgc_admin_0123456789\n",
}


def _write_secrets(folder: Path, skip: str | None = None) -> Path:
    for name, text in FILES.items():
        if name != skip:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    return folder


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """An inventory folder (hosts.yml plus group_vars), as inventories/example."""
    folder = tmp_path / "inventories" / "prod"
    folder.mkdir(parents=True)
    (folder / "hosts.yml").write_text("all: {}\n")
    return folder


def test_inventory_dir_is_the_folder_or_the_files_folder(inventory: Path) -> None:
    assert inventory_dir(inventory) == inventory
    assert inventory_dir(inventory / "hosts.yml") == inventory


def test_secrets_default_to_the_inventorys_secrets_folder(inventory: Path) -> None:
    assert secrets_dir({}, inventory) == inventory / "secrets"
    assert secrets_dir({}, inventory / "hosts.yml") == inventory / "secrets"


def test_secrets_dir_template_is_expanded_as_ansible_would(inventory: Path) -> None:
    # `ansible-inventory --list` prints group_vars unrendered, as inventories/example has it.
    hostvars = {"imgcloud_secrets_dir": "{{ inventory_dir }}/secrets"}
    assert secrets_dir(hostvars, inventory / "hosts.yml") == inventory / "secrets"


def test_an_explicit_secrets_dir_wins(inventory: Path, tmp_path: Path) -> None:
    assert secrets_dir({"imgcloud_secrets_dir": str(tmp_path / "s")}, inventory) == tmp_path / "s"


def test_credentials_come_from_the_secrets_files(inventory: Path) -> None:
    _write_secrets(inventory / "secrets")
    found = load({}, inventory)
    assert found.ca_file == inventory / "secrets" / "tls" / "ca.pem"
    assert found.consul_token == "c0000000-0000-4000-8000-000000000001"
    assert found.nomad_token == "n0000000-0000-4000-8000-000000000002"
    assert found.nomad_deploy_token == "d0000000-0000-4000-8000-000000000003"
    assert found.api_token == "imgc_admin_0123456789"
    assert found.api_headers == {"Authorization": "Bearer imgc_admin_0123456789"}


@pytest.mark.parametrize(
    ("var", "attribute"),
    [
        ("consul_acl_management_token", "consul_token"),
        ("nomad_acl_management_token", "nomad_token"),
        ("imgcloud_nomad_token", "nomad_deploy_token"),
    ],
)
def test_a_set_hostvar_wins_over_the_file(inventory: Path, var: str, attribute: str) -> None:
    _write_secrets(inventory / "secrets")
    hostvars = {var: "{{ vault_token }}", "vault_token": "from-vault"}
    assert getattr(load(hostvars, inventory), attribute) == "from-vault"


def test_an_empty_hostvar_falls_back_to_the_file(inventory: Path) -> None:
    # inventories/example: `{{ vault_... | default('') }}` when the vault leaves it out.
    _write_secrets(inventory / "secrets")
    hostvars = {"consul_acl_management_token": "{{ vault_consul_token | default('') }}"}
    assert load(hostvars, inventory).consul_token == "c0000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize("missing", sorted(FILES))
def test_a_missing_file_is_named(inventory: Path, missing: str) -> None:
    _write_secrets(inventory / "secrets", skip=missing)
    with pytest.raises(CredentialsError, match=re.escape(str(inventory / "secrets" / missing))):
        load({}, inventory)


def test_an_empty_token_file_is_an_error(inventory: Path) -> None:
    _write_secrets(inventory / "secrets")
    (inventory / "secrets" / "nomad-deploy.token").write_text("\n")
    with pytest.raises(CredentialsError, match=re.escape("nomad-deploy.token is empty")):
        load({}, inventory)


def test_an_unresolvable_template_names_the_variable(inventory: Path) -> None:
    _write_secrets(inventory / "secrets")
    with pytest.raises(CredentialsError, match="nomad_acl_management_token"):
        load({"nomad_acl_management_token": "{{ vault_nomad_token }}"}, inventory)


def test_tokens_stay_out_of_repr(inventory: Path) -> None:
    _write_secrets(inventory / "secrets")
    shown = repr(load({}, inventory))
    assert "ca.pem" in shown
    assert not any(token.strip() in shown for token in list(FILES.values())[1:])
