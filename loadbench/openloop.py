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
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy import ROOT
from loadbench import context, cpu_split, knee, raw
from loadbench.target import Target

LOCUSTFILE = ROOT / "tests" / "load" / "openloop_locustfile.py"
DRAIN_S = 60
IDLE_S = 10  # the components' idle CPU, measured just before the load
SNAPSHOT_EVERY_S = 1.0

Snapshots = list[tuple[float, cpu_split.Snapshot]]  # (unix time, snapshot)


def _idle_rates() -> tuple[dict[str, float], float | None]:
    """CPU seconds per second each component spends with no load from us, and the
    whole host's busy % over the same window."""
    ticks, before = context.cpu_ticks(), cpu_split.snapshot()
    time.sleep(IDLE_S)  # a measurement window, not a wait for a condition
    spent = cpu_split.spent(before, cpu_split.snapshot())
    (busy_before, total_before), (busy, total) = ticks, context.cpu_ticks()
    span = total - total_before
    busy_percent = round(100 * (busy - busy_before) / span, 1) if span else None
    return {name: round(seconds / IDLE_S, 4) for name, seconds in spent.items()}, busy_percent


def host_state_before(idle: dict[str, float], busy_percent: float | None) -> dict[str, object]:
    ours = sum(rate for name, rate in idle.items() if name != cpu_split.OTHER)
    others = context.other_labs(context.lab_name())
    return context.host_state(busy_percent, ours, os.cpu_count() or 1, others)


def _run_sampling(argv: list[str], env: dict[str, str], timeout: float) -> tuple[Any, Snapshots]:
    """Run Locust, taking a CPU snapshot every second until it exits."""
    samples: Snapshots = [(time.time(), cpu_split.snapshot())]
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"locust still running after {timeout:.0f} s: killed")
                time.sleep(SNAPSHOT_EVERY_S)
                samples.append((time.time(), cpu_split.snapshot()))
        except BaseException:  # a timeout, Ctrl-C, SIGTERM: Popen's exit would wait for it
            proc.kill()
            raise
        stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr), samples


def _nearest(samples: Snapshots, at: float) -> cpu_split.Snapshot:
    return min(samples, key=lambda sample: abs(sample[0] - at))[1]


def step_cpu(
    found: list[knee.Step],
    queue: list[knee.QueueRow],
    samples: Snapshots,
    idle: dict[str, float],
    step_s: float,
) -> list[dict[str, Any]]:
    """Per step: CPU ms per image by component (idle part apart), and the host total."""
    if not queue or not samples:
        return [{} for _ in found]
    zero = queue[0].unix_s - queue[0].t_s  # the wall clock at the run's t = 0
    out = []
    for step in found:
        start, end = zero + step.index * step_s, zero + (step.index + 1) * step_s
        spent = cpu_split.spent(_nearest(samples, start), _nearest(samples, end))
        split = cpu_split.per_image_ms(spent, idle, step_s, step.done)
        total = round(sum(part["ms_per_image"] for part in split.values()), 1)
        out.append({"host_cpu_ms_per_image": total, "components": split})
    return out


def command(url: str, prefix: Path, locustfile: Path = LOCUSTFILE) -> list[str]:
    return [
        sys.executable, "-m", "locust", "--locustfile", str(locustfile), "--headless",
        "--host", url.rstrip("/"), "--csv", str(prefix), "--html", f"{prefix}.html",
        "--only-summary", "--logfile", f"{prefix}.log", "--exit-code-on-error", "0",
    ]  # fmt: skip


@dataclass
class Recorded:
    """What one Locust run left: its uploads, the queue second by second, CPU snapshots."""

    flows: list[knee.Flow]
    queue: list[knee.QueueRow]
    samples: Snapshots
    machine: dict[str, object]
    files: dict[str, str]


def open_loop(
    target: Target, rates: Sequence[float], step_s: float, mix: str, out: Path, name: str,
    drain_s: float = DRAIN_S, poll_max_s: float | None = None,
) -> Recorded:  # fmt: skip
    """Run Locust at `rates` (one step each) and read back what it recorded."""
    prefix = out / name
    flows_csv, queue_csv = out / f"{name}_flows.csv", out / f"{name}_queue.csv"
    env = dict(
        os.environ,
        IMGCLOUD_LOAD_MIX=mix,
        IMGCLOUD_LOAD_RATES=",".join(f"{r:g}" for r in rates),
        IMGCLOUD_LOAD_STEP_S=f"{step_s:g}",
        IMGCLOUD_LOAD_DRAIN_S=f"{drain_s:g}",
        IMGCLOUD_LOAD_FLOWS_CSV=str(flows_csv),
        IMGCLOUD_LOAD_QUEUE_CSV=str(queue_csv),
        **target.env,
    )
    if poll_max_s is not None:
        env["IMGCLOUD_LOAD_POLL_MAX_S"] = f"{poll_max_s:g}"
    run_context = context.RunContext(target)
    timeout = step_s * len(rates) + drain_s + 300
    done, samples = _run_sampling(command(target.url, prefix), env, timeout)
    machine = run_context.finish()
    if done.returncode != 0 or not flows_csv.is_file():
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-20:])
        raise RuntimeError(f"locust exited {done.returncode} (log {prefix}.log):\n{tail}")
    files = {"flows_csv": str(flows_csv), "queue_csv": str(queue_csv), "html": f"{prefix}.html"}
    flows = knee.read_flows(flows_csv)
    return Recorded(flows, knee.read_queue(queue_csv), samples, machine, files)


def delete_uploads(target: Target, flows: Sequence[knee.Flow]) -> dict[str, int]:
    """Delete what a run uploaded, once it is measured: the lab is shared."""
    ids = sorted({f.image_id for f in flows if f.image_id})
    failed = 0
    context = target.tls
    for image_id in ids:  # one at a time: well under HAProxy's per-client limit
        request = urllib.request.Request(
            f"{target.url.rstrip('/')}/api/images/{image_id}", method="DELETE", headers=target.auth
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context):
                pass
        except urllib.error.HTTPError as error:
            failed += error.code != 404
        except OSError:
            failed += 1
    return {"uploaded": len(ids), "not_deleted": failed}


def run(
    target: Target, rates: Sequence[float], step_s: float, mix: str, out: Path
) -> dict[str, Any]:
    """Run the steps against `target`; the summary (also written as knee.json)."""
    from loadbench.bench import mix_weights, wait_healthy, write_json  # the bench's helpers

    if not rates or any(r <= 0 for r in rates) or list(rates) != sorted(rates):
        raise ValueError(f"rates must be positive and rising, not {list(rates)}")
    if step_s < 10:
        raise ValueError(f"a step must last at least 10 s, not {step_s}")
    wait_healthy(target.url, target.ca)
    out.mkdir(parents=True, exist_ok=True)
    idle, idle_busy = _idle_rates()
    host = host_state_before(idle, idle_busy)
    if "warning" in host:
        print(f"WARNING: {host['warning']}")
    # Before the load, not after: the backlog a saturated step leaves would still be
    # resizing beside it and slow it down (seen: 96 CPU ms per photo after a run, 87 before).
    speed = raw.measure(mix_weights(mix), repeats=3)
    recorded = open_loop(target, rates, step_s, mix, out, "openloop")
    found = knee.steps(rates, step_s, recorded.flows, recorded.queue)
    best = knee.knee(found)
    cpu = step_cpu(found, recorded.queue, recorded.samples, idle, step_s)
    cleanup = delete_uploads(target, recorded.flows)
    from loadbench import plots  # matplotlib only once there is something to draw

    png = plots.knee(found, recorded.queue, step_s, out / "openloop_knee.png")
    split_png = plots.cpu_split(found, cpu, out / "openloop_cpu.png")
    summary: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": {"url": target.url, "source": target.source},
        "load": {"rates_per_s": list(rates), "step_s": step_s, "mix": mix, "open_loop": True},
        "knee_per_s": best.rate if best else None,
        "latency_at_80_percent_of_knee": knee.latency_below_knee(found, best),
        "steps": [s.as_json() | {"cpu": c} for s, c in zip(found, cpu, strict=True)],
        "idle_cpu_s_per_s": idle,
        "host_state_before_run": host,
        "machine_during_run": recorded.machine,
        "cleanup": cleanup,
        "files": recorded.files | {"plot_png": str(png), "cpu_png": str(split_png)},
    }
    summary["ratios"] = ratios(best, cpu[best.index] if best else {}, speed, os.cpu_count() or 1)
    write_json(out / "knee.json", summary)
    return summary


CPU_GOAL = 2.0  # host CPU per image at saturation, in raw resizes
THROUGHPUT_GOAL = 0.6  # knee / (raw images/s per core x host cores)


def ratios(
    best: knee.Step | None, cpu: dict[str, Any], speed: raw.RawSpeed, cores: int
) -> dict[str, Any]:
    """The issue's two ratios at the knee, against the raw resize measured in the run."""
    raw_ms = 1000 / speed.images_per_s_per_core
    host_ms = cpu.get("host_cpu_ms_per_image")
    ceiling = speed.images_per_s_per_core * cores
    return {
        "raw_cpu_ms_per_image": round(raw_ms, 1),
        "host_cpu_ms_per_image_at_knee": host_ms,
        "cpu_per_image_in_raw_resizes": round(host_ms / raw_ms, 2) if host_ms else None,
        "cpu_goal": CPU_GOAL,
        "knee_over_raw_x_cores": round(best.rate / ceiling, 3) if best else None,
        "throughput_goal": THROUGHPUT_GOAL,
        "cores": cores,
        "basis": "raw: imgcloud.imaging.render in one thread, CPU time; host CPU: every "
        "process on this host during the knee step, the load generator included",
    }


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
    host = summary.get("host_state_before_run", {})
    if "warning" in host:
        lines.append(f"WARNING: {host['warning']}")
    elif host:
        lines.append(
            f"quiet host: {host['foreign_percent']} % of its CPU outside the lab and the bench"
        )
    latency = summary.get("latency_at_80_percent_of_knee", {})
    if latency.get("at_rate") is not None:
        lines.append(
            f"p95 upload-to-done at {latency['at_rate']:g}/s (<= 80 % of the knee): "
            f"{latency['p95_ms']:.0f} ms (goal <= {latency['goal_ms']:.0f} ms)"
        )
    elif latency:
        lines.append(f"p95 at 80 % of the knee: {latency.get('why', 'no knee')}")
    at_knee = next((s for s in summary["steps"] if s["rate"] == found), None)
    parts = (at_knee or {}).get("cpu", {}).get("components", {})
    if parts:
        top = sorted(parts.items(), key=lambda kv: -kv[1]["ms_per_image"])
        lines.append(
            "CPU ms per image at the knee (idle part in brackets): "
            + ", ".join(f"{n} {v['ms_per_image']:g} ({v['idle_ms_per_image']:g})" for n, v in top)
        )
    r = summary.get("ratios", {})
    if r.get("cpu_per_image_in_raw_resizes") is not None:
        lines.append(
            f"host CPU per image {r['host_cpu_ms_per_image_at_knee']} ms = "
            f"{r['cpu_per_image_in_raw_resizes']} x the raw resize's {r['raw_cpu_ms_per_image']} "
            f"ms (goal <= {r['cpu_goal']}); knee / (raw per core x {r['cores']} cores) = "
            f"{r['knee_over_raw_x_cores']} (goal >= {r['throughput_goal']})"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{value:>6.0f}" if value is not None else "     —"


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"
