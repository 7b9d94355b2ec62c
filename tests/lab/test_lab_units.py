"""Pure logic of the lab: addresses, names, inventory text, injected files."""

from __future__ import annotations

import io
import ipaddress
import tarfile
from pathlib import Path

import pytest

from lab import engine, state
from lab.engine import LabError
from lab.inventory import inventory, proxy_args, ssh_config
from lab.machines import Payload
from lab.state import Credentials, LabState
from lab.topology import Topology, lab_name

NET = ipaddress.ip_network("10.210.7.0/24")


def _state(tmp_path: Path, vms: int = 3) -> LabState:
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAA test\n")
    creds = Credentials("u", "p", "ak", "sk")
    return LabState(tmp_path, Topology("t", NET, vms), 5050, creds)


def test_addresses_are_fixed_by_the_subnet() -> None:
    topo = Topology("t", NET, 5)
    assert (topo.gateway, topo.bastion.address, topo.provider.address) == (
        "10.210.7.1",
        "10.210.7.2",
        "10.210.7.3",
    )
    assert [n.address for n in topo.nodes] == [f"10.210.7.{10 + i}" for i in range(1, 6)]
    assert [n.container for n in topo.nodes][-1] == "t-vm5"


def test_the_floating_ip_is_outside_dockers_dynamic_range() -> None:
    topo = Topology("t", NET, 50)
    dynamic = ipaddress.ip_network(topo.ip_range)
    fixed = [topo.vip, topo.bastion.address, topo.provider.address]
    fixed += [n.address for n in topo.nodes]
    assert not [a for a in fixed if ipaddress.ip_address(a) in dynamic]


@pytest.mark.parametrize("vms", [0, 51, -1])
def test_vm_count_out_of_range_is_refused(vms: int) -> None:
    with pytest.raises(LabError, match="--vms must be between 1 and 50"):
        Topology("t", NET, vms)


@pytest.mark.parametrize("name", ["Imgcloud", "1lab", "lab_x", "a" * 31])
def test_bad_lab_names_are_refused(name: str) -> None:
    with pytest.raises(LabError, match="is not valid"):
        lab_name(name)


def test_the_lab_name_comes_from_the_environment_else_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMGCLOUD_LAB_NAME", raising=False)
    assert lab_name(None) == "imgcloud"
    monkeypatch.setenv("IMGCLOUD_LAB_NAME", "other")
    assert lab_name(None) == "other"


def test_the_proxy_command_is_the_contracts(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    assert proxy_args(_state(tmp_path)) == (
        f'-o ProxyCommand="ssh -i {key} -o StrictHostKeyChecking=no '
        '-o UserKnownHostsFile=/dev/null -W %h:%p -p 22 debian@10.210.7.2" '
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    )


def test_inventory_has_a_host_per_vm_and_the_bastion_without_proxy(tmp_path: Path) -> None:
    inv = inventory(_state(tmp_path, vms=2), Path("/bin/consul"), Path("/bin/nomad"))["all"]
    hosts = inv["children"]["cluster"]["hosts"]
    assert hosts == {
        f"vm{i}": {
            "ansible_host": f"10.210.7.{10 + i}",
            "nomad_cgroup_parent": f"t-vm{i}-nomad",
            "docker_cgroup_parent": f"t-vm{i}-docker",
        }
        for i in (1, 2)
    }
    bastion = inv["children"]["bastion"]["hosts"]["bastion1"]
    assert "ProxyCommand" not in bastion["ansible_ssh_common_args"]
    assert inv["vars"]["consul_binary_src"] == "/bin/consul"


def test_ssh_config_jumps_through_the_bastion(tmp_path: Path) -> None:
    text = ssh_config(_state(tmp_path, vms=1))
    assert "Host vm1\n  HostName 10.210.7.11\n  ProxyJump bastion" in text


def test_payload_files_keep_their_owner_and_mode() -> None:
    payload = Payload(dirs=[("home/debian/.ssh", 0o700, 1000)])
    payload.add("home/debian/.ssh/authorized_keys", "key\n", 0o600, 1000)
    with tarfile.open(fileobj=io.BytesIO(payload.tar())) as archive:
        members = {m.name: (m.isdir(), m.mode, m.uid) for m in archive.getmembers()}
    assert members == {
        "home/debian/.ssh": (True, 0o700, 1000),
        "home/debian/.ssh/authorized_keys": (False, 0o600, 1000),
    }


def test_low_inotify_limits_are_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1000000\n")
    monkeypatch.setattr(engine, "_INOTIFY", tmp_path)
    engine.ensure_inotify_limits()
    assert (tmp_path / "max_user_instances").read_text() == "1024\n"
    assert (tmp_path / "max_user_watches").read_text() == "1000000\n"  # never lowered


def test_the_subnet_avoids_docker_networks_and_host_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "_used_subnets", lambda: [ipaddress.IPv4Network("10.210.0.0/24")])
    monkeypatch.setattr(state, "_host_routes", lambda: [ipaddress.IPv4Network("10.210.1.0/25")])
    assert state._pick_subnet("imgcloud") == ipaddress.IPv4Network("10.210.2.0/24")
