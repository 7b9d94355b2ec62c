"""The backend's resources: made in ``before_serving``, kept on the app, closed after.

The blueprints (:mod:`imgcloud.uploads`, :mod:`imgcloud.reads`) find them with
:func:`current`, the way a Flask or Quart extension keeps its state in
``app.extensions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Quart, Response, current_app

from imgcloud.accounts import Accounts
from imgcloud.broker import Broker
from imgcloud.catalog import Catalog
from imgcloud.config import Settings
from imgcloud.errors import problem
from imgcloud.idempotency import Ledger
from imgcloud.metrics import Metrics
from imgcloud.storage import Storage
from imgcloud.widths import WidthMaker

API = "/api/images"
_EXTENSION = "imgcloud_backend"


@dataclass
class Backend:
    settings: Settings
    metrics: Metrics
    storage: Storage
    catalog: Catalog
    broker: Broker
    ledger: Ledger
    widths: WidthMaker
    accounts: Accounts

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics) -> Backend:
        storage = Storage(settings)
        catalog = Catalog(storage)
        broker = Broker(
            settings.amqp_url,
            settings.queue,
            name=f"backend@{settings.node_name}",
            delivery_limit=settings.delivery_limit,
        )
        return cls(
            settings,
            metrics,
            storage,
            catalog,
            broker,
            Ledger(storage, settings.idempotency_ttl),
            WidthMaker(settings, catalog, metrics),
            Accounts(storage, settings.admin_token_sha256),
        )

    def reject(self, status: int, reason: str, message: str) -> tuple[Response, int]:
        """A bad-input answer, counted by reason."""
        self.metrics.rejections.labels(reason).inc()
        return problem(status, message, reason)


def install(app: Quart, backend: Backend) -> None:
    app.extensions[_EXTENSION] = backend


def backend_of(app: Quart) -> Backend:
    return app.extensions[_EXTENSION]


def current() -> Backend:
    """The resources of the app handling the current request."""
    return backend_of(current_app)
