"""A multipart upload sent chunked (no Content-Length) over a raw socket, for the tests
of the upload limit: the apps lane's against each service, the security lane's through
the floating IP. A raw socket, so the test sees when the answer arrives."""

from __future__ import annotations

import json
import select
import socket
import time

MB = 1024 * 1024
BOUNDARY = "imgcloud-limit-test"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer(sock: socket.socket, deadline_s: float) -> tuple[int, dict]:
    raw = b""
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


def stream_upload(
    url: str, content: bytes, limit: int, filename: str = "streamed.jpg", token: str = ""
) -> tuple[int, dict, int]:
    """POST `content` as a multipart upload in 1 MB chunks, without a Content-Length;
    returns the status, the JSON body and how many bytes of the file had been sent when
    the answer began to arrive. Past the limit each chunk waits up to 0.25 s for an
    answer, so a server that answers early is seen to. ``token``: an API token to send."""
    host, port = url.removeprefix("http://").split(":")
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
    sent, total = 0, len(content)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + _chunk(part))
        try:
            while sent < total:
                block = content[sent : sent + MB]
                sock.sendall(_chunk(block))
                sent += len(block)
                wait = 0.25 if sent > limit else 0
                if select.select([sock], [], [], wait)[0]:
                    break
            else:
                sock.sendall(_chunk(f"\r\n--{BOUNDARY}--\r\n".encode()) + b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading after its answer: read the answer
        status, body = _answer(sock, deadline_s=30)
    return status, body, sent
