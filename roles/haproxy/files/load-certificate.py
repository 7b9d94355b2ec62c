"""Hand the running HAProxy a certificate file's new contents, without a reload.

Usage: python3 load-certificate.py CERT_FILE ADMIN_SOCKET

The runtime API's `set ssl cert` then `commit ssl cert`: connections already open
keep going as they are, and every handshake after the commit gets the new
certificate. A reload would also read it, but closes idle kept-alive connections
under clients that may be about to reuse them. Prints what HAProxy said; exits 2
when HAProxy refused, 0 (saying so) when no HAProxy runs: it reads the file when
it starts.
"""

import socket
import sys
import time

ATTEMPTS = 20  # a reload just done rebinds the socket: a few seconds of retries
# No socket file at all: HAProxy is not running (a new VM), nothing to wait for.


def ask(admin_socket: str, command: str) -> str:
    for attempt in range(ATTEMPTS):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(10)
                conn.connect(admin_socket)
                conn.sendall(command.encode())
                conn.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
                return answer.decode(errors="replace").strip()
        except ConnectionRefusedError:  # the socket file is there, its HAProxy is not (yet)
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def main(cert_file: str, admin_socket: str) -> int:
    with open(cert_file) as source:
        pem = source.read().strip()
    try:
        loaded = ask(admin_socket, "show ssl cert\n")
    except FileNotFoundError:
        print(f"no HAProxy runs here: it reads {cert_file} when it starts")
        return 0
    if cert_file not in loaded.splitlines():
        # A configuration from before HTTPS: the reload that brings it reads the file.
        print(f"HAProxy does not serve {cert_file} yet: its next reload reads it")
        return 0
    staged = ask(admin_socket, f"set ssl cert {cert_file} <<\n{pem}\n\n")
    print(staged)
    if "Transaction created" not in staged and "Transaction updated" not in staged:
        return 2
    committed = ask(admin_socket, f"commit ssl cert {cert_file}\n")
    print(committed)
    return 0 if "Success!" in committed else 2


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
