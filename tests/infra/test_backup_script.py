"""The backup command's own logic (roles/backup/files/imgcloud-backup.py), without a
cluster: its keys, retention, S3 listing, freshness file and request signing.
tests/infra/test_backup.py runs it against the lab's Consul, Nomad and S3."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "roles" / "backup" / "files" / "imgcloud-backup.py"
UTC = dt.UTC


@pytest.fixture(scope="module")
def backup() -> ModuleType:
    spec = importlib.util.spec_from_file_location("imgcloud_backup", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _made(backup: ModuleType, system: str, hour: int, vm: str = "vm-1") -> dict:
    taken = dt.datetime(2026, 12, 8, hour, 0, 5, 1500, tzinfo=UTC)
    key = backup.object_key("backups/", system, taken, vm, "timer")
    described = backup.describe({"key": key, "size": 10}, "backups/")
    assert described is not None
    return described


def test_a_key_says_what_it_holds(backup: ModuleType) -> None:
    b = _made(backup, "nomad", 7, vm="vm-2")
    assert b["key"] == "backups/nomad/20261208T070005.001Z-vm-2-timer.snap.age"
    assert (b["system"], b["vm"], b["reason"]) == ("nomad", "vm-2", "timer")
    assert b["taken"] == dt.datetime(2026, 12, 8, 7, 0, 5, 1000, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "key",
    [
        "backups/vault/20261208T070005.000Z-vm1-timer.snap.age",  # not a system of ours
        "backups/consul/20261208T070005.000Z-vm1-timer.snap",  # not encrypted
        "backups/consul/yesterday-vm1-timer.snap.age",  # no time
        "backups/consul.snap.age",
    ],
)
def test_anything_else_under_the_prefix_is_not_a_backup(backup: ModuleType, key: str) -> None:
    assert backup.describe({"key": key, "size": 1}, "backups/") is None


def test_retention_keeps_the_newest_of_each_system(backup: ModuleType) -> None:
    made = [_made(backup, s, h) for s in ("consul", "nomad") for h in range(5)]
    made += [_made(backup, "nomad", 9)]
    old = backup.beyond_retention(made, 2)
    kept = [b for b in made if b not in old]
    hours = sorted((b["system"], dt.datetime.fromtimestamp(b["taken"], UTC).hour) for b in kept)
    assert hours == [("consul", 3), ("consul", 4), ("nomad", 4), ("nomad", 9)]
    assert backup.beyond_retention(made[:1], 0) == []  # never the only one


def test_the_listing_is_read_page_by_page(backup: ModuleType) -> None:
    page = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>imgcloud</Name><IsTruncated>true</IsTruncated>
  <NextContinuationToken>abc</NextContinuationToken>
  <Contents><Key>backups/consul/20261208T070005Z-vm1-timer.snap.age</Key><Size>120</Size></Contents>
  <Contents><Key>backups/nomad/20261208T070005Z-vm1-timer.snap.age</Key><Size>340</Size></Contents>
</ListBucketResult>"""
    objects, token = backup.parse_listing(page)
    assert [o["size"] for o in objects] == [120, 340] and token == "abc"
    last, token = backup.parse_listing(page.replace(b">true<", b">false<"))
    assert token is None and len(last) == 2


def test_the_freshness_file_has_each_system_found(backup: ModuleType) -> None:
    text = backup.textfile({"consul": 1765177205.0}, 1765177300.0)
    assert 'imgcloud_backup_newest_timestamp_seconds{system="consul"} 1765177205' in text
    assert 'system="nomad"' not in text  # absent: the alert fires for it
    assert "imgcloud_backup_checked_timestamp_seconds 1765177300" in text


def test_a_request_is_signed_over_what_it_sends(backup: ModuleType) -> None:
    s3 = {
        "endpoint": "http://10.0.0.3:9000",
        "bucket": "imgcloud",
        "region": "us-east-1",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "secret",
    }
    now = dt.datetime(2026, 12, 8, 7, 0, 0, tzinfo=UTC)
    put = backup.s3_request(s3, "PUT", "backups/consul/x y.snap.age", body=b"abc", now=now)
    assert put.full_url == "http://10.0.0.3:9000/imgcloud/backups/consul/x%20y.snap.age"
    auth = put.get_header("Authorization")
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261208/us-east-1/s3/")
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in auth
    other = backup.s3_request(s3, "PUT", "backups/consul/x y.snap.age", body=b"abd", now=now)
    assert other.get_header("Authorization") != auth  # the body is signed
    listing = backup.s3_request(s3, "GET", query={"prefix": "backups/", "list-type": "2"}, now=now)
    assert listing.full_url == "http://10.0.0.3:9000/imgcloud?list-type=2&prefix=backups%2F"
