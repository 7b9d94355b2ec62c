"""Judging whether the cluster is whole, on hand-made probe documents."""

from __future__ import annotations

import copy

import pytest

from chaos import health
from chaos.target import VM, Target

TARGET = Target(
    url="https://10.0.0.250/",
    vip="10.0.0.250",
    vms=tuple(VM(f"vm{i}", f"10.0.0.1{i}", f"lab-vm{i}") for i in (1, 2, 3)),
    s3=("10.0.0.3", 9000),
    amqp=("10.0.0.3", 5672),
    lab="lab",
)
HEADER = "# pxname,svname,qcur,status,weight\n"


def _raft(port: int, leader: int = 1) -> dict:
    return {
        "Servers": [
            {"Address": f"10.0.0.1{i}:{port}", "Leader": i == leader, "Voter": True}
            for i in (1, 2, 3)
        ]
    }


def _stats(up: int) -> str:
    rows = [f"imgcloud_backend,backend{i},0,{'UP' if i <= up else 'MAINT'},1" for i in range(1, 9)]
    rows += [
        f"imgcloud_frontend,frontend{i},0,{'UP' if i <= 3 else 'MAINT'},1" for i in range(1, 9)
    ]
    rows += ["imgcloud_backend,BACKEND,0,UP,3", "stats,FRONTEND,0,OPEN,0"]
    return HEADER + "\n".join(rows) + "\n"


def _doc(vip: bool = False) -> dict:
    nodes = [
        {
            "ID": f"n{i}",
            "Name": f"vm{i}",
            "Address": f"10.0.0.1{i}",
            "Status": "ready",
            "SchedulingEligibility": "eligible",
        }
        for i in (1, 2, 3)
    ]
    jobs = [{"ID": job, "Status": "running", "Stop": False} for job in ("backend", "worker")]
    allocs = [
        {"JobID": job, "NodeID": f"n{i}", "ClientStatus": "running"}
        for job in ("backend", "worker")
        for i in (1, 2, 3)
    ]
    return {
        "consul_raft": _raft(8300),
        "consul_critical": [],
        "nomad_raft": _raft(4647),
        "nomad_nodes": nodes,
        "nomad_jobs": jobs,
        "nomad_allocs": allocs,
        "haproxy": _stats(3),
        "vip": vip,
    }


def _whole() -> dict:
    return {"vm1": _doc(vip=True), "vm2": _doc(), "vm3": _doc()}


def test_a_whole_cluster_has_no_problem():
    assert health.evaluate(_whole(), TARGET) == []


def _silent(docs):
    docs["vm2"] = None


def _non_voter(docs):
    docs["vm3"]["consul_raft"]["Servers"][2]["Voter"] = False


def _two_leaders(docs):
    docs["vm3"]["nomad_raft"] = _raft(4647, leader=3)


def _alloc_missing(docs):
    docs["vm1"]["nomad_allocs"] = [
        a
        for a in docs["vm1"]["nomad_allocs"]
        if not (a["JobID"] == "worker" and a["NodeID"] == "n2")
    ]


def _backend_down(docs):
    docs["vm1"]["haproxy"] = _stats(2)


def _vip_twice(docs):
    docs["vm2"]["vip"] = True


def _critical(docs):
    docs["vm1"]["consul_critical"] = [{"Node": "vm2", "Name": "backend readyz"}]


def _nothing_deployed(docs):
    docs["vm1"]["nomad_jobs"] = []


@pytest.mark.parametrize(
    ("breaks", "problem"),
    [
        (_silent, "vm2: does not answer"),
        (_non_voter, "Consul on vm3: 2 voters of 3 servers, want 3"),
        (_two_leaders, "Nomad: the VMs name different leaders ['vm1', 'vm3']"),
        (_alloc_missing, "Nomad job worker: nothing running on vm2"),
        (_backend_down, "HAProxy on vm1: backend imgcloud_backend has 2 servers UP, want 3"),
        (_vip_twice, "floating IP held by ['vm1', 'vm2'], want exactly one"),
        (_critical, "Consul (asked vm1): critical checks ['vm2/backend readyz']"),
        (_nothing_deployed, "Nomad: no running job (is the service deployed?)"),
    ],
)
def test_each_broken_part_is_named(breaks, problem):
    docs = copy.deepcopy(_whole())
    breaks(docs)
    assert problem in health.evaluate(docs, TARGET)


def test_haproxy_counts_ignore_the_summary_rows_and_the_stats_proxy():
    assert health.haproxy_up_counts(_stats(2)) == {
        "imgcloud_backend": (2, 8),
        "imgcloud_frontend": (3, 8),
    }
