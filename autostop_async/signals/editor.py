"""Code Editor's own idle heartbeat as an activity signal.

Code Editor's idle extension records the last time someone typed, switched or selected in the
editor, or opened or closed a terminal, as an ISO-8601 UTC timestamp. The server answers
``GET /api/idle`` with ``{"lastActiveTimestamp": "<ISO>"}``; the extension also writes the
timestamp to a file. The endpoint is asked first (with a short timeout, over a plain asyncio
stream: no thread, no HTTP library in memory); when it does not answer, the files are read:
``/tmp/.sagemaker-last-active-timestamp``, and ``~/.sagemaker-last-active-timestamp`` that Code
Editor builds 1.1.2, 1.3.1-1.3.3 and 1.4.0 wrote instead (their endpoint answered 500).

The extension truncates the file, then writes it: a reader can find it empty for an instant, so
an empty file is read again a moment later, and is not reported as malformed.

A time up to a few seconds ahead of the clock (``FUTURE_SLACK``) is taken as now; one further
ahead (the file is world-writable: ``2099-01-01``) counts once, as the moment it was first seen,
never at every poll. A malformed answer is logged once and ignored; the log says what is wrong
with it, never what it says.

The daemon's own writes must not keep the app (:class:`OwnWrites`): its notice to the terminals
refreshes the heartbeat of newer builds for 60 s, and any of its own files (notice, state, log)
open in an editor tab is reloaded when written, which the extension takes for a text change.
Heartbeats that close after such a write are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..activity import Activity
from ..errors import MalformedHeartbeatError
from ..own_writes import OwnWrites
from ..safe_read import read_file
from .base import OnceLog, PolledSignal

__all__ = ["EditorSignal", "parse_timestamp"]

log = logging.getLogger("autostop_async")

#: Seconds the endpoint has to answer, connection included.
HTTP_TIMEOUT = 1.0
#: The largest answer read from the endpoint (its body) or the file.
MAX_ANSWER_BYTES = 64 * 1024
#: The largest status line and headers read from the endpoint, and the longest chunk-size line.
MAX_HEADER_BYTES = 16 * 1024
#: After the daemon wrote its notice to the terminals, newer Code Editor builds refresh the
#: heartbeat from the terminals' times for 60 s (docs/reference.md, "The editor's heartbeat"):
#: heartbeats in this window after our write are not counted (terminal use then still counts
#: through the terminals signal).
ECHO_WINDOW = 75.0
#: A heartbeat up to this far ahead of the daemon's clock is taken as now (the clock's
#: granularity, a rounding of the editor's milliseconds); one further ahead is no heartbeat
#: written now, and counts once, when first seen (``EditorSignal._not_ahead``).
FUTURE_SLACK = 5.0
#: An empty heartbeat file is being rewritten: read it again this many times, this far apart.
EMPTY_RETRIES = 3
EMPTY_RETRY_DELAY = 0.05

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_timestamp(value: object) -> float:
    """Epoch seconds of an ISO-8601 time (``Z``, an offset or none = UTC; any fraction), or of a
    number (epoch seconds, or milliseconds when it is that large). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean, not a time")
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):  # NaN or infinite: no time at all
            raise ValueError("a number that is not finite, not a time")
        return number / 1000.0 if number > 1e11 else number
    if not isinstance(value, str):
        raise ValueError(f"a JSON {type(value).__name__}, not a time")
    text = value.strip()
    match = _ISO.match(text)
    if match is None:
        try:
            return parse_timestamp(float(text))
        except ValueError:
            raise ValueError(f"not an ISO-8601 time ({len(text)} characters)") from None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:  # datetime validates the date (no 31 February)
        at = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
    except (ValueError, OverflowError):
        raise ValueError("an ISO-8601 time of a day that does not exist") from None
    if match.group(7):
        at += float(match.group(7))
    zone = match.group(8)
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        at -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return at


async def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> tuple[int, bytes]:
    """``GET url`` over a plain asyncio stream: (status, body). Raises OSError or TimeoutError.

    Bounded in time (``timeout`` for everything, a server trickling a byte at a time included)
    and in bytes: at most MAX_HEADER_BYTES of status line and headers, MAX_ANSWER_BYTES of body
    (chunked or not); a larger answer is malformed, and nothing more of it is read.
    """
    return await asyncio.wait_for(_http_get(url), timeout)


async def _http_get(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    # ``limit`` caps what readuntil buffers: a head or chunk-size line never grows past it.
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
            "User-Agent: autostop-async\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            raise MalformedHeartbeatError("not an HTTP answer") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise MalformedHeartbeatError("a Content-Length that is not a number") from None
            if not 0 <= length <= MAX_ANSWER_BYTES:
                raise MalformedHeartbeatError(
                    f"Content-Length {length} is not within 0-{MAX_ANSWER_BYTES}"
                )
            body = await reader.readexactly(length)
        else:  # until the server closes
            body = await reader.read(MAX_ANSWER_BYTES + 1)
            while len(body) <= MAX_ANSWER_BYTES and (more := await reader.read(MAX_ANSWER_BYTES)):
                body += more
            if len(body) > MAX_ANSWER_BYTES:
                raise MalformedHeartbeatError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        return status, body
    except asyncio.LimitOverrunError:
        raise MalformedHeartbeatError(
            f"a header or chunk-size line is over {MAX_HEADER_BYTES} bytes"
        ) from None
    except asyncio.IncompleteReadError as exc:
        raise MalformedHeartbeatError(f"incomplete HTTP answer ({exc})") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body of at most MAX_ANSWER_BYTES, whatever the chunk sizes say."""
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise MalformedHeartbeatError("a chunk size that is not a number") from None
        if size == 0:
            return body
        if size < 0 or len(body) + size > MAX_ANSWER_BYTES:
            raise MalformedHeartbeatError(
                f"the chunked answer is larger than {MAX_ANSWER_BYTES} bytes"
            )
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise MalformedHeartbeatError("a chunk does not end with CRLF")


async def _read_text(file: Path) -> str:
    """The heartbeat file's text: a FIFO, a device or a hung mount costs an OSError (one
    warning), never a hang (safe_read)."""
    return (await read_file(file, MAX_ANSWER_BYTES, follow=True)).data.decode("utf-8")


class EditorSignal(PolledSignal):
    """Code Editor's heartbeat: the endpoint first, the file when the endpoint does not answer."""

    name = "editor"

    def __init__(
        self,
        url: str | None,
        file: Path | Sequence[Path] | None,
        *,
        timeout: float = HTTP_TIMEOUT,
        own_writes: OwnWrites | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``file``: the heartbeat file, or files (the newest time wins); ``own_writes``: the
        daemon's own writes, which the editor may echo (for ``own_writes.echo_window`` seconds
        after a file write)."""
        self.url = url
        self.files: tuple[Path, ...] = (
            () if file is None else (file,) if isinstance(file, Path) else tuple(file)
        )
        self.timeout = timeout
        self.own_writes = own_writes if own_writes is not None else OwnWrites()
        self.clock = clock
        #: Logs a problem the first time it happens, not every poll.
        self._once = OnceLog(log)
        #: Per source, a time ahead of the clock and when it was first seen.
        self._ahead: dict[str, tuple[float, float]] = {}

    async def sample(self) -> Activity | None:
        """The editor's last-active time (clamped to now), unless it may echo our own writes."""
        found = await self._from_endpoint()
        if found is None:
            found = await self._from_files()
        if found is None:
            return None
        wrote = self.own_writes.at
        if wrote and wrote - 1.0 <= found.at <= wrote + ECHO_WINDOW:
            log.debug("editor heartbeat %s may echo our own notice to the terminals", found.at)
            return None
        file_write = self.own_writes.file_write_near(
            found.at, 0.05, self.own_writes.echo_window, prompted=False
        )
        if file_write is not None:  # a prompted write's echo is the daemon's to hold (OwnWrites)
            log.debug(
                "editor heartbeat %s may echo our own file write at %s (a reloaded tab)",
                found.at,
                file_write,
            )
            return None
        return found

    async def _from_endpoint(self) -> Activity | None:
        if not self.url:
            return None
        try:
            status, body = await http_get(self.url, self.timeout)
            if status != 200:
                self._once(
                    "status",
                    logging.INFO,
                    "editor idle endpoint %s answers HTTP %d; reading %s",
                    self.url,
                    status,
                    self._files_text(),
                )
                return None
            at = _answer_time(body)
        except MalformedHeartbeatError as exc:
            self._once(
                "malformed",
                logging.WARNING,
                "editor idle endpoint %s gave a malformed answer; ignoring it: %s",
                self.url,
                exc,
            )
            return None
        except (OSError, asyncio.TimeoutError, ValueError) as exc:
            self._once(
                "down",
                logging.INFO,
                "editor idle endpoint %s does not answer (%s); reading %s",
                self.url,
                type(exc).__name__ if not str(exc) else exc,
                self._files_text(),
            )
            return None
        source = f"editor:{self.url}"
        return Activity(self._not_ahead(at, source), source)

    def _files_text(self) -> str:
        return " and ".join(str(f) for f in self.files) if self.files else "no file"

    async def _from_files(self) -> Activity | None:
        """The newest heartbeat of the files (a missing one is skipped quietly)."""
        found: Activity | None = None
        for file in self.files:
            got = await self._from_file(file)
            if got is not None and (found is None or got.at > found.at):
                found = got
        return found

    async def _from_file(self, file: Path) -> Activity | None:
        for attempt in range(EMPTY_RETRIES + 1):
            try:
                text = await _read_text(file)
            except FileNotFoundError:
                self._once(f"nofile:{file}", logging.DEBUG, "editor heartbeat %s is absent", file)
                return None
            except UnicodeDecodeError:
                self._once(f"badfile:{file}", logging.WARNING, "cannot read %s: not UTF-8", file)
                return None
            except OSError as exc:
                self._once(f"badfile:{file}", logging.WARNING, "cannot read %s: %s", file, exc)
                return None
            if text.strip():
                break
            if attempt < EMPTY_RETRIES:  # caught between the editor's truncate and its write
                await asyncio.sleep(EMPTY_RETRY_DELAY)
        else:
            log.debug("editor heartbeat %s stayed empty; read again at the next poll", file)
            return None
        try:
            at = parse_timestamp(text)
        except ValueError as exc:
            self._once(
                f"malformedfile:{file}",
                logging.WARNING,
                "editor heartbeat file %s is malformed; ignoring it: %s",
                file,
                exc,
            )
            return None
        source = f"editor:{file}"
        return Activity(self._not_ahead(at, source), source)

    def _not_ahead(self, at: float, source: str) -> float:
        """``at``, unless it is ahead of the clock by more than FUTURE_SLACK: such a time was
        not written now by the editor (it writes the same clock's time); it counts once, as
        the moment it was first seen, and never again while it stays, so a time dated days
        ahead (the file is anyone's to write) cannot keep the app."""
        now = self.clock()
        if at <= now + FUTURE_SLACK:
            self._ahead.pop(source, None)
            self._once.forget(f"ahead:{source}")
            return min(at, now)
        seen = self._ahead.get(source)
        if seen is not None and seen[0] == at:
            return seen[1]
        self._ahead[source] = (at, now)
        self._once(
            f"ahead:{source}",
            logging.WARNING,
            "editor heartbeat %s holds a time ahead of the clock; counted once, as now",
            source.removeprefix("editor:"),
        )
        return now


def _answer_time(body: bytes) -> float:
    """The time of the endpoint's answer; MalformedHeartbeatError saying what is wrong with
    it, never what it says."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedHeartbeatError("the answer is not UTF-8") from None
    except (ValueError, RecursionError):
        raise MalformedHeartbeatError("the answer is not JSON") from None
    if not isinstance(raw, dict) or "lastActiveTimestamp" not in raw:
        raise MalformedHeartbeatError("the answer has no lastActiveTimestamp") from None
    try:
        return parse_timestamp(raw["lastActiveTimestamp"])
    except ValueError as exc:
        raise MalformedHeartbeatError(f"lastActiveTimestamp is {exc}") from None
