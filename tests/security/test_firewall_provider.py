"""From the provider's network (the lab's S3 and broker machine: a neighbour on the
VMs' subnet that is neither the bastion, a VM nor the operator) only the floating
IP's public ports answer; nothing of any VM does, SSH included (roles/firewall).
Lab only: marked `provider` (real inventories run `-m 'not provider'`)."""

from __future__ import annotations

from typing import Any

import pytest
from knock import knock_in_container, listening, opened

pytestmark = [pytest.mark.lab, pytest.mark.provider]


@pytest.fixture(scope="module")
def provider_container(pytestconfig: pytest.Config) -> str:
    if pytestconfig.getoption("inventory"):
        pytest.fail("the provider's view needs the lab: run with -m 'not provider'")
    from lab.status import read_status
    from lab.topology import lab_name

    return str(read_status(lab_name(None))["provider"]["container"])


def test_the_provider_reaches_no_port_of_any_vm(
    provider_container: str, vms: dict[str, Any], hostvars: dict[str, dict[str, Any]]
) -> None:
    targets = sorted(
        s
        for name, vm in vms.items()
        for s in listening(vm, hostvars[name]["ansible_host"], hostvars[name]["imgcloud_vip"])
    )
    assert {port for _, port in targets} >= {22, 4646, 8300}, f"few listeners: {targets}"
    assert not opened(knock_in_container(provider_container, targets), want_open=False)


def test_the_provider_reaches_the_floating_ip(
    provider_container: str, hostvars: dict[str, dict[str, Any]]
) -> None:
    vip = next(iter(hostvars.values()))["imgcloud_vip"]
    verdicts = knock_in_container(provider_container, [(vip, 80), (vip, 443)])
    assert not opened(verdicts, want_open=True)
