"""A short headless Locust run: no failed request, and every file and figure produced.

No timing thresholds: the lab shares two cores with everything else, so only
correctness and completeness are asserted here; the numbers live in the bench.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FILES = ["stats_csv", "history_csv", "failures_csv", "html", "log", "timeline_png"]
FIGURES = [
    ("resize_throughput", "images_per_s"),
    ("upload_to_done_ms", "p50"),
    ("upload_to_done_ms", "p95"),
    ("upload_to_done_ms", "p99"),
    ("requests", "error_rate"),
    ("raw_worker_speed", "images_per_s_per_core"),
    ("ratio", "value"),
    ("ratio", "cores"),
]


def failure_reasons(summary: dict[str, Any]) -> list[str]:
    """Locust's failure table, and the lab VMs someone restarted meanwhile (if any)."""
    restarted = summary["machine_during_run"]["lab_vms_restarted_or_stopped"]
    context = [f"lab VMs restarted or stopped during the run: {restarted}"] if restarted else []
    with Path(summary["files"]["failures_csv"]).open(newline="") as handle:
        return context + [
            f"{row['Method']} {row['Name']}: {row['Error']} x{row['Occurrences']}"
            for row in csv.DictReader(handle)
        ]


def test_no_request_failed(smoke_summary: dict[str, Any]) -> None:
    assert smoke_summary["requests"]["failures"] == 0, failure_reasons(smoke_summary)


def test_every_upload_reached_done(smoke_summary: dict[str, Any]) -> None:
    assert smoke_summary["upload_to_done_ms"]["failed"] == 0, failure_reasons(smoke_summary)


def test_uploads_were_resized(smoke_summary: dict[str, Any]) -> None:
    assert smoke_summary["resize_throughput"]["images_done_in_window"] > 0


@pytest.mark.parametrize("key", FILES)
def test_report_file_is_written(smoke_summary: dict[str, Any], key: str) -> None:
    path = Path(smoke_summary["files"][key])
    assert path.is_file() and path.stat().st_size > 0, f"{key}: {path} missing or empty"


def test_summary_json_is_written(smoke_dir: Path, smoke_summary: dict[str, Any]) -> None:
    assert (smoke_dir / "summary.json").stat().st_size > 0


@pytest.mark.parametrize(("section", "key"), FIGURES)
def test_summary_has_figure(smoke_summary: dict[str, Any], section: str, key: str) -> None:
    value = smoke_summary[section][key]
    assert isinstance(value, int | float) and value >= 0, f"{section}.{key} = {value!r}"


def test_timeline_plot_is_a_png(smoke_summary: dict[str, Any]) -> None:
    with Image.open(smoke_summary["files"]["timeline_png"]) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100


def test_html_report_names_the_flow_metric(smoke_summary: dict[str, Any]) -> None:
    assert "upload-to-done" in Path(smoke_summary["files"]["html"]).read_text()


def test_ratio_says_where_its_cores_come_from(smoke_summary: dict[str, Any]) -> None:
    assert smoke_summary["ratio"]["cores_basis"]
