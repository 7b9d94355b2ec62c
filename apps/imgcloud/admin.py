"""``imgcloud users add|list|remove`` and ``imgcloud tokens create|list|revoke``.

The operator's commands for accounts. They speak to the service's API, the way any
script does, so they need no S3 credentials and work from wherever the floating IP
is reachable: ``--url`` (or IMGCLOUD_URL; `imgcloud dev`'s by default) and an admin
token in IMGCLOUD_TOKEN or the file ``--token-file`` names (the deploy writes one:
``python -m lab status --json`` names it as ``secrets.api_token``).

    imgcloud users add alice [--admin] [--password-stdin]
    imgcloud users list
    imgcloud users remove alice
    imgcloud tokens create --user alice [--scope upload --scope delete] [--label ci]
    imgcloud tokens list [--user alice]
    imgcloud tokens revoke 0123456789abcdef
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from imgcloud.accounts import SCOPES

DEFAULT_URL = "http://127.0.0.1:8080"


class CommandError(Exception):
    """What to tell the operator, and the exit status."""


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=os.environ.get("IMGCLOUD_URL", DEFAULT_URL), help="the service's URL"
    )
    common.add_argument("--token-file", type=Path, help="a file holding an admin token")
    common.add_argument(
        "--ca", default=os.environ.get("IMGCLOUD_CA"), help="CA certificate to verify HTTPS with"
    )
    common.add_argument("--json", action="store_true", help="print the API's JSON")
    top = argparse.ArgumentParser(prog="imgcloud", description="team members and API tokens")
    groups = top.add_subparsers(dest="group", required=True)

    users = groups.add_parser("users", help="team members").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", parents=[common], help="add a member (asks for a password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin: manages members and tokens")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    users.add_parser("list", parents=[common], help="the members")
    remove = users.add_parser(
        "remove", parents=[common], help="remove a member and every token they hold"
    )
    remove.add_argument("name")

    tokens = groups.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", parents=[common], help="make a token (shown once)")
    create.add_argument("--user", required=True, help="whose token it is")
    create.add_argument(
        "--scope", action="append", choices=SCOPES, help="upload, delete, admin (repeatable)"
    )
    create.add_argument("--label", default="", help="what the token is for")
    listing = tokens.add_parser("list", parents=[common], help="tokens (never their secrets)")
    listing.add_argument("--user")
    revoke = tokens.add_parser("revoke", parents=[common], help="revoke a token at once")
    revoke.add_argument("id")
    return top


def token_of(args: argparse.Namespace) -> str:
    if args.token_file:
        return args.token_file.read_text().strip()
    token = os.environ.get("IMGCLOUD_TOKEN", "").strip()
    if not token:
        raise CommandError("give an admin token: IMGCLOUD_TOKEN, or --token-file PATH")
    return token


def call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    verify: str | bool = args.ca or True
    headers = {"Authorization": f"Bearer {token_of(args)}"}
    try:
        with httpx.Client(base_url=args.url, headers=headers, verify=verify, timeout=30) as http:
            answer = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise CommandError(f"{args.url} did not answer: {exc}") from exc
    try:
        body = answer.json()
    except ValueError:
        body = {"error": answer.text[:200]}
    if answer.status_code >= 400:
        said = body.get("error", answer.reason_phrase)
        raise CommandError(f"{method} {path}: {answer.status_code} {said}")
    return body


def password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The API's answer, and the line a person reads."""
    if args.group == "users":
        if args.action == "add":
            role = "admin" if args.admin else "member"
            body = {"name": args.name, "password": password(args), "role": role}
            made = call(args, "POST", "/api/users", json=body)
            return made, f"added {made['name']} ({made['role']})"
        if args.action == "list":
            found = call(args, "GET", "/api/users")
            return found, "\n".join(f"{u['name']}\t{u['role']}" for u in found["users"])
        gone = call(args, "DELETE", f"/api/users/{args.name}")
        return gone, f"removed {args.name}; {gone['credentials_revoked']} credentials revoked"
    if args.action == "create":
        body = {
            "user": args.user,
            "scopes": args.scope or ["upload", "delete"],
            "label": args.label,
        }
        made = call(args, "POST", "/api/tokens", json=body)
        return made, made["token"]  # the secret, once: for a script to read
    if args.action == "list":
        params = {"user": args.user} if args.user else {}
        found = call(args, "GET", "/api/tokens", params=params)
        lines = [
            f"{t['id']}\t{t['user']}\t{','.join(t['scopes'])}\t{t.get('label', '')}"
            for t in found["tokens"]
        ]
        return found, "\n".join(lines)
    gone = call(args, "DELETE", f"/api/tokens/{args.id}")
    return gone, f"revoked {args.id}"


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        answer, line = run(args)
    except (CommandError, OSError) as exc:
        print(f"imgcloud {args.group} {args.action}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else line)
    return 0
