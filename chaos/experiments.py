"""The experiment catalogue, as data: what to break, where, for how long, and what
must hold (the issue's "What must hold"). The runner and the tests read it; nothing
here touches the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Each VM's sampler says four times a second whether it holds the floating IP; a sample
# stands until that VM's next one, and at most this long (a dead VM says nothing more).
SAMPLE_VALID_S = 0.5
# Two holders at once for longer than two sample periods is split brain: a clean
# handover can look like a shorter overlap (the old holder's last sample still stands).
SPLIT_BRAIN_S = 0.5
# After a fault is in place, a VM cut off from its peers needs this long to notice it
# is alone and let the floating IP go (keepalived's fencing check and its advert
# interval); two holders inside this delay are not counted as split brain.
FENCING_DELAY_S = 2.5


@dataclass(frozen=True)
class Expect:
    """The hypothesis about what users and the cluster see. None: measured, not asserted."""

    nothing_lost: bool = True  # every 202 ends done with every variant readable
    heals: bool = True  # whole again (voters, one leader, apps, HAProxy, VIP) after rollback
    max_failed: int | None = None  # failed client operations over the whole run
    max_error_window_s: float | None = None  # longest run of failures, first start to last end
    max_error_windows: int | None = None  # 1: "one short window and then zero errors"
    target_error_window_s: float | None = None  # the goal shown in the report
    max_election_s: float | None = None  # new Consul and Nomad leader after the fault
    max_resize_recovery_s: float | None = None  # an upload accepted and resized again
    only_503: bool = False  # every failure a clear 503 from the service (JSON, X-Served-By)
    max_leaderless_s: float | None = None  # the unharmed majority never lacks a leader longer
    max_success_gap_s: float | None = None  # keeps serving: longest gap between successes
    # Asserted in every experiment:
    recovery_s: float = 5.0  # no failure starts later than this after the rollback's end
    min_acked: int = 10  # acknowledged uploads over the run: fewer, too little to judge
    min_window_uploads: int = 5  # uploads sent inside the fault window (any outcome)
    min_window_reads: int = 20  # GETs (status polls, reads) sent inside the fault window


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    fault: str  # a key of chaos.faults.FAULTS
    select: str  # which VMs the fault hits: a key of chaos.selectors.SELECTORS
    expect: Expect
    hypothesis: str = ""  # what we believe holds, in a sentence, for the report
    params: dict[str, Any] = field(default_factory=dict)
    steady_s: float = 6.0  # steady traffic before the fault
    fault_s: float = 12.0  # how long the fault lasts
    after_s: float = 5.0  # steady traffic once the cluster is whole again
    heal_deadline_s: float = 240.0  # the cluster must be whole again within this


# What the issue asks to hold is asserted; for the faults it names without a promise
# (freeze, agent stops, a killed container) only "nothing lost" and "whole again" are
# asserted and the error window is reported against a goal.
CATALOGUE: tuple[Experiment, ...] = (
    Experiment(
        "kill-vm",
        "One VM killed (not the floating-IP holder)",
        fault="kill-vm",
        select="not-vip-holder",
        expect=Expect(max_failed=0),
    ),
    Experiment(
        "kill-vip-holder",
        "The VM holding the floating IP killed",
        fault="kill-vm",
        select="vip-holder",
        expect=Expect(max_error_window_s=5.0, target_error_window_s=2.0, max_error_windows=1),
    ),
    Experiment(
        "kill-leader",
        "The Consul leader's VM killed",
        fault="kill-vm",
        select="consul-leader",
        expect=Expect(max_election_s=3.0),
    ),
    Experiment(
        "kill-two-vms",
        "Two VMs killed, the floating-IP holder among them",
        fault="kill-vm",
        select="vip-holder-and-one",
        fault_s=18.0,
        expect=Expect(max_resize_recovery_s=10.0),
    ),
    Experiment(
        "freeze-vm",
        "One VM frozen (docker pause) and thawed",
        fault="freeze-vm",
        select="not-vip-holder",
        expect=Expect(target_error_window_s=5.0),
    ),
    Experiment(
        "partition-vm",
        "One VM cut off from its peers (iptables), then healed",
        fault="partition-vm",
        select="not-vip-holder",
        expect=Expect(max_leaderless_s=3.0, max_success_gap_s=3.0),
    ),
    *(
        Experiment(
            f"stop-{agent}",
            f"{agent} stopped on the floating-IP holder",
            fault="stop-agent",
            select="vip-holder",
            params={"agent": agent},
            expect=Expect(target_error_window_s=5.0),
        )
        for agent in ("consul", "nomad", "haproxy", "docker")
    ),
    Experiment(
        "kill-backend",
        "The backend container killed on the floating-IP holder",
        fault="kill-app",
        select="vip-holder",
        params={"task": "backend"},
        expect=Expect(target_error_window_s=5.0),
    ),
    Experiment(
        "broker-down",
        "RabbitMQ stopped for a while, then started again",
        fault="broker-down",
        select="provider",
        expect=Expect(only_503=True, recovery_s=10.0),
    ),
    Experiment(
        "s3-down",
        "S3 unreachable from every VM for a while",
        fault="s3-down",
        select="all",
        expect=Expect(only_503=True, recovery_s=10.0),
    ),
)


def by_name(name: str) -> Experiment:
    for experiment in CATALOGUE:
        if experiment.name == name:
            return experiment
    raise KeyError(f"no experiment {name!r}; known: {[e.name for e in CATALOGUE]}")
