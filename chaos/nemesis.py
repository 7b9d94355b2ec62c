"""A seeded nemesis (Jepsen's idea): a random schedule of the catalogue's faults under
one steady client and the observers, checked as one history by the same checkers.

    plan(seed, minutes) ─▶ print the schedule ─▶ whole? ─▶ client + observers
      ─▶ for each step: fault ─▶ rollback ─▶ whole again ─▶ steady gap
      ─▶ every 202 followed to done ─▶ one journal ─▶ per-step and whole-run verdicts

The schedule is pure (`plan`): `random.Random(seed)` draws the experiments, their fault
windows and the steady gaps, so the same seed, minutes and catalogue give the same
schedule. It never asks more than the cluster promises to survive: one fault at a
time, each rolled back and the cluster whole again before the next, so never two VMs
down unless the step is `kill-two-vms`, and a provider fault never meets a VM kill.
Experiments the target cannot run (no Toxiproxy, the lab's shared disk and clock) are
left out, each with its reason printed.

The run stops starting steps when its minutes are up (a step under way finishes), or
when the cluster is not whole again after a step (going on would ask for more than
it promises). Judged per step, over the step's slice of the history (from the end of
the previous heal to the next step): its fault took effect, enough traffic in its
window, its experiment's bounds, no failure later than its recovery after its
rollback, whole again; over the whole history: nothing acknowledged lost (byte for
byte, listed once, nothing half-made) and no split brain outside each fault's fencing
delay.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos import checkers, cloudip, hostinfo, timeline
from chaos.client import ClientConfig, SteadyClient
from chaos.experiments import CATALOGUE, Expect, Experiment, by_name
from chaos.faults import FAULTS, backend_for
from chaos.history import judge as judge_uploads
from chaos.journal import Event, History, Journal, read_history
from chaos.observer import Observer
from chaos.plot import plot_experiment
from chaos.remote import executor_for
from chaos.runner import Log, Result, ensure_whole, fault_phase
from chaos.target import Target

NAME = "nemesis"
STEADY_S = 6.0  # steady traffic before the first fault
GAP_S = (5.0, 15.0)  # steady traffic after each heal, drawn
WINDOW = (0.75, 1.0)  # each fault window, drawn as a share of its experiment's
# Rough time from the rollback until whole again, for planning only.
HEAL_GUESS_S = {
    "kill-vm": 40.0,
    "freeze-vm": 10.0,
    "partition-vm": 25.0,
    "stop-agent": 20.0,
    "kill-app": 20.0,
    "kill-app-mid-job": 20.0,
    "broker-down": 10.0,
    "s3-down": 10.0,
    "toxic-slow": 5.0,
    "toxic-break": 10.0,
    "rollout-kill": 150.0,
    "crash-loop": 90.0,
    "full-disk": 20.0,
    "clock-jump": 20.0,
}
READBACK_GUESS_S = 30.0  # following every upload to done at the end
# The selectors that hit VMs, and how many; `vip-holder-and-one` only for kill-two-vms.
VM_SELECTORS = {
    "vip-holder": 1,
    "not-vip-holder": 1,
    "consul-leader": 1,
    "nomad-leader": 1,
    "vip-holder-and-one": 2,
}
TWO_VMS = "kill-two-vms"
# What the report keeps of each step's figures.
STEP_FIGURES: tuple[str, ...] = ("effect", "vms_hit", "ops", "failed", "error_window_s")
STEP_FIGURES += ("max_latency_s", "heal_s", "fault_s", "acked", "window_uploads", "window_reads")
STEP_FIGURES += ("failed_by_reason",)
FAILED_OPS_KEPT = 12  # per step, in the figures and the lane's log


@dataclass(frozen=True)
class Step:
    index: int
    experiment: str
    fault_s: float  # how long this step's fault lasts
    gap_s: float  # steady traffic once the cluster is whole again
    planned_at_s: float  # when it should start, as planned (the run may drift)


@dataclass(frozen=True)
class Schedule:
    seed: int
    minutes: float
    steps: tuple[Step, ...]
    excluded: dict[str, str] = field(default_factory=dict)  # experiment -> why not here

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        steps = tuple(Step(**s) for s in data.get("steps", []))
        return cls(int(data["seed"]), float(data["minutes"]), steps, dict(data.get("excluded", {})))

    def lines(self) -> list[str]:
        """The schedule as a person reads it before the run."""
        out = [
            f"nemesis seed {self.seed}, {self.minutes:g} min: {len(self.steps)} faults, "
            "one at a time, each healed before the next"
        ]
        out += [
            f"  {s.index + 1:>2}. +{s.planned_at_s:6.0f} s  {s.experiment:24} "
            f"fault {s.fault_s:4.1f} s, then {s.gap_s:4.1f} s steady"
            for s in self.steps
        ]
        out += [f"  left out: {name}: {why}" for name, why in sorted(self.excluded.items())]
        return out


def excluded_for(target: Target, catalogue: tuple[Experiment, ...] = CATALOGUE) -> dict[str, str]:
    """The experiments `target` cannot run, with why."""
    out = {}
    for experiment in catalogue:
        why = FAULTS[experiment.fault].why_not(target)
        if why:
            out[experiment.name] = why
    return out


def vms_down(experiment: Experiment) -> int:
    """How many VMs the step takes away (0: a provider or job fault)."""
    return VM_SELECTORS.get(experiment.select, 0)


def plan(
    seed: int,
    minutes: float,
    catalogue: tuple[Experiment, ...] = CATALOGUE,
    excluded: dict[str, str] | None = None,
) -> Schedule:
    """The schedule `seed` draws for `minutes` of faults (pure: no cluster, no clock)."""
    excluded = dict(excluded or {})
    pool = [e for e in catalogue if e.name not in excluded]
    if not pool:
        raise ValueError("no experiment of the catalogue can run on this target")
    rng = random.Random(seed)
    budget = minutes * 60 - STEADY_S - READBACK_GUESS_S
    steps: list[Step] = []
    at, previous = STEADY_S, None
    while not steps or at < STEADY_S + budget:
        choices = [e for e in pool if e.name != previous] or pool
        experiment = rng.choice(choices)
        fault_s = round(rng.uniform(*WINDOW) * experiment.fault_s, 1)
        gap_s = round(rng.uniform(*GAP_S), 1)
        steps.append(Step(len(steps), experiment.name, fault_s, gap_s, round(at, 1)))
        at += fault_s + HEAL_GUESS_S.get(experiment.fault, 30.0) + gap_s
        previous = experiment.name
    return Schedule(seed, minutes, tuple(steps), excluded)


def violations(schedule: Schedule, catalogue: tuple[Experiment, ...] = CATALOGUE) -> list[str]:
    """What in a schedule asks more than the cluster promises (empty: nothing)."""
    known = {e.name: e for e in catalogue}
    out = []
    for before, step in zip((None, *schedule.steps), schedule.steps, strict=False):
        experiment = known.get(step.experiment)
        if experiment is None:
            out.append(f"step {step.index + 1}: unknown experiment {step.experiment}")
            continue
        if step.experiment in schedule.excluded:
            out.append(f"step {step.index + 1}: {step.experiment} cannot run here")
        if vms_down(experiment) > 1 and step.experiment != TWO_VMS:
            out.append(f"step {step.index + 1}: {step.experiment} takes two VMs")
        if step.fault_s > experiment.fault_s or step.fault_s < WINDOW[0] * experiment.fault_s:
            out.append(f"step {step.index + 1}: a {step.fault_s} s window")
        if before is not None and step.planned_at_s < before.planned_at_s + before.fault_s:
            out.append(f"step {step.index + 1} starts before step {before.index + 1} ends")
        if before is not None and before.experiment == step.experiment:
            out.append(f"step {step.index + 1} repeats step {before.index + 1}")
    return out


# -- judging one history ------------------------------------------------------------------


def _slices(history: History) -> list[tuple[int, float, float]]:
    """(step, start, end) of each step's slice: from the end of the previous heal (or
    the run's start) to the next step (or the end of the traffic)."""
    events = sorted(history.events, key=lambda e: e.t)
    starts = [e for e in events if e.name == "step"]
    run_start = history.time_of("start") or (history.ops[0].start if history.ops else 0.0)
    traffic_end = history.time_of("traffic-end") or max(
        (o.end for o in history.ops), default=run_start
    )
    out = []
    for i, step in enumerate(starts):
        healed = [e.t for e in events if e.name in ("healthy", "unhealthy") and e.t < step.t]
        begin = max(healed) if healed else run_start
        end = starts[i + 1].t if i + 1 < len(starts) else traffic_end
        out.append((int(step.detail.get("index", i)), begin, end))
    return out


def slice_history(history: History, begin: float, end: float) -> History:
    """One step's part of the history, with the marks the checkers read."""
    ops = [o for o in history.ops if begin <= o.start < end and o.kind != "verify"]
    samples = [s for s in history.samples if begin - 3.0 <= s.t < end]
    events = [e for e in history.events if begin < e.t < end]
    marks = [Event(begin, "start"), Event(end, "traffic-end"), Event(end, "end")]
    return History(ops, samples, sorted([*marks, *events], key=lambda e: e.t))


def _step_expect(experiment: Experiment) -> Any:
    # The history is judged once, over the whole run; acknowledged uploads too.
    return replace(experiment.expect, nothing_lost=False, min_acked=0)


def _failed_ops(part: History, fault_t: float) -> list[dict[str, Any]]:
    """A step's failed operations, timed from its fault: which, how, through which VM."""
    failed = [o for o in checkers.client_ops(part) if not o.ok][:FAILED_OPS_KEPT]
    return [
        {
            "at_s": round(o.start - fault_t, 2),
            "latency_s": round(o.latency, 2),
            "kind": o.kind,
            "status": o.status,
            "error": o.error,
            "edge": o.edge,
        }
        for o in failed
    ]


def judge(history: History, vms: list[str]) -> tuple[dict[str, Any], list[checkers.Verdict]]:
    """Figures and verdicts of a whole nemesis run from its one journal."""
    steps_fig: list[dict[str, Any]] = []
    verdicts: list[checkers.Verdict] = []
    in_place: list[float] = []
    heal_events = [e for e in history.events if e.name in ("healthy", "unhealthy")]
    step_events = {int(e.detail.get("index", -1)): e for e in history.events if e.name == "step"}
    for index, begin, end in _slices(history):
        name = str(step_events[index].detail.get("experiment"))
        experiment = by_name(name)
        part = slice_history(history, begin, end)
        fig = checkers.figures(part, vms, FAULTS[experiment.fault].effect)
        if fig.get("in_place_t") is not None:
            in_place.append(fig["in_place_t"])
        healed = part.event("healthy") or part.event("unhealthy")
        problems = list(healed.detail.get("problems", [])) if healed else ["never healed"]
        label = f"step {index + 1} {name}"
        error = step_events[index].detail.get("error")
        if error:  # the step itself broke: its fault or rollback did not go through
            verdicts.append(checkers.Verdict(f"{label}: experiment ran", "no error", error, False))
        for verdict in checkers.verdicts(_step_expect(experiment), fig, problems):
            if verdict.check != "no split brain":  # judged once, over the whole run
                verdicts.append(replace(verdict, check=f"{label}: {verdict.check}"))
        steps_fig.append(
            {
                "step": index + 1,
                "experiment": name,
                **{k: fig.get(k) for k in STEP_FIGURES},
                "failed_ops": _failed_ops(part, fig.get("fault_t") or begin),
            }
        )
    ops = checkers.client_ops(history)
    failed = [o for o in ops if not o.ok]
    windows = checkers.error_windows(ops)
    start = history.time_of("start") or (ops[0].start if ops else 0.0)
    end_t = history.time_of("end") or max((o.end for o in ops), default=start)
    took = [s["effect"]["ok"] for s in steps_fig if s.get("effect")]
    whole: dict[str, Any] = {
        "effect": {
            "rule": "every step",
            "ok": bool(took) and all(took),
            "got": f"{sum(took)} of {len(steps_fig)} faults took effect",
        },
        "start_t": start,
        "fault_t": None,
        "vms_hit": sorted({vm for s in steps_fig for vm in s.get("vms_hit") or []}),
        "ops": len(ops),
        "ops_by_kind": dict(Counter(o.kind for o in ops)),
        "failed": len(failed),
        "failed_by_reason": dict(Counter(o.error or "?" for o in failed).most_common(6)),
        "error_windows": len(windows),
        "error_window_s": max((b - a for a, b, _ in windows), default=0.0),
        "max_latency_s": max((o.latency for o in ops), default=0.0),
        "acked": sum(1 for o in ops if o.kind == "upload" and o.ok),
        "heal_s": None,
        "duration_s": end_t - start,
        "fault_s": sum(s.get("fault_s") or 0.0 for s in steps_fig),
        **judge_uploads(history).figures(),
        "vip_samples": len(history.samples),
        "split_brain": checkers.split_brains(history, in_place),
        "cloud_ip": cloudip.figures(history, start, end_t),
        "steps": steps_fig,
    }
    for system in ("consul", "nomad"):
        whole[f"{system}_leader_changes"] = timeline.leader_changes(
            history.samples, f"{system}_leader", start, end_t
        )
    last = heal_events[-1] if heal_events else None
    problems = [] if last and last.name == "healthy" else ["not whole after the last step"]
    first = [
        checkers.traffic_verdict(Expect(min_window_uploads=0, min_window_reads=0), whole),
        *checkers.history_verdicts(whole),
        checkers.Verdict(
            "cluster whole again", "whole", "; ".join(problems) or "whole", not problems
        ),
        checkers.split_brain_verdict(whole),
        cloudip.verdict(whole["cloud_ip"], start),
        checkers.Verdict(
            "steps run",
            "≥ 1",
            f"{len(steps_fig)} steps",
            bool(steps_fig),
        ),
    ]
    return whole, [v for v in first if v is not None] + verdicts


# -- running one ------------------------------------------------------------------------


def run_nemesis(
    schedule: Schedule,
    target: Target,
    out_dir: Path,
    log: Log = print,
    client_config: ClientConfig | None = None,
) -> Result:
    """Run the schedule against `target` as one history; the result for the report."""
    executor = executor_for(target)
    backend = backend_for(target, executor)
    journal_path = out_dir / "journals" / f"{NAME}.jsonl"
    journal = Journal()
    for line in schedule.lines():
        log(line)
    title = f"Nemesis: seed {schedule.seed}, {schedule.minutes:g} min"
    host_before = hostinfo.snapshot()
    before = ensure_whole(executor, target, 240.0, log)
    if before:
        return Result(
            NAME,
            title,
            "",
            {},
            [],
            before,
            str(journal_path),
            error=f"not whole before the first fault: {before[0]}",
        )
    observer = Observer(executor, target, journal)
    client = SteadyClient(target.url, journal, client_config, token=target.api_token, ca=target.ca)
    deadline = time.monotonic() + schedule.minutes * 60
    done: list[str] = []
    observer.start()
    client.start()
    journal.event(time.time(), "start", seed=schedule.seed, minutes=schedule.minutes)
    try:
        time.sleep(STEADY_S)
        for step in schedule.steps:
            if time.monotonic() + step.fault_s > deadline:
                log(f"  time is up: {len(schedule.steps) - len(done)} steps not started")
                break
            experiment = replace(by_name(step.experiment), fault_s=step.fault_s)
            log(f"step {step.index + 1}/{len(schedule.steps)}: {experiment.name}")
            journal.event(time.time(), "step", index=step.index, experiment=experiment.name)
            problems, error = fault_phase(experiment, target, executor, backend, journal, log)
            if error:
                journal.event(time.time(), "step-error", index=step.index, error=error)
            done.append(experiment.name)
            if problems:
                log("  not whole again: the nemesis stops here")
                break
            time.sleep(step.gap_s)
    finally:
        journal.event(time.time(), "traffic-end")
        client.stop()
        log("  following every upload to its end, reading back what was stored")
        client.verify(deadline_s=120)
        client.close()
        observer.stop()
        if target.cloud_ip:  # whom the cloud routed the floating IP to, every call
            cloudip.record(journal, target.cloud_ip, journal.snapshot().time_of("start") or 0.0)
        journal.event(time.time(), "end")
        journal.write(journal_path)
    result = judge_result(journal.snapshot(), target.names(), schedule, journal_path, log)
    result.host = hostinfo.between(host_before, hostinfo.snapshot())
    return result


def _attach_errors(history: History) -> History:
    """Copy each step's experiment error onto its `step` event (for the verdicts)."""
    errors = {
        e.detail.get("index"): e.detail.get("error")
        for e in history.events
        if e.name == "step-error"
    }
    for event in history.events:
        if event.name == "step" and event.detail.get("index") in errors:
            event.detail["error"] = errors[event.detail["index"]]
    return history


def judge_result(
    history: History, vms: list[str], schedule: Schedule, journal_path: Path, log: Log
) -> Result:
    figures, verdicts = judge(_attach_errors(history), vms)
    figures["schedule"] = schedule.to_json()
    names = [s["experiment"] for s in figures["steps"]]
    result = Result(
        NAME,
        f"Nemesis: seed {schedule.seed}, {schedule.minutes:g} min, {len(names)} faults",
        "; ".join(names) or "no step run",
        figures,
        verdicts,
        [],
        str(journal_path),
        hypothesis="Under a random schedule of the catalogue's faults, one at a time, every "
        "rule of every experiment holds over one history: each fault takes effect, nothing "
        "acknowledged is lost, the brain never splits, and each heal is followed by "
        "recovery.",
    )
    png = journal_path.parent.parent / f"{NAME}.png"
    sub = (
        f"failed {figures['failed']}/{figures['ops']} ops · lost "
        f"{len(figures.get('lost', []))}/{figures['acked']} acknowledged uploads · two VIP "
        f"holders {len(figures.get('split_brain') or [])} times\n" + " → ".join(names)
    )
    result.plot = str(plot_experiment(history, vms, result.title, sub, png))
    for verdict in verdicts:
        mark = "ok  " if verdict.ok else ("FAIL" if verdict.asserted else "miss")
        log(f"  {mark} {verdict.check}: {verdict.got} (want {verdict.want})")
    # In the lane's log too: a CI run's report folder does not outlive it.
    for step in figures["steps"]:
        for op in step.get("failed_ops") or []:
            log(
                f"  step {step['step']} failed: {op['kind']} at {op['at_s']:+.2f} s from the "
                f"fault, {op['latency_s']:.2f} s, {op['status'] or 'no answer'} "
                f"{op['error'] or ''} (edge {op['edge'] or '?'})"
            )
    return result


def rejudge(previous: dict[str, Any]) -> Result:
    """Judge and plot a recorded nemesis run again from its journal."""
    journal_path = Path(previous["journal"])
    history = read_history(journal_path)
    vms = sorted({s.node for s in history.samples})
    schedule = Schedule.from_json(previous["figures"]["schedule"])
    result = judge_result(history, vms, schedule, journal_path, lambda _line: None)
    result.started, result.host = previous.get("started", 0.0), previous.get("host") or {}
    result.error = previous.get("error")
    return result
