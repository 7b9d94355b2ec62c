"""Where the CPU per image went: arithmetic on snapshots written here (pure logic)."""

from __future__ import annotations

from loadbench import bench, workers
from loadbench.raw import RawSpeed, Timing

SPEED = RawSpeed({"2mp": Timing(cpu_s=0.05, wall_s=0.2)}, {"2mp": 1}, repeats=1)


def test_spent_counts_only_workers_seen_twice() -> None:
    before = workers.Snapshot({"/a": 0, "/gone": 5}, {"10.0.0.1:1": 10.0})
    after = workers.Snapshot({"/a": 4_000_000_000, "/new": 9}, {"10.0.0.1:1": 50.0})
    spent = workers.spent(before, after, wall_s=8.0)
    assert (spent["cpu_s"], spent["jobs"], spent["cpu_ms_per_image"], spent["cores_used"]) == (
        4.0,
        40,
        100.0,
        0.5,
    )
    assert (spent["workers"], spent["workers_replaced"]) == (1, 1)


def test_spent_refuses_when_every_worker_was_replaced() -> None:
    before = workers.Snapshot({"/old": 0}, {"10.0.0.1:1": 10.0})
    after = workers.Snapshot({"/new": 9}, {"10.0.0.1:2": 3.0})
    assert "replaced" in str(workers.spent(before, after, wall_s=8.0)["unavailable"])


def test_spent_says_why_it_is_unavailable() -> None:
    assert workers.spent("no cgroup v1", "no cgroup v1", 1.0) == {"unavailable": "no cgroup v1"}


def test_view_compares_raw_with_worker_and_lab_cpu() -> None:
    machine = {
        "lab_workers": {"cpu_ms_per_image": 100.0, "jobs": 40, "cores_used": 0.5},
        "lab_containers_cpu_s": {"vm1": 10.0, "provider": 10.0},
        "wall_s": 8.0,
    }
    view = bench.worker_cpu_view(machine, SPEED)
    assert (view["resize_share_of_worker_cpu"], view["lab_cpu_ms_per_image"]) == (0.5, 500.0)
    assert (view["resize_share_of_lab_cpu"], view["lab_cores_used"]) == (0.1, 2.5)


def test_view_without_worker_cpu_says_so() -> None:
    view = bench.worker_cpu_view({"lab_workers": {"unavailable": "not a lab"}}, SPEED)
    assert view == {"unavailable": "not a lab"}
