"""An HTTP/1.1 server on 127.0.0.1 that writes exactly the bytes a test scripts, then hangs up.

aiohttp's own server always finishes a response; faults such as a 200 whose body is cut off by
a reset need the bytes written by hand.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

Hangup = Literal["close", "reset"]
"""How the connection ends after the answer: `close` (FIN) or `reset` (RST)."""


def answer(status: int, body: bytes, *, declared: int | None = None, **headers: str) -> bytes:
    """Return a response head and `body`; `declared` overrides the `Content-Length` sent."""
    length = len(body) if declared is None else declared
    return _head(status, f"Content-Length: {length}", headers) + body


def chunked(status: int, *chunks: bytes, last: bool = True, **headers: str) -> bytes:
    """Return a chunked response; `last=False` leaves out the final zero-size chunk."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    head = _head(status, "Transfer-Encoding: chunked", headers)
    return head + body + (b"0\r\n\r\n" if last else b"")


def _head(status: int, framing: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X", framing, "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


Script = Callable[[int], tuple[bytes, Hangup]]
"""Given the request's number (from 1), the bytes to write and how to hang up."""


@dataclass
class RawServer:
    """Counts requests; `url` is set once it listens."""

    script: Script
    url: str = ""
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request, write the scripted bytes, hang up as scripted."""
        if task := asyncio.current_task():
            self.connections.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.bodies.append(await reader.readexactly(length))
            self.requests += 1
            data, hangup = self.script(self.requests)
            writer.write(data)
            await writer.drain()
            if hangup == "reset":
                # Let the client read what was sent, then abort: SO_LINGER 0 makes close a RST.
                await asyncio.sleep(0.05)
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[RawServer]:
    """Run a `RawServer` on 127.0.0.1 for the block."""
    raw = RawServer(script)
    server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    raw.url = f"http://127.0.0.1:{port}/events"
    try:
        yield raw
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*raw.connections)  # each ends on its own within moments
