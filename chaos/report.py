"""The chaos report: `results.json` for machines, `index.html` for people.

The HTML is one page: a summary table of every experiment's figures, then per
experiment its timeline plot and its verdicts. It is rebuilt from `results.json`
after each experiment, so an interrupted suite still leaves a readable report.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

COLUMNS = (
    ("failed", "failed ops", "{}"),
    ("error_window_s", "longest error window", "{:.2f} s"),
    ("max_latency_s", "max latency", "{:.2f} s"),
    ("consul_election_s", "new Consul leader, all survivors", "{:.2f} s"),
    ("nomad_election_s", "new Nomad leader, all survivors", "{:.2f} s"),
    ("vip_move_s", "VIP moved", "{:.2f} s"),
    ("split_brain", "two VIP holders", "{}"),
    ("resize_recovery_s", "resized again", "{:.2f} s"),
    ("heal_s", "whole again", "{:.1f} s"),
    ("consul_leader_changes", "Consul leader changes", "{}"),
    ("nomad_leader_changes", "Nomad leader changes", "{}"),
)

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.miss { color: #9a6700; } img { max-width: 100%; border: 1px solid #ddd; }
section { margin: 2.5rem 0; } code { background: #f4f4f4; padding: 0 .2rem; }
"""


def _cell(figures: dict[str, Any], key: str, fmt: str) -> str:
    value = figures.get(key)
    if value is None:
        return "—"
    if key == "split_brain":  # [start, end, VMs] stretches: the longest, or none
        return f"{max(b - a for a, b, _ in value):.2f} s" if value else "never"
    return fmt.format(value)


def _status(result: dict[str, Any]) -> str:
    if result.get("error"):
        return '<span class="fail">error</span>'
    return (
        '<span class="pass">holds</span>' if result["passed"] else '<span class="fail">fails</span>'
    )


def _summary(results: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = []
    for r in results:
        f = r.get("figures", {})
        ops = f"{_cell(f, 'failed', '{}')} / {_cell(f, 'ops', '{}')}"
        cells = [ops] + [_cell(f, k, fmt) for k, _, fmt in COLUMNS[1:]]
        lost = f"{len(f.get('lost', []))} / {f.get('acked', '—')}"
        took = (f.get("effect") or {}).get("ok")
        effect = "—" if took is None else ("yes" if took else "<span class='fail'>no</span>")
        rows.append(
            f"<tr><td><a href='#{r['name']}'>{html.escape(r['name'])}</a></td>"
            f"<td>{effect}</td>"
            f"<td class='text'>{', '.join(f.get('vms_hit', [])) or '—'}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + f"<td>{lost}</td><td>{_status(r)}</td></tr>"
        )
    return (
        "<table><tr><th>experiment</th><th>fault took effect</th><th>VMs hit</th>"
        + head.replace("<th>failed ops</th>", "<th>failed / all ops</th>")
        + "<th>lost / acknowledged</th><th>hypothesis</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _verdicts(result: dict[str, Any]) -> str:
    rows = []
    for v in result.get("verdicts", []):
        mark = "pass" if v["ok"] else ("fail" if v["asserted"] else "miss")
        word = {"pass": "holds", "fail": "fails", "miss": "missed (goal)"}[mark]
        rows.append(
            f"<tr><td>{html.escape(v['check'])}</td><td>{html.escape(v['want'])}</td>"
            f"<td class='text'>{html.escape(v['got'])}</td>"
            f"<td class='{mark}'>{word}</td></tr>"
        )
    return (
        "<table><tr><th>check</th><th>want</th><th>got</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _section(result: dict[str, Any], out_dir: Path) -> str:
    f = result.get("figures", {})
    parts = [
        f"<section id='{result['name']}'><h2>{html.escape(result['title'])} "
        f"<small>({html.escape(result['name'])})</small></h2>"
    ]
    parts.append(
        f"<p>Fault: {html.escape(result['fault'])}; VMs hit: "
        f"{', '.join(f.get('vms_hit', [])) or '—'}; fault lasted "
        f"{_cell(f, 'fault_s', '{:.1f} s')}; operations by kind "
        f"<code>{html.escape(json.dumps(f.get('ops_by_kind', {})))}</code>.</p>"
    )
    if result.get("hypothesis"):
        parts.append(f"<p><b>Hypothesis:</b> {html.escape(result['hypothesis'])}</p>")
    if result.get("error"):
        parts.append(f"<p class='fail'>Experiment error: {html.escape(result['error'])}</p>")
    if result.get("plot"):
        rel = Path(result["plot"]).resolve().relative_to(out_dir.resolve())
        parts.append(f"<p><img src='{rel}' alt='timeline of {result['name']}'></p>")
    parts.append(_verdicts(result))
    if f.get("failed_by_reason"):
        reasons = ", ".join(f"{html.escape(k)} x {n}" for k, n in f["failed_by_reason"].items())
        parts.append(f"<p>Failures by reason: {reasons}.</p>")
    return "".join(parts) + "</section>"


def write_report(results: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write results.json and index.html into `out_dir`; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    held = sum(1 for r in results if r.get("passed"))
    page = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>imgcloud chaos report</title><style>{_STYLE}</style></head><body>",
        "<h1>imgcloud chaos report</h1>",
        f"<p>{held} of {len(results)} experiments hold. Written "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Each experiment runs a steady "
        "client through the floating IP (uploads, status polls, variant reads), injects one "
        "fault, rolls it back, waits until the cluster is whole again, then follows every "
        "upload to its end and reads back what was stored. Every experiment first shows its "
        "fault took effect. In the plots, red shading is the fault, amber the wait until the "
        "cluster is whole again, grey the fencing delay; red crosses are failed operations, "
        "hatched red bars two VMs holding the floating IP (split brain).</p>",
        _summary(results),
        *(_section(r, out_dir) for r in results),
        "</body></html>",
    ]
    path = out_dir / "index.html"
    path.write_text("\n".join(page))
    return path


def load_results(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / "results.json"
    return json.loads(path.read_text()) if path.is_file() else []


def merge(results: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the experiment's previous result (same name) or append it."""
    return [r for r in results if r.get("name") != new["name"]] + [new]
