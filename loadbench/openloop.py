"""The open-loop run: uploads at stepped rates, the knee, a plot and a summary.

Locust runs tests/load/openloop_locustfile.py headless (its LoadTestShape steps the
rate and drains at the end); loadbench.knee judges each step from the two CSVs it
writes. The summary says how busy the host was (loadbench.context), since a knee
measured beside other work is the host's, not the cluster's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadbench import knee
from loadbench.context import RunContext
from loadbench.target import REPO, Target

LOCUSTFILE = REPO / "tests" / "load" / "openloop_locustfile.py"
DRAIN_S = 60


def command(url: str, prefix: Path, locustfile: Path = LOCUSTFILE) -> list[str]:
    return [
        sys.executable, "-m", "locust", "--locustfile", str(locustfile), "--headless",
        "--host", url.rstrip("/"), "--csv", str(prefix), "--html", f"{prefix}.html",
        "--only-summary", "--logfile", f"{prefix}.log", "--exit-code-on-error", "0",
    ]  # fmt: skip


def run(
    target: Target, rates: Sequence[float], step_s: float, mix: str, out: Path
) -> dict[str, Any]:
    """Run the steps against `target`; the summary (also written as knee.json)."""
    from loadbench.bench import wait_healthy, write_json  # the bench's helpers

    if not rates or any(r <= 0 for r in rates) or list(rates) != sorted(rates):
        raise ValueError(f"rates must be positive and rising, not {list(rates)}")
    if step_s < 10:
        raise ValueError(f"a step must last at least 10 s, not {step_s}")
    wait_healthy(target.url)
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "openloop"
    flows_csv, queue_csv = out / "openloop_flows.csv", out / "openloop_queue.csv"
    env = dict(
        os.environ,
        IMGCLOUD_LOAD_MIX=mix,
        IMGCLOUD_LOAD_RATES=",".join(f"{r:g}" for r in rates),
        IMGCLOUD_LOAD_STEP_S=f"{step_s:g}",
        IMGCLOUD_LOAD_DRAIN_S=str(DRAIN_S),
        IMGCLOUD_LOAD_FLOWS_CSV=str(flows_csv),
        IMGCLOUD_LOAD_QUEUE_CSV=str(queue_csv),
    )
    context = RunContext(target)
    timeout = step_s * len(rates) + DRAIN_S + 300
    done = subprocess.run(
        command(target.url, prefix), env=env, capture_output=True, text=True, timeout=timeout
    )
    machine = context.finish()
    if done.returncode != 0 or not flows_csv.is_file():
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-20:])
        raise RuntimeError(f"locust exited {done.returncode} (log {prefix}.log):\n{tail}")
    found = knee.steps(rates, step_s, knee.read_flows(flows_csv), knee.read_queue(queue_csv))
    best = knee.knee(found)
    from loadbench import plots  # matplotlib only once there is something to draw

    png = plots.knee(found, knee.read_queue(queue_csv), step_s, out / "openloop_knee.png")
    summary: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": {"url": target.url, "source": target.source},
        "load": {"rates_per_s": list(rates), "step_s": step_s, "mix": mix, "open_loop": True},
        "knee_per_s": best.rate if best else None,
        "steps": [s.as_json() for s in found],
        "machine_during_run": machine,
        "files": {
            "flows_csv": str(flows_csv),
            "queue_csv": str(queue_csv),
            "html": f"{prefix}.html",
            "plot_png": str(png),
        },
    }
    write_json(out / "knee.json", summary)
    return summary


def report(summary: dict[str, Any]) -> str:
    """The table the command prints: one line a step, then the knee."""
    lines = ["rate/s  sent/s  failed  p50 ms  p95 ms  p99 ms  in flight  queue +/s  verdict"]
    for step in summary["steps"]:
        verdict = "sustained" if step["sustained"] else "; ".join(step["problems"])
        lines.append(
            f"{step['rate']:>6g}  {step['sent_per_s']:>6.2f}  {step['failed']:>6}  "
            f"{_ms(step['p50_ms'])}  {_ms(step['p95_ms'])}  {_ms(step['p99_ms'])}  "
            f"{_n(step['in_flight_end']):>9}  {_n(step['queue_growth_per_s']):>9}  {verdict}"
        )
    found = summary["knee_per_s"]
    busy = summary["machine_during_run"].get("host_cpu_busy_percent")
    lines.append(
        f"knee: {found:g} uploads/s" if found else "knee: none (not even the first rate held)"
    )
    lines.append(f"host CPU {busy} % busy during the run")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{value:>6.0f}" if value is not None else "     —"


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"
