"""`python -m chaos run | list | health | report | rejudge | nemesis | summary` — the chaos
suite outside pytest."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from chaos import health, nemesis, report, summary
from chaos.client import ClientConfig
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
    run.add_argument(
        "--rate",
        type=_positive,
        default=ClientConfig.rate,
        help="the steady client's operations per second (default %(default)s); "
        "a higher rate makes a rare case (a request in flight at the fault) likely",
    )
    sub.add_parser("list", help="the experiment catalogue")
    sub.add_parser("health", help="is the cluster whole? (exit 1 with the reasons if not)")
    sub.add_parser("report", help="rebuild index.html from results.json")
    sub.add_parser("rejudge", help="recompute figures, verdicts and plots from the journals")
    sub.add_parser("summary", help="write summary.json and summary.md from results.json")
    nem = sub.add_parser("nemesis", help="a seeded random schedule of faults as one history")
    nem.add_argument("--seed", type=int, help="the schedule's seed (default: a random one)")
    nem.add_argument("--minutes", type=float, default=3.0, help="how long (default 3)")
    nem.add_argument("--inventory", "-i", dest="nemesis_inventory", help="as above")
    nem.add_argument("--dry-run", action="store_true", help="print the schedule only")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.command == "list":
        for experiment in CATALOGUE:
            print(f"{experiment.name:24} {experiment.title}")
        return 0
    if args.command == "rejudge":
        results = [_rejudged(r).to_json() for r in report.load_results(out)]
        print(report.write_report(results, out))
        print(*summary.write(out, results), sep="\n")
        return 0
    if args.command == "summary":
        print(*summary.write(out), sep="\n")
        return 0
    if args.command == "nemesis":
        return _nemesis(args, out)
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
        result = run_experiment(experiment, target, out, client_config=ClientConfig(rate=args.rate))
        failed += not result.passed
        results = report.merge(results, result.to_json())
        print(f"report: {report.write_report(results, out)}")
    print(*summary.write(out, results), sep="\n")
    return 1 if failed else 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _rejudged(previous: dict[str, Any]) -> Any:
    if previous["name"] == nemesis.NAME:
        return nemesis.rejudge(previous)
    return rejudge(previous, by_name(previous["name"]))


def _nemesis(args: argparse.Namespace, out: Path) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    try:
        target = _target(args.nemesis_inventory or args.inventory)
    except TargetError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    schedule = nemesis.plan(seed, args.minutes, excluded=nemesis.excluded_for(target))
    if args.dry_run:
        print("\n".join(schedule.lines()))
        return 0
    result = nemesis.run_nemesis(schedule, target, out)
    results = report.merge(report.load_results(out), result.to_json())
    print(f"report: {report.write_report(results, out)}")
    print(*summary.write(out, results), sep="\n")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
