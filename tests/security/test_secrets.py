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
from pathlib import Path
from typing import Any

import pytest
from secret_scan import (
    ANSIBLE_VAULT,
    CREDENTIAL_SETTING,
    IMAGE_UID,
    SECRET_LIKE,
    SECRET_PATH,
    VAULT_EXAMPLE,
    Finder,
    Secret,
    cluster_secrets,
    committed_paths,
    git,
    git_leaks,
    image_leaks,
    pem_needles,
    url_password,
)

from deploy import ROOT
from deploy.image import IMAGE_NAME, plan_from_vars, project_version

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
        if url_password(value):
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
