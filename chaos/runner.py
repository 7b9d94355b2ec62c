"""Run one experiment: hypothesis, fault, rollback, recovery, verification, verdicts.

    whole? ─▶ client + observers ─▶ steady ─▶ fault ─▶ rollback (always) ─▶ whole again?
          ─▶ steady ─▶ every 202 followed to done ─▶ journal ─▶ figures and verdicts

The rollback and a restore-everything safety net run in `finally`, so a failing
or interrupted experiment still leaves the cluster as it found it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import checkers, cloudip, evidence, health, hostinfo
from chaos.client import ClientConfig, SteadyClient
from chaos.experiments import Experiment
from chaos.faults import FAULTS, Context, backend_for, restore_everything
from chaos.journal import History, Journal, read_history
from chaos.observer import Observer
from chaos.plot import plot_experiment
from chaos.remote import Executor, executor_for
from chaos.selectors import SELECTORS
from chaos.target import Target

Log = Callable[[str], None]


@dataclass
class Result:
    name: str
    title: str
    fault: str
    figures: dict[str, Any]
    verdicts: list[checkers.Verdict]
    heal_problems: list[str]
    journal: str
    plot: str | None = None
    error: str | None = None  # the experiment itself broke (not a failed verdict)
    hypothesis: str = ""
    started: float = field(default_factory=time.time)
    host: dict[str, Any] = field(default_factory=dict)  # the controller over the run

    @property
    def passed(self) -> bool:
        return self.error is None and all(v.ok for v in self.verdicts if v.asserted)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "hypothesis": self.hypothesis,
            "fault": self.fault,
            "passed": self.passed,
            "error": self.error,
            "started": self.started,
            "figures": self.figures,
            "verdicts": [checkers.as_dict(v) for v in self.verdicts],
            "heal_problems": self.heal_problems,
            "journal": self.journal,
            "plot": self.plot,
            "host": self.host,
        }


def _say(log: Log, text: str) -> None:
    log(f"[{time.strftime('%H:%M:%S')}] {text}")


def ensure_whole(executor: Executor, target: Target, deadline_s: float, log: Log) -> list[str]:
    """The steady-state hypothesis: the cluster is whole and serves through the VIP."""
    seen: list[str] = []

    def note(problems: list[str]) -> None:
        if problems and problems[:1] != seen[:1]:
            _say(
                log,
                f"  waiting: {problems[0]}"
                + (f" (+{len(problems) - 1})" if len(problems) > 1 else ""),
            )
        seen[:] = problems

    return health.wait_healthy(executor, target, deadline_s, on_poll=note)


def run_experiment(
    experiment: Experiment,
    target: Target,
    out_dir: Path,
    log: Log = print,
    client_config: ClientConfig | None = None,
) -> Result:
    executor = executor_for(target)
    backend = backend_for(target, executor)
    fault = FAULTS[experiment.fault]
    journal_path = out_dir / "journals" / f"{experiment.name}.jsonl"
    journal = Journal()
    _say(log, f"{experiment.name}: {experiment.title}")
    why_not = fault.why_not(target)
    if why_not:  # fails, never skips: an experiment not run proves nothing
        _say(log, f"  cannot run here: {why_not}")
        return Result(
            experiment.name,
            experiment.title,
            fault.describe,
            {},
            [],
            [],
            str(journal_path),
            error=f"cannot run on this target: {why_not}",
            hypothesis=experiment.hypothesis,
        )
    host_before = hostinfo.snapshot()
    before = ensure_whole(executor, target, experiment.heal_deadline_s, log)
    if before:
        return Result(
            experiment.name,
            experiment.title,
            fault.describe,
            {},
            [],
            before,
            str(journal_path),
            error=f"not whole before the fault: {before[0]}",
        )
    observer = Observer(executor, target, journal)
    client = SteadyClient(target.url, journal, client_config, token=target.api_token, ca=target.ca)
    heal_problems: list[str] = ["not checked"]
    error: str | None = None
    observer.start()
    client.start()
    journal.event(time.time(), "start")
    try:
        time.sleep(experiment.steady_s)
        heal_problems, error = fault_phase(experiment, target, executor, backend, journal, log)
        time.sleep(experiment.after_s)
    finally:
        journal.event(time.time(), "traffic-end")  # the whole-run windows end here
        client.stop()
        _say(log, "  following every upload to its end, reading back what was stored")
        client.verify(deadline_s=90)
        client.close()
        observer.stop()
        if target.cloud_ip:  # whom the cloud routed the floating IP to, every call
            cloudip.record(journal, target.cloud_ip, journal.snapshot().time_of("start") or 0.0)
        journal.event(time.time(), "end")
        journal.write(journal_path)
    history = journal.snapshot()
    result = _judge(experiment, target, history, heal_problems, journal_path, error, log)
    result.host = hostinfo.between(host_before, hostinfo.snapshot())
    return result


def fault_phase(
    experiment: Experiment,
    target: Target,
    executor: Executor,
    backend: Any,
    journal: Journal,
    log: Log,
) -> tuple[list[str], str | None]:
    """Select, inject, watch for the effect, roll back, restore, wait until whole: the
    fault of one experiment (or one nemesis step) on the journal's timeline."""
    fault = FAULTS[experiment.fault]
    error: str | None = None
    ctx: Context | None = None
    watch: evidence.Watch | None = None
    try:
        chosen = SELECTORS[experiment.select](target, journal.snapshot().samples, time.time())
        ctx = Context(
            target,
            executor,
            backend,
            [target.vm(n) for n in chosen],
            dict(experiment.params),
            note=lambda name, **detail: journal.event(time.time(), name, **detail),
        )
        what = fault.describe.format(vms=", ".join(chosen) or "-", **experiment.params)
        watch, look_s = evidence.watch_for(fault.effect, ctx, journal, experiment.fault_s)
        if watch:
            watch.before()
        _say(log, f"  fault: {what}")
        journal.event(
            time.time(),
            "fault",
            vms=chosen,
            what=what,
            effect=fault.effect,
            backend="lab" if target.lab else "ssh",
            params=experiment.params,
        )
        fault.inject(ctx)
        journal.event(time.time(), "injected")
        if watch:
            watch.start(look_s)  # polls until it sees the effect or its deadline
        time.sleep(experiment.fault_s)
    except Exception as exc:  # the rollback below must run whatever broke
        error = f"{type(exc).__name__}: {exc}"
        _say(log, f"  experiment error: {error}")
    finally:
        journal.event(time.time(), "rollback")
        _say(log, "  rollback")
        if watch and not watch.outlives_window:
            watch.stop()  # the window is over (a replaced container may come later)
        try:
            if ctx is not None:
                fault.rollback(ctx)
        except Exception as exc:
            error = error or f"rollback: {type(exc).__name__}: {exc}"
        finally:
            if watch:
                watch.join()
            restore_everything(target, executor, backend)
            journal.event(time.time(), "restored")
    problems = ensure_whole(executor, target, experiment.heal_deadline_s, log)
    journal.event(time.time(), "healthy" if not problems else "unhealthy", problems=problems[:5])
    _say(log, "  whole again" if not problems else f"  NOT whole: {problems[:3]}")
    return problems, error


def _judge(
    experiment: Experiment,
    target: Target,
    history: History,
    heal_problems: list[str],
    journal_path: Path,
    error: str | None,
    log: Log,
) -> Result:
    figures = checkers.figures(history, target.names(), FAULTS[experiment.fault].effect)
    verdicts = checkers.verdicts(experiment.expect, figures, heal_problems)
    what = next((e.detail.get("what") for e in history.events if e.name == "fault"), None)
    result = Result(
        experiment.name,
        experiment.title,
        what or FAULTS[experiment.fault].describe,
        figures,
        verdicts,
        heal_problems,
        str(journal_path),
        error=error,
        hypothesis=experiment.hypothesis,
    )
    png = journal_path.parent.parent / f"{experiment.name}.png"
    result.plot = str(
        plot_experiment(history, target.names(), experiment.title, subtitle(figures), png)
    )
    for verdict in verdicts:
        mark = "ok  " if verdict.ok else ("FAIL" if verdict.asserted else "miss")
        _say(log, f"  {mark} {verdict.check}: {verdict.got} (want {verdict.want})")
    if figures.get("failed"):
        # In the lane's log too: a CI run's report folder does not outlive it.
        _say(log, f"  failed by reason: {figures['failed_by_reason']}")
    return result


def rejudge(previous: dict[str, Any], experiment: Experiment) -> Result:
    """Judge and plot a recorded run again from its journal (after a checker changed)."""
    journal_path = Path(previous["journal"])
    history = read_history(journal_path)
    vms = sorted({s.node for s in history.samples})
    figures = checkers.figures(history, vms, FAULTS[experiment.fault].effect)
    heal = list(previous.get("heal_problems", []))
    verdicts = checkers.verdicts(experiment.expect, figures, heal)
    result = Result(
        experiment.name,
        experiment.title,
        previous["fault"],
        figures,
        verdicts,
        heal,
        str(journal_path),
        error=previous.get("error"),
        started=previous.get("started", 0.0),
        hypothesis=experiment.hypothesis,
        host=previous.get("host") or {},
    )
    png = journal_path.parent.parent / f"{experiment.name}.png"
    result.plot = str(plot_experiment(history, vms, experiment.title, subtitle(figures), png))
    return result


def subtitle(figures: dict[str, Any]) -> str:
    """The figures a person wants under the plot's title, in one line."""

    def secs(key: str) -> str:
        value = figures.get(key)
        return "—" if value is None else f"{value:.1f} s"

    return (
        f"failed {figures.get('failed')}/{figures.get('ops')} ops · longest error window "
        f"{secs('error_window_s')} · max latency {secs('max_latency_s')} · lost "
        f"{len(figures.get('lost', []))}/{figures.get('acked')} acknowledged uploads\n"
        f"new Consul leader {secs('consul_election_s')} · new Nomad leader "
        f"{secs('nomad_election_s')} · VIP moved {secs('vip_move_s')} · whole again "
        f"{secs('heal_s')} after the rollback · two VIP holders "
        f"{len(figures.get('split_brain') or [])} times"
    )
