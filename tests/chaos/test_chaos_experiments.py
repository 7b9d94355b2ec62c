"""The chaos suite: every experiment of the catalogue against the running cluster.

Each case injects one fault under steady traffic through the floating IP, rolls it
back, waits for the cluster to be whole again, follows every acknowledged upload to
`done`, adds its plot and figures to reports/chaos, and asserts its hypothesis.
"""

from __future__ import annotations

import pytest

from chaos.experiments import CATALOGUE
from chaos.runner import run_experiment


@pytest.mark.lab
@pytest.mark.destructive
@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment",
    [pytest.param(e, marks=[pytest.mark.real_vms] if e.real_vms_only else []) for e in CATALOGUE],
    ids=lambda e: e.name,
)
def test_hypothesis_holds(experiment, chaos_target, chaos_report, chaos_log):
    result = run_experiment(experiment, chaos_target, chaos_report.out_dir, log=chaos_log)
    page = chaos_report.add(result)
    assert result.error is None, f"{result.error} (report: {page})"
    broken = [
        f"{v.check}: got {v.got}, want {v.want}" for v in result.verdicts if v.asserted and not v.ok
    ]
    assert not broken, f"{experiment.title}: " + "; ".join(broken) + f" (report: {page})"
