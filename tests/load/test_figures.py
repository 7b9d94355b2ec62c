"""The bench's arithmetic on Locust CSV text written here (pure logic, no Locust)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import results

PCT = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    f"Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,{PCT}"
)
HISTORY_HEADER = (
    f"Timestamp,User Count,Type,Name,Requests/s,Failures/s,{PCT},Total Request Count,"
    "Total Failure Count,Total Median Response Time,Total Average Response Time,"
    "Total Min Response Time,Total Max Response Time,Total Average Content Size"
)


def stats_row(kind: str, name: str, count: int, failures: int, p50: int, p99: int) -> str:
    pct = f"{p50},{p50},{p50},{p50},{p50},{p99},{p99},{p99},{p99},{p99},{p99}"
    return f"{kind},{name},{count},{failures},{p50},{p50},1,{p99},0,1.0,0.0,{pct}"


def history_row(t: int, kind: str, name: str, total: int, failed: int, p50: str) -> str:
    pct = ",".join([p50] * 11)
    return f"{1000 + t},4,{kind},{name},1.0,0.0,{pct},{total},{failed},1,1,1,1,0"


@pytest.fixture
def run_files(tmp_path: Path) -> tuple[Path, Path]:
    stats = tmp_path / "x_stats.csv"
    stats.write_text(
        "\n".join(
            [
                STATS_HEADER,
                stats_row("POST", "/api/images [2mp]", 40, 1, 300, 900),
                stats_row("GET", "/api/images/[id]", 160, 0, 20, 80),
                stats_row("FLOW", "upload-to-done", 40, 2, 2500, 7000),
                stats_row("", "Aggregated", 240, 3, 30, 7000),
            ]
        )
        + "\n"
    )
    history = tmp_path / "x_stats_history.csv"
    rows = [HISTORY_HEADER]
    for t in range(0, 41):
        rows.append(history_row(t, "FLOW", "upload-to-done", total=t, failed=0, p50="N/A"))
        rows.append(history_row(t, "", "Aggregated", total=6 * t, failed=0, p50="30"))
    history.write_text("\n".join(rows) + "\n")
    return stats, history


def test_throughput_counts_flows_after_the_warmup(run_files: tuple[Path, Path]) -> None:
    figures = results.figures(*run_files, warmup_s=10)
    assert (figures.images_per_s, figures.window_s, figures.images_done) == (1.0, (10, 40), 30)


def test_percentiles_come_from_the_flow_entry(run_files: tuple[Path, Path]) -> None:
    figures = results.figures(*run_files, warmup_s=10)
    assert (figures.p50_ms, figures.p95_ms, figures.p99_ms) == (2500, 7000, 7000)


def test_error_rate_counts_http_requests_once(run_files: tuple[Path, Path]) -> None:
    figures = results.figures(*run_files, warmup_s=10)
    assert (figures.requests, figures.failures, figures.flows_failed) == (200, 1, 2)


def test_missing_percentiles_read_as_none(run_files: tuple[Path, Path]) -> None:
    points = results.timeline(results.read_rows(run_files[1]))
    assert points[0].p50_ms is None


def test_rate_is_a_moving_difference(run_files: tuple[Path, Path]) -> None:
    points = results.timeline(results.read_rows(run_files[1]))
    assert {round(r, 6) for _, r in results.rate(points)} == {1.0}


def test_a_file_without_aggregated_row_is_refused(tmp_path: Path) -> None:
    stats = tmp_path / "bad_stats.csv"
    stats.write_text(STATS_HEADER + "\n")
    with pytest.raises(ValueError, match="Aggregated"):
        results.figures(stats, stats, warmup_s=0)


def test_throughput_window_ends_when_users_start_stopping(tmp_path: Path) -> None:
    history = tmp_path / "y_stats_history.csv"
    rows = [HISTORY_HEADER]
    for t in range(0, 31):
        row = history_row(t, "FLOW", "upload-to-done", total=min(t, 20), failed=0, p50="900")
        rows.append(row if t <= 20 else row.replace(f"{1000 + t},4,", f"{1000 + t},2,", 1))
    history.write_text("\n".join(rows) + "\n")
    points = results.timeline(results.read_rows(history))
    assert results.steady_throughput(points, warmup_s=5) == (1.0, (5.0, 20.0), 15)
