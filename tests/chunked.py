"""A multipart upload sent chunked (no Content-Length) over a raw socket, for the tests
of the upload limit: the apps lane's against each service, the security lane's through
the floating IP (HTTPS: the socket wrapped in TLS, the certificate checked). A raw
socket, so the test sees when the answer arrives."""

from __future__ import annotations

import json
import select
import socket
import ssl
import time

MB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "imgcloud-limit-test"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer(sock: socket.socket, deadline_s: float, raw: bytes = b"") -> tuple[int, dict]:
    end = time.monotonic() + deadline_s
    while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < _length(raw):
        if time.monotonic() > end:
            raise AssertionError(f"no whole answer within {deadline_s} s: {raw[:300]!r}")
        got = sock.recv(65536)
        if not got:
            break
        raw += got
    head, body = raw.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body[: _length(raw)])


def _length(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 1 << 30


def _arrived(sock: socket.socket, wait: float) -> bytes | None:
    """What the server has begun to answer (b"" when unread yet, or closed); None while
    it sent nothing. Over TLS a readable socket may carry no answer at all, only the
    handshake's after-messages (TLS 1.3 session tickets): those are read, not taken
    for an answer."""
    if not select.select([sock], [], [], wait)[0]:
        return None
    if not isinstance(sock, ssl.SSLSocket):
        return b""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except ssl.SSLWantReadError:
        return None
    finally:
        sock.settimeout(30)


def _connect(scheme: str, host: str, port: int, context: ssl.SSLContext | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    if scheme != "https":
        return sock
    try:  # the handshake checks the certificate and that it names `host`
        return (context or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def stream_upload(
    url: str,
    content: bytes,
    limit: int,
    filename: str = "streamed.jpg",
    token: str = "",
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict, int]:
    """POST `content` as a multipart upload in chunks, without a Content-Length;
    returns the status, the JSON body and how many bytes of the file had been sent when
    the answer began to arrive. Chunks of 64 KiB, each followed by a look for an answer
    (past the limit, a wait of up to 1 s): a server that answers early is seen to, and its
    answer is read before much more is sent. Bytes still arriving after the server closes
    reset the connection and drop its answer unread: with 1 MB chunks that happened to
    one upload in three through HAProxy's TLS, the backend answering 1 MiB under the
    limit HAProxy is given. ``token``: an API token to send.
    ``url`` is http://host:port or https://host:port; for https the certificate and the
    host's name are checked with ``context`` (default: the system's roots)."""
    scheme, _, address = url.partition("://")
    host, port = address.rstrip("/").split(":")
    head = (
        f"POST /api/images HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    sent, total, early = 0, len(content), b""
    with _connect(scheme, host, int(port), context) as sock:
        sock.sendall(head + _chunk(part))
        try:
            while sent < total:
                block = content[sent : sent + CHUNK]
                sock.sendall(_chunk(block))
                sent += len(block)
                arrived = _arrived(sock, 1.0 if sent > limit else 0)
                if arrived is not None:
                    early = arrived
                    break
            else:
                sock.sendall(_chunk(f"\r\n--{BOUNDARY}--\r\n".encode()) + b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
            pass  # the server stopped reading after its answer: read the answer
        status, body = _answer(sock, deadline_s=30, raw=early)
    return status, body, sent
