"""Where the load goes and the ratio's cores: explicit, honest, clear when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import bench
from loadbench.target import Node, Target, TargetError, from_inventory, resolve

INVENTORY = """
all:
  vars:
    imgcloud_vip: 10.1.2.100
  children:
    bastion:
      hosts:
        bastion: {ansible_host: 203.0.113.5}
    cluster:
      hosts:
        vm1: {ansible_host: 10.1.2.11}
        vm2: {ansible_host: 10.1.2.12}
        vm3: {ansible_host: 10.1.2.13}
"""


def test_inventory_gives_the_floating_ip_and_cluster_hosts(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    target = from_inventory(path)
    assert target.url == "http://10.1.2.100/"
    assert [n.address for n in target.nodes] == ["10.1.2.11", "10.1.2.12", "10.1.2.13"]
    assert target.inventory == path  # where the bench finds the cluster's CA and token


def test_inventory_without_vip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text("all: {vars: {}}\n")
    with pytest.raises(TargetError, match="imgcloud_vip"):
        from_inventory(path)


@pytest.mark.parametrize("url", ["ftp://x/", "10.0.0.1", "http://"])
def test_bad_url_is_refused(url: str) -> None:
    with pytest.raises(TargetError, match="not an http"):
        resolve(url=url)


def test_url_gets_a_trailing_slash() -> None:
    assert resolve(url="http://127.0.0.1:8080").url == "http://127.0.0.1:8080/"


def test_lab_cores_are_the_hosts_cpus() -> None:
    lab = Target("http://10.77.0.100/", "lab imgcloud", (Node("vm1", "10.77.0.11"),), lab=True)
    cores = bench.cores_for(lab, None, worker_vms=1)
    assert cores.count >= 1 and "not 3 VMs' worth" in cores.basis


def test_real_vms_need_cores_given() -> None:
    real = Target("http://10.1.2.100/", "inventory x", (Node("vm1", "10.1.2.11"),))
    with pytest.raises(ValueError, match="--cores"):
        bench.cores_for(real, None)


def test_real_vms_scaling_step_gets_its_share_of_cores() -> None:
    nodes = tuple(Node(f"vm{i}", f"10.1.2.1{i}") for i in (1, 2, 3))
    real = Target("http://10.1.2.100/", "inventory x", nodes)
    assert bench.cores_for(real, 12, worker_vms=2).count == 8


def test_url_and_inventory_send_load_to_the_url_and_keep_the_vms(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    target = resolve(url="http://127.0.0.1:8080/", inventory=str(path))
    assert (target.url, len(target.nodes), target.on_this_host) == (
        "http://127.0.0.1:8080/",
        3,
        False,
    )


def test_loopback_url_alone_is_this_host() -> None:
    cores = bench.cores_for(resolve(url="http://127.0.0.1:8080/"), None)
    assert "this" in cores.basis


def test_the_example_inventory_folder_resolves_group_vars() -> None:
    """Real inventories keep imgcloud_vip in group_vars: read them as Ansible does."""
    target = from_inventory(Path(__file__).resolve().parents[2] / "inventories" / "example")
    assert target.url.startswith("http://") and target.url != "http:///"
    assert [n.name for n in target.nodes] == ["vm1", "vm2", "vm3"]
    assert not target.lab
