"""The infra lane's own reporting: measured leader election times."""

from __future__ import annotations

import pytest

ELECTIONS = pytest.StashKey[dict[str, float]]()


@pytest.fixture
def election_times(pytestconfig: pytest.Config) -> dict[str, float]:
    """Agent name -> seconds to a new leader; printed at the end of the run."""
    return pytestconfig.stash.setdefault(ELECTIONS, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    times = terminalreporter.config.stash.get(ELECTIONS, {})
    if times:
        terminalreporter.section("leader election")
        for agent, seconds in times.items():
            terminalreporter.write_line(
                f"{agent}: new leader {seconds:.2f} s after the old one stopped"
            )
