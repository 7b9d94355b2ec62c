"""``python -m gobuild [NAME ...]``: print the path of each binary, building as needed."""

from __future__ import annotations

import argparse
import subprocess
import sys

from gobuild import ensure, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gobuild", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(names())}")
    args = parser.parse_args(argv)
    try:
        for name in args.names or names():
            print(f"{name}\t{ensure(name)}")
    except (KeyError, RuntimeError) as exc:
        print(f"gobuild: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"gobuild: go build failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
