"""SIGTERM on a real `gateway serve`: every request whose headers arrived gets an answer — a 503
`shutting_down` while its body is still arriving —, and the process exits without waiting for
`shutdown_timeout` when nothing is left to finish."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from gateway.testing import GatewayProcess, standard_webhook_headers
from tests.payloads import SECRET, message
from tests.process import configure

GRACE = 60
"""A `shutdown_timeout` far longer than the test waits: exiting in time proves it was not used."""
EXIT_WITHIN = 20.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = configure(tmp_path)
    config = yaml.safe_load(process.config_path.read_text())
    config["server"]["shutdown_timeout"] = f"{GRACE}s"
    process.config_path.write_text(yaml.safe_dump(config))
    process.start()
    yield process
    if process.process and process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def head(framing: str, length: int) -> bytes:
    """Return the head of a signed-looking webhook POST with `framing`."""
    lines = ["POST /webhooks/web HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines.append(
        f"Content-Length: {length}" if framing == "content-length" else "Transfer-Encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(gateway: GatewayProcess, data: bytes) -> socket.socket:
    """Return a keep-alive connection the gateway has accepted and served once, after sending
    `data` on it (a connection still in the listen backlog when the listener closes is reset: no
    server can answer it)."""
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=EXIT_WITHIN)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert sock.recv(65_536).startswith(b"HTTP/1.1 200")
    sock.sendall(data)
    return sock


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """Read the whole answer until the server closes; return its status and body."""
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    sock.close()
    data = b"".join(chunks)
    assert data, "the connection was dropped without an answer"
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def sigterm(gateway: GatewayProcess) -> float:
    """Send SIGTERM and return when it was sent."""
    assert gateway.process is not None
    time.sleep(0.3)  # the gateway has read every head sent so far
    gateway.process.send_signal(signal.SIGTERM)
    return time.monotonic()


def exited_in_time(gateway: GatewayProcess, since: float) -> None:
    assert gateway.process is not None
    assert gateway.process.wait(EXIT_WITHIN) == 0
    assert time.monotonic() - since < EXIT_WITHIN
    log = gateway.log()
    assert "gateway stopped" in log
    assert "Traceback" not in log


def test_bodies_still_arriving_are_answered_503(gateway: GatewayProcess) -> None:
    slow = [
        connect(gateway, head("content-length", 5000) + b'{"external_id": "m-'),
        connect(gateway, head("chunked", 0) + b'10\r\n{"external_id":'),
        connect(gateway, head("content-length", 100)),  # not a byte of body yet
    ]
    idle = connect(gateway, b"")  # an idle keep-alive connection

    since = sigterm(gateway)

    for sock in slow:
        status, body = answer_of(sock)
        assert status == 503
        assert orjson.loads(body)["error"]["code"] == "shutting_down"
    assert idle.recv(65_536) == b""  # closed, as nothing was asked on it
    idle.close()
    exited_in_time(gateway, since)


def signed_request(n: int) -> bytes:
    """Return a whole signed webhook POST of message `m-n`."""
    body = orjson.dumps(message(f"m-{n}"))
    headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}
    head = ["POST /webhooks/web HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_a_request_complete_at_the_signal_is_answered(gateway: GatewayProcess) -> None:
    with contextlib.ExitStack() as stack:
        requests = [signed_request(n) for n in range(5)]
        socks = [stack.enter_context(connect(gateway, request[:-1])) for request in requests]
        time.sleep(0.3)  # the gateway is reading their bodies
        for sock, request in zip(socks, requests, strict=True):  # last bytes and signal together
            sock.sendall(request[-1:])
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        since = time.monotonic()

        for sock in socks:  # their last bytes arrived within the grace: each is served
            status, _ = answer_of(sock)
            assert status == 200
        exited_in_time(gateway, since)
