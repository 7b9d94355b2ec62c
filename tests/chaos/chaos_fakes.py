"""Hand-made histories for the checker, timeline and report tests (no cluster)."""

from __future__ import annotations

from collections.abc import Callable

from chaos.history import VARIANTS, expected_size
from chaos.journal import Event, History, Op, Sample

T0 = 1_000.0
VMS = ["vm1", "vm2", "vm3"]
State = Callable[[float], tuple[str | None, bool]]  # seconds -> (leader, holds the VIP)


def op(kind: str, start: float, latency: float = 0.05, ok: bool = True, **kw: object) -> Op:
    return Op(kind, T0 + start, T0 + start + latency, ok, **kw)  # type: ignore[arg-type]


def upload(start: float, seq: int, ok: bool = True, size=(480, 360), **kw: object) -> Op:
    """An upload as the steady client records it: key, SHA-256, size, unique file name."""
    fields = {
        "status": 202 if ok else None,
        "image": f"img{seq}" if ok else None,
        "error": None if ok else "ConnectError",
        "indeterminate": not ok,
        **kw,
    }
    return op(
        "upload",
        start,
        ok=ok,
        key=f"key-{seq}",
        sha256=f"{seq:064x}",
        size=list(size),
        filename=f"chaos-test-{seq}.jpg",
        **fields,
    )


def readback(image: str, sha: str, size=(480, 360), t: float = 41.0, **kw: object) -> Event:
    """What the read-back of a good stored image records."""
    detail = {
        "image": image,
        "status": "done",
        "json_sha256": sha,
        "sizes": {},
        "sha256": sha,
        "original": list(size),
        "variants": {name: list(expected_size(v, *size)) for name, v in VARIANTS.items()},
        "error": None,
        **kw,
    }
    return Event(T0 + t, "readback", detail)


def listing(uploads: list[Op], t: float = 40.5, **extra: list[str]) -> Event:
    """A complete listing showing each acknowledged upload once (plus `extra` ids)."""
    found = {o.filename: [o.image] for o in uploads if o.ok and o.image and o.filename}
    for name, ids in extra.items():
        found[name] = found.get(name, []) + ids
    detail = {"complete": True, "pages": 1, "entries": len(found), "error": None}
    return Event(T0 + t, "listing", {**detail, "found": found})


def settle(history: History) -> History:
    """Follow every acknowledged upload to done and read it back complete, as after a heal."""
    acked = [o for o in history.ops if o.kind == "upload" and o.ok]
    for o in acked:
        history.ops.append(op("verify", 40, ok=True, image=o.image, detail="done"))
    history.events.append(listing(acked))
    history.events += [readback(o.image, o.sha256, tuple(o.size)) for o in acked]
    return history


def vm_samples(node: str, t0: float, t1: float, state: State, step: float = 0.25) -> list[Sample]:
    out = []
    for i in range(int((t1 - t0) / step)):
        t = t0 + i * step
        leader, vip = state(t)
        out.append(Sample(T0 + t, node, leader, leader, vip))
    return out


def _survivor_leader(t: float) -> str:
    return "vm1" if t < 11 else ("" if t < 12 else "vm2")


def vip_failover_history() -> History:
    """vm1 leads and holds the VIP; killed at 10 s; vm2 holds the VIP from 11.5 s and
    leads from 12 s; vm1 is back at 25 s; requests fail from 10.0 to 10.5 s."""
    history = History()
    for i in range(150):  # 5 ops/s for 30 s
        t = round(i * 0.2, 3)
        failed = 10.0 <= t < 10.5
        kind = ("upload", "status", "read", "status", "read")[i % 5]
        if kind == "upload":
            history.ops.append(upload(t, i, ok=not failed))
            continue
        history.ops.append(
            op(
                kind,
                t,
                ok=not failed,
                status=None if failed else 200,
                error="ConnectError" if failed else None,
            )
        )
    history.ops.append(op("status", 13.1, image="img55", detail="done"))
    history.samples = sorted(
        vm_samples("vm1", 0, 10, lambda t: ("vm1", True))
        + vm_samples("vm1", 25, 35, lambda t: ("vm2", False))
        + vm_samples("vm2", 0, 35, lambda t: (_survivor_leader(t), t >= 11.5))
        + vm_samples("vm3", 0, 35, lambda t: (_survivor_leader(t), False)),
        key=lambda s: s.t,
    )
    history.events = [
        Event(T0, "start"),
        Event(
            T0 + 10,
            "fault",
            {"vms": ["vm1"], "what": "kill vm1 hard; start again", "effect": "silent"},
        ),
        Event(T0 + 10, "injected"),
        Event(T0 + 22, "rollback"),
        Event(T0 + 30, "healthy"),
        Event(T0 + 35, "end"),
    ]
    return settle(history)
