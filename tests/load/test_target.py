"""Where the load goes and the ratio's cores: explicit, honest, clear when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import bench
from loadbench import target as target_module
from loadbench.target import Node, Target, TargetError, from_inventory, from_lab, resolve

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


@pytest.fixture(autouse=True)
def _no_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the operator's shell may set must not steer these tests."""
    for name in ("IMGCLOUD_LOAD_URL", "IMGCLOUD_CA", "IMGCLOUD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_inventory_gives_the_floating_ip_and_cluster_hosts(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    target = from_inventory(path)
    assert target.url == "https://10.1.2.100/"
    assert [n.address for n in target.nodes] == ["10.1.2.11", "10.1.2.12", "10.1.2.13"]
    assert target.inventory == path  # where the bench finds the cluster's CA and token
    assert target.ca == tmp_path / "secrets" / "tls" / "ca.pem"  # it issued HAProxy's cert
    assert target.env["IMGCLOUD_CA"] == str(target.ca)  # what Locust's users check with


def test_an_operators_own_certificate_is_checked_against_the_system_roots(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hosts.yml"
    own = "    haproxy_tls_certificate_file: /etc/ssl/imgcloud.pem\n"
    named = "    imgcloud_url: https://images.example.net\n"
    path.write_text(INVENTORY.replace("    imgcloud_vip:", own + named + "    imgcloud_vip:"))
    target = from_inventory(path)
    assert (target.url, target.ca) == ("https://images.example.net/", None)
    assert "IMGCLOUD_CA" not in target.env


def test_the_lab_status_names_the_url_and_its_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {
        "url": "https://10.77.0.250/",
        "url_ca": "/lab/secrets/tls/ca.pem",
        "nodes": [{"name": "vm1", "address": "10.77.0.11", "container": "imgcloud-vm1"}],
    }
    monkeypatch.setattr(target_module, "lab_status", lambda timeout: status)
    target = from_lab()
    assert (target.url, target.ca, target.lab) == (
        "https://10.77.0.250/",
        Path("/lab/secrets/tls/ca.pem"),
        True,
    )
    del status["url_ca"]
    assert from_lab().ca is None


def test_a_given_url_is_checked_against_the_ca_file_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMGCLOUD_CA", "/some/ca.pem")
    assert resolve(url="https://10.1.2.100/").ca == Path("/some/ca.pem")
    monkeypatch.setenv("IMGCLOUD_LOAD_URL", "https://10.1.2.100/")
    assert resolve().ca == Path("/some/ca.pem")
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    assert resolve(url="https://127.0.0.1:8443/", inventory=str(path)).ca == Path("/some/ca.pem")
    monkeypatch.delenv("IMGCLOUD_CA")
    assert resolve().ca is None  # the system's roots
    assert resolve(url="https://127.0.0.1:8443/", inventory=str(path)).ca == (
        tmp_path / "secrets" / "tls" / "ca.pem"
    )


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
    lab = Target("https://10.77.0.100/", "lab imgcloud", (Node("vm1", "10.77.0.11"),), lab=True)
    cores = bench.cores_for(lab, None, worker_vms=1)
    assert cores.count >= 1 and "not 3 VMs' worth" in cores.basis


def test_real_vms_need_cores_given() -> None:
    real = Target("https://10.1.2.100/", "inventory x", (Node("vm1", "10.1.2.11"),))
    with pytest.raises(ValueError, match="--cores"):
        bench.cores_for(real, None)


def test_real_vms_scaling_step_gets_its_share_of_cores() -> None:
    nodes = tuple(Node(f"vm{i}", f"10.1.2.1{i}") for i in (1, 2, 3))
    real = Target("https://10.1.2.100/", "inventory x", nodes)
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
    assert target.url.startswith("https://") and target.url != "https:///"
    assert [n.name for n in target.nodes] == ["vm1", "vm2", "vm3"]
    assert not target.lab
