"""Command line: `python -m lab up | down | status [--json] [--name NAME] [--vms N]`."""

from __future__ import annotations

import argparse
import json
import sys

from lab.engine import LabError
from lab.lock import locked
from lab.topology import DEFAULT_NAME, MAX_VMS, lab_name, lock_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="imgcloud's lab: a bastion, VMs and the provider's services in Docker.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--name",
        help=f"lab name (default: $IMGCLOUD_LAB_NAME or {DEFAULT_NAME}); "
        "containers, network and state folder carry it",
    )
    parser.add_argument(
        "--vms", type=int, help=f"number of VMs for `up` (1..{MAX_VMS}; default 3, or as before)"
    )
    parser.add_argument("--json", action="store_true", help="`status`: print the status JSON")
    return parser


def _run(args: argparse.Namespace) -> int:
    name = lab_name(args.name)
    if args.command == "up":
        from lab.status import live_status
        from lab.summary import render
        from lab.up import up

        with locked(lock_path(name), f"`up` or `down` of the lab {name!r}"):
            _state, actions, seconds = up(name, args.vms)
        status = live_status(name)
        print(render(status, actions, f"lab {name!r} is up ({seconds:.1f} s)"))
        return 0
    if args.command == "down":
        from lab.down import down

        with locked(lock_path(name), f"`up` or `down` of the lab {name!r}"):
            removed = down(name)
        print(f"lab {name!r} is down" + ("" if removed else " (there was nothing to remove)"))
        return 0
    from lab.status import live_status
    from lab.summary import render

    status = live_status(name)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0  # printed; `running` in the document says whether all is up
    else:
        title = f"lab {name!r}: " + ("running" if status["running"] else "NOT all running")
        print(render(status, status["machines"], title))
    return 0 if status["running"] else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.vms is not None and args.command != "up":
        print("python -m lab: --vms only applies to `up`", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
