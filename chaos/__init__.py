"""The chaos suite: faults injected into a running imgcloud cluster under steady traffic.

An experiment is data (`experiments.py`): a steady-state hypothesis, a fault and its
rollback. The runner (`runner.py`) drives one experiment while a steady client
(`client.py`) and the cluster observers (`observer.py`) write every operation and
every sample into a journal (`journal.py`); the checkers (`checkers.py`) turn that
history into figures and verdicts, and the report (`report.py`, `plot.py`) draws it.
"""

from __future__ import annotations
