#!/usr/bin/python3
"""Consul's and Nomad's Raft state, saved to S3 encrypted, and checked for freshness.

    imgcloud-backup [--config F] run          the timer: save when this VM leads Consul,
                                              then check (every VM)
    imgcloud-backup [--config F] save [--reason R]   save now, whichever VM this is
    imgcloud-backup [--config F] check        export the newest backup's time per system
    imgcloud-backup [--config F] list         the backups in S3, newest first (JSON)
    imgcloud-backup [--config F] fetch SYSTEM OUT     the newest, still encrypted

A backup is the agent's own snapshot (Consul GET /v1/snapshot, Nomad GET
/v1/operator/snapshot), encrypted with age to a recipient (a public key: the VMs can
write backups and never read them; the identity stays with the operator), and put
at <prefix><system>/<UTC time, to the ms>-<vm>-<reason>.snap.age. After each save the oldest
beyond `keep` per system are deleted. `check` lists S3 itself, so what it exports
(imgcloud_backup_newest_timestamp_seconds{system}, node exporter's textfile) is what
a restore would find, not what this VM remembers; the BackupTooOld alert reads it.

S3 is spoken with Signature Version 4 from the standard library (path-style URLs), so
any S3-compatible store works without a client package on the VMs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

SYSTEMS = {  # system -> its snapshot path and token header
    "consul": ("/v1/snapshot", "X-Consul-Token"),
    "nomad": ("/v1/operator/snapshot", "X-Nomad-Token"),
}
SUFFIX = ".snap.age"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class BackupError(Exception):
    pass


# -- S3, Signature Version 4 -------------------------------------------------------------


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def s3_request(
    s3: dict[str, str],
    method: str,
    key: str = "",
    query: dict[str, str] | None = None,
    body: bytes = b"",
    now: dt.datetime | None = None,
) -> urllib.request.Request:
    """A signed request for `key` in the bucket (the bucket itself when empty)."""
    endpoint = urllib.parse.urlsplit(s3["endpoint"])
    path = "/" + urllib.parse.quote(f"{s3['bucket']}/{key}" if key else s3["bucket"], safe="/~")
    query = query or {}
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}"
        for k, v in sorted(query.items())
    )
    now = now or dt.datetime.now(dt.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": endpoint.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            path,
            canonical_query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload,
        ]
    )
    scope = f"{day}/{s3['region']}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing = b"AWS4" + s3["secret_key"].encode()
    for part in (day, s3["region"], "s3", "aws4_request"):
        signing = _sign(signing, part)
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={s3['access_key']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    url = f"{endpoint.scheme}://{endpoint.netloc}{path}"
    if canonical_query:
        url += "?" + canonical_query
    return urllib.request.Request(url, data=body or None, headers=headers, method=method)


def _s3(s3: dict[str, str], method: str, key: str = "", **kw: Any) -> bytes:
    request = s3_request(s3, method, key, **kw)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200]
        raise BackupError(f"S3 {method} {key or '/'}: {error.code} {detail!r}") from None
    except (urllib.error.URLError, OSError) as error:
        raise BackupError(f"S3 {method} {key or '/'}: {error}") from None


def parse_listing(xml: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """A ListObjectsV2 page: its objects (key, size) and the next continuation token."""
    root = ET.fromstring(xml)
    objects = [
        {"key": item.findtext(f"{_S3_NS}Key", ""), "size": int(item.findtext(f"{_S3_NS}Size", "0"))}
        for item in root.iter(f"{_S3_NS}Contents")
    ]
    truncated = root.findtext(f"{_S3_NS}IsTruncated") == "true"
    return objects, root.findtext(f"{_S3_NS}NextContinuationToken") if truncated else None


def list_backups(s3: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {"list-type": "2", "prefix": prefix}
        if token:
            query["continuation-token"] = token
        page, token = parse_listing(_s3(s3, "GET", query=query))
        found += page
        if not token:
            break
    backups = [b for b in (describe(o, prefix) for o in found) if b]
    return sorted(backups, key=lambda b: (b["system"], b["taken"]), reverse=True)


# -- naming and retention ----------------------------------------------------------------


def object_key(prefix: str, system: str, taken: dt.datetime, vm: str, reason: str) -> str:
    # To the millisecond: two saves in one second (a deploy's and the timer's) keep
    # their order, which retention goes by.
    stamp = taken.strftime("%Y%m%dT%H%M%S.") + f"{taken.microsecond // 1000:03d}Z"
    return f"{prefix}{system}/{stamp}-{vm}-{reason}{SUFFIX}"


def describe(obj: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """What a backup's key says (system, time, VM, reason); None for anything else."""
    rest = obj["key"][len(prefix) :]
    system, _, name = rest.partition("/")
    if system not in SYSTEMS or not name.endswith(SUFFIX):
        return None
    stamp, _, tail = name[: -len(SUFFIX)].partition("-")
    vm, _, reason = tail.rpartition("-")
    try:
        taken = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return {**obj, "system": system, "taken": taken.timestamp(), "vm": vm, "reason": reason}


def beyond_retention(backups: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """Per system, every backup but the newest `keep` (never the newest one)."""
    keep = max(keep, 1)
    old: list[dict[str, Any]] = []
    for system in SYSTEMS:
        mine = sorted((b for b in backups if b["system"] == system), key=lambda b: -b["taken"])
        old += mine[keep:]
    return old


def newest(backups: list[dict[str, Any]]) -> dict[str, float]:
    found: dict[str, float] = {}
    for b in backups:
        found[b["system"]] = max(found.get(b["system"], 0.0), b["taken"])
    return found


def textfile(newest_by_system: dict[str, float], checked: float) -> str:
    lines = [
        "# HELP imgcloud_backup_newest_timestamp_seconds When the newest backup in S3 was taken.",
        "# TYPE imgcloud_backup_newest_timestamp_seconds gauge",
        *(
            f'imgcloud_backup_newest_timestamp_seconds{{system="{s}"}} {newest_by_system[s]:.0f}'
            for s in SYSTEMS
            if s in newest_by_system
        ),
        "# HELP imgcloud_backup_checked_timestamp_seconds When this VM last listed the backups.",
        "# TYPE imgcloud_backup_checked_timestamp_seconds gauge",
        f"imgcloud_backup_checked_timestamp_seconds {checked:.0f}",
    ]
    return "\n".join(lines) + "\n"


# -- the agents ----------------------------------------------------------------------------


def _agent(config: dict[str, Any], system: str, path: str) -> urllib.request.Request:
    agent = config[system]
    with open(agent["token_file"]) as src:
        token = src.read().strip()
    return urllib.request.Request(f"{agent['api']}{path}", headers={SYSTEMS[system][1]: token})


def _context(config: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config["ca"])


def leads_consul(config: dict[str, Any]) -> bool:
    request = _agent(config, "consul", "/v1/operator/raft/configuration?stale")
    with urllib.request.urlopen(request, timeout=10, context=_context(config)) as answer:
        servers = json.load(answer)["Servers"]
    return any(s["Leader"] and s["Node"] == config["vm"] for s in servers)


def snapshot(config: dict[str, Any], system: str, out: str) -> None:
    request = _agent(config, system, SYSTEMS[system][0])
    try:
        with (
            urllib.request.urlopen(request, timeout=120, context=_context(config)) as answer,
            open(out, "wb") as dst,
        ):
            while chunk := answer.read(1 << 16):
                dst.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        raise BackupError(f"{system} snapshot: {error}") from None
    if os.path.getsize(out) == 0:
        raise BackupError(f"{system} snapshot: empty")


# -- the commands --------------------------------------------------------------------------


def save(config: dict[str, Any], reason: str) -> list[str]:
    s3, prefix = config["s3"], config["prefix"]
    taken = dt.datetime.now(dt.UTC)
    keys: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imgcloud-backup.") as work:
        for system in SYSTEMS:
            plain, sealed = f"{work}/{system}.snap", f"{work}/{system}.snap.age"
            snapshot(config, system, plain)
            done = subprocess.run(
                ["age", "--encrypt", "--recipient", config["recipient"], "-o", sealed, plain],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise BackupError(f"age: {done.stderr.strip()}")
            os.unlink(plain)
            key = object_key(prefix, system, taken, config["vm"], reason)
            with open(sealed, "rb") as src:
                _s3(s3, "PUT", key, body=src.read())
            keys.append(key)
    for old in beyond_retention(list_backups(s3, prefix), int(config["keep"])):
        _s3(s3, "DELETE", old["key"])
    return keys


def check(config: dict[str, Any]) -> dict[str, float]:
    found = newest(list_backups(config["s3"], config["prefix"]))
    out = config["textfile"]
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(out), delete=False) as tmp:
        tmp.write(textfile(found, dt.datetime.now(dt.UTC).timestamp()))
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, out)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgcloud-backup", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="/etc/imgcloud/backup.json")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run")
    save_p = sub.add_parser("save")
    save_p.add_argument("--reason", default="manual")
    sub.add_parser("check")
    sub.add_parser("list")
    fetch_p = sub.add_parser("fetch")
    fetch_p.add_argument("system", choices=sorted(SYSTEMS))
    fetch_p.add_argument("out")
    args = parser.parse_args(argv)
    with open(args.config) as src:
        config = json.load(src)
    config.setdefault("vm", socket.gethostname())
    try:
        if args.command == "run":
            if leads_consul(config):
                print("saved", " ".join(save(config, "timer")))
            print("newest", json.dumps(check(config)))
        elif args.command == "save":
            print("saved", " ".join(save(config, args.reason)))
            check(config)
        elif args.command == "check":
            print(json.dumps(check(config)))
        elif args.command == "list":
            print(json.dumps(list_backups(config["s3"], config["prefix"]), indent=1))
        else:
            listed = list_backups(config["s3"], config["prefix"])
            mine = [b for b in listed if b["system"] == args.system]
            if not mine:
                raise BackupError(f"no {args.system} backup under {config['prefix']}")
            with open(args.out, "wb") as dst:
                dst.write(_s3(config["s3"], "GET", mine[0]["key"]))
            print(mine[0]["key"])
    except (BackupError, urllib.error.URLError, OSError) as error:
        print(f"imgcloud-backup: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
