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
# The longest a 3-server Raft (Consul's and Nomad's, raft_multiplier = 1, the floor)
# may take to elect after its leader dies: a follower's heartbeat timer fires every
# 1-2 s and acts once the leader has been silent 1 s, so a follower notices 1-3 s after
# the last heartbeat; when both notice together their votes split and one more election
# timeout (1-2 s) passes. Longer than this, something else is wrong (agents starved of
# CPU, a VM's return disturbing the vote). The 3 s goal sits inside this range.
RAFT_WORST_S = 5.0
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
    target_election_s: float | None = None  # the goal for that, shown in the report
    max_resize_recovery_s: float | None = None  # an upload accepted and resized again
    only_503: bool = False  # every failure a clear 503 from the service (JSON, X-Served-By)
    max_leaderless_s: float | None = None  # the unharmed majority never lacks a leader longer
    max_success_gap_s: float | None = None  # keeps serving: longest gap between successes
    # Routed around: once HAProxy has had `routed_after_s` (whole seconds) from the fault
    # to notice (two failed checks), no operation started until the rollback takes longer
    # than `max_routed_latency_s`. Retries hide a server that is never marked down from
    # the error counts, not from the latency.
    routed_after_s: int | None = None
    max_routed_latency_s: float | None = None
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
    # Needs VMs of their own (a disk, a clock): the lab's containers share the host's,
    # so the lab lane deselects these (marker `real_vms`) and says so; they run against
    # an inventory of real VMs.
    real_vms_only: bool = False


# Asserted everywhere: the fault took effect, enough traffic, nothing acknowledged lost
# (byte for byte, listed once, nothing half-made), whole again, no split brain, no
# failure later than `recovery_s` after the rollback. Issue 13's goals are asserted
# where it sets them: a non-holder VM killed, a backend killed or an agent stopped on
# a non-holder: 0 failed; the holder killed or cut off: <= 1 failed, error window <= 1 s.
# On the holder, agent stops and a killed backend are measured against a goal.
_AGENT_STOPS = {
    "consul": "HAProxy keeps routing from what it last resolved",
    "nomad": "the running containers go on serving without their Nomad client",
    "haproxy": "keepalived moves the floating IP to a VM whose HAProxy answers",
    "docker": "the VM's app containers stop and HAProxy routes to the other VMs",
}

CATALOGUE: tuple[Experiment, ...] = (
    Experiment(
        "kill-vm",
        "One VM killed (not the floating-IP holder)",
        fault="kill-vm",
        select="not-vip-holder",
        expect=Expect(max_failed=0),
        hypothesis="Losing a VM that holds no floating IP fails no request: HAProxy "
        "routes around its backends and retries what was in flight.",
    ),
    Experiment(
        "kill-vip-holder",
        "The VM holding the floating IP killed",
        fault="kill-vm",
        select="vip-holder",
        expect=Expect(max_failed=1, max_error_window_s=1.0, max_error_windows=1),
        hypothesis="When the floating-IP holder dies, another VM takes the IP and answers "
        "through it; at most one request fails, in one window of at most 1 s.",
    ),
    Experiment(
        "kill-leader",
        "The Consul leader's VM killed",
        fault="kill-vm",
        select="consul-leader",
        expect=Expect(max_election_s=RAFT_WORST_S, target_election_s=3.0),
        hypothesis="Every survivor names a new Consul leader (and a new Nomad leader, when "
        "Nomad's led from that VM too) within Raft's worst case, 5 s; the goal is 3 s.",
    ),
    Experiment(
        "kill-nomad-leader",
        "The Nomad leader's VM killed",
        fault="kill-vm",
        select="nomad-leader",
        expect=Expect(max_election_s=RAFT_WORST_S, target_election_s=3.0),
        hypothesis="Every survivor names a new Nomad leader (and a new Consul leader, when "
        "Consul's led from that VM too) within Raft's worst case, 5 s; the goal is 3 s.",
    ),
    Experiment(
        "kill-two-vms",
        "Two VMs killed, the floating-IP holder among them",
        fault="kill-vm",
        select="vip-holder-and-one",
        fault_s=18.0,
        expect=Expect(max_resize_recovery_s=10.0),
        hypothesis="With one VM left, uploads are accepted and resized again within 10 s.",
    ),
    Experiment(
        "freeze-vm",
        "One VM frozen (docker pause) and thawed",
        fault="freeze-vm",
        select="not-vip-holder",
        expect=Expect(target_error_window_s=5.0, routed_after_s=4, max_routed_latency_s=2.0),
        hypothesis="A VM that stops without dying (paused) costs at most a 5 s error "
        "window (a goal); requests already sent to it wait out HAProxy's server timeout, "
        "but from 4 s on (two failed checks) HAProxy sends none there: every request "
        "started later answers within 2 s.",
    ),
    Experiment(
        "partition-vm",
        "One VM cut off from its peers (iptables), then healed",
        fault="partition-vm",
        select="not-vip-holder",
        # Long enough for the majority's Serf to declare the cut-off VM failed on a
        # loaded host (6.4 s seen; once not within 12 s at 60 % busy).
        fault_s=20.0,
        expect=Expect(max_leaderless_s=3.0, max_success_gap_s=3.0),
        hypothesis="The majority keeps a leader and the service keeps answering; the "
        "cut-off VM never holds the floating IP beside the majority's holder.",
    ),
    Experiment(
        "partition-vip-holder",
        "The floating-IP holder cut off from its peers, then healed",
        fault="partition-vm",
        select="vip-holder",
        fault_s=20.0,  # as partition-vm
        expect=Expect(max_failed=1, max_error_window_s=1.0, max_success_gap_s=3.0),
        hypothesis="The cut-off holder lets the floating IP go within the fencing delay "
        "and the majority takes it: never two holders after it, at most one failed "
        "request, an error window of at most 1 s, and the service keeps answering.",
    ),
    *(
        Experiment(
            f"stop-{agent}",
            f"{agent} stopped on the floating-IP holder",
            fault="stop-agent",
            select="vip-holder",
            params={"agent": agent},
            expect=Expect(target_error_window_s=5.0),
            hypothesis=f"With {agent} stopped on the floating-IP holder, {why}; an error "
            "window of at most 5 s (a goal).",
        )
        for agent, why in _AGENT_STOPS.items()
    ),
    *(
        Experiment(
            f"stop-{agent}-non-holder",
            f"{agent} stopped on a VM not holding the floating IP",
            fault="stop-agent",
            select="not-vip-holder",
            params={"agent": agent},
            expect=Expect(max_failed=0),
            hypothesis=f"With {agent} stopped on a VM that holds no floating IP, no request fails.",
        )
        for agent in _AGENT_STOPS
    ),
    Experiment(
        "kill-backend",
        "The backend container killed on the floating-IP holder",
        fault="kill-app",
        select="vip-holder",
        params={"task": "backend"},
        expect=Expect(max_failed=0),
        hypothesis="Nomad replaces a killed backend container; meanwhile HAProxy retries "
        "what was in flight on the other VMs' backends and no request fails.",
    ),
    Experiment(
        "kill-backend-non-holder",
        "The backend container killed on a VM not holding the floating IP",
        fault="kill-app",
        select="not-vip-holder",
        params={"task": "backend"},
        expect=Expect(max_failed=0),
        hypothesis="A backend container killed on a VM that holds no floating IP fails "
        "no request: HAProxy retries on the others while Nomad replaces it.",
    ),
    Experiment(
        "kill-worker-busy",
        "The worker container killed while it resizes",
        fault="kill-app-mid-job",
        select="not-vip-holder",
        params={
            "task": "worker",
            "busy": True,
            "proxy": "s3",
            "type": "latency",
            "attributes": {"latency": 800, "jitter": 0},
        },
        expect=Expect(max_failed=0),
        hypothesis="A worker killed mid-job (S3 slowed so that its jobs take seconds) "
        "loses none of them: the broker hands every unacknowledged job to another "
        "worker, and no request fails.",
    ),
    Experiment(
        "broker-down",
        "RabbitMQ stopped for a while, then started again",
        fault="broker-down",
        select="provider",
        expect=Expect(only_503=True, recovery_s=10.0),
        hypothesis="Without the broker, uploads are refused with the service's JSON 503 "
        "(nothing else fails) and all is well within 10 s of its restart.",
    ),
    Experiment(
        "s3-down",
        "S3 unreachable from every VM for a while",
        fault="s3-down",
        select="all",
        expect=Expect(only_503=True, recovery_s=10.0),
        hypothesis="Without S3, requests are refused with the service's JSON 503 and all "
        "is well within 10 s of S3 returning.",
    ),
)


# A slow or flaky provider (Toxiproxy in front of S3 and RabbitMQ): what a latency or a
# bandwidth cap adds must show in the uploads' latency, and nothing may fail; reset or
# stalled connections must show as the service's JSON 503 and nothing else.
_LATENCY = {"latency": 800, "jitter": 200}  # ms: each S3 call or broker answer +0.6-1 s

CATALOGUE += (
    Experiment(
        "slow-s3",
        "S3 answers 800 ms late (Toxiproxy latency)",
        fault="toxic-slow",
        select="provider",
        params={"proxy": "s3", "type": "latency", "attributes": _LATENCY, "min_added_s": 0.4},
        expect=Expect(max_failed=0, recovery_s=10.0),
        hypothesis="With every S3 answer 800 ms late, uploads and reads are slower but "
        "none fails: the service's timeouts are longer than a slow provider.",
    ),
    Experiment(
        "slow-broker",
        "RabbitMQ answers 800 ms late (Toxiproxy latency)",
        fault="toxic-slow",
        select="provider",
        params={"proxy": "amqp", "type": "latency", "attributes": _LATENCY, "min_added_s": 0.4},
        expect=Expect(max_failed=0, recovery_s=10.0),
        hypothesis="With the broker's confirms 800 ms late, uploads take longer to be "
        "acknowledged but none fails (the publish timeout is 5 s).",
    ),
    Experiment(
        "s3-bandwidth",
        "S3 capped at 64 KB/s each way (Toxiproxy bandwidth)",
        fault="toxic-slow",
        select="provider",
        params={
            "proxy": "s3",
            "type": "bandwidth",
            "attributes": {"rate": 64},  # KB/s
            "streams": ["upstream", "downstream"],
            "min_added_s": 0.2,
        },
        expect=Expect(max_failed=0, recovery_s=10.0),
        hypothesis="Through a 64 KB/s link to S3, originals and variants move slowly but "
        "no request fails.",
    ),
    Experiment(
        "s3-resets",
        "Every S3 connection reset (Toxiproxy reset_peer)",
        fault="toxic-break",
        select="provider",
        # Toxicity is drawn per connection, and boto3 keeps its connections: at 0.3 and
        # 0.8 the pooled ones that drew no toxic carried every request (measured: no
        # upload refused, "fault had no effect"). Every connection reset it is.
        params={"proxy": "s3", "type": "reset_peer", "attributes": {"timeout": 0}, "toxicity": 1.0},
        expect=Expect(only_503=True, recovery_s=10.0),
        hypothesis="When S3 connections are reset, a request whose retry fails too is "
        "refused with the service's JSON 503, never half-stored, and nothing fails once "
        "the resets stop.",
    ),
    Experiment(
        "broker-timeout",
        "RabbitMQ connections stall (Toxiproxy timeout)",
        fault="toxic-break",
        select="provider",
        params={"proxy": "amqp", "type": "timeout", "attributes": {"timeout": 0}},
        # A stalled connection resumes when the toxic goes, or is dropped after two
        # missed 10 s heartbeats and made again: up to 15 s to be well.
        expect=Expect(only_503=True, recovery_s=15.0),
        hypothesis="When the broker's connections stall, uploads are refused with the "
        "service's JSON 503 once the publish confirm times out, and all is well within "
        "15 s of the stall ending.",
    ),
    Experiment(
        "kill-vm-during-rollout",
        "A VM killed in the middle of a rolling update of the backend",
        fault="rollout-kill",
        select="not-vip-holder",
        params={"job": "imgcloud-backend"},
        fault_s=15.0,
        heal_deadline_s=300.0,
        expect=Expect(max_failed=1),
        hypothesis="A VM dying while the backend rolls out to a new version costs at most "
        "one request: the rollout goes on or waits on the others, and the job is put back "
        "on the project's version afterwards.",
    ),
    Experiment(
        "crash-loop-release",
        "A backend release whose task exits at once",
        fault="crash-loop",
        select="none",
        params={"job": "imgcloud-backend"},
        fault_s=20.0,
        expect=Expect(max_failed=0),
        hypothesis="A release that crash-loops never serves: Nomad's auto_revert puts the "
        "last good version back by itself and no request fails meanwhile.",
    ),
    Experiment(
        "full-disk",
        "The disk of one VM filled (not the floating-IP holder)",
        fault="full-disk",
        select="not-vip-holder",
        expect=Expect(max_failed=0),
        real_vms_only=True,
        hypothesis="A VM whose disk is full fails no request: the other VMs serve, and "
        "it is whole again once the space is back.",
    ),
    Experiment(
        "clock-jump",
        "The wall clock of one VM jumped 90 s ahead (not the floating-IP holder)",
        fault="clock-jump",
        select="not-vip-holder",
        params={"offset_s": 90},
        expect=Expect(max_failed=0),
        real_vms_only=True,
        hypothesis="A VM whose clock jumps 90 s fails no request and splits no brain: "
        "Raft and the health checks run on timers, not on the wall clock.",
    ),
)


def by_name(name: str) -> Experiment:
    for experiment in CATALOGUE:
        if experiment.name == name:
            return experiment
    raise KeyError(f"no experiment {name!r}; known: {[e.name for e in CATALOGUE]}")
