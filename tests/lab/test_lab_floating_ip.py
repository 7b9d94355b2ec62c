"""The provider's floating-IP API (lab/images/provider/floating-ip-api.py), the lab's
stand-in for a cloud's: routes change only with the bearer token, bad calls get a
clear error and change nothing, every call is kept, and the route survives a restart.
The same program runs here on loopback (its own state file) and in the provider."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from labtools import REPO

PROGRAM = REPO / "lab" / "images" / "provider" / "floating-ip-api.py"
VIP = "10.9.9.250"
TOKEN = "test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.config = folder / "floating-ip.json"
        self.config.write_text(
            json.dumps(
                {
                    "listen": "127.0.0.1",
                    "port": self.port,
                    "token": TOKEN,
                    "addresses": [VIP],
                    "state": str(folder / "state.json"),
                }
            )
        )
        self.url = f"http://127.0.0.1:{self.port}/v1/floating-ips/{VIP}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PROGRAM), str(self.config)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{PROGRAM.name} did not answer on {self.url} within 10 s")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def put(self, body: Any, token: str | None = TOKEN, url: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.put(url or self.url, json=body, headers=headers, timeout=5)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    server = Api(tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_route_is_made_with_the_token_and_every_call_is_kept(api: Api):
    assert httpx.get(api.url).json()["holder"] is None
    for holder in ("vm1", "vm2", "vm2"):
        answer = api.put({"holder": holder, "holder_address": f"10.9.9.1{holder[-1]}"})
        assert answer.status_code == 200, answer.text
    record = httpx.get(api.url).json()
    assert (record["holder"], record["holder_address"], record["moves"]) == ("vm2", "10.9.9.12", 2)
    assert [call["holder"] for call in record["history"]] == ["vm1", "vm2", "vm2"]


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"holder": "vm3", "holder_address": "10.9.9.13"}, None, 401),
        ({"holder": "vm3", "holder_address": "10.9.9.13"}, "wrong", 401),
        ({"holder": "vm3"}, TOKEN, 400),
        ({"holder": "", "holder_address": "10.9.9.13"}, TOKEN, 400),
        ("vm3", TOKEN, 400),
    ],
    ids=["no-token", "wrong-token", "no-address", "empty-holder", "not-an-object"],
)
def test_a_bad_call_gets_a_clear_error_and_changes_nothing(
    api: Api, body: Any, token: str | None, status: int
):
    api.put({"holder": "vm1", "holder_address": "10.9.9.11"})
    answer = api.put(body, token=token)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]
    record = httpx.get(api.url).json()
    assert (record["holder"], len(record["history"])) == ("vm1", 1)


def test_an_address_it_does_not_manage_is_404(api: Api):
    other = api.url.replace(VIP, "10.9.9.251")
    assert httpx.get(other).status_code == 404
    assert api.put({"holder": "vm1", "holder_address": "x"}, url=other).status_code == 404


def test_the_route_survives_a_restart(api: Api):
    api.put({"holder": "vm3", "holder_address": "10.9.9.13"})
    api.stop()
    api.start()
    record = httpx.get(api.url).json()
    assert (record["holder"], record["moves"]) == ("vm3", 1)


@pytest.mark.lab
def test_the_lab_provider_serves_the_floating_ip_and_refuses_a_call_without_token(
    lab: dict[str, Any],
):
    found = lab["provider"].get("floating_ip")
    if not found:
        pytest.fail(
            "the lab status has no provider.floating_ip: the provider runs an image from "
            "before the API (`up` keeps a running provider); `python -m lab down` then `up`"
        )
    record = httpx.get(found["address_url"], timeout=5).json()
    assert record["address"] == lab["vip"]
    refused = httpx.put(
        found["address_url"], json={"holder": "vm9", "holder_address": "10.0.0.9"}, timeout=5
    )
    assert refused.status_code == 401
    assert httpx.get(found["address_url"], timeout=5).json()["history"] == record["history"]
    assert Path(found["token"]).stat().st_mode & 0o077 == 0, "the token file is private"
