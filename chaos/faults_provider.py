"""A slow or flaky provider: Toxiproxy toxics on the proxies in front of S3 and RabbitMQ.

In the lab the VMs reach S3 and the broker only through the provider's Toxiproxy
(`provider.toxiproxy` of `python -m lab status --json`), so a toxic on the `s3` or
`amqp` proxy slows or breaks every call the deployed service makes. A toxic is added
by name for the fault window and removed by name at the rollback; restore-everything
resets Toxiproxy (every toxic gone) whenever the target has one.

Real VMs have no Toxiproxy unless the inventory names one (`imgcloud_chaos_toxiproxy`,
the URL of its API, proxies `s3` and `amqp`): without it these faults cannot be made,
and their experiments fail with that reason rather than pass untried.
"""

from __future__ import annotations

from typing import Any

from chaos.fault_base import Context, Fault, FaultError
from chaos.target import Target
from chaos.toxiproxy import Toxiproxy, ToxiproxyError

TOXIC_PREFIX = "imgcloud-chaos"


def no_toxiproxy(target: Target) -> str | None:
    """Why a toxic cannot be made on `target` (None: it can)."""
    if target.toxiproxy is None:
        where = (
            "the lab status has no provider.toxiproxy"
            if target.lab
            else ("the inventory sets no imgcloud_chaos_toxiproxy")
        )
        return (
            "no Toxiproxy in front of this cluster's S3 and broker "
            f"({where}): a slow or flaky provider cannot be made here"
        )
    return None


def toxics(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The toxics a fault's params ask for: one per stream, named after the fault."""
    proxy, kind = params.get("proxy"), params.get("type")
    if proxy not in ("s3", "amqp") or not kind:
        raise FaultError(f"a toxic needs proxy s3|amqp and a type, got {proxy!r}, {kind!r}")
    streams = params.get("streams") or ["downstream"]
    return [
        {
            "proxy": proxy,
            "name": f"{TOXIC_PREFIX}-{kind}-{stream}",
            "type": kind,
            "attributes": dict(params.get("attributes") or {}),
            "stream": stream,
            "toxicity": float(params.get("toxicity", 1.0)),
        }
        for stream in streams
    ]


def _client(ctx: Context) -> Toxiproxy:
    why = no_toxiproxy(ctx.target)
    if why:
        raise FaultError(why)
    assert ctx.target.toxiproxy is not None
    return Toxiproxy(ctx.target.toxiproxy.api)


def add_toxics(ctx: Context) -> None:
    with _client(ctx) as client:
        for toxic in toxics(ctx.params):
            try:
                client.add_toxic(
                    toxic["proxy"],
                    toxic["name"],
                    toxic["type"],
                    toxic["attributes"],
                    toxic["stream"],
                    toxic["toxicity"],
                )
            except ToxiproxyError as exc:
                raise FaultError(f"adding the toxic {toxic['name']}: {exc}") from exc


def remove_toxics(ctx: Context) -> None:
    with _client(ctx) as client:
        for toxic in toxics(ctx.params):
            try:
                client.remove_toxic(toxic["proxy"], toxic["name"])
            except ToxiproxyError as exc:
                raise FaultError(f"removing the toxic {toxic['name']}: {exc}") from exc


def restore(target: Target) -> None:
    """Every toxic gone, every proxy enabled (when the target has a Toxiproxy)."""
    if target.toxiproxy is None:
        return
    try:
        with Toxiproxy(target.toxiproxy.api) as client:
            client.reset()
    except Exception:  # the safety net never raises; health decides
        pass


FAULTS: dict[str, Fault] = {
    # Slower or narrower: nothing may fail, and the uploads must be seen slower.
    "toxic-slow": Fault(
        add_toxics,
        remove_toxics,
        "Toxiproxy {type} on the {proxy} proxy; remove it",
        "toxic-slow",
        no_toxiproxy,
    ),
    # Reset or stalled connections: uploads must be refused with the service's 503.
    "toxic-break": Fault(
        add_toxics,
        remove_toxics,
        "Toxiproxy {type} on the {proxy} proxy; remove it",
        "toxic-503",
        no_toxiproxy,
    ),
}
