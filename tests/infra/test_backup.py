"""Backups (roles/backup): Consul's and Nomad's state lands in S3, encrypted so
that only the operator's identity opens it, and what it holds is a snapshot the
agents can read back; old ones are pruned; every VM's freshness check sees it.

The identity is the controller's (`backup-age.key` in the secrets folder) unless the
inventory gives its own recipient (`backup_age_recipient`): then this module needs
`imgcloud_test_backup_identity`, a file holding the matching identity.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from deploy.credentials import secrets_dir

pytestmark = pytest.mark.lab

CONFIG = "/etc/imgcloud/backup.json"
SYSTEMS = ("consul", "nomad")
# Each snapshot's own reader, offline: it fails on anything that is not one.
INSPECT = {"consul": "consul snapshot inspect", "nomad": "nomad operator snapshot inspect"}


def _identity(hostvars: dict[str, dict[str, Any]], name: str, inventory: Path) -> str:
    given = hostvars[name].get("imgcloud_test_backup_identity")
    path = Path(given) if given else secrets_dir(hostvars[name], inventory) / "backup-age.key"
    if not path.is_file():
        pytest.fail(f"no backup identity to decrypt with at {path}")
    return path.read_text()


def test_the_backup_runs_on_a_timer_with_its_secrets_root_only(vm: Any) -> None:
    timer = vm.service("imgcloud-backup.timer")
    assert timer.is_running and timer.is_enabled
    for path in (CONFIG, "/etc/imgcloud/backup/consul.token", "/etc/imgcloud/backup/nomad.token"):
        secret = vm.file(path)
        assert (secret.user, secret.mode) == ("root", 0o600), f"{path} is not root's alone"


def test_a_backup_lands_in_s3_encrypted_and_holds_each_snapshot(
    vms: dict[str, Any],
    cluster_names: list[str],
    hostvars: dict[str, dict[str, Any]],
    cluster_inventory: Path,
) -> None:
    name = cluster_names[-1]  # any VM can save; the timer leaves it to the leader
    host = vms[name]
    saved = host.check_output("imgcloud-backup save --reason test").split()
    assert saved[0] == "saved" and len(saved) == 1 + len(SYSTEMS), saved
    listed = {b["key"]: b for b in json.loads(host.check_output("imgcloud-backup list"))}
    for key in saved[1:]:
        assert key in listed, f"{key} is not in S3's listing: {sorted(listed)[:6]}"
        assert listed[key]["vm"] == name and listed[key]["reason"] == "test"
    identity = _identity(hostvars, name, cluster_inventory)
    work = host.check_output("mktemp -d /root/backup-test.XXXXXX")
    try:
        host.run_expect([0], f"umask 077; printf %s {shlex.quote(identity)} > {work}/identity")
        host.run_expect([0], f"umask 077; age-keygen -o {work}/stranger 2>/dev/null")
        for system in SYSTEMS:
            sealed, plain = f"{work}/{system}.age", f"{work}/{system}.snap"
            fetched = host.check_output(f"imgcloud-backup fetch {system} {sealed}")
            assert fetched in saved, f"the newest {system} backup is {fetched}, not this one"
            header = host.run(f"head -c 21 {sealed}").stdout_bytes
            assert header == b"age-encryption.org/v1", f"{fetched} is not age-encrypted: {header!r}"
            stranger = host.run(f"age -d -i {work}/stranger -o {plain} {sealed}")
            assert stranger.rc != 0, "another identity opened the backup"
            host.run_expect([0], f"age -d -i {work}/identity -o {plain} {sealed}")
            inspected = host.check_output(f"{INSPECT[system]} {plain}")
            assert "Index" in inspected, f"{system}: {inspected}"
    finally:
        host.run(f"rm -rf {work}")


def test_old_backups_are_pruned_and_the_newest_kept(
    vms: dict[str, Any], cluster_names: list[str]
) -> None:
    """With `keep` 2, three saves leave the two newest of each system."""
    host = vms[cluster_names[0]]
    config = json.loads(host.check_output(f"cat {CONFIG}"))
    config.update(keep=2, prefix=f"backups-test/{int(time.time())}/")
    path = "/root/backup-test.json"
    host.run_expect([0], f"umask 077; printf %s {shlex.quote(json.dumps(config))} > {path}")
    try:
        for reason in ("first", "second", "third"):
            host.run_expect([0], f"imgcloud-backup --config {path} save --reason {reason}")
        left = json.loads(host.check_output(f"imgcloud-backup --config {path} list"))
    finally:
        host.run(f"rm -f {path}")
    kept = sorted((b["system"], b["reason"]) for b in left)
    assert kept == sorted((s, r) for s in SYSTEMS for r in ("second", "third")), kept


def test_every_vm_sees_the_newest_backup_in_s3(
    vms: dict[str, Any], cluster_names: list[str], hostvars: dict[str, dict[str, Any]]
) -> None:
    """What the BackupTooOld alert reads: every VM's own listing of S3."""
    saved_at = time.time()
    vms[cluster_names[0]].run_expect([0], "imgcloud-backup save --reason test")
    for name, host in vms.items():
        host.run_expect([0], "imgcloud-backup check")
        address = hostvars[name].get("ansible_host", name)
        metrics = host.check_output(f"curl -sf --max-time 10 http://{address}:9100/metrics")
        newest = {
            line.split('"')[1]: float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("imgcloud_backup_newest_timestamp_seconds{")
        }
        assert set(newest) == set(SYSTEMS), f"{name} exports {newest}"
        stale = {s: t for s, t in newest.items() if t < saved_at - 2}
        assert not stale, f"{name}'s newest backups predate the save at {saved_at:.0f}: {stale}"
