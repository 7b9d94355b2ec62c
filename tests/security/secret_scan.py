"""Finding a cluster's secrets where they must not be: git history and image layers.

What counts as a secret (the cluster's real values, private keys, AWS key ids), where
the values come from (the secrets folder, secret hostvars, the lab's state), and the
two scans. tests/security/test_secrets.py runs them against the cluster under test.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from deploy import ROOT
from deploy.credentials import secrets_dir

# A shorter value could turn up by chance; every generated secret is longer.
MIN_SECRET = 8
# Key material between the armour lines: prose that only names the header is no key.
PRIVATE_KEY = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]{40,}?"
    rb"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
)
AWS_KEY_ID = re.compile(rb"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")
# AWS's documented sample id (AKIAIOSFODNN7EXAMPLE and kin) is in SDK docs everywhere.
AWS_PLACEHOLDER = re.compile(rb"EXAMPLE$")
# Hostvars whose value is a secret (templates aside: they name another hostvar).
SECRET_VAR = re.compile(r"^vault_|secret|password|passwd|token|encrypt_key|access_key")
# ... unless they name where a secret is kept.
NOT_SECRET_VAR = ("_dir", "_file", "_path", "_src")
# Image settings that must come at run time, never baked in (see the Dockerfile).
CREDENTIAL_SETTING = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|^IMGCLOUD_(S3|AMQP)_", re.I
)
# Paths that hold secrets by name; none may ever be committed.
SECRET_PATH = re.compile(
    r"(^|/)(\.lab|secrets)/|(^|/)id_(rsa|ecdsa|ed25519)$|-key\.pem$|\.token$|\.vault-pass$"
    r"|(^|/)vault\.yml$"
)
ANSIBLE_VAULT = b"$ANSIBLE_VAULT;"
VAULT_EXAMPLE = ROOT / "inventories/example/group_vars/all/vault.yml.example"
# A value as random as a key, a token or a password: no placeholder looks like this.
SECRET_LIKE = re.compile(r"[A-Za-z0-9+/_-]{16,}")
# Image files that hold well-known test keys by design, where only our own secrets are
# searched: GnuTLS's power-on self tests (lib/crypto-selftests-pk.c) carry RSA, DSA, EC
# and GOST keys in the shared library.
KEY_VECTORS = re.compile(r"(^|/)usr/lib/[^/]+/libgnutls\.so[.0-9]*$")
GZIP_MAGIC = b"\x1f\x8b"
# The uid the Dockerfile runs the services as.
IMAGE_UID = "10001"


@dataclass(frozen=True)
class Secret:
    """A value that must appear nowhere; ``origin`` says where it comes from."""

    origin: str
    value: bytes = field(repr=False)


@dataclass
class Finder:
    """Finds the known secret values and the shapes of keys in bytes."""

    secrets: list[Secret]

    def find(self, data: bytes, *, shapes: bool = True) -> list[str]:
        """What is in ``data``: known secrets, and with ``shapes`` keys of any origin."""
        found = [secret.origin for secret in self.secrets if secret.value in data]
        if not shapes:
            return found
        if PRIVATE_KEY.search(data):
            found.append("a private key")
        found += [
            "an AWS access key id"
            for match in AWS_KEY_ID.finditer(data)
            if not AWS_PLACEHOLDER.search(match.group())
        ]
        return sorted(set(found))


# -- The secrets of the cluster under test ------------------------------------------


def pem_needles(origin: str, text: bytes) -> Iterator[Secret]:
    """The body lines of each private key in ``text``: any one of them is a leak.

    The first line of a body is mostly format header (the same for every OpenSSH
    ed25519 key, say) and the last may be short padding, so both are left out.
    """
    for block in PRIVATE_KEY.finditer(text):
        lines = [line.strip() for line in block.group().splitlines()[1:-1]]
        body = [line for line in lines if line and b":" not in line]
        for line in body[1:-1] or body:
            yield Secret(origin, line)


def file_secrets(origin: str, path: Path) -> Iterator[Secret]:
    """A secret file: its private keys' bodies, or its whole text; nothing if public."""
    text = path.read_bytes()
    if b"PRIVATE KEY" in text:
        yield from pem_needles(origin, text)
    elif b"-----BEGIN CERTIFICATE-----" not in text:
        yield Secret(origin, text.strip())


def folder_secrets(folder: Path) -> Iterator[Secret]:
    """The tokens and gossip keys at the top of the folder, and every private key in it
    (``tls/`` also holds certificates and the OpenSSL settings they were made with)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.parent == folder or b"PRIVATE KEY" in path.read_bytes():
            yield from file_secrets(f"secrets folder file {path.relative_to(folder)}", path)


def hostvar_secrets(variables: Mapping[str, Any]) -> Iterator[Secret]:
    for name, value in variables.items():
        if not isinstance(value, str) or "{{" in value:
            continue
        if SECRET_VAR.search(name) and not name.endswith(NOT_SECRET_VAR):
            yield Secret(f"hostvar {name}", value.strip().encode())
        if "://" in value:
            password = url_password(value)
            if password:
                yield Secret(f"password in hostvar {name}", password.encode())
    key = variables.get("ansible_ssh_private_key_file")
    if isinstance(key, str) and Path(key).expanduser().is_file():
        yield from file_secrets("SSH key of ansible_ssh_private_key_file", Path(key).expanduser())


def lab_secrets(variables: Mapping[str, Any]) -> Iterator[Secret]:
    """The credentials in the lab's state folder, when the lab is the target."""
    if not variables.get("imgcloud_lab"):
        return
    from lab.state import existing_state
    from lab.topology import lab_name, state_dir

    name = lab_name(variables.get("imgcloud_lab_name"))
    state = existing_state(name, state_dir(name))
    if state is None:
        return
    for credential, value in state.credentials.__dict__.items():
        if credential.endswith(("password", "key")):
            yield Secret(f"lab credential {credential}", value.encode())


def cluster_secrets(variables: Mapping[str, Any], inventory: Path) -> list[Secret]:
    """Every secret of the cluster, each value once, too-short ones left out."""
    found: dict[bytes, Secret] = {}
    for secret in (
        *folder_secrets(secrets_dir(variables, inventory)),
        *hostvar_secrets(variables),
        *lab_secrets(variables),
    ):
        if len(secret.value) >= MIN_SECRET:
            found.setdefault(secret.value, secret)
    return list(found.values())


def url_password(value: str) -> str | None:
    try:
        return urlsplit(value).password
    except ValueError:
        return None


# -- Git ------------------------------------------------------------------------------


def git(repo: Path, *args: str, given: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=given, capture_output=True, check=True
    )
    return done.stdout


def git_blobs(repo: Path) -> Iterator[tuple[str, str, bytes]]:
    """(blob id, a path it had, content) of every file version reachable from any ref."""
    paths: dict[str, str] = {}
    for line in git(repo, "rev-list", "--all", "--objects").decode().splitlines():
        object_id, _, path = line.partition(" ")
        paths.setdefault(object_id, path)
    batch = git(repo, "cat-file", "--batch", given="\n".join(paths).encode() + b"\n")
    at = 0
    while at < len(batch):
        header_end = batch.index(b"\n", at)
        object_id, kind, size = batch[at:header_end].decode().split()
        start = header_end + 1
        content = batch[start : start + int(size)]
        at = start + int(size) + 1
        if kind == "blob":
            yield object_id, paths[object_id], content


def first_commit(repo: Path, blob: str) -> str:
    """The oldest commit that brought in ``blob``."""
    commits = git(repo, "log", "--all", "--reverse", "--format=%H", f"--find-object={blob}")
    return commits.decode().split()[0] if commits.strip() else "(no commit)"


def committed_paths(repo: Path) -> Iterator[tuple[str, str]]:
    """(commit, path) of every file added or changed by any commit of any ref."""
    log = git(
        repo,
        "-c",
        "core.quotePath=false",
        "log",
        "--all",
        "--format=commit %H",
        "--name-only",
        "--diff-filter=AM",
        "--no-renames",
    )
    commit = ""
    for line in log.decode().splitlines():
        if line.startswith("commit "):
            commit = line.removeprefix("commit ")
        elif line:
            yield commit, line


def commit_messages(repo: Path) -> Iterator[tuple[str, bytes]]:
    for record in git(repo, "log", "--all", "--format=%H%x00%B%x1e").split(b"\x1e"):
        commit, _, message = record.strip().partition(b"\x00")
        if commit:
            yield commit.decode(), message


def git_leaks(repo: Path, finder: Finder) -> list[str]:
    """Where in the history of ``repo`` a secret is, one sentence each."""
    leaks = []
    for blob, path, content in git_blobs(repo):
        for what in finder.find(content):
            leaks.append(f"{path} (commit {first_commit(repo, blob)[:12]}): {what}")
    for commit, message in commit_messages(repo):
        leaks += [f"message of commit {commit[:12]}: {what}" for what in finder.find(message)]
    return leaks


# -- The image ---------------------------------------------------------------------------


def image_leaks(saved: Path, finder: Finder) -> Iterator[str]:
    """Secrets in a ``docker save`` archive: its metadata (configuration and history
    included) and every file of every layer, gzipped ones also unpacked."""
    with tarfile.open(saved) as image:
        for member, content in _files(image):
            if not _is_archive(content):
                yield from (f"{member.name}: {what}" for what in finder.find(content.read()))
                continue
            with tarfile.open(fileobj=content, mode="r:*") as layer:
                for inner, data in _files(layer):
                    shapes = not KEY_VECTORS.search(inner.name)
                    parts = _unpacked(data.read())
                    for what in {w for part in parts for w in finder.find(part, shapes=shapes)}:
                        yield f"layer {member.name}: /{inner.name}: {what}"


def _files(archive: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    for member in archive:
        content = archive.extractfile(member) if member.isfile() else None
        if content is not None:
            yield member, content


def _is_archive(content: IO[bytes]) -> bool:
    head = content.read(512)
    content.seek(0)
    return head[:2] == GZIP_MAGIC or head[257:262] == b"ustar"


def _unpacked(data: bytes) -> list[bytes]:
    if data[:2] != GZIP_MAGIC:
        return [data]
    try:
        return [data, gzip.decompress(data)]
    except (OSError, EOFError, zlib.error):
        return [data]
