"""`up` is idempotent and fast on a healthy lab; `down` leaves nothing behind;
bad input gets a clear error; inventory and status follow the contract."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from labtools import docker, lab_cli, port_refused, ssh

pytestmark = pytest.mark.lab

SECOND_LAB = "labtest"  # never the main lab: others are using it


def _snapshot(lab: dict[str, Any]) -> dict[str, str]:
    """Container ids and start times, and the files everything else reads."""
    containers = [lab["bastion"]["container"], lab["provider"]["container"]]
    containers += [n["container"] for n in lab["nodes"]]
    started = docker("inspect", "--format", "{{.Name}} {{.Id}} {{.State.StartedAt}}", *containers)
    files = {
        p: Path(p).read_text() for p in (lab["inventory"], lab["provider"]["s3"]["credentials"])
    }
    return {"containers": started, **files}


@pytest.mark.slow
def test_second_up_is_fast_and_changes_nothing(lab: dict[str, Any]) -> None:
    before = _snapshot(lab)
    start = time.monotonic()
    result = lab_cli("up", "--name", lab["name"])
    seconds = time.monotonic() - start
    print(f"warm `lab up`: {seconds:.1f} s")
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr
    assert "created" not in result.stdout
    assert _snapshot(lab) == before
    assert seconds < 120, f"a warm `up` took {seconds:.0f} s"


def _leftovers(name: str) -> list[str]:
    label = f"label=org.imgcloud.lab={name}"
    found = docker("ps", "--all", "--filter", label, "--format", "{{.Names}}").split()
    found += docker("network", "ls", "--filter", label, "--format", "{{.Name}}").split()
    found += docker("network", "ls", "--filter", f"name=^{name}-", "--format", "{{.Name}}").split()
    found += docker("volume", "ls", "--filter", label, "--format", "{{.Name}}").split()
    found += docker("ps", "--all", "--filter", f"name=^{name}-", "--format", "{{.Names}}").split()
    return found


@pytest.fixture(scope="module")
def second_lab() -> dict[str, Any]:
    """A one-VM lab beside the main one, brought up for the `down` tests."""
    up = lab_cli("up", "--name", SECOND_LAB, "--vms", "1")
    assert up.returncode == 0, up.stderr
    status = lab_cli("status", "--json", "--name", SECOND_LAB)
    return json.loads(status.stdout)


@pytest.mark.slow
def test_second_lab_is_separate_from_the_main_one(
    second_lab: dict[str, Any], lab: dict[str, Any]
) -> None:
    assert second_lab["subnet"] != lab["subnet"]
    assert [n["container"] for n in second_lab["nodes"]] == [f"{SECOND_LAB}-vm1"]
    assert second_lab["running"]


@pytest.mark.slow
def test_ssh_guard_survives_a_docker_engine_restart(second_lab: dict[str, Any]) -> None:
    """dockerd rewrites iptables when it starts: the bastion-only rule must stay.

    On the second lab: restarting dockerd would stop a deployed cluster's tasks.
    """
    config = Path(second_lab["ssh_config"])
    restart = ssh(config, "vm1", "sudo systemctl restart docker && sudo iptables -S INPUT")
    assert restart.returncode == 0, restart.stderr
    assert "-j LAB-SSH" in restart.stdout
    assert port_refused(second_lab["nodes"][0]["address"])
    assert ssh(config, "vm1", "true").returncode == 0


@pytest.mark.slow
def test_up_with_more_vms_adds_them_and_keeps_the_others(second_lab: dict[str, Any]) -> None:
    before = docker("inspect", "--format", "{{.Id}}", f"{SECOND_LAB}-vm1")
    grown = lab_cli("up", "--name", SECOND_LAB, "--vms", "2")
    assert grown.returncode == 0, grown.stderr
    assert docker("inspect", "--format", "{{.Id}}", f"{SECOND_LAB}-vm1") == before
    status = json.loads(lab_cli("status", "--json", "--name", SECOND_LAB).stdout)
    assert [n["name"] for n in status["nodes"]] == ["vm1", "vm2"]
    shrunk = lab_cli("up", "--name", SECOND_LAB, "--vms", "1")
    assert shrunk.returncode == 0, shrunk.stderr
    assert f"removing {SECOND_LAB}-vm2" in shrunk.stderr
    assert f"{SECOND_LAB}-vm2-docker" not in docker("volume", "ls", "--format", "{{.Name}}")


@pytest.mark.slow
def test_up_starts_a_stopped_machine_and_thaws_a_frozen_one(second_lab: dict[str, Any]) -> None:
    """What chaos experiments leave behind, `up` repairs."""
    docker("stop", f"{SECOND_LAB}-vm1")
    docker("pause", f"{SECOND_LAB}-provider")
    result = lab_cli("up", "--name", SECOND_LAB)
    assert result.returncode == 0, result.stderr
    assert re.search(r"vm1 .* started", result.stdout), result.stdout
    assert re.search(r"provider .* unpaused", result.stdout), result.stdout
    status = json.loads(lab_cli("status", "--json", "--name", SECOND_LAB).stdout)
    assert status["running"]


@pytest.mark.slow
def test_up_replaces_machines_whose_state_folder_is_gone(
    second_lab: dict[str, Any], tmp_path: Path
) -> None:
    """A fresh clone (CI) meets the containers an earlier checkout left: their keys
    are lost with that checkout's state folder, so `up` must not keep them."""
    old_id = docker("inspect", "--format", "{{.Id}}", f"{SECOND_LAB}-vm1")
    Path(second_lab["inventory"]).parent.rename(tmp_path / "old-state")
    result = lab_cli("up", "--name", SECOND_LAB, "--vms", "1")
    assert result.returncode == 0, result.stderr
    assert f"removed orphaned container {SECOND_LAB}-vm1" in result.stderr
    assert docker("inspect", "--format", "{{.Id}}", f"{SECOND_LAB}-vm1") != old_id
    fresh = json.loads(lab_cli("status", "--json", "--name", SECOND_LAB).stdout)
    assert ssh(Path(fresh["ssh_config"]), "vm1", "true").returncode == 0


@pytest.mark.slow
def test_down_leaves_no_container_network_or_volume(
    second_lab: dict[str, Any], lab: dict[str, Any]
) -> None:
    assert _leftovers(SECOND_LAB)  # it was really there
    result = lab_cli("down", "--name", SECOND_LAB)
    assert result.returncode == 0, result.stderr
    assert _leftovers(SECOND_LAB) == []
    assert not Path(second_lab["inventory"]).parent.exists()
    assert "removed container labtest-vm1" in result.stderr
    main = lab_cli("status", "--json", "--name", lab["name"])
    assert json.loads(main.stdout)["running"]  # the main lab did not notice


def test_down_of_an_absent_lab_says_so() -> None:
    result = lab_cli("down", "--name", "labtest-never-up")
    assert result.returncode == 0, result.stderr
    assert "nothing to remove" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--vms", "0"], "--vms must be between 1 and"),
        (["up", "--name", "Bad_Name"], "is not valid"),
        (["status", "--name", "labtest-never-up"], "is not up"),
        (["down", "--vms", "2"], "--vms only applies to `up`"),
    ],
)
def test_bad_input_gets_a_clear_error(args: list[str], message: str) -> None:
    result = lab_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_inventory_follows_the_contract(lab: dict[str, Any]) -> None:
    inventory = yaml.safe_load(Path(lab["inventory"]).read_text())["all"]
    variables = inventory["vars"]
    assert variables["ansible_user"] == "debian"
    assert Path(variables["ansible_ssh_private_key_file"]).is_file()
    assert f"-W %h:%p -p 22 debian@{lab['bastion']['host']}" in variables["ansible_ssh_common_args"]
    assert variables["imgcloud_vip"] == lab["vip"]
    assert variables["imgcloud_registry"] == lab["provider"]["registry"]
    assert variables["docker_insecure_registries"] == [lab["provider"]["registry"]]
    # The VMs reach RabbitMQ through Toxiproxy (test_lab_toxiproxy.py checks the port),
    # with the lab's own user.
    direct = urlsplit(lab["provider"]["rabbitmq"]["url"])
    proxied = urlsplit(variables["imgcloud_amqp_url"])
    assert (proxied.username, proxied.password, proxied.hostname) == (
        direct.username,
        direct.password,
        direct.hostname,
    )
    for name in ("consul_binary_src", "nomad_binary_src"):
        assert Path(variables[name]).is_file()
    bastion = inventory["children"]["bastion"]["hosts"]["bastion1"]
    assert "ProxyCommand" not in bastion["ansible_ssh_common_args"]
    hosts = inventory["children"]["cluster"]["hosts"]
    assert {name: h["ansible_host"] for name, h in hosts.items()} == {
        n["name"]: n["address"] for n in lab["nodes"]
    }
    assert hosts["vm1"]["nomad_cgroup_parent"] == f"{lab['name']}-vm1-nomad"


def test_status_points_at_the_cluster_secrets_inside_the_lab_state(lab: dict[str, Any]) -> None:
    # The operator's tokens and the CA live in the lab's private state, where the
    # inventory tells the roles to make them: never beside the checkout's files.
    inventory = yaml.safe_load(Path(lab["inventory"]).read_text())["all"]
    folder = Path(lab["secrets"]["folder"])
    assert str(folder) == inventory["vars"]["imgcloud_secrets_dir"]
    assert folder.parent == Path(lab["inventory"]).parent
    for key in ("ca", "consul_token", "nomad_token", "api_token"):
        assert Path(lab["secrets"][key]).parent in (folder, folder / "tls")
    assert lab["secrets"]["nomad_api"] == [f"https://{n['address']}:4646" for n in lab["nodes"]]


def test_status_json_follows_the_contract(lab: dict[str, Any]) -> None:
    assert lab["url"] == f"https://{lab['vip']}/"
    assert lab["url_ca"] == lab["secrets"]["ca"]
    assert lab["bastion"]["port"] == 22 and lab["bastion"]["user"] == "debian"
    assert Path(lab["bastion"]["key"]).is_file()
    assert lab["provider"]["s3"]["endpoint"].startswith("http://")
    assert lab["provider"]["rabbitmq"]["url"].startswith("amqp://")
    assert lab["provider"]["registry_push"].startswith("127.0.0.1:")
    creds = json.loads(Path(lab["provider"]["s3"]["credentials"]).read_text())
    assert set(creds) >= {"access_key", "secret_key", "bucket"}
    assert Path(lab["provider"]["s3"]["credentials"]).stat().st_mode & 0o077 == 0
