"""Deploying again changes nothing: every task of the roles is idempotent."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from deploy import CLUSTER_PLAYBOOK, ROOT
from deploy.ansible import environment, recap, tool

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_second_run_of_the_cluster_playbook_changes_nothing(
    cluster_inventory: Path, cluster_names: list[str]
) -> None:
    # The fixture deployed already (or found the cluster deployed): this is a re-run.
    started = time.monotonic()
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", str(cluster_inventory), str(CLUSTER_PLAYBOOK)],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"second run of {CLUSTER_PLAYBOOK.name}: {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    counts = recap(proc.stdout)
    assert sorted(counts) == sorted(cluster_names)
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"]}
    assert changed == {}, proc.stdout[-5000:]
