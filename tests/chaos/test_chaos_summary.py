"""The evidence file: summary.json and summary.md from results.json (no cluster)."""

from __future__ import annotations

import json

from chaos import hostinfo, summary
from chaos.__main__ import main

STAT_BEFORE = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
STAT_AFTER = "cpu  250 0 100 1100 50 0 0 0 0 0\ncpu0 125 0 50 550 25 0 0 0 0 0\n"


def _result(name: str, passed: bool, busy: int, total: int, **figures: object) -> dict:
    return {
        "name": name,
        "title": name.title(),
        "hypothesis": f"{name} holds.",
        "passed": passed,
        "error": None,
        "started": 1_796_000_000.0,
        "figures": {
            "ops": 240,
            "failed": 0 if passed else 3,
            "acked": 48,
            "lost": [] if passed else ["img7"],
            "error_window_s": 0.0,
            "split_brain": [] if passed else [[1.0, 2.5, ["vm1", "vm2"]]],
            "duration_s": 61.23,
            "effect": {"rule": "silent", "ok": True, "got": "silent: vm1 12.0 s"},
            "journal_only": [1, 2, 3],
            **figures,
        },
        "verdicts": [
            {
                "check": "nothing acknowledged lost",
                "want": "0 lost",
                "got": "0 of 48",
                "ok": passed,
                "asserted": True,
            },
        ],
        "journal": f"reports/chaos/journals/{name}.jsonl",
        "host": {
            "busy_jiffies": busy,
            "total_jiffies": total,
            "busy_pct": 100 * busy / total,
            "loadavg_start": [3.5, 2.0, 1.0],
            "loadavg_end": [7.25, 3.0, 1.0],
        },
    }


def test_busy_jiffies_come_from_proc_stat_without_idle_and_iowait():
    assert hostinfo.cpu_jiffies(STAT_BEFORE) == (150, 1000)
    before = {"t": 1.0, "cpu": [150, 1000], "loadavg": [1.0, 1.0, 1.0]}
    after = {"t": 2.0, "cpu": list(hostinfo.cpu_jiffies(STAT_AFTER)), "loadavg": [2.0, 1.0, 1.0]}
    between = hostinfo.between(before, after)
    assert (between["busy_jiffies"], between["total_jiffies"], between["busy_pct"]) == (
        200,
        500,
        40.0,
    )
    assert between["cores"] and between["hostname"]


def test_the_summary_says_when_where_at_which_commit_and_every_figure():
    results = [_result("kill-vm", True, 200, 1000), _result("partition-vm", False, 600, 1000)]
    made = summary.build(
        results,
        1_796_000_100.0,
        {"commit": "a" * 40, "dirty": False},
        {"hostname": "box", "cores": 2},
    )
    assert made["written"] == "2026-11-30T00:55:00Z"
    assert made["host"] == {
        "hostname": "box",
        "cores": 2,
        "busy_pct": 40.0,  # 800 of 2000 jiffies, over the experiments' own windows
        "loadavg_1min_min": 3.5,
        "loadavg_1min_max": 7.25,
        "measured_experiments": 2,
    }
    assert made["git"]["commit"] == "a" * 40 and made["passed"] == 1
    kill, part = made["experiments"]
    assert kill["figures"]["lost"] == 0 and part["figures"]["lost"] == 1
    assert part["figures"]["split_brain_s"] == 1.5
    assert "journal_only" not in json.dumps(made)  # figures and verdicts, not the journal
    text = summary.markdown(made)
    assert "Machine: `box`, 2 cores; CPUs 40.0 % busy" in text
    assert "| `partition-vm` | no | yes | 240 | 3 | 48 | 1 |" in text
    assert "- `partition-vm`: nothing acknowledged lost: got 0 of 48 (want 0 lost)" in text


def test_a_nemesis_result_keeps_its_schedule_and_steps():
    nemesis = _result("nemesis", True, 1, 2, schedule={"seed": 5}, steps=[{"step": 1}])
    made = summary.build([nemesis], 0.0, {}, {})
    assert made["experiments"][0]["schedule"] == {"seed": 5}
    assert made["experiments"][0]["steps"] == [{"step": 1}]


def test_python_m_chaos_summary_writes_both_files(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps([_result("kill-vm", True, 1, 4)]))
    assert main(["--out", str(tmp_path), "summary"]) == 0
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["experiments"][0]["name"] == "kill-vm"
    assert written["git"]["commit"]  # this checkout's
    assert (tmp_path / "summary.md").read_text().startswith("# Chaos suite: summary")
    assert str(tmp_path / "summary.md") in capsys.readouterr().out


def test_an_empty_results_file_still_makes_a_summary(tmp_path):
    paths = summary.write(tmp_path)
    assert json.loads(paths[0].read_text())["experiments"] == []
