"""hosttools: what each lane needs from the host, found, or named when we may not install."""

from __future__ import annotations

import configparser
from pathlib import Path

import gobuild
import hosttools
import pytest
from hosttools import Need

REPO = Path(__file__).resolve().parents[2]
ABSENT = Need("imgcloud-no-such-package", "imgcloud-no-such-program", "a test needs it")


def _tox_envs() -> set[str]:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    return {s.removeprefix("testenv:") for s in tox.sections() if s.startswith("testenv:")}


def test_a_program_on_path_or_a_matching_file_is_present(tmp_path: Path) -> None:
    (tmp_path / "libfoo.so.1").touch()
    assert Need("coreutils", "sh", "").present()
    assert Need("libfoo1", f"{tmp_path}/libfoo.so.*", "").present()
    assert not Need("libbar1", f"{tmp_path}/libbar.so.*", "").present()
    assert not ABSENT.present()


def test_each_missing_package_is_named_once() -> None:
    twice = Need(ABSENT.package, "another-missing-program", "another lane needs it")
    assert hosttools.missing([ABSENT, Need("coreutils", "sh", ""), twice]) == [ABSENT]


def test_without_root_on_debian_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosttools, "is_debian_root", lambda: False)
    with pytest.raises(hosttools.MissingTool) as caught:
        hosttools.ensure([ABSENT, Need("coreutils", "sh", "")])
    assert str(caught.value) == (
        "install imgcloud-no-such-package (as root) and run again "
        "(imgcloud-no-such-package: a test needs it)"
    )


def test_nothing_missing_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosttools, "is_debian_root", lambda: False)
    assert hosttools.ensure([Need("coreutils", "sh", "")]) == []
    assert hosttools.ensure_lane("lint") == []


def test_every_lane_it_knows_is_a_tox_lane() -> None:
    assert set(hosttools.LANES) <= _tox_envs()


def test_the_lanes_that_drive_the_lab_need_its_engine_and_ssh() -> None:
    tox = (REPO / "tox.ini").read_text()
    assert "commands_pre = python -m hosttools {env_name}" in tox
    for lane in ("lab-tests", "infra", "cluster", "security", "load-smoke", "chaos"):
        assert {hosttools.DOCKER, hosttools.SSH} <= set(hosttools.LANES[lane]), lane
    assert hosttools.RABBITMQ in hosttools.LANES["apps"]
    assert hosttools.CHROMIUM in hosttools.LANES["apps"]
    assert {hosttools.CHROMIUM, hosttools.CERTUTIL} <= set(hosttools.LANES["cluster"])


def test_the_lab_lanes_have_every_go_built_binary_and_the_apps_lane_minio() -> None:
    def built(lane: str) -> set[str]:
        return {n.name for n in hosttools.LANES[lane] if isinstance(n, hosttools.GoBinary)}

    assert built("chaos") == set(gobuild.names()) == {"consul", "minio", "nomad", "toxiproxy"}
    assert built("apps") == {"minio"}
