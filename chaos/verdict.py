"""One judged expectation of a run: what was checked, wanted and got, and whether it
held. `asserted` False marks a goal reported beside a bound, not a pass condition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    check: str
    want: str
    got: str
    ok: bool
    asserted: bool = True
