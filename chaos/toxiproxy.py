"""A small client of Toxiproxy's HTTP API: the slow or flaky provider of the chaos suite.

In the lab the provider runs Toxiproxy in front of S3 and RabbitMQ (`python -m lab
status --json` gives `provider.toxiproxy.api` and the proxies `s3` and `amqp`), and the
VMs reach both only through it, so a toxic added here slows or breaks every S3 or broker
call of the deployed service. The API is Toxiproxy 2's
(https://github.com/Shopify/toxiproxy#http-api); toxics are added and removed one by
name, and `reset()` removes them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

ToxicType = Literal[
    "latency", "bandwidth", "reset_peer", "timeout", "slicer", "limit_data", "slow_close"
]
Stream = Literal["upstream", "downstream"]


class ToxiproxyError(RuntimeError):
    """Toxiproxy refused a request, or did not answer; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data.get("stream", "downstream"),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )


class Toxiproxy:
    """`Toxiproxy("http://10.210.0.3:8474")`: the proxies and their toxics."""

    def __init__(self, api_url: str, *, timeout: float = 5.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout)

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            answer = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.api_url} did not answer: {exc}") from exc
        if answer.is_error:
            try:
                reason = answer.json().get("error", answer.text)
            except ValueError:
                reason = answer.text
            raise ToxiproxyError(
                f"{method} {path}: Toxiproxy answered {answer.status_code}: {reason}",
                answer.status_code,
            )
        return answer.json() if answer.content else None

    def proxies(self) -> dict[str, Proxy]:
        """Every proxy by name, with its toxics."""
        return {name: Proxy.from_json(p) for name, p in self._call("GET", "/proxies").items()}

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type: ToxicType,
        attributes: Mapping[str, int | float],
        stream: Stream = "downstream",
        toxicity: float = 1.0,
    ) -> Toxic:
        """Add the toxic `name` to `proxy`; it acts on new and open connections at once.

        `attributes` are the type's (ms for latency, jitter and timeout, KB/s for
        bandwidth, bytes for limit_data...); `toxicity` is the share of connections
        it applies to. A toxic of that name already there is an error (409).
        """
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        return Toxic.from_json(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove the toxic `name` from `proxy`; False when it was not there (a rollback
        may run twice). An unknown proxy is an error."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ToxiproxyError as exc:
            if exc.status == 404 and "toxic not found" in str(exc):
                return False
            raise
        return True

    def reset(self) -> None:
        """Remove every toxic of every proxy and enable every proxy again."""
        self._call("POST", "/reset")

    @contextmanager
    def toxic(
        self,
        proxy: str,
        name: str,
        type: ToxicType,
        attributes: Mapping[str, int | float],
        stream: Stream = "downstream",
        toxicity: float = 1.0,
    ) -> Iterator[Toxic]:
        """`with client.toxic("s3", "slow", "latency", {"latency": 500}):` — removed on exit."""
        added = self.add_toxic(proxy, name, type, attributes, stream, toxicity)
        try:
            yield added
        finally:
            self.remove_toxic(proxy, name)
