"""Faults of one VM's own resources: its disk filled, its wall clock jumped.

Both need a VM that owns the resource, which the lab's VMs do not: they are containers
whose /var/lib/docker and /opt live on the host's disk (filling it would fill every
VM, the provider and the host) and which share the host's kernel clock (`date -s` in
one would move the host's and every VM's clock). So on the lab both faults refuse, and
their experiments fail with that reason; on real VMs (SSH) they run, and a guard in the
VM refuses again if it finds itself in a container (an inventory pointed at the lab).

- full disk: `fallocate` a file in /var/lib/docker (and /opt when it is another
  filesystem) leaving less than 1 MiB free; rollback: remove it.
- clock jump: stop time sync (timedatectl set-ntp false, chrony/timesyncd stopped),
  `date -s` +90 s, the offset kept in /run/imgcloud-chaos-clock; rollback: `date -s`
  back by the offset, time sync on again and its daemon restarted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from chaos.fault_base import Context, Fault, FaultError, on_all, sh
from chaos.remote import Executor
from chaos.target import Target

FILL_DIRS = ("/var/lib/docker", "/opt")
FILL_NAME = "imgcloud-chaos-fill"
LEAVE_BYTES = 512 * 1024  # what the fill leaves free: under 1 MiB
FULL_BELOW = 1024 * 1024  # "full": less than this free (root's view, reserved blocks too)
CLOCK_MARK = "/run/imgcloud-chaos-clock"
CLOCK_JUMP_S = 90
TIME_SYNC = ("chrony", "chronyd", "systemd-timesyncd", "ntp", "ntpsec")

# Exit 3 with a sentence when the VM is a container: its disk and clock are the host's.
GUARD = (
    "if systemd-detect-virt --container --quiet 2>/dev/null || [ -e /.dockerenv ]; then "
    "echo 'this VM is a container: its disk and its clock are the host'\"'\"'s'; exit 3; fi"
)

NO_OWN_DISK = (
    "cannot fill one VM's disk: the lab's VMs keep /var/lib/docker and /opt on the host's "
    "disk, so filling it would fill every VM, the provider and the host"
)
NO_OWN_CLOCK = "cannot jump one VM's clock: the lab's VMs share the host clock"


def _not_in_lab(why: str) -> Callable[[Target], str | None]:
    return lambda target: why if target.lab else None


def fill_script() -> str:
    """Fill the filesystem of each FILL_DIRS entry (once per filesystem) to < 1 MiB free."""
    return (
        f"{GUARD}; set -e; "
        f"for dir in {' '.join(FILL_DIRS)}; do "
        '[ -d "$dir" ] || continue; '
        "set -- $(stat -f -c '%f %S' \"$dir\"); "
        f"size=$(( $1 * $2 - {LEAVE_BYTES} )); "
        f'if [ "$size" -gt 0 ]; then fallocate -l "$size" "$dir/{FILL_NAME}"; fi; '
        "done; " + free_script()
    )


def free_script() -> str:
    """Print `<dir> <free bytes>` for each FILL_DIRS entry (root's view)."""
    return (
        f'for dir in {" ".join(FILL_DIRS)}; do [ -d "$dir" ] || continue; '
        'set -- $(stat -f -c \'%f %S\' "$dir"); echo "$dir $(( $1 * $2 ))"; done'
    )


def unfill_script() -> str:
    return "rm -f " + " ".join(f"{d}/{FILL_NAME}" for d in FILL_DIRS) + "; true"


def jump_script(offset_s: int) -> str:
    stop = " ".join(TIME_SYNC)
    return (
        f"{GUARD}; set -e; "
        f"if [ -e {CLOCK_MARK} ]; then echo 'the clock is already jumped'; exit 4; fi; "
        "timedatectl set-ntp false 2>/dev/null || true; "
        f"systemctl stop {stop} 2>/dev/null || true; "
        f"echo {int(offset_s)} > {CLOCK_MARK}; "
        f'date -s "@$(( $(date +%s) + {int(offset_s)} ))" >/dev/null; date +%s.%N'
    )


def unjump_script() -> str:
    """Undo a jump this suite made (the mark says by how much) and resync; in a
    container, nothing (its clock is the host's)."""
    restart = "; ".join(
        f"if systemctl is-enabled --quiet {unit} 2>/dev/null; then systemctl restart {unit}; fi"
        for unit in TIME_SYNC
    )
    return (
        f"{GUARD.replace('exit 3', 'exit 0')}; "
        f"if [ -e {CLOCK_MARK} ]; then "
        f'off=$(cat {CLOCK_MARK}); date -s "@$(( $(date +%s) - off ))" >/dev/null; '
        f"rm -f {CLOCK_MARK}; "
        "timedatectl set-ntp true 2>/dev/null || true; "
        f"{restart}; fi; true"
    )


def _refuse_lab(ctx: Context, why: str) -> None:
    if ctx.target.lab:
        raise FaultError(why)


def _checked(ctx: Context, script: str, what: str) -> None:
    for vm in ctx.vms:
        done = sh(ctx.executor, vm, script, timeout=60)
        if done.returncode != 0:
            said = (done.stdout or done.stderr or "").strip()[-300:]
            raise FaultError(f"{what} on {vm.name} failed ({done.returncode}): {said}")


def _fill_inject(ctx: Context) -> None:
    _refuse_lab(ctx, NO_OWN_DISK)
    _checked(ctx, fill_script(), "filling the disk")


def _fill_rollback(ctx: Context) -> None:
    _checked(ctx, unfill_script(), "removing the fill")


def _jump_inject(ctx: Context) -> None:
    _refuse_lab(ctx, NO_OWN_CLOCK)
    _checked(ctx, jump_script(int(ctx.params.get("offset_s", CLOCK_JUMP_S))), "jumping the clock")


def _jump_rollback(ctx: Context) -> None:
    if not ctx.target.lab:
        _checked(ctx, unjump_script(), "setting the clock back")


def restore(target: Target, executor: Executor) -> None:
    """No fill file left, no clock left jumped (real VMs only: the lab makes neither)."""
    if target.lab:
        return
    with contextlib.suppress(Exception):  # the safety net never raises; health decides
        on_all(target, lambda vm: sh(executor, vm, unfill_script() + "; " + unjump_script()))


FAULTS: dict[str, Fault] = {
    "full-disk": Fault(
        _fill_inject,
        _fill_rollback,
        "fill the disk of {vms} to < 1 MiB free; remove the fill",
        "disk-full",
        _not_in_lab(NO_OWN_DISK),
    ),
    "clock-jump": Fault(
        _jump_inject,
        _jump_rollback,
        "jump the clock of {vms} +{offset_s} s; set it back and resync",
        "clock-skewed",
        _not_in_lab(NO_OWN_CLOCK),
    ),
}
