"""The one time format of the package: UTC, ISO-8601, to the second, with a ``Z``
(``2026-11-26T13:45:00Z``), for log lines, ``status``, the state file and notices."""

from __future__ import annotations

import time

__all__ = ["UTC_FORMAT", "utc_iso"]

#: ``time.strftime`` format of :func:`utc_iso`.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_iso(at: float) -> str:
    """Epoch seconds as ISO-8601 UTC with a ``Z``, to the second: ``2026-11-26T13:45:00Z``."""
    return time.strftime(UTC_FORMAT, time.gmtime(at))
