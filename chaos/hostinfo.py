"""The controller's machine over a run: cores, load average and how busy its CPUs were.

The lab shares the host's cores with whatever else runs there, so every figure the
suite quotes says how loaded the machine was while it was measured. Busy % comes from
/proc/stat (all CPUs: everything but idle and iowait, over the jiffies elapsed).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
PROC_LOADAVG = Path("/proc/loadavg")


def cpu_jiffies(text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from /proc/stat's first `cpu` line."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already in user and nice
            return total - idle, total
    return None


def loadavg(text: str) -> list[float]:
    return [float(v) for v in text.split()[:3]]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def snapshot() -> dict[str, Any]:
    """One look at the machine now."""
    jiffies = cpu_jiffies(_read(PROC_STAT))
    return {
        "t": time.time(),
        "cpu": list(jiffies) if jiffies else None,
        "loadavg": loadavg(_read(PROC_LOADAVG)) if _read(PROC_LOADAVG) else None,
    }


def between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The machine from `before` to `after`: busy %, load averages at both ends."""
    out: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cores": os.cpu_count(),
        "t0": before.get("t"),
        "t1": after.get("t"),
        "loadavg_start": before.get("loadavg"),
        "loadavg_end": after.get("loadavg"),
        "busy_jiffies": None,
        "total_jiffies": None,
        "busy_pct": None,
    }
    if before.get("cpu") and after.get("cpu"):
        busy = after["cpu"][0] - before["cpu"][0]
        total = after["cpu"][1] - before["cpu"][1]
        if total > 0:
            out.update(
                busy_jiffies=busy, total_jiffies=total, busy_pct=round(100 * busy / total, 1)
            )
    return out
