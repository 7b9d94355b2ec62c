"""The seeded nemesis against the running cluster: a random schedule of the catalogue's
faults, one at a time, under one steady client, judged as one history.

`--nemesis-seed S` replays a schedule (the seed is printed, and in the report);
`--nemesis-minutes M` sets its length (3 by default, CI's short run).
"""

from __future__ import annotations

import random

import pytest

from chaos import nemesis


@pytest.mark.lab
@pytest.mark.destructive
@pytest.mark.slow
def test_the_cluster_survives_a_seeded_nemesis(request, chaos_target, chaos_report, chaos_log):
    seed = request.config.getoption("nemesis_seed")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    minutes = request.config.getoption("nemesis_minutes")
    schedule = nemesis.plan(seed, minutes, excluded=nemesis.excluded_for(chaos_target))
    result = nemesis.run_nemesis(schedule, chaos_target, chaos_report.out_dir, log=chaos_log)
    page = chaos_report.add(result)
    assert result.error is None, f"{result.error} (report: {page})"
    broken = [
        f"{v.check}: got {v.got}, want {v.want}" for v in result.verdicts if v.asserted and not v.ok
    ]
    replay = f"replay with --nemesis-seed {seed} --nemesis-minutes {minutes:g}"
    assert not broken, "; ".join(broken) + f" ({replay}; report: {page})"
