"""Bounded polls: wait for an outcome, fail with what was awaited when it does not come."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class _Deadline:
    """``timeout`` seconds from now; :meth:`check` fails naming ``what`` once they have passed."""

    def __init__(self, timeout: float, what: str) -> None:
        self.at = time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise AssertionError(f"timed out after {self.timeout:g}s waiting for {self.what}")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, step: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy (returned), failing after
    ``timeout`` seconds with ``what`` in the message."""
    deadline = _Deadline(timeout, what)
    while not (value := predicate()):
        deadline.check()
        time.sleep(step)
    return value


async def until(predicate: Callable[[], T], timeout: float, what: str, step: float = 0.02) -> T:
    """``wait_for`` on the running event loop: the loop goes on between polls."""
    deadline = _Deadline(timeout, what)
    while not (value := predicate()):
        deadline.check()
        await asyncio.sleep(step)
    return value
