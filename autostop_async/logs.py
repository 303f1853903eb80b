"""The daemon's log: one line per record, UTC times, to ``--log-file`` (appended) or stderr.

A line cannot be split or fail on a hostile file name (the message is escaped), and a log that
cannot be written (a full disk) costs one line on stderr, not a traceback per record.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys

from .config import Config
from .events import MARKER
from .safe_output import MAX_LOG_CHARS, shown
from .safe_read import check_regular
from .times import utc_iso

__all__ = ["log", "setup_logging"]

log = logging.getLogger("autostop_async")


class _UTCFormatter(logging.Formatter):
    """UTC times; the message escaped (a file name's newline or non-UTF-8 byte cannot make a
    second line, or fail the write), so one record is one line, and bounded: each name in it
    (an argument that is text, a path or an error) at most ``MAX_SHOWN`` characters, the whole
    message at most ``MAX_LOG_CHARS`` (:func:`~.safe_output.shown`)."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, tuple):
            record.args = tuple(_bounded(arg) for arg in record.args)
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_iso(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = shown(record.message, MAX_LOG_CHARS)
        return super().formatMessage(record)


def _bounded(arg: object) -> object:
    """A log argument as it may be shown: text, a path or an error escaped and bounded; an event
    line as it is (its schema bounds it, and ``report`` parses it whole); anything else as is."""
    if isinstance(arg, str) and arg.startswith(MARKER):
        return arg
    if isinstance(arg, (str, os.PathLike, BaseException)):
        return shown(str(arg))
    return arg


class _OneLineErrors(logging.StreamHandler):  # type: ignore[type-arg]
    """A log stream that cannot fail loudly: when a line cannot be written (a full disk:
    ENOSPC, EDQUOT), one line on stderr says so, once, instead of a traceback per record;
    the first line written again says that some were lost."""

    failing = False
    _lost = 0  # records lost while failing
    _error = False  # the last write failed

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record; after lost lines, say how many were lost first."""
        if self.failing:
            self._error = False
            super().emit(self._lost_note(record))
            if self._error:  # still failing
                self._lost += 1
                return
            self.failing, self._lost = False, 0
        super().emit(record)

    def _lost_note(self, record: logging.LogRecord) -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": record.name,
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": "%d log line(s) were lost: the log could not be written",
                "args": (self._lost,),
            }
        )

    def handleError(self, record: logging.LogRecord) -> None:
        """One line on stderr for the first lost record; none for the next ones."""
        self._error = True
        if self.failing:
            return
        self.failing, self._lost = True, 1
        exc = sys.exc_info()[1]
        where = getattr(self, "baseFilename", "stderr")
        with contextlib.suppress(Exception):  # stderr may be on the same full disk
            sys.stderr.write(
                f"autostop-async: cannot write the log ({where}): {exc}; "
                "log lines are lost until it can\n"
            )
            sys.stderr.flush()


class _LogFile(_OneLineErrors, logging.FileHandler):
    """``--log-file``: appended, one line per record; a full disk costs one line on stderr.

    Opened without blocking, and only as a regular file (:func:`open_log_file`).
    """

    def _open(self) -> io.TextIOWrapper:
        fd = open_log_file(self.baseFilename)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


#: Flags of the log file's open: ``O_NONBLOCK`` so that a FIFO nobody reads fails at once
#: (``ENXIO``) instead of waiting for a reader; ``O_NOCTTY`` so that a terminal never becomes
#: the daemon's controlling terminal.
_LOG_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | os.O_NONBLOCK
    | os.O_NOCTTY
    | getattr(os, "O_CLOEXEC", 0)
)


_HINT = "; name a file to append to"


def open_log_file(path: str) -> int:
    """A descriptor of the regular file ``path`` (created if absent) open for appending.

    A FIFO, a device, a socket or a folder is refused with NotRegularFileError (an OSError
    whose message says what it is), before and after the open: the open never blocks (a FIFO
    nobody reads would hold the start for ever) and writes never go to a device.
    """
    with contextlib.suppress(FileNotFoundError):  # created below
        check_regular(os.stat(path), path, _HINT)
    fd = os.open(path, _LOG_FLAGS, 0o644)
    try:
        check_regular(os.fstat(fd), path, _HINT)  # what was opened, if it changed meanwhile
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def setup_logging(config: Config) -> None:
    """One line per record, UTC timestamps, to ``--log-file`` (appended) or stderr."""
    handler: logging.Handler
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(config.log_file, encoding="utf-8", errors="backslashreplace")
    else:
        handler = _OneLineErrors(sys.stderr)
    handler.setFormatter(
        _UTCFormatter("%(asctime)s autostop-async[%(process)d] %(levelname)s %(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(config.log_level)
    log.propagate = False
