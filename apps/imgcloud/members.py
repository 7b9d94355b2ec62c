"""The accounts API: sign in and out, members (admins only) and API tokens.

POST   /api/session          {"name", "password"} -> session cookie, CSRF token
GET    /api/session          who this credential is
DELETE /api/session          sign out
GET    /api/users            members (admin)
POST   /api/users            {"name", "password", "role"} (admin)
DELETE /api/users/<name>     the member and every credential they hold (admin)
GET    /api/tokens           tokens: one's own; every member's for an admin
POST   /api/tokens           {"scopes", "label", "user"} -> the token, shown once
DELETE /api/tokens/<id>      revoke: one's own; any for an admin
"""

from __future__ import annotations

import math
from typing import Any

from quart import Blueprint, Response, jsonify, request

from imgcloud.accounts import (
    DEPLOY_TOKEN_ID,
    DEPLOY_USER,
    SESSION_SECONDS,
    AccountError,
    Principal,
)
from imgcloud.auth import COOKIE, AttemptLimiter, Refused, client_address, principal, signed_in
from imgcloud.context import current
from imgcloud.errors import problem

members = Blueprint("members", __name__)
attempts = AttemptLimiter()


async def json_body() -> dict[str, Any]:
    """The request's JSON object; a form post from another site is refused (login CSRF)."""
    if not request.is_json:
        raise AccountError("send a JSON object (Content-Type: application/json)", "not_json", 415)
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AccountError("send a JSON object", "bad_json")
    return body


def text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise AccountError(f"{name!r} is a string and is required", f"bad_{name}")
    return value


@members.post("/api/session")
async def sign_in() -> tuple[Response, int]:
    body = await json_body()
    name, password = text(body, "name"), text(body, "password")
    address = client_address()
    wait = attempts.wait(name, address)
    if wait > 0:
        answer, status = problem(
            429, f"too many failed sign-ins; try again in {math.ceil(wait)} s", "too_many_attempts"
        )
        answer.headers["Retry-After"] = str(math.ceil(wait))
        return answer, status
    signed = await current().accounts.sign_in(name, password)
    if signed is None:
        attempts.failed(name, address)
        return problem(401, "the name or the password is wrong", "bad_credentials")
    attempts.succeeded(name, address)
    user, issued = signed
    answer = jsonify(user=user.name, role=user.role, csrf=issued.credential.csrf)
    answer.set_cookie(
        COOKIE,
        issued.secret,
        max_age=SESSION_SECONDS,
        secure=True,
        httponly=True,
        samesite="Strict",
        path="/",
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer, 200


@members.get("/api/session")
async def whoami() -> tuple[Response, int]:
    who = await signed_in()
    answer = jsonify(
        user=who.user,
        role=who.role,
        scopes=sorted(who.scopes),
        via=who.via,
        **({"csrf": who.csrf} if who.via == "session" else {}),
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer, 200


@members.delete("/api/session")
async def sign_out() -> tuple[Response, int]:
    who = await principal()  # a session, with its CSRF token checked
    if who is not None and who.via == "session":
        await current().accounts.sign_out(who.credential_id)
    answer = jsonify(status="signed out")
    answer.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return answer, 200


@members.get("/api/users")
async def list_users() -> tuple[Response, int]:
    await signed_in("admin")
    users = await current().accounts.users()
    return jsonify(users=[u.public() for u in sorted(users, key=lambda u: u.name)]), 200


@members.post("/api/users")
async def add_user() -> tuple[Response, int]:
    await signed_in("admin")
    body = await json_body()
    user = await current().accounts.add_user(
        text(body, "name"), text(body, "password"), text(body, "role", "member")
    )
    return jsonify(user.public()), 201


@members.delete("/api/users/<name>")
async def remove_user(name: str) -> tuple[Response, int]:
    await signed_in("admin")
    revoked = await current().accounts.remove_user(name)
    return jsonify(name=name, status="removed", credentials_revoked=revoked), 200


@members.get("/api/tokens")
async def list_tokens() -> tuple[Response, int]:
    who = await signed_in()
    wanted = request.args.get("user") or None
    if not who.is_admin:
        wanted = who.user
    tokens = await current().accounts.tokens(wanted)
    listed = [t.public() for t in sorted(tokens, key=lambda t: t.created)]
    if who.is_admin and wanted in (None, DEPLOY_USER):
        made_at_deploy = {"id": DEPLOY_TOKEN_ID, "user": DEPLOY_USER, "scopes": ["admin"]}
        listed.insert(0, {**made_at_deploy, "label": "made at deploy; a deploy replaces it"})
    return jsonify(tokens=listed), 200


@members.post("/api/tokens")
async def create_token() -> tuple[Response, int]:
    who = await signed_in()
    body = await json_body()
    owner = text(body, "user", who.user)
    mine(who, owner)
    scopes = body.get("scopes", ["upload", "delete"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise AccountError("'scopes' is a list of names", "bad_scope")
    issued = await current().accounts.create_token(owner, scopes, text(body, "label", ""))
    answer = jsonify(token=issued.secret, **issued.credential.public())
    answer.headers["Cache-Control"] = "no-store"
    return answer, 201


@members.delete("/api/tokens/<token_id>")
async def revoke_token(token_id: str) -> tuple[Response, int]:
    who = await signed_in()
    if token_id == DEPLOY_TOKEN_ID:
        raise AccountError(
            "the deploy's admin token is replaced by deploying a new one", "deploy_token", 409
        )
    accounts = current().accounts
    token = await accounts.token(token_id)
    if token is None:
        raise AccountError(f"no token {token_id!r}", "no_such_token", 404)
    mine(who, token.user)
    await accounts.revoke(token_id)
    return jsonify(id=token_id, status="revoked"), 200


def mine(who: Principal, owner: str) -> None:
    """Members act on their own credentials only; admins on anyone's."""
    if owner != who.user and not who.is_admin:
        raise Refused(403, "only an admin acts on another member's tokens", "forbidden")
