"""The journal, the plot and the report, from a hand-made history (no cluster)."""

from __future__ import annotations

import json

import pytest
from chaos_fakes import VMS, vip_failover_history

from chaos import checkers, report
from chaos.experiments import Expect, by_name
from chaos.journal import Journal, read_history
from chaos.plot import plot_experiment
from chaos.runner import rejudge, subtitle


def journal_of(history):
    """A journal holding every op, sample and event of a recorded history."""
    journal = Journal()
    for op in history.ops:
        journal.op(op)
    for sample in history.samples:
        journal.sample(sample)
    for event in history.events:
        journal.event(event.t, event.name, **event.detail)
    return journal


def test_a_journal_reads_back_as_written(tmp_path):
    history = vip_failover_history()
    journal = journal_of(history)
    journal.write(tmp_path / "run.jsonl")
    assert read_history(tmp_path / "run.jsonl") == history


def test_a_broken_journal_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "op"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: .*missing"):
        read_history(path)


def test_the_plot_is_a_png(tmp_path):
    history = vip_failover_history()
    fig = checkers.figures(history, VMS)
    path = plot_experiment(history, VMS, "VIP holder killed", subtitle(fig), tmp_path / "x.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000  # two panels with data, not an empty canvas


def test_the_report_has_the_summary_every_section_and_the_results(tmp_path):
    history = vip_failover_history()
    fig = checkers.figures(history, VMS)
    plot = plot_experiment(history, VMS, "t", "s", tmp_path / "kill-vip-holder.png")
    verdicts = checkers.verdicts(Expect(max_error_window_s=2.0), fig, [])
    one = {
        "name": "kill-vip-holder",
        "title": "VIP holder killed",
        "fault": "kill vm1",
        "passed": all(v.ok for v in verdicts),
        "error": None,
        "figures": fig,
        "verdicts": [checkers.as_dict(v) for v in verdicts],
        "plot": str(plot),
    }
    two = {**one, "name": "kill-vm", "passed": False, "error": "RuntimeError: boom"}
    results = report.merge(report.merge([], one), two)
    results = report.merge(results, {**one, "title": "again"})  # replaces, keeps one per name
    page = report.write_report(results, tmp_path).read_text()
    assert [r["name"] for r in report.load_results(tmp_path)] == ["kill-vm", "kill-vip-holder"]
    assert "1 of 2 experiments hold" in page
    assert "<img src='kill-vip-holder.png'" in page
    assert "RuntimeError: boom" in page
    assert "0.45 s" in page  # the longest error window, in the summary
    assert json.loads((tmp_path / "results.json").read_text())[1]["title"] == "again"


def test_a_recorded_run_is_judged_again_from_its_journal(tmp_path):
    history = vip_failover_history()
    journal = journal_of(history)
    path = tmp_path / "journals" / "kill-vip-holder.jsonl"
    journal.write(path)
    previous = {"fault": "kill vm1", "journal": str(path), "heal_problems": []}
    result = rejudge(previous, by_name("kill-vip-holder"))
    # judged by today's catalogue: at most one failed operation; this run had three
    assert [(v.check, v.got) for v in result.verdicts if not v.ok] == [("failed operations", "3")]
    assert result.figures["error_window_s"] == pytest.approx(0.45)
    assert (tmp_path / "kill-vip-holder.png").is_file()


def test_the_report_shows_the_hypothesis_the_effect_and_the_split_brain(tmp_path):
    history = vip_failover_history()
    history.samples += [
        s.__class__(s.t, "vm3", "vm2", "vm2", True)
        for s in history.samples
        if s.node == "vm2" and s.t > history.samples[0].t + 15
    ]
    fig = checkers.figures(history, VMS, "silent")
    assert fig["split_brain"] and fig["effect"]["ok"]
    plot = plot_experiment(history, VMS, "t", subtitle(fig), tmp_path / "split.png")
    verdicts = checkers.verdicts(Expect(), fig, [])
    one = {
        "name": "partition-vip-holder",
        "title": "holder cut off",
        "hypothesis": "Never two holders after the fencing delay.",
        "fault": "cut vm1 off",
        "passed": False,
        "error": None,
        "figures": fig,
        "verdicts": [checkers.as_dict(v) for v in verdicts],
        "plot": str(plot),
    }
    page = report.write_report([one], tmp_path).read_text()
    assert "<b>Hypothesis:</b> Never two holders after the fencing delay." in page
    assert "vm2, vm3 held the floating IP together for" in page
    assert "<th>fault took effect</th>" in page and "<td>yes</td>" in page
