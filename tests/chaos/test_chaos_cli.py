"""`python -m chaos` without a cluster: the catalogue, the report, bad names."""

from __future__ import annotations

import pytest

from chaos.__main__ import main
from chaos.experiments import CATALOGUE


def test_list_prints_every_experiment(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [e.name for e in CATALOGUE]


def test_report_rebuilds_an_empty_report(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "report"]) == 0
    assert "0 of 0 experiments hold" in (tmp_path / "index.html").read_text()


def test_an_unknown_inventory_is_a_usage_error(tmp_path, capsys):
    assert main(["--inventory", str(tmp_path / "none.yml"), "run"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_rate_that_is_not_positive_is_a_usage_error(capsys):
    for rate in ("0", "-3", "fast"):
        with pytest.raises(SystemExit) as exited:
            main(["run", "--rate", rate, "kill-vm"])
        assert exited.value.code == 2
        assert "not a positive number" in capsys.readouterr().err
