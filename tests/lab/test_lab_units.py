"""Pure logic of the lab: addresses, names, inventory text, injected files."""

from __future__ import annotations

import io
import ipaddress
import json
import tarfile
from pathlib import Path

import pytest

from lab import engine, floating_ip, hostkeys, images, state, summary, toxiproxy
from lab.engine import LabError
from lab.inventory import inventory, proxy_args, ssh_config, status
from lab.machines import Payload, provider
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


def test_the_proxy_command_is_the_contracts_and_checks_the_pinned_keys(tmp_path: Path) -> None:
    key, known = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    check = f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known}"
    assert proxy_args(_state(tmp_path)) == (
        f'-o ProxyCommand="ssh -i {key} {check} -W %h:%p -p 22 debian@10.210.7.2" {check}'
    )


def test_known_hosts_lists_every_key_of_every_address() -> None:
    text = hostkeys.known_hosts({"10.0.0.2": ["ssh-ed25519 AAAA1", "ecdsa-sha2-nistp256 BBBB"]})
    assert text == "10.0.0.2 ssh-ed25519 AAAA1\n10.0.0.2 ecdsa-sha2-nistp256 BBBB\n"


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
    assert "StrictHostKeyChecking=yes" in bastion["ansible_ssh_common_args"]
    assert inv["vars"]["consul_binary_src"] == "/bin/consul"


def test_ssh_config_jumps_through_the_bastion(tmp_path: Path) -> None:
    text = ssh_config(_state(tmp_path, vms=1))
    assert "Host vm1\n  HostName 10.210.7.11\n  ProxyJump bastion" in text
    assert f"StrictHostKeyChecking yes\n  UserKnownHostsFile {tmp_path}/known_hosts" in text


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


def test_the_vms_reach_s3_and_rabbitmq_through_toxiproxy(tmp_path: Path) -> None:
    variables = inventory(_state(tmp_path), Path("/bin/consul"), Path("/bin/nomad"))["all"]["vars"]
    assert variables["imgcloud_s3_endpoint"] == "http://10.210.7.3:9100"
    assert variables["imgcloud_amqp_url"] == "amqp://u:p@10.210.7.3:5673/"


def test_the_status_keeps_the_direct_endpoints_and_names_the_proxies(tmp_path: Path) -> None:
    provider_status = status(_state(tmp_path))["provider"]
    assert provider_status["s3"]["endpoint"] == "http://10.210.7.3:9000"
    assert provider_status["rabbitmq"]["url"] == "amqp://u:p@10.210.7.3:5672/"
    assert provider_status["toxiproxy"] == {
        "api": "http://10.210.7.3:8474",
        "proxies": {
            "s3": {"listen": "10.210.7.3:9100", "upstream": "127.0.0.1:9000"},
            "amqp": {"listen": "10.210.7.3:5673", "upstream": "127.0.0.1:5672"},
        },
    }


def test_a_provider_without_toxiproxy_keeps_the_vms_on_the_direct_ports(tmp_path: Path) -> None:
    lab = _state(tmp_path)
    variables = inventory(lab, Path("/c"), Path("/n"), proxied=False)["all"]["vars"]
    assert variables["imgcloud_s3_endpoint"] == "http://10.210.7.3:9000"
    assert variables["imgcloud_amqp_url"] == "amqp://u:p@10.210.7.3:5672/"
    assert "toxiproxy" not in status(lab, proxied=False)["provider"]


def test_the_provider_gets_toxiproxys_address_and_proxies_before_its_boot(tmp_path: Path) -> None:
    files = {path: data for path, data, _, _ in provider(_state(tmp_path)).payload.files}
    assert files["etc/lab/toxiproxy.env"] == b"TOXIPROXY_HOST=10.210.7.3\n"
    config = json.loads(files["etc/lab/toxiproxy.json"])
    assert [(p["name"], p["listen"], p["upstream"], p["enabled"]) for p in config] == [
        ("s3", "10.210.7.3:9100", "127.0.0.1:9000", True),
        ("amqp", "10.210.7.3:5673", "127.0.0.1:5672", True),
    ]


def test_toxiproxys_unit_serves_the_api_port_from_the_lab_config() -> None:
    unit = (images.IMAGES_DIR / "provider" / "toxiproxy.service").read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.split() == [
        "ExecStart=/usr/local/bin/toxiproxy-server",
        "-host", "${TOXIPROXY_HOST}",
        "-port", str(toxiproxy.API_PORT),
        "-config", f"/{toxiproxy.CONFIG}",
    ]  # fmt: skip
    assert f"EnvironmentFile=/{toxiproxy.ENV}" in unit
    dockerfile = (images.IMAGES_DIR / "provider" / "Dockerfile").read_text()
    assert "toxiproxy.service" in dockerfile.split("systemctl enable")[-1]
    assert f'LABEL {toxiproxy.LABEL}="1"' in dockerfile


def test_the_provider_image_carries_toxiproxy_so_adding_it_rebuilds_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "image_id", lambda tag: "sha256:parent")
    minio, proxy, other = (tmp_path / name for name in ("minio", "toxiproxy", "other"))
    for path, data in ((minio, b"m"), (proxy, b"t"), (other, b"tt")):
        path.write_bytes(data)
    image = images.provider_image(minio, proxy)
    assert [name for _, name in image.extra_files] == ["minio", "toxiproxy-server"]
    before = images.Image("provider", image.parent, ((minio, "minio"),))
    assert images._source_hash(image) != images._source_hash(before)
    assert images._source_hash(image) != images._source_hash(images.provider_image(minio, other))
    assert images._source_hash(image) == images._source_hash(images.provider_image(minio, proxy))


def test_the_summary_names_toxiproxy_when_the_provider_has_it(tmp_path: Path) -> None:
    lab = _state(tmp_path)
    text = summary.render(status(lab), {}, "lab t")
    assert "Toxiproxy    http://10.210.7.3:8474" in text
    assert "s3 10.210.7.3:9100, amqp 10.210.7.3:5673" in text
    assert "Toxiproxy" not in summary.render(status(lab, proxied=False), {}, "lab t")


def test_the_floating_ip_api_gets_its_token_and_the_vip_and_keepalived_its_hook(
    tmp_path: Path,
) -> None:
    lab = _state(tmp_path)
    lab.secrets_dir.mkdir()
    machine = provider(lab)
    files = {f[0]: f for f in machine.payload.files}
    _, data, mode, _ = files[floating_ip.CONFIG]
    config = json.loads(data)
    token = floating_ip.token(lab)
    assert (config["listen"], config["addresses"], config["token"]) == (
        "10.210.7.3",
        ["10.210.7.250"],
        token,
    )
    assert mode == 0o600 and floating_ip.token_file(lab).stat().st_mode & 0o077 == 0
    assert floating_ip.token(lab) == token, "made once, then kept"
    hooked = inventory(lab, Path("c"), Path("n"))["all"]["vars"]
    assert hooked["keepalived_vip_hook"] == "http"
    assert (
        hooked["keepalived_vip_hook_url"] == "http://10.210.7.3:8780/v1/floating-ips/10.210.7.250"
    )
    plain = inventory(lab, Path("c"), Path("n"), floating=False)["all"]["vars"]
    assert "keepalived_vip_hook" not in plain
    text = summary.render(status(lab), {}, "lab t")
    assert "cloud API    http://10.210.7.3:8780/v1/floating-ips/10.210.7.250" in text
    assert "cloud API" not in summary.render(status(lab, floating=False), {}, "lab t")
    dockerfile = (images.IMAGES_DIR / "provider" / "Dockerfile").read_text()
    assert "lab-floating-ip.service" in dockerfile.split("systemctl enable")[-1]
    assert f'LABEL {floating_ip.LABEL}="1"' in dockerfile
