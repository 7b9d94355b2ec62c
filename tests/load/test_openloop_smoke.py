"""A short open-loop run through the floating IP: two low rates the cluster must keep up
with, judged by the knee's own rules (loadbench.knee), and its files written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from loadbench import openloop
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
