"""Fault-injection suite (docs/faults.md): the daemon and its commands under bad input and faults.

The fake SageMaker and the helpers of the integration tests are reused; :func:`launch` starts
the daemon with exactly the flags a test gives (no watch root or log file imposed);
:func:`launch_daemon` starts it with one fault put in (``launch.py``); :func:`full_disk` makes a
folder a full disk (ENOSPC, EDQUOT) for the test's own process.
"""

from __future__ import annotations

import builtins
import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # fixtures are registered by being imported here
    Daemon,
    Daemons,
    aws_env,
    fake,
    fake_server,
    file_flags,
    metadata,
    start_daemon,
    workspace,
)
from tests.support.fake_sagemaker import FakeSageMaker

__all__ = [
    "FullDisk",
    "fake",
    "fake_server",
    "full_disk",
    "launch",
    "launch_daemon",
    "metadata",
    "start_daemon",
    "workspace",
]

LAUNCH = Path(__file__).with_name("launch.py")


@pytest.fixture
def launch(fake: object) -> Iterator[Callable[..., Daemon]]:
    """Start ``python -m autostop_async ARGS`` against the fake; its log is ``log`` (a path the
    test names with ``--log-file``); stopped (SIGTERM, then SIGKILL) at the end of the test."""
    daemons = Daemons()

    def start(*args: str, log: Path, env: dict[str, str] | None = None) -> Daemon:
        argv = [sys.executable, "-m", "autostop_async", "--log-file", str(log), *args]
        endpoint = getattr(fake, "endpoint_url", None)
        return daemons.start(argv, log, env if env is not None else aws_env(endpoint))

    yield start
    daemons.stop_all()


@pytest.fixture
def launch_daemon(
    tmp_path: Path,
    fake: FakeSageMaker,
    metadata: Path,
    workspace: Path,
) -> Iterator[Callable[..., Daemon]]:
    """Start ``launch.py`` (the daemon with ``fault`` put in) against the fake SageMaker."""
    daemons = Daemons()

    def start(fault: str, *args: str) -> Daemon:
        log = tmp_path / f"faulty{len(daemons.started)}.log"
        files = file_flags(tmp_path, metadata, workspace, log)
        env = aws_env(fake.endpoint_url) | {"AUTOSTOP_TEST_FAULT": fault}
        argv = [sys.executable, str(LAUNCH), *files, *args]
        return daemons.start(argv, log, env, stderr=subprocess.PIPE)

    yield start
    daemons.stop_all()


class FullDisk:
    """A disk that is full under ``root``: every write there fails with ENOSPC (``os.write``,
    writes through a file object, and ``os.replace`` into it), until :meth:`free` is called.

    ``hits`` counts the writes refused, so a test can tell that the fault was reached.
    """

    def __init__(self, root: Path, code: int = errno.ENOSPC) -> None:
        self.root = os.path.realpath(root)
        self.code = code
        self.full = True
        self.hits = 0

    def _under(self, path: str) -> bool:
        real = os.path.realpath(path)
        return self.full and (real == self.root or real.startswith(self.root + os.sep))

    def _fd_under(self, fd: int) -> bool:
        try:
            return self._under(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return False

    def refuse(self) -> OSError:
        self.hits += 1
        return OSError(self.code, os.strerror(self.code))

    def free(self) -> None:
        """Make room: writes work again."""
        self.full = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_write, real_replace = os.write, os.replace
        real_open, real_fdopen = builtins.open, os.fdopen
        disk = self

        def write(fd: int, data: Any) -> int:
            if disk._fd_under(fd):
                raise disk.refuse()
            return real_write(fd, data)

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            if disk._under(os.fspath(dst)):
                raise disk.refuse()
            real_replace(src, dst, **kwargs)

        class FullFile:
            """A file object on the full disk: writing (and flushing) fails while it is full."""

            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def write(self, data: Any) -> int:
                if disk.full:
                    raise disk.refuse()
                return int(self._inner.write(data))

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

            def __enter__(self) -> FullFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self._inner.close()

        def wrap(f: Any) -> Any:
            mode = getattr(f, "mode", "r")
            name = getattr(f, "name", None)
            if any(c in str(mode) for c in "wax+"):
                target = f"/proc/self/fd/{name}" if isinstance(name, int) else name
                if isinstance(target, str) and (
                    disk._fd_under(name) if isinstance(name, int) else disk._under(target)
                ):
                    return FullFile(f)
            return f

        def open_(*args: Any, **kwargs: Any) -> Any:
            return wrap(real_open(*args, **kwargs))

        def fdopen(*args: Any, **kwargs: Any) -> Any:
            return wrap(real_fdopen(*args, **kwargs))

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.fixture
def full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], FullDisk]:
    """``full_disk(folder)``: from now on, that folder is on a full disk (until ``free()``)."""

    def make(root: Path, code: int = errno.ENOSPC) -> FullDisk:
        root.mkdir(parents=True, exist_ok=True)
        disk = FullDisk(root, code)
        disk.install(monkeypatch)
        return disk

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here carries the ``faults`` marker (``pytestmark``), so that ``nox -s tests``
    (``-m "not faults"``) leaves it to ``nox -s faults`` and neither runs it twice nor drops it."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents and item.get_closest_marker("faults") is None:
            raise pytest.UsageError(f"{item.nodeid}: add `pytestmark = pytest.mark.faults`")
