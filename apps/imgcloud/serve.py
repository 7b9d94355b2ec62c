"""Run a Quart app on Hypercorn until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

GRACEFUL_TIMEOUT = 10.0


def run(app: Quart, bind: str) -> None:
    asyncio.run(_serve(app, bind))


async def _serve(app: Quart, bind: str) -> None:
    config = Config()
    config.bind = [bind]
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)
