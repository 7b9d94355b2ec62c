"""imgcloud: image hosting and resizing (backend, worker and frontend in one package)."""

from __future__ import annotations

__version__ = "0.1.0"
