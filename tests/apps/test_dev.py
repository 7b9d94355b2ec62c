"""``imgcloud dev``: the whole service from one command, on loopback, gone after Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import apps_samples as samples
import httpx
import pytest
from apps_stack import finished, upload
from imgcloud.devstack import free_port

pytestmark = pytest.mark.slow
STARTUP = 120.0


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_dev_serves_the_page_and_api_then_stops_everything_on_ctrl_c() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGCLOUD_")}
    env["IMGCLOUD_DEV_PORT"] = str(port)
    dev = subprocess.Popen(
        [sys.executable, "-m", "imgcloud", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in dev.stdout])
    reader.start()
    output = ""
    deadline = time.monotonic() + STARTUP
    try:
        # Up, and the admin token's line read whole (it follows the URL's).
        while not re.search(r"admin token: \S+.*\n", output):
            assert dev.poll() is None, output
            assert time.monotonic() < deadline, output
            try:
                output += lines.get(timeout=1)
            except queue.Empty:
                continue
        assert f"imgcloud is up: http://127.0.0.1:{port}" in output
        # The admin token it made, in the file it names.
        token_file = re.search(r"admin token: (\S+)", output)
        assert token_file, output
        token = Path(token_file.group(1)).read_text().strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert "imgcloud" in client.get("/").text
            assert upload(client, samples.ACCEPTED["jpeg"]()).status_code == 401
            client.headers["Authorization"] = f"Bearer {token}"
            answer = upload(client, samples.ACCEPTED["jpeg"]())
            assert answer.status_code == 202
            assert finished(client, answer.json()["id"])["status"] == "done"
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(90)
        reader.join(10)
        dev.stdout.close()
    assert code == 0
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", output)}
    assert len(ports) >= 5  # RabbitMQ, MinIO, backend, worker, frontend
    assert [p for p in ports if listening(p)] == []


def test_dev_takes_its_admin_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgcloud import dev

    monkeypatch.setenv("IMGCLOUD_ADMIN_TOKEN", "given-token-0123456789")
    assert dev.admin_token(tmp_path) == "given-token-0123456789"
    assert not (tmp_path / "admin_token").exists()
    monkeypatch.delenv("IMGCLOUD_ADMIN_TOKEN")
    made = dev.admin_token(tmp_path)
    assert len(made) >= 40 and dev.admin_token(tmp_path) == made
    assert (tmp_path / "admin_token").stat().st_mode & 0o077 == 0
