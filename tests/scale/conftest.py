"""Fixtures of the scale lane: the lab grown to five VMs under traffic (and the
steady client and observers that watch it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.target import Target, TargetError, lab_target


@pytest.fixture
def lab_before(pytestconfig: pytest.Config, inventory: Path) -> Target:
    """The lab as it is before the test resizes it (tests/conftest.py deploys it)."""
    if pytestconfig.getoption("inventory"):
        pytest.fail("growing the cluster is tested on the lab: real VMs are added by inventory")
    try:
        return lab_target()
    except TargetError as exc:
        pytest.fail(f"no lab to grow: {exc}")
