"""S3 access: boto3's client, run in threads so the event loop never blocks on it.

Every method raises :class:`StorageUnavailable` when S3 cannot be reached or answers
with a server error, so callers can tell "try again later" from "not there" (None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from imgcloud.config import Settings

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
# A conditional write that lost: the condition no longer holds (412; NoSuchKey for an
# If-Match on a key that went away), or another conditional write to the key is in
# progress (AWS answers 409 then; try again).
_CONDITION_FAILED = {"412", "PreconditionFailed", "NoSuchKey", "409", "ConditionalRequestConflict"}


class StorageUnavailable(Exception):
    """S3 did not answer, or answered with a server-side error."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    etag: str


def client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint, with short timeouts."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name=settings.s3_region,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=3,
            read_timeout=15,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=32,
        ),
    )


class Storage:
    """The bucket the service keeps everything in, with async methods."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self._client = client(settings)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call(
            "put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Create ``key`` only if no object has it (``If-None-Match: *``); False if one does.

        S3 decides atomically, so of two writers racing for one key exactly one wins.
        """
        return await self._put_when(key, data, content_type, IfNoneMatch="*")

    async def put_if_unchanged(self, key: str, data: bytes, content_type: str, etag: str) -> bool:
        """Overwrite ``key`` only while it still has ``etag`` (``If-Match``); else False."""
        return await self._put_when(key, data, content_type, IfMatch=etag)

    async def _put_when(self, key: str, data: bytes, content_type: str, **condition: str) -> bool:
        def write() -> bool:
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
                )
            except ClientError as exc:
                if _code(exc) in _CONDITION_FAILED:
                    return False
                raise
            return True

        return await self._run(write)

    async def get(self, key: str) -> StoredObject | None:
        def read() -> StoredObject | None:
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
            return StoredObject(
                answer["Body"].read(), answer.get("ContentType", ""), answer.get("ETag", "")
            )

        return await self._run(read)

    async def exists(self, key: str) -> bool:
        def head() -> bool:
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise
            return True

        return await self._run(head)

    async def delete(self, keys: Iterable[str]) -> None:
        objects = [{"Key": key} for key in keys]
        for start in range(0, len(objects), 1000):
            await self._call(
                "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": objects[start : start + 1000], "Quiet": True},
            )

    async def list_keys(
        self, prefix: str, *, start_after: str = "", limit: int = 1000
    ) -> tuple[list[str], bool]:
        """Up to ``limit`` keys under ``prefix`` in lexicographic order, and whether more follow."""
        answer = await self._call(
            "list_objects_v2",
            Bucket=self.bucket,
            Prefix=prefix,
            StartAfter=start_after or prefix,
            MaxKeys=limit,
        )
        keys = [item["Key"] for item in answer.get("Contents", [])]
        return keys, bool(answer.get("IsTruncated"))

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        await self._call("head_bucket", Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        try:
            await self.ping()
        except StorageUnavailable:
            await self._call("create_bucket", Bucket=self.bucket)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await self._run(lambda: getattr(self._client, method)(**kwargs))

    async def _run(self, function: Any) -> Any:
        try:
            return await asyncio.to_thread(function)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 {describe(exc)}") from exc


def describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return str(exc)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
