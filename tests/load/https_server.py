"""An HTTPS server on loopback for the load lane's client tests, with a certificate the
`pki` fixture's CA signed (tests/load/conftest.py)."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serving(
    handler: type[http.server.BaseHTTPRequestHandler], pki: dict[str, Path]
) -> Iterator[str]:
    """`https://127.0.0.1:<port>` answered by `handler` until the block ends."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
