"""Idempotency keys: an upload sent again with the same key gets the same answer, one image.

A client that lost the answer to an upload (the VM under it died) sends it again with the
same ``Idempotency-Key``. Image ids carry the upload time, so the retry cannot work the id
out from the key: the first attempt leaves a record in S3,

    idempotency/<sha256 of the key>   {"id", "sha256" of the bytes, "created"}

created with a conditional write (``If-None-Match: *``). S3 decides atomically, so of two
attempts in flight at once exactly one record is written and both attempts use its id.
A record older than the TTL no longer counts: the next upload with that key replaces it
(``If-Match`` on the old record's ETag, so again one of two racers wins).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass

from imgcloud.storage import Storage, StorageUnavailable

HEADER = "Idempotency-Key"
PREFIX = "idempotency/"
MAX_KEY_LENGTH = 200
DEFAULT_TTL = 24 * 3600
_KEY = re.compile(rf"^[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}$")
_CLAIM_ATTEMPTS = 5


class BadKey(ValueError):
    """The header's value is not 1 to 200 printable ASCII characters."""


def check_key(value: str) -> str:
    """The key itself, or :class:`BadKey` saying what is wrong with it."""
    if not _KEY.match(value):
        raise BadKey(
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            f"(got {len(value)} characters{'' if value.isascii() else ', not all ASCII'})"
        )
    return value


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_key(key: str) -> str:
    """Where the record of ``key`` lives: hashed, so any printable key makes a safe S3 key."""
    return f"{PREFIX}{digest(key.encode('ascii'))}"


@dataclass(frozen=True)
class Record:
    """What the first accepted attempt with a key stored: the id it gave, the bytes' hash."""

    id: str
    sha256: str
    created: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Record:
        data = json.loads(raw)
        return cls(id=str(data["id"]), sha256=str(data["sha256"]), created=float(data["created"]))

    def expired(self, now: float, ttl: float) -> bool:
        return now - self.created > ttl


class Ledger:
    """The records of idempotency keys, in the service's bucket."""

    def __init__(self, storage: Storage, ttl: float = DEFAULT_TTL) -> None:
        self.storage = storage
        self.ttl = ttl

    async def claim(self, key: str, proposed: Record) -> Record:
        """The record in force for ``key``: ``proposed`` when this attempt is the first
        (or the key's old record has expired), else the record an earlier attempt made."""
        name = record_key(key)
        for attempt in range(_CLAIM_ATTEMPTS):
            if await self.storage.put_if_absent(name, proposed.to_json(), "application/json"):
                return proposed
            stored = await self.storage.get(name)
            if stored is None:
                # Another conditional write is still in progress (AWS's 409): wait for it.
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            record = _parse(stored.data)
            if record is not None and not record.expired(time.time(), self.ttl):
                return record
            if await self.storage.put_if_unchanged(
                name, proposed.to_json(), "application/json", stored.etag
            ):
                return proposed
        raise StorageUnavailable(f"S3 kept changing the record of the {HEADER}; try again")


def _parse(raw: bytes) -> Record | None:
    """A stored record, or None when it cannot be read (then it is replaced like an old one)."""
    try:
        return Record.from_json(raw)
    except (ValueError, TypeError, KeyError):
        return None
