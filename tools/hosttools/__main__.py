"""``python -m hosttools LANE ...``: install what the tox lanes need from the host."""

from __future__ import annotations

import argparse
import sys

from hosttools import LANES, MissingTool, ensure


def _say(message: str) -> None:
    print(f"hosttools: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hosttools", description=__doc__)
    parser.add_argument("lanes", nargs="*", help=f"default: all of {', '.join(LANES)}")
    args = parser.parse_args(argv)
    try:
        # One apt-get run for every lane asked for: `update` is the slow part.
        ensure([need for lane in args.lanes or LANES for need in LANES.get(lane, ())], _say)
    except MissingTool as exc:
        _say(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
