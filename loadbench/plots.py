"""The bench's figures as PNG: a run over time, and throughput against worker VMs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI machines

import matplotlib.pyplot as plt

from loadbench.knee import QueueRow, Step
from loadbench.results import Point, rate


def timeline(points: list[Point], warmup_s: float, title: str, path: Path) -> Path:
    """Throughput and upload-to-done latency over the run, warm-up shaded."""
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), dpi=100)
    rates = rate(points)
    top.plot([t for t, _ in rates], [r for _, r in rates], color="tab:blue", label="images done/s")
    top.set_ylabel("images / s (5 s window)")
    top.set_ylim(bottom=0)
    users = top.twinx()
    users.step([p.t for p in points], [p.users for p in points], color="tab:gray", where="post")
    users.set_ylabel("users", color="tab:gray")
    users.set_ylim(0, max((p.users for p in points), default=1) * 1.15 + 1)
    for label, attr, colour in (("p50", "p50_ms", "tab:green"), ("p95", "p95_ms", "tab:red")):
        series = [(p.t, getattr(p, attr)) for p in points if getattr(p, attr) is not None]
        bottom.plot(
            [t for t, _ in series], [v / 1000 for _, v in series], color=colour, label=label
        )
    bottom.set_ylabel("upload-to-done (s, 10 s window)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("seconds since start")
    failures = [
        p.t for i, p in enumerate(points) if i and p.failed_total > points[i - 1].failed_total
    ]
    for t in failures:
        bottom.axvline(t, color="black", alpha=0.3, linewidth=0.8)
    for axis in (top, bottom):
        axis.axvspan(0, warmup_s, color="0.9", zorder=0)
        axis.grid(alpha=0.3)
    top.legend(loc="upper left")
    bottom.legend(loc="upper left")
    top.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def scaling(
    results: list[tuple[int, float]], ceiling: float | None, title: str, path: Path
) -> Path:
    """Measured images/s for each number of worker VMs, and the raw-speed ceiling if known."""
    fig, axis = plt.subplots(figsize=(7, 4.5), dpi=100)
    vms = [n for n, _ in results]
    values = [v for _, v in results]
    axis.bar(vms, values, color="tab:blue", width=0.6, label="measured through the floating IP")
    for n, value in results:
        axis.annotate(f"{value:.2f}", (n, value), ha="center", va="bottom")
    if ceiling is not None:
        label = f"raw speed x cores = {ceiling:.1f} images/s"
        axis.axhline(ceiling, color="tab:red", linestyle="--", label=label)
    axis.set_xticks(vms)
    axis.set_xlabel("VMs running a worker")
    axis.set_ylabel("resize throughput (images / s)")
    axis.set_title(title)
    axis.legend(loc="center")
    axis.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def knee(found: list[Step], queue: list[QueueRow], step_s: float, path: Path) -> Path:
    """Open loop: upload-to-done percentiles per rate (left), images in flight (right)."""
    fig, (by_rate, in_time) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    rates = [s.rate for s in found]
    for label, attr, colour in (
        ("p50", "p50_ms", "tab:green"),
        ("p95", "p95_ms", "tab:orange"),
        ("p99", "p99_ms", "tab:red"),
    ):
        series = [(s.rate, getattr(s, attr)) for s in found if getattr(s, attr) is not None]
        by_rate.plot(
            [r for r, _ in series], [v / 1000 for _, v in series], "o-", color=colour, label=label
        )
    for s in found:
        if not s.sustained:
            by_rate.axvspan(s.rate - 0.25, s.rate + 0.25, color="tab:red", alpha=0.15)
    by_rate.set_xticks(rates)
    by_rate.set_xlabel("uploads sent per second (open loop)")
    by_rate.set_ylabel("upload-to-done (s)")
    by_rate.set_ylim(bottom=0)
    by_rate.set_title("latency per step (red: not sustained)")
    by_rate.legend(loc="upper left")
    by_rate.grid(alpha=0.3)
    in_time.plot([q.t_s for q in queue], [q.in_flight for q in queue], color="tab:purple")
    for s in found:
        in_time.axvline(s.index * step_s, color="0.6", linewidth=0.8)
        in_time.annotate(f"{s.rate:g}/s", (s.index * step_s + 1, 0), fontsize=8, va="bottom")
    in_time.set_xlabel("seconds since start")
    in_time.set_ylabel("uploads sent, not finished")
    in_time.set_ylim(bottom=0)
    in_time.set_title("the queue over the run")
    in_time.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def cpu_split(found: list[Step], cpu: list[dict], path: Path) -> Path:
    """Host CPU ms per image by component, one stacked bar per step; idle part hatched."""
    fig, axis = plt.subplots(figsize=(10, 5), dpi=100)
    names = sorted({n for c in cpu for n in c.get("components", {})})
    bottoms = [0.0] * len(found)
    x = list(range(len(found)))
    colours = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        parts = [c.get("components", {}).get(name, {}) for c in cpu]
        heights = [p.get("ms_per_image", 0.0) for p in parts]
        idle = [
            min(p.get("idle_ms_per_image", 0.0), h) for p, h in zip(parts, heights, strict=True)
        ]
        axis.bar(x, heights, bottom=bottoms, color=colours(i % 20), label=name)
        axis.bar(x, idle, bottom=bottoms, fill=False, hatch="//", edgecolor="0.3", linewidth=0)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axis.set_xticks(x, [f"{s.rate:g}/s" + ("" if s.sustained else " ✗") for s in found])
    axis.set_xlabel("uploads per second (✗: not sustained)")
    axis.set_ylabel("host CPU ms per image done")
    axis.set_title("where each image's CPU goes (hatched: what the component spends idle)")
    axis.legend(loc="upper right", fontsize=8, ncol=2)
    axis.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
