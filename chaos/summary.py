"""The evidence file: `summary.json` and `summary.md`, the figures a doc may quote.

Written by `python -m chaos summary` and at the end of every chaos lane that ran an
experiment, from `results.json`: when, on what machine (hostname, cores, load average
and how busy the CPUs were while the experiments ran, from /proc/stat), at which git
commit, and per experiment its figures and verdicts — never the raw journal. Copy it
beside the doc that quotes it (`docs/chaos/summary-<date>.md`) and commit both.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from chaos import hostinfo
from chaos.target import REPO_ROOT

# The figures of each experiment worth quoting: key, label, format.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("ops", "operations", "{}"),
    ("failed", "failed", "{}"),
    ("acked", "acknowledged uploads", "{}"),
    ("lost", "lost", "{}"),
    ("error_window_s", "longest error window", "{:.2f} s"),
    ("max_latency_s", "max latency", "{:.2f} s"),
    ("consul_election_s", "new Consul leader, all survivors", "{:.2f} s"),
    ("nomad_election_s", "new Nomad leader, all survivors", "{:.2f} s"),
    ("vip_move_s", "VIP moved", "{:.2f} s"),
    ("split_brain_s", "two VIP holders", "{:.2f} s"),
    ("resize_recovery_s", "resized again", "{:.2f} s"),
    ("heal_s", "whole again", "{:.1f} s"),
    ("consul_leader_changes", "Consul leader changes", "{}"),
    ("nomad_leader_changes", "Nomad leader changes", "{}"),
)


def _iso(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None


def git_commit(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The commit the run was made at, and whether the checkout had changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def figures_of(result: dict[str, Any]) -> dict[str, Any]:
    """The quotable figures of one result (counts, not lists)."""
    fig = result.get("figures") or {}
    out = {key: fig.get(key) for key, _, _ in FIGURES}
    out["lost"] = len(fig["lost"]) if isinstance(fig.get("lost"), list) else None
    spans = fig.get("split_brain")
    out["split_brain_s"] = (
        round(max((b - a for a, b, _ in spans), default=0.0), 2)
        if isinstance(spans, list)
        else None
    )
    return out


def host_over(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The machine while the experiments ran: busy % over their own windows, the load
    averages seen at their starts and ends."""
    hosts = [r.get("host") or {} for r in results]
    busy = sum(h.get("busy_jiffies") or 0 for h in hosts)
    total = sum(h.get("total_jiffies") or 0 for h in hosts)
    loads = [h[key][0] for h in hosts for key in ("loadavg_start", "loadavg_end") if h.get(key)]
    return {
        "busy_pct": round(100 * busy / total, 1) if total else None,
        "loadavg_1min_min": min(loads) if loads else None,
        "loadavg_1min_max": max(loads) if loads else None,
        "measured_experiments": sum(1 for h in hosts if h.get("total_jiffies")),
    }


def build(
    results: list[dict[str, Any]],
    now: float,
    commit: dict[str, Any],
    machine: dict[str, Any],
) -> dict[str, Any]:
    """The summary document (pure: everything it says comes in as arguments)."""
    experiments = []
    for r in results:
        host = r.get("host") or {}
        fig = r.get("figures") or {}
        entry = {
            "name": r.get("name"),
            "title": r.get("title"),
            "hypothesis": r.get("hypothesis"),
            "passed": bool(r.get("passed")),
            "error": r.get("error"),
            "started": _iso(r.get("started")),
            "duration_s": round(fig["duration_s"], 1) if fig.get("duration_s") else None,
            "host_busy_pct": host.get("busy_pct"),
            "effect": fig.get("effect"),
            "figures": figures_of(r),
            "verdicts": r.get("verdicts", []),
        }
        if fig.get("steps") is not None:  # a nemesis run: its schedule and steps
            entry["schedule"] = fig.get("schedule")
            entry["steps"] = fig["steps"]
        experiments.append(entry)
    starts = [r["started"] for r in results if r.get("started")]
    return {
        "written": _iso(now),
        "first_started": _iso(min(starts)) if starts else None,
        "last_started": _iso(max(starts)) if starts else None,
        "host": {**machine, **host_over(results)},
        "git": commit,
        "passed": sum(1 for e in experiments if e["passed"]),
        "experiments": experiments,
    }


def _cell(value: Any, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def markdown(summary: dict[str, Any]) -> str:
    host, git = summary["host"], summary["git"]
    commit = (git.get("commit") or "unknown")[:12] + (
        " (with local changes)" if git.get("dirty") else ""
    )
    lines = [
        "# Chaos suite: summary",
        "",
        f"Written {summary['written']}; experiments started from {summary['first_started']} "
        f"to {summary['last_started']}; commit `{commit}`.",
        "",
        f"Machine: `{host.get('hostname')}`, {host.get('cores')} cores; CPUs "
        f"{_cell(host.get('busy_pct'), '{}')} % busy while the experiments ran; load average "
        f"(1 min) {_cell(host.get('loadavg_1min_min'), '{}')} to "
        f"{_cell(host.get('loadavg_1min_max'), '{}')}.",
        "",
        f"**{summary['passed']} of {len(summary['experiments'])} experiments hold.**",
        "",
    ]
    keys = [(k, label, fmt) for k, label, fmt in FIGURES]
    head = ["experiment", "holds", "fault took effect", *(label for _, label, _ in keys), "busy %"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in summary["experiments"]:
        took = (e.get("effect") or {}).get("ok")
        holds = "error" if e.get("error") else ("yes" if e["passed"] else "no")
        cells = [
            f"`{e['name']}`",
            holds,
            "—" if took is None else ("yes" if took else "no"),
            *(_cell(e["figures"].get(k), fmt) for k, _, fmt in keys),
            _cell(e.get("host_busy_pct"), "{}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    broken = [e for e in summary["experiments"] if not e["passed"]]
    if broken:
        lines += ["", "## What failed", ""]
        for e in broken:
            if e.get("error"):
                lines.append(f"- `{e['name']}`: {e['error']}")
            for v in e.get("verdicts", []):
                if v.get("asserted", True) and not v.get("ok"):
                    lines.append(
                        f"- `{e['name']}`: {v['check']}: got {v['got']} (want {v['want']})"
                    )
    return "\n".join(lines) + "\n"


def machine_now() -> dict[str, Any]:
    now = hostinfo.snapshot()
    return {
        "hostname": socket.gethostname(),
        "cores": os.cpu_count(),
        "loadavg_at_writing": now.get("loadavg"),
    }


def write(out_dir: Path, results: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """Write summary.json and summary.md into `out_dir` from its results.json."""
    if results is None:
        path = out_dir / "results.json"
        results = json.loads(path.read_text()) if path.is_file() else []
    summary = build(results, time.time(), git_commit(), machine_now())
    out_dir.mkdir(parents=True, exist_ok=True)
    as_json, as_md = out_dir / "summary.json", out_dir / "summary.md"
    as_json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    as_md.write_text(markdown(summary))
    return as_json, as_md
