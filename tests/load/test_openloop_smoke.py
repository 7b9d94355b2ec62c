"""A short open-loop run through the floating IP: two low rates the cluster must keep up
with, judged by the knee's own rules (loadbench.knee), and its files written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from deploy.site import tls_context
from loadbench import knee, openloop
from loadbench.target import Target

RATES = (1.0, 2.0)  # far below the lab's knee: both must hold on a busy CI host
STEP_S = 20.0


@pytest.fixture(scope="module")
def openloop_summary(load_target: Target, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("openloop-smoke")
    summary = openloop.run(load_target, RATES, STEP_S, "2mp=3,12mp=1", out)
    print("\n" + openloop.report(summary))
    return summary


def test_every_low_rate_step_is_sustained(openloop_summary: dict[str, Any]) -> None:
    steps = openloop_summary["steps"]
    assert [s["rate"] for s in steps] == list(RATES)
    assert all(s["sustained"] for s in steps), [s["problems"] for s in steps]
    assert openloop_summary["knee_per_s"] == RATES[-1]


def test_uploads_went_out_on_the_clock_and_every_one_was_done(
    openloop_summary: dict[str, Any],
) -> None:
    for step in openloop_summary["steps"]:
        assert step["sent"] >= 0.9 * step["rate"] * STEP_S, step
        assert step["done"] == step["sent"] and step["failed"] == 0, step
        assert step["p95_ms"] is not None and step["p95_ms"] > 0, step


def test_the_plot_and_the_csvs_are_written(openloop_summary: dict[str, Any]) -> None:
    files = openloop_summary["files"]
    for key in ("flows_csv", "queue_csv", "html"):
        assert Path(files[key]).stat().st_size > 0, key
    with Image.open(files["plot_png"]) as image:
        assert image.format == "PNG" and image.width > 100


def test_the_run_deletes_what_it_uploaded_and_says_how_quiet_the_host_was(
    openloop_summary: dict[str, Any], load_target: Target
) -> None:
    sent = sum(step["sent"] for step in openloop_summary["steps"])
    assert openloop_summary["cleanup"] == {"uploaded": sent, "not_deleted": 0}
    flows = knee.read_flows(Path(openloop_summary["files"]["flows_csv"]))
    ids = [flow.image_id for flow in flows if flow.image_id]
    assert len(ids) == sent
    verify = tls_context(load_target.ca)
    still_there = [
        image_id
        for image_id in ids
        if httpx.get(
            f"{load_target.url.rstrip('/')}/api/images/{image_id}", verify=verify
        ).status_code
        != 404
    ]
    assert not still_there, f"{len(still_there)} of {len(ids)} uploads left in the lab"
    host = openloop_summary["host_state_before_run"]
    assert isinstance(host["quiet"], bool) and host["host_busy_percent"] is not None
    assert host["quiet"] or "busy host" in host["warning"]
