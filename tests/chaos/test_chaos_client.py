"""The steady client against a real tiny HTTP server on loopback that plays the service
(and sometimes HAProxy): retries with the same key, what each Op records, the read-back."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from chaos import checkers
from chaos.client import SteadyClient
from chaos.history import VARIANTS, expected_size
from chaos.journal import Journal


class Service:
    """What the fake service does to the next uploads, and what it saw."""

    def __init__(self) -> None:
        self.first_answers: list[str] = []  # per upload request: cut | html503 | json503
        self.keys: list[str] = []  # the Idempotency-Key of every upload request
        self.images: dict[str, dict] = {}  # id -> {"data", "filename", "created"}
        self.by_key: dict[str, str] = {}
        self.tamper = False  # store the same picture re-encoded: other bytes
        self.limited_gets = 0  # the next GETs answered HAProxy's 429 with Retry-After
        self.lock = threading.Lock()


def _file_part(body: bytes, content_type: str) -> tuple[str, bytes]:
    boundary = content_type.split("boundary=")[1].encode()
    for part in body.split(b"--" + boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b"filename=" in head:
            name = head.split(b'filename="')[1].split(b'"')[0].decode()
            return name, data.removesuffix(b"\r\n")
    raise AssertionError("no file part")


def _variant(data: bytes, name: str | None) -> bytes:
    """The variant as the service makes it, measured as the checker expects it (None:
    the same picture re-encoded)."""
    with Image.open(io.BytesIO(data)) as image:
        resized = image.resize(expected_size(VARIANTS[name], *image.size)) if name else image
        out = io.BytesIO()
        resized.save(out, "JPEG")
        return out.getvalue()


def handler_for(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, kind: str, served: bool = True) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Edge", "vm2")
            if served:
                self.send_header("X-Served-By", "vm3")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: object) -> None:
            self._answer(status, json.dumps(value).encode(), "application/json")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers.get("Idempotency-Key", "")
            with service.lock:
                service.keys.append(key)
                trick = service.first_answers.pop(0) if service.first_answers else "ok"
            if trick == "cut":  # read the whole request, then hang up without a word
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if trick == "html503":
                page = b"<html><body><h1>503 Service Unavailable</h1>No server is available"
                return self._answer(503, page, "text/html", served=False)
            if trick == "json503":
                return self._json(503, {"error": "the upload was not stored", "reason": "s3"})
            filename, data = _file_part(body, self.headers["Content-Type"])
            stored = _variant(data, None) if service.tamper else data
            with service.lock:
                image = service.by_key.setdefault(key, f"id{len(service.by_key)}")
                service.images.setdefault(image, {"data": stored, "filename": filename})
            self._json(202, {"id": image, "status": "pending"})

        def do_GET(self) -> None:
            with service.lock:
                limited = service.limited_gets > 0
                service.limited_gets -= limited
            if limited:
                body = b'{"error": "too many requests", "reason": "rate_limited"}'
                self.send_response(429)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            path = self.path.split("?")[0].strip("/").split("/")
            if path == ["api", "images"]:
                listed = [{"id": i, "filename": v["filename"]} for i, v in service.images.items()]
                return self._json(200, {"images": listed[::-1], "next": None})
            image = service.images.get(path[2])
            if image is None:
                return self._json(404, {"error": "no such image"})
            if len(path) == 3:
                names = ("original", *VARIANTS)
                return self._json(
                    200,
                    {"id": path[2], "status": "done", "variants": {n: "url" for n in names}},
                )
            if path[3] == "original":
                return self._answer(200, image["data"], "image/jpeg")
            self._answer(200, _variant(image["data"], path[3]), "image/jpeg")

    return Handler


@pytest.fixture
def service() -> Iterator[tuple[Service, str]]:
    state = Service()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(service: tuple[Service, str]) -> Iterator[SteadyClient]:
    steady = SteadyClient(service[1], Journal())
    steady.config = type(steady.config)(retry_pause=0.01)
    yield steady
    steady.close()


def test_an_upload_cut_mid_way_is_sent_once_more_with_the_same_key(service, client):
    state, _ = service
    state.first_answers = ["cut"]
    op = client.upload(0)
    assert (op.ok, op.attempts, op.first_error) == (True, 2, "RemoteProtocolError")
    assert state.keys == [op.key, op.key] and len(state.images) == 1
    stored = state.images[op.image]
    assert hashlib.sha256(stored["data"]).hexdigest() == op.sha256
    assert stored["filename"] == op.filename == f"chaos-{client.run}-0.jpg"
    assert op.size == [480, 360] and not op.indeterminate


def test_an_upload_cut_twice_is_indeterminate_and_keeps_what_it_sent(service, client):
    state, _ = service
    state.first_answers = ["cut", "cut"]
    op = client.upload(1)
    assert (op.ok, op.indeterminate, op.attempts) == (False, True, 2)
    assert op.key and op.sha256 and op.filename == f"chaos-{client.run}-1.jpg"
    assert op.size == [360, 480] and state.images == {}


def test_haproxy_s_html_503_is_retried_and_not_clear(service, client):
    state, _ = service
    state.first_answers = ["html503", "html503"]
    op = client.upload(2)
    assert (op.status, op.clear_503, op.attempts, op.indeterminate) == (503, False, 2, True)
    assert op.node is None and op.edge == "vm2"


def test_the_service_s_json_503_is_a_clear_answer_not_retried(service, client):
    state, _ = service
    state.first_answers = ["json503"]
    op = client.upload(3)
    assert (op.status, op.clear_503, op.attempts, op.indeterminate) == (503, True, 1, False)
    assert op.error == "503 the upload was not stored" and len(state.keys) == 1


def test_every_upload_has_its_own_key_and_file_name(service, client):
    ops = [client.upload(seq) for seq in range(3)]
    assert len({o.key for o in ops}) == 3 and len({o.filename for o in ops}) == 3


def test_reads_record_the_serving_node_and_the_edge(service, client):
    image = client.upload(0).image
    op = client.read_variant(image, "thumb", "read")
    assert (op.ok, op.node, op.edge) == (True, "vm3", "vm2")


def test_connecting_may_take_the_whole_timeout(client):
    timeout = client._http.timeout
    assert timeout.connect == timeout.read == 10.0


def _verified(client: SteadyClient) -> dict[str, str]:
    client.verify(deadline_s=10)
    fig = checkers.figures(client.journal.snapshot(), [])
    return {v.check: v.got for v in checkers.history_verdicts(fig) if not v.ok}


def test_the_read_back_of_a_sound_service_passes_the_history_checker(service, client):
    state, _ = service
    state.first_answers = ["cut", "cut"]  # one indeterminate upload, never stored
    for seq in range(4):
        client.upload(seq)
    assert _verified(client) == {}
    backs = [e.detail for e in client.journal.snapshot().events if e.name == "readback"]
    assert sorted(b["original"] for b in backs) == [[360, 480], [480, 360], [800, 600]]
    assert all(b["variants"]["thumb"] == [160, 160] for b in backs)  # cover: a square


def test_the_read_back_catches_a_service_that_changes_the_bytes(service, client):
    state, _ = service
    state.tamper = True
    client.upload(0)
    got = _verified(client)
    assert list(got) == ["originals as sent"] and got["originals as sent"].startswith("1 of 1")


def test_the_read_back_waits_out_the_abuse_limit_and_loses_nothing(service, client):
    # The read-back asks far faster than the steady traffic: a 429 from the rate limit
    # (seen in CI on a 188-upload nemesis history) is the limit working, not a loss.
    state, _ = service
    for seq in range(2):
        client.upload(seq)
    state.limited_gets = 12  # more than the read attempts of any one GET
    assert _verified(client) == {}
    limited = [e for e in client.journal.snapshot().events if e.name == "rate_limited"]
    assert len(limited) == 12


def test_images_held_pending_do_not_starve_the_polls_of_newer_uploads(client):
    # Two uploads a dead VM's worker holds until the broker redelivers them, polled a
    # second ago, and one accepted since: the next poll asks about the new one, whose
    # "done" is what measures the cluster's recovery.
    now = time.time()
    client.acked.update({"held1": now - 9, "held2": now - 8, "new": now})
    client._polled.update({"held1": now - 1.0, "held2": now - 0.9})
    assert client._pick_for_status() == "new"
    # and then the one asked about longest ago
    assert client._pick_for_status() == "held1"
    assert client._pick_for_status() == "held2"
