"""What the rest of imgcloud reads about a lab: the Ansible inventory, an
ssh_config for people, and the status document (`status --json`).

All endpoints are IP addresses: containers inside the VMs cannot use Docker's
embedded DNS, and the controller has no name for the lab's machines either.
The VMs reach S3 and RabbitMQ through the provider's Toxiproxy (`lab/toxiproxy.py`)
so the chaos suite can slow or break them; the controller's own endpoints in the
status document and s3.json are the direct ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lab import floating_ip, toxiproxy
from lab.state import BUCKET, LabState, write_private


def host_key_options(state: LabState) -> str:
    """ssh options that check every host key against the lab's pinned ones."""
    return f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={state.known_hosts}"


def amqp_url(state: LabState, *, proxied: bool = False) -> str:
    """RabbitMQ's URL: direct (port 5672), or through Toxiproxy's `amqp` proxy."""
    creds = state.credentials
    where = (
        toxiproxy.listen(state, "amqp") if proxied else f"{state.topology.provider.address}:5672"
    )
    return f"amqp://{creds.rabbitmq_user}:{creds.rabbitmq_password}@{where}/"


def s3_endpoint(state: LabState, *, proxied: bool = False) -> str:
    """MinIO's endpoint: direct (port 9000), or through Toxiproxy's `s3` proxy."""
    where = toxiproxy.listen(state, "s3") if proxied else f"{state.topology.provider.address}:9000"
    return f"http://{where}"


def registry(state: LabState) -> str:
    return f"{state.topology.provider.address}:5000"


def registry_push(state: LabState) -> str:
    return f"127.0.0.1:{state.registry_port}"


def proxy_args(state: LabState) -> str:
    bastion = state.topology.bastion.address
    proxy = f"ssh -i {state.key} {host_key_options(state)} -W %h:%p -p 22 debian@{bastion}"
    return f'-o ProxyCommand="{proxy}" {host_key_options(state)}'


def inventory(
    state: LabState, consul: Path, nomad: Path, *, proxied: bool = True, floating: bool = True
) -> dict[str, Any]:
    """The Ansible inventory; `proxied`: the VMs use S3 and RabbitMQ through Toxiproxy,
    `floating`: keepalived's hook calls the provider's floating-IP API (each False
    only for a provider that still runs an image without it)."""
    topo = state.topology
    creds = state.credentials
    all_vars = {
        "ansible_user": "debian",
        "ansible_ssh_private_key_file": str(state.key),
        "ansible_ssh_common_args": proxy_args(state),
        "ansible_python_interpreter": "/usr/bin/python3",
        "imgcloud_lab": True,
        "imgcloud_lab_name": topo.name,
        "imgcloud_vip": topo.vip,
        "imgcloud_vip_prefix": 24,
        "imgcloud_private_interface": "eth0",
        "imgcloud_registry": registry(state),
        "imgcloud_registry_push": registry_push(state),
        "imgcloud_s3_endpoint": s3_endpoint(state, proxied=proxied),
        "imgcloud_s3_access_key": creds.s3_access_key,
        "imgcloud_s3_secret_key": creds.s3_secret_key,
        "imgcloud_s3_bucket": BUCKET,
        "imgcloud_amqp_url": amqp_url(state, proxied=proxied),
        "imgcloud_secrets_dir": str(state.secrets_dir),
        "consul_install_method": "copy",
        "consul_binary_src": str(consul),
        "nomad_install_method": "copy",
        "nomad_binary_src": str(nomad),
        "docker_insecure_registries": [registry(state)],
        # The provider's NTP server, as a cloud's own; the VMs share the host's
        # clock, so chrony tracks it and never sets it.
        "timesync_servers": [topo.provider.address],
        "timesync_pools": [],
        "timesync_set_clock": False,
        # The controller (this machine, the lab's gateway) is the operator: it
        # reaches Nomad's API, the stats pages and the tasks' ports. Ansible's
        # SSH comes from the bastion, which the firewall learns by itself.
        "firewall_operator_sources": [topo.gateway],
        # The provider's floating-IP API, as a cloud's: keepalived asks it to route
        # the address to each new MASTER (the lab's bridge still moves it by ARP).
        **(floating_ip.hook_vars(state) if floating else {}),
        # The provider's alert receiver, as an operator's webhook; the tests read
        # it, and make each alert's condition hold only as long as they must.
        "monitoring_alert_webhook_url": alert_receiver_url(state),
        "monitoring_alert_for": LAB_ALERT_FOR,
        "monitoring_alert_group_wait": "5s",
        "monitoring_alert_group_interval": "15s",
    }
    bastion = {
        "ansible_host": topo.bastion.address,
        "ansible_ssh_common_args": host_key_options(state),
    }
    cluster = {
        node.name: {
            "ansible_host": node.address,
            "nomad_cgroup_parent": f"{topo.name}-{node.name}-nomad",
            "docker_cgroup_parent": f"{topo.name}-{node.name}-docker",
        }
        for node in topo.nodes
    }
    return {
        "all": {
            "vars": all_vars,
            "children": {
                "bastion": {"hosts": {"bastion1": bastion}},
                "cluster": {"hosts": cluster},
            },
        }
    }


def ssh_config(state: LabState) -> str:
    """`ssh -F .lab/<name>/ssh_config vm1` for people at the keyboard."""
    topo = state.topology
    lines = [
        "Host *",
        "  User debian",
        f"  IdentityFile {state.key}",
        "  IdentitiesOnly yes",
        "  StrictHostKeyChecking yes",
        f"  UserKnownHostsFile {state.known_hosts}",
        "  LogLevel ERROR",
        "",
        "Host bastion",
        f"  HostName {topo.bastion.address}",
        "",
    ]
    for node in topo.nodes:
        lines += [f"Host {node.name}", f"  HostName {node.address}", "  ProxyJump bastion", ""]
    return "\n".join(lines)


# How long each alert's condition holds before it fires, in the lab (roles/monitoring).
LAB_ALERT_FOR = {
    "vm_down": "20s",
    "raft": "20s",
    "vip_flapping": "0s",
    "service_down": "20s",
    "queue_growing": "1m",
    "http_errors": "20s",
    "disk_full": "1m",
    "certificate": "1m",
    "backup": "1m",
}
ALERT_RECEIVER_PORT = 9095  # lab/images/provider/alert-receiver.py


def alert_receiver_url(state: LabState) -> str:
    return f"http://{state.topology.provider.address}:{ALERT_RECEIVER_PORT}/v1/alerts"


def status(state: LabState, *, proxied: bool = True, floating: bool = True) -> dict[str, Any]:
    topo = state.topology
    provider: dict[str, Any] = {
        "address": topo.provider.address,
        "container": topo.provider.container,
        "s3": {"endpoint": s3_endpoint(state), "credentials": str(state.s3_credentials)},
        "rabbitmq": {"url": amqp_url(state)},
        "registry": registry(state),
        "registry_push": registry_push(state),
        "alert_receiver": alert_receiver_url(state),
    }
    if proxied:
        provider["toxiproxy"] = toxiproxy.status(state)
    if floating:
        provider["floating_ip"] = floating_ip.status(state)
    return {
        "name": topo.name,
        # HTTPS on the floating IP; its certificate is the cluster CA's (roles/haproxy).
        "url": f"https://{topo.vip}/",
        "url_ca": str(state.secrets_dir / "tls" / "ca.pem"),
        "vip": topo.vip,
        "subnet": str(topo.subnet),
        "network": topo.network,
        "inventory": str(state.inventory),
        "ssh_config": str(state.ssh_config),
        "known_hosts": str(state.known_hosts),
        "bastion": {
            "host": topo.bastion.address,
            "port": 22,
            "user": "debian",
            "key": str(state.key),
            "container": topo.bastion.container,
        },
        "nodes": [
            {"name": node.name, "address": node.address, "container": node.container}
            for node in topo.nodes
        ],
        # Made by the first deployment (roles/cluster_ca, consul, nomad); files only.
        "secrets": {
            "folder": str(state.secrets_dir),
            "ca": str(state.secrets_dir / "tls" / "ca.pem"),
            "consul_token": str(state.secrets_dir / "consul-management.token"),
            "nomad_token": str(state.secrets_dir / "nomad-management.token"),
            # The service's admin token (Authorization: Bearer), made by the deploy.
            "api_token": str(state.secrets_dir / "api_token"),
            "nomad_api": [f"https://{node.address}:4646" for node in topo.nodes],
        },
        "provider": provider,
    }


def write_all(
    state: LabState, consul: Path, nomad: Path, *, proxied: bool = True, floating: bool = True
) -> None:
    creds = state.credentials
    s3 = {
        "endpoint": s3_endpoint(state),
        "access_key": creds.s3_access_key,
        "secret_key": creds.s3_secret_key,
        "bucket": BUCKET,
    }
    write_private(state.s3_credentials, json.dumps(s3, indent=2) + "\n")
    header = f"# The lab {state.topology.name!r}, written by `python -m lab up`. Do not edit.\n"
    text = yaml.safe_dump(
        inventory(state, consul, nomad, proxied=proxied, floating=floating),
        sort_keys=False,
        width=1000,
    )
    write_private(state.inventory, header + text)
    write_private(state.ssh_config, ssh_config(state))
    write_private(
        state.status_file,
        json.dumps(status(state, proxied=proxied, floating=floating), indent=2) + "\n",
    )
