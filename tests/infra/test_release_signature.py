"""HashiCorp downloads are trusted only as far as the release key's signature goes
(roles/hashicorp_binary, `download`): a made-up release is served from this machine
to one lab VM, signed by a key made here, and installed with the role; every way a
mirror or a network could hand over something else is refused with a reason: the
checksums altered after signing, a signature by another key, a key file holding
another key than the fingerprint names, a zip that is not the one signed.

Lab only (marked `provider`): the VM fetches from the lab's gateway, this machine."""

from __future__ import annotations

import functools
import hashlib
import http.server
import ipaddress
import os
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy import ROOT
from deploy.ansible import environment, tool

pytestmark = [pytest.mark.lab, pytest.mark.provider]

VERSION = "1.0.0"
NAME = "imgcloud-fake"
ZIP = f"{NAME}_{VERSION}_linux_amd64.zip"
SUMS = f"{NAME}_{VERSION}_SHA256SUMS"
ROOT_ON_VM = "/opt/imgcloud-release-test"
PLAYBOOK = Path(__file__).with_name("release_signature.yml")


@dataclass(frozen=True)
class Keys:
    home: Path
    release: str  # fingerprint of the key that signs releases
    other: str  # a key of someone else

    def gpg(self, *args: str) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", "--homedir", str(self.home), *args], check=True, capture_output=True
        ).stdout


def _make_key(home: Path, who: str) -> str:
    subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key",
         f"{who} <{who}@imgcloud.invalid>", "ed25519", "sign", "never"],
        check=True, capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), "--with-colons", "--list-keys", who],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    return Keys(home, _make_key(home, "release"), _make_key(home, "mallory"))


def _release(folder: Path, keys: Keys, case: str) -> None:
    """The mirror's folder for one case: what a mirror (or a network) hands over."""
    folder.mkdir()
    binary = f"#!/bin/sh\necho {NAME} {VERSION}\n"
    with zipfile.ZipFile(folder / ZIP, "w") as archive:
        info = zipfile.ZipInfo(NAME)
        info.external_attr = 0o755 << 16
        archive.writestr(info, binary)
    digest = hashlib.sha256((folder / ZIP).read_bytes()).hexdigest()
    (folder / SUMS).write_text(f"{'0' * 64}  other_linux_arm64.zip\n{digest}  {ZIP}\n")
    signer = keys.other if case == "signed-by-another-key" else keys.release
    keys.gpg("--local-user", signer, "--output", str(folder / f"{SUMS}.sig"), "--detach-sign",
             str(folder / SUMS))  # fmt: skip
    served_key = keys.other if case == "another-key-served" else keys.release
    (folder / "signing-key.asc").write_bytes(keys.gpg("--armor", "--export", served_key))
    if case == "sums-altered":  # after signing: a digest of the attacker's choosing
        (folder / SUMS).write_text(f"{'1' * 64}  {ZIP}\n")
    if case == "zip-altered":  # the signed sums name the zip, the mirror serves another
        with zipfile.ZipFile(folder / ZIP, "a") as archive:
            archive.writestr("extra", "planted\n")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """An HTTP server on the lab's gateway address (this machine, as the VMs see
    it), serving one folder per case."""
    from lab.status import read_status
    from lab.topology import lab_name

    subnet = ipaddress.ip_network(read_status(lab_name(None))["subnet"])
    gateway = str(subnet.network_address + 1)
    root = tmp_path_factory.mktemp("mirror")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((gateway, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://{gateway}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def vm1(vms: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    name = sorted(vms)[0]
    vms[name].run(f"rm -rf {ROOT_ON_VM}")
    yield name, vms[name]
    vms[name].run(f"rm -rf {ROOT_ON_VM}")


def _install(
    inventory: Path, host: str, url: str, fingerprint: str
) -> subprocess.CompletedProcess[str]:
    extra = {
        "release_host": host, "release_version": VERSION, "release_url": url,
        "release_root": ROOT_ON_VM, "release_fingerprint": fingerprint,
    }  # fmt: skip
    args = [tool("ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)]
    for key, value in extra.items():
        args += ["-e", f"{key}={value}"]
    return subprocess.run(
        args, cwd=ROOT, env=environment(), capture_output=True, text=True, check=False
    )


def test_a_signed_release_is_installed_and_a_second_run_changes_nothing(
    cluster_inventory: Path, keys: Keys, mirror: tuple[Path, str], vm1: tuple[str, Any]
) -> None:
    root, url = mirror
    _release(root / "signed", keys, "signed")
    host, vm = vm1
    first = _install(cluster_inventory, host, f"{url}/signed", keys.release)
    assert first.returncode == 0, first.stdout[-3000:]
    assert vm.check_output(f"{ROOT_ON_VM}/bin/{NAME}") == f"{NAME} {VERSION}"
    again = _install(cluster_inventory, host, f"{url}/signed", keys.release)
    assert again.returncode == 0, again.stdout[-3000:]
    recap = re.search(rf"^{re.escape(host)}\s+:.*\bchanged=(\d+)", again.stdout, re.MULTILINE)
    assert recap and recap[1] == "0", again.stdout[-2000:]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("sums-altered", "is not a good signature"),
        ("signed-by-another-key", "is not a good signature"),
        ("another-key-served", "holds the key(s)"),
        ("zip-altered", "FAILED"),
    ],
)
def test_a_release_not_as_signed_is_refused(
    cluster_inventory: Path,
    keys: Keys,
    mirror: tuple[Path, str],
    vm1: tuple[str, Any],
    case: str,
    reason: str,
) -> None:
    root, url = mirror
    _release(root / case, keys, case)
    host, vm = vm1
    run = _install(cluster_inventory, host, f"{url}/{case}", keys.release)
    assert run.returncode != 0, f"{case}: installed anyway\n{run.stdout[-2000:]}"
    assert reason in run.stdout, run.stdout[-3000:]
    assert not vm.file(f"{ROOT_ON_VM}/bin/{NAME}").exists, f"{case}: the binary is in place"
