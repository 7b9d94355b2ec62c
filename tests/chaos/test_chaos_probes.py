"""The programs the suite runs on the VMs: valid Python that reads its tokens from stdin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chaos import probes


@pytest.mark.parametrize("name", ["SAMPLER", "HEALTH", "MEMBERS"])
def test_the_vm_programs_compile(name: str) -> None:
    compile(getattr(probes, name), f"<{name}>", "exec")


@pytest.mark.parametrize("name", ["SAMPLER", "HEALTH"])
def test_the_vm_programs_call_the_agents_over_https_with_the_vms_ca(name: str) -> None:
    program = getattr(probes, name)
    assert "https://127.0.0.1:8501" in program and "https://127.0.0.1:4646" in program
    assert "/etc/imgcloud/tls/ca.pem" in program
    assert "http://127.0.0.1:8500" not in program


def test_the_health_probe_takes_its_tokens_on_stdin_not_argv() -> None:
    command = probes.health_command("192.0.2.1", "http://127.0.0.1:1/stats;csv")
    assert not any("secret" in arg for arg in command)
    # Here, with no agent to ask, every API answer is an error and the tokens parse.
    done = subprocess.run(
        [sys.executable, *command[1:]],
        input=probes.health_input("secret-consul", "secret-nomad"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    doc = json.loads(done.stdout)
    assert doc["vip"] is False and doc["haproxy"] is None
    assert all("error" in doc[key] for key in ("consul_raft", "nomad_jobs", "nomad_nodes"))


def test_the_members_probe_takes_its_token_on_stdin_and_says_when_consul_is_away() -> None:
    command = probes.members_command()
    done = subprocess.run(
        [sys.executable, *command[1:]],
        input=probes.health_input("secret-consul", "secret-nomad"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert not any("secret" in arg for arg in command)
    assert probes.parse_members(done.stdout) is None and "error" in json.loads(done.stdout)


@pytest.mark.parametrize(
    ("line", "members"),
    [
        ('[{"Name": "vm1", "Addr": "10.0.0.11", "Status": 4}]', 1),
        ('{"error": "no answer"}', None),
        ("Traceback (most recent call last):", None),
        ("", None),
    ],
)
def test_members_output_is_parsed_or_refused(line: str, members: int | None) -> None:
    parsed = probes.parse_members(line)
    assert (len(parsed) if parsed is not None else None) == members


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ('{"consul": "10.0.0.11:8300", "nomad": "", "vip": true}', True),
        ('{"consul": null, "nomad": null, "vip": false}', True),
        ('{"consul": "x", "vip": true}', False),  # a field missing
        ('["consul", "nomad", "vip"]', False),
        ('{"consul": "x", "nomad": "y", "vi', False),  # a line cut mid-way
        ("Traceback (most recent call last):", False),
    ],
)
def test_the_observer_reads_only_whole_sampler_lines(line: str, parsed: bool) -> None:
    assert (probes.parse_sample(line) is not None) == parsed


def test_the_observer_turns_sampler_lines_into_samples_naming_vms() -> None:
    from chaos.journal import Journal
    from chaos.observer import Observer
    from chaos.target import VM, Target

    vms = tuple(VM(f"vm{i}", f"10.0.0.1{i}", f"lab-vm{i}") for i in (1, 2, 3))
    target = Target("https://10.0.0.250/", "10.0.0.250", vms, None, None, lab="lab")
    journal = Journal()
    observer = Observer(None, target, journal)  # type: ignore[arg-type]
    for line in (
        '{"consul": "10.0.0.12:8300", "nomad": "", "vip": true}\n',
        '{"consul": null, "nomad": "10.0.0.13:4647", "vip": false}\n',
        "Traceback (most recent call last):\n",
    ):
        observer._record(vms[0], line)
    samples = journal.snapshot().samples
    assert [(s.node, s.consul_leader, s.nomad_leader, s.vip) for s in samples] == [
        ("vm1", "vm2", "", True),
        ("vm1", None, "vm3", False),
    ]


def _holds(vip: str) -> bool:
    scope: dict[str, object] = {}
    exec(compile(probes._COMMON, "<_COMMON>", "exec"), scope)
    return bool(scope["holds"](vip))  # type: ignore[operator]


def _own_address() -> str:
    """This host's address towards the outside (a UDP connect sends nothing)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("198.51.100.1", 9))
        return str(sock.getsockname()[0])


def test_holds_sees_an_address_on_an_interface_and_not_one_on_lo() -> None:
    # The sampler's question, asked of this host's kernel: its own address is on
    # an interface; 127.0.0.1 lives on lo, as a drained floating IP would; a
    # documentation address is nowhere.
    assert _holds(_own_address()) is True
    assert _holds("127.0.0.1") is False
    assert _holds("198.51.100.7") is False
