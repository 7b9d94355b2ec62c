"""``imgcloud backend | worker | frontend | dev | reprocess | users | tokens``: one package."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from quart import Quart

from imgcloud import config

COMMANDS = {
    "backend": "the HTTP API (uploads, listing, bytes, delete)",
    "worker": "the resize worker (RabbitMQ consumer) with its health server",
    "frontend": "the web page (and, with IMGCLOUD_BACKEND_URL, a proxy to the API)",
    "dev": "everything on loopback: RabbitMQ, MinIO, backend, worker, frontend",
    "reprocess": "queue the done images that lack a configured variant or format",
    "users": "team members: add, list, remove (through the API, with an admin token)",
    "tokens": "API tokens: create, list, revoke (through the API, with an admin token)",
}
# Commands with their own arguments, parsed by their modules.
_OWN_PARSERS = {"reprocess", "users", "tokens"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imgcloud",
        description="Image hosting and resizing. Settings come from IMGCLOUD_* variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        commands.add_parser(
            name, help=help_text, description=help_text, add_help=name not in _OWN_PARSERS
        )
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reprocess"]:
        from imgcloud import reprocess

        return reprocess.main(argv[1:])
    if argv[:1] in (["users"], ["tokens"]):
        from imgcloud import admin

        return admin.main(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("botocore", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "dev":
        from imgcloud import dev

        return dev.main()
    try:
        settings = config.load(args.command)
    except config.ConfigError as exc:
        print(f"imgcloud {args.command}: {exc}", file=sys.stderr)
        return 2
    from imgcloud import serve

    serve.run(_app(args.command, settings), settings.bind)
    return 0


def _app(command: str, settings: config.Settings) -> Quart:
    if command == "backend":
        from imgcloud.backend import create_app
    elif command == "worker":
        from imgcloud.worker import create_app
    else:
        from imgcloud.frontend import create_app
    return create_app(settings)


if __name__ == "__main__":
    sys.exit(main())
