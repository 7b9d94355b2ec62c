"""Watching who leads while something else happens (a rolling restart).

A thread per agent asks every VM for its leader, round after round. A round in
which no majority of VMs names the same leader is a round without a leader.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from agents import Agent


@dataclass(frozen=True)
class Round:
    start: float
    end: float
    leaders: dict[str, str | None]

    def leader(self, quorum: int) -> str | None:
        named = [v for v in self.leaders.values() if v is not None]
        for candidate in set(named):
            if named.count(candidate) >= quorum:
                return candidate
        return None


@dataclass
class LeaderWatch:
    vms: dict[str, Any]
    agent: Agent
    rounds: list[Round] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def quorum(self) -> int:
        return len(self.vms) // 2 + 1

    def __enter__(self) -> LeaderWatch:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.agent}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            leaders = {name: self.agent.leader(host) for name, host in self.vms.items()}
            self.rounds.append(Round(start, time.monotonic(), leaders))

    def leaderless_spans(self) -> list[float]:
        """Seconds of each stretch of rounds without a leader, from its first
        round's start to the end of the last round before a leader was seen."""
        spans: list[float] = []
        began: float | None = None
        last_end = 0.0
        for round_ in self.rounds:
            if round_.leader(self.quorum) is None:
                began = round_.start if began is None else began
                last_end = round_.end
            elif began is not None:
                spans.append(last_end - began)
                began = None
        if began is not None:
            spans.append(last_end - began)
        return spans

    def leaders_seen(self) -> list[str]:
        """Distinct leaders in the order they were seen."""
        seen: list[str] = []
        for round_ in self.rounds:
            leader = round_.leader(self.quorum)
            if leader is not None and (not seen or seen[-1] != leader):
                seen.append(leader)
        return seen
