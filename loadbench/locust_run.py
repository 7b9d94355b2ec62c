"""Run Locust headless for a fixed load and duration, keeping its CSV and HTML reports."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy import ROOT

LOCUSTFILE = ROOT / "tests" / "load" / "locustfile.py"


@dataclass(frozen=True)
class Load:
    """A fixed load: how many users, how fast they arrive, for how long, which uploads."""

    users: int = 10
    spawn_rate: float = 2.0
    duration_s: int = 90
    mix: str = "2mp=3,12mp=1"

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if self.spawn_rate <= 0:
            raise ValueError(f"spawn rate must be > 0, not {self.spawn_rate}")
        if self.duration_s < 5:
            raise ValueError(f"duration must be >= 5 s, not {self.duration_s}")


@dataclass(frozen=True)
class LocustFiles:
    """The files one Locust run leaves under its prefix."""

    prefix: Path

    @property
    def stats(self) -> Path:
        return Path(f"{self.prefix}_stats.csv")

    @property
    def history(self) -> Path:
        return Path(f"{self.prefix}_stats_history.csv")

    @property
    def failures(self) -> Path:
        return Path(f"{self.prefix}_failures.csv")

    @property
    def exceptions(self) -> Path:
        return Path(f"{self.prefix}_exceptions.csv")

    @property
    def html(self) -> Path:
        return Path(f"{self.prefix}.html")

    @property
    def log(self) -> Path:
        return Path(f"{self.prefix}.log")

    def all(self) -> dict[str, Path]:
        return {
            "stats_csv": self.stats,
            "history_csv": self.history,
            "failures_csv": self.failures,
            "html": self.html,
            "log": self.log,
        }


def command(url: str, load: Load, files: LocustFiles, locustfile: Path = LOCUSTFILE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(locustfile),
        "--headless",
        "--host",
        url.rstrip("/"),
        "--users",
        str(load.users),
        "--spawn-rate",
        str(load.spawn_rate),
        "--run-time",
        f"{load.duration_s}s",
        "--csv",
        str(files.prefix),
        "--csv-full-history",
        "--html",
        str(files.html),
        "--only-summary",
        "--logfile",
        str(files.log),
        # Failures are data here; the summary and the smoke test judge them.
        "--exit-code-on-error",
        "0",
    ]


def run(
    url: str, load: Load, out: Path, name: str = "locust", token_env: dict[str, str] | None = None
) -> LocustFiles:
    """Run Locust against `url` and return where its reports are; raise if Locust broke."""
    out.mkdir(parents=True, exist_ok=True)
    files = LocustFiles(out / name)
    for path in files.all().values():
        path.unlink(missing_ok=True)  # Locust appends to its log; start every run clean
    env = dict(os.environ, IMGCLOUD_LOAD_MIX=load.mix, **(token_env or {}))
    # Locust stops by itself after --run-time; the margin covers start-up and clean-up.
    timeout = load.duration_s + 300
    done = subprocess.run(
        command(url, load, files), env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0 or not files.stats.is_file():
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-20:])
        raise RuntimeError(f"locust exited {done.returncode} (log {files.log}):\n{tail}")
    return files
