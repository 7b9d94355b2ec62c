"""inventories/example is a complete inventory the playbooks accept as is."""

from __future__ import annotations

import subprocess

import pytest

from deploy import ROOT
from deploy.ansible import environment, group_hosts, inventory_list, tool

EXAMPLE = ROOT / "inventories" / "example"
PLAYBOOKS = ["site.yml", "cluster.yml", "rolling-restart.yml"]


def test_example_has_a_bastion_and_three_vms() -> None:
    listing = inventory_list(EXAMPLE)
    assert group_hosts(listing, "bastion") == ["bastion"]
    assert group_hosts(listing, "cluster") == ["vm1", "vm2", "vm3"]


def test_example_downloads_the_release_binaries_through_the_bastion() -> None:
    vm1 = inventory_list(EXAMPLE)["_meta"]["hostvars"]["vm1"]
    assert vm1["consul_install_method"] == vm1["nomad_install_method"] == "download"
    assert "ProxyCommand" in vm1["ansible_ssh_common_args"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_passes_a_syntax_check_with_the_example(playbook: str) -> None:
    proc = subprocess.run(
        [tool("ansible-playbook"), "--syntax-check", "-i", str(EXAMPLE), f"playbooks/{playbook}"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
