"""The Nomad jobs: valid, formatted, and running with the update strategy they declare."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gobuild import ensure

from deploy import ROOT
from deploy.ansible import environment, tool

SERVICES = ["frontend", "backend", "worker"]


@pytest.fixture(scope="module")
def rendered_jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The role's job files rendered on the controller for a three-VM cluster."""
    folder = tmp_path_factory.mktemp("jobs")
    proc = subprocess.run(
        [tool("ansible-playbook"), str(ROOT / "tests/cluster/render_jobs.yml"),
         "-e", f"jobs_dir={folder}"],
        cwd=ROOT, env=environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


@pytest.fixture(scope="module")
def nomad() -> Path:
    return ensure("nomad")


@pytest.mark.parametrize("service", SERVICES)
def test_job_passes_nomad_job_validate(rendered_jobs: Path, nomad: Path, service: str) -> None:
    job = rendered_jobs / f"imgcloud-{service}.nomad.hcl"
    proc = subprocess.run(
        [str(nomad), "job", "validate", str(job)],
        env={**environment(), "NOMAD_ADDR": "https://127.0.0.1:1"},  # offline: no agent
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Job validation successful" in proc.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_job_is_nomad_fmt_formatted(rendered_jobs: Path, nomad: Path, service: str) -> None:
    job = rendered_jobs / f"imgcloud-{service}.nomad.hcl"
    proc = subprocess.run(
        [str(nomad), "fmt", "-check", str(job)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"`nomad fmt` would change {job.name}: {proc.stdout}"


@pytest.mark.lab
@pytest.mark.parametrize("service", SERVICES)
def test_job_validates_against_the_cluster(
    vms: dict[str, Any], cluster_names: list[str], nomad_env: str, service: str
) -> None:
    """The agent validates the task driver's configuration too (the docker driver)."""
    first = vms[cluster_names[0]]
    job = f"/etc/imgcloud/jobs/imgcloud-{service}.nomad.hcl"
    result = first.run(f"env {nomad_env} nomad job validate {job}")
    assert result.rc == 0, result.stdout + result.stderr
    assert "not validated" not in result.stdout + result.stderr


@pytest.mark.lab
@pytest.mark.parametrize("service", SERVICES)
def test_job_runs_one_instance_per_vm_with_a_guarded_rolling_update(
    nomad_job: Callable[[str], dict[str, Any]], cluster_names: list[str], service: str
) -> None:
    job = nomad_job(f"imgcloud-{service}")
    group = job["TaskGroups"][0]
    update = group["Update"]
    assert job["Status"] == "running"
    assert group["Count"] == len(cluster_names)
    assert {"LTarget": "", "Operand": "distinct_hosts", "RTarget": "true"} in group["Constraints"]
    assert (update["MaxParallel"], update["HealthCheck"], update["AutoRevert"]) == (
        1,
        "checks",
        True,
    )
    assert update["MinHealthyTime"] > 0
    checks = {c["Path"]: c for s in group["Services"] for c in s["Checks"]}
    assert set(checks) == {"/healthz", "/readyz"}
    # A failing liveness check (a worker whose broker refuses its queues, or whose
    # consumer died, answers /healthz 503) gets the task restarted; readiness never does.
    assert checks["/healthz"]["CheckRestart"]["Limit"] == 3
    assert not (checks["/readyz"].get("CheckRestart") or {}).get("Limit")
    assert {s["Provider"] for s in group["Services"]} == {"consul"}
    assert group["RestartPolicy"]["Attempts"] > 0
    assert group["ReschedulePolicy"]["Unlimited"] is True


@pytest.mark.lab
def test_runtime_settings_live_in_a_nomad_variable_not_in_the_job(
    nomad_job: Callable[[str], dict[str, Any]], cluster_vars: dict[str, Any]
) -> None:
    job = str(nomad_job("imgcloud-backend"))
    assert str(cluster_vars["imgcloud_s3_secret_key"]) not in job
    assert "nomadVar" in job
