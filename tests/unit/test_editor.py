"""The editor heartbeat, from a real HTTP server answering like Code Editor's ``/api/idle``."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from autostop_async.config import load_config
from autostop_async.errors import ConfigError
from autostop_async.own_writes import FILE_ECHO_WINDOW, OwnWrites
from autostop_async.signals.editor import EditorSignal, parse_timestamp

Answer = Callable[[BaseHTTPRequestHandler], None]


class FakeEditor:
    """An HTTP server on 127.0.0.1; ``answer`` decides how each request is answered."""

    def __init__(self) -> None:
        self.requests = 0
        self.answer: Answer = lambda h: self.json(h, {"lastActiveTimestamp": iso(time.time())})
        editor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                editor.requests += 1
                editor.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/idle"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def json(self, handler: BaseHTTPRequestHandler, record: object) -> None:
        self.send(handler, 200, json.dumps(record).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def iso(at: float, fraction: bool = True) -> str:
    """Like JavaScript's ``toISOString``: milliseconds and a Z."""
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
    return base + (f".{int(at % 1 * 1000):03d}Z" if fraction else "Z")


@pytest.fixture
def editor() -> Iterator[FakeEditor]:
    server = FakeEditor()
    yield server
    server.close()


def free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/idle"  # nobody listens there any more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T13:45:00Z", 1795700700.0),
        ("2026-11-26T13:45:00.250Z", 1795700700.25),
        ("2026-11-26T13:45:00.123456789Z", 1795700700.123456789),
        ("2026-11-26T13:45:00", 1795700700.0),
        ("2026-11-26 13:45:00z", 1795700700.0),
        ("2026-11-26T15:45:00+02:00", 1795700700.0),
        ("2026-11-26T08:45:00-0500", 1795700700.0),
        (" 2026-11-26T13:45:00.000Z\n", 1795700700.0),
        ("1795700700", 1795700700.0),
        (1795700700250, 1795700700.25),
    ],
)
def test_timestamps_in_the_forms_editors_write(text: str | int, expected: float) -> None:
    assert parse_timestamp(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-02-30T00:00:00Z", "2026-11-26", None, []])
def test_malformed_timestamps_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_timestamp(text)


async def test_the_endpoint_answer_is_the_activity(editor: FakeEditor, tmp_path: Path) -> None:
    at = time.time() - 30
    editor.answer = lambda h: editor.json(h, {"lastActiveTimestamp": iso(at)})
    sig = EditorSignal(editor.url, tmp_path / "absent")
    found = await sig.newer_than(at - 1)
    assert found is not None
    assert found.at == pytest.approx(at, abs=0.001)
    assert found.source == f"editor:{editor.url}"
    assert await sig.newer_than(at + 1) is None
    assert sig.latest == found  # kept for status even when not newer


async def test_a_chunked_answer_is_read(editor: FakeEditor, tmp_path: Path) -> None:
    at = time.time() - 5

    def chunked(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"lastActiveTimestamp": iso(at)}).encode()
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in (body[:10], body[10:]):
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    editor.answer = chunked
    found = await EditorSignal(editor.url, None).newer_than(0)
    assert found is not None and found.at == pytest.approx(at, abs=0.001)


async def test_a_future_heartbeat_is_clamped_to_now(editor: FakeEditor, tmp_path: Path) -> None:
    editor.answer = lambda h: editor.json(h, {"lastActiveTimestamp": "2099-01-01T00:00:00Z"})
    before = time.time()
    found = await EditorSignal(editor.url, None).newer_than(0)
    assert found is not None and before <= found.at <= time.time()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b'{"lastActive": "2026-11-26T13:45:00Z"}',
        b'{"lastActiveTimestamp": 5x}',
    ],
)
async def test_a_malformed_answer_is_logged_once_and_the_file_read(
    editor: FakeEditor, tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    editor.answer = lambda h: editor.send(h, 200, body)
    heartbeat = tmp_path / "ts"
    at = time.time() - 10
    heartbeat.write_text(iso(at))
    sig = EditorSignal(editor.url, heartbeat)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        for _ in range(3):
            found = await sig.newer_than(0)
            assert found is not None and found.source == f"editor:{heartbeat}"
    malformed = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 1 and malformed[0].levelno == logging.WARNING
    assert editor.requests == 3


async def test_when_the_endpoint_is_down_the_file_is_read(tmp_path: Path) -> None:
    heartbeat = tmp_path / "ts"
    at = time.time() - 100
    heartbeat.write_text(iso(at, fraction=False))
    found = await EditorSignal(free_port_url(), heartbeat).newer_than(at - 1)
    assert found is not None
    assert found.at == pytest.approx(int(at)) and found.source == f"editor:{heartbeat}"


async def test_a_not_found_endpoint_falls_back_to_the_file(
    editor: FakeEditor, tmp_path: Path
) -> None:
    editor.answer = lambda h: editor.send(h, 404, b"{}")
    heartbeat = tmp_path / "ts"
    heartbeat.write_text(iso(time.time()))
    found = await EditorSignal(editor.url, heartbeat).newer_than(0)
    assert found is not None and found.source == f"editor:{heartbeat}"


async def test_a_slow_endpoint_times_out_quickly(editor: FakeEditor, tmp_path: Path) -> None:
    release = threading.Event()
    editor.answer = lambda h: (release.wait(5), editor.json(h, {}))  # type: ignore[func-returns-value]
    started = time.monotonic()
    try:
        found = await EditorSignal(editor.url, tmp_path / "absent", timeout=0.3).newer_than(0)
    finally:
        release.set()
    assert found is None
    assert time.monotonic() - started < 2


async def test_without_endpoint_and_file_there_is_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sig = EditorSignal(free_port_url(), tmp_path / "absent")
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        assert await sig.newer_than(0) is None
        assert await sig.newer_than(0) is None
    assert len([r for r in caplog.records if "does not answer" in r.getMessage()]) == 1


async def test_a_malformed_file_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = tmp_path / "ts"
    heartbeat.write_text("not a time")
    sig = EditorSignal(None, heartbeat)
    assert await sig.newer_than(0) is None
    assert await sig.newer_than(0) is None
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


async def test_heartbeats_just_after_our_own_terminal_notice_are_not_counted(
    editor: FakeEditor,
) -> None:
    # Newer editors refresh the heartbeat when a terminal was written to: our own warning.
    own = OwnWrites()
    own.at = time.time()
    editor.answer = lambda h: editor.json(h, {"lastActiveTimestamp": iso(time.time())})
    sig = EditorSignal(editor.url, None, own_writes=own)
    assert await sig.newer_than(0) is None
    own.at = time.time() - 3600  # long ago: the heartbeat is a person's again
    found = await sig.newer_than(0)
    assert found is not None and found.source == f"editor:{editor.url}"
    assert found.at == pytest.approx(time.time(), abs=60)


def test_editor_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert config.editor and config.editor_idle_url == "http://localhost:8888/api/idle"
    assert config.editor_idle_file == Path("/tmp/.sagemaker-last-active-timestamp")
    env = {"AUTOSTOP_EDITOR": "false", "AUTOSTOP_EDITOR_IDLE_FILE": "/x/ts"}
    config = load_config(["--editor-idle-url", "http://127.0.0.1:9/api/idle"], env)
    assert not config.editor and config.editor_idle_file == Path("/x/ts")
    assert config.editor_idle_url == "http://127.0.0.1:9/api/idle"
    with pytest.raises(ConfigError, match="--editor-idle-url='https://x' must be a plain http"):
        load_config(["--editor-idle-url", "https://x"], {})


async def test_the_home_folders_heartbeat_of_older_builds_is_read_too(tmp_path: Path) -> None:
    # Builds 1.1.2, 1.3.1-1.3.3 and 1.4.0 wrote ~/.sagemaker-last-active-timestamp, and their
    # endpoint answered 500: the newest of both files counts.
    tmp_file, home_file = tmp_path / "tmp-ts", tmp_path / "home-ts"
    now = time.time()
    tmp_file.write_text(iso(now - 600))
    home_file.write_text(iso(now - 5))
    sig = EditorSignal(free_port_url(), [tmp_file, home_file])
    found = await sig.newer_than(now - 60)
    assert found is not None and found.source == f"editor:{home_file}"
    home_file.unlink()  # one file alone is enough
    found = await sig.newer_than(now - 3600)
    assert found is not None and found.source == f"editor:{tmp_file}"
    config = load_config(["--home", str(tmp_path)], {})
    assert config.editor_idle_files == (
        Path("/tmp/.sagemaker-last-active-timestamp"),
        tmp_path / ".sagemaker-last-active-timestamp",
    )


async def test_an_empty_heartbeat_file_is_read_again_not_reported_as_malformed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The extension truncates, then writes: a poll can land in between.
    heartbeat = tmp_path / "ts"
    heartbeat.write_text("")
    at = time.time() - 2
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, heartbeat.write_text, iso(at))
    with caplog.at_level(logging.DEBUG, logger="autostop_async"):
        found = await EditorSignal(None, heartbeat).newer_than(at - 1)
        assert found is not None and found.at == pytest.approx(at, abs=0.01)
        heartbeat.write_text("")  # stays empty: nothing now, and still no complaint
        assert await EditorSignal(None, heartbeat).newer_than(0) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_reload_of_our_own_file_in_an_editor_tab_is_not_a_heartbeat(
    editor: FakeEditor,
) -> None:
    # The notice file open in a tab: our rewrite reloads it, the extension sees a text change.
    own = OwnWrites()
    wrote = time.time() - 60
    own.last_activity = wrote - 3600  # the warning of an app idle for an hour
    own.wrote_file(wrote)
    echo = wrote + 1.2
    editor.answer = lambda h: editor.json(h, {"lastActiveTimestamp": iso(echo)})
    sig = EditorSignal(editor.url, None, own_writes=own)
    assert await sig.newer_than(0) is None
    later = wrote + FILE_ECHO_WINDOW + 5  # well after our write: a person's
    editor.answer = lambda h: editor.json(h, {"lastActiveTimestamp": iso(later)})
    found = await sig.newer_than(0)
    assert found is not None and found.at == pytest.approx(later, abs=0.01)


@pytest.mark.parametrize(
    "body",
    [
        b"SECRET-LINE root:x:0:0",
        b'{"lastActiveTimestamp": "SECRET-LINE"}',
        b'{"SECRET-LINE": 1}',
        b"\xffSECRET-LINE",
    ],
)
async def test_a_malformed_answer_is_said_to_be_wrong_never_quoted(
    editor: FakeEditor, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    editor.answer = lambda h: editor.send(h, 200, body)
    with caplog.at_level(logging.DEBUG, logger="autostop_async"):
        assert await EditorSignal(editor.url, None).newer_than(0) is None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "malformed" in text and "SECRET" not in text, text
