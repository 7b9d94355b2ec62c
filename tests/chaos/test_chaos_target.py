"""Describing the cluster: from the lab's status JSON and from an Ansible inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.remote import DockerExec, SshExec
from chaos.target import TargetError, from_inventory, from_lab_status

STATUS = {
    "url": "https://10.210.0.250/",
    "url_ca": "/x/secrets/tls/ca.pem",
    "vip": "10.210.0.250",
    "inventory": "/x/inventory.yml",
    "nodes": [
        {"name": f"vm{i}", "address": f"10.210.0.1{i}", "container": f"imgcloud-vm{i}"}
        for i in (1, 2, 3)
    ],
    "provider": {
        "s3": {"endpoint": "http://10.210.0.3:9000"},
        "rabbitmq": {"url": "amqp://u:p@10.210.0.3:5672/"},
    },
}

INVENTORY = """
all:
  vars:
    ansible_user: debian
    ansible_ssh_private_key_file: /keys/id
    ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p debian@203.0.113.5"'
    imgcloud_vip: 192.168.10.50
    imgcloud_s3_endpoint: https://s3.example.net
    imgcloud_amqp_url: amqps://u:p@mq.example.net:5671/
  children:
    bastion:
      hosts:
        bastion: {ansible_host: 203.0.113.5}
    cluster:
      hosts:
        web1: {ansible_host: 192.168.10.11}
        web2: {ansible_host: 192.168.10.12}
"""


def test_the_lab_status_gives_containers_endpoints_and_the_lab_name():
    target = from_lab_status(STATUS)
    assert target.names() == ["vm1", "vm2", "vm3"]
    assert (target.lab, target.provider_container) == ("imgcloud", "imgcloud-provider")
    assert (target.s3, target.amqp) == (("10.210.0.3", 9000), ("10.210.0.3", 5672))
    assert target.name_of("10.210.0.12:8300") == "vm2"
    assert DockerExec().argv(target.vm("vm1"), ["true"]) == [
        "docker",
        "exec",
        "-i",
        "imgcloud-vm1",
        "true",
    ]


def test_network_faults_aim_at_the_toxiproxy_ports_the_vms_use():
    # The lab's VMs reach S3 and the broker through Toxiproxy (9100, 5673); an
    # iptables fault aimed at MinIO's own 9000 would cut nothing they use.
    proxies = {
        "s3": {"listen": "10.210.0.3:9100", "upstream": "127.0.0.1:9000"},
        "amqp": {"listen": "10.210.0.3:5673", "upstream": "127.0.0.1:5672"},
    }
    status = {
        **STATUS,
        "provider": {
            **STATUS["provider"],
            "toxiproxy": {"api": "http://10.210.0.3:8474", "proxies": proxies},
        },
    }
    target = from_lab_status(status)
    assert (target.s3, target.amqp) == (("10.210.0.3", 9100), ("10.210.0.3", 5673))


def test_the_lab_status_names_the_ca_that_checks_its_url():
    target = from_lab_status(STATUS)
    assert (target.url, target.ca) == ("https://10.210.0.250/", Path("/x/secrets/tls/ca.pem"))
    older = {key: value for key, value in STATUS.items() if key != "url_ca"}
    assert from_lab_status(older).ca is None  # the system's roots


def test_a_status_without_nodes_says_so():
    with pytest.raises(TargetError, match="lacks 'nodes'"):
        from_lab_status({"url": "https://x/", "vip": "x"})


def _secrets(folder: Path) -> None:
    """What the first deployment leaves in the inventory's secrets folder."""
    (folder / "tls").mkdir(parents=True)
    (folder / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    for name in ("consul-management", "nomad-management", "nomad-deploy"):
        (folder / f"{name}.token").write_text(f"{name}-token\n")
    (folder / "api_token").write_text("imgc_admin_token\n")


def test_an_inventory_gives_hosts_vip_and_ssh_through_the_bastion(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    _secrets(tmp_path / "secrets")
    target = from_inventory(path)
    assert target.names() == ["web1", "web2"] and target.lab is None
    assert (target.vip, target.url) == ("192.168.10.50", "https://192.168.10.50/")
    assert (target.s3, target.amqp) == (("s3.example.net", 443), ("mq.example.net", 5671))
    argv = SshExec(target.ssh).argv(target.vm("web2"), ["systemctl", "stop", "consul"])
    assert argv[-2:] == ["debian@192.168.10.12", "sudo -n systemctl stop consul"]
    assert "ProxyCommand=ssh -W %h:%p debian@203.0.113.5" in argv and "/keys/id" in argv


def test_an_inventory_brings_its_clusters_api_credentials(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    _secrets(tmp_path / "secrets")
    credentials = from_inventory(path).credentials
    assert credentials is not None
    assert credentials.ca_file == tmp_path / "secrets" / "tls" / "ca.pem"
    assert (credentials.consul_token, credentials.nomad_token) == (
        "consul-management-token",
        "nomad-management-token",
    )


def test_an_inventory_checks_its_url_against_the_cluster_ca(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    _secrets(tmp_path / "secrets")
    assert from_inventory(path).ca == tmp_path / "secrets" / "tls" / "ca.pem"


def test_an_operators_own_certificate_is_checked_against_the_system_roots(tmp_path):
    path = tmp_path / "hosts.yml"
    own = "    haproxy_tls_certificate_file: /etc/ssl/imgcloud.pem\n"
    named = "    imgcloud_url: https://images.example.net\n"
    path.write_text(INVENTORY.replace("    imgcloud_vip:", own + named + "    imgcloud_vip:"))
    _secrets(tmp_path / "secrets")
    target = from_inventory(path)
    assert (target.url, target.ca) == ("https://images.example.net/", None)


def test_an_inventory_without_its_secrets_is_refused(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    with pytest.raises(TargetError, match=r"ca\.pem does not exist"):
        from_inventory(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("all:\n  children:\n    bastion:\n      hosts: {b: {}}\n", "no hosts in group `cluster`"),
        ("all:\n  children:\n    cluster:\n      hosts: {vm1: {}}\n", "does not set imgcloud_vip"),
    ],
)
def test_an_incomplete_inventory_is_refused(tmp_path, text, message):
    path = tmp_path / "hosts.yml"
    path.write_text(text)
    with pytest.raises(TargetError, match=message):
        from_inventory(path)
