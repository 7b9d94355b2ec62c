"""Runtime credentials rotate by re-running the playbook, without a new job version.

The lab's RabbitMQ gets a second user; `playbooks/update.yml` writes its URL into
the Nomad variable; every backend and worker must reconnect as that user (the
broker's own connection list says so) and uploads keep working. Then the original
credentials are put back the same way. Only the lab's provider can be given a new
user here, so this module is marked `provider`: deselect it (`-m "not provider"`)
against real inventories and rotate there as docs/security.md says.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from deploy import ROOT
from deploy.ansible import run_playbook
from deploy.smoke import smoke, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.provider]

ROTATED_USER = "imgcloud-rotated"
# Template splay (30 s) + a task restart + its broker connection, with room to spare.
RECONNECT_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def lab_status(pytestconfig: pytest.Config) -> dict[str, Any]:
    if pytestconfig.getoption("inventory"):
        pytest.fail("credential rotation needs the lab's provider: run with -m 'not provider'")
    from lab.status import read_status
    from lab.topology import lab_name

    return read_status(lab_name(None))


def rabbitmqctl(status: dict[str, Any], *args: str) -> str:
    container = status["provider"]["container"]
    return subprocess.run(
        ["docker", "exec", container, "rabbitmqctl", "--quiet", *args],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def connected_users(status: dict[str, Any]) -> set[str]:
    """Users of the broker's open connections: who the tasks logged in as."""
    out = rabbitmqctl(status, "list_connections", "user", "--formatter", "json")
    return {row["user"] for row in json.loads(out or "[]")}


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def deploy_amqp_url(inventory: Path, tmp_path: Path, url: str) -> None:
    """playbooks/update.yml with another broker URL, given in a private vars file."""
    extra = tmp_path / "amqp.json"
    extra.write_text(json.dumps({"imgcloud_amqp_url": url}))
    extra.chmod(0o600)
    run = run_playbook(ROOT / "playbooks" / "update.yml", inventory, ["-e", f"@{extra}"])
    assert run.returncode == 0, "playbooks/update.yml failed (see its output above)"


@pytest.fixture
def rotated_user(lab_status: dict[str, Any]) -> Iterator[tuple[str, str]]:
    password = secrets.token_hex(16)
    rabbitmqctl(lab_status, "add_user", ROTATED_USER, password)
    rabbitmqctl(lab_status, "set_permissions", "-p", "/", ROTATED_USER, ".*", ".*", ".*")
    yield ROTATED_USER, password
    rabbitmqctl(lab_status, "delete_user", ROTATED_USER)


def test_broker_credentials_rotate_by_rerunning_the_playbook(
    inventory: Path,
    hostvars: dict[str, dict[str, Any]],
    cluster_names: list[str],
    lab_status: dict[str, Any],
    rotated_user: tuple[str, str],
    api_token: str,
    tmp_path: Path,
) -> None:
    original = str(hostvars[cluster_names[0]]["imgcloud_amqp_url"])
    original_user = urlsplit(original).username
    assert connected_users(lab_status) == {original_user}

    user, password = rotated_user
    try:
        deploy_amqp_url(inventory, tmp_path, with_user(original, user, password))
        wait_until(
            lambda: connected_users(lab_status) == {user},
            RECONNECT_TIMEOUT,
            f"every backend and worker to reconnect to RabbitMQ as {user}",
        )
        ca = Path(lab_status["url_ca"]) if lab_status.get("url_ca") else None
        result = smoke(lab_status["url"], api_token, ca)
        assert set(result.variants) >= {"thumb", "medium", "large"}
    finally:
        deploy_amqp_url(inventory, tmp_path, original)
        wait_until(
            lambda: connected_users(lab_status) == {original_user},
            RECONNECT_TIMEOUT,
            f"every backend and worker to reconnect to RabbitMQ as {original_user}",
        )
