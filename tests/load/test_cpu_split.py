"""The CPU split's rules on recorded command lines and planted snapshots (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import cpu_split


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("/opt/imgcloud/bin/python3 /opt/imgcloud/bin/imgcloud worker", "worker"),
        ("/opt/imgcloud/bin/python3 /opt/imgcloud/bin/imgcloud backend", "backend"),
        ("/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg", "haproxy"),
        ("/usr/sbin/keepalived --dont-fork", "keepalived"),
        ("/usr/bin/python3 /usr/local/lib/imgcloud/imgcloud-witness.py /etc/x.json", "keepalived"),
        ("/usr/local/bin/consul agent -config-dir=/etc/consul.d", "consul"),
        ("/usr/local/bin/nomad docker_logger", "nomad"),
        ("/usr/bin/containerd-shim-runc-v2 -namespace moby -id 1", "docker"),
        ("/usr/bin/docker-registry serve /etc/docker/registry/config.yml", "registry"),
        ("/usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w -- -root /usr/lib/erlang", "rabbitmq"),
        (
            "/tmp/venv/bin/python -m locust --locustfile tests/load/openloop_locustfile.py",
            "load generator",
        ),
        ("kworker/0:2-events", "kernel"),
        ("/usr/bin/sleep 5", "other"),
    ],
)
def test_a_process_is_named_by_its_command_line(command: str, name: str) -> None:
    assert cpu_split.component(command) == name


def test_spent_counts_what_each_component_used_between_two_snapshots() -> None:
    before = {(1, 10): ("worker", 100), (2, 10): ("haproxy", 50), (3, 10): ("worker", 7)}
    after = {
        (1, 10): ("worker", 300),  # +200 ticks
        (2, 10): ("haproxy", 60),  # +10
        (4, 99): ("worker", 40),  # new since: counted from 0
        # pid 3 exited: its last slice is gone with it
    }
    assert cpu_split.spent(before, after, ticks_per_s=100) == {"haproxy": 0.1, "worker": 2.4}


def test_a_reused_pid_is_a_new_process() -> None:
    before = {(5, 10): ("consul", 500)}
    after = {(5, 77): ("worker", 20)}  # same pid, later start: another process
    assert cpu_split.spent(before, after, ticks_per_s=100) == {"worker": 0.2}


def test_per_image_keeps_the_idle_part_apart() -> None:
    split = cpu_split.per_image_ms({"worker": 5.0, "consul": 1.0}, {"consul": 0.05}, 10.0, 50)
    assert split["worker"] == {"ms_per_image": 100.0, "idle_ms_per_image": 0.0}
    assert split["consul"] == {"ms_per_image": 20.0, "idle_ms_per_image": 10.0}
    assert cpu_split.per_image_ms({"worker": 5.0}, {}, 10.0, 0) == {}


def test_a_recorded_proc_entry_reads_back(tmp_path: Path) -> None:
    entry = tmp_path / "4242"
    entry.mkdir()
    # comm with a space and a ')' in it: the fields start after the last ')'
    fields = ["S"] + ["0"] * 10 + ["120", "30", "5", "5"] + ["0"] * 4 + ["777"] + ["0"] * 30
    (entry / "stat").write_text(f"4242 (odd ) name) {' '.join(fields)}\n")
    (entry / "cmdline").write_bytes(b"/usr/sbin/haproxy\0-Ws\0")
    (tmp_path / "self").mkdir()  # not a pid: skipped
    (process,) = cpu_split.processes(tmp_path)
    assert process == cpu_split.Process(4242, 777, "/usr/sbin/haproxy -Ws", 160)


def test_each_step_gets_the_cpu_spent_inside_its_window() -> None:
    from loadbench import knee, openloop

    step_s = 10.0
    queue = [knee.QueueRow(t, 0 if t < 10 else 1, 1, 1000.0 + t) for t in range(0, 21)]
    samples = [
        (1000.0, {(1, 1): ("worker", 0)}),
        (1010.0, {(1, 1): ("worker", 100)}),  # 1 s of CPU in step 0
        (1020.0, {(1, 1): ("worker", 400)}),  # 3 s in step 1
    ]
    found = [
        knee.Step(i, r, 10, 1.0, 0, done, None, None, None, 0, 0.0, ())
        for i, (r, done) in enumerate([(1.0, 10), (2.0, 20)])
    ]
    cpu = openloop.step_cpu(found, queue, samples, {"worker": 0.01}, step_s)
    assert [c["host_cpu_ms_per_image"] for c in cpu] == [100.0, 150.0]
    assert cpu[1]["components"]["worker"] == {"ms_per_image": 150.0, "idle_ms_per_image": 5.0}
