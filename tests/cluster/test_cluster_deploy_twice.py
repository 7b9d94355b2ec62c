"""A second deployment of the same inventory and version changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_playbooks import run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_deploying_again_changes_nothing(inventory: Path, cluster_names: list[str]) -> None:
    result = run_playbook(inventory, "site.yml")
    assert result.returncode == 0, result.output[-3000:]
    recap = result.recap()
    changed = {host: counts["changed"] for host, counts in recap.items() if counts["changed"]}
    assert set(cluster_names) <= set(recap), result.output[-2000:]
    assert changed == {}, (
        f"a second run changed something: {changed}\n"
        + "\n".join(result.changed_tasks())
        + f"\n{result.output[-2000:]}"
    )
