"""The infra lane's API credentials and its own reporting: measured leader election times."""

from __future__ import annotations

from typing import Any

import agents
import pytest

from deploy.credentials import Credentials

ELECTIONS = pytest.StashKey[dict[str, float]]()


@pytest.fixture(scope="session")
def vms(vms: dict[str, Any], credentials: Credentials) -> dict[str, Any]:
    """tests/conftest.py's VMs, with agents.py calling their APIs with the cluster's tokens."""
    agents.authorise(credentials)
    return vms


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
