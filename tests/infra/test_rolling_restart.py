"""playbooks/rolling-restart.yml restarts every agent and never leaves a cluster leaderless.

While the playbook runs, every VM is asked for its Consul and its Nomad leader
round after round. A leader that steps down hands over to a follower first, so
at most a round caught mid-handover (well under a second) may lack a majority
view of the leader; losing a leader outright would show as a gap longer than
the one-second heartbeat timeout plus an election.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from agents import AGENTS, cluster_healthy, wait_for
from watch import LeaderWatch

from deploy import ROLLING_RESTART_PLAYBOOK, ROOT
from deploy.ansible import environment, tool

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.slow]

# Longest stretch of rounds without a majority-agreed leader that a handover may cause.
HANDOVER_SECONDS = 1.0


def _started_at(vms: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(vm, agent) -> the monotonic time its unit last became active."""
    return {
        (name, agent.name): host.check_output(
            f"systemctl show {agent.name} -p ActiveEnterTimestampMonotonic --value"
        )
        for name, host in vms.items()
        for agent in AGENTS
    }


def test_rolling_restart_restarts_every_agent_and_keeps_a_leader(
    cluster_inventory: Path, vms: dict[str, Any]
) -> None:
    for agent in AGENTS:
        wait_for(lambda a=agent: cluster_healthy(vms, a), 60, f"a healthy {agent} cluster")
    before = _started_at(vms)
    with ExitStack() as stack:
        watches = [stack.enter_context(LeaderWatch(vms, agent)) for agent in AGENTS]
        started = time.monotonic()
        proc = subprocess.run(
            [tool("ansible-playbook"), "-i", str(cluster_inventory), str(ROLLING_RESTART_PLAYBOOK)],
            cwd=ROOT,
            env=environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    after = _started_at(vms)
    assert [key for key in before if before[key] == after[key]] == [], "not restarted"
    longest = {}
    for watch in watches:
        spans = watch.leaderless_spans()
        longest[watch.agent.name] = max(spans, default=0.0)
        print(
            f"{watch.agent}: {len(watch.rounds)} rounds in {seconds:.0f} s, leaders "
            f"{' -> '.join(watch.leaders_seen())}, leaderless stretches {spans}"
        )
        assert len(watch.rounds) > 10, "the watch saw too little to judge"
    assert all(span < HANDOVER_SECONDS for span in longest.values()), longest
