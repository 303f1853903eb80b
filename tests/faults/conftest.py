"""Fault-injection suite (issue 9): the daemon and its commands under bad input and faults.

The fake SageMaker and the helpers of the integration tests are reused; :func:`launch` starts
the daemon with exactly the flags a test gives (no watch root or log file imposed).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (  # fixtures are registered by being imported here
    Daemon,
    aws_env,
    fake,
    fake_server,
    metadata,
    workspace,
)

__all__ = ["fake", "fake_server", "launch", "metadata", "workspace"]


@pytest.fixture
def launch(fake: object) -> Iterator[Callable[..., Daemon]]:
    """Start ``python -m autostop_async ARGS`` against the fake; its log is ``log`` (a path the
    test names with ``--log-file``); stopped (SIGTERM, then SIGKILL) at the end of the test."""
    started: list[Daemon] = []

    def start(*args: str, log: Path, env: dict[str, str] | None = None) -> Daemon:
        endpoint = getattr(fake, "endpoint_url", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "autostop_async", "--log-file", str(log), *args],
            env=env if env is not None else aws_env(endpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        daemon = Daemon(proc, log)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here carries the ``faults`` marker (``pytestmark``), so that ``nox -s tests``
    (``-m "not faults"``) leaves it to ``nox -s faults`` and neither runs it twice nor drops it."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents and item.get_closest_marker("faults") is None:
            raise pytest.UsageError(f"{item.nodeid}: add `pytestmark = pytest.mark.faults`")
