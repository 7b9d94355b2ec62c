"""Every VM keeps its clock by NTP: chrony runs, follows a server, and is in step.

Certificates (Consul's, Nomad's, the users' TLS) and Nomad's workload identities
are checked against the clock, so a VM whose clock wanders fails TLS handshakes
long before anything else notices.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.lab

# chrony selects a source within a few of its first updates (iburst: 2 s apart).
SYNC_DEADLINE_S = 60.0
# Far inside what TLS and Raft tolerate; a synced VM is within milliseconds.
MAX_OFFSET_S = 0.1


def _tracking(vm: Any) -> list[str]:
    # `chronyc -c tracking`: reference id, reference address, stratum, reference
    # time, system time offset (s), ..., leap status (the 14th field).
    return vm.check_output("chronyc -n -c tracking").split(",")


def _synced_tracking(vm: Any) -> list[str]:
    """chrony's tracking once it follows a server, or the last one seen at the deadline."""
    deadline = time.monotonic() + SYNC_DEADLINE_S
    while True:
        fields = _tracking(vm)
        if fields[13] == "Normal" and fields[1] not in {"", "0.0.0.0", "127.127.1.1"}:
            return fields
        if time.monotonic() > deadline:
            return fields
        time.sleep(1)


def test_chrony_runs_and_starts_at_boot(vm: Any) -> None:
    service = vm.service("chrony")
    assert service.is_running
    assert service.is_enabled


def test_clock_follows_an_ntp_server_and_is_in_step(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]]
) -> None:
    fields = _synced_tracking(vm)
    assert fields[13] == "Normal", f"chrony is not synchronised: {fields}"
    reference, offset = fields[1], float(fields[4])
    chosen = hostvars[vm_name]
    servers, pools = chosen.get("timesync_servers", []), chosen.get("timesync_pools", [""])
    if servers and not pools:
        assert reference in servers, f"chrony follows {reference}, not one of {servers}"
    assert abs(offset) < MAX_OFFSET_S, f"the clock is {offset:+.3f} s off {reference}"


def test_no_second_daemon_sets_the_clock(vm: Any) -> None:
    # Debian's systemd-timesyncd would fight chrony over the clock.
    assert not vm.service("systemd-timesyncd").is_running
