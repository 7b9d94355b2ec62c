"""chaos.toxiproxy against a real Toxiproxy server on loopback, in front of a TCP echo.

The server is the binary the lab's provider runs (gobuild's, built once when missing);
each test measures what a toxic does to real connections through it, then the
fixture removes every toxic so the next test starts clean.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gobuild
import httpx
import pytest

from chaos.toxiproxy import Proxy, Toxiproxy, ToxiproxyError

LATENCY_MS = 400


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # the proxy reset the connection: what some tests do on purpose
            pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    client: Toxiproxy
    listen: tuple[str, int]  # the proxy `echo`
    upstream: str


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def server(echo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """toxiproxy-server on a free loopback port, with the proxy `echo` made at start
    from a -config file, as in the lab's provider."""
    binary = gobuild.ensure("toxiproxy")
    folder = tmp_path_factory.mktemp("toxiproxy")
    listen = ("127.0.0.1", _free_port())
    config = [{"name": "echo", "listen": f"{listen[0]}:{listen[1]}", "upstream": echo}]
    (folder / "config.json").write_text(json.dumps(config))
    api_port = _free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "-host", "127.0.0.1", "-port", str(api_port), "-config", "config.json"],
        cwd=folder,
        env=dict(os.environ, LOG_LEVEL="error"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Toxiproxy(f"http://127.0.0.1:{api_port}")
    try:
        _wait_for_api(client, process, folder / "server.log")
        yield Server(client, listen, echo)
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_api(client: Toxiproxy, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"toxiproxy-server exited with {process.returncode}: {log.read_text()}")
        try:
            if "echo" in client.proxies():
                return
        except ToxiproxyError:
            pass
        time.sleep(0.1)
    pytest.fail(f"toxiproxy-server did not answer within 20 s: {log.read_text()}")


@pytest.fixture
def toxiproxy(server: Server) -> Iterator[Toxiproxy]:
    """The client, with no toxic before or after the test."""
    server.client.reset()
    yield server.client
    server.client.reset()


def _round_trip(listen: tuple[str, int], size: int = 16, timeout: float = 5.0) -> float:
    """Seconds for `size` bytes to go through the proxy to the echo and back."""
    payload = os.urandom(size)
    with socket.create_connection(listen, timeout=timeout) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        got = _receive(sock, len(payload))
        elapsed = time.monotonic() - start
    assert got == payload
    return elapsed


def _receive(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("the proxy closed the connection")
        got += data
    return got


def test_proxies_lists_the_proxy_made_at_start(server: Server, toxiproxy: Toxiproxy) -> None:
    host, port = server.listen
    assert toxiproxy.proxies() == {
        "echo": Proxy("echo", f"{host}:{port}", server.upstream, enabled=True, toxics=())
    }


def test_traffic_passes_through_untouched_without_toxics(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    assert _round_trip(server.listen, size=200_000) < LATENCY_MS / 1000


def test_latency_adds_its_delay_and_removing_it_takes_it_away(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    toxic = toxiproxy.add_toxic("echo", "slow", "latency", {"latency": LATENCY_MS})
    assert (toxic.name, toxic.type, toxic.stream, toxic.toxicity) == (
        "slow",
        "latency",
        "downstream",
        1.0,
    )
    assert toxic.attributes["latency"] == LATENCY_MS
    assert toxiproxy.proxies()["echo"].toxics == (toxic,)
    assert _round_trip(server.listen) >= LATENCY_MS / 1000
    assert toxiproxy.remove_toxic("echo", "slow") is True
    assert _round_trip(server.listen) < LATENCY_MS / 1000


def test_latency_on_the_upstream_stream_delays_requests_too(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    toxiproxy.add_toxic("echo", "slow-up", "latency", {"latency": LATENCY_MS}, stream="upstream")
    assert toxiproxy.proxies()["echo"].toxics[0].stream == "upstream"
    assert _round_trip(server.listen) >= LATENCY_MS / 1000


def test_latency_slows_a_connection_already_open(server: Server, toxiproxy: Toxiproxy) -> None:
    with socket.create_connection(server.listen, timeout=5) as sock:
        sock.sendall(b"before")
        assert _receive(sock, 6) == b"before"
        toxiproxy.add_toxic("echo", "slow", "latency", {"latency": LATENCY_MS})
        start = time.monotonic()
        sock.sendall(b"after")
        assert _receive(sock, 5) == b"after"
        assert time.monotonic() - start >= LATENCY_MS / 1000


def test_bandwidth_caps_throughput(server: Server, toxiproxy: Toxiproxy) -> None:
    # 60 KB at 100 KB/s takes at least 0.6 s; the same bytes untouched took far less above.
    toxiproxy.add_toxic("echo", "narrow", "bandwidth", {"rate": 100})
    assert _round_trip(server.listen, size=60_000) >= 0.55


def test_reset_peer_cuts_new_connections(server: Server, toxiproxy: Toxiproxy) -> None:
    toxiproxy.add_toxic("echo", "cut", "reset_peer", {"timeout": 0})
    with pytest.raises(ConnectionResetError):
        _round_trip(server.listen)


def test_reset_peer_cuts_a_connection_already_open(server: Server, toxiproxy: Toxiproxy) -> None:
    with socket.create_connection(server.listen, timeout=5) as sock:
        sock.sendall(b"ping")
        assert _receive(sock, 4) == b"ping"
        toxiproxy.add_toxic("echo", "cut", "reset_peer", {"timeout": 0})
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"ping")
            _receive(sock, 4)


def test_timeout_zero_stalls_until_the_toxic_is_removed(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    toxiproxy.add_toxic("echo", "stall", "timeout", {"timeout": 0})
    with socket.create_connection(server.listen, timeout=1.0) as sock:
        sock.sendall(b"ping")
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(16)  # nothing comes back: the data is held, the connection kept
        assert time.monotonic() - start >= 0.9
    toxiproxy.remove_toxic("echo", "stall")
    assert _round_trip(server.listen) < LATENCY_MS / 1000


def test_timeout_closes_the_connection_after_its_delay(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    toxiproxy.add_toxic("echo", "stall", "timeout", {"timeout": 300})
    start = time.monotonic()
    with pytest.raises(ConnectionResetError):
        _round_trip(server.listen)
    assert 0.28 <= time.monotonic() - start < 3


def test_a_toxic_with_toxicity_zero_touches_nothing(server: Server, toxiproxy: Toxiproxy) -> None:
    toxiproxy.add_toxic("echo", "never", "reset_peer", {"timeout": 0}, toxicity=0.0)
    assert toxiproxy.proxies()["echo"].toxics[0].toxicity == 0.0
    _round_trip(server.listen)


def test_reset_removes_every_toxic_and_restores_traffic(
    server: Server, toxiproxy: Toxiproxy
) -> None:
    toxiproxy.add_toxic("echo", "slow", "latency", {"latency": LATENCY_MS})
    toxiproxy.add_toxic("echo", "cut", "reset_peer", {"timeout": 0}, stream="upstream")
    assert len(toxiproxy.proxies()["echo"].toxics) == 2
    with pytest.raises(ConnectionResetError):
        _round_trip(server.listen)
    toxiproxy.reset()
    assert toxiproxy.proxies()["echo"].toxics == ()
    assert _round_trip(server.listen) < LATENCY_MS / 1000


def test_the_toxic_context_removes_it_on_exit(server: Server, toxiproxy: Toxiproxy) -> None:
    with (
        pytest.raises(RuntimeError, match="inside"),
        toxiproxy.toxic("echo", "slow", "latency", {"latency": LATENCY_MS}) as toxic,
    ):
        assert toxiproxy.proxies()["echo"].toxics == (toxic,)
        raise RuntimeError("inside")
    assert toxiproxy.proxies()["echo"].toxics == ()


def test_removing_a_toxic_that_is_not_there_says_false(toxiproxy: Toxiproxy) -> None:
    assert toxiproxy.remove_toxic("echo", "never-added") is False


def test_a_second_toxic_of_the_same_name_is_refused(toxiproxy: Toxiproxy) -> None:
    toxiproxy.add_toxic("echo", "slow", "latency", {"latency": 10})
    with pytest.raises(ToxiproxyError, match=r"409.*already exists") as refused:
        toxiproxy.add_toxic("echo", "slow", "latency", {"latency": 10})
    assert refused.value.status == 409


def test_an_unknown_proxy_is_an_error_naming_it(toxiproxy: Toxiproxy) -> None:
    with pytest.raises(ToxiproxyError, match=r"/proxies/nope/toxics.*404.*proxy not found"):
        toxiproxy.add_toxic("nope", "slow", "latency", {"latency": 10})
    with pytest.raises(ToxiproxyError, match="proxy not found"):
        toxiproxy.remove_toxic("nope", "slow")


def test_an_unknown_toxic_type_is_refused(toxiproxy: Toxiproxy) -> None:
    with pytest.raises(ToxiproxyError, match=r"400.*invalid toxic type"):
        toxiproxy.add_toxic("echo", "odd", "bogus", {})  # type: ignore[arg-type]


def test_a_server_that_does_not_answer_is_a_clear_error() -> None:
    with (
        Toxiproxy(f"http://127.0.0.1:{_free_port()}", timeout=2) as client,
        pytest.raises(ToxiproxyError, match="did not answer"),
    ):
        client.proxies()


def test_the_api_refuses_browsers(server: Server) -> None:
    # Toxiproxy's own guard against cross-site requests: why the client never sends a
    # browser's User-Agent, and why curl and httpx work by hand.
    answer = httpx.get(f"{server.client.api_url}/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert answer.status_code == 403
