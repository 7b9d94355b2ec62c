"""Reading the health page (roles/monitoring/files/imgcloud-health.html) as a person
would see it, from the data-* attributes its rows and verdict carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

PATH = "/consoles/imgcloud-health.html"


@dataclass
class HealthPage:
    firing: int | None = None  # the verdict's count; None: the page has no verdict
    alerts: list[dict[str, str]] = field(default_factory=list)  # alertname, instance, service
    vms: dict[str, dict[str, str]] = field(default_factory=dict)  # VM -> its row's data-*
    services: list[str] = field(default_factory=list)

    def holders(self) -> list[str]:
        return sorted(vm for vm, row in self.vms.items() if row["floating-ip"] == "held")

    def leaders(self, agent: str) -> list[str]:
        return sorted(vm for vm, row in self.vms.items() if row[agent] == "leader")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = HealthPage()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k.removeprefix("data-"): v or "" for k, v in attrs if k.startswith("data-")}
        if tag == "p" and "firing" in data:
            self.page.firing = int(data["firing"])
        elif tag == "li" and "alert" in data:
            alert = {"alertname": data["alert"]}
            alert.update((k, data[k]) for k in ("instance", "service"))
            self.page.alerts.append(alert)
        elif tag == "tr" and "vm" in data:
            self.page.vms[data["vm"]] = data
        elif tag == "tr" and "service" in data:
            self.page.services.append(data["service"])


def parse(html: str) -> HealthPage:
    reader = _Reader()
    reader.feed(html)
    return reader.page


def read(vm: Any, address: str) -> HealthPage:
    """The page as this VM's Prometheus renders it, fetched on the VM itself."""
    html = vm.check_output(f"curl -sf --max-time 10 'http://{address}:9090{PATH}'")
    return parse(html)
