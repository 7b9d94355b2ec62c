"""`imgcloud reprocess` over the cluster, under traffic: every image re-rendered, no request failed.

Run the way an operator runs it: inside a worker's container on a VM, with that
worker's settings. `--all`: the lab's images are already current, so this re-renders
every one of them while users keep reading and uploading through the floating IP.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from traffic import Traffic

from deploy import ROOT
from deploy.smoke import SmokeResult

REPORT = ROOT / "reports" / "cluster"

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_a_reprocess_over_the_cluster_under_traffic_fails_no_request(
    vms: dict[str, Any],
    cluster_names: list[str],
    service_url: str,
    site_ca: Path | None,
    uploaded: SmokeResult,
    api_token: str,
    http: httpx.Client,
) -> None:
    vm = vms[cluster_names[0]]
    container = vm.check_output("docker ps --filter name=^worker- --format '{{.Names}}' | head -1")
    assert container, "no worker container on the first VM"
    listed = http.get("api/images", params={"limit": 100}).json()["images"]
    done = [image["id"] for image in listed if image["status"] == "done"]
    assert done, "no done image in the cluster to reprocess"

    with Traffic(service_url, uploaded.image_id, api_token, site_ca) as traffic:
        # The newest 100 (a lab that ran the chaos suite holds thousands of images).
        started = time.monotonic()
        run = vm.run(f"docker exec {container} imgcloud reprocess --all --limit 100 --rate 20")
        # The traffic goes on until the workers have taken every job (the backend reads
        # the queue's depth at each scrape), so the re-rendering happens under it.
        drained = _wait_for_queue_empty(vm, 180)
        seconds = time.monotonic() - started
        final = [http.get(f"api/images/{image_id}").json() for image_id in done]

    figures = {
        "reprocess_and_drain_seconds": round(seconds, 1),
        "requests": traffic.count,
        "failed_requests": len(traffic.failures),
        "output": run.stdout.strip().splitlines()[-1:],
    }
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "reprocess.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nreprocess: {figures}\n{traffic.summary()}")
    assert run.rc == 0, run.stderr
    assert drained, "the queue did not drain within 180 s of the reprocess"
    queued = re.search(r"(\d+) images seen, (\d+) queued", run.stdout)
    assert queued and int(queued.group(2)) >= min(len(done), 100), run.stdout
    assert all(view["status"] == "done" for view in final), final
    assert traffic.count > 50, traffic.summary()
    assert traffic.failures == [], traffic.summary()


# The backend's metrics answer on the VMs' own addresses, not on the floating IP:
# asked on the VM through its HAProxy (loopback), which sends it to any backend.
_METRICS = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1/metrics', timeout=5).read().decode())"
)


def _wait_for_queue_empty(vm: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = vm.run(f"python3 -c {shlex.quote(_METRICS)}").stdout
        depth = re.search(r"^imgcloud_queue_messages (\S+)$", page, re.MULTILINE)
        if depth and float(depth.group(1)) == 0:
            return True
        time.sleep(1)
    return False
