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
        while f"imgcloud is up: http://127.0.0.1:{port}" not in output:
            assert dev.poll() is None, output
            assert time.monotonic() < deadline, output
            try:
                output += lines.get(timeout=1)
            except queue.Empty:
                continue
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert "imgcloud" in client.get("/").text
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
