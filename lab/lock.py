"""One `up` or `down` per lab at a time, and one image build per machine.

Lanes run in parallel (a chaos run, a deploy, someone at the keyboard) and each
may call `up`: without a lock two of them would race to create the same
containers. The lock files sit beside the state folders, which `down` removes.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.progress import say


@contextmanager
def locked(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another {what} to finish (lock {path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
