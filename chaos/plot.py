"""One picture per experiment, in the spirit of Jepsen's latency plots.

Top: the latency of every client operation over time (log scale), failures as red
crosses, the fault window shaded red and the wait for the cluster to be whole again
shaded amber. Bottom: the cluster as its VMs saw it — which VMs answered, whom they
named Consul and Nomad leader, who held the floating IP — so leader elections and
VIP moves read straight off the picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from chaos import timeline
from chaos.checkers import split_brains
from chaos.experiments import FENCING_DELAY_S
from chaos.journal import History

KIND_COLORS = {"upload": "#1f77b4", "status": "#2ca02c", "read": "#9467bd"}
VM_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948"]
NONE_COLOR, SPLIT_COLOR = "#dddddd", "#d62728"


def _vm_color(vms: list[str], value: str | None) -> str:
    if value in vms:
        return VM_COLORS[vms.index(value) % len(VM_COLORS)]
    return SPLIT_COLOR if value == "split" else NONE_COLOR


def _bars(ax: Any, row: int, spans: list[tuple[float, float, str]]) -> None:
    for start, width, color in spans:
        ax.broken_barh([(start, width)], (row - 0.4, 0.8), facecolors=color, edgecolor="none")


def _runs(points: list[tuple[float, str]], step: float) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    for t, color in points:
        if out and out[-1][2] == color and abs(out[-1][0] + out[-1][1] - t) < step * 1.5:
            out[-1] = (out[-1][0], out[-1][1] + step, color)
        else:
            out.append((t, step, color))
    return out


def _cluster_panel(ax: Any, history: History, vms: list[str], t0: float, t1: float) -> None:
    step = 0.25
    seen = timeline.views(history.samples, t0, t1, step)
    rows: list[tuple[str, list[tuple[float, str]]]] = []
    for vm in vms:
        rows.append(
            (
                f"{vm} answers",
                [(v.t - t0, "#9ecae1" if vm in v.answered else NONE_COLOR) for v in seen],
            )
        )
    rows.append(("Consul leader", [(v.t - t0, _vm_color(vms, v.consul)) for v in seen]))
    rows.append(("Nomad leader", [(v.t - t0, _vm_color(vms, v.nomad)) for v in seen]))
    rows.append(
        (
            "floating IP",
            [
                (
                    v.t - t0,
                    _vm_color(vms, v.vip[0] if len(v.vip) == 1 else ("split" if v.vip else None)),
                )
                for v in seen
            ],
        )
    )
    for row, (_, points) in enumerate(reversed(rows)):
        _bars(ax, row, _runs(points, step))
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    handles = [Patch(color=_vm_color(vms, vm), label=vm) for vm in vms]
    handles += [
        Patch(color=SPLIT_COLOR, label="split / two"),
        Patch(color=NONE_COLOR, label="none / no answer"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def _steps(history: History) -> list[dict[str, float]]:
    """Each fault's marks in order (one for an experiment, one per step of a nemesis):
    fault, injected, rollback, restored, healthy (or unhealthy)."""
    names = ("fault", "injected", "rollback", "restored", "healthy", "unhealthy")
    steps: list[dict[str, float]] = []
    for event in sorted(history.events, key=lambda e: e.t):
        if event.name == "fault":
            steps.append({"fault": event.t})
        elif event.name in names and steps and event.name not in steps[-1]:
            steps[-1]["healthy" if event.name == "unhealthy" else event.name] = event.t
    return steps


def _shade(ax: Any, history: History, t0: float) -> None:
    for step in _steps(history):
        fault, rollback, healthy = step["fault"], step.get("rollback"), step.get("healthy")
        if rollback:
            ax.axvspan(fault - t0, rollback - t0, color="#d62728", alpha=0.12, lw=0)
        if rollback and healthy:
            ax.axvspan(rollback - t0, healthy - t0, color="#ff9f1c", alpha=0.12, lw=0)
        if step.get("restored"):  # the rollback commands have returned
            ax.axvline(step["restored"] - t0, color="#ff9f1c", lw=1.2)


def _split_brain_marks(axes: list[Any], history: History, t0: float) -> None:
    """Hatched red where two VMs held the floating IP beyond the allowance; grey, the
    fencing delay after each fault in which two holders are forgiven."""
    injected = [step["injected"] for step in _steps(history) if "injected" in step]
    for ax in axes:
        for t in injected:
            ax.axvspan(t - t0, t + FENCING_DELAY_S - t0, color="#888888", alpha=0.12)
        for a, b, _ in split_brains(history, injected):
            ax.axvspan(a - t0, b - t0, facecolor="none", edgecolor="#d62728", hatch="//", lw=0)


def _change_marks(ax: Any, history: History, t0: float, t1: float) -> None:
    seen = timeline.views(history.samples, t0, t1, 0.25)
    for attr, style in (("consul", ":"), ("vip", "--")):
        series = [(v.t, getattr(v, attr) if attr != "vip" else ",".join(v.vip)) for v in seen]
        series = [(t, val) for t, val in series if val not in (None, "", "split")]
        for t, _ in timeline.changes(series)[1:]:
            ax.axvline(t - t0, color="#555555", ls=style, lw=0.8)


def plot_experiment(
    history: History, vms: list[str], title: str, subtitle: str, path: Path
) -> Path:
    """The picture of one experiment, or of a whole nemesis run (every step shaded)."""
    ops = [op for op in history.ops if op.kind in KIND_COLORS]
    t0 = history.time_of("start") or min((op.start for op in ops), default=0.0)
    t1 = history.time_of("end") or max((op.end for op in ops), default=t0 + 1)
    width = 12 if len(_steps(history)) < 2 else 18  # a nemesis run is long: wider
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(width, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.7]}
    )
    for kind, color in KIND_COLORS.items():
        good = [op for op in ops if op.kind == kind and op.ok]
        top.scatter(
            [op.start - t0 for op in good],
            [max(op.latency, 1e-3) for op in good],
            s=9,
            color=color,
            label=f"{kind} ok",
            alpha=0.8,
            lw=0,
        )
    bad = [op for op in ops if not op.ok]
    top.scatter(
        [op.start - t0 for op in bad],
        [max(op.latency, 1e-3) for op in bad],
        s=36,
        marker="x",
        color="#d62728",
        label=f"failed ({len(bad)})",
        lw=1.4,
    )
    top.set_yscale("log")
    top.set_ylabel("latency (s)")
    _shade(top, history, t0)
    _shade(bottom, history, t0)
    _split_brain_marks([top, bottom], history, t0)
    _change_marks(top, history, t0, t1)
    handles, labels = top.get_legend_handles_labels()
    handles += [Patch(color="#d62728", alpha=0.25), Patch(color="#ff9f1c", alpha=0.25)]
    handles += [Patch(color="#888888", alpha=0.25)]
    handles += [Patch(facecolor="none", edgecolor="#d62728", hatch="//")]
    labels += ["fault", "until whole again", "fencing delay", "two VIP holders"]
    top.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    top.set_title(f"{title}\n{subtitle}", fontsize=10, loc="left")
    top.grid(True, which="both", alpha=0.2)
    _cluster_panel(bottom, history, vms, t0, t1)
    bottom.set_xlabel("seconds since the start (dotted: Consul leader change, dashed: VIP move)")
    bottom.set_xlim(0, t1 - t0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
