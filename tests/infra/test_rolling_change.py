"""A change that needs every VM's agents restarted reaches a running cluster one VM at a time.

`tox -e deploy` runs playbooks/site.yml, whose cluster plays change a running cluster
one VM at a time, the Consul leader last, with leadership handed over before a leader
restarts. Here an option of both agents changes (their log level: written to their
config files, so Consul and Nomad restart on every VM) while users keep using the
service through the floating IP and every VM is asked who leads, round after round.
No request may fail, the cluster is never without a leader for longer than a
handover, no two VMs restart at the same time, and the change is then undone the same way.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from agents import AGENTS, cluster_healthy, wait_for
from traffic import Traffic
from watch import LeaderWatch

from deploy import ROOT
from deploy.ansible import environment, tool
from deploy.site import site_ca, site_url
from deploy.smoke import smoke

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.slow]

# As in test_rolling_restart: the longest stretch without a majority-agreed leader
# that a leadership handover may cause.
HANDOVER_SECONDS = 1.0


def _started_at(vms: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(vm, agent) -> when its unit last became active, seconds since the epoch on
    that VM's clock (one clock in the lab; NTP-synchronised on real VMs)."""
    return {
        (name, agent.name): float(
            host.check_output(
                f"systemctl show {agent.name} -p ActiveEnterTimestamp --value --timestamp=unix"
            ).lstrip("@")
        )
        for name, host in vms.items()
        for agent in AGENTS
    }


def _cluster(inventory: Path, log_level: str) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [
            tool("ansible-playbook"),
            "-i",
            str(inventory),
            str(ROOT / "playbooks" / "cluster.yml"),
            "-e",
            f"consul_log_level={log_level} nomad_log_level={log_level}",
        ],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout[-4000:] + proc.stderr[-2000:], time.monotonic() - started


def test_agent_option_change_restarts_vms_one_at_a_time_under_traffic(
    cluster_inventory: Path,
    vms: dict[str, Any],
    hostvars: dict[str, dict[str, Any]],
    api_token: str,
) -> None:
    for agent in AGENTS:
        wait_for(lambda a=agent: cluster_healthy(vms, a), 60, f"a healthy {agent} cluster")
    first = next(iter(hostvars.values()))
    url = site_url(first) or f"https://{first['imgcloud_vip']}/"
    ca = site_ca(first, cluster_inventory)  # the CA that checks the floating IP's certificate
    picture = smoke(url, api_token, ca)
    before = _started_at(vms)
    with ExitStack() as stack:
        traffic = stack.enter_context(Traffic(url, picture.image_id, api_token, ca))
        watches = [stack.enter_context(LeaderWatch(vms, agent)) for agent in AGENTS]
        changed = _cluster(cluster_inventory, "DEBUG")
        middle = _started_at(vms)
        undone = _cluster(cluster_inventory, "INFO")
    assert changed[0] == 0, changed[1]
    assert undone[0] == 0, undone[1]
    print(
        f"\nchange {changed[2]:.0f} s, undo {undone[2]:.0f} s; {traffic.summary()}; "
        + "; ".join(f"{w.agent}: leaders {' -> '.join(w.leaders_seen())}" for w in watches)
    )

    assert [key for key in before if before[key] == middle[key]] == [], "not restarted"
    # One VM at a time: every agent of a VM is back before the next VM's first restart.
    spans = sorted(
        (min(middle[(n, a.name)] for a in AGENTS), max(middle[(n, a.name)] for a in AGENTS), n)
        for n in vms
    )
    for (_, last_of_one, one), (first_of_next, _, following) in pairwise(spans):
        assert last_of_one < first_of_next, f"{one} and {following} restarted together: {spans}"
    for watch in watches:
        assert len(watch.rounds) > 10, "the watch saw too little to judge"
        spans = watch.leaderless_spans()
        assert max(spans, default=0.0) < HANDOVER_SECONDS, (watch.agent.name, spans)
    assert traffic.count > 100, traffic.summary()
    assert traffic.failures == [], traffic.summary()
