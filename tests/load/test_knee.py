"""The knee's rules on planted open-loop histories (pure logic, no Locust, no cluster)."""

from __future__ import annotations

from pathlib import Path

from loadbench import context, knee, workers
from loadbench.knee import Flow, QueueRow

STEP_S = 20.0


def flows_at(index: int, rate: float, ms: float = 900.0, share: float = 1.0) -> list[Flow]:
    """`share` of `rate` uploads a second for one step, all done in `ms`."""
    count = int(rate * STEP_S * share)
    start = index * STEP_S
    return [Flow(index, rate, start + i / (rate * share), True, ms, "") for i in range(count)]


def queue_at(index: int, in_flight: list[int]) -> list[QueueRow]:
    start = index * STEP_S
    step = STEP_S / len(in_flight)
    return [QueueRow(start + i * step, index, n) for i, n in enumerate(in_flight)]


def steady(index: int, rate: float) -> tuple[list[Flow], list[QueueRow]]:
    level = round(rate)
    return flows_at(index, rate), queue_at(index, [level, level + 1, level] * 7)


def test_a_step_that_keeps_up_is_sustained_with_its_percentiles() -> None:
    flows, queue = steady(0, 4)
    (step,) = knee.steps([4], STEP_S, flows, queue)
    assert step.sustained, step.problems
    assert step.sent == 80 and step.done == 80 and step.failed == 0
    assert step.p50_ms == step.p95_ms == step.p99_ms == 900.0


def test_a_growing_queue_is_not_sustained() -> None:
    flows = flows_at(0, 4)
    queue = queue_at(0, list(range(0, 42, 2)))  # +2 images a second
    (step,) = knee.steps([4], STEP_S, flows, queue)
    assert not step.sustained
    assert "queue grows" in step.problems[0]


def test_one_failed_upload_fails_the_step_with_its_reason() -> None:
    flows, queue = steady(0, 4)
    flows[3] = Flow(0, 4, flows[3].sent_at_s, False, None, "upload: expected 202, got 503")
    (step,) = knee.steps([4], STEP_S, flows, queue)
    assert not step.sustained
    assert step.problems == ("1 failed: upload: expected 202, got 503",)


def test_a_load_generator_that_falls_behind_is_not_taken_for_a_cluster_that_keeps_up() -> None:
    flows = flows_at(0, 10, share=0.6)
    _, queue = steady(0, 10)
    (step,) = knee.steps([10], STEP_S, flows, queue)
    assert not step.sustained
    assert "fell behind" in step.problems[0]


def test_a_step_with_nothing_sent_or_no_queue_samples_is_no_evidence() -> None:
    (step,) = knee.steps([4], STEP_S, [], [])
    assert not step.sustained
    assert "no upload sent" in step.problems
    assert "too few queue samples to judge the queue" in step.problems


def test_the_knee_is_the_last_sustained_step_before_the_first_that_is_not() -> None:
    flows: list[Flow] = []
    queue: list[QueueRow] = []
    for index, rate in enumerate([2, 4]):
        f, q = steady(index, rate)
        flows += f
        queue += q
    flows += flows_at(2, 6)
    queue += queue_at(2, list(range(0, 63, 3)))  # saturated: +3 a second
    f, q = steady(3, 8)  # a later step that looks fine carries the backlog: not the knee
    flows += f
    queue += q
    found = knee.steps([2, 4, 6, 8], STEP_S, flows, queue)
    assert [s.sustained for s in found] == [True, True, False, True]
    best = knee.knee(found)
    assert best is not None and best.rate == 4


def test_no_knee_when_the_first_rate_does_not_hold() -> None:
    found = knee.steps([2], STEP_S, [], [])
    assert knee.knee(found) is None


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert knee.percentile(values, 0.5) == 50
    assert knee.percentile(values, 0.95) == 95
    assert knee.percentile(values, 0.99) == 99
    assert knee.percentile([], 0.5) is None


def test_the_csv_files_the_locustfile_writes_read_back(tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "step,rate,sent_at_s,outcome,upload_to_done_ms,why\n"
        "0,2,0.100,done,812.5,\n"
        '0,2,0.600,failed,,"upload: expected 202, got 429"\n'  # csv.writer quotes
    )
    queue = tmp_path / "queue.csv"
    queue.write_text(
        "t_s,unix_s,step,rate,sent,acked,done,failed,in_flight\n0.0,100.0,0,2,0,0,0,0,0\n1.0,101.0,-1,2,2,1,1,1,0\n"
    )
    read = knee.read_flows(flows)
    assert read[0] == Flow(0, 2.0, 0.1, True, 812.5, "")
    assert not read[1].done and read[1].why.endswith("429")
    assert knee.read_queue(queue) == [QueueRow(0.0, 0, 0, 100.0), QueueRow(1.0, -1, 0, 101.0)]


def test_resized_per_s_counts_what_finished_inside_the_window() -> None:
    flows = [
        Flow(0, 4, 1.0, True, 500.0, ""),  # done at 1.5: before the window
        Flow(0, 4, 9.0, True, 2000.0, ""),  # done at 11.0: inside
        Flow(0, 4, 10.0, True, 4000.0, ""),  # done at 14.0: inside
        Flow(0, 4, 12.0, False, None, "upload: expected 202, got 503"),  # never done
        Flow(0, 4, 18.0, True, 3000.0, ""),  # done at 21.0: after
    ]
    assert knee.resized_per_s(flows, 10.0, 20.0) == 0.2


def test_latency_is_judged_at_the_highest_sustained_step_at_80_percent_of_the_knee() -> None:
    found = []
    for index, (rate, ms) in enumerate([(2, 700.0), (4, 2500.0), (5, 900.0)]):
        flows, queue = steady(index, rate)
        flows = [Flow(f.step, f.rate, f.sent_at_s, True, ms, "") for f in flows]
        found += knee.steps([2, 4, 5], STEP_S, flows, queue)[index : index + 1]
    latency = knee.latency_below_knee(found, found[-1])
    assert latency["at_rate"] == 4  # 4 <= 0.8 x 5
    assert latency["p95_ms"] == 2500.0 and latency["met"] is False


def test_no_step_below_80_percent_of_the_knee_is_not_a_met_goal() -> None:
    flows, queue = steady(0, 4)
    found = knee.steps([4], STEP_S, flows, queue)
    latency = knee.latency_below_knee(found, found[0])
    assert latency["met"] is False and "add a lower rate" in str(latency["why"])


def test_a_host_busy_outside_the_lab_is_named_busy() -> None:
    # 2 cores, 60 % busy while the lab and the bench idled at 0.6 cores (30 %): 30 % foreign.
    state = context.host_state(60.0, 0.6, 2, [])
    assert state["quiet"] is False and state["foreign_percent"] == 30.0
    assert "busy host" in str(state["warning"])


def test_another_lab_makes_the_host_busy_however_idle() -> None:
    state = context.host_state(31.0, 0.6, 2, ["lab2"])
    assert state["quiet"] is False and "other labs run on this host: lab2" in str(state["warning"])


def test_a_host_running_only_the_lab_is_quiet() -> None:
    state = context.host_state(34.0, 0.6, 2, [])
    assert state["quiet"] is True and "warning" not in state


def test_resized_between_reads_the_workers_done_counts_around_the_window() -> None:
    samples = [
        (100.0, {"a": 10.0, "b": 5.0}),
        (110.0, {"a": 20.0, "b": 15.0}),  # nearest to the window's start
        (130.0, {"a": 50.0, "b": 25.0, "c": 99.0}),  # its end; c appeared: not counted
    ]
    assert workers.resized_between(samples, 111.0, 129.0) == 2.0  # (30 + 10) / 20 s


def test_resized_between_without_samples_around_the_window_says_so() -> None:
    assert workers.resized_between([(100.0, {"a": 1.0})], 90.0, 120.0) is None
    assert workers.resized_between([(100.0, {"a": 1.0}), (101.0, {"b": 2.0})], 99, 102) is None
