"""The editor endpoint's answer is bounded in bytes (headers, chunked and plain
bodies) and in time, whatever a server on the idle URL sends.

Each test owns a local asyncio server that misbehaves one way, and counts what it managed to
send: the daemon must give up within its timeout, having read no more than a small cap, and log
one line. The server stops sending after SERVER_MAX bytes, so that a client without a cap waits
(and fails by its time) instead of filling the memory of the machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from autostop_async.signals.editor import EditorSignal

pytestmark = pytest.mark.faults

#: The most a misbehaving server sends before it just keeps the connection open.
SERVER_MAX = 64 << 20
#: What a capped client may leave the server to send: its cap, plus socket buffers on loopback.
SENT_BOUND = 16 << 20
#: The client's timeout in these tests, and how much longer than it an answer may take.
TIMEOUT = 3.0
SLACK = 1.5

Behaviour = Callable[[asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    """A local HTTP server that answers every request by ``behaviour``."""

    behaviour: Behaviour
    sent: int = 0
    url: str = ""
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> bool:
        """Send ``data`` unless SERVER_MAX was reached; False once the client is gone."""
        if self.sent >= SERVER_MAX:
            await asyncio.sleep(3600)  # keep the connection, send nothing more
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError):
            return False
        self.sent += len(data)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await self.behaviour(writer, self)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api/idle"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _endless(writer: asyncio.StreamWriter, server: Server, piece: bytes) -> None:
    while await server.send(writer, piece):
        pass


async def huge_chunk(writer: asyncio.StreamWriter, server: Server) -> None:
    """A chunked answer whose first chunk says it is 140 TB long, then data without end."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffff\r\n"
    await server.send(writer, head)
    await _endless(writer, server, b"x" * (1 << 20))


async def endless_small_chunks(writer: asyncio.StreamWriter, server: Server) -> None:
    """A chunked answer of 1 KiB chunks that never ends."""
    await server.send(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    await _endless(writer, server, chunk * 64)


async def endless_chunk_size_line(writer: asyncio.StreamWriter, server: Server) -> None:
    """A chunked answer whose chunk-size line never ends (leading zeros)."""
    await server.send(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    await _endless(writer, server, b"0" * (1 << 16))


async def endless_headers(writer: asyncio.StreamWriter, server: Server) -> None:
    """Header lines without end."""
    await server.send(writer, b"HTTP/1.1 200 OK\r\n")
    await _endless(writer, server, b"X-Padding: " + b"z" * 1000 + b"\r\n")


async def huge_content_length(writer: asyncio.StreamWriter, server: Server) -> None:
    """A Content-Length of 1 TB, then data without end."""
    await server.send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
    await _endless(writer, server, b"w" * (1 << 20))


async def endless_body(writer: asyncio.StreamWriter, server: Server) -> None:
    """No length at all, data until the client gives up."""
    await server.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    await _endless(writer, server, b"v" * (1 << 20))


async def trickle(writer: asyncio.StreamWriter, server: Server) -> None:
    """A valid answer, one byte every 0.5 s."""
    body = b'{"lastActiveTimestamp": "2026-01-01T00:00:00.000Z"}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    for i in range(len(answer)):
        if not await server.send(writer, answer[i : i + 1]):
            return
        await asyncio.sleep(0.5)


BEHAVIOURS: dict[str, tuple[Behaviour, str]] = {
    "chunked, one huge chunk": (huge_chunk, "malformed"),
    "chunked, endless small chunks": (endless_small_chunks, "malformed"),
    "chunked, endless chunk-size line": (endless_chunk_size_line, "malformed"),
    "endless header lines": (endless_headers, "malformed"),
    "huge Content-Length": (huge_content_length, "malformed"),
    "no length, endless body": (endless_body, "malformed"),
    "a byte every 0.5 s": (trickle, "does not answer"),
}


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    behaviour, _ = BEHAVIOURS[request.param]
    async with Server(behaviour) as running:
        yield running


@pytest.mark.parametrize(
    ("server", "expected"),
    [(name, said) for name, (_, said) in BEHAVIOURS.items()],
    indirect=["server"],
    ids=list(BEHAVIOURS),
)
async def test_an_endpoint_answer_is_bounded_in_bytes_and_time(
    server: Server, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    signal = EditorSignal(server.url, None, timeout=TIMEOUT)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        found = await asyncio.wait_for(signal.newer_than(0.0), TIMEOUT * 10)
    took = time.monotonic() - started
    assert found is None
    assert took < TIMEOUT + SLACK, f"the answer kept the daemon {took:.1f} s"
    assert server.sent < SENT_BOUND, f"the daemon let the server send {server.sent:,} bytes"
    said = [r.getMessage() for r in caplog.records if r.name == "autostop_async"]
    assert len(said) == 1 and expected in said[0], said
