"""The pure parts of `python -m deploy`: argument split and recap parsing."""

from __future__ import annotations

import pytest

from deploy.__main__ import split_args
from deploy.ansible import recap, vault_args


@pytest.mark.parametrize(
    ("argv", "inventory", "rest"),
    [
        ([], None, []),
        (["-i", "inv.yml"], "inv.yml", []),
        (["-iinv.yml", "--limit", "vm1"], "inv.yml", ["--limit", "vm1"]),
        (["--inventory=inv", "-e", "x=1"], "inv", ["-e", "x=1"]),
        (["-e", "y=2", "--inventory", "a/b"], "a/b", ["-e", "y=2"]),
    ],
)
def test_split_args_takes_the_inventory_and_keeps_the_rest(
    argv: list[str], inventory: str | None, rest: list[str]
) -> None:
    assert split_args(argv) == (inventory, rest)


def test_split_args_rejects_an_inventory_flag_without_a_path() -> None:
    from deploy import DeployError

    with pytest.raises(DeployError, match="needs a path"):
        split_args(["-i"])


@pytest.mark.parametrize(
    ("args", "picked"),
    [
        (["--vault-id", "prod@prompt", "-e", "a=1"], ["--vault-id", "prod@prompt"]),
        (["--vault-password-file=~/.vp"], ["--vault-password-file=~/.vp"]),
        (["--limit", "vm1"], []),
    ],
)
def test_vault_args_are_passed_on_to_ansible_inventory(args: list[str], picked: list[str]) -> None:
    assert vault_args(args) == picked


def test_recap_reads_every_host_line() -> None:
    pad = " " * 24
    output = (
        "PLAY RECAP " + "*" * 69 + "\n"
        f"vm1{pad}: ok=37   changed=0    unreachable=0    failed=0    skipped=4    ignored=0   \n"
        f"vm2{pad}: ok=33   changed=2    unreachable=0    failed=1    skipped=4    ignored=0\n"
    )
    counts = recap(output)
    assert sorted(counts) == ["vm1", "vm2"]
    assert counts["vm1"]["changed"] == 0
    assert (counts["vm2"]["changed"], counts["vm2"]["failed"], counts["vm2"]["ok"]) == (2, 1, 33)
