"""The playbook-output reader the cluster tests judge by (pure parsing, no lab)."""

from __future__ import annotations

from cluster_playbooks import PlaybookResult

# The shape ansible-playbook prints (default callback), trimmed: a task that changed
# one host, a looped task that changed items on another, a task that changed nothing.
OUTPUT = """\
PLAY [Cluster agents] **********************************************************

TASK [consul : Write the agent's configuration] ********************************
ok: [vm1]
changed: [vm2]
ok: [vm3]

TASK [imgcloud : Register the jobs] ********************************************
ok: [vm1] => (item=imgcloud-frontend)
changed: [vm1] => (item=imgcloud-backend)

TASK [nomad : Wait for a leader] ***********************************************
ok: [vm1]

PLAY RECAP *********************************************************************
vm1                        : ok=3    changed=1    unreachable=0    failed=0    skipped=0
vm2                        : ok=1    changed=1    unreachable=0    failed=0    skipped=0
vm3                        : ok=1    changed=0    unreachable=0    failed=0    skipped=0
"""


def test_the_recap_counts_each_host() -> None:
    recap = PlaybookResult(0, OUTPUT, 1.0).recap()
    assert {host: counts["changed"] for host, counts in recap.items()} == {
        "vm1": 1,
        "vm2": 1,
        "vm3": 0,
    }


def test_every_change_is_named_with_its_host_and_task() -> None:
    assert PlaybookResult(0, OUTPUT, 1.0).changed_tasks() == [
        "vm2: consul : Write the agent's configuration",
        "vm1: imgcloud : Register the jobs",
    ]


def test_an_output_without_changes_names_none() -> None:
    assert PlaybookResult(0, OUTPUT.replace("changed: [", "ok: ["), 1.0).changed_tasks() == []
