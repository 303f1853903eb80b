"""Reading (and rewriting) the small files a user can touch, without ever hanging the daemon.

Any user can put a FIFO, a device or a socket where the daemon expects a small regular file (the
editor's heartbeat, the notice file, git's records, the keepalive and state files, the metadata),
and any such file can sit on a mount that stopped answering. A plain ``open()`` of a FIFO waits
for a writer forever, a read of a device may never end, and an ``open`` or ``stat`` on a hung
mount blocks its thread in the kernel. So every such file is

- refused unless ``stat`` says it is a regular file (:class:`NotRegularFileError`), before it
  is opened: opening some devices does things;
- refused when a symbolic link on its way lies in a world-writable sticky folder (/tmp) and
  belongs to another user than the folder's owner or this process (:func:`refuse_foreign_links`,
  the kernel's ``fs.protected_symlinks`` rule, which may be off in a container);
- opened with ``O_NONBLOCK`` (a FIFO put there meanwhile opens at once, for reading; for writing
  it fails with ``ENXIO`` when nobody reads it), ``O_NOFOLLOW`` unless a link is expected,
  ``O_NOCTTY`` and ``O_CLOEXEC``, and checked again with ``fstat`` on the open descriptor;
- read up to a cap per file (:class:`FileTooLargeError` beyond it);
- when the event loop asks, read in a thread of its own with a timeout (:func:`read_file`,
  :func:`run_blocking`): a hung mount costs a :class:`NotAnsweringError`, never a hang of the
  event loop. Such a thread is a daemon thread (a thread stuck in the kernel cannot be stopped,
  so it is never waited for at exit), and while one is stuck no second one is started for the
  same file: the next ask fails at once.

Every error is an ``OSError``, so a caller's ``except OSError`` (with its one warning) covers
them all. aiofiles is no help here: its ``open`` runs a plain ``open()`` in a thread, which blocks
on a FIFO, and its threads belong to the loop's executor, which ``asyncio.run`` waits for at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import FileTooLargeError, NotAnsweringError, NotRegularFileError, UnsafeFileError

__all__ = [
    "READ_TIMEOUT",
    "Read",
    "check_regular",
    "open_regular",
    "open_regular_for_write",
    "read_bounded",
    "read_file",
    "refuse_foreign_links",
    "run_blocking",
]

T = TypeVar("T")

#: Seconds a read of one small file may take before it counts as not answering.
READ_TIMEOUT = 2.0

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_WRITE_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
_NOFOLLOW = os.O_NOFOLLOW

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
}


def check_regular(st: os.stat_result, path: str | Path, hint: str = "") -> os.stat_result:
    """``st`` if it is a regular file's; else NotRegularFileError saying what it is (a FIFO, a
    device, …), with ``hint`` (what to do) after it."""
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise NotRegularFileError(errno.EINVAL, f"not a regular file ({kind}){hint}", str(path))
    return st


def _refuse_irregular(fd: int, path: str | Path) -> os.stat_result:
    """``fstat`` of ``fd``; closes it and raises NotRegularFileError unless a regular file."""
    try:
        return check_regular(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise


def open_regular(path: str | Path, *, follow: bool = False, dir_fd: int | None = None) -> int:
    """A descriptor of the regular file ``path``, open for reading; never blocks on a FIFO.

    ``follow`` allows a symbolic link as the last component. Raises NotRegularFileError for
    anything but a regular file, and the ``open`` errors (FileNotFoundError, ELOOP for a link).
    """
    return _open_checked(path, follow=follow, dir_fd=dir_fd)[0]


def refuse_foreign_links(path: str | Path) -> None:
    """Refuse a path that goes through a symbolic link in a world-writable sticky folder (such
    as /tmp) owned by neither that folder's owner nor this process, as the kernel does with
    ``fs.protected_symlinks`` (which a container may have off): there, anyone may have planted
    it, to make a root daemon read a file its owner cannot. Raises UnsafeFileError (EACCES)."""
    parts = Path(os.path.abspath(path)).parts
    for i in range(2, len(parts) + 1):
        here = os.path.join(*parts[:i])
        try:
            st = os.lstat(here)
        except OSError:
            return  # the open that follows says what is missing
        if not stat.S_ISLNK(st.st_mode):
            continue
        try:
            folder = os.stat(os.path.dirname(here))
        except OSError:
            return
        shared = folder.st_mode & (stat.S_ISVTX | stat.S_IWOTH) == stat.S_ISVTX | stat.S_IWOTH
        if shared and st.st_uid not in (folder.st_uid, os.geteuid()):
            raise UnsafeFileError(
                errno.EACCES,
                "a symbolic link in a world-writable sticky folder, owned by another user: "
                "not followed",
                str(path),
            )


def _open_checked(
    path: str | Path, *, follow: bool = False, dir_fd: int | None = None
) -> tuple[int, os.stat_result]:
    guard = follow and dir_fd is None
    if guard:
        refuse_foreign_links(path)
    # A FIFO or a device is refused before it is opened (opening some devices does things);
    # the fstat after the open catches one put there in between.
    check_regular(os.stat(path, dir_fd=dir_fd, follow_symlinks=follow), path)
    fd = os.open(path, _READ_FLAGS if follow else _READ_FLAGS | _NOFOLLOW, dir_fd=dir_fd)
    st = _refuse_irregular(fd, path)
    if guard:  # a link planted between the check and the open: the same check, after it
        try:
            refuse_foreign_links(path)
            now = os.stat(path)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise UnsafeFileError(errno.EAGAIN, "replaced while it was opened", str(path))
        except BaseException:
            os.close(fd)
            raise
    return fd, st


def open_regular_for_write(path: str | Path) -> int:
    """A descriptor of the existing regular file ``path``, open for writing and emptied.

    Never through a link, never creating it, never blocking: a FIFO nobody reads fails with
    ``ENXIO``; one somebody reads, a device or a socket is refused (NotRegularFileError) before
    anything is written or truncated.
    """
    check_regular(os.stat(path, follow_symlinks=False), path)
    fd = os.open(path, _WRITE_FLAGS)
    _refuse_irregular(fd, path)
    try:
        os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class Read:
    """What was read of a file, and its ``fstat`` at the time (one open, no race between)."""

    data: bytes
    stat: os.stat_result


def read_bounded(
    path: str | Path, limit: int, *, follow: bool = False, dir_fd: int | None = None
) -> Read:
    """The whole content of the regular file ``path``, at most ``limit`` bytes (blocking call);
    ``dir_fd``: ``path`` is a name in that open folder.

    Raises FileTooLargeError when it is larger, and what :func:`open_regular` raises.
    """
    fd, st = _open_checked(path, follow=follow, dir_fd=dir_fd)
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLargeError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
    return Read(b"".join(chunks), st)


#: Threads that did not finish in time, by what they were doing: never started twice at once.
_stuck: dict[str, threading.Thread] = {}


async def run_blocking(key: str, fn: Callable[..., T], *args: object, timeout: float) -> T:
    """``fn(*args)`` in a daemon thread of its own; NotAnsweringError after ``timeout`` seconds.

    ``key`` names what ``fn`` touches (a path): while an earlier call with the same key is stuck,
    the next one fails at once instead of starting another thread.
    """
    earlier = _stuck.get(key)
    if earlier is not None:
        if earlier.is_alive():
            raise NotAnsweringError(
                errno.ETIMEDOUT, f"still not answering (over {timeout:g} s)", key
            )
        del _stuck[key]
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():  # timed out or cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        value: T | None = None
        error: BaseException | None = None
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the caller, whatever it is
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    thread = threading.Thread(target=work, name="autostop-io", daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(future, timeout)
    except asyncio.TimeoutError:
        _stuck[key] = thread
        raise NotAnsweringError(
            errno.ETIMEDOUT, f"no answer within {timeout:g} s (a hung mount?)", key
        ) from None


async def read_file(
    path: str | Path, limit: int, *, follow: bool = False, timeout: float = READ_TIMEOUT
) -> Read:
    """:func:`read_bounded` from the event loop: in a thread, within ``timeout`` seconds."""
    return await run_blocking(
        str(path), functools.partial(read_bounded, path, limit, follow=follow), timeout=timeout
    )
