"""keepalived's cloud hook (roles/keepalived, `keepalived_vip_hook`): on clouds that
ignore gratuitous ARP the floating IP reaches users only through the VM the cloud
routes it to. With a hook, every VM has the notify script, its secrets readable by
root alone and the refresh timer running, and the cloud routes the address to the
VM holding it; without one, none of that is left on the VMs.

The cloud's record is read where the inventory says (`imgcloud_chaos_floating_ip_api`,
else the hook's URL: the lab provider's API answers a GET there)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.site import site_ca, tls_context

pytestmark = pytest.mark.lab

NOTIFY = "/etc/keepalived/vip-notify.sh"
SECRETS = ("/etc/keepalived/vip-hook.env", "/etc/keepalived/vip-hook.headers")
# The refresh timer tells the cloud every 30 s (keepalived_vip_hook_refresh_s).
ROUTED_DEADLINE_S = 45.0


def _hook(hostvars: dict[str, dict[str, Any]], vm_name: str) -> str:
    return str(hostvars[vm_name].get("keepalived_vip_hook") or "")


def test_the_hook_is_installed_as_configured(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]]
) -> None:
    config = vm.file("/etc/keepalived/keepalived.conf").content_string
    timer = vm.service("imgcloud-vip-refresh.timer")
    if not _hook(hostvars, vm_name):
        assert "notify" not in config
        assert not vm.file(NOTIFY).exists
        assert not timer.is_running
        return
    assert f"notify {NOTIFY}" in config
    script = vm.file(NOTIFY)
    assert (script.user, script.group, script.mode) == ("root", "root", 0o755)
    for path in SECRETS:
        secret = vm.file(path)
        assert (secret.user, secret.mode) == ("root", 0o600), f"{path} is not root's alone"
    assert timer.is_running and timer.is_enabled


def _holders(vms: dict[str, Any], vip: str) -> list[str]:
    return [name for name, vm in vms.items() if vm.run(f"ip -o -4 addr show to {vip}").stdout]


def test_users_and_the_cloud_reach_the_floating_ip_on_its_holder(
    cluster_inventory: Path, vms: dict[str, Any], hostvars: dict[str, dict[str, Any]]
) -> None:
    """Users are answered by the holder's HAProxy (X-Edge); with a hook the cloud's
    record names the holder too (the refresh timer mends a missed move)."""
    first = hostvars[next(iter(vms))]
    hooked = bool(_hook(hostvars, next(iter(vms))))
    url = first.get("imgcloud_chaos_floating_ip_api") or first.get("keepalived_vip_hook_url")
    assert url or not hooked, "a hook without a record to read: set imgcloud_chaos_floating_ip_api"
    # Users' HTTPS on the floating IP, its certificate checked against the cluster CA.
    site = f"https://{first['imgcloud_vip']}/"
    verify = tls_context(site_ca(first, cluster_inventory))
    deadline = time.monotonic() + ROUTED_DEADLINE_S
    while True:
        holders = _holders(vms, first["imgcloud_vip"])
        edge = httpx.get(site, timeout=5, verify=verify).headers.get("x-edge")
        routed = httpx.get(url, timeout=5).json().get("holder") if hooked else edge
        if len(holders) == 1 and edge == routed == holders[0]:
            return
        assert time.monotonic() < deadline, (
            f"after {ROUTED_DEADLINE_S:g} s the floating IP is on {holders or 'no VM'}, users "
            f"are answered by {edge}" + (f", the cloud routes to {routed}" if hooked else "")
        )
        time.sleep(1)
