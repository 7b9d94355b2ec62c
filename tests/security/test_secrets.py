"""No secret in git, none in the image (issue #8).

The secrets are the real ones of the cluster under test: every file of its secrets
folder on the controller (tokens, gossip keys, TLS keys; not the public certificates),
the secret hostvars (S3 keys, the broker's password, Vault values), the SSH key Ansible
uses and, for the lab, the credentials in its state folder. Git is searched in every
version of every file reachable from any ref and in every commit message; the deployed
image in every file of every layer and in its configuration (``docker save``). Anything
shaped like a private key or an AWS access key id counts too. A failure says where and
which secret, never its value.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import secrets
import string
import subprocess
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from deploy import ROOT
from deploy.credentials import secrets_dir
from deploy.image import IMAGE_NAME, plan_from_vars, project_version

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
            password = _url_password(value)
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


def _url_password(value: str) -> str | None:
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


# -- Fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_vars(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> dict[str, Any]:
    return hostvars[cluster_names[0]]


@pytest.fixture(scope="module")
def known(inventory: Path, cluster_vars: dict[str, Any]) -> list[Secret]:
    return cluster_secrets(cluster_vars, inventory)


@pytest.fixture(scope="module")
def finder(known: list[Secret]) -> Finder:
    return Finder(known)


@pytest.fixture(scope="module")
def image(inventory: Path, cluster_vars: dict[str, Any]) -> str:
    """The deployed image, pulled from the registry the VMs pull from (via the
    controller's push address when the inventory has one)."""
    plan = plan_from_vars(cluster_vars)
    if plan is not None:
        reference = plan.tag
    else:
        registry = str(cluster_vars["imgcloud_registry"]).rstrip("/")
        reference = f"{registry}/{IMAGE_NAME}:{project_version()}"
    subprocess.run(["docker", "pull", "--quiet", reference], check=True, capture_output=True)
    return reference


@pytest.fixture(scope="module")
def image_config(image: str) -> dict[str, Any]:
    inspected = subprocess.run(
        ["docker", "image", "inspect", image], check=True, capture_output=True, text=True
    )
    return json.loads(inspected.stdout)[0]["Config"]


# -- Tests -------------------------------------------------------------------------------


@pytest.mark.lab
def test_the_scans_know_the_clusters_secrets(known: list[Secret]) -> None:
    origins = " ".join(secret.origin for secret in known)
    for needed in ("s3_secret_key", "amqp_url", "ca-key.pem"):
        assert needed in origins, f"no {needed} among the secrets: {origins}"
    for system in ("consul", "nomad"):
        assert f"{system}-management.token" in origins or f"{system}_acl_management_token" in (
            origins
        ), f"no {system} management token among the secrets: {origins}"


@pytest.mark.lab
def test_no_secret_in_any_version_of_any_file_or_commit_message(finder: Finder) -> None:
    leaks = git_leaks(ROOT, finder)
    assert not leaks, "secrets in git:\n" + "\n".join(leaks)


def test_no_secret_file_was_ever_committed() -> None:
    found = [
        f"{path} (commit {commit[:12]})"
        for commit, path in committed_paths(ROOT)
        if SECRET_PATH.search(path) and not _vaulted(commit, path)
    ]
    assert not found, "secret files in git: " + ", ".join(found)


def _vaulted(commit: str, path: str) -> bool:
    """An Ansible Vault file as committed there: encrypted, so it may be in git."""
    return path.endswith("vault.yml") and git(ROOT, "show", f"{commit}:{path}").startswith(
        ANSIBLE_VAULT
    )


def vault_example_lines() -> list[tuple[str, str]]:
    """(variable, value) of every line of the example vault, commented-out ones too."""
    pattern = re.compile(r"^#?\s*(vault_\w+):\s*\"?(.*?)\"?\s*$")
    lines = VAULT_EXAMPLE.read_text().splitlines()
    return [match.groups() for match in map(pattern.match, lines) if match]


@pytest.mark.parametrize(("name", "value"), vault_example_lines())
def test_the_example_vault_holds_placeholders_only(name: str, value: str) -> None:
    assert "..." in value, f"{name} in {VAULT_EXAMPLE.name} must show '...' where the secret goes"
    assert not SECRET_LIKE.search(value), f"{name} in {VAULT_EXAMPLE.name} looks like a real one"


@pytest.mark.lab
@pytest.mark.slow
def test_no_secret_in_any_layer_of_the_image(image: str, finder: Finder, tmp_path: Path) -> None:
    saved = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "--output", str(saved), image], check=True)
    leaks = list(image_leaks(saved, finder))
    assert not leaks, f"secrets in {image}:\n" + "\n".join(leaks)


@pytest.mark.lab
def test_the_image_config_carries_no_credential(
    image_config: dict[str, Any], finder: Finder
) -> None:
    settings = [
        *(("Env", *item.split("=", 1)) for item in image_config.get("Env") or []),
        *(("Label", *item) for item in (image_config.get("Labels") or {}).items()),
    ]
    problems = []
    for kind, name, value in settings:
        if CREDENTIAL_SETTING.search(name):
            problems.append(f"{kind} {name} is a credential or connection setting")
        if _url_password(value):
            problems.append(f"{kind} {name} is a URL with a password")
        problems += [f"{kind} {name} holds {what}" for what in finder.find(value.encode())]
    assert not problems, problems


@pytest.mark.lab
def test_the_image_runs_as_its_own_unprivileged_user(image_config: dict[str, Any]) -> None:
    user = image_config.get("User") or "root"
    assert user.split(":")[0] == IMAGE_UID, f"the image runs as {user!r}"


# -- The scan itself, on a repository of its own ---------------------------------------


def planted(length: int) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def key_body(lines: int) -> list[str]:
    """Lines like a PEM key's: 64 characters of base64 each (random, no real key)."""
    return [base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(lines)]


@pytest.fixture
def leaky_repo(tmp_path: Path) -> tuple[Path, str, Secret]:
    """A repository where one commit adds a secret, a key and an AWS id, and the next
    removes them again: only history still has them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    token = Secret("test token", secrets.token_hex(16).encode())
    body = "\n".join(key_body(4))
    key = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n"
    (repo / "settings.env").write_text(f"TOKEN={token.value.decode()}\nID=AKIA{planted(16)}\n")
    (repo / "deploy.pem").write_text(key)
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "add settings")
    leaky = git(repo, "rev-parse", "HEAD").decode().strip()
    git(repo, "rm", "--quiet", "settings.env", "deploy.pem")
    (repo / "README").write_text("nothing to see; AKIAIOSFODNN7EXAMPLE is AWS's sample\n")
    git(repo, "add", "README")
    git(repo, "commit", "--quiet", "-m", "remove settings")
    return repo, leaky, token


def test_the_git_scan_finds_secrets_that_only_history_still_has(
    leaky_repo: tuple[Path, str, Secret],
) -> None:
    repo, leaky, token = leaky_repo
    assert sorted(git_leaks(repo, Finder([token]))) == [
        f"deploy.pem (commit {leaky[:12]}): a private key",
        f"settings.env (commit {leaky[:12]}): an AWS access key id",
        f"settings.env (commit {leaky[:12]}): test token",
    ]


def test_the_key_body_is_a_secret_of_its_own() -> None:
    body = key_body(4)
    pem = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----"])
    needles = [secret.value.decode() for secret in pem_needles("k", pem.encode())]
    assert needles == body[1:-1]


def tar_with(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_image_scan_looks_into_every_layer_and_gzipped_file(tmp_path: Path) -> None:
    token = Secret("test token", secrets.token_hex(16).encode())
    layer = tar_with(
        {
            "etc/app.conf": b"token = " + token.value,
            "usr/share/doc/app/notes.gz": gzip.compress(b"old token: " + token.value),
            "usr/bin/clean": b"nothing here",
        }
    )
    saved = tmp_path / "image.tar"
    saved.write_bytes(tar_with({"abc/layer.tar": layer, "config.json": b"{}"}))
    assert sorted(image_leaks(saved, Finder([token]))) == [
        "layer abc/layer.tar: /etc/app.conf: test token",
        "layer abc/layer.tar: /usr/share/doc/app/notes.gz: test token",
    ]
