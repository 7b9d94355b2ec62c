"""Rolling updates under continuous traffic: no failed request, broken versions reverted.

Each test builds an image tag from this checkout (a new tag of the same code, or
the Dockerfile's `unready` stage whose processes never answer), rolls it out with
playbooks/update.yml while threads keep using the service through the floating
IP, and leaves the cluster on the project's version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_playbooks import PlaybookResult, run_playbook
from traffic import Traffic

from deploy import ROOT
from deploy.image import build_and_push, project_version
from deploy.smoke import SmokeResult

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.destructive]

JOBS = ["imgcloud-frontend", "imgcloud-backend", "imgcloud-worker"]
REPORT = ROOT / "reports" / "cluster"


def _images(nomad_job: Callable[[str], dict[str, Any]]) -> dict[str, str]:
    return {job: nomad_job(job)["TaskGroups"][0]["Tasks"][0]["Config"]["image"] for job in JOBS}


def _tag(image: str) -> str:
    """The tag of `registry/name:tag` or `registry/name:tag@sha256:...`."""
    return image.split("@", 1)[0].rsplit(":", 1)[1]


def _update(inventory: Path, version: str, *extra: str) -> PlaybookResult:
    return run_playbook(inventory, "update.yml", "-e", f"imgcloud_version={version}", *extra)


def _record(name: str, figures: dict[str, Any]) -> None:
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\n{name}: {figures}")


def test_rolling_update_under_traffic_fails_no_request(
    inventory: Path,
    service_url: str,
    site_ca: Path | None,
    uploaded: SmokeResult,
    api_token: str,
    cluster_vars: dict[str, Any],
    nomad_job: Callable[[str], dict[str, Any]],
) -> None:
    current = project_version()
    new = f"{current}-rolling"
    build_and_push(cluster_vars, version=new)
    assert set(map(_tag, _images(nomad_job).values())) == {current}

    with Traffic(service_url, uploaded.image_id, api_token, site_ca) as traffic:
        forward = _update(inventory, new)
        images_after_forward = _images(nomad_job)
        back = _update(inventory, current)

    assert forward.returncode == 0, forward.output[-3000:]
    assert back.returncode == 0, back.output[-3000:]
    assert set(map(_tag, images_after_forward.values())) == {new}
    assert set(map(_tag, _images(nomad_job).values())) == {current}
    _record(
        "rolling-update",
        {
            "update_seconds": round(forward.seconds, 1),
            "rollback_seconds": round(back.seconds, 1),
            "requests": traffic.count,
            "failed_requests": len(traffic.failures),
        },
    )
    assert traffic.count > 100, traffic.summary()
    assert traffic.failures == [], traffic.summary()


def test_broken_version_is_reverted_while_the_service_answers(
    inventory: Path,
    service_url: str,
    site_ca: Path | None,
    uploaded: SmokeResult,
    api_token: str,
    cluster_vars: dict[str, Any],
    nomad_job: Callable[[str], dict[str, Any]],
) -> None:
    current = project_version()
    broken = f"{current}-broken"
    build_and_push(cluster_vars, version=broken, target="unready")

    with Traffic(service_url, uploaded.image_id, api_token, site_ca) as traffic:
        # Short deadlines: Nomad gives up on the version after a minute, not five.
        result = _update(
            inventory,
            broken,
            "-e",
            "imgcloud_update_healthy_deadline=30s",
            "-e",
            "imgcloud_update_progress_deadline=1m",
        )

    assert result.returncode != 0, "deploying a version that never gets healthy succeeded"
    assert "rolled back" in result.output
    assert set(map(_tag, _images(nomad_job).values())) == {current}
    _record(
        "broken-version",
        {
            "revert_seconds": round(result.seconds, 1),
            "requests": traffic.count,
            "failed_requests": len(traffic.failures),
        },
    )
    assert traffic.failures == [], traffic.summary()
