"""inventories/example is a complete inventory the playbooks accept as is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import ROOT
from deploy.ansible import environment, group_hosts, inventory_list, tool

EXAMPLE = ROOT / "inventories" / "example"
PLAYBOOKS = ["site.yml", "cluster.yml", "rolling-restart.yml"]


def test_example_has_a_bastion_and_three_vms_or_five_uncommented(tmp_path: Path) -> None:
    """Three as shipped, five with its commented VMs: Raft needs a majority."""
    listing = inventory_list(EXAMPLE)
    assert group_hosts(listing, "bastion") == ["bastion"]
    assert group_hosts(listing, "cluster") == ["vm1", "vm2", "vm3"]
    five = tmp_path / "five"
    shutil.copytree(EXAMPLE, five)
    text = (five / "hosts.yml").read_text()
    uncommented = (("        # vm", "        vm"), ("        #   ansible", "          ansible"))
    for commented, line in uncommented:
        text = text.replace(commented, line)
    (five / "hosts.yml").write_text(text)
    assert group_hosts(inventory_list(five), "cluster") == [f"vm{i}" for i in range(1, 6)]


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
