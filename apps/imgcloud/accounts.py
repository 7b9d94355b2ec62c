"""Team members, their API tokens and their signed-in sessions, kept in S3.

S3 is the system of record for the images, and the accounts sit beside them for the
same reason: the provider's store outlives any two (or three) VMs, every backend on
every VM reads the same objects with strong read-after-write consistency, and a
backup of the bucket is a backup of both. Raft (Consul's KV) would make accounts
depend on a quorum of VMs the images do not need.

    accounts/users/<name>.json      name, role, argon2id hash of the password
    accounts/tokens/<id>.json       owner, scopes, SHA-256 of the secret, label
    accounts/sessions/<id>.json     owner, scopes, SHA-256 of the secret, CSRF token, expiry

A credential is ``<id>`` plus a secret only its holder has. What S3 keeps of the secret
is a SHA-256: the secret is 256 random bits, so a fast hash is as safe as a slow one,
and a lookup costs one GET. Passwords are chosen by people, so theirs is argon2id.
Nothing is cached: a revoked token or a removed member is refused by the next
request on every VM.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imgcloud.errors import Refusal
from imgcloud.storage import Storage

Role = Literal["member", "admin"]
ROLES: tuple[Role, ...] = ("member", "admin")
# What a credential lets its holder do. Every credential may list its owner's images.
SCOPES = ("upload", "delete", "admin")
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "member": frozenset({"upload", "delete"}),
    "admin": frozenset(SCOPES),
}
TOKEN_PREFIX = "imgc_"
SESSION_SECONDS = 12 * 3600
USERS = "accounts/users/"
TOKENS = "accounts/tokens/"
SESSIONS = "accounts/sessions/"
# The admin token made at deploy: not in S3 (the backends get its hash in their
# settings), so it works before any account exists and is rotated by a deploy.
DEPLOY_TOKEN_ID = "deploy"
DEPLOY_USER = "deploy"

_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
_ID = re.compile(r"^[0-9a-f]{16}$")
_MIN_PASSWORD = 10
# OWASP's first argon2id setting: 19 MiB, two passes. Slow for a guesser, about 30 ms
# for a sign-in on one core.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class AccountError(Refusal):
    """A request about accounts that cannot be done: the message says why."""

    def __init__(self, message: str, reason: str, status: int = 400) -> None:
        super().__init__(status, reason, message)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password: str  # argon2id hash
    created: float

    def public(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "created": self.created}


@dataclass(frozen=True)
class Credential:
    """An API token or a session: who holds it, what it may do, and its secret's hash."""

    id: str
    user: str
    role: Role
    scopes: tuple[str, ...]
    secret_sha256: str
    created: float
    label: str = ""
    expires: float | None = None  # sessions only
    csrf: str = ""  # sessions only: what the page sends back with each write

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Credential:
        data = json.loads(raw)
        data["scopes"] = tuple(data["scopes"])
        return cls(**data)

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "scopes": list(self.scopes),
            "created": self.created,
            "label": self.label,
        }


@dataclass(frozen=True)
class Principal:
    """Who sent the request, and with what."""

    user: str
    role: Role
    scopes: frozenset[str]
    via: Literal["token", "session"]
    credential_id: str
    csrf: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


@dataclass(frozen=True)
class Issued:
    """A credential just made, with the secret its holder is given once."""

    credential: Credential
    secret: str = field(repr=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_name(name: str) -> str:
    if name == DEPLOY_USER:
        raise AccountError(f"{name!r} is the deploy token's name", "bad_name")
    if not _NAME.fullmatch(name):
        raise AccountError(
            "a name is 2 to 32 lowercase letters, digits, '.', '_' or '-', starting with a letter",
            "bad_name",
        )
    return name


def check_password(password: str) -> str:
    if len(password) < _MIN_PASSWORD:
        raise AccountError(f"a password has at least {_MIN_PASSWORD} characters", "weak_password")
    if len(password) > 1024:
        raise AccountError("a password has at most 1024 characters", "bad_password")
    return password


def check_scopes(scopes: Iterable[str], role: str) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise AccountError(
            f"scopes are one or more of {', '.join(SCOPES)}; got {', '.join(wanted) or 'none'}",
            "bad_scope",
        )
    beyond = [s for s in wanted if s not in ROLE_SCOPES[role]]
    if beyond:
        raise AccountError(
            f"a {role} cannot hold {', '.join(beyond)}", "scope_beyond_role", status=403
        )
    return wanted


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


# Run on a decoy when the name is unknown, so a wrong name costs what a wrong password
# does and the time of an answer does not tell which names exist.
_DECOY = _HASHER.hash(secrets.token_urlsafe(16))


def split_token(token: str) -> tuple[str, str] | None:
    """``imgc_<id>_<secret>`` as (id, secret); None for anything else."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
    return (token_id, secret) if sep and _ID.fullmatch(token_id) and secret else None


def split_session(cookie: str) -> tuple[str, str] | None:
    session_id, sep, secret = cookie.partition(".")
    return (session_id, secret) if sep and _ID.fullmatch(session_id) and secret else None


def _secret_matches(credential: Credential, secret: str) -> bool:
    return hmac.compare_digest(credential.secret_sha256, sha256(secret))


class Accounts:
    """Users, tokens and sessions in the service's bucket."""

    def __init__(self, storage: Storage, deploy_token_sha256: str = "") -> None:
        self.storage = storage
        self.deploy_token_sha256 = deploy_token_sha256

    # Users.

    async def add_user(self, name: str, password: str, role: str) -> User:
        check_name(name)
        check_password(password)
        if role not in ROLES:
            raise AccountError(f"a role is one of {', '.join(ROLES)}", "bad_role")
        hashed = await asyncio.to_thread(hash_password, password)
        user = User(name, role, hashed, time.time())
        body = json.dumps(asdict(user)).encode()
        if not await self.storage.put_if_absent(f"{USERS}{name}.json", body, "application/json"):
            raise AccountError(f"a member named {name!r} exists", "user_exists", status=409)
        return user

    async def user(self, name: str) -> User | None:
        if not _NAME.fullmatch(name):
            return None
        stored = await self.storage.get(f"{USERS}{name}.json")
        return User(**json.loads(stored.data)) if stored else None

    async def users(self) -> list[User]:
        keys = await self._keys(USERS)
        found = await asyncio.gather(*(self.storage.get(key) for key in keys))
        return [User(**json.loads(item.data)) for item in found if item is not None]

    async def remove_user(self, name: str) -> int:
        """Remove a member and every token and session they hold; how many credentials went."""
        if await self.user(name) is None:
            raise AccountError(f"no member named {name!r}", "no_such_user", status=404)
        # The user first: a credential read after this finds no owner and is refused.
        await self.storage.delete([f"{USERS}{name}.json"])
        held = [
            c
            for c in await self._credentials(TOKENS) + await self._credentials(SESSIONS)
            if c.user == name
        ]
        await self.storage.delete(
            [f"{TOKENS if c.expires is None else SESSIONS}{c.id}.json" for c in held]
        )
        return len(held)

    async def sign_in(self, name: str, password: str) -> tuple[User, Issued] | None:
        """A new session for ``name`` when the password is theirs, else None."""
        user = await self.user(name)
        hashed = user.password if user else _DECOY
        matches = await asyncio.to_thread(password_matches, hashed, password)
        if user is None or not matches:
            return None
        issued = self._issue(user.name, user.role, ROLE_SCOPES[user.role], "")
        session = Credential(
            **{
                **asdict(issued.credential),
                "expires": time.time() + SESSION_SECONDS,
                "csrf": secrets.token_urlsafe(32),
            }
        )
        await self.storage.put(
            f"{SESSIONS}{session.id}.json", session.to_json(), "application/json"
        )
        return user, Issued(session, f"{session.id}.{issued.secret}")

    async def sign_out(self, session_id: str) -> None:
        await self.storage.delete([f"{SESSIONS}{session_id}.json"])

    # Tokens.

    async def create_token(self, name: str, scopes: Iterable[str], label: str = "") -> Issued:
        user = await self.user(name)
        if user is None:
            raise AccountError(f"no member named {name!r}", "no_such_user", status=404)
        issued = self._issue(user.name, user.role, check_scopes(scopes, user.role), label[:100])
        token = issued.credential
        await self.storage.put(f"{TOKENS}{token.id}.json", token.to_json(), "application/json")
        return Issued(token, f"{TOKEN_PREFIX}{token.id}_{issued.secret}")

    async def tokens(self, user: str | None = None) -> list[Credential]:
        return [t for t in await self._credentials(TOKENS) if user is None or t.user == user]

    async def token(self, token_id: str) -> Credential | None:
        if not _ID.fullmatch(token_id):
            return None
        stored = await self.storage.get(f"{TOKENS}{token_id}.json")
        return Credential.from_json(stored.data) if stored else None

    async def revoke(self, token_id: str) -> None:
        await self.storage.delete([f"{TOKENS}{token_id}.json"])

    # Who is asking.

    async def bearer(self, token: str) -> Principal | None:
        """The principal a bearer token names, or None when it names no one (any more)."""
        if self.deploy_token_sha256 and hmac.compare_digest(
            sha256(token), self.deploy_token_sha256
        ):
            return Principal(DEPLOY_USER, "admin", ROLE_SCOPES["admin"], "token", DEPLOY_TOKEN_ID)
        parts = split_token(token)
        if parts is None:
            return None
        credential = await self.token(parts[0])
        if credential is None or not _secret_matches(credential, parts[1]):
            return None
        return await self._principal(credential, "token")

    async def session(self, cookie: str) -> Principal | None:
        parts = split_session(cookie)
        if parts is None:
            return None
        stored = await self.storage.get(f"{SESSIONS}{parts[0]}.json")
        if stored is None:
            return None
        credential = Credential.from_json(stored.data)
        if not _secret_matches(credential, parts[1]):
            return None
        if credential.expires is not None and credential.expires < time.time():
            await self.sign_out(credential.id)
            return None
        return await self._principal(credential, "session")

    async def _principal(
        self, credential: Credential, via: Literal["token", "session"]
    ) -> Principal | None:
        # The owner is read again: a member removed a moment ago holds nothing, even if
        # the clean-up of their credentials has not reached this one yet.
        user = await self.user(credential.user)
        if user is None:
            return None
        scopes = frozenset(credential.scopes) & ROLE_SCOPES[user.role]
        return Principal(
            user.name,
            user.role,
            scopes,
            via,
            credential.id,
            credential.csrf,
        )

    def _issue(self, user: str, role: str, scopes: Iterable[str], label: str) -> Issued:
        secret = secrets.token_urlsafe(32)
        credential = Credential(
            id=secrets.token_hex(8),
            user=user,
            role=role,  # type: ignore[arg-type]
            scopes=tuple(s for s in SCOPES if s in set(scopes)),
            secret_sha256=sha256(secret),
            created=time.time(),
            label=label,
        )
        return Issued(credential, secret)

    async def _credentials(self, prefix: str) -> list[Credential]:
        keys = await self._keys(prefix)
        found = await asyncio.gather(*(self.storage.get(key) for key in keys))
        return [Credential.from_json(item.data) for item in found if item is not None]

    async def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        after = ""
        while True:
            page, more = await self.storage.list_keys(prefix, start_after=after, limit=1000)
            keys += page
            if not more or not page:
                return keys
            after = page[-1]
