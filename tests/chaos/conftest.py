"""Fixtures of the chaos lane: the target cluster and the report every experiment adds to.

The target is the shared lab (`python -m lab status --json`) unless the run is given
`--inventory PATH` (an option of tests/conftest.py), then the VMs of that inventory
reached over SSH through its bastion. `--nemesis-seed` and `--nemesis-minutes` shape the
nemesis run (test_chaos_nemesis.py); a lane that ran an experiment ends by writing
reports/chaos/summary.json and summary.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chaos import report, summary
from chaos.runner import Result
from chaos.target import REPO_ROOT, Target, TargetError, from_inventory, lab_target

NEMESIS_MINUTES = 3.0  # CI's short run; an hour against real VMs: --nemesis-minutes 60


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos nemesis")
    group.addoption(
        "--nemesis-seed",
        type=int,
        default=None,
        help="seed of the nemesis schedule (default: a random one, printed)",
    )
    group.addoption(
        "--nemesis-minutes",
        type=float,
        default=NEMESIS_MINUTES,
        help=f"how long the nemesis runs (default {NEMESIS_MINUTES:g})",
    )


@pytest.fixture(scope="session")
def chaos_target(request: pytest.FixtureRequest, inventory: Path) -> Target:
    """The cluster under attack, deployed and ready (tests/conftest.py's `inventory`):
    the lab through Docker by default, real VMs over SSH with --inventory."""
    given = request.config.getoption("inventory")
    try:
        return from_inventory(inventory) if given else lab_target()
    except TargetError as exc:
        pytest.fail(f"no cluster to test: {exc}")


@dataclass
class ChaosReport:
    out_dir: Path
    results: list[dict[str, Any]] = field(default_factory=list)
    added: int = 0  # results this session added

    def add(self, result: Result) -> Path:
        self.results = report.merge(self.results, result.to_json())
        self.added += 1
        return report.write_report(self.results, self.out_dir)


@pytest.fixture(scope="session")
def chaos_log(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Progress lines on the terminal while an experiment runs (pytest captures the rest)."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def log(line: str) -> None:
        print(line)  # kept with the test's output, shown when it fails
        if terminal is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                terminal.write_line(line)

    return log


@pytest.fixture(scope="session")
def chaos_report() -> Iterator[ChaosReport]:
    out = Path(os.environ.get("IMGCLOUD_CHAOS_REPORT", REPO_ROOT / "reports" / "chaos"))
    kept = ChaosReport(out, report.load_results(out))
    yield kept
    if kept.added:  # the evidence file of this run (docs quote it, not the journals)
        summary.write(out, kept.results)
