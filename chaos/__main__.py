"""`python -m chaos run | list | health | report` — the chaos suite outside pytest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chaos import health, report
from chaos.experiments import CATALOGUE, by_name
from chaos.remote import executor_for
from chaos.runner import rejudge, run_experiment
from chaos.target import REPO_ROOT, Target, TargetError, from_inventory, lab_target

DEFAULT_OUT = REPO_ROOT / "reports" / "chaos"


def _target(inventory: str | None) -> Target:
    return from_inventory(Path(inventory)) if inventory else lab_target()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument(
        "--inventory",
        "-i",
        help="a real cluster's Ansible inventory "
        "(default: the lab, from `python -m lab status --json`)",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="report folder")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run experiments (all by default) and write the report")
    run.add_argument("names", nargs="*", help="experiment names (see `list`)")
    sub.add_parser("list", help="the experiment catalogue")
    sub.add_parser("health", help="is the cluster whole? (exit 1 with the reasons if not)")
    sub.add_parser("report", help="rebuild index.html from results.json")
    sub.add_parser("rejudge", help="recompute figures, verdicts and plots from the journals")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.command == "list":
        for experiment in CATALOGUE:
            print(f"{experiment.name:18} {experiment.title}")
        return 0
    if args.command == "rejudge":
        results = [rejudge(r, by_name(r["name"])).to_json() for r in report.load_results(out)]
        print(report.write_report(results, out))
        return 0
    if args.command == "report":
        print(report.write_report(report.load_results(out), out))
        return 0
    try:
        target = _target(args.inventory)
        if args.command == "health":
            problems = health.evaluate(health.probe(executor_for(target), target), target)
            problems += health.service_problems(target)
            print("\n".join(problems) or "whole")
            return 1 if problems else 0
        chosen = [by_name(n) for n in args.names] if args.names else list(CATALOGUE)
    except (TargetError, KeyError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    results = report.load_results(out)
    failed = 0
    for experiment in chosen:
        result = run_experiment(experiment, target, out)
        failed += not result.passed
        results = report.merge(results, result.to_json())
        print(f"report: {report.write_report(results, out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
