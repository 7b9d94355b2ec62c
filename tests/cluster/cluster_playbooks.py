"""Running playbooks from the tests, with the output kept for the checks."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy import ROOT
from deploy.ansible import environment, tool

_RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
_TASK = re.compile(r"^TASK \[(?P<task>.*)\]", re.MULTILINE)
_CHANGED = re.compile(r"^changed: \[(?P<host>[^\]]+)\]", re.MULTILINE)


@dataclass(frozen=True)
class PlaybookResult:
    returncode: int
    output: str
    seconds: float

    def recap(self) -> dict[str, dict[str, int]]:
        """Host -> {ok, changed, unreachable, failed} from the PLAY RECAP."""
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in _RECAP.finditer(self.output)
        }

    def changed_tasks(self) -> list[str]:
        """ "host: task" for every task that reported `changed`, in the order they ran:
        what a failed idempotence check names, wherever it is in a long output."""
        tasks = [(m.start(), m["task"]) for m in _TASK.finditer(self.output)]
        named = []
        for change in _CHANGED.finditer(self.output):
            before = [task for start, task in tasks if start < change.start()]
            named.append(f"{change['host']}: {before[-1] if before else '?'}")
        return named


def run_playbook(inventory: Path, playbook: str, *args: str) -> PlaybookResult:
    """ansible-playbook with the repository's settings; output captured for the checks."""
    started = time.monotonic()
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook), *args],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    return PlaybookResult(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
