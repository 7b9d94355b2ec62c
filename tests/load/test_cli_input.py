"""Bad options of `python -m loadbench` stop before anything runs, with the reason."""

from __future__ import annotations

import pytest

from loadbench import bench
from loadbench.__main__ import main


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["knee", "--url", "http://127.0.0.1:9/", "--knee-mix", "4mp=1"], "'4mp=1' is not one of"),
        (
            ["knee", "--url", "http://127.0.0.1:9/", "--knee-mix", "2mp=0"],
            "no upload with a weight",
        ),
        (["bench", "--url", "http://127.0.0.1:9/", "--mix", "2mp=x"], "'2mp=x' is not one of"),
        (["knee", "--url", "http://127.0.0.1:9/", "--rates", "4,2"], "positive and rising"),
        (["scale", "--url", "http://127.0.0.1:9/", "--scale-rate", "0"], "--scale-rate must be"),
        (["raw", "--mix", "huge=1"], "'huge=1' is not one of"),
    ],
)
def test_a_bad_option_exits_2_naming_it(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert reason in capsys.readouterr().err


def test_a_good_mix_reads_as_weights() -> None:
    assert bench.mix_weights("2mp=3, 12mp=1") == {"2mp": 3, "12mp": 1}
